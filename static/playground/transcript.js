// The transcript: user and assistant turns as the server tells them. Items are keyed by item_id,
// so text deltas (typed or spoken) stream into their own turn in place, function calls show their
// name and arguments with a form to answer them, and truncated, deleted or cancelled turns say so.

import { h, submitOnCtrlEnter } from "./dom.js";

export function createTranscript({ store, send }) {
  const box = document.getElementById("transcript");
  const empty = document.getElementById("transcript-empty");
  const items = new Map(); // item_id → {el, body, kind, role, text, call}
  const answeredCalls = new Set(); // call_ids that already have a function_call_output item

  // Stick to the newest turn while the user is at the bottom. Measured on scroll, never per delta:
  // reading the layout after every appended delta would force thousands of layouts in a burst.
  let stick = true;
  let scrollScheduled = false;
  box.addEventListener("scroll", () => {
    stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 40;
  });
  function keepInView() {
    if (scrollScheduled) return;
    scrollScheduled = true;
    requestAnimationFrame(() => {
      scrollScheduled = false;
      if (stick) box.scrollTop = box.scrollHeight;
    });
  }

  function partsText(item) {
    return (item.content || [])
      .map((p) => p.text || p.transcript || "")
      .filter(Boolean)
      .join(" ");
  }

  function badge(entry, text, cls) {
    let el = entry.el.querySelector(".badge." + cls);
    if (!el) {
      el = h("span", { class: "badge " + cls });
      entry.head.append(el);
    }
    el.textContent = text;
  }

  // Find or make the turn for an item; `item` may be partial (a delta only knows its item_id).
  function entryFor(itemId, item) {
    let entry = items.get(itemId);
    if (entry) return entry;
    const kind = (item && item.type) || "message";
    const role = (item && item.role) || (kind === "message" ? "assistant" : "assistant");
    const head = h("div", { class: "turn-head" });
    const body = h("div", { class: "turn-body" });
    const el = h("article", { class: `turn turn-${kind} role-${role}`, dataset: { itemId } }, head, body);
    entry = { el, head, body, kind, role, text: "", call: null };
    if (kind === "function_call") buildCall(entry, item);
    else if (kind === "function_call_output") {
      head.append(h("span", { class: "who" }, "Tool output"), h("code", { class: "call-id" }, item.call_id || ""));
      body.textContent = item.output || "";
    } else {
      head.append(h("span", { class: "who" }, role === "user" ? "You" : role === "system" ? "System" : "Assistant"));
      body.classList.add("turn-text");
    }
    items.set(itemId, entry);
    empty.hidden = true;
    box.append(el);
    keepInView();
    return entry;
  }

  function buildCall(entry, item) {
    const callId = item.call_id || "";
    entry.call = { callId, name: item.name || "", args: item.arguments || "" };
    entry.head.append(
      h("span", { class: "who" }, "Function call"),
      h("code", { class: "fn-name" }, entry.call.name),
      h("code", { class: "call-id", title: "call_id" }, callId),
    );
    entry.argsEl = h("pre", { class: "fn-args" }, entry.call.args);
    entry.body.append(entry.argsEl);
    const output = h("textarea", {
      name: "output",
      rows: "2",
      class: "fn-output",
      placeholder: '{"temp": 20}',
      "aria-label": `Output for ${entry.call.name} (${callId})`,
    });
    const button = h("button", { type: "submit" }, "Send output");
    const form = h(
      "form",
      { class: "call-answer", dataset: { callId } },
      h("label", { class: "wide" }, "Answer this call (function_call_output, then response.create)", output),
      h("div", { class: "row-buttons" }, button, h("span", { class: "muted hint" }, "Ctrl+Enter sends")),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      answer(entry, output.value);
    });
    submitOnCtrlEnter(output, form);
    entry.form = form;
    entry.body.append(form);
    if (answeredCalls.has(callId)) markAnswered(entry);
  }

  function answer(entry, text) {
    const callId = entry.call.callId;
    // The protocol wants a string: whatever was typed goes as is (JSON is the usual choice).
    send(
      {
        type: "conversation.item.create",
        item: { type: "function_call_output", call_id: callId, output: text },
      },
      "call",
    );
    send({ type: "response.create" }, "call");
    // Folded away once the server shows the function_call_output item; if it never does (a
    // refusal, shown in the banner), the form comes back so the answer can be fixed and resent.
    const controls = entry.form.querySelectorAll("textarea, button");
    controls.forEach((el) => (el.disabled = true));
    setTimeout(() => {
      if (!entry.answered) controls.forEach((el) => (el.disabled = false));
    }, 5000);
  }

  // Once answered, the form folds away: the function_call_output turn below shows the answer.
  function markAnswered(entry) {
    if (!entry.form) return;
    entry.answered = true;
    entry.form.querySelectorAll("textarea, button").forEach((el) => (el.disabled = true));
    entry.form.hidden = true;
    badge(entry, "answered", "answered");
  }

  function setText(entry, text) {
    entry.text = text;
    entry.body.textContent = text;
  }

  function appendDelta(entry, delta) {
    entry.text += delta;
    // Appending a text node keeps long streams cheap (no re-layout of the whole turn's text).
    entry.body.append(document.createTextNode(delta));
    keepInView();
  }

  // An authoritative full text (a *.done event, or the item as the server holds it) replaces the
  // streamed one if they differ. A *.done that disagrees with its own deltas is marked (`checkDeltas`):
  // that would be a lost or repeated delta, and it must be visible rather than silently papered over.
  function settle(entry, full, checkDeltas) {
    if (typeof full !== "string" || full === entry.text) return;
    if (checkDeltas && entry.text) entry.el.dataset.mismatch = "the streamed deltas differed from the final text";
    setText(entry, full);
  }

  function onItem(item) {
    if (!item || !item.id) return;
    const entry = entryFor(item.id, item);
    if (item.type === "message") {
      const text = partsText(item);
      if (text && !entry.text) setText(entry, text);
      else if (text && item.status === "completed") settle(entry, text);
      if (item.status === "incomplete") badge(entry, "incomplete", "incomplete");
    } else if (item.type === "function_call" && entry.call) {
      if (item.arguments) {
        entry.call.args = item.arguments;
        entry.argsEl.textContent = prettyArgs(item.arguments);
      }
    } else if (item.type === "function_call_output") {
      answeredCalls.add(item.call_id);
      for (const other of items.values()) {
        if (other.call && other.call.callId === item.call_id) markAnswered(other);
      }
    }
  }

  function prettyArgs(args) {
    try {
      return JSON.stringify(JSON.parse(args), null, 2);
    } catch (e) {
      return args; // still streaming, or not JSON: shown as it came
    }
  }

  function onEvent(e) {
    switch (e.type) {
      case "conversation.item.added":
      case "conversation.item.created":
      case "conversation.item.done":
      case "conversation.item.retrieved":
      case "response.output_item.added":
      case "response.output_item.done":
        onItem(e.item);
        break;
      case "response.output_text.delta":
      case "response.output_audio_transcript.delta":
      case "response.text.delta":
      case "response.audio_transcript.delta":
        appendDelta(entryFor(e.item_id, { type: "message", role: "assistant" }), e.delta || "");
        break;
      case "response.output_text.done":
      case "response.text.done":
        settle(entryFor(e.item_id, { type: "message", role: "assistant" }), e.text, true);
        break;
      case "response.output_audio_transcript.done":
      case "response.audio_transcript.done":
        settle(entryFor(e.item_id, { type: "message", role: "assistant" }), e.transcript, true);
        break;
      case "conversation.item.input_audio_transcription.completed": {
        const entry = entryFor(e.item_id, { type: "message", role: "user" });
        settle(entry, e.transcript);
        break;
      }
      case "response.function_call_arguments.delta": {
        const entry = items.get(e.item_id);
        if (entry && entry.call) {
          entry.call.args += e.delta || "";
          entry.argsEl.textContent = entry.call.args;
        }
        break;
      }
      case "response.function_call_arguments.done": {
        const entry = entryFor(e.item_id, { type: "function_call", name: e.name, call_id: e.call_id });
        if (entry.call) {
          entry.call.args = e.arguments || "";
          entry.argsEl.textContent = prettyArgs(entry.call.args);
        }
        break;
      }
      case "conversation.item.truncated": {
        const entry = items.get(e.item_id);
        if (entry) {
          entry.el.classList.add("truncated");
          badge(entry, `truncated at ${e.audio_end_ms} ms`, "truncated");
        }
        break;
      }
      case "conversation.item.deleted": {
        const entry = items.get(e.item_id);
        if (entry) {
          entry.el.classList.add("deleted");
          badge(entry, "deleted", "deleted");
        }
        break;
      }
      case "response.done": {
        const r = e.response || {};
        if (r.status && r.status !== "completed") {
          for (const item of r.output || []) {
            const entry = items.get(item.id);
            if (entry) badge(entry, r.status, "status-" + r.status);
          }
        }
        break;
      }
      default:
        break;
    }
  }

  store.subscribe((frame) => {
    if (frame.direction === "server" && frame.event) onEvent(frame.event);
  });

  return {
    items,
    // Forget every turn (the replay page rebuilds the conversation when it seeks back).
    reset() {
      for (const entry of items.values()) entry.el.remove();
      items.clear();
      answeredCalls.clear();
      empty.hidden = false;
      stick = true;
    },
    // The text of the last assistant message (tests and the figures use it).
    lastAssistantText() {
      const all = Array.from(items.values()).filter((x) => x.kind === "message" && x.role === "assistant");
      return all.length ? all[all.length - 1].text : "";
    },
    lastItemId(predicate) {
      let found = null;
      for (const [id, entry] of items) if (!predicate || predicate(entry)) found = id;
      return found;
    },
  };
}
