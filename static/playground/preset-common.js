// What the preset pages share: calls to whole URLs given by the page (never built here), errors
// that name their field, tags typed as text, and downloads. Hangs off window.PG like the console.
"use strict";
window.PG = window.PG || {};
PG.presets = (function () {
  function csrfToken() {
    const m = document.cookie.match(/(?:^|; )csrftoken=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  // fetch a JSON API URL (as given in page_data). Errors carry status, field and errors[] from
  // the playground's JSON errors ({detail, field, errors}).
  async function call(method, url, body) {
    let res;
    try {
      res = await fetch(url, {
        method,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      const e = new Error("The playground did not answer (network error).");
      e.status = 0;
      throw e;
    }
    const data = res.status === 204 ? {} : await res.json().catch(() => ({ detail: res.statusText }));
    if (!res.ok) {
      const err = new Error((data && data.detail) || res.statusText || `HTTP ${res.status}`);
      err.status = res.status;
      err.field = data ? data.field : null;
      err.errors = (data && data.errors) || [];
      throw err;
    }
    return data;
  }

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
