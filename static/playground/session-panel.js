// The session panel: every session field as a form. It shows the session as the server last
// described it (session.created / session.updated), unless the user is editing; "Apply" sends
// the whole form as one session.update over the socket, mid-session. Tools are JSON, checked as
// typed: the problem and where it is are shown inline, and Apply stays disabled until it is fixed.

import { parseError } from "./templates.js";

// An event_id of our own, to know which session.updated (or error) answers our Apply.
function randomId(prefix) {
  return prefix + Math.random().toString(36).slice(2, 10) + Date.now().toString(36).slice(-4);
}

export function createSessionPanel({ store, page, send, onApplied }) {
  const form = document.getElementById("session-form");
  const f = form.elements;
  const applyButton = document.getElementById("apply-session");
  const status = document.getElementById("apply-status");
  const toolsError = document.getElementById("sp-tools-error");
  const vadFields = document.getElementById("sp-vad-fields");
  let dirty = false; // edited since the server last described the session
  let server = null; // the session as the server last described it
  let pendingApply = null; // event_id of our last session.update

  const TOOL_TYPES = ["function", "web_search", "file_search", "mcp"];
  const FUNCTION_KEYS = ["type", "name", "description", "parameters"];
  const EXAMPLE_TOOLS = [
    {
      type: "function",
      name: "get_weather",
      description: "The current weather in a city.",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    },
  ];

  // --- reading the server's session into the form ------------------------------------------------

  function setVoice(voice) {
    if (voice && !Array.from(f.voice.options).some((o) => o.value === voice)) {
      f.voice.append(new Option(voice, voice)); // a voice the list does not know yet is still shown
    }
    f.voice.value = voice || "marina";
  }

  function fill(s) {
    const audio = s.audio || {};
    const input = audio.input || {};
    const output = audio.output || {};
    f.instructions.value = s.instructions || "";
    f.modality.value = (s.output_modalities || ["audio"])[0];
    setVoice(output.voice);
    f.role.value = output.role || "";
    f.in_format.value = (input.format && input.format.type) || "audio/pcm";
    f.in_rate.value = (input.format && input.format.rate) || 44100;
    f.out_format.value = (output.format && output.format.type) || "audio/pcm";
    f.out_rate.value = (output.format && output.format.rate) || 44100;
    const vad = input.turn_detection;
    f.turn.value = vad && vad.type === "server_vad" ? "server_vad" : "none";
    f.threshold.value = vad && vad.threshold !== undefined && vad.threshold !== null ? vad.threshold : 0.5;
    f.prefix_padding_ms.value = vad && vad.prefix_padding_ms !== undefined ? vad.prefix_padding_ms : 300;
    f.silence_duration_ms.value = vad && vad.silence_duration_ms !== undefined ? vad.silence_duration_ms : 500;
    f.languages.value = (input.languages || []).join(", ");
    f.tools.value = JSON.stringify(s.tools || [], null, 2);
    const choice = s.tool_choice || "auto";
    refreshToolChoices(s.tools || []);
    f.tool_choice.value = typeof choice === "object" ? "function:" + choice.name : choice;
    f.max_output_tokens.value = s.max_output_tokens === undefined || s.max_output_tokens === null ? "inf" : s.max_output_tokens;
    validate();
    showVad();
  }

  // --- the form's checks -------------------------------------------------------------------------

  function checkTools(text) {
    let tools;
    try {
      tools = JSON.parse(text.trim() === "" ? "[]" : text);
    } catch (err) {
      return { error: "tools: " + parseError(text, err) };
    }
    if (!Array.isArray(tools)) return { error: 'tools: must be a JSON array, e.g. [] or [{"type": "function", "name": …}].' };
    for (let i = 0; i < tools.length; i++) {
      const t = tools[i];
      const at = `tools[${i}]`;
      if (t === null || typeof t !== "object" || Array.isArray(t)) return { error: `${at}: must be an object.` };
      const type = t.type === undefined ? "function" : t.type;
      if (!TOOL_TYPES.includes(type)) return { error: `${at}.type: must be one of ${TOOL_TYPES.join(", ")}.` };
      if (type === "function") {
        if (typeof t.name !== "string" || t.name.length === 0) return { error: `${at}.name: is required, a string.` };
        if (t.name.length > 64) return { error: `${at}.name: at most 64 characters.` };
        const extra = Object.keys(t).find((k) => !FUNCTION_KEYS.includes(k));
        if (extra) return { error: `${at}.${extra}: not a field of a function tool (${FUNCTION_KEYS.join(", ")}).` };
        if (t.description !== undefined && t.description !== null && typeof t.description !== "string") {
          return { error: `${at}.description: must be a string.` };
        }
        if (t.parameters !== undefined && t.parameters !== null && (typeof t.parameters !== "object" || Array.isArray(t.parameters))) {
          return { error: `${at}.parameters: must be a JSON schema object.` };
        }
      } else if (type === "mcp" && typeof t.server_label !== "string") {
        return { error: `${at}.server_label: is required for an mcp tool.` };
      }
    }
    return { tools };
  }

  function fieldError(input, message) {
    const box = document.getElementById(input.id + "-error");
    input.setAttribute("aria-invalid", message ? "true" : "false");
    if (box) {
      box.textContent = message || "";
      box.hidden = !message;
    }
    return message ? 1 : 0;
  }

  function checkNumber(input, { min, max, integer }) {
    const raw = input.value.trim();
    const value = Number(raw);
    if (raw === "" || !isFinite(value)) return fieldError(input, "A number is required.");
    if (integer && !Number.isInteger(value)) return fieldError(input, "A whole number is required.");
    if (value < min || (max !== undefined && value > max)) {
      return fieldError(input, max === undefined ? `${min} or more.` : `From ${min} to ${max}.`);
    }
    return fieldError(input, "");
  }

  let toolsState = { tools: [] };
  function validate() {
    let bad = 0;
    toolsState = checkTools(f.tools.value);
    f.tools.setAttribute("aria-invalid", toolsState.error ? "true" : "false");
    toolsError.textContent = toolsState.error || "";
    toolsError.hidden = !toolsState.error;
    if (toolsState.error) bad += 1;
    else refreshToolChoices(toolsState.tools);
    bad += checkNumber(f.in_rate, { min: 8000, max: 96000, integer: true });
    bad += checkNumber(f.out_rate, { min: 8000, max: 96000, integer: true });
    if (f.turn.value === "server_vad") {
      bad += checkNumber(f.threshold, { min: 0, max: 1 });
      bad += checkNumber(f.prefix_padding_ms, { min: 0, integer: true });
      bad += checkNumber(f.silence_duration_ms, { min: 0, integer: true });
    }
    const max = f.max_output_tokens.value.trim();
    const n = Number(max);
    bad += fieldError(
      f.max_output_tokens,
      max === "inf" || (Number.isInteger(n) && n >= 1) ? "" : 'Either "inf" or a whole number, 1 or more.',
    );
    applyButton.disabled = bad > 0;
    applyButton.title = bad > 0 ? "Fix the fields marked in red first." : "";
    return bad === 0;
  }

  // tool_choice offers auto/none/required plus each function tool by name.
  function refreshToolChoices(tools) {
    const select = f.tool_choice;
    const current = select.value;
    const names = tools.filter((t) => (t.type || "function") === "function" && typeof t.name === "string").map((t) => t.name);
    const wanted = ["auto", "none", "required", ...names.map((n) => "function:" + n)];
    const have = Array.from(select.options).map((o) => o.value);
    if (wanted.join("\n") === have.join("\n")) return;
    select.replaceChildren(...wanted.map((v) => new Option(v.startsWith("function:") ? `function: ${v.slice(9)}` : v, v)));
    select.value = wanted.includes(current) ? current : "auto";
  }

  function showVad() {
    vadFields.hidden = f.turn.value !== "server_vad";
  }

  // --- building the session.update ---------------------------------------------------------------

  function build() {
    const prev = (server && server.audio) || {};
    const prevVad = (prev.input && prev.input.turn_detection) || {};
    let turn = null;
    if (f.turn.value === "server_vad") {
      // Keep the VAD fields this form does not show (create_response, …) as the server has them.
      turn = Object.assign({}, prevVad.type === "server_vad" ? prevVad : {}, {
        type: "server_vad",
        threshold: Number(f.threshold.value),
        prefix_padding_ms: Number(f.prefix_padding_ms.value),
        silence_duration_ms: Number(f.silence_duration_ms.value),
      });
    }
    const input = { format: { type: f.in_format.value, rate: Number(f.in_rate.value) }, turn_detection: turn };
    const languages = f.languages.value.split(/[\s,]+/).filter(Boolean);
    if (languages.length) input.languages = languages;
    const output = { format: { type: f.out_format.value, rate: Number(f.out_rate.value) }, voice: f.voice.value };
    if (f.role.value.trim()) output.role = f.role.value.trim();
    const choice = f.tool_choice.value;
    const max = f.max_output_tokens.value.trim();
    return {
      type: "realtime",
      instructions: f.instructions.value,
      output_modalities: [f.modality.value],
      audio: { input, output },
      tools: toolsState.tools,
      tool_choice: choice.startsWith("function:") ? { type: "function", name: choice.slice(9) } : choice,
      max_output_tokens: max === "inf" ? "inf" : Number(max),
    };
  }

  function setStatus(text, kind) {
    status.textContent = text;
    status.className = "apply-status " + (kind || "");
  }

  form.addEventListener("input", (e) => {
    dirty = true;
    if (e.target === f.turn) showVad();
    validate();
    setStatus("Not applied yet.", "muted");
  });
  form.addEventListener("change", (e) => {
    if (e.target === f.turn) showVad();
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!validate()) return;
    pendingApply = randomId("evt_panel_");
    const how = send({ type: "session.update", event_id: pendingApply, session: build() }, "panel");
    setStatus(how === "queued" ? "Queued until the socket is back…" : "Sent, waiting for session.updated…", "muted");
  });
  document.getElementById("sp-example-tools").addEventListener("click", () => {
    f.tools.value = JSON.stringify(EXAMPLE_TOOLS, null, 2);
    dirty = true;
    validate();
    setStatus("Not applied yet.", "muted");
  });
  document.getElementById("sp-reset").addEventListener("click", () => {
    dirty = false;
    if (server) fill(server);
    setStatus("Showing the session as the server has it.", "muted");
  });

  store.subscribe((frame) => {
    const e = frame.event;
    if (!e || frame.direction !== "server") return;
    if (e.type === "session.created" || e.type === "session.updated") {
      server = e.session || {};
      const ours = e.type === "session.updated" && pendingApply !== null;
      if (ours) {
        pendingApply = null;
        dirty = false;
        setStatus("Applied.", "ok");
        if (onApplied) onApplied(server);
      }
      // Never overwrite what the user is typing; "Reset" shows the server's version on demand.
      if (!dirty) fill(server);
    } else if (e.type === "error" && pendingApply && e.error && e.error.event_id === pendingApply) {
      pendingApply = null;
      setStatus("Refused: " + e.error.message, "error");
    }
  });

  // Until the server speaks, show what the session was opened with.
  fill(page.config || {});
  setStatus("", "");

  return {
    get session() {
      return server;
    },
    rejected(message) {
      if (pendingApply) {
        pendingApply = null;
        setStatus("Refused: " + message, "error");
      }
    },
    validate,
  };
}
