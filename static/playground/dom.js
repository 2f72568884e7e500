// Small DOM helpers every page shares: building elements, the data a page is given, status lines,
// tabs, keyboard shortcuts, CSS colours and the clipboard.

// Build an element: h("p", {class: "x", onclick: fn}, "text", child). Text is always set as
// text, never parsed as HTML, so event contents can never inject markup.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    // Through the CSSOM: the Content-Security-Policy (style-src 'self') refuses a style attribute.
    else if (key === "style") el.style.cssText = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

// The same for SVG (charts): every attribute set as is, and an optional text.
export function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, value);
  if (text !== undefined) el.textContent = text;
  return el;
}

// What the server gave the page, as {{ data|json_script:"id" }}: JSON, never code, so the
// pages need no inline script.
export function readJson(id) {
  return JSON.parse(document.getElementById(id).textContent);
}

// A status line: text with a kind (ok, error, muted), hidden when cleared with "".
export function setStatus(el, text, kind) {
  el.textContent = text || "";
  el.dataset.kind = kind || "";
  el.hidden = !text;
}

// One page's status line as a function: report(text, kind), the kind "error" unless said.
export function statusReporter(el, fallbackKind = "error") {
  return (text, kind) => setStatus(el, text, kind || fallbackKind);
}

// ARIA tabs: each tab shows its panel (aria-controls) and hides the others; the arrow keys move
// between the visible tabs, round the ends. Returns select(tab); onSelect(tab) runs after each.
export function setupTabs(tabs, onSelect) {
  function select(tab) {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
    }
    if (onSelect) onSelect(tab);
  }
  for (const t of tabs) {
    t.addEventListener("click", () => select(t));
    t.addEventListener("keydown", (e) => {
      if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
      const visible = tabs.filter((x) => !x.hidden);
      const i = visible.indexOf(t) + (e.key === "ArrowRight" ? 1 : -1);
      const next = visible[(i + visible.length) % visible.length];
      select(next);
      next.focus();
    });
  }
  return select;
}

// Ctrl+Enter (Cmd+Enter) in `field` submits `form`, as the button would (validation included).
export function submitOnCtrlEnter(field, form) {
  field.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
}

// A CSS custom property's value (the theme's colours, for canvases), or the fallback.
export function cssVar(name, fallback, el = document.documentElement) {
  return getComputedStyle(el).getPropertyValue(name).trim() || fallback;
}

// Copy text to the clipboard; falls back to a hidden textarea where the async API is missing.
export async function copyText(text) {
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
