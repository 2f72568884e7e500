// The Usage page: totals, a chart over time and a table by group, from GET /api/usage (the filters are its
// query, kept in the page's URL), a CSV of the table's rows, and the budgets (usage-budgets.js).
// Test hook: window.__usage (the last answers and the page's state), its only global, there on purpose.

import { call, describe } from "../api.js";
import { h, readJson } from "../dom.js";
import { fmtInt } from "../format.js";
import { createBudgets } from "../usage-budgets.js";
import { drawUsageChart, METRICS } from "../usage-chart.js";

const page = readJson("page-data");
const form = document.getElementById("usage-filters");
const f = form.elements;
const errorBox = document.getElementById("usage-error");
const state = { table: null, series: null, loads: 0 };
window.__usage = state;

const GROUP_TITLES = { user: "User", preset: "Preset", upstream: "Upstream", team: "Team" };

// Two decimals from 1 up; below, four (placeholder prices make small sums).
function fmtMoney(value) {
  const v = Number(value) || 0;
  const digits = v !== 0 && Math.abs(v) < 1 ? 4 : 2;
  return `${v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })} ${page.currency}`.trim();
}

// "1 h 02 min", "3 min 20 s", "4.2 s"
function fmtSeconds(s) {
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${String(Math.round((s % 3600) / 60)).padStart(2, "0")} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${String(Math.round(s % 60)).padStart(2, "0")} s`;
  return `${s.toFixed(1)} s`;
}

const METRIC_FORMAT = {
  cost: (v) => "≈" + fmtMoney(v),
  audio: (v) => `${v.toFixed(v < 10 ? 1 : 0)} min`,
  tokens: (v) => fmtInt(v),
  sessions: (v) => fmtInt(v),
};

// The API's query from the form: the view is "", "me" or "team:<id>".
function query({ interval } = {}) {
  const q = new URLSearchParams();
  const view = f.view.value;
  if (view === "me") q.set("user", page.me);
  else if (view.startsWith("team:")) q.set("team", view.slice(5));
  if (f.user.value && view !== "me") q.set("user", f.user.value);
  if (f.upstream.value) q.set("upstream", f.upstream.value);
  q.set("from", f.from.value);
  q.set("to", f.to.value);
  q.set("group_by", f.group_by.value);
  if (interval) q.set("interval", interval);
  return q;
}

function renderTotals(t) {
  const tiles = [
    ["Sessions", fmtInt(t.sessions)],
    ["Responses", fmtInt(t.responses)],
    ["Audio in", fmtSeconds(t.audio_in_seconds)],
    ["Audio out", fmtSeconds(t.audio_out_seconds)],
    ["Tokens in", fmtInt(t.input_tokens)],
    ["Tokens out", fmtInt(t.output_tokens)],
    ["Estimated cost", "≈" + fmtMoney(t.cost)],
  ];
  document.getElementById("usage-totals").replaceChildren(
    ...tiles.map(([label, value]) => h("div", { class: "tile" }, h("dt", {}, label), h("dd", {}, value))),
  );
}

function groupCell(row) {
  if (f.group_by.value === "preset" && row.key) return h("a", { href: `/presets/${row.key}/` }, row.label);
  if (f.group_by.value === "team" && row.key) return h("a", { href: `/teams/${row.key}/` }, row.label);
  return row.label;
}

function renderTable(data) {
  const group = f.group_by.value;
  document.getElementById("table-group").textContent = group;
  document.getElementById("col-group").textContent = GROUP_TITLES[group];
  const body = document.getElementById("usage-rows");
  if (!data.rows.length) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: 9, class: "muted" }, "No usage in this range.")));
    return;
  }
  body.replaceChildren(
    ...data.rows.map((r) =>
      h(
        "tr",
        { "data-key": r.key ?? "" },
        h("td", {}, groupCell(r)),
        h("td", { class: "num" }, fmtInt(r.sessions)),
        h("td", { class: "num" }, fmtInt(r.responses)),
        h("td", { class: "num" }, fmtSeconds(r.audio_in_seconds)),
        h("td", { class: "num" }, fmtSeconds(r.audio_out_seconds)),
        h("td", { class: "num" }, fmtInt(r.input_tokens)),
        h("td", { class: "num" }, fmtInt(r.output_tokens)),
        h("td", { class: "num hide-narrow" }, fmtInt(r.cached_tokens)),
        h("td", { class: "num" }, "≈" + fmtMoney(r.cost)),
      ),
    ),
  );
}

function renderChart() {
  if (!state.series) return;
  const metric = f.metric.value;
  document.getElementById("chart-caption").textContent = `· by ${f.group_by.value}`;
  drawUsageChart({
    box: document.getElementById("usage-chart"),
    legend: document.getElementById("usage-legend"),
    rows: state.series.rows,
    from: state.series.from,
    to: state.series.to,
    interval: f.interval.value,
    metricName: metric,
    fmtValue: METRIC_FORMAT[metric],
  });
}

let loading = 0;
async function load() {
  const mine = ++loading; // an older answer that arrives late is dropped
  errorBox.hidden = true;
  f.user.disabled = f.view.value === "me";
  const table = query();
  history.replaceState(null, "", "?" + new URLSearchParams([...table, ["interval", f.interval.value], ["metric", f.metric.value], ["view", f.view.value]]));
  document.getElementById("usage-csv").href = "/api/usage.csv?" + table;
  try {
    const [tableData, seriesData] = await Promise.all([
      call("GET", "/usage?" + table),
      call("GET", "/usage?" + query({ interval: f.interval.value })),
    ]);
    if (mine !== loading) return;
    state.table = tableData;
    state.series = seriesData;
    state.loads += 1;
    renderTotals(tableData.totals);
    renderTable(tableData);
    renderChart();
  } catch (err) {
    if (mine !== loading) return;
    errorBox.textContent = describe(err);
    errorBox.hidden = false;
  }
}

// The URL's filters first (a link to the page with them, a reload), else the form's defaults.
function restore() {
  const q = new URLSearchParams(window.location.search);
  const team = q.get("team");
  const view = q.get("view") ?? (team ? `team:${team}` : null);
  for (const [name, value] of [["view", view], ["user", q.get("user")], ["upstream", q.get("upstream")], ["from", q.get("from")], ["to", q.get("to")], ["group_by", q.get("group_by")], ["interval", q.get("interval")], ["metric", q.get("metric")]]) {
    if (value === null || !f[name]) continue;
    const el = f[name];
    if (el.tagName === "SELECT" && ![...el.options].some((o) => o.value === value)) continue;
    el.value = value;
  }
}

restore();
// The metric only redraws the chart; any other filter asks the API again.
form.addEventListener("change", (e) => (e.target === f.metric ? renderChart() : load()));
form.addEventListener("submit", (e) => {
  e.preventDefault();
  load();
});
let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(renderChart, 150);
});

const budgets = createBudgets({ page, fmtMoney, onChange: load });
state.budgets = budgets;
load();
budgets.refresh();
