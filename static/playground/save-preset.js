// "Save as preset" on the console: the session config as the server last applied it (the session
// panel's) and, if wanted, the conversation's text messages so far, saved as a new preset
// (POST /api/presets) or, for a session started from a preset, as a new version of it (PUT).
// The header says which preset the session came from (page.preset = {id, name, version} or null).

import { call, errorWords } from "./api.js";
import { h } from "./dom.js";

export function createSavePreset({ page, panel, transcript, showBanner }) {
  const origin = page.preset || null;
  const button = document.getElementById("save-as-preset");
  if (!button) return null;
  const presetUrl = (id) => `/presets/${encodeURIComponent(id)}/`;

  // --- the header: "from preset <name> v<N>" ------------------------------------------------------

  let originLink = null;
  function showOrigin() {
    if (!origin) return;
    if (!originLink) {
      originLink = h("a", { class: "meta preset-origin", id: "preset-origin", href: origin.url || presetUrl(origin.id) });
      const after = document.querySelector(".console-bar .meta");
      if (after) after.after(originLink);
      else button.before(originLink);
    }
    originLink.textContent = `from preset ${origin.name} v${origin.version}`;
    originLink.title = `This session was started from the preset “${origin.name}”, version ${origin.version}`;
  }
  showOrigin();

  // --- what is saved -----------------------------------------------------------------------------

  // Only the fields a preset's session takes (the server adds id, object, model and maybe more).
  const SESSION_KEYS = ["type", "instructions", "output_modalities", "audio", "tools", "tool_choice", "max_output_tokens", "temperature", "include", "tracing", "truncation", "prompt"];
  const INPUT_KEYS = ["format", "turn_detection", "transcription", "noise_reduction", "languages"];
  const OUTPUT_KEYS = ["format", "voice", "speed", "role"];
  const VAD_KEYS = ["type", "threshold", "prefix_padding_ms", "silence_duration_ms", "create_response", "interrupt_response", "idle_timeout_ms", "eagerness"];

  function pick(obj, keys, keepNull) {
    const out = {};
    for (const k of keys) {
      if (obj[k] === undefined || (obj[k] === null && !(keepNull || []).includes(k))) continue;
      out[k] = obj[k];
    }
    return out;
  }

  function sessionConfig() {
    const s = JSON.parse(JSON.stringify(panel.session || page.config || {}));
    const out = pick(s, SESSION_KEYS);
    if (s.audio && typeof s.audio === "object") {
      const audio = {};
      if (s.audio.input) {
        audio.input = pick(s.audio.input, INPUT_KEYS, ["turn_detection"]);
        const vad = audio.input.turn_detection;
        if (vad) audio.input.turn_detection = pick(vad, VAD_KEYS);
        if (audio.input.format) audio.input.format = pick(audio.input.format, ["type", "rate"]);
      }
      if (s.audio.output) {
        audio.output = pick(s.audio.output, OUTPUT_KEYS);
        if (audio.output.format) audio.output.format = pick(audio.output.format, ["type", "rate"]);
      }
      out.audio = audio;
    }
    return out;
  }

  // The user's and the assistant's text messages, in order, as conversation items.
  function conversation() {
    const items = [];
    for (const entry of transcript.items.values()) {
      if (entry.kind !== "message" || (entry.role !== "user" && entry.role !== "assistant")) continue;
      if (entry.el.classList.contains("deleted")) continue;
      const text = (entry.text || "").trim();
      if (!text) continue;
      const type = entry.role === "user" ? "input_text" : "output_text";
      items.push({ type: "message", role: entry.role, content: [{ type, text }] });
    }
    return items.slice(-200);
  }

  // --- the dialog ----------------------------------------------------------------------------------

  const f = {
    name: h("input", { name: "name", maxlength: "200", autocomplete: "off", required: true }),
    description: h("textarea", { name: "description", rows: "2" }),
    tags: h("input", { name: "tags", autocomplete: "off", placeholder: "text, demo" }),
    include: h("input", { type: "checkbox", name: "include", checked: true }),
  };
  const includeLabel = h("span", {}, "Include the conversation so far");
  const errorBox = h("p", { class: "field-error", role: "alert", hidden: true });
  const done = h("p", { class: "done", role: "status", hidden: true });
  const saveNew = h("button", { type: "submit", id: "save-preset-new" }, "Save as new preset");
  const saveOrigin = origin
    ? h("button", { type: "button", id: "save-preset-origin", class: "secondary", hidden: true }, `Save changes to ${origin.name}`)
    : null;
  // Offered only when I may change that preset (not a builtin one, not a team preset I only read).
  let originChecked = false;
  async function checkOrigin() {
    if (!saveOrigin || originChecked) return;
    try {
      const d = await call("GET", `/presets/${origin.id}`);
      originChecked = true;
      const may = d.can_change === undefined ? !d.builtin : Boolean(d.can_change);
      saveOrigin.hidden = !may || Boolean(d.deleted_at);
    } catch (err) {
      saveOrigin.hidden = true; // gone, or no longer mine to see
    }
  }
  const cancel = h("button", { type: "button", class: "secondary", id: "save-preset-close" }, "Close");
  const form = h(
    "form",
    { method: "dialog", novalidate: true, id: "save-preset-form" },
    h("h2", { id: "save-preset-title" }, "Save as preset"),
    h("p", { class: "hint" }, "Saves the session settings as last applied, and the conversation's text messages if you want them."),
    h("label", {}, "Name", f.name),
    h("label", {}, "Description", f.description),
    h("label", {}, h("span", {}, "Tags ", h("span", { class: "hint" }, "comma-separated")), f.tags),
    h("label", { class: "check" }, f.include, includeLabel),
    errorBox,
    done,
    h("div", { class: "actions" }, saveNew, saveOrigin, cancel),
  );
  const dialog = h("dialog", { class: "preset-dialog", id: "save-preset-dialog", "aria-labelledby": "save-preset-title" }, form);
  document.body.append(dialog);

  function setError(err) {
    if (!err) {
      errorBox.hidden = true;
      f.name.removeAttribute("aria-invalid");
      return;
    }
    errorBox.textContent = `Not saved — ${errorWords(err)}`;
    errorBox.hidden = false;
    if (err.field === "name") f.name.setAttribute("aria-invalid", "true");
  }

  function showDone(text, href, linkText) {
    done.replaceChildren(text, " ", h("a", { href, id: "saved-preset-link" }, linkText));
    done.hidden = false;
  }

  button.addEventListener("click", () => {
    setError(null);
    done.hidden = true;
    const n = conversation().length;
    includeLabel.textContent = `Include the conversation so far (${n} message${n === 1 ? "" : "s"})`;
    f.include.disabled = n === 0;
    f.include.checked = n > 0;
    if (!f.name.value) f.name.value = origin ? `${origin.name} (from a session)` : `Session ${new Date().toLocaleString()}`;
    dialog.showModal();
    checkOrigin();
    f.name.focus();
    f.name.select();
  });
  cancel.addEventListener("click", () => dialog.close());

  function busy(on) {
    for (const b of [saveNew, saveOrigin]) if (b) b.disabled = on;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = f.name.value.trim();
    if (!name) {
      setError({ field: "name", message: "a name is required." });
      f.name.focus();
      return;
    }
    setError(null);
    busy(true);
    try {
      const preset = await call("POST", "/presets", {
        name,
        description: f.description.value,
        tags: f.tags.value.split(",").map((t) => t.trim()).filter(Boolean),
        content: { session: sessionConfig(), conversation: f.include.checked ? conversation() : [] },
      });
      showDone("Saved:", presetUrl(preset.id), preset.name);
    } catch (err) {
      setError(err);
    } finally {
      busy(false);
    }
  });

  if (saveOrigin) {
    saveOrigin.addEventListener("click", async () => {
      setError(null);
      busy(true);
      try {
        // Keep what the console does not edit (response overrides, canned tool outputs), and the
        // preset's opening conversation unless this session's is included.
        const current = await call("GET", `/presets/${origin.id}`);
        const content = Object.assign({}, current.content, { session: sessionConfig() });
        if (f.include.checked) content.conversation = conversation();
        const saved = await call("PUT", `/presets/${origin.id}`, { content });
        origin.version = saved.version;
        showOrigin();
        showDone(`Saved as version ${saved.version} of`, presetUrl(saved.id), saved.name);
      } catch (err) {
        setError(err);
      } finally {
        busy(false);
      }
    });
  }

  return {
    sessionConfig,
    conversation,
    open: () => button.click(),
    notify: showBanner,
  };
}
