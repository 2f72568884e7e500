// The session console's wiring: one store of frames fed by one socket, and the panels that read
// it (session settings, transcript, event log, figures). Every client event goes out through
// send() below, so refusals can be shown next to whatever sent them.
//
// Test hook (documented in docs/console.md): window.__console exposes the store, the socket
// (kill() drops it as a network failure would), the log, and ingest(frames) to feed synthetic
// frames through the same path as the socket's. It is the page's only global, there on purpose.

import { call } from "../api.js";
import { createComposer } from "../composer.js";
import { createConsoleChecks } from "../console-checks.js";
import { readJson } from "../dom.js";
import { createEventLog } from "../event-log.js";
import { createFigures } from "../figures.js";
import { createSavePreset } from "../save-preset.js";
import { createSessionPanel } from "../session-panel.js";
import { createSocket } from "../socket.js";
import { createStore } from "../store.js";
import { createTranscript } from "../transcript.js";
import { createVoice } from "../voice.js";

const page = readJson("page-data");
const TERMINAL = new Set(["ended", "interrupted", "failed"]);
const store = createStore();

// --- header: session state and socket state ------------------------------------------------------

const stateBox = document.getElementById("state");
const reasonBox = document.getElementById("state-reason");
const socketBox = document.getElementById("socket-state");
let ended = TERMINAL.has(page.state);

function setState(state, reason) {
  stateBox.textContent = state;
  stateBox.className = "state state-" + state;
  reasonBox.textContent = reason || "";
  if (TERMINAL.has(state)) {
    ended = true;
    socket.stop();
    document.getElementById("console").classList.add("is-ended");
  }
}

// --- the banner: errors in words, near the composer -------------------------------------------

const banner = document.getElementById("banner");
const bannerText = document.getElementById("banner-text");
function showBanner(text, kind) {
  bannerText.textContent = text;
  banner.className = "banner banner-" + (kind || "error");
  banner.hidden = false;
}
function hideBanner() {
  banner.hidden = true;
}
document.getElementById("banner-close").addEventListener("click", hideBanner);

// --- sending ---------------------------------------------------------------------------------------

// Who sent the last event on this socket: a refusal (a local notice) answers the latest send.
let lastSender = null;
function send(event, sender) {
  lastSender = sender || null;
  const how = socket.send(event);
  if (how === "stopped") showBanner(`Not sent: the session is ${stateBox.textContent}.`, "error");
  else if (how === "queued") showBanner("The socket is reconnecting: the event will go out once it is back.", "info");
  return how;
}

// --- modules -----------------------------------------------------------------------------------

const panel = createSessionPanel({ store, page, send });
const sessionRate = (side) => {
  const s = panel.session || page.config || {};
  const fmt = s.audio && s.audio[side] && s.audio[side].format;
  return (fmt && fmt.rate) || 44100;
};
const transcript = createTranscript({ store, send });
const log = createEventLog({ store });
const figures = createFigures({ store, sessionRate, prices: page.prices });
const composer = createComposer({
  types: page.clientEventTypes,
  send,
  context: () => ({
    lastItemId: transcript.lastItemId(),
    lastAssistantItemId: transcript.lastItemId((e) => e.role === "assistant" && e.kind === "message"),
    inputRate: sessionRate("input"),
  }),
});

// Voice (voice.js): the microphone, the answer's audio and barge-in, in #voice-slot.
const voice = createVoice({ store, send, sessionRate, root: document.getElementById("voice-slot") });

// "Save as preset" (save-preset.js): the applied session config and the conversation so far.
const savePreset = createSavePreset({ page, panel, transcript, showBanner });

// "Add as check" and an audio file as the user's turn (console-checks.js).
const consoleChecks = createConsoleChecks({ page, showBanner });

// Errors and notices from the stream, in words.
store.subscribe((frame) => {
  if (frame.notice) {
    const n = frame.notice;
    if (n.kind === "rejected") {
      const where = n.field ? ` (field ${n.field})` : "";
      showBanner(`Refused by the playground${where}: ${n.message}`, "error");
      if (lastSender === "composer") composer.rejected(n.message, n.field);
      if (lastSender === "panel") panel.rejected(n.message);
    } else if (n.kind === "budget_alert") {
      showBanner(n.message, "warning"); // a budget past its alert (docs/usage.md): the session goes on
    } else if (n.kind === "gap") {
      socket.resume(); // the server says it cannot fill a gap yet: resume from our last seq
    } else if (n.state) {
      setState(n.state, n.message);
      showBanner(n.message || `The session is ${n.state}.`, TERMINAL.has(n.state) ? "info" : "error");
    } else if (n.message) {
      showBanner(n.message, "info");
    }
  } else if (frame.event && frame.event.type === "error" && frame.direction === "server") {
    const err = frame.event.error || {};
    const code = err.code ? ` (${err.code})` : "";
    const param = err.param ? `, about ${err.param}` : "";
    showBanner(`The upstream answered with an error${code}${param}: ${err.message || "no message"}`, "error");
  } else if (frame.event && frame.event.type === "session.created" && !ended) {
    setState("live", "");
  }
});

// --- the socket ------------------------------------------------------------------------------------

const socket = createSocket({
  sessionId: page.id,
  store,
  onState(state, detail) {
    socketBox.textContent = detail ? `${state}: ${detail}` : state;
    socketBox.className = "socket socket-" + state;
  },
  onBatch(batch) {
    const gapAfter = store.accept(batch, { strict: true });
    if (gapAfter !== null) {
      // Frames are missing: ask again from the last one we have (the server fills from the recording).
      console.warn("console: seq gap after", gapAfter, "— resuming");
      socket.resume();
    }
  },
});

// --- talk box, close button, keyboard --------------------------------------------------------------

const say = document.getElementById("say");
say.addEventListener("submit", (e) => {
  e.preventDefault();
  const input = say.elements.text;
  const text = input.value.trim();
  if (!text) return;
  send(
    { type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text }] } },
    "say",
  );
  send({ type: "response.create" }, "say");
  input.value = "";
});

document.getElementById("close-session").addEventListener("click", async (e) => {
  e.target.disabled = true;
  try {
    const s = await call("POST", `/sessions/${page.id}/close`);
    setState(s.state, s.state_reason);
  } catch (err) {
    e.target.disabled = false;
    showBanner(`Could not close the session${err.status ? ` (HTTP ${err.status})` : ""}: ${err.message}`, "error");
  }
});

// Esc collapses what is open: the composer when the focus is in it, else an expanded log row
// (the log's own handler does that when it has the focus), else the banner.
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape" || e.defaultPrevented) return;
  const composer = document.getElementById("composer-details");
  if (composer.open && composer.contains(e.target)) {
    composer.open = false;
    composer.querySelector("summary").focus();
  } else if (!log.collapse() && !banner.hidden) {
    hideBanner();
  }
});

// On a phone the settings start folded, so the conversation is what one sees first.
if (window.matchMedia("(max-width: 760px)").matches) document.getElementById("session-details").open = false;

// Connect first: on a session that has already ended, this one socket still replays the recording.
socket.connect();
setState(page.state, page.stateReason);
// Budgets this session counts against that are past their alert or used up, as the page opened.
if (page.budgets && page.budgets.length && !ended) {
  showBanner(page.budgets.map((b) => b.message).join(" ") + " (Usage page: /usage/)", "warning");
}

window.__console = {
  page,
  store,
  socket,
  log,
  transcript,
  figures,
  panel,
  voice,
  savePreset,
  consoleChecks,
  // Feed frames as if the socket had sent them (tests, demos). Numbered frames must continue
  // after store.lastSeq; a higher seq is accepted without the socket's gap check.
  ingest(frames) {
    store.accept(frames, { strict: false });
  },
  showBanner,
};
