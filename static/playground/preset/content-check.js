// The preset form's checks, as typed and before a save: a name, tags of 40 characters at most,
// and content that is a JSON object of the four content fields; the API checks the rest. Also
// where a field the API names sits in the JSON text, to point at its line.

import { jsonErrorParts } from "../json-error.js";
import { parseTags } from "../preset-common.js";

// `checks` is the Checks tab's to edit; the Content tab keeps the preset's checks as they are unless typed here.
const CONTENT_KEYS = ["session", "response", "conversation", "tool_outputs", "checks"];

// {errors: [{field, message}], content: the parsed object or null}.
export function checkPreset({ name, tags, content: text }) {
  const errors = [];
  if (!name.trim()) errors.push({ field: "name", message: "a name is required." });
  for (const t of parseTags(tags)) {
    if (t.length > 40) errors.push({ field: "tags", message: `“${t.slice(0, 20)}…” is over 40 characters.` });
  }
  let content = null;
  try {
    content = JSON.parse(text);
  } catch (err) {
    errors.push({ field: "content", message: jsonError(text, err) });
    return { errors, content: null };
  }
  if (content === null || typeof content !== "object" || Array.isArray(content)) {
    errors.push({ field: "content", message: "must be a JSON object: {\"session\": {…}, \"conversation\": […]}." });
  } else {
    for (const key of Object.keys(content)) {
      if (!CONTENT_KEYS.includes(key)) {
        errors.push({ field: `content.${key}`, message: `not a field of a preset's content (${CONTENT_KEYS.join(", ")}).` });
      }
    }
  }
  return { errors, content };
}

function jsonError(text, err) {
  const { place, words } = jsonErrorParts(text, err);
  const where = place ? ` at line ${place.line}, column ${place.column}` : "";
  return `not valid JSON${where}: ${words}.`;
}

// Where a field ("content.session.audio.output.format.rate") sits in the text: each key found in
// turn after the previous one. Good enough to point at a line; the message names the field anyway.
export function locate(text, field) {
  const parts = field.replace(/^content\.?/, "").split(/\.|\[(\d+)\]/).filter((s) => s);
  let pos = 0;
  let found = -1;
  for (const part of parts) {
    if (/^\d+$/.test(part)) continue;
    const at = text.indexOf(`"${part}"`, pos);
    if (at < 0) break;
    found = pos = at;
  }
  if (found < 0) return null;
  return { index: found, line: text.slice(0, found).split("\n").length };
}

// The API's message without the field in front: the list shows the field on its own.
export function stripField(message, field) {
  const m = String(message || "");
  return field && m.startsWith(field + ": ") ? m.slice(field.length + 2) : m;
}
