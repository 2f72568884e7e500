// The compare page: two sessions turn by turn (say a recording and its re-run). It reads
// GET /api/sessions/{left}/compare/{right} and draws the totals, a latency chart (inline SVG) and
// each turn's answers with a word diff; while the right session is still answering it asks again
// every second. Test hook: window.__compare.data (the last answer) and .refreshes, the page's only
// global, there on purpose.

import { call, callUrl } from "../api.js";
import { h, readJson, svg } from "../dom.js";
import { fmtCount, fmtInt, fmtMs } from "../format.js";

const page = readJson("page-data");
const POLL_MS = 1000;
const state = { data: null, refreshes: 0, timer: null };
window.__compare = state;

function signed(v, unit) {
  if (v === null || v === undefined) return "–";
  const text = (v > 0 ? "+" : v < 0 ? "−" : "±") + fmtInt(Math.abs(Math.round(v))) + (unit || "");
  return h("span", { class: v > 0 ? "worse" : v < 0 ? "better" : "" }, text);
}

// --- totals ------------------------------------------------------------------------------------
function renderTotals(data) {
  const L = data.left.totals;
  const R = data.right.totals;
  const d = data.totals.delta;
  const rows = [
    ["turns", fmtCount(L.turns), fmtCount(R.turns), `${data.totals.same_answers} same, ${data.totals.different_answers} differ`],
    ["first delta, mean", fmtMs(L.first_delta_ms_mean), fmtMs(R.first_delta_ms_mean), signed(d.first_delta_ms_mean, " ms")],
    ["response.done, mean", fmtMs(L.done_ms_mean), fmtMs(R.done_ms_mean), signed(d.done_ms_mean, " ms")],
    ["input tokens", fmtCount(L.input_tokens), fmtCount(R.input_tokens), signed(d.input_tokens)],
    ["output tokens", fmtCount(L.output_tokens), fmtCount(R.output_tokens), signed(d.output_tokens)],
    ["total tokens", fmtCount(L.total_tokens), fmtCount(R.total_tokens), signed(d.total_tokens)],
  ];
  document.getElementById("totals-body").replaceChildren(
    ...rows.map(([label, l, r, delta]) => h("tr", {}, h("th", {}, label), h("td", {}, l), h("td", {}, r), h("td", {}, delta)))
  );
}

// --- latency chart: per turn, a bar per side (to response.done) with the first delta inside ----
function renderChart(data) {
  const box = document.getElementById("latency-chart");
  const n = Math.max(data.left.turns.length, data.right.turns.length);
  if (!n) {
    box.replaceChildren(h("p", { class: "muted empty" }, "No responses yet."));
    return;
  }
  const all = [...data.left.turns, ...data.right.turns].flatMap((t) => [t.done_ms, t.first_delta_ms]);
  const max = Math.max(1, ...all.filter((v) => v !== null && v !== undefined));
  // Drawn at the box's own width (redrawn on resize), so the labels keep their size on a phone.
  const W = Math.max(300, Math.round(box.clientWidth || 560));
  const labelW = 52;
  const valueW = 128;
  const barH = n <= 4 ? 16 : n <= 10 ? 12 : 9; // few turns: thicker bars fill the panel
  const groupH = barH * 2 + 12;
  const H = n * groupH + 22;
  const plotW = W - labelW - valueW;
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "chart", "aria-hidden": "true" });
  // Grid: 0, half and the maximum, on a scale shared by both sides.
  for (const f of [0, 0.5, 1]) {
    const x = labelW + f * plotW;
    chart.append(svg("line", { x1: x, x2: x, y1: 0, y2: H - 16, class: "grid" }));
    chart.append(svg("text", { x, y: H - 4, "text-anchor": f === 0 ? "start" : f === 1 ? "end" : "middle", class: "axis" }, fmtMs(f * max)));
  }
  for (let i = 0; i < n; i++) {
    const y0 = i * groupH + 2;
    chart.append(svg("text", { x: 0, y: y0 + barH + 5, class: "label" }, `turn ${i + 1}`));
    ["left", "right"].forEach((side, k) => {
      const t = data[side].turns[i];
      const y = y0 + k * (barH + 2);
      const sideClass = `side-${side}`;
      if (!t) {
        chart.append(svg("text", { x: labelW + 4, y: y + barH / 2 + 4, class: "value muted" }, `${side}: none`));
        return;
      }
      const done = t.done_ms;
      const first = t.first_delta_ms;
      const bar = svg("rect", { x: labelW, y, height: barH, rx: 2, width: Math.max(1, ((done ?? first ?? 0) / max) * plotW), class: `bar-done ${sideClass}${done === null ? " running" : ""}` });
      bar.append(svg("title", {}, `${side}, turn ${i + 1}: first delta ${fmtMs(first)}, response.done ${fmtMs(done)}`));
      chart.append(bar);
      if (first !== null && first !== undefined) {
        chart.append(svg("rect", { x: labelW, y, height: barH, rx: 2, width: Math.max(1, (first / max) * plotW), class: `bar-first ${sideClass}` }));
      }
      chart.append(svg("text", { x: W - valueW + 6, y: y + barH / 2 + 4, class: "value" }, `${side[0].toUpperCase()} ${fmtMs(first)} / ${fmtMs(done)}`));
    });
  }
  box.replaceChildren(chart);
}

// --- turns ---------------------------------------------------------------------------------------
function answerWithDiff(turn, diff, side) {
  if (!turn) return h("p", { class: "answer muted" }, "No such turn.");
  const p = h("p", { class: "answer" });
  if (!diff || diff.same || !diff.words) {
    p.append(turn.answer || "");
  } else {
    for (const op of diff.words) {
      const text = side === "left" ? op.left : op.right;
      if (!text) continue;
      if (op.op === "equal") p.append(text);
      else p.append(h(side === "left" ? "del" : "ins", {}, text));
    }
  }
  if (!turn.answer) p.append(h("span", { class: "muted" }, turn.done_ts ? "(no text)" : "…"));
  return p;
}

function figures(turn) {
  if (!turn) return null;
  const u = turn.usage;
  return h(
    "p",
    { class: "figs" },
    h("span", {}, "first delta ", h("b", {}, fmtMs(turn.first_delta_ms))),
    h("span", {}, "done ", h("b", {}, fmtMs(turn.done_ms))),
    h("span", {}, "tokens ", h("b", {}, u ? `${fmtCount(u.input_tokens)} in / ${fmtCount(u.output_tokens)} out` : "–")),
    turn.status !== "completed" ? h("span", { class: "status" }, turn.status) : null
  );
}

function cell(turn, diff, side) {
  return h(
    "div",
    { class: `cell side-${side}` },
    turn && turn.user ? h("p", { class: "user" }, h("span", { class: "who" }, "You: "), turn.user) : null,
    answerWithDiff(turn, diff, side),
    figures(turn)
  );
}

function renderTurns(data) {
  const list = document.getElementById("turns");
  const n = Math.max(data.left.turns.length, data.right.turns.length);
  if (!n) {
    list.replaceChildren(h("li", { class: "muted empty" }, "No responses in either session yet."));
    return;
  }
  const open = new Set([...list.querySelectorAll("details[open]")].map((d) => d.dataset.turn));
  const rows = [];
  for (let i = 0; i < n; i++) {
    const diff = data.diffs[i];
    const details = diff && !diff.same && diff.unified
      ? h("details", { "data-turn": String(i + 1), open: open.has(String(i + 1)) }, h("summary", {}, "unified diff"), h("pre", { class: "unified" }, ...diff.unified.split("\n").map((line) => h("span", { class: line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "rem" : line.startsWith("@@") ? "hunk" : "" }, line + "\n"))))
      : null;
    rows.push(
      h(
        "li",
        { class: "turn" + (diff && diff.same ? " same" : " differs") },
        h("div", { class: "num" }, String(i + 1), h("span", { class: "badge" }, diff && diff.same ? "same" : "differs")),
        cell(data.left.turns[i], diff, "left"),
        cell(data.right.turns[i], diff, "right"),
        details ? h("div", { class: "diff" }, details) : null
      )
    );
  }
  list.replaceChildren(...rows);
}

function setState(id, side) {
  const el = document.getElementById(id);
  el.textContent = side.state;
  el.className = `state state-${side.state}`;
  el.title = side.state_reason || "";
}

// --- refresh -------------------------------------------------------------------------------------
function stillComing(data) {
  const right = data.right;
  if (!right.live) return false;
  return right.turns.length < data.left.turns.length || right.turns.some((t) => t.done_ts === null);
}

async function load() {
  const status = document.getElementById("refresh-status");
  const error = document.getElementById("compare-error");
  try {
    const data = await callUrl("GET", page.compareUrl);
    state.data = data;
    state.refreshes += 1;
    error.hidden = true;
    setState("left-state", data.left);
    setState("right-state", data.right);
    renderTotals(data);
    renderChart(data);
    renderTurns(data);
    if (stillComing(data)) {
      status.textContent = `right: ${data.right.turns.length} of ${data.left.turns.length} turns, refreshing…`;
      state.timer = setTimeout(load, POLL_MS);
    } else {
      status.textContent = "";
      state.timer = null;
    }
  } catch (exc) {
    error.textContent = `Could not load the comparison: ${exc.message}. Retrying…`;
    error.hidden = false;
    state.timer = setTimeout(load, POLL_MS * 3);
  }
}

let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => state.data && renderChart(state.data), 100);
});

document.getElementById("rerun-again").addEventListener("click", async (ev) => {
  const button = ev.currentTarget;
  button.disabled = true;
  try {
    const session = await call("POST", `/sessions/${page.left}/rerun`);
    window.location.assign(`/sessions/${page.left}/compare/${session.id}/`);
  } catch (exc) {
    const error = document.getElementById("compare-error");
    error.textContent = `Could not re-run: ${exc.message}`;
    error.hidden = false;
    button.disabled = false;
  }
});

load();
