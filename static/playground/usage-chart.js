// The Usage page's chart: one stacked bar per day, week or month, a band per group (the largest six, the rest
// as "others"), drawn in SVG from GET /api/usage?group_by=…&interval=… rows. Every period of the range has its
// bar, empty ones too, so gaps show as gaps.

import { h, svg } from "./dom.js";


const MAX_SERIES = 6;
const DAY_MS = 86_400_000;

export const METRICS = {
  cost: { label: "estimated cost", value: (r) => r.cost },
  audio: { label: "audio minutes", value: (r) => (r.audio_in_seconds + r.audio_out_seconds) / 60 },
  tokens: { label: "tokens", value: (r) => r.input_tokens + r.output_tokens },
  sessions: { label: "sessions", value: (r) => r.sessions },
};

function utc(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return Date.UTC(y, m - 1, d || 1);
}

function isoDay(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

// Every period key from `from` to `to` (YYYY-MM-DD), as the API spells them: days, Mondays, YYYY-MM.
export function periods(from, to, interval) {
  const out = [];
  let t = utc(from);
  const end = utc(to);
  if (interval === "month") {
    const d = new Date(t);
    for (let y = d.getUTCFullYear(), m = d.getUTCMonth(); Date.UTC(y, m, 1) <= end; m === 11 ? ((y += 1), (m = 0)) : (m += 1)) {
      out.push(`${y}-${String(m + 1).padStart(2, "0")}`);
    }
    return out;
  }
  if (interval === "week") t -= ((new Date(t).getUTCDay() + 6) % 7) * DAY_MS; // back to Monday
  const step = interval === "week" ? 7 * DAY_MS : DAY_MS;
  for (; t <= end && out.length < 2000; t += step) out.push(isoDay(t));
  return out;
}

function periodLabel(key, interval) {
  if (interval === "month") {
    const [y, m] = key.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, 1)).toLocaleDateString("en-US", { month: "short", year: "2-digit", timeZone: "UTC" });
  }
  return new Date(utc(key)).toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" });
}

// The largest groups by the metric over the whole range; the others are summed as one band.
function series(rows, metric) {
  const totals = new Map();
  for (const r of rows) {
    const key = r.key === null ? "∅" : r.key;
    const s = totals.get(key) || { key, label: r.label, total: 0 };
    s.total += metric.value(r);
    totals.set(key, s);
  }
  const sorted = [...totals.values()].sort((a, b) => b.total - a.total || a.label.localeCompare(b.label));
  const shown = sorted.slice(0, MAX_SERIES);
  if (sorted.length > MAX_SERIES) shown.push({ key: "…others", label: `${sorted.length - MAX_SERIES} others`, total: 0, others: true });
  return shown;
}

export function drawUsageChart({ box, legend, rows, from, to, interval, metricName, fmtValue }) {
  const metric = METRICS[metricName];
  const keys = periods(from, to, interval);
  const list = series(rows, metric);
  const index = new Map(list.map((s, i) => [s.key, i]));
  const others = list.findIndex((s) => s.others);
  // values[period][series]
  const values = new Map(keys.map((k) => [k, new Array(list.length).fill(0)]));
  for (const r of rows) {
    const bucket = values.get(r.period);
    if (!bucket) continue;
    const i = index.has(r.key === null ? "∅" : r.key) ? index.get(r.key === null ? "∅" : r.key) : others;
    bucket[i] += metric.value(r);
  }
  const stackMax = Math.max(0, ...[...values.values()].map((v) => v.reduce((a, b) => a + b, 0)));
  const W = Math.max(320, Math.round(box.clientWidth || 900));
  const H = 240;
  const left = 64;
  const bottom = 22;
  const top = 10;
  const plotW = W - left - 8;
  const plotH = H - top - bottom;
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "chart", role: "img" });
  if (!rows.length || stackMax <= 0) {
    chart.setAttribute("aria-label", "No usage in this range");
    chart.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "chart-empty" }, "No usage in this range."));
    box.replaceChildren(chart);
    legend.replaceChildren();
    return;
  }
  chart.setAttribute("aria-label", `${metric.label} per ${interval}, from ${from} to ${to}; the highest ${interval}: ${fmtValue(stackMax)}`);
  for (const f of [0, 0.5, 1]) {
    const y = top + plotH - f * plotH;
    chart.append(svg("line", { x1: left, x2: W - 8, y1: y, y2: y, class: "grid" }));
    const words = f === 0 ? "0" : fmtValue(f * stackMax).replace(/^≈/, "");
    chart.append(svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "axis" }, words));
  }
  const slot = plotW / keys.length;
  const bar = Math.max(1, Math.min(48, slot * 0.72));
  const every = Math.max(1, Math.ceil(keys.length / Math.max(1, Math.floor(plotW / 64)))); // a label per ~64 px
  keys.forEach((key, p) => {
    const x = left + p * slot + (slot - bar) / 2;
    let y = top + plotH;
    values.get(key).forEach((v, i) => {
      if (v <= 0) return;
      const height = Math.max(1, (v / stackMax) * plotH);
      y -= height;
      const rect = svg("rect", { x, y, width: bar, height, class: `band series-${i}`, "data-period": key, "data-key": list[i].key });
      rect.append(svg("title", {}, `${periodLabel(key, interval)} · ${list[i].label}: ${fmtValue(v)}`));
      chart.append(rect);
    });
    if (p % every === 0) {
      chart.append(svg("text", { x: left + p * slot + slot / 2, y: H - 6, "text-anchor": "middle", class: "axis" }, periodLabel(key, interval)));
    }
  });
  box.replaceChildren(chart);
  legend.replaceChildren(
    ...list.map((s, i) =>
      h("li", {}, h("span", { class: `swatch series-${i}`, "aria-hidden": "true" }), `${s.label} `, h("span", { class: "muted" }, s.others ? "" : fmtValue(s.total))),
    ),
  );
}


