// The preset list: mine, my teams' and the onboarding ones, filtered by tag and search; the trash
// (restore); import a preset file; create a new preset. Every URL comes from page_data.
// Test hook: window.__presets (reload, presets, trashed), the page's only global, there on purpose.

import { callUrl, describe } from "../api.js";
import { h, readJson, setStatus, setupTabs, statusReporter } from "../dom.js";
import { fmtShortDate } from "../format.js";
import { fill, parseTags } from "../preset-common.js";

const page = readJson("page-data");

const groupsBox = document.getElementById("preset-groups");
const trashBox = document.getElementById("trash-list");
const trashCount = document.getElementById("trash-count");
const tagBox = document.getElementById("tag-filter");
const search = document.getElementById("preset-search");
const statusLine = document.getElementById("list-status");

let presets = [];
let trashed = [];
const params = new URLSearchParams(location.search);
let tag = params.get("tag") || "";
search.value = params.get("q") || "";

const showStatus = statusReporter(statusLine);

// --- tabs ----------------------------------------------------------------------------------

const tabs = [document.getElementById("tab-presets"), document.getElementById("tab-trash")];
const selectTab = setupTabs(tabs);
if (location.hash === "#trash") selectTab(tabs[1]);

// --- cards ---------------------------------------------------------------------------------

function group(p) {
  if (p.builtin) return "builtin";
  if (p.owner === page.username) return "mine";
  return "team";
}

function tagChips(tags) {
  return h("ul", { class: "tags" }, (tags || []).map((t) => h("li", { class: "tag" }, t)));
}

async function run(p, button) {
  button.disabled = true;
  button.textContent = "Starting…";
  try {
    const session = await callUrl("POST", fill(page.runUrl, p.id), { respond: true });
    location.href = fill(page.sessionPageUrl, session.id);
  } catch (err) {
    showStatus(`Could not start “${p.name}”: ${describe(err)}`);
    button.disabled = false;
    button.textContent = "Run";
  }
}

function card(p) {
  const href = fill(page.presetPageUrl, p.id);
  const run_ = h("button", { type: "button", class: "small run", "aria-label": `Run ${p.name}` }, "Run");
  run_.addEventListener("click", () => run(p, run_));
  const meta = [`v${p.version}`];
  if (!p.builtin && p.owner !== page.username) meta.push(p.team && p.team.name ? `team ${p.team.name}` : `by ${p.owner}`);
  if (p.visibility === "team" && p.owner === page.username) meta.push(p.team ? `shared with ${p.team.name}` : "team");
  meta.push(`updated ${fmtShortDate(p.updated_at)}`);
  return h(
    "article",
    { class: "preset-card", dataset: { presetId: p.id, group: group(p) } },
    h("h3", {}, h("a", { href }, p.name)),
    p.description ? h("p", { class: "desc" }, p.description) : h("p", { class: "desc muted" }, "No description."),
    tagChips(p.tags),
    h("div", { class: "card-foot" }, h("span", { class: "meta muted" }, meta.join(" · ")), run_),
  );
}

function trashCard(p) {
  const restore = h("button", { type: "button", class: "small secondary", "aria-label": `Restore ${p.name}` }, "Restore");
  restore.addEventListener("click", async () => {
    restore.disabled = true;
    try {
      await callUrl("POST", fill(page.restoreUrl, p.id));
      await load();
      showStatus(`Restored “${p.name}”.`, "ok");
    } catch (err) {
      restore.disabled = false;
      showStatus(`Could not restore “${p.name}”: ${describe(err)}`);
    }
  });
  return h(
    "article",
    { class: "preset-card trashed", dataset: { presetId: p.id } },
    h("h3", {}, h("a", { href: fill(page.presetPageUrl, p.id) }, p.name)),
    p.description ? h("p", { class: "desc" }, p.description) : null,
    tagChips(p.tags),
    h("div", { class: "card-foot" }, h("span", { class: "meta muted" }, `v${p.version} · trashed ${fmtShortDate(p.deleted_at)}`), restore),
  );
}

// --- filters -------------------------------------------------------------------------------

function matches(p) {
  if (tag && !(p.tags || []).includes(tag)) return false;
  const q = search.value.trim().toLowerCase();
  if (!q) return true;
  return [p.name, p.description, ...(p.tags || [])].some((s) => (s || "").toLowerCase().includes(q));
}

function renderTags() {
  const counts = new Map();
  for (const p of presets) for (const t of p.tags || []) counts.set(t, (counts.get(t) || 0) + 1);
  const all = Array.from(counts.keys()).sort((a, b) => counts.get(b) - counts.get(a) || a.localeCompare(b));
  if (tag && !counts.has(tag)) all.unshift(tag);
  const chip = (value, label) => {
    const b = h("button", { type: "button", class: "chip", "aria-pressed": String(tag === value), dataset: { tag: value } }, label);
    b.addEventListener("click", () => {
      tag = tag === value ? "" : value;
      syncUrl();
      render();
    });
    return b;
  };
  tagBox.replaceChildren(chip("", "All tags"), ...all.map((t) => chip(t, `${t} ${counts.get(t) || 0}`)));
}

function syncUrl() {
  const u = new URL(location.href);
  if (tag) u.searchParams.set("tag", tag);
  else u.searchParams.delete("tag");
  if (search.value.trim()) u.searchParams.set("q", search.value.trim());
  else u.searchParams.delete("q");
  history.replaceState(null, "", u);
}

const GROUPS = [
  ["mine", "My presets", "None of yours yet: create one, import a file, or fork an onboarding preset."],
  ["team", "Team presets", null],
  ["builtin", "Onboarding", null],
];

function render() {
  renderTags();
  const shown = presets.filter(matches);
  const sections = [];
  for (const [key, title, empty] of GROUPS) {
    const mine = presets.filter((p) => group(p) === key);
    const list = shown.filter((p) => group(p) === key);
    // Mine and my teams' newest first (as the API lists them); the onboarding ones by name.
    if (key === "builtin") list.sort((a, b) => a.name.localeCompare(b.name));
    if (!mine.length && !empty) continue; // no team presets at all: no section
    let body;
    if (list.length) body = h("div", { class: "preset-grid" }, list.map(card));
    else if (!mine.length) body = h("p", { class: "muted" }, empty);
    else body = h("p", { class: "muted" }, "None match the filter.");
    sections.push(
      h(
        "section",
        { class: "preset-group", dataset: { group: key }, "aria-label": title },
        h("h2", {}, title, " ", h("span", { class: "count" }, String(list.length))),
        body,
      ),
    );
  }
  groupsBox.replaceChildren(...sections);
  trashCount.textContent = trashed.length ? String(trashed.length) : "";
  trashBox.replaceChildren(...(trashed.length ? trashed.map(trashCard) : [h("p", { class: "muted" }, "The trash is empty.")]));
}

search.addEventListener("input", () => {
  syncUrl();
  render();
});

async function load() {
  try {
    [presets, trashed] = await Promise.all([callUrl("GET", page.listUrl), callUrl("GET", page.trashUrl)]);
  } catch (err) {
    groupsBox.replaceChildren(h("p", { class: "error" }, `Could not load the presets: ${describe(err)}`));
    return;
  }
  render();
}

// --- import --------------------------------------------------------------------------------

const fileInput = document.getElementById("import-file");
document.getElementById("import-preset").addEventListener("click", () => fileInput.click());
fileInput.addEventListener("change", async () => {
  const file = fileInput.files[0];
  fileInput.value = "";
  if (!file) return;
  let data;
  try {
    data = JSON.parse(await file.text());
  } catch (err) {
    showStatus(`Not imported: ${file.name} is not JSON (${err.message}).`);
    return;
  }
  showStatus(`Importing ${file.name}…`, "muted");
  try {
    const preset = await callUrl("POST", page.importUrl, data);
    location.href = fill(page.presetPageUrl, preset.id);
  } catch (err) {
    const field = err.field ? ` (field ${err.field})` : "";
    showStatus(`Not imported${field}: ${err.message}`);
  }
});

// --- new preset ----------------------------------------------------------------------------

const dialog = document.getElementById("new-dialog");
const newForm = document.getElementById("new-form");
const newError = document.getElementById("new-error");
document.getElementById("new-preset").addEventListener("click", () => {
  newForm.reset();
  setStatus(newError, "");
  dialog.showModal();
  newForm.elements.name.focus();
});
document.getElementById("new-cancel").addEventListener("click", () => dialog.close());
newForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = newForm.elements;
  const name = f.name.value.trim();
  if (!name) {
    setStatus(newError, "name: a name is required.", "error");
    f.name.setAttribute("aria-invalid", "true");
    f.name.focus();
    return;
  }
  f.name.removeAttribute("aria-invalid");
  const button = document.getElementById("new-create");
  button.disabled = true;
  try {
    const preset = await callUrl("POST", page.createUrl, {
      name,
      description: f.description.value,
      tags: parseTags(f.tags.value),
      content: { session: { output_modalities: ["text"], instructions: "You are a helpful assistant." } },
    });
    location.href = fill(page.presetPageUrl, preset.id);
  } catch (err) {
    button.disabled = false;
    setStatus(newError, describe(err), "error");
  }
});

load();
window.__presets = { reload: load, get presets() { return presets; }, get trashed() { return trashed; } };
