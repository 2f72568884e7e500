// A valid starting point for each of the eleven client events, and the checks the console runs
// before sending one (JSON, then the fields each type requires, as playground/realtime/events.py
// wants them). The server validates again; these checks only catch mistakes before the round trip.

import { bytesToBase64, isBase64 } from "./base64.js";
import { jsonErrorParts } from "./json-error.js";

// Templates may use what the session has seen so far (an item id to retrieve, the input rate).
function silenceBase64(rate, ms) {
  const bytes = Math.round((rate * ms) / 1000) * 2; // PCM16 mono: two zero bytes per sample
  return bytesToBase64(new Uint8Array(bytes));
}

const TEMPLATES = {
  "session.update": () => ({
    type: "session.update",
    session: { type: "realtime", instructions: "You are a helpful assistant. Be brief.", output_modalities: ["text"] },
  }),
  "input_audio_buffer.append": (ctx) => ({
    type: "input_audio_buffer.append",
    audio: silenceBase64(ctx.inputRate || 44100, 20), // 20 ms of silence at the session's input rate
  }),
  "input_audio_buffer.commit": () => ({ type: "input_audio_buffer.commit" }),
  "input_audio_buffer.clear": () => ({ type: "input_audio_buffer.clear" }),
  "conversation.item.create": () => ({
    type: "conversation.item.create",
    item: { type: "message", role: "user", content: [{ type: "input_text", text: "Hello!" }] },
  }),
  "conversation.item.retrieve": (ctx) => ({ type: "conversation.item.retrieve", item_id: ctx.lastItemId || "item_0001" }),
  "conversation.item.truncate": (ctx) => ({
    type: "conversation.item.truncate",
    item_id: ctx.lastAssistantItemId || ctx.lastItemId || "item_0002",
    content_index: 0,
    audio_end_ms: 0,
  }),
  "conversation.item.delete": (ctx) => ({ type: "conversation.item.delete", item_id: ctx.lastItemId || "item_0001" }),
  "response.create": () => ({ type: "response.create", response: { output_modalities: ["text"] } }),
  "response.cancel": () => ({ type: "response.cancel" }),
  "output_audio_buffer.clear": () => ({ type: "output_audio_buffer.clear" }),
};
export const TYPES = Object.keys(TEMPLATES);

export function template(type, ctx) {
  const make = TEMPLATES[type];
  return make ? make(ctx || {}) : { type };
}

// --- checks ------------------------------------------------------------------------------------

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isString = (v) => typeof v === "string";
const isWhole = (v) => Number.isInteger(v) && v >= 0;
const ITEM_TYPES = ["message", "function_call", "function_call_output"];
const ROLES = ["user", "assistant", "system"];

// A JSON.parse error as "Not valid JSON (line L, column C): words.", for people.
export function parseError(text, err) {
  const { place, words } = jsonErrorParts(text, err);
  const where = place ? ` (line ${place.line}, column ${place.column})` : "";
  return `Not valid JSON${where}: ${words}.`;
}

function checkItem(item, errors) {
  if (!isObject(item)) return errors.push({ field: "item", message: "is required: an object" });
  if (!ITEM_TYPES.includes(item.type)) {
    return errors.push({ field: "item.type", message: `must be one of ${ITEM_TYPES.join(", ")}` });
  }
  if (item.type === "message") {
    if (!ROLES.includes(item.role)) errors.push({ field: "item.role", message: `must be one of ${ROLES.join(", ")}` });
    if (!Array.isArray(item.content)) errors.push({ field: "item.content", message: "is required: a list of parts" });
    else {
      item.content.forEach((part, i) => {
        if (!isObject(part) || !isString(part.type)) {
          errors.push({ field: `item.content[${i}].type`, message: "is required (e.g. input_text)" });
        }
      });
    }
  } else if (item.type === "function_call") {
    if (!isString(item.name)) errors.push({ field: "item.name", message: "is required: a string" });
    if (!isString(item.arguments)) errors.push({ field: "item.arguments", message: "is required: a JSON string" });
  } else {
    if (!isString(item.call_id)) errors.push({ field: "item.call_id", message: "is required: a string" });
    if (!isString(item.output)) errors.push({ field: "item.output", message: "is required: a string" });
  }
}

const CHECKS = {
  "session.update": (e, errors) => {
    if (!isObject(e.session)) errors.push({ field: "session", message: "is required: an object" });
  },
  "input_audio_buffer.append": (e, errors) => {
    if (!isString(e.audio) || !e.audio) errors.push({ field: "audio", message: "is required: base64 PCM16" });
    else if (!isBase64(e.audio)) errors.push({ field: "audio", message: "is not valid base64" });
  },
  "conversation.item.create": (e, errors) => {
    checkItem(e.item, errors);
    if (e.previous_item_id !== undefined && e.previous_item_id !== null && !isString(e.previous_item_id)) {
      errors.push({ field: "previous_item_id", message: "must be a string" });
    }
  },
  "conversation.item.retrieve": (e, errors) => requireItemId(e, errors),
  "conversation.item.delete": (e, errors) => requireItemId(e, errors),
  "conversation.item.truncate": (e, errors) => {
    requireItemId(e, errors);
    if (!isWhole(e.content_index)) errors.push({ field: "content_index", message: "is required: a whole number, 0 or more" });
    if (!isWhole(e.audio_end_ms)) errors.push({ field: "audio_end_ms", message: "is required: a whole number of ms, 0 or more" });
  },
  "response.create": (e, errors) => {
    if (e.response !== undefined && e.response !== null && !isObject(e.response)) {
      errors.push({ field: "response", message: "must be an object" });
    } else if (isObject(e.response) && e.response.metadata !== undefined) {
      const md = e.response.metadata;
      if (!isObject(md) || !Object.values(md).every(isString)) {
        errors.push({ field: "response.metadata", message: "must be an object of strings" });
      }
    }
  },
  "response.cancel": (e, errors) => {
    if (e.response_id !== undefined && e.response_id !== null && !isString(e.response_id)) {
      errors.push({ field: "response_id", message: "must be a string" });
    }
  },
};

function requireItemId(e, errors) {
  if (e.item_id === undefined || e.item_id === null) errors.push({ field: "item_id", message: "is required (an item's id)" });
  else if (!isString(e.item_id) || !e.item_id) errors.push({ field: "item_id", message: "must be a non-empty string" });
}

// Check the composer's text: {event, errors: [{field, message}]}.
export function check(text) {
  let event;
  try {
    event = JSON.parse(text);
  } catch (err) {
    return { event: null, errors: [{ field: "body", message: parseError(text, err) }] };
  }
  const errors = [];
  if (!isObject(event)) return { event: null, errors: [{ field: "body", message: "A client event is a JSON object." }] };
  if (!TYPES.includes(event.type)) {
    errors.push({ field: "type", message: `must be one of the eleven client events (${TYPES.join(", ")})` });
    return { event, errors };
  }
  if (event.event_id !== undefined && !isString(event.event_id)) {
    errors.push({ field: "event_id", message: "must be a string when given" });
  }
  const extra = CHECKS[event.type];
  if (extra) extra(event, errors);
  return { event, errors };
}
