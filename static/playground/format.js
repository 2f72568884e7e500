// Numbers, durations and dates as the pages show them. Counts and milliseconds use one fixed
// format (en-US grouping) so figures read the same everywhere; dates follow the browser's locale.

const numberFormat = new Intl.NumberFormat("en-US");

export function fmtInt(n) {
  return numberFormat.format(Math.round(n));
}

// A count that may be missing (null from the API): "–" then.
export function fmtCount(n) {
  return n === null || n === undefined ? "–" : fmtInt(n);
}

export function fmtMs(ms) {
  return ms === null || ms === undefined || !isFinite(ms) ? "–" : fmtInt(ms) + " ms";
}

// A position on a player's clock: "1:05.3", "1:02:05.3" past an hour.
export function fmtClock(ms) {
  const total = Math.max(0, ms) / 1000;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = s.toFixed(1).padStart(4, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
export function fmtDate(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : dateFormat.format(d);
}

// "14:05" today, "Nov 26" this year, "Nov 26, 2025" before.
export function fmtShortDate(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return String(iso);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  const opts = { month: "short", day: "numeric" };
  if (d.getFullYear() !== now.getFullYear()) opts.year = "numeric";
  return d.toLocaleDateString(undefined, opts);
}

// An audio level (0…1, linear) on the waveforms' scale: -60 dBFS … 0 dBFS as 0 … 1, so quiet
// speech still shows.
export function dbScale(level) {
  return level <= 0 ? 0 : Math.max(0, Math.min(1, 1 + Math.log10(level) / 3));
}
