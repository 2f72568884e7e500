// The answer's AudioWorkletProcessor: plays PCM16 chunks, each at its own (the session's output)
// rate, resampled by linear interpolation to the AudioContext's rate, and counts per item how
// many milliseconds of that item's audio it has actually rendered (what barge-in may truncate to).
// Messages in: {type: "chunk", itemId, contentIndex, pcm: ArrayBuffer (Int16 LE), rate};
//   {type: "stop", id}: drop everything queued and answer {type: "stopped", id, ...report}.
// Messages out: {type: "report", played: {itemId: ms}, current: {itemId, contentIndex} | null,
//   bufferedMs, playing} about every 40 ms while playing, and once when the queue runs dry.
"use strict";
// A jitter buffer: after the queue ran dry (or at the start), play only once this much audio is
// queued, or once the first chunk has waited MAX_WAIT_MS (the end of a short answer). Audio that
// arrives no faster than real time then plays in runs instead of stuttering chunk by chunk.
const PREBUFFER_MS = 120;
const MAX_WAIT_MS = 150;
class PlayerProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.queue = []; // {itemId, contentIndex, data: Float32Array, rate, pos}
    this.played = {}; // itemId -> ms rendered
    this.received = {}; // itemId -> ms queued (played never goes past it)
    this.current = null;
    this.sinceReport = 0;
    this.wasPlaying = false;
    this.buffering = true; // waiting for PREBUFFER_MS before (re)starting
    this.waited = 0; // samples (of the context) waited with something queued
    this.port.onmessage = (e) => {
      const m = e.data || {};
      if (m.type === "chunk") {
        const pcm = new Int16Array(m.pcm);
        const data = new Float32Array(pcm.length);
        for (let i = 0; i < pcm.length; i++) data[i] = pcm[i] / 32768;
        if (!data.length || !(m.rate > 0)) return;
        this.queue.push({ itemId: m.itemId, contentIndex: m.contentIndex, data, rate: m.rate, pos: 0 });
        this.received[m.itemId] = (this.received[m.itemId] || 0) + (data.length * 1000) / m.rate;
        if (!(m.itemId in this.played)) this.played[m.itemId] = 0;
      } else if (m.type === "stop") {
        this.queue.length = 0;
        this.port.postMessage(Object.assign({ type: "stopped", id: m.id }, this.report()));
        this.current = null;
        this.wasPlaying = false;
        this.buffering = true;
        this.waited = 0;
      }
    };
  }

  bufferedMs() {
    let ms = 0;
    for (const c of this.queue) ms += ((c.data.length - c.pos) * 1000) / c.rate;
    return ms;
  }

  report() {
    return {
      played: Object.assign({}, this.played),
      current: this.current,
      bufferedMs: this.bufferedMs(),
      playing: this.queue.length > 0,
    };
  }

  process(inputs, outputs) {
    const out = outputs[0];
    const ch0 = out[0];
    const msPerSample = 1000 / sampleRate;
    if (this.buffering) {
      if (this.queue.length) this.waited += ch0.length;
      const ready = this.bufferedMs() >= PREBUFFER_MS || this.waited * msPerSample >= MAX_WAIT_MS;
      if (!ready) {
        for (let ch = 0; ch < out.length; ch++) out[ch].fill(0);
        return true;
      }
      this.buffering = false;
      this.waited = 0;
    }
    for (let k = 0; k < ch0.length; k++) {
      let c = this.queue[0];
      while (c && c.pos >= c.data.length) {
        const carry = c.pos - c.data.length; // past the end, in this chunk's samples
        const rate = c.rate;
        this.queue.shift();
        c = this.queue[0];
        if (c) c.pos += (carry * c.rate) / rate;
      }
      if (!c) {
        ch0[k] = 0;
        this.buffering = true; // ran dry: gather PREBUFFER_MS again before going on
        continue;
      }
      const i = Math.floor(c.pos);
      const f = c.pos - i;
      const a = c.data[i];
      const next = i + 1 < c.data.length ? c.data[i + 1] : this.queue[1] ? this.queue[1].data[0] : a;
      ch0[k] = a + (next - a) * f;
      c.pos += c.rate / sampleRate;
      const id = c.itemId;
      this.played[id] = Math.min(this.received[id], this.played[id] + msPerSample);
      if (!this.current || this.current.itemId !== id) this.current = { itemId: id, contentIndex: c.contentIndex };
    }
    for (let ch = 1; ch < out.length; ch++) out[ch].set(ch0);
    const playing = this.queue.length > 0 && this.queue.some((c) => c.pos < c.data.length);
    this.sinceReport += ch0.length;
    if ((playing && this.sinceReport >= sampleRate * 0.04) || (this.wasPlaying && !playing)) {
      this.sinceReport = 0;
      this.port.postMessage(Object.assign({ type: "report" }, this.report(), { playing }));
    }
    this.wasPlaying = playing;
    return true;
  }
}
registerProcessor("player-processor", PlayerProcessor);
