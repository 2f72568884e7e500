// The microphone's AudioWorkletProcessor: takes the capture at the AudioContext's rate, resamples
// it (linear interpolation) to the session's input rate, converts to PCM16 and posts a chunk of
// about `chunkMs` to the page (voice.js), which sends it as input_audio_buffer.append.
// Messages in: {type: "rate", rate} (the session's input rate changed: the partial chunk goes out
// first, at the old rate), {type: "flush", id} (post what is buffered now, with `flushed: id`).
// Messages out: {type: "chunk", pcm: ArrayBuffer (Int16 LE), rate, flushed?}.
"use strict";
class MicProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = (options && options.processorOptions) || {};
    this.chunkMs = o.chunkMs || 100;
    this.setRate(o.rate || 44100);
    this.port.onmessage = (e) => {
      const m = e.data || {};
      if (m.type === "rate" && m.rate !== this.rate) {
        this.post();
        this.setRate(m.rate);
      } else if (m.type === "flush") {
        this.post(m.id);
      }
    };
  }

  setRate(rate) {
    this.rate = rate;
    this.step = sampleRate / rate; // capture samples per output sample
    this.t = 0; // where the next output sample sits, in capture samples from this block's start
    this.prev = 0; // the previous block's last sample (t may point between it and this block's first)
    this.buf = new Int16Array(Math.max(1, Math.round((rate * this.chunkMs) / 1000)));
    this.n = 0;
  }

  post(flushed) {
    const pcm = this.buf.slice(0, this.n).buffer;
    this.n = 0;
    const message = { type: "chunk", pcm, rate: this.rate };
    if (flushed !== undefined) message.flushed = flushed;
    this.port.postMessage(message, [pcm]);
  }

  process(inputs, outputs) {
    const input = inputs[0] && inputs[0][0];
    if (input && input.length) {
      const len = input.length;
      let t = this.t;
      while (t < len - 1) {
        const i = Math.floor(t);
        const f = t - i;
        const a = i < 0 ? this.prev : input[i];
        const b = input[i + 1];
        let v = a + (b - a) * f;
        v = v < -1 ? -1 : v > 1 ? 1 : v;
        this.buf[this.n++] = v < 0 ? v * 0x8000 : v * 0x7fff;
        if (this.n === this.buf.length) this.post();
        t += this.step;
      }
      this.t = t - len;
      this.prev = input[len - 1];
    }
    // Silence out: the node only feeds a muted gain, so the graph keeps pulling it.
    return true;
  }
}
registerProcessor("mic-processor", MicProcessor);
