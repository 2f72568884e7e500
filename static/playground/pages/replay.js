// The replay page: a recorded session played back at its original timing. Every frame is fetched
// once (page_data.eventsUrl, a page at a time with ?after=, audio as references: ?audio=ref), then
// fed into the console's own store as time advances, so the transcript and the event log
// (transcript.js, event-log.js) fill in as they did live. Seeking back rebuilds them from the
// start at once; both audio sides play through replay-audio.js, which fetches the audio just ahead
// of the playhead by byte range (page_data.audioUrls), so a long recording plays at once. The
// timeline's waveform comes from the server's peaks (page_data.peaksUrls); a recording whose audio
// is inline base64 (from before media) is measured here. The script uses no URL but page_data's,
// so any view of a recording (a shared link included) can serve this template with its own API
// URLs. The Share box and Re-run button are recording-share.js's.
//
// Test hook: window.__replay (position ms, playing, speed, shown frames, audio ms scheduled per
// side, the waveform's state), the page's only global, there on purpose.

import { callUrl } from "../api.js";
import { cssVar, readJson } from "../dom.js";
import { createEventLog } from "../event-log.js";
import { dbScale, fmtClock, fmtInt } from "../format.js";
import { setupRecordingShare } from "../recording-share.js";
import { createReplayAudio, replayAudioPeaks, replayAudioTrack } from "../replay-audio.js";
import { isAudioRef } from "../replay-media.js";
import { createStore } from "../store.js";
import { createTranscript } from "../transcript.js";

const page = readJson("page-data");
const SPEEDS = [0.5, 1, 2, 4];
const SEEK_STEP_MS = 5000;
const PAGE_LIMIT = 10000;
const BUCKET_MS = 10; // the timeline's waveform resolution, at most MAX_BUCKETS in all
const MAX_BUCKETS = 4000;
const MIN_EVERY = 441; // the peaks API's bounds on samples per peak
const MAX_EVERY = 441000;

const store = createStore();
// A recording is read-only: nothing on this page sends events.
const transcript = createTranscript({ store, send: () => "stopped" });
const log = createEventLog({ store });

const playButton = document.getElementById("replay-play");
const seekBar = document.getElementById("replay-seek");
const timeBox = document.getElementById("replay-time");
const statusBox = document.getElementById("replay-status");
const soundBox = document.getElementById("replay-sound");
const canvas = document.getElementById("replay-timeline");
const speedButtons = Array.from(document.querySelectorAll(".speeds [data-speed]"));

let frames = []; // as the API gave them, seq order
let rel = []; // ms since the first frame, never decreasing
let duration = 0; // ms: the last frame or the end of the last audio, whichever is later
let responses = []; // {start, end, status} per response, for the timeline
let track = null;
let audio = null;
let peaks = null;
let buckets = 1;
let waveform = "none"; // "local" (measured here), "loading" (asked the server), "server", "failed"

let ready = false;
let shown = 0; // frames fed to the store
let position = 0; // ms, while paused
let playing = false;
let speed = 1;
let anchorPos = 0;
let anchorWall = 0;
let timer = null;

// --- loading ---------------------------------------------------------------------------------

async function fetchAll(url) {
  const all = [];
  let after = 0;
  for (;;) {
    const u = new URL(url, window.location.href);
    u.searchParams.set("after", String(after));
    u.searchParams.set("limit", String(PAGE_LIMIT));
    u.searchParams.set("audio", "ref");
    const batch = await callUrl("GET", u.href);
    if (!Array.isArray(batch) || !batch.length) break;
    for (const f of batch) all.push(f);
    const last = batch[batch.length - 1].seq;
    if (!(last > after)) break; // an API that ignores `after` would loop forever
    after = last;
    statusBox.textContent = `Loading the recording… ${fmtInt(all.length)} events`;
  }
  return all;
}

function analyse(list) {
  frames = list;
  const t0 = list.length ? list[0].ts : 0;
  rel = new Array(list.length);
  let prev = 0;
  for (let i = 0; i < list.length; i++) {
    prev = Math.max(prev, (list[i].ts - t0) * 1000);
    rel[i] = prev;
    // The event log weighs audio by its base64; a reference says its size.
    const e = list[i].event;
    const ref = e && (isAudioRef(e.audio) ? e.audio : isAudioRef(e.delta) ? e.delta : null);
    if (ref) list[i].audioBytes = ref.length;
  }
  track = replayAudioTrack(list, rel, page.config);
  duration = Math.max(list.length ? rel[list.length - 1] : 0, track.endMs);
  responses = [];
  const open = new Map();
  list.forEach((f, i) => {
    const e = f.event;
    if (!e || f.direction !== "server") return;
    const id = e.response && e.response.id;
    if (e.type === "response.created") {
      const r = { id, start: rel[i], end: null, status: "in_progress" };
      responses.push(r);
      open.set(id, r);
    } else if (e.type === "response.done") {
      const r = open.get(id);
      if (r) {
        r.end = rel[i];
        r.status = (e.response && e.response.status) || "completed";
      }
    }
  });
  // A response lasts until it is done or its audio has played, whichever is later.
  for (const r of responses) r.end = Math.max(r.end === null ? duration : r.end, track.responseEnds[r.id] || 0);
  buckets = Math.max(1, Math.min(MAX_BUCKETS, Math.round(duration / BUCKET_MS)));
  peaks = replayAudioPeaks(track, duration, buckets);
  waveform = "local";
  audio = createReplayAudio(track, page.audioUrls);
  audio.setMuted(!soundBox.checked);
  audio.prefetch(0);
}

// The waveform of audio that is media: the server's peaks of each stream the events refer to, at
// about the timeline's resolution. Drawn when they come; playback does not wait for them.
async function loadPeaks() {
  const streams = Object.keys(track.streamEnd).filter((side) => page.peaksUrls && page.peaksUrls[side]);
  if (!streams.length) return;
  waveform = "loading";
  try {
    const remote = {};
    await Promise.all(
      streams.map(async (side) => {
        const run = track.runs[side] && track.runs[side].find((r) => r.stream === side);
        const rate = run ? run.rate : 44100;
        const every = Math.round((rate * (duration / buckets)) / 1000);
        const u = new URL(page.peaksUrls[side], window.location.href);
        u.searchParams.set("every", String(Math.max(MIN_EVERY, Math.min(MAX_EVERY, every))));
        remote[side] = await callUrl("GET", u.href);
      }),
    );
    peaks = replayAudioPeaks(track, duration, buckets, remote);
    waveform = "server";
  } catch (err) {
    waveform = "failed";
    console.warn(`replay: the waveform's peaks could not be loaded: ${err.message}`);
  }
  background = null;
  drawTimeline(now());
}

// --- the clock -------------------------------------------------------------------------------

function now() {
  if (!playing) return position;
  return Math.min(duration, anchorPos + (performance.now() - anchorWall) * speed);
}

// A frame is shown once the clock has passed it; at the very end, all of them.
function countAt(pos) {
  if (pos >= duration) return frames.length;
  let lo = 0;
  let hi = frames.length; // first index with rel >= pos
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (rel[mid] < pos) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Feed the store up to `pos`; going back starts over (the panels rebuild from the first frame).
function showUpTo(pos) {
  const target = countAt(pos);
  if (target < shown) {
    store.reset();
    transcript.reset();
    log.clear();
    shown = 0;
  }
  if (target > shown) {
    // Copies: the store shortens our own microphone appends in the frames it keeps, and the
    // replay needs the whole audio for the next pass.
    const batch = [];
    for (let i = shown; i < target; i++) batch.push(Object.assign({}, frames[i]));
    store.accept(batch, { strict: false });
    shown = target;
  }
}

function tick() {
  const pos = now();
  showUpTo(pos);
  if (audio) audio.pump(pos);
  if (playing && pos >= duration) {
    pause();
    return;
  }
  render(pos);
}

function play() {
  if (!ready || playing) return;
  if (position >= duration) seek(0);
  audio.unlock();
  playing = true;
  anchorPos = position;
  anchorWall = performance.now();
  audio.start(position, speed);
  timer = setInterval(tick, 40);
  tick();
}

function pause() {
  if (!playing) return;
  position = now();
  playing = false;
  clearInterval(timer);
  timer = null;
  audio.stop();
  showUpTo(position);
  render(position);
}

function toggle() {
  if (playing) pause();
  else play();
}

function seek(ms) {
  if (!ready) return;
  const pos = Math.max(0, Math.min(duration, ms));
  position = pos;
  if (playing) {
    anchorPos = pos;
    anchorWall = performance.now();
    audio.start(pos, speed);
  } else {
    audio.prefetch(pos);
  }
  showUpTo(pos);
  log.flush();
  render(pos);
}

function setSpeed(value) {
  if (!SPEEDS.includes(value)) return;
  if (playing) {
    position = now();
    anchorPos = position;
    anchorWall = performance.now();
    speed = value;
    audio.start(position, speed);
  } else {
    speed = value;
  }
  for (const b of speedButtons) b.setAttribute("aria-pressed", String(Number(b.dataset.speed) === value));
}

// --- drawing -----------------------------------------------------------------------------------

let lastLabel = "";
function render(pos) {
  if (!seekBar.matches(":active")) seekBar.value = String(pos);
  const label = `${fmtClock(pos)} / ${fmtClock(duration)}`;
  if (label !== lastLabel) {
    lastLabel = label;
    timeBox.textContent = label;
    seekBar.setAttribute("aria-valuetext", `${fmtClock(pos)} of ${fmtClock(duration)}`);
  }
  playButton.setAttribute("aria-label", playing ? "Pause" : "Play");
  playButton.querySelector(".play-icon").textContent = playing ? "❚❚" : "▶";
  playButton.querySelector(".play-text").textContent = playing ? "Pause" : "Play";
  playButton.classList.toggle("is-playing", playing);
  drawTimeline(pos);
}

let background = null; // the static picture (waveforms, responses) for the current size and theme
function paintBackground() {
  const dpr = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const height = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  background = document.createElement("canvas");
  background.width = width;
  background.height = height;
  const g = background.getContext("2d");
  const colors = {
    bg: cssVar("--code-bg", "#eee"),
    user: cssVar("--accent", "#2f6fed"),
    assistant: cssVar("--ok", "#1a7f37"),
    warn: cssVar("--warn", "#9a6700"),
    err: cssVar("--err", "#b42318"),
    line: cssVar("--muted", "#888"),
  };
  g.fillStyle = colors.bg;
  g.fillRect(0, 0, width, height);
  if (!duration || !peaks) return;
  const x = (ms) => (ms / duration) * width;
  // Responses: a shaded band each, a tick where it starts.
  const top = Math.round(9 * dpr);
  responses.forEach((r, n) => {
    const color = r.status === "completed" ? colors.assistant : r.status === "cancelled" ? colors.warn : colors.err;
    g.globalAlpha = 0.13;
    g.fillStyle = color;
    g.fillRect(x(r.start), top, Math.max(dpr, x(r.end) - x(r.start)), height - top);
    g.globalAlpha = 1;
    g.fillRect(Math.floor(x(r.start)), 0, Math.max(1, Math.round(dpr * 1.5)), height);
    g.font = `${Math.round(9 * dpr)}px system-ui, sans-serif`;
    g.textBaseline = "top";
    g.fillText(String(n + 1), x(r.start) + 3 * dpr, 0);
  });
  // Waveforms: the user's above the middle line, the assistant's below (-60…0 dBFS).
  const lane = (height - top) / 2;
  const mid = top + lane;
  g.fillStyle = colors.line;
  g.globalAlpha = 0.35;
  g.fillRect(0, Math.round(mid), width, Math.max(1, Math.round(dpr / 2)));
  g.globalAlpha = 1;
  for (const [side, up] of [
    ["user", true],
    ["assistant", false],
  ]) {
    const p = peaks[side];
    g.fillStyle = colors[side];
    for (let px = 0; px < width; px++) {
      const b0 = Math.floor((px / width) * p.length);
      const b1 = Math.max(b0 + 1, Math.floor(((px + 1) / width) * p.length));
      let v = 0;
      for (let b = b0; b < b1 && b < p.length; b++) if (p[b] > v) v = p[b];
      if (!v) continue;
      const hgt = Math.max(dpr, dbScale(v) * (lane - 2 * dpr));
      g.fillRect(px, up ? mid - hgt : mid + 1, 1, hgt);
    }
  }
}

function drawTimeline(pos) {
  if (!background || background.width !== Math.round(canvas.clientWidth * (window.devicePixelRatio || 1))) paintBackground();
  const g = canvas.getContext("2d");
  const { width, height } = canvas;
  g.clearRect(0, 0, width, height);
  g.drawImage(background, 0, 0);
  if (!duration) return;
  const dpr = window.devicePixelRatio || 1;
  const px = (pos / duration) * width;
  // What has played is veiled lightly; the playhead is a line in the text colour.
  g.fillStyle = cssVar("--fg", "#000");
  g.globalAlpha = 0.07;
  g.fillRect(0, 0, px, height);
  g.globalAlpha = 1;
  g.fillRect(Math.min(width - 2 * dpr, Math.max(0, px - dpr)), 0, 2 * dpr, height);
}

// --- input ---------------------------------------------------------------------------------------

playButton.addEventListener("click", toggle);
for (const b of speedButtons) b.addEventListener("click", () => setSpeed(Number(b.dataset.speed)));
seekBar.addEventListener("input", () => {
  const value = Number(seekBar.value);
  seek(value >= Number(seekBar.max) - 0.5 ? duration : value); // the value string may round the end
});
soundBox.addEventListener("change", () => audio && audio.setMuted(!soundBox.checked));

function seekFromPointer(e) {
  const box = canvas.getBoundingClientRect();
  seek(((e.clientX - box.left) / box.width) * duration);
}
canvas.addEventListener("pointerdown", (e) => {
  if (!ready) return;
  canvas.setPointerCapture(e.pointerId);
  seekFromPointer(e);
});
canvas.addEventListener("pointermove", (e) => {
  if (ready && canvas.hasPointerCapture(e.pointerId)) seekFromPointer(e);
});

// Space plays or pauses, arrows seek 5 s: not while typing, nor on a control that has its own
// use for them (a button's Space is its click; the log's keys move its rows).
document.addEventListener("keydown", (e) => {
  if (!ready || e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  const typing = t.closest && t.closest("input:not([type=range]):not([type=checkbox]), textarea, select, [contenteditable]");
  if (typing || (t.closest && t.closest(".log-viewport"))) return;
  if (e.key === " " || e.code === "Space") {
    if (t.closest && t.closest("button, a, summary, input[type=checkbox]")) return;
    e.preventDefault();
    toggle();
  } else if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
    e.preventDefault();
    seek(now() + (e.key === "ArrowLeft" ? -SEEK_STEP_MS : SEEK_STEP_MS));
  }
});

// Theme and size changes repaint the static picture.
const repaint = () => {
  background = null;
  drawTimeline(now());
};
new ResizeObserver(repaint).observe(canvas);
new MutationObserver(repaint).observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", repaint);

// --- start -------------------------------------------------------------------------------------

async function load() {
  try {
    analyse(await fetchAll(page.eventsUrl));
  } catch (err) {
    statusBox.textContent = `Could not load the recording${err.status ? ` (HTTP ${err.status})` : ""}: ${err.message}`;
    statusBox.classList.add("error");
    return;
  }
  seekBar.max = String(Math.max(1, duration));
  seekBar.disabled = frames.length === 0;
  playButton.disabled = frames.length === 0;
  const audioNote = [
    track.totalMs.user ? `you ${fmtClock(track.totalMs.user)}` : "",
    track.totalMs.assistant ? `assistant ${fmtClock(track.totalMs.assistant)}` : "",
  ].filter(Boolean);
  statusBox.textContent = frames.length
    ? `${fmtInt(frames.length)} events · ${responses.length} response${responses.length === 1 ? "" : "s"}` +
      (audioNote.length ? ` · audio: ${audioNote.join(", ")}` : " · no audio")
    : "This recording has no events.";
  ready = true;
  background = null;
  render(0);
  revealFromHash();
  loadPeaks();
}

// #seq=N (a failed check's assertion links here): the recording up to that event, the event open in the log.
function revealFromHash() {
  const match = /^#seq=(\d+)$/.exec(window.location.hash);
  if (!match || !ready) return;
  const seq = Number(match[1]);
  const i = frames.findIndex((f) => f.seq === seq);
  if (i < 0) {
    statusBox.textContent += ` · event #${seq} is not in this recording`;
    return;
  }
  pause();
  seek(rel[i] + 0.001); // a frame shows once the clock is past it
  log.reveal(seq);
}
window.addEventListener("hashchange", revealFromHash);

window.__replay = {
  page,
  store,
  transcript,
  log,
  get ready() {
    return ready;
  },
  get position() {
    return now();
  },
  get playing() {
    return playing;
  },
  get speed() {
    return speed;
  },
  get shown() {
    return shown;
  },
  get total() {
    return frames.length;
  },
  get duration() {
    return duration;
  },
  get responses() {
    return responses;
  },
  // Audio ms handed to Web Audio since the page opened, and the recording's audio ms, per side.
  get audioScheduledMs() {
    return audio ? Object.assign({}, audio.scheduledMs) : { user: 0, assistant: 0 };
  },
  get audioMs() {
    return track ? Object.assign({}, track.totalMs) : { user: 0, assistant: 0 };
  },
  get audioState() {
    return audio ? audio.state : "none";
  },
  // Byte-range requests for audio (made, failed, bytes), and where the waveform's peaks came from.
  get audioRequests() {
    if (!audio) return null;
    const { requests, failures, bytes } = audio.loader;
    return { requests, failures, bytes };
  },
  get waveform() {
    return waveform;
  },
  play,
  pause,
  toggle,
  seek,
  setSpeed,
};

load();
setupRecordingShare(page);
