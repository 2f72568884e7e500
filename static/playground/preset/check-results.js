// The Checks tab's results: a matrix of checks × runs (grouped by preset version, newest first), each check's
// pass rate and a small chart of its latency and verdicts over time, and one cell's attempts in full: the
// turns, every assertion's verdict and reason, and links to the replay at the moment an assertion is about.

import { h, svg } from "../dom.js";
import { fmtMs, fmtShortDate } from "../format.js";

const SEVERITY = ["failed", "error", "incomplete", "cancelled", "running", "pending", "passed"];
const MARK = { passed: "✓", failed: "✗", error: "!", incomplete: "~", cancelled: "–", running: "…", pending: "…" };
// Short, for a cell; LONG in titles and the details.
const WORDS = { passed: "passed", failed: "failed", error: "error", incomplete: "not fully run", cancelled: "cancelled", running: "running", pending: "waiting" };
const LONG = {
  passed: "passed",
  failed: "failed",
  error: "error: the conversation could not be held, or an assertion not evaluated",
  incomplete: "not fully run: some assertions were not run (never counted as passed)",
  cancelled: "cancelled",
  running: "running",
  pending: "waiting to start",
};
const TREND_RUNS = 20;

// The verdict of one check in one run, over its attempts.
export function cellOf(run, check) {
  const results = run.results.filter((r) => r.check === check);
  if (!results.length) return null;
  const count = (s) => results.filter((r) => r.status === s).length;
  const worst = SEVERITY.find((s) => count(s) > 0) || "pending";
  const done = results.map((r) => r.done_ms).filter((v) => v !== null && v !== undefined);
  return {
    results,
    status: worst,
    passed: count("passed"),
    judged: count("passed") + count("failed") + count("error"),
    total: results.length,
    ms: done.length ? done.reduce((a, b) => a + b, 0) / done.length : null,
  };
}

function runLabel(run) {
  const parts = [fmtShortDate(run.created_at), run.upstream];
  if (run.repeat > 1) parts.push(`×${run.repeat}`);
  if (run.state !== "finished") parts.push(run.state);
  return parts.join(" · ");
}

function trend(check, runs) {
  const points = runs
    .slice()
    .reverse()
    .map((run) => ({ run, cell: cellOf(run, check) }))
    .filter((p) => p.cell && p.cell.status !== "pending" && p.cell.status !== "running")
    .slice(-TREND_RUNS);
  const width = 132;
  const height = 30;
  const box = svg("svg", { class: "trend", width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
  if (!points.length) {
    box.setAttribute("aria-label", "no finished run yet");
    return box;
  }
  const values = points.map((p) => p.cell.ms).filter((v) => v !== null);
  const top = Math.max(1, ...values);
  const x = (i) => (points.length === 1 ? width / 2 : 4 + (i * (width - 8)) / (points.length - 1));
  const y = (ms) => height - 5 - (ms / top) * (height - 10);
  const line = points
    .map((p, i) => (p.cell.ms === null ? null : `${x(i).toFixed(1)},${y(p.cell.ms).toFixed(1)}`))
    .filter(Boolean)
    .join(" ");
  if (line.includes(" ")) box.append(svg("polyline", { points: line, class: "trend-line" }));
  points.forEach((p, i) => {
    const dot = svg("circle", { cx: x(i).toFixed(1), cy: (p.cell.ms === null ? height / 2 : y(p.cell.ms)).toFixed(1), r: 3, class: `dot dot-${p.cell.status}` });
    dot.append(svg("title", {}, `v${p.run.version} ${runLabel(p.run)}: ${p.cell.passed}/${p.cell.total} passed, ${fmtMs(p.cell.ms)} to response.done`));
    box.append(dot);
  });
  const passed = points.reduce((a, p) => a + p.cell.passed, 0);
  const total = points.reduce((a, p) => a + p.cell.total, 0);
  box.setAttribute("aria-label", `${passed} of ${total} attempts passed over the last ${points.length} runs; latency up to ${fmtMs(top)}`);
  return box;
}

function passRate(check, runs) {
  let passed = 0;
  let judged = 0;
  for (const run of runs) {
    const cell = cellOf(run, check);
    if (cell) {
      passed += cell.passed;
      judged += cell.judged;
    }
  }
  if (!judged) return h("span", { class: "muted", title: "no attempt with a verdict yet" }, "–");
  const pct = Math.round((100 * passed) / judged);
  return h("span", { class: pct === 100 ? "rate rate-ok" : "rate rate-bad", title: `${passed} of ${judged} attempts passed` }, `${pct}%`, h("span", { class: "muted small" }, ` ${passed}/${judged}`));
}

// checks: names (the latest version's first, then older ones seen in runs); runs: newest first.
// onRun(check), onCell(run, check).
export function renderMatrix(container, { checks, runs, canRun, onRun, onCell }) {
  if (!checks.length) {
    container.replaceChildren(h("p", { class: "muted" }, "No checks yet: add one below, or hold a conversation in the console and use “Add as check”."));
    return;
  }
  const groups = [];
  for (const run of runs) {
    const last = groups[groups.length - 1];
    if (last && last.version === run.version) last.runs.push(run);
    else groups.push({ version: run.version, runs: [run] });
  }
  const head1 = h(
    "tr",
    {},
    h("th", { rowspan: "2", scope: "col" }, "Check"),
    h("th", { rowspan: "2", scope: "col" }, "Pass rate"),
    h("th", { rowspan: "2", scope: "col", title: "Each dot a run (oldest left): colour its verdict, height its mean time to response.done" }, "Over time"),
    ...groups.map((g) => h("th", { colspan: String(g.runs.length), scope: "colgroup", class: "version-head" }, `v${g.version}`)),
  );
  const head2 = h("tr", {}, ...runs.map((run) => h("th", { scope: "col", class: "run-head", title: `run ${run.id} by ${run.owner}` }, runLabel(run))));
  const body = checks.map((check) => {
    const run = h("button", { type: "button", class: "small secondary run-one", title: `Run “${check}” alone` }, "Run");
    run.disabled = !canRun;
    run.addEventListener("click", () => onRun(check));
    return h(
      "tr",
      { dataset: { check } },
      h("th", { scope: "row", class: "check-name" }, h("span", {}, check), run),
      h("td", { class: "rate-cell" }, passRate(check, runs)),
      h("td", { class: "trend-cell" }, trend(check, runs)),
      ...runs.map((r) => {
        const cell = cellOf(r, check);
        if (!cell) return h("td", { class: "cell cell-none", title: "not in this run" }, "");
        const label = cell.total > 1 ? `${cell.passed}/${cell.total}` : WORDS[cell.status];
        const button = h(
          "button",
          { type: "button", class: `cell-btn st-${cell.status}`, title: `${check}: ${LONG[cell.status]} (${cell.passed} of ${cell.total} passed)`, dataset: { run: r.id, status: cell.status } },
          h("span", { class: "mark", "aria-hidden": "true" }, MARK[cell.status]),
          h("span", { class: "what" }, label),
          cell.ms !== null ? h("span", { class: "ms" }, fmtMs(cell.ms)) : null,
        );
        button.addEventListener("click", () => onCell(r, check));
        return h("td", { class: "cell" }, button);
      }),
    );
  });
  if (!runs.length) {
    head1.append(h("th", { rowspan: "2", class: "muted" }, "No run yet: “Run all checks” above."));
  }
  container.replaceChildren(h("table", { class: "matrix" }, h("thead", {}, head1, head2), h("tbody", {}, ...body)));
}

function assertionItem(a) {
  const link = a.replay_url ? h("a", { href: a.replay_url, class: "small", title: `Open the replay at event #${a.seq}` }, `at event #${a.seq} in the replay`) : null;
  return h(
    "li",
    { class: `assertion st-${a.status}`, dataset: { status: a.status } },
    h("span", { class: "mark", "aria-label": a.status }, MARK[a.status] || (a.status === "not_run" ? "~" : "?")),
    h("span", { class: "a-label" }, `turn ${a.turn}: ${a.label}`),
    h("span", { class: "a-reason" }, a.reason),
    link,
  );
}

function turnItem(t) {
  const facts = [
    t.first_text_ms !== null ? `first text ${fmtMs(t.first_text_ms)}` : null,
    t.first_audio_ms !== null ? `first audio ${fmtMs(t.first_audio_ms)}` : null,
    t.done_ms !== null ? `done ${fmtMs(t.done_ms)}` : null,
    t.tokens ? `${t.tokens.total} tokens` : null,
    t.audio_out_ms ? `spoke ${fmtMs(t.audio_out_ms)}` : null,
    t.note || null,
    t.problem ? `did not finish: ${t.problem}` : null,
  ].filter(Boolean);
  return h(
    "li",
    {},
    h("div", {}, h("strong", {}, "You: "), t.said || h("span", { class: "muted" }, "(nothing: a response to the conversation)")),
    t.heard ? h("div", { class: "muted small" }, `heard as: ${t.heard}`) : null,
    ...t.calls.map((c) => h("div", { class: "call" }, h("strong", {}, "Called: "), h("code", {}, `${c.name}(${c.arguments})`))),
    h("div", {}, h("strong", {}, "Answer: "), t.answer || h("span", { class: "muted" }, "(no text)")),
    h("div", { class: "muted small" }, facts.join(" · ")),
  );
}

// run: GET /api/check-runs/{id} (in full); previous(check, run): the same check's first attempt in an older run.
export function renderDetail(container, { run, check, page, previous }) {
  const results = run.results.filter((r) => r.check === check);
  const cell = cellOf(run, check);
  const close = h("button", { type: "button", class: "link small", "aria-label": "Close the details" }, "close");
  close.addEventListener("click", () => {
    container.hidden = true;
  });
  const parts = results.map((r) => {
    const links = [];
    if (r.replay_url) links.push(h("a", { href: r.replay_url }, "Replay"));
    const before = r.session ? previous(check, run) : null;
    if (before && before.session && page.comparePageUrl) {
      const url = page.comparePageUrl.replace("{left}", before.session).replace("{right}", r.session);
      links.push(h("a", { href: url, title: "Side by side with this check's attempt in the run before" }, "Compare with the run before"));
    }
    return h(
      "section",
      { class: `attempt st-${r.status}`, dataset: { attempt: String(r.attempt), status: r.status } },
      h("div", { class: "attempt-head" }, h("span", { class: `badge st-${r.status}` }, `${MARK[r.status] || ""} ${LONG[r.status] || r.status}`), run.repeat > 1 ? h("span", {}, `attempt ${r.attempt}`) : null, ...links),
      r.reason ? h("p", { class: "attempt-reason" }, r.reason) : null,
      r.turns && r.turns.length ? h("ol", { class: "turns" }, ...r.turns.map(turnItem)) : null,
      r.assertions && r.assertions.length ? h("ul", { class: "assertions" }, ...r.assertions.map(assertionItem)) : null,
    );
  });
  container.replaceChildren(
    h(
      "div",
      { class: "detail-head" },
      h("h3", {}, `“${check}” in v${run.version}, ${runLabel(run)}`),
      cell ? h("span", { class: "muted" }, `${cell.passed} of ${cell.total} passed`) : null,
      h("span", { class: "spacer" }),
      close,
    ),
    ...parts,
  );
  container.hidden = false;
}
