// Voice: the microphone, the answer's audio and barge-in, in the #voice-slot of the console.
//
// - The microphone runs through mic-worklet.js (resampled to the session's input rate, PCM16) and
//   goes out as input_audio_buffer.append, about 100 ms a chunk.
// - Two modes, following the session's turn detection (switching sends a session.update):
//   push to talk (turn_detection null: append while the button or Space is held, then commit +
//   response.create) and voice activity (server_vad: the microphone streams, the server decides).
// - Audio deltas that arrive after "Start voice" play through player-worklet.js at the session's
//   output rate; it counts per item the milliseconds actually rendered.
// - Barge-in: talking (push to talk pressed, or the server's speech_started) while the answer
//   plays stops playback, cancels the response when it is still running (with server VAD the
//   server cancels it itself) and sends conversation.item.truncate with audio_end_ms = what was
//   actually played of that item, never more.
//
// Test hook: window.__console.voice (docs/console.md).

import { base64ToBytes, bytesToBase64 } from "./base64.js";
import { cssVar, h } from "./dom.js";
import { dbScale } from "./format.js";

// The worklets sit next to this module, wherever the static files are served from.
const PLAYER_WORKLET = new URL("./player-worklet.js", import.meta.url).href;
const MIC_WORKLET = new URL("./mic-worklet.js", import.meta.url).href;

export function createVoice({ store, send, sessionRate, root }) {
  const CHUNK_MS = 100;
  const HISTORY = 120; // level bars kept per waveform
  const DEFAULT_VAD = { type: "server_vad", threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 500 };

  // --- state (all of it readable through the hook) -------------------------------------------------

  const api = {
    state: "off", // off | starting | on | error
    error: "",
    mode: "ptt", // ptt | vad, as the server's turn detection says
    pendingMode: null, // asked for with a session.update, not confirmed yet
    talking: false, // push to talk held
    speech: false, // the server heard speech (speech_started .. speech_stopped)
    micOk: false,
    played: {}, // itemId -> ms actually rendered by the player
    received: {}, // itemId -> ms of audio handed to the player
    current: null, // {itemId, contentIndex} the player rendered last
    bufferedMs: 0,
    playing: false,
    appends: 0, // input_audio_buffer.append sent
    appendedMs: 0,
    bargeIns: [], // {reason, itemId, contentIndex, audioEndMs, playedMs, cancelled}
    inputLevel: 0,
    outputLevel: 0,
    start,
    stop,
    press,
    release,
    setMode,
    bargeIn,
    playedMs: (itemId) => api.played[itemId] || 0,
  };

  let server = null; // the session as the server last described it
  let lastVad = null; // the last server_vad settings seen, reused when switching back
  let responding = null; // id of the response in progress
  let responseHasAudio = false;
  let lastQueued = null; // the item of the last delta handed to the player
  const dropped = new Set(); // items whose further audio is ignored (barged in)
  let startSeq = Infinity; // audio deltas after this seq are played
  let ctx = null;
  let stream = null;
  let micNode = null;
  let micAnalyser = null;
  let playerNode = null;
  let outAnalyser = null;
  let flushes = 0;
  const flushWaiters = new Map();
  let stopWaiters = new Map();
  let stops = 0;
  let raf = 0;
  const inHistory = new Float32Array(HISTORY);
  const outHistory = new Float32Array(HISTORY);

  // --- the panel ---------------------------------------------------------------------------------------

  const startButton = h("button", { type: "button", id: "voice-start", class: "voice-start" }, "Start voice");
  const pttMode = h("button", { type: "button", id: "voice-mode-ptt", "aria-pressed": "true" }, "Push to talk");
  const vadMode = h("button", { type: "button", id: "voice-mode-vad", "aria-pressed": "false" }, "Voice activity");
  const pttButton = h(
    "button",
    { type: "button", id: "voice-ptt", class: "voice-ptt", disabled: true, title: "Hold to talk (or hold Space)" },
    "Hold to talk",
  );
  const status = h("span", { id: "voice-status", class: "voice-status muted", role: "status" }, "Voice is off.");
  const inCanvas = h("canvas", { id: "voice-in-wave", class: "voice-wave", "aria-label": "Microphone level" });
  const outCanvas = h("canvas", { id: "voice-out-wave", class: "voice-wave", "aria-label": "Answer level" });
  root.replaceChildren(
    h(
      "div",
      { class: "voice-row" },
      startButton,
      h("div", { class: "voice-modes", role: "group", "aria-label": "Turn detection" }, pttMode, vadMode),
      pttButton,
      status,
    ),
    h(
      "div",
      { class: "voice-row voice-waves" },
      h("div", { class: "voice-meter" }, h("span", { class: "voice-label" }, "mic"), inCanvas),
      h("div", { class: "voice-meter" }, h("span", { class: "voice-label" }, "answer"), outCanvas),
    ),
  );
  root.hidden = false;

  function render() {
    root.dataset.state = api.state;
    root.dataset.mode = api.mode;
    root.classList.toggle("is-talking", api.talking || api.speech);
    root.classList.toggle("is-playing", api.playing);
    startButton.textContent = api.state === "on" ? "Stop voice" : api.state === "starting" ? "Starting…" : "Start voice";
    startButton.disabled = api.state === "starting";
    startButton.classList.toggle("secondary", api.state === "on");
    const shown = api.pendingMode || api.mode;
    pttMode.setAttribute("aria-pressed", String(shown === "ptt"));
    vadMode.setAttribute("aria-pressed", String(shown === "vad"));
    pttButton.hidden = api.mode === "vad";
    pttButton.disabled = api.state !== "on" || !api.micOk || api.mode !== "ptt";
    pttButton.classList.toggle("is-held", api.talking);
    pttButton.textContent = api.talking ? "Talking… release to send" : "Hold to talk";
    let text;
    if (api.state === "error") text = api.error;
    else if (api.state === "off") text = "Voice is off: Start voice turns on the microphone and plays the answers.";
    else if (api.state === "starting") text = "Asking for the microphone…";
    else if (api.pendingMode) text = api.pendingMode === "vad" ? "Switching to voice activity…" : "Switching to push to talk…";
    else {
      const parts = [];
      if (!api.micOk) parts.push(api.error || "No microphone: answers still play.");
      else if (api.mode === "vad") parts.push(api.speech ? "Hearing you…" : "Listening: the server decides the turns.");
      else parts.push(api.talking ? "Recording…" : "Hold the button or Space to talk.");
      if (api.playing || (responding !== null && responseHasAudio)) parts.push("Answer playing: talk to interrupt.");
      text = parts.join(" ");
    }
    status.textContent = text;
  }

  // --- the session's state, from every frame ---------------------------------------------------------

  function rate(side) {
    const fmt = server && server.audio && server.audio[side] && server.audio[side].format;
    return (fmt && fmt.rate) || sessionRate(side) || 44100;
  }

  store.subscribe((frame) => {
    const e = frame.event;
    if (frame.notice && frame.notice.kind === "rejected" && api.pendingMode) {
      api.pendingMode = null; // our mode switch (or whatever was sent last) was refused: show the real mode
      render();
    }
    if (!e) return;
    const live = frame.seq !== undefined && frame.seq !== null && frame.seq > startSeq;
    if (frame.direction === "server") onServer(e, live);
  });

  function onServer(e, live) {
    switch (e.type) {
      case "session.created":
      case "session.updated": {
        server = e.session || {};
        const input = (server.audio && server.audio.input) || {};
        const td = input.turn_detection;
        if (td && td.type === "server_vad") lastVad = td;
        api.mode = td && td.type === "server_vad" ? "vad" : "ptt";
        if (api.pendingMode === api.mode) api.pendingMode = null;
        if (api.mode === "vad" && api.talking) release();
        if (micNode) micNode.port.postMessage({ type: "rate", rate: rate("input") });
        render();
        break;
      }
      case "response.created":
        responding = (e.response && e.response.id) || "?";
        responseHasAudio = false;
        break;
      case "response.done":
        if (!e.response || e.response.id === responding || !responding) responding = null;
        render();
        break;
      case "response.output_audio.delta":
        responseHasAudio = true;
        if (live) play(e);
        break;
      case "input_audio_buffer.speech_started":
        api.speech = true;
        if (live) bargeIn("speech_started");
        render();
        break;
      case "input_audio_buffer.speech_stopped":
      case "input_audio_buffer.committed":
        api.speech = false;
        render();
        break;
      case "error":
        if (api.pendingMode) {
          api.pendingMode = null;
          render();
        }
        break;
    }
  }

  // --- starting and stopping -------------------------------------------------------------------------

  async function start() {
    if (api.state === "on" || api.state === "starting") return;
    api.state = "starting";
    api.error = "";
    render();
    try {
      const AC = window.AudioContext || window.webkitAudioContext;
      if (!AC || !window.AudioWorkletNode) throw new Error("This browser has no AudioWorklet: voice is not available.");
      ctx = new AC();
      await ctx.audioWorklet.addModule(PLAYER_WORKLET);
      await ctx.audioWorklet.addModule(MIC_WORKLET);
      playerNode = new AudioWorkletNode(ctx, "player-processor", { numberOfInputs: 0, outputChannelCount: [1] });
      playerNode.port.onmessage = onPlayer;
      outAnalyser = ctx.createAnalyser();
      outAnalyser.fftSize = 1024;
      playerNode.connect(outAnalyser);
      outAnalyser.connect(ctx.destination);
      startSeq = store.lastSeq;
      api.state = "on";
      await startMic();
      if (ctx.state === "suspended") await ctx.resume().catch(() => {});
      render();
      draw();
    } catch (err) {
      console.warn("voice: could not start", err);
      teardown();
      api.state = "error";
      api.error = `Voice could not start: ${err.message || err}`;
      render();
    }
  }

  async function startMic() {
    try {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw new Error("no getUserMedia here");
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: false, autoGainControl: false },
      });
      if (api.state !== "on") {
        stream.getTracks().forEach((t) => t.stop());
        stream = null;
        return;
      }
      const source = ctx.createMediaStreamSource(stream);
      micNode = new AudioWorkletNode(ctx, "mic-processor", {
        numberOfInputs: 1,
        numberOfOutputs: 1,
        outputChannelCount: [1],
        channelCount: 1,
        channelCountMode: "explicit",
        processorOptions: { rate: rate("input"), chunkMs: CHUNK_MS },
      });
      micNode.port.onmessage = onMic;
      micAnalyser = ctx.createAnalyser();
      micAnalyser.fftSize = 1024;
      source.connect(micAnalyser);
      source.connect(micNode);
      const mute = ctx.createGain();
      mute.gain.value = 0;
      micNode.connect(mute).connect(ctx.destination);
      api.micOk = true;
    } catch (err) {
      console.warn("voice: no microphone", err);
      api.micOk = false;
      api.error = `No microphone (${err.name || err.message || err}): answers still play.`;
    }
  }

  function teardown() {
    cancelAnimationFrame(raf);
    if (stream) stream.getTracks().forEach((t) => t.stop());
    if (ctx) ctx.close().catch(() => {});
    ctx = stream = micNode = micAnalyser = playerNode = outAnalyser = null;
    api.micOk = false;
    api.playing = false;
    api.bufferedMs = 0;
    startSeq = Infinity;
  }

  function stop() {
    if (api.talking) release();
    teardown();
    api.state = "off";
    api.error = "";
    inHistory.fill(0);
    outHistory.fill(0);
    drawWave(inCanvas, inHistory, "--accent");
    drawWave(outCanvas, outHistory, "--ok");
    render();
  }

  startButton.addEventListener("click", () => (api.state === "on" ? stop() : start()));

  // --- the microphone ----------------------------------------------------------------------------------

  function sendAppend(pcm, r) {
    if (!pcm.byteLength) return;
    if (send({ type: "input_audio_buffer.append", audio: bytesToBase64(pcm) }, "voice") === "stopped") {
      stop(); // the session has ended: no more audio to send (the banner says why)
      return;
    }
    api.appends += 1;
    api.appendedMs += (pcm.byteLength / 2 / r) * 1000;
    turnSamples += pcm.byteLength / 2;
  }

  let turnSamples = 0; // samples appended since push to talk was pressed

  function onMic(e) {
    const m = e.data;
    if (m.type !== "chunk") return;
    const streaming = api.mode === "vad" && !api.pendingMode ? true : api.talking || m.flushed !== undefined;
    if (streaming && api.state === "on") sendAppend(m.pcm, m.rate);
    if (m.flushed !== undefined && flushWaiters.has(m.flushed)) {
      flushWaiters.get(m.flushed)();
      flushWaiters.delete(m.flushed);
    }
  }

  function flushMic() {
    return new Promise((resolve) => {
      if (!micNode) return resolve();
      const id = ++flushes;
      flushWaiters.set(id, resolve);
      micNode.port.postMessage({ type: "flush", id });
      setTimeout(() => {
        if (flushWaiters.delete(id)) resolve();
      }, 300);
    });
  }

  // --- push to talk ------------------------------------------------------------------------------------

  function press() {
    if (api.talking || releasing || api.state !== "on" || !api.micOk || api.mode !== "ptt") return false;
    api.talking = true;
    turnSamples = 0;
    bargeIn("push_to_talk");
    render();
    return true;
  }

  let releasing = false;
  async function release() {
    if (!api.talking || releasing) return;
    releasing = true;
    try {
      await flushMic(); // the last partial chunk goes out before the commit (onMic sends it)
    } finally {
      api.talking = false;
      releasing = false;
    }
    render();
    if (turnSamples > 0) {
      send({ type: "input_audio_buffer.commit" }, "voice");
      send({ type: "response.create" }, "voice");
    }
  }

  pttButton.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    pttButton.setPointerCapture && pttButton.setPointerCapture(e.pointerId);
    press();
  });
  pttButton.addEventListener("pointerup", () => release());
  pttButton.addEventListener("pointercancel", () => release());
  pttButton.addEventListener("lostpointercapture", () => release());
  pttButton.addEventListener("keydown", (e) => {
    if ((e.key === "Enter" || e.key === " ") && !e.repeat) {
      e.preventDefault();
      press();
    }
  });
  pttButton.addEventListener("keyup", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      release();
    }
  });

  // Space is push to talk unless the focus is in a text field or on a control that uses Space
  // itself (a button, a checkbox, a fold, the log's rows) outside this panel. In the panel, Space
  // on Start/Stop or a mode button talks too: that is where the focus is after starting.
  const SPACE_USERS = "input, textarea, select, [contenteditable], summary, button, [role=button], .log-viewport";
  function spaceIsOurs(e) {
    if (e.key !== " " || e.ctrlKey || e.metaKey || e.altKey) return false;
    if (api.state !== "on" || api.mode !== "ptt" || !api.micOk) return false;
    const t = e.target;
    if (t === pttButton) return false; // its own handler
    if (t && t.closest && t.closest(SPACE_USERS) && !(root.contains(t) && t.tagName === "BUTTON")) return false;
    return true;
  }
  document.addEventListener("keydown", (e) => {
    if (!spaceIsOurs(e)) return;
    e.preventDefault();
    if (!e.repeat) press();
  });
  document.addEventListener("keyup", (e) => {
    if (e.key !== " " || !api.talking) return;
    e.preventDefault();
    release();
  });
  window.addEventListener("blur", () => release());

  // --- modes -------------------------------------------------------------------------------------------

  function setMode(mode) {
    if (mode !== "ptt" && mode !== "vad") return;
    if (mode === (api.pendingMode || api.mode)) return;
    if (api.talking) release();
    const turn = mode === "vad" ? Object.assign({}, DEFAULT_VAD, lastVad || {}, { type: "server_vad" }) : null;
    api.pendingMode = mode;
    render();
    send({ type: "session.update", session: { type: "realtime", audio: { input: { turn_detection: turn } } } }, "voice");
  }
  pttMode.addEventListener("click", () => setMode("ptt"));
  vadMode.addEventListener("click", () => setMode("vad"));

  // --- playback ----------------------------------------------------------------------------------------

  function play(e) {
    if (!playerNode || !e.delta || dropped.has(e.item_id) || dropped.has(e.response_id)) return;
    const fmt = server && server.audio && server.audio.output && server.audio.output.format;
    if (fmt && fmt.type && fmt.type !== "audio/pcm") return; // G.711 answers are not played here
    const r = rate("output");
    const pcm = base64ToBytes(e.delta, 2).buffer; // whole PCM16 samples
    api.received[e.item_id] = (api.received[e.item_id] || 0) + (pcm.byteLength / 2 / r) * 1000;
    if (!(e.item_id in api.played)) api.played[e.item_id] = 0;
    playerNode.port.postMessage(
      { type: "chunk", itemId: e.item_id, contentIndex: e.content_index || 0, pcm, rate: r },
      [pcm],
    );
    lastQueued = { itemId: e.item_id, contentIndex: e.content_index || 0 };
    api.playing = true;
    if (ctx && ctx.state === "suspended") ctx.resume().catch(() => {});
    render();
  }

  function applyReport(m) {
    Object.assign(api.played, m.played);
    if (m.current) api.current = m.current;
    api.bufferedMs = m.bufferedMs;
    const was = api.playing;
    api.playing = m.playing;
    if (was !== api.playing) render();
  }

  function onPlayer(e) {
    const m = e.data;
    if (m.type === "report") applyReport(m);
    else if (m.type === "stopped") {
      applyReport(m);
      const done = stopWaiters.get(m.id);
      stopWaiters.delete(m.id);
      if (done) done();
    }
  }

  // Stop playback; resolves once the player has said how much it rendered.
  function stopPlayer() {
    return new Promise((resolve) => {
      if (!playerNode) return resolve();
      const id = ++stops;
      stopWaiters.set(id, resolve);
      playerNode.port.postMessage({ type: "stop", id });
      setTimeout(() => {
        if (stopWaiters.delete(id)) resolve(); // the last report is never more than was played
      }, 300);
    });
  }

  // --- barge-in ----------------------------------------------------------------------------------------

  function bargeIn(reason) {
    if (!playerNode) return false;
    const audioRunning = responding !== null && responseHasAudio;
    if (!api.playing && !audioRunning) return false;
    // The item playing now, or the first one waiting if nothing of it has been heard yet.
    const target = api.current || lastQueued;
    if (target) dropped.add(target.itemId);
    if (responding) dropped.add(responding);
    // With server VAD (interrupt_response not false) the server cancels the answer itself on
    // speech_started; a second cancel would only be refused.
    const td = server && server.audio && server.audio.input && server.audio.input.turn_detection;
    const serverCancels = reason === "speech_started" && td && td.interrupt_response !== false;
    const cancel = responding !== null && !serverCancels;
    if (cancel) send({ type: "response.cancel" }, "voice");
    const record = { reason, itemId: target && target.itemId, contentIndex: target && target.contentIndex, cancelled: cancel };
    api.bargeIns.push(record);
    stopPlayer().then(() => {
      api.playing = false;
      if (target) {
        const played = api.played[target.itemId] || 0;
        record.playedMs = played;
        record.audioEndMs = Math.max(0, Math.floor(played));
        send(
          {
            type: "conversation.item.truncate",
            item_id: target.itemId,
            content_index: target.contentIndex,
            audio_end_ms: record.audioEndMs,
          },
          "voice",
        );
      }
      api.current = lastQueued = null;
      render();
    });
    return true;
  }

  // --- waveforms ---------------------------------------------------------------------------------------

  const scratch = new Float32Array(1024);
  function level(analyser) {
    if (!analyser) return 0;
    analyser.getFloatTimeDomainData(scratch);
    let sum = 0;
    for (let i = 0; i < scratch.length; i++) sum += scratch[i] * scratch[i];
    return Math.sqrt(sum / scratch.length);
  }

  function push(history, value) {
    history.copyWithin(0, 1);
    history[history.length - 1] = value;
  }

  function drawWave(canvas, history, colorVar) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
    const hgt = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== w || canvas.height !== hgt) {
      canvas.width = w;
      canvas.height = hgt;
    }
    const g = canvas.getContext("2d");
    g.clearRect(0, 0, w, hgt);
    g.fillStyle = cssVar(colorVar, "#2f6fed", root);
    const bar = w / history.length;
    const mid = hgt / 2;
    for (let i = 0; i < history.length; i++) {
      const v = dbScale(history[i]);
      const half = Math.max(0.5 * dpr, v * (mid - dpr));
      g.fillRect(i * bar, mid - half, Math.max(1, bar - dpr), half * 2);
    }
  }

  function draw() {
    cancelAnimationFrame(raf);
    const frame = () => {
      if (api.state !== "on") return;
      api.inputLevel = level(micAnalyser);
      api.outputLevel = level(outAnalyser);
      push(inHistory, api.inputLevel);
      push(outHistory, api.outputLevel);
      drawWave(inCanvas, inHistory, "--accent");
      drawWave(outCanvas, outHistory, "--ok");
      raf = requestAnimationFrame(frame);
    };
    raf = requestAnimationFrame(frame);
  }

  render();
  requestAnimationFrame(() => {
    drawWave(inCanvas, inHistory, "--accent");
    drawWave(outCanvas, outHistory, "--ok");
  });
  return api;
}
