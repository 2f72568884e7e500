// Figures per response: time to the first delta and to the first audio, the whole duration (from
// our response.create to response.done, both timed by the relay's clock), tokens from
// response.done's usage, an estimated cost, and a small inline SVG chart of the latencies.
//
// `prices`: ESTIMATES ONLY, placeholder prices, not Yandex's price list (which changes, and differs
// by contract). Yandex bills realtime speech per second of input and output audio plus text tokens;
// they come from Django's settings (PLAYGROUND_PRICES) in the page's json_script data: put your own
// numbers there to get a useful estimate.

import { b64Bytes } from "./base64.js";
import { h, svg } from "./dom.js";
import { fmtInt, fmtMs } from "./format.js";

export function createFigures({ store, sessionRate, prices }) {
  const PRICES = Object.freeze(prices);
  const table = document.getElementById("figures-body");
  const chart = document.getElementById("figures-chart");
  const totals = document.getElementById("figures-totals");
  const responses = []; // in the order they were created
  const byId = new Map();
  const pendingCreates = []; // our response.create frames not yet answered by response.created
  let inputAudioBytes = 0; // appended since the last response: billed to the next one
  let scheduled = false;
  const FIRST_DELTA = new Set([
    "response.output_text.delta",
    "response.output_audio_transcript.delta",
    "response.output_audio.delta",
    "response.function_call_arguments.delta",
    "response.text.delta",
    "response.audio.delta",
    "response.audio_transcript.delta",
  ]);
  const AUDIO_DELTA = new Set(["response.output_audio.delta", "response.audio.delta"]);

  function cost(r) {
    const u = r.usage;
    if (!u) return null;
    const inDetails = u.input_token_details || {};
    const outDetails = u.output_token_details || {};
    const textIn = inDetails.text_tokens !== undefined ? inDetails.text_tokens : u.input_tokens || 0;
    const textOut = outDetails.text_tokens !== undefined ? outDetails.text_tokens : u.output_tokens || 0;
    const p = PRICES;
    return (
      (textIn / 1000) * p.textInputPer1kTokens +
      (textOut / 1000) * p.textOutputPer1kTokens +
      r.audioInSeconds * p.audioInputPerSecond +
      r.audioOutSeconds * p.audioOutputPerSecond
    );
  }

  function fmtCost(value) {
    return value === null ? "–" : `≈${value.toFixed(value < 0.01 ? 4 : 2)} ${PRICES.currency}`;
  }

  function onFrame(frame) {
    const e = frame.event;
    if (!e) return;
    if (frame.direction === "client") {
      if (e.type === "response.create") pendingCreates.push({ ts: frame.ts, eventId: e.event_id });
      if (e.type === "input_audio_buffer.append") inputAudioBytes += b64Bytes(e.audio || "");
      return;
    }
    if (e.type === "response.created" && e.response) {
      // Server-started responses (voice activity) have no response.create: timed from here.
      const create = pendingCreates.shift();
      const r = {
        id: e.response.id,
        start: create ? create.ts : frame.ts,
        firstDelta: null,
        firstAudio: null,
        done: null,
        status: "in_progress",
        usage: null,
        audioOutBytes: 0,
        audioInSeconds: inputAudioBytes / 2 / sessionRate("input"),
        audioOutSeconds: 0,
      };
      inputAudioBytes = 0;
      responses.push(r);
      byId.set(r.id, r);
      schedule();
    } else if (e.type === "error" && e.error && e.error.event_id) {
      // A refused response.create never gets a response.created: forget it, or every later
      // response would be timed from the wrong create.
      const i = pendingCreates.findIndex((c) => c.eventId === e.error.event_id);
      if (i >= 0) pendingCreates.splice(i, 1);
    } else if (FIRST_DELTA.has(e.type)) {
      const r = byId.get(e.response_id);
      if (!r) return;
      if (r.firstDelta === null) r.firstDelta = frame.ts;
      if (AUDIO_DELTA.has(e.type)) {
        if (r.firstAudio === null) r.firstAudio = frame.ts;
        r.audioOutBytes += b64Bytes(e.delta || "");
      }
      schedule();
    } else if (e.type === "response.done" && e.response) {
      const r = byId.get(e.response.id);
      if (!r) return;
      r.done = frame.ts;
      r.status = e.response.status || "completed";
      r.usage = e.response.usage || null;
      r.audioOutSeconds = r.audioOutBytes / 2 / sessionRate("output");
      schedule();
    }
  }

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(render);
  }

  const since = (r, ts) => (ts === null ? null : (ts - r.start) * 1000);

  function render() {
    scheduled = false;
    // The newest 50 in the table (the totals count them all): a long session stays cheap to redraw.
    const first = Math.max(0, responses.length - 50);
    const rows = responses.slice(first).map((r, j) => {
      const i = first + j;
      const u = r.usage || {};
      return h(
        "tr",
        { class: "status-" + r.status },
        h("td", {}, String(i + 1)),
        h("td", { class: "mono", title: r.id }, r.id),
        h("td", {}, r.status),
        h("td", { class: "num" }, fmtMs(since(r, r.firstDelta))),
        h("td", { class: "num" }, fmtMs(since(r, r.firstAudio))),
        h("td", { class: "num" }, fmtMs(since(r, r.done))),
        h("td", { class: "num" }, r.usage ? `${fmtInt(u.input_tokens || 0)} / ${fmtInt(u.output_tokens || 0)} / ${fmtInt(u.total_tokens || 0)}` : "–"),
        h("td", { class: "num" }, fmtCost(cost(r))),
      );
    });
    table.replaceChildren(...rows.reverse()); // newest first: the one just asked is on top
    const finished = responses.filter((r) => r.done !== null);
    const sum = finished.reduce((acc, r) => acc + (cost(r) || 0), 0);
    const tokens = finished.reduce((acc, r) => acc + ((r.usage && r.usage.total_tokens) || 0), 0);
    totals.textContent = responses.length
      ? `${fmtInt(responses.length)} responses · ${fmtInt(tokens)} tokens · ${fmtCost(sum)} (estimate)`
      : "No responses yet.";
    drawChart();
  }

  // Bars per response (the last 40): the whole duration, with the wait for the first delta darker.
  function drawChart() {
    const shown = responses.filter((r) => r.done !== null || r.firstDelta !== null).slice(-40);
    const W = 400;
    const H = 64;
    const PAD = 12;
    const picture = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
    if (!shown.length) {
      picture.setAttribute("aria-label", "No response latencies yet");
      picture.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "chart-empty" }, "Latencies appear here"));
      chart.replaceChildren(picture);
      return;
    }
    const values = shown.map((r) => ({
      first: since(r, r.firstDelta) || 0,
      total: since(r, r.done !== null ? r.done : r.firstDelta) || 0,
      r,
    }));
    const max = Math.max(1, ...values.map((v) => v.total));
    const slot = (W - PAD) / Math.max(12, shown.length); // a few responses still get readable bars
    const bar = Math.max(2, slot * 0.7);
    const y = (ms) => H - PAD - ((H - 2 * PAD) * ms) / max;
    picture.setAttribute("aria-label", `Latency of the last ${shown.length} responses; the longest took ${fmtInt(max)} ms`);
    picture.append(svg("line", { x1: PAD, x2: W, y1: H - PAD, y2: H - PAD, class: "chart-axis" }));
    picture.append(svg("text", { x: PAD, y: 10, class: "chart-label" }, `${fmtInt(max)} ms`));
    // Legend: the two shades, top right.
    picture.append(svg("rect", { x: W - 150, y: 3, width: 8, height: 8, class: "bar-first" }));
    picture.append(svg("text", { x: W - 138, y: 10, class: "chart-label" }, "first delta"));
    picture.append(svg("rect", { x: W - 70, y: 3, width: 8, height: 8, class: "bar-total" }));
    picture.append(svg("text", { x: W - 58, y: 10, class: "chart-label" }, "done"));
    values.forEach((v, i) => {
      const x = PAD + i * slot;
      const g = svg("g", {});
      g.append(svg("title", {}, `${v.r.id}: first delta ${fmtInt(v.first)} ms, done ${fmtInt(v.total)} ms`));
      g.append(svg("rect", { x, y: y(v.total), width: bar, height: H - PAD - y(v.total), class: "bar-total" }));
      g.append(svg("rect", { x, y: y(v.first), width: bar, height: H - PAD - y(v.first), class: "bar-first" }));
      picture.append(g);
    });
    chart.replaceChildren(picture);
  }

  store.subscribe(onFrame);
  render();
  return { responses };
}
