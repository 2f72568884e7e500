// The preset page's Versions tab: every saved version, newest first, each with "diff with
// previous" and "load into editor", and the diff between any two versions, unified or side by
// side. Loaded when the tab is first opened, and again after a save.

import { callUrl, describe } from "../api.js";
import { h } from "../dom.js";
import { fmtShortDate } from "../format.js";
import { diffElement } from "./diff.js";
import { badge } from "./header.js";

// onLoadIntoEditor(number, content): a version's content was fetched to be edited.
export function createVersions(preset, { onLoadIntoEditor }) {
  const { page } = preset;
  const $ = (id) => document.getElementById(id);
  const fromSelect = $("diff-from");
  const toSelect = $("diff-to");
  const diffView = $("diff-view");
  let versions = [];
  let loaded = false;
  let layout = "unified";

  async function load() {
    if (!page.versionsUrl || loaded) return;
    loaded = true;
    try {
      versions = await callUrl("GET", page.versionsUrl);
    } catch (err) {
      loaded = false;
      diffView.replaceChildren(h("p", { class: "error" }, `Could not load the versions: ${describe(err)}`));
      return;
    }
    $("version-count").textContent = String(versions.length);
    renderList();
    const n = versions.length;
    const last = n ? versions[n - 1].number : 1;
    fromSelect.value = String(n > 1 ? versions[n - 2].number : last);
    toSelect.value = String(last);
    loadDiff();
  }

  // After a save: the list is out of date.
  function reload() {
    loaded = false;
    load();
  }

  function renderList() {
    const detail = preset.detail;
    const opts = (sel) => sel.replaceChildren(...versions.map((v) => new Option(`v${v.number}`, String(v.number))));
    opts(fromSelect);
    opts(toSelect);
    $("version-list").replaceChildren(
      ...versions
        .slice()
        .reverse()
        .map((v, i) => {
          const compare = h("button", { type: "button", class: "link small" }, "diff with previous");
          compare.hidden = v.number === versions[0].number;
          compare.addEventListener("click", () => {
            const idx = versions.findIndex((x) => x.number === v.number);
            fromSelect.value = String(versions[idx - 1].number);
            toSelect.value = String(v.number);
            loadDiff();
          });
          const toEditor = h("button", { type: "button", class: "link small" }, "load into editor");
          toEditor.hidden = !detail.can_change || Boolean(detail.deleted_at) || i === 0;
          toEditor.addEventListener("click", () => loadIntoEditor(v.number));
          return h(
            "li",
            { dataset: { version: v.number } },
            h("div", { class: "v-head" }, h("strong", {}, `v${v.number}`), i === 0 ? badge("current", "version") : null),
            h("div", { class: "muted small" }, `${fmtShortDate(v.created_at)}${v.created_by ? " · " + v.created_by : ""}`),
            h("div", { class: "v-actions" }, compare, toEditor),
          );
        }),
    );
  }

  async function loadIntoEditor(number) {
    try {
      const v = await callUrl("GET", `${page.versionsUrl}/${number}`);
      onLoadIntoEditor(number, v.content);
    } catch (err) {
      preset.showStatus(`Could not load version ${number}: ${describe(err)}`);
    }
  }

  async function loadDiff() {
    if (!page.diffUrl || !fromSelect.value) return;
    const from = fromSelect.value;
    const to = toSelect.value;
    diffView.replaceChildren(h("p", { class: "muted" }, "Loading…"));
    try {
      const d = await callUrl("GET", `${page.diffUrl}?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
      renderDiff(d.diff, from, to);
    } catch (err) {
      diffView.replaceChildren(h("p", { class: "error" }, `Could not load the diff: ${describe(err)}`));
    }
  }

  function renderDiff(text, from, to) {
    diffView.dataset.from = from;
    diffView.dataset.to = to;
    if (!text) {
      const why = versions.length < 2 ? "Only one version so far: save changes to make version 2." : `v${from} and v${to} have the same content.`;
      diffView.replaceChildren(h("p", { class: "muted" }, why));
      return;
    }
    diffView.replaceChildren(diffElement(text, layout, from, to));
  }

  fromSelect.addEventListener("change", loadDiff);
  toSelect.addEventListener("change", loadDiff);
  for (const [id, value] of [["diff-unified", "unified"], ["diff-split", "split"]]) {
    $(id).addEventListener("click", () => {
      layout = value;
      $("diff-unified").setAttribute("aria-pressed", String(value === "unified"));
      $("diff-split").setAttribute("aria-pressed", String(value === "split"));
      loadDiff();
    });
  }

  return { load, reload };
}
