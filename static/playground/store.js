// Every frame of the session, in memory, exactly once. The seq the server gives is the truth:
// a frame at or below the last seq seen is a repeat (a resumed socket) and is dropped; a frame
// past the next expected seq means something was lost, and the socket resumes from the last seq.

import { b64Bytes } from "./base64.js";

export function createStore() {
  const frames = []; // numbered frames, seq 1..N in order
  const listeners = [];
  const store = {
    frames,
    lastSeq: 0,
    t0: null, // ts (s) of the first frame: the session's "connect" time for relative times
    duplicates: 0, // repeats dropped (seen again after a resume); for the curious and the tests
    localNotices: 0,
    subscribe(fn) {
      listeners.push(fn);
    },
    // Accept a batch (one socket message, or frames injected by a test). Returns the seq a gap
    // was found after, or null. `strict`: stop at a gap (socket), else accept any higher seq.
    accept(batch, { strict = true } = {}) {
      for (const frame of batch) {
        if (frame.seq === null || frame.seq === undefined) {
          store.localNotices += 1;
          emit(frame); // this socket's own notice (e.g. a refused event): not numbered, never repeated
          continue;
        }
        if (frame.seq <= store.lastSeq) {
          store.duplicates += 1;
          continue;
        }
        if (strict && frame.seq !== store.lastSeq + 1) return store.lastSeq;
        store.lastSeq = frame.seq;
        if (store.t0 === null) store.t0 = frame.ts;
        frames.push(frame);
        emit(frame);
        forgetOwnAudio(frame);
      }
      return null;
    },
    // Forget every frame; the listeners stay (the replay page rebuilds from the start on a seek back).
    reset() {
      frames.length = 0;
      store.lastSeq = 0;
      store.t0 = null;
      store.duplicates = 0;
      store.localNotices = 0;
    },
    // Milliseconds since the session connected, for a frame's ts (local notices included).
    since(ts) {
      return store.t0 === null ? 0 : (ts - store.t0) * 1000;
    },
  };
  // Our own microphone appends are never played back: once every panel has seen one, keep only
  // its first 64 base64 characters and its size (audioBytes). Otherwise voice-activity mode would
  // hold ~12 KB per 100 ms in the page for as long as it is open.
  function forgetOwnAudio(frame) {
    const e = frame.event;
    if (frame.direction !== "client" || !e || e.type !== "input_audio_buffer.append") return;
    if (typeof e.audio !== "string" || e.audio.length <= 64) return;
    frame.audioBytes = b64Bytes(e.audio);
    frame.event = Object.assign({}, e, { audio: e.audio.slice(0, 64) });
  }

  function emit(frame) {
    for (const fn of listeners) {
      try {
        fn(frame);
      } catch (err) {
        // One module's bug must not stop the others (or the log) from seeing the frame.
        console.error("console: a listener failed on frame", frame.seq, err);
      }
    }
  }
  return store;
}
