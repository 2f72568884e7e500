// Small helpers shared by the console's modules: building elements, formatting figures and
// shortening base64 audio for display. The console's modules hang off window.PG (no build step).
"use strict";
window.PG = window.PG || {};
PG.util = (function () {
  // Build an element: h("p", {class: "x", onclick: fn}, "text", child). Text is always set as
  // text, never parsed as HTML, so event contents can never inject markup.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
      else if (key === "class") el.className = value;
      else if (key === "dataset") Object.assign(el.dataset, value);
      else el.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  const numberFormat = new Intl.NumberFormat("en-US");
  function fmtInt(n) {
    return numberFormat.format(Math.round(n));
  }
  function fmtMs(ms) {
    return ms === null || ms === undefined || !isFinite(ms) ? "–" : fmtInt(ms) + " ms";
  }

  // Bytes that a base64 string decodes to.
  function b64Bytes(value) {
    if (!value) return 0;
    const pad = value.endsWith("==") ? 2 : value.endsWith("=") ? 1 : 0;
    return Math.floor((value.length * 3) / 4) - pad;
  }

  // Long base64 strings are audio (or images): shown shortened with their size. Display only:
  // the frames themselves keep the whole audio, for playback later.
  const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
  const SHORT = 200;
  function isBase64Blob(value) {
    return typeof value === "string" && value.length > SHORT && value.length % 4 === 0 && BASE64.test(value);
  }
  function shortBlob(value) {
    return `${value.slice(0, 24)}… [base64, ${fmtInt(b64Bytes(value))} bytes]`;
  }
  function trimBlobs(value) {
    if (isBase64Blob(value)) return shortBlob(value);
    if (Array.isArray(value)) return value.map(trimBlobs);
    if (value && typeof value === "object") {
      const out = {};
      for (const key of Object.keys(value)) out[key] = trimBlobs(value[key]);
      return out;
    }
    return value;
  }

  // Copy text to the clipboard; falls back to a hidden textarea where the async API is missing.
  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (e) {
        // Permission refused (headless browsers): try the old way.
      }
    }
    const area = h("textarea", { class: "offscreen", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (e) {
      ok = false;
    }
    area.remove();
    return ok;
  }

  function randomId(prefix) {
    return prefix + Math.random().toString(36).slice(2, 10) + Date.now().toString(36).slice(-4);
  }

  return { h, fmtInt, fmtMs, b64Bytes, isBase64Blob, trimBlobs, copyText, randomId };
})();
