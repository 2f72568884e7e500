// The replay's audio: both sides of a recording laid out on the session's clock, and played
// through Web Audio at the original timing and the chosen speed.
//
// replayAudioTrack(frames, relMs, config) reads the frames once: the user's side is the audio of
// client `input_audio_buffer.append` events and of the audio parts of the items a client creates
// (`conversation.item.create`) at the session's input rate, the assistant's is
// `response.output_audio.delta` at its output rate (rates and formats follow session.created /
// session.updated; before the first of them the page's config; 44100 Hz when nothing says). An
// event's audio is inline base64 (recordings from before media) or a reference into the side's
// media stream (events read with `audio=ref`, replay-media.js). A chunk starts when it was
// recorded, or when the previous chunk of its side ends if it came faster than real time (as a
// player would have queued it). Contiguous chunks are merged into runs of a few seconds, so
// playback has no seams: base64 runs stay base64 until scheduled; a run of references (one side's
// stream, contiguous offsets) is fetched by byte range just ahead of the playhead.
//
// createReplayAudio(track, audioUrls) plays it: start(posMs, speed) anchors the session clock to
// the AudioContext's, pump(posMs) fetches what starts within the next few seconds and schedules
// what starts within the next ~1.5 s, prefetch(posMs) fetches ahead while paused, stop() silences.

import { b64Bytes, base64ToBytes } from "./base64.js";
import { createRunLoader, decodeInto, isAudioRef, isG711 } from "./replay-media.js";

const DEFAULT_RATE = 44100;
const RUN_MAX_MS = 3000;
const LOOKAHEAD_MS = 1500; // wall-clock ms scheduled ahead
const PREFETCH_MS = 3000; // recording ms fetched beyond what is scheduled
const SIDES = ["user", "assistant"];

function formatOf(session, side) {
  const fmt = session && session.audio && session.audio[side] && session.audio[side].format;
  return fmt || null;
}

// Float32 samples of a run: its base64 chunks decoded, or what was fetched for its references.
function decodeRun(run) {
  if (run.stream) return run.data;
  const out = new Float32Array(run.samples);
  let at = 0;
  for (const b64 of run.parts) at = decodeInto(out, at, base64ToBytes(b64), run.type);
  return out;
}

// [side, value] of each audio a frame carries: the microphone's appends and the audio parts of the items
// a client creates (`input_audio`, the "items" media stream) are the user's side; output audio deltas
// the assistant's. The server's echoes of items are not played again.
function audioOf(f) {
  const e = f.event;
  if (f.direction === "client" && e.type === "input_audio_buffer.append") return [["user", e.audio]];
  if (f.direction === "client" && e.type === "conversation.item.create") {
    const content = e.item && Array.isArray(e.item.content) ? e.item.content : [];
    return content.filter((part) => part && part.audio).map((part) => ["user", part.audio]);
  }
  if (f.direction === "server" && (e.type === "response.output_audio.delta" || e.type === "response.audio.delta"))
    return [["assistant", e.delta]];
  return [];
}

export function replayAudioTrack(frames, relMs, config) {
  // The session as the server described it, frame by frame; before that, the page's config.
  let session = config || null;
  const firstServer = frames.find(
    (f) => f.direction === "server" && f.event && /^session\.(created|updated)$/.test(f.event.type) && f.event.session,
  );
  if (firstServer) session = firstServer.event.session;
  const runs = { user: [], assistant: [] };
  const ends = { user: 0, assistant: 0 };
  const totalMs = { user: 0, assistant: 0 };
  const responseEnds = {}; // response_id → where its audio ends (it often plays past response.done)
  const streamEnd = {}; // media stream → bytes its references reach
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i];
    const e = f.event;
    if (!e) continue;
    if (f.direction === "server" && (e.type === "session.created" || e.type === "session.updated") && e.session) {
      session = e.session;
      continue;
    }
    if (f.trimmed) continue; // shortened by the API: not playable
    for (const [side, value] of audioOf(f)) addAudio(i, e, side, value);
  }

  function addAudio(i, e, side, value) {
    const ref = isAudioRef(value) ? value : null;
    if (!ref && (typeof value !== "string" || !value)) return;
    const fmt = formatOf(session, side === "user" ? "input" : "output") || {};
    const type = fmt.type || "audio/pcm";
    const rate = isG711(type) ? fmt.rate || 8000 : fmt.rate || DEFAULT_RATE;
    const bytes = ref ? ref.length : b64Bytes(value);
    const samples = isG711(type) ? bytes : Math.floor(bytes / 2);
    if (!samples) return;
    const dur = (samples * 1000) / rate;
    const start = Math.max(relMs[i], ends[side]);
    const list = runs[side];
    const last = list[list.length - 1];
    const joins =
      last &&
      last.rate === rate &&
      last.type === type &&
      start - last.end < 0.5 &&
      last.dur < RUN_MAX_MS &&
      (ref ? last.stream === ref.$audio && last.offset + last.length === ref.offset : !last.stream);
    if (joins) {
      if (ref) last.length += ref.length;
      else last.parts.push(value);
      last.samples += samples;
      last.dur += dur;
      last.end = last.start + last.dur;
    } else {
      const run = { side, start, dur, end: start + dur, rate, type, samples };
      if (ref) Object.assign(run, { stream: ref.$audio, offset: ref.offset, length: ref.length, data: null });
      else run.parts = [value];
      list.push(run);
    }
    if (ref) streamEnd[ref.$audio] = Math.max(streamEnd[ref.$audio] || 0, ref.offset + ref.length);
    ends[side] = start + dur;
    totalMs[side] += dur;
    if (side === "assistant" && e.response_id) responseEnds[e.response_id] = start + dur;
  }
  return { runs, ends, totalMs, responseEnds, streamEnd, endMs: Math.max(ends.user, ends.assistant) };
}

// Peaks (0…1) of each side over `buckets` equal slices of [0, durationMs], for the timeline.
// Base64 runs are measured here; runs of references take theirs from `remote` (the server's
// `{every, peaks}` per media stream, GET …/audio/{side}/peaks), mapped to time through the run.
export function replayAudioPeaks(track, durationMs, buckets, remote) {
  const out = {};
  const bucketOf = (ms) => Math.max(0, Math.min(buckets - 1, Math.floor((ms / durationMs) * buckets)));
  for (const side of SIDES) {
    const peaks = new Float32Array(buckets);
    if (durationMs > 0) {
      for (const run of track.runs[side]) {
        if (run.stream) {
          const got = remote && remote[run.stream];
          if (got && !isG711(run.type)) remotePeaks(run, got, peaks, bucketOf);
          continue;
        }
        const data = decodeRun(run);
        const msPerSample = run.dur / data.length;
        for (let i = 0; i < data.length; i++) {
          const b = bucketOf(run.start + i * msPerSample);
          const v = Math.abs(data[i]);
          if (v > peaks[b]) peaks[b] = v;
        }
      }
    }
    out[side] = peaks;
  }
  return out;
}

// The server's peaks that cover a run's samples, each spread over the buckets its time spans.
function remotePeaks(run, { every, peaks: values }, peaks, bucketOf) {
  const first = run.offset / 2;
  const last = first + run.samples; // exclusive
  const msPerSample = 1000 / run.rate;
  for (let k = Math.floor(first / every); k * every < last && k < values.length; k++) {
    const v = values[k] / 32767;
    if (!v) continue;
    const t0 = run.start + (Math.max(k * every, first) - first) * msPerSample;
    const t1 = run.start + (Math.min((k + 1) * every, last) - first) * msPerSample;
    for (let b = bucketOf(t0), b1 = bucketOf(Math.max(t0, t1 - 0.001)); b <= b1; b++) if (v > peaks[b]) peaks[b] = v;
  }
}

export function createReplayAudio(track, audioUrls) {
  let ctx = null;
  let master = null;
  const active = new Set();
  let running = false; // between start() and stop()
  let anchored = false; // the clocks are tied (the context is running)
  let anchorPos = 0;
  let anchorCtx = 0;
  let speed = 1;
  const next = { user: 0, assistant: 0 }; // the next run to schedule, per side
  let lastPos = 0;
  // Audio that arrives is scheduled at once (not at the page's next tick), once the clocks are tied.
  const loader = createRunLoader(track, audioUrls, () => running && anchored && api.pump(lastPos));
  const api = {
    muted: false,
    scheduledMs: { user: 0, assistant: 0 }, // audio ms handed to Web Audio since the page opened
    totalMs: track.totalMs,
    loader, // Range requests made, failed, bytes fetched
    get state() {
      return ctx ? ctx.state : "none";
    },
    get active() {
      return active.size;
    },
    // Call from a user gesture (Play): browsers start audio only after one.
    unlock() {
      if (!ctx) {
        const AC = window.AudioContext || window.webkitAudioContext;
        if (!AC) return;
        ctx = new AC();
        master = ctx.createGain();
        master.gain.value = api.muted ? 0 : 1;
        master.connect(ctx.destination);
      }
      if (ctx.state === "suspended") ctx.resume().catch(() => {});
    },
    setMuted(value) {
      api.muted = value;
      if (master) master.gain.value = value ? 0 : 1;
    },
    start(posMs, rate) {
      api.stop();
      running = true;
      speed = rate;
      anchored = false;
      api.pump(posMs);
    },
    stop() {
      running = false;
      anchored = false;
      for (const src of active) {
        try {
          src.stop();
        } catch (e) {
          // already ended
        }
      }
      active.clear();
    },
    // Fetch what plays next from `posMs` (paused: after a seek, or before the first Play).
    prefetch(posMs) {
      loader.want(posMs, posMs + LOOKAHEAD_MS * speed + PREFETCH_MS);
    },
    pump(posMs) {
      lastPos = posMs;
      if (running) api.prefetch(posMs);
      if (!running || !ctx || ctx.state !== "running") return;
      if (!anchored) {
        anchored = true;
        anchorPos = posMs;
        anchorCtx = ctx.currentTime + 0.04;
        for (const side of SIDES) {
          const list = track.runs[side];
          let i = 0;
          while (i < list.length && list[i].end <= posMs) i++;
          next[side] = i;
        }
      }
      const horizon = posMs + LOOKAHEAD_MS * speed;
      for (const side of SIDES) {
        const list = track.runs[side];
        while (next[side] < list.length && list[next[side]].start < horizon) {
          const run = list[next[side]];
          if (run.stream && !run.data && !run.failed) break; // still on its way: scheduled once here
          if (!run.failed) schedule(run);
          next[side] += 1;
        }
      }
    },
  };

  function schedule(run) {
    // Where the run starts on the context's clock; one that straddles the start point, or arrives
    // late, starts now, that far into itself.
    const ideal = anchorCtx + (run.start - anchorPos) / speed / 1000;
    const when = Math.max(ideal, anchorCtx, ctx.currentTime);
    const offsetMs = (when - ideal) * speed * 1000;
    if (offsetMs >= run.dur) return;
    const data = decodeRun(run);
    const buffer = ctx.createBuffer(1, data.length, run.rate);
    buffer.copyToChannel(data, 0);
    const src = ctx.createBufferSource();
    src.buffer = buffer;
    src.playbackRate.value = speed;
    src.connect(master);
    src.onended = () => active.delete(src);
    active.add(src);
    src.start(when, offsetMs / 1000);
    api.scheduledMs[run.side] += run.dur - offsetMs;
  }

  return api;
}
