// The replay's audio: both sides of a recording laid out on the session's clock, and played
// through Web Audio at the original timing and the chosen speed.
//
// replayAudioTrack(frames, relMs, config) reads the frames once: the user's side is the base64
// audio of client `input_audio_buffer.append` events at the session's input rate, the assistant's
// is `response.output_audio.delta` at its output rate (rates and formats follow session.created /
// session.updated; before the first of them the page's config; 44100 Hz when nothing says). A
// chunk starts when it was recorded, or when the previous chunk of its side ends if it came
// faster than real time (as a player would have queued it). Contiguous chunks are merged into runs
// of a few seconds, so playback has no seams. Audio stays base64 until it is scheduled.
//
// createReplayAudio(track) plays it: start(posMs, speed) anchors the session clock to the
// AudioContext's, pump(posMs) schedules what starts within the next ~1.5 s, stop() silences it.

import { b64Bytes, base64ToBytes } from "./base64.js";

const DEFAULT_RATE = 44100;
const RUN_MAX_MS = 3000;
const LOOKAHEAD_MS = 1500; // wall-clock ms scheduled ahead
const SIDES = ["user", "assistant"];

function formatOf(session, side) {
  const fmt = session && session.audio && session.audio[side] && session.audio[side].format;
  return fmt || null;
}

// G.711 decoders (ITU-T), to a linear 16-bit sample.
function ulaw(u) {
  u = ~u & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}
function alaw(a) {
  a ^= 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else if (seg === 1) t += 0x108;
  else t = (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}

// Samples a base64 chunk holds, without decoding it.
function sampleCount(b64, type) {
  const bytes = b64Bytes(b64);
  return type === "audio/pcmu" || type === "audio/pcma" ? bytes : Math.floor(bytes / 2);
}

// Float32 samples of a run (its chunks concatenated).
function decodeRun(run) {
  const out = new Float32Array(run.samples);
  let at = 0;
  for (const b64 of run.parts) {
    const bytes = base64ToBytes(b64);
    if (run.type === "audio/pcmu" || run.type === "audio/pcma") {
      const dec = run.type === "audio/pcmu" ? ulaw : alaw;
      for (let i = 0; i < bytes.length && at < out.length; i++) out[at++] = dec(bytes[i]) / 32768;
    } else {
      const view = new DataView(bytes.buffer, 0, bytes.length & ~1);
      for (let i = 0; i + 1 < bytes.length && at < out.length; i += 2) out[at++] = view.getInt16(i, true) / 32768;
    }
  }
  return out;
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
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i];
    const e = f.event;
    if (!e) continue;
    if (f.direction === "server" && (e.type === "session.created" || e.type === "session.updated") && e.session) {
      session = e.session;
      continue;
    }
    let side = null;
    let b64 = null;
    if (f.direction === "client" && e.type === "input_audio_buffer.append") [side, b64] = ["user", e.audio];
    else if (f.direction === "server" && (e.type === "response.output_audio.delta" || e.type === "response.audio.delta"))
      [side, b64] = ["assistant", e.delta];
    if (!side || typeof b64 !== "string" || !b64) continue;
    if (f.trimmed) continue; // shortened by the API: not playable
    const fmt = formatOf(session, side === "user" ? "input" : "output") || {};
    const type = fmt.type || "audio/pcm";
    const rate = type === "audio/pcmu" || type === "audio/pcma" ? fmt.rate || 8000 : fmt.rate || DEFAULT_RATE;
    const samples = sampleCount(b64, type);
    if (!samples) continue;
    const dur = (samples * 1000) / rate;
    const start = Math.max(relMs[i], ends[side]);
    const list = runs[side];
    const last = list[list.length - 1];
    if (last && last.rate === rate && last.type === type && start - last.end < 0.5 && last.dur < RUN_MAX_MS) {
      last.parts.push(b64);
      last.samples += samples;
      last.dur += dur;
      last.end = last.start + last.dur;
    } else {
      list.push({ side, start, dur, end: start + dur, rate, type, samples, parts: [b64] });
    }
    ends[side] = start + dur;
    totalMs[side] += dur;
    if (side === "assistant" && e.response_id) responseEnds[e.response_id] = start + dur;
  }
  return { runs, ends, totalMs, responseEnds, endMs: Math.max(ends.user, ends.assistant) };
}

// Peaks (0…1) of each side over `buckets` equal slices of [0, durationMs], for the timeline.
export function replayAudioPeaks(track, durationMs, buckets) {
  const out = {};
  for (const side of SIDES) {
    const peaks = new Float32Array(buckets);
    if (durationMs > 0) {
      for (const run of track.runs[side]) {
        const data = decodeRun(run);
        const msPerSample = run.dur / data.length;
        for (let i = 0; i < data.length; i++) {
          const b = Math.min(buckets - 1, Math.floor(((run.start + i * msPerSample) / durationMs) * buckets));
          const v = Math.abs(data[i]);
          if (v > peaks[b]) peaks[b] = v;
        }
      }
    }
    out[side] = peaks;
  }
  return out;
}

export function createReplayAudio(track) {
  let ctx = null;
  let master = null;
  const active = new Set();
  let running = false; // between start() and stop()
  let anchored = false; // the clocks are tied (the context is running)
  let anchorPos = 0;
  let anchorCtx = 0;
  let speed = 1;
  const next = { user: 0, assistant: 0 }; // the next run to schedule, per side
  const api = {
    muted: false,
    scheduledMs: { user: 0, assistant: 0 }, // audio ms handed to Web Audio since the page opened
    totalMs: track.totalMs,
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
    pump(posMs) {
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
          schedule(list[next[side]]);
          next[side] += 1;
        }
      }
    },
  };

  function schedule(run) {
    const offsetMs = Math.max(0, anchorPos - run.start); // the run straddles the start point
    const when = anchorCtx + Math.max(0, run.start - anchorPos) / speed / 1000;
    const data = decodeRun(run);
    const buffer = ctx.createBuffer(1, data.length, run.rate);
    buffer.copyToChannel(data, 0);
    const src = ctx.createBufferSource();
    src.buffer = buffer;
    src.playbackRate.value = speed;
    src.connect(master);
    src.onended = () => active.delete(src);
    active.add(src);
    src.start(Math.max(when, ctx.currentTime), offsetMs / 1000);
    api.scheduledMs[run.side] += run.dur - offsetMs;
  }

  return api;
}
