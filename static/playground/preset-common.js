// What the preset pages share: calls to whole URLs given by the page (never built here), errors
// that name their field, tags typed as text, and downloads. Hangs off window.PG like the console.
"use strict";
window.PG = window.PG || {};
PG.presets = (function () {
  // Whole URLs as given in page_data (api.js).
  const call = window.playgroundApi.callUrl;
  const csrfToken = window.playgroundApi.csrfToken;

  // "Field x: words (HTTP 422)" for people.
  function describe(err) {
    const detail = err.message || "failed";
    const field = err.field && !detail.startsWith(err.field) ? `${err.field}: ` : "";
    return `${field}${detail}${err.status ? ` (HTTP ${err.status})` : ""}`;
  }

  // Fill a template from page_data ("/presets/{id}/") with an id.
  function fill(template, id) {
    return template.replace("{id}", encodeURIComponent(id));
  }

  function parseTags(text) {
    const seen = new Set();
    return text
      .split(",")
      .map((t) => t.trim())
      .filter((t) => t && !seen.has(t) && seen.add(t));
  }

  function download(filename, text, type) {
    const blob = new Blob([text], { type: type || "application/json" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = filename;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  function slug(name) {
    return (
      String(name || "preset")
        .toLowerCase()
        .replace(/[^a-z0-9а-яё]+/gi, "-")
        .replace(/^-+|-+$/g, "")
        .slice(0, 60) || "preset"
    );
  }

  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  function fmtDate(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : dateFormat.format(d);
  }

  // "14:05" today, "Nov 26" this year, "Nov 26, 2025" before.
  function fmtShortDate(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    const now = new Date();
    if (d.toDateString() === now.toDateString()) return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
    const opts = { month: "short", day: "numeric" };
    if (d.getFullYear() !== now.getFullYear()) opts.year = "numeric";
    return d.toLocaleDateString(undefined, opts);
  }

  // A status line: text with a kind (ok, error, muted), cleared with "".
  function status(el, text, kind) {
    el.textContent = text || "";
    el.dataset.kind = kind || "";
    el.hidden = !text;
  }

  return { call, describe, fill, parseTags, download, slug, fmtDate, fmtShortDate, status, csrfToken };
})();
