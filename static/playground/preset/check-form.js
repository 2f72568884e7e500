// The Checks tab's editor: one check at a time as a form (turns, what the user says, what each turn
// expects), or every check as JSON. Both edit one draft (the list of checks); Save replaces the preset's
// checks with it (PUT …/checks: a new version). Refusals name their field (checks[0].turns[1].expect[0].max_ms):
// the form marks the input that field is, and offers to show a check that is not the one open.

import { callUrl } from "../api.js";
import { h, setStatus } from "../dom.js";
import { stripField } from "./content-check.js";

const INPUTS = [
  ["text", "Text (typed)"],
  ["audio", "Audio file"],
  ["tts", "Text, spoken (TTS)"],
  ["none", "Nothing: answer the conversation as it is"],
];

// Each assertion type: its label, and its fields [name, kind, options] (kind: text, textarea, int, number, bool, select, json).
export const ASSERTIONS = {
  text_contains: ["the answer contains", [["value", "text"], ["case_sensitive", "bool"]]],
  text_not_contains: ["the answer does not contain", [["value", "text"], ["case_sensitive", "bool"]]],
  text_matches: ["the answer matches a regex", [["pattern", "text"], ["case_sensitive", "bool"]]],
  function_call: ["calls a function", [["name", "text"], ["arguments", "json"], ["arguments_schema", "json"]]],
  no_function_call: ["calls no function", []],
  response_status: ["response status is", [["status", "select", ["completed", "incomplete", "cancelled", "failed"]]]],
  latency: ["latency at most", [["to", "select", ["first_text", "first_audio", "done"]], ["max_ms", "int"]]],
  tokens: ["tokens at most", [["kind", "select", ["total", "input", "output"]], ["max", "int"]]],
  cost: ["estimated cost at most", [["max", "number"]]],
  spoken_duration: ["spoken duration, ms", [["min_ms", "int"], ["max_ms", "int"]]],
  judge: ["judge (a Yandex text model grades a rubric)", [["rubric", "textarea"]]],
};
const DEFAULTS = {
  text_contains: { value: "" },
  text_not_contains: { value: "" },
  text_matches: { pattern: "" },
  function_call: { name: "" },
  response_status: { status: "completed" },
  latency: { to: "first_text", max_ms: 3000 },
  tokens: { max: 1000 },
  cost: { max: 1 },
  spoken_duration: { min_ms: 200 },
  judge: { rubric: "" },
};

const clone = (x) => JSON.parse(JSON.stringify(x));

export function newCheck(name) {
  return { name, turns: [{ user: { type: "text", text: "" }, expect: [{ type: "response_status", status: "completed" }] }] };
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

// preset: the page's shared state; onSaved(answer) after a save (the server's checks and version).
export function createCheckForm(preset, { onSaved }) {
  const $ = (id) => document.getElementById(id);
  const form = $("check-form");
  const pick = $("checks-pick");
  const jsonBox = $("checks-json");
  const errorsBox = $("checks-errors");
  const saveStatus = $("checks-save-status");
  let draft = [];
  let current = 0;
  let mode = "form";
  let dirty = false;
  const badJson = new Set(); // fields whose JSON text does not parse yet

  function saved() {
    return clone((preset.detail && preset.detail.content && preset.detail.content.checks) || []);
  }

  function load() {
    draft = saved();
    current = Math.min(current, Math.max(0, draft.length - 1));
    dirty = false;
    badJson.clear();
    showErrors([]);
    render();
  }

  function touched() {
    dirty = true;
    setStatus(saveStatus, "Unsaved changes.", "muted");
    $("checks-save").disabled = badJson.size > 0;
  }

  // --- the form ---------------------------------------------------------------------------------

  function field(path, label, input, cls) {
    input.dataset.field = path;
    return h("label", { class: cls || "" }, h("span", { class: "label-row" }, label), input);
  }

  function bind(input, read, write) {
    input.addEventListener("input", () => {
      write(read(input));
      touched();
    });
    input.addEventListener("change", () => {
      write(read(input));
      touched();
    });
    return input;
  }

  function paramInput(path, obj, [name, kind, options]) {
    const value = obj[name];
    const set = (v) => {
      if (v === undefined || v === "") delete obj[name];
      else obj[name] = v;
    };
    if (kind === "bool") {
      const box = h("input", { type: "checkbox" });
      box.checked = Boolean(value);
      bind(box, (el) => (el.checked ? true : undefined), set);
      box.dataset.field = `${path}.${name}`;
      return h("label", { class: "check" }, box, name.replace("_", " "));
    }
    if (kind === "select") {
      const select = h("select", {}, ...options.map((o) => h("option", { value: o }, o)));
      select.value = value || options[0];
      bind(select, (el) => el.value, set);
      return field(`${path}.${name}`, name, select);
    }
    if (kind === "json") {
      const area = h("textarea", { class: "code", rows: "2", spellcheck: "false", placeholder: "{…}" });
      area.value = value === undefined ? "" : JSON.stringify(value);
      const key = `${path}.${name}`;
      area.addEventListener("input", () => {
        const text = area.value.trim();
        try {
          const parsed = text ? JSON.parse(text) : undefined;
          if (parsed !== undefined && (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))) throw new Error("not an object");
          set(parsed);
          badJson.delete(key);
          area.removeAttribute("aria-invalid");
        } catch (e) {
          badJson.add(key);
          area.setAttribute("aria-invalid", "true");
        }
        touched();
      });
      return field(key, `${name} (JSON object)`, area, "wide");
    }
    if (kind === "textarea") {
      const area = h("textarea", { rows: "2" });
      area.value = value || "";
      bind(area, (el) => el.value, set);
      return field(`${path}.${name}`, name, area, "wide");
    }
    const numeric = kind === "int" || kind === "number";
    const input = h("input", numeric ? { type: "number", step: kind === "int" ? "1" : "any", inputmode: "decimal" } : { type: "text" });
    input.value = value === undefined ? "" : String(value);
    bind(input, (el) => (el.value === "" ? undefined : numeric ? Number(el.value) : el.value), set);
    return field(`${path}.${name}`, name, input);
  }

  function assertionRow(path, list, index) {
    const a = list[index];
    const type = h("select", { "aria-label": "Assertion type" }, ...Object.entries(ASSERTIONS).map(([k, [label]]) => h("option", { value: k }, label)));
    type.value = a.type;
    type.dataset.field = `${path}.type`;
    type.addEventListener("change", () => {
      list[index] = Object.assign({ type: type.value }, clone(DEFAULTS[type.value] || {}));
      touched();
      render();
    });
    const remove = h("button", { type: "button", class: "link small", title: "Remove this assertion" }, "remove");
    remove.addEventListener("click", () => {
      list.splice(index, 1);
      touched();
      render();
    });
    const spec = ASSERTIONS[a.type] || ["", []];
    return h("div", { class: "cf-assert", dataset: { field: path } }, type, ...spec[1].map((p) => paramInput(path, a, p)), remove);
  }

  function userInputs(path, turn) {
    const user = turn.user || { type: "none" };
    turn.user = user;
    const kind = h("select", { "aria-label": "What the user says" }, ...INPUTS.map(([k, label]) => h("option", { value: k }, label)));
    kind.value = user.type;
    kind.dataset.field = `${path}.type`;
    kind.addEventListener("change", () => {
      turn.user = { type: kind.value, ...(kind.value === "text" || kind.value === "tts" ? { text: user.text || "" } : {}) };
      touched();
      render();
    });
    const parts = [field(`${path}.type`, "User", kind)];
    if (user.type === "text" || user.type === "tts") {
      const text = h("textarea", { rows: "2" });
      text.value = user.text || "";
      bind(text, (el) => el.value, (v) => (user.text = v));
      parts.push(field(`${path}.text`, user.type === "tts" ? "Spoken text" : "Text", text, "wide"));
    }
    if (user.type === "tts") {
      const engine = h("select", {}, ...["auto", "espeak-ng", "speechkit"].map((e) => h("option", { value: e }, e)));
      engine.value = user.engine || "auto";
      bind(engine, (el) => el.value, (v) => (v === "auto" ? delete user.engine : (user.engine = v)));
      const voice = h("input", { type: "text", placeholder: "from the text (en, ru…)" });
      voice.value = user.voice || "";
      bind(voice, (el) => el.value.trim(), (v) => (v ? (user.voice = v) : delete user.voice));
      parts.push(field(`${path}.engine`, "Engine", engine), field(`${path}.voice`, "Voice", voice));
    }
    if (user.type === "audio") {
      const file = h("input", { type: "file", accept: "audio/*,.wav,.mp3,.ogg,.flac" });
      file.dataset.field = `${path}.data`;
      file.addEventListener("change", async () => {
        const chosen = file.files && file.files[0];
        if (!chosen) return;
        user.filename = chosen.name;
        user.data = await readFile(chosen);
        touched();
        render();
      });
      const kept = user.data ? `${user.filename} · ${Math.round((user.data.length * 3) / 4 / 1024)} KB` : "no file yet";
      parts.push(h("label", {}, h("span", { class: "label-row" }, "File (WAV, MP3, OGG, FLAC)"), file, h("span", { class: "hint", dataset: { field: `${path}.filename` } }, kept)));
    }
    return h("div", { class: "cf-user" }, ...parts);
  }

  function turnBox(checkPath, check, t) {
    const turn = check.turns[t];
    turn.expect = turn.expect || [];
    const path = `${checkPath}.turns[${t}]`;
    const add = h("button", { type: "button", class: "small secondary" }, "Add assertion");
    add.addEventListener("click", () => {
      turn.expect.push({ type: "text_contains", value: "" });
      touched();
      render();
    });
    const remove = h("button", { type: "button", class: "link small" }, "remove turn");
    remove.hidden = check.turns.length < 2;
    remove.addEventListener("click", () => {
      check.turns.splice(t, 1);
      touched();
      render();
    });
    return h(
      "fieldset",
      { class: "cf-turn", dataset: { field: path } },
      h("legend", {}, `Turn ${t + 1} `, remove),
      userInputs(`${path}.user`, turn),
      h("div", { class: "cf-expect" }, h("span", { class: "label-row" }, "Expect"), ...turn.expect.map((_, i) => assertionRow(`${path}.expect[${i}]`, turn.expect, i)), add),
    );
  }

  function renderForm() {
    pick.replaceChildren(...draft.map((c, i) => h("option", { value: String(i) }, c.name || `(check ${i + 1})`)));
    pick.value = String(current);
    const check = draft[current];
    $("checks-delete").hidden = !check;
    if (!check) {
      form.replaceChildren(h("p", { class: "muted" }, "No checks yet: “New check” adds one (or “Add as check” in the console, from a conversation you held)."));
      return;
    }
    const path = `checks[${current}]`;
    const name = h("input", { type: "text", maxlength: "100" });
    name.value = check.name || "";
    bind(name, (el) => el.value, (v) => {
      check.name = v;
      pick.options[current].textContent = v || `(check ${current + 1})`;
    });
    const description = h("input", { type: "text", maxlength: "2000" });
    description.value = check.description || "";
    bind(description, (el) => el.value, (v) => (v ? (check.description = v) : delete check.description));
    const outputs = { tool_outputs: check.tool_outputs };
    const addTurn = h("button", { type: "button", class: "small secondary" }, "Add turn");
    addTurn.addEventListener("click", () => {
      check.turns.push({ user: { type: "text", text: "" }, expect: [] });
      touched();
      render();
    });
    form.replaceChildren(
      h("div", { class: "pair" }, field(`${path}.name`, "Name", name), field(`${path}.description`, "Description", description)),
      ...check.turns.map((_, t) => turnBox(path, check, t)),
      addTurn,
      paramInput(path, outputs, ["tool_outputs", "json"]),
    );
    form.querySelector(`[data-field="${path}.tool_outputs"]`).addEventListener("input", () => {
      if (outputs.tool_outputs === undefined) delete check.tool_outputs;
      else check.tool_outputs = outputs.tool_outputs;
    });
  }

  function render() {
    $("checks-form-view").hidden = mode !== "form";
    $("checks-json-view").hidden = mode !== "json";
    $("checks-view-form").setAttribute("aria-pressed", String(mode === "form"));
    $("checks-view-json").setAttribute("aria-pressed", String(mode === "json"));
    if (mode === "form") renderForm();
    else jsonBox.value = JSON.stringify(draft, null, 2);
    $("checks-save").disabled = badJson.size > 0;
  }

  // --- switching, saving ----------------------------------------------------------------------------

  function fromJson() {
    try {
      const parsed = JSON.parse(jsonBox.value);
      if (!Array.isArray(parsed)) throw new Error("the checks are a JSON array: [{\"name\": …, \"turns\": […]}]");
      draft = parsed;
      return true;
    } catch (err) {
      showErrors([{ field: "checks", message: `not valid JSON: ${err.message}` }]);
      return false;
    }
  }

  function setMode(next) {
    if (next === mode) return;
    if (mode === "json" && !fromJson()) return;
    mode = next;
    current = Math.min(current, Math.max(0, draft.length - 1));
    showErrors([]);
    render();
  }

  function showErrors(errors) {
    for (const el of document.querySelectorAll("#panel-checks [aria-invalid]")) el.removeAttribute("aria-invalid");
    errorsBox.replaceChildren();
    errorsBox.hidden = errors.length === 0;
    for (const e of errors) {
      const at = /^checks\[(\d+)\]/.exec(e.field || "");
      const elsewhere = mode === "form" && at && Number(at[1]) !== current;
      const go = elsewhere ? h("button", { type: "button", class: "link small goto" }, `show “${(draft[Number(at[1])] || {}).name || "that check"}”`) : null;
      if (go) {
        go.addEventListener("click", () => {
          current = Number(at[1]);
          render();
          markFields(errors);
        });
      }
      errorsBox.append(h("li", { dataset: { field: e.field || "" } }, e.field ? h("code", { class: "field" }, e.field) : null, e.field ? ": " : "", stripField(e.message, e.field), go));
    }
    markFields(errors);
  }

  function markFields(errors) {
    for (const e of errors) {
      // The input the field is, or the closest box holding it (a turn, an assertion).
      let path = e.field || "";
      while (path) {
        const el = form.querySelector(`[data-field="${CSS.escape(path)}"]`);
        if (el) {
          el.setAttribute("aria-invalid", "true");
          break;
        }
        path = path.replace(/(\.[a-z_]+|\[\d+\])$/, "");
        if (!/[.[]/.test(path)) break;
      }
    }
  }

  async function save() {
    if (mode === "json" && !fromJson()) return;
    $("checks-save").disabled = true;
    setStatus(saveStatus, "Saving…", "muted");
    try {
      const answer = await callUrl("PUT", preset.page.checksUrl, { checks: draft });
      dirty = false;
      showErrors([]);
      setStatus(saveStatus, `Saved as version ${answer.version}.`, "ok");
      onSaved(answer);
    } catch (err) {
      const list = err.errors && err.errors.length ? err.errors : [{ field: err.field, message: err.message }];
      showErrors(list);
      errorsBox.scrollIntoView({ block: "nearest" });
      setStatus(saveStatus, `Not saved${err.status ? ` (HTTP ${err.status})` : ""}: nothing was changed.`, "error");
    } finally {
      $("checks-save").disabled = badJson.size > 0;
    }
  }

  pick.addEventListener("change", () => {
    current = Number(pick.value);
    render();
  });
  $("checks-new").addEventListener("click", () => {
    if (mode === "json" && !fromJson()) return;
    const names = new Set(draft.map((c) => c.name));
    let n = draft.length + 1;
    while (names.has(`check ${n}`)) n += 1;
    draft.push(newCheck(`check ${n}`));
    current = draft.length - 1;
    mode = "form";
    touched();
    render();
  });
  $("checks-delete").addEventListener("click", () => {
    if (!draft[current]) return;
    draft.splice(current, 1);
    current = Math.max(0, current - 1);
    touched();
    render();
  });
  $("checks-discard").addEventListener("click", () => {
    load();
    setStatus(saveStatus, "Changes discarded.", "muted");
  });
  $("checks-view-form").addEventListener("click", () => setMode("form"));
  $("checks-view-json").addEventListener("click", () => setMode("json"));
  jsonBox.addEventListener("input", touched);
  $("checks-save").addEventListener("click", save);

  return {
    load,
    get dirty() {
      return dirty;
    },
    get draft() {
      return draft;
    },
    edit(name) {
      const i = draft.findIndex((c) => c.name === name);
      if (i < 0) return;
      current = i;
      setMode("form");
      render();
    },
  };
}
