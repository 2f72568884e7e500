// One preset: its details and content (JSON) to edit and save as a new version, its versions with
// a diff between any two, code to run it elsewhere, sharing, and Run / Fork / Export / Trash.
// Every URL comes from page_data (a preset of mine and a shared link's view pass different ones);
// a null URL means "not offered here" and hides what uses it.
//
// Test hook: window.__preset (page, detail, reload), the page's only global, there on purpose.

import { callUrl, describe } from "../api.js";
import { copyText, h, readJson, setStatus, setupTabs, statusReporter, submitOnCtrlEnter } from "../dom.js";
import { fmtDate, fmtShortDate } from "../format.js";
import { jsonErrorParts } from "../json-error.js";
import { download, fill, parseTags, slug } from "../preset-common.js";

const page = readJson("page-data");
const $ = (id) => document.getElementById(id);

const CONTENT_KEYS = ["session", "response", "conversation", "tool_outputs"];
let detail = null; // the preset as the API last described it
let versions = [];
let dirty = false;

const showStatus = statusReporter($("page-status"));

// Fields the lead's API adds later (can_change, team, visibility, share_url): until then, the
// defaults a preset of one's own would have.
function normalise(d) {
  return Object.assign({}, d, {
    can_change: page.readOnly ? false : d.can_change === undefined ? !d.builtin : Boolean(d.can_change),
    team: d.team === undefined ? null : d.team,
    visibility: d.visibility || "private",
    share_url: d.share_url === undefined ? null : d.share_url,
  });
}

// --- tabs ----------------------------------------------------------------------------------

const tabs = ["tab-content", "tab-versions", "tab-code"].map($);
if (!page.versionsUrl) tabs[1].hidden = true;
if (!page.codeUrl) tabs[2].hidden = true;
const selectTab = setupTabs(tabs, (tab) => {
  if (tab === tabs[1]) loadVersions();
  if (tab === tabs[2]) loadCode(codeLang);
});

// --- the header, banners and About -----------------------------------------------------------

function badge(text, cls) {
  return h("span", { class: "badge " + (cls || "") }, text);
}

function renderHead() {
  const d = detail;
  $("preset-title").textContent = d.name;
  document.title = `${d.name} · Presets · Realtime Playground`;
  const badges = [badge(`v${d.version}`, "version")];
  if (d.builtin) badges.push(badge("onboarding", "builtin"));
  if (d.visibility === "team" && d.team) badges.push(badge(`team ${d.team.name}`, "team"));
  if (d.share_url) badges.push(badge("link shared", "shared"));
  if (d.deleted_at) badges.push(badge("in the trash", "trashed"));
  if (!d.can_change) badges.push(badge("read-only", "readonly"));
  $("preset-badges").replaceChildren(...badges);

  const trashed = Boolean(d.deleted_at);
  $("run-preset").hidden = !page.sessionsUrl;
  $("run-preset").disabled = trashed;
  $("run-preset").title = dirty ? "Runs the saved version; save your changes first to run them." : "";
  $("trash-preset").hidden = !d.can_change || trashed || !page.apiUrl || page.readOnly;
  $("trash-banner").hidden = !trashed || !page.restoreUrl;
  const fork = $("fork-preset");
  fork.hidden = !page.forkUrl;
  fork.textContent = d.can_change ? "Fork" : "Fork into my workspace";
  fork.className = d.can_change ? "secondary" : "";
  $("readonly-banner").hidden = d.can_change || !page.forkUrl;
  $("readonly-text").textContent = page.readOnly
    ? "A preset shared with you by link: read it, run its code, or fork it into your workspace to change it."
    : d.builtin
      ? "An onboarding preset: run it as it is, or fork it into your workspace to change it."
      : "A team preset you can read but not change: fork it into your workspace to make it yours.";
  $("fork-banner").hidden = true; // the header's button says the same
  renderAbout();
}

function renderAbout() {
  const d = detail;
  const rows = [];
  const row = (k, v) => rows.push(h("dt", {}, k), h("dd", {}, v));
  row("Owner", d.builtin ? "builtin (onboarding)" : d.owner === page.username ? `${d.owner} (me)` : d.owner || "–");
  row("Version", `${d.version}`);
  row("Updated", fmtDate(d.updated_at));
  row("Created", fmtDate(d.created_at));
  row("Visibility", d.visibility === "team" && d.team ? `team ${d.team.name}` : d.builtin ? "everyone" : "private");
  if (d.forked_from) {
    const link = page.readOnly
      ? h("code", {}, d.forked_from.slice(0, 8))
      : h("a", { href: fill(page.presetPageUrl, d.forked_from) }, "the original");
    row("Forked from", link);
  }
  $("about-list").replaceChildren(...rows);
}

// --- the form: details and content -------------------------------------------------------------

const form = $("preset-form");
const nameInput = $("pf-name");
const tagsInput = $("pf-tags");
const descInput = $("pf-description");
const contentInput = $("pf-content");
const errorsBox = $("pf-errors");
const saveButton = $("save-preset");
const saveStatus = $("save-status");

function fillForm() {
  nameInput.value = detail.name;
  tagsInput.value = (detail.tags || []).join(", ");
  descInput.value = detail.description || "";
  contentInput.value = JSON.stringify(detail.content || {}, null, 2);
  const ro = !detail.can_change || Boolean(detail.deleted_at);
  for (const el of [nameInput, tagsInput, descInput, contentInput]) el.readOnly = ro;
  $("form-actions").hidden = ro;
  form.classList.toggle("is-readonly", ro);
  dirty = false;
  showErrors([]);
  validate();
}

// Where a field ("content.session.audio.output.format.rate") sits in the text: each key found in
// turn after the previous one. Good enough to point at a line; the message names the field anyway.
function locate(text, field) {
  const parts = field.replace(/^content\.?/, "").split(/\.|\[(\d+)\]/).filter((s) => s);
  let pos = 0;
  let found = -1;
  for (const part of parts) {
    if (/^\d+$/.test(part)) continue;
    const at = text.indexOf(`"${part}"`, pos);
    if (at < 0) break;
    found = pos = at;
  }
  if (found < 0) return null;
  return { index: found, line: text.slice(0, found).split("\n").length };
}

function inputFor(field) {
  if (!field) return null;
  if (field === "name") return nameInput;
  if (field === "description") return descInput;
  if (field.startsWith("tags")) return tagsInput;
  if (field === "content" || field.startsWith("content.") || field.startsWith("content[")) return contentInput;
  return null;
}

// errors: [{field, message}] shown as a list naming each field; the inputs at fault are marked.
function showErrors(errors) {
  for (const el of [nameInput, tagsInput, descInput, contentInput]) el.removeAttribute("aria-invalid");
  errorsBox.replaceChildren();
  errorsBox.hidden = errors.length === 0;
  for (const e of errors) {
    const input = inputFor(e.field);
    if (input) input.setAttribute("aria-invalid", "true");
    const where = input === contentInput && e.field !== "content" ? locate(contentInput.value, e.field) : null;
    const li = h(
      "li",
      { dataset: { field: e.field || "" } },
      e.field ? h("code", { class: "field" }, e.field) : null,
      e.field ? ": " : "",
      e.message,
      where ? h("button", { type: "button", class: "link small goto", title: "Show it in the editor" }, `line ${where.line}`) : null,
    );
    if (where) {
      li.querySelector(".goto").addEventListener("click", () => {
        contentInput.focus();
        contentInput.setSelectionRange(where.index, contentInput.value.indexOf("\n", where.index));
      });
    }
    errorsBox.append(li);
  }
}

// Checked as typed: the JSON, an object, only the four content fields; the API checks the rest.
function check() {
  const errors = [];
  if (!nameInput.value.trim()) errors.push({ field: "name", message: "a name is required." });
  for (const t of parseTags(tagsInput.value)) {
    if (t.length > 40) errors.push({ field: "tags", message: `“${t.slice(0, 20)}…” is over 40 characters.` });
  }
  let content = null;
  try {
    content = JSON.parse(contentInput.value);
  } catch (err) {
    errors.push({ field: "content", message: jsonError(contentInput.value, err) });
    return { errors, content: null };
  }
  if (content === null || typeof content !== "object" || Array.isArray(content)) {
    errors.push({ field: "content", message: "must be a JSON object: {\"session\": {…}, \"conversation\": […]}." });
  } else {
    for (const key of Object.keys(content)) {
      if (!CONTENT_KEYS.includes(key)) {
        errors.push({ field: `content.${key}`, message: `not a field of a preset's content (${CONTENT_KEYS.join(", ")}).` });
      }
    }
  }
  return { errors, content };
}

function jsonError(text, err) {
  const { place, words } = jsonErrorParts(text, err);
  const where = place ? ` at line ${place.line}, column ${place.column}` : "";
  return `not valid JSON${where}: ${words}.`;
}

function validate() {
  const { errors } = check();
  showErrors(errors);
  saveButton.disabled = errors.length > 0;
  return errors.length === 0;
}

form.addEventListener("input", () => {
  dirty = true;
  validate();
  setStatus(saveStatus, "Unsaved changes.", "muted");
  $("run-preset").title = "Runs the saved version; save your changes first to run them.";
});
submitOnCtrlEnter(form, form);
// Tab in the JSON editor indents instead of leaving it (Esc, then Tab, leaves).
let escaped = false;
contentInput.addEventListener("keydown", (e) => {
  if (e.key === "Escape") escaped = true;
  else if (e.key === "Tab" && !e.shiftKey && !escaped && !contentInput.readOnly) {
    e.preventDefault();
    document.execCommand("insertText", false, "  ");
  } else escaped = false;
});
$("pf-reset").addEventListener("click", () => {
  fillForm();
  setStatus(saveStatus, "Changes discarded.", "muted");
});

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const { errors, content } = check();
  if (errors.length) {
    showErrors(errors);
    return;
  }
  saveButton.disabled = true;
  setStatus(saveStatus, "Saving…", "muted");
  try {
    const saved = await callUrl("PUT", page.apiUrl, {
      name: nameInput.value.trim(),
      description: descInput.value,
      tags: parseTags(tagsInput.value),
      content,
    });
    // Keep fields the PUT may not echo (sharing), then show what the server stored.
    detail = normalise(Object.assign({}, detail, saved));
    renderHead();
    fillForm();
    setStatus(saveStatus, `Saved as version ${detail.version}.`, "ok");
    versionsLoaded = false;
    if (!tabs[1].hidden) loadVersions();
  } catch (err) {
    saveButton.disabled = false;
    const list = err.errors && err.errors.length ? err.errors : [{ field: err.field, message: err.message }];
    showErrors(list.map((x) => ({ field: x.field, message: stripField(x.message, x.field) })));
    errorsBox.scrollIntoView({ block: "nearest" });
    setStatus(saveStatus, `Not saved${err.status ? ` (HTTP ${err.status})` : ""}: nothing was changed.`, "error");
  }
});

function stripField(message, field) {
  const m = String(message || "");
  return field && m.startsWith(field + ": ") ? m.slice(field.length + 2) : m;
}

// --- versions and the diff ---------------------------------------------------------------------

let versionsLoaded = false;
let diffLayout = "unified";
const fromSelect = $("diff-from");
const toSelect = $("diff-to");
const diffView = $("diff-view");

async function loadVersions() {
  if (!page.versionsUrl || versionsLoaded) return;
  versionsLoaded = true;
  try {
    versions = await callUrl("GET", page.versionsUrl);
  } catch (err) {
    versionsLoaded = false;
    diffView.replaceChildren(h("p", { class: "error" }, `Could not load the versions: ${describe(err)}`));
    return;
  }
  $("version-count").textContent = String(versions.length);
  renderVersions();
  const n = versions.length;
  const last = n ? versions[n - 1].number : 1;
  fromSelect.value = String(n > 1 ? versions[n - 2].number : last);
  toSelect.value = String(last);
  loadDiff();
}

function renderVersions() {
  const opts = (sel) => sel.replaceChildren(...versions.map((v) => new Option(`v${v.number}`, String(v.number))));
  opts(fromSelect);
  opts(toSelect);
  const list = $("version-list");
  list.replaceChildren(
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
        const load = h("button", { type: "button", class: "link small" }, "load into editor");
        load.hidden = !detail.can_change || Boolean(detail.deleted_at) || i === 0;
        load.addEventListener("click", () => loadIntoEditor(v.number));
        return h(
          "li",
          { dataset: { version: v.number } },
          h("div", { class: "v-head" }, h("strong", {}, `v${v.number}`), i === 0 ? badge("current", "version") : null),
          h("div", { class: "muted small" }, `${fmtShortDate(v.created_at)}${v.created_by ? " · " + v.created_by : ""}`),
          h("div", { class: "v-actions" }, compare, load),
        );
      }),
  );
}

async function loadIntoEditor(number) {
  try {
    const v = await callUrl("GET", `${page.versionsUrl}/${number}`);
    contentInput.value = JSON.stringify(v.content, null, 2);
    dirty = true;
    validate();
    selectTab(tabs[0]);
    setStatus(saveStatus, `Loaded version ${number} into the editor: Save changes makes it version ${detail.version + 1}.`, "muted");
  } catch (err) {
    showStatus(`Could not load version ${number}: ${describe(err)}`);
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
  const lines = text.split("\n").filter((l) => !l.startsWith("--- ") && !l.startsWith("+++ "));
  diffView.replaceChildren(diffLayout === "split" ? splitDiff(lines, from, to) : unifiedDiff(lines));
}

function kindOf(line) {
  if (line.startsWith("@@")) return "hunk";
  if (line.startsWith("+")) return "add";
  if (line.startsWith("-")) return "del";
  return "ctx";
}

function unifiedDiff(lines) {
  return h(
    "pre",
    { class: "diff unified" },
    lines.map((l) => h("span", { class: "dl dl-" + kindOf(l) }, l || " ")),
  );
}

// Side by side: context on both sides; a run of removed lines faces the run of added ones.
function splitDiff(lines, from, to) {
  const rows = [];
  let dels = [];
  let adds = [];
  const flush = () => {
    for (let i = 0; i < Math.max(dels.length, adds.length); i++) rows.push([dels[i], adds[i]]);
    dels = [];
    adds = [];
  };
  for (const l of lines) {
    const k = kindOf(l);
    if (k === "del") dels.push(l);
    else if (k === "add") adds.push(l);
    else {
      flush();
      rows.push(k === "hunk" ? ["@@", l] : [l, l]);
    }
  }
  flush();
  const cell = (l, side) => {
    if (l === undefined) return h("td", { class: "dl dl-empty" }, "");
    const k = kindOf(l);
    return h("td", { class: "dl dl-" + k }, k === "ctx" ? l.slice(1) || " " : l.slice(1));
  };
  const body = rows.map(([a, b]) =>
    a === "@@"
      ? h("tr", {}, h("td", { class: "dl dl-hunk", colspan: "2" }, b))
      : h("tr", {}, cell(a, "from"), cell(b, "to")),
  );
  return h(
    "table",
    { class: "diff split" },
    h("thead", {}, h("tr", {}, h("th", {}, `v${from}`), h("th", {}, `v${to}`))),
    h("tbody", {}, body),
  );
}

fromSelect.addEventListener("change", loadDiff);
toSelect.addEventListener("change", loadDiff);
for (const [id, layout] of [["diff-unified", "unified"], ["diff-split", "split"]]) {
  $(id).addEventListener("click", () => {
    diffLayout = layout;
    $("diff-unified").setAttribute("aria-pressed", String(layout === "unified"));
    $("diff-split").setAttribute("aria-pressed", String(layout === "split"));
    loadDiff();
  });
}

// --- view code -----------------------------------------------------------------------------------

let codeLang = "openai";
const codeCache = new Map();
const codeText = $("code-text");
const codeCopy = $("code-copy");
const codeStatus = $("code-status");

async function loadCode(lang) {
  codeLang = lang;
  document.querySelectorAll(".code-lang").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.lang === lang)));
  setStatus(codeStatus, "");
  let got = codeCache.get(lang);
  if (!got) {
    codeText.textContent = "Loading…";
    codeCopy.disabled = true;
    try {
      got = await callUrl("GET", `${page.codeUrl}?lang=${encodeURIComponent(lang)}`);
      codeCache.set(lang, got);
    } catch (err) {
      if (codeLang !== lang) return;
      codeText.textContent = "";
      $("code-filename").textContent = "";
      const why =
        err.status === 404
          ? `This server does not offer code for presets yet (HTTP 404 from ${page.codeUrl}).`
          : `Could not get the code: ${describe(err)}`;
      setStatus(codeStatus, why, "error");
      return;
    }
  }
  if (codeLang !== lang) return;
  codeText.textContent = got.code;
  $("code-filename").textContent = got.filename || "";
  codeCopy.disabled = false;
}
document.querySelectorAll(".code-lang").forEach((b) => b.addEventListener("click", () => loadCode(b.dataset.lang)));
codeCopy.addEventListener("click", async () => {
  const ok = await copyText(codeText.textContent);
  setStatus(codeStatus, ok ? "Copied." : "Could not copy: select the code and copy it.", ok ? "ok" : "error");
});

// --- actions -------------------------------------------------------------------------------------

$("run-preset").addEventListener("click", async (e) => {
  const button = e.currentTarget;
  button.disabled = true;
  button.textContent = "Starting…";
  try {
    const session = await callUrl("POST", page.sessionsUrl, { respond: true });
    location.href = fill(page.sessionPageUrl, session.id);
  } catch (err) {
    button.disabled = false;
    button.textContent = "Run";
    showStatus(`Could not start a session: ${describe(err)}`);
  }
});

async function fork(button) {
  if (!page.authenticated) {
    location.href = page.loginUrl;
    return;
  }
  button.disabled = true;
  try {
    const copy = await callUrl("POST", page.forkUrl, {});
    location.href = fill(page.presetPageUrl, copy.id);
  } catch (err) {
    button.disabled = false;
    if (err.status === 401) location.href = page.loginUrl;
    else showStatus(`Could not fork: ${describe(err)}`);
  }
}
$("fork-preset").addEventListener("click", (e) => fork(e.currentTarget));
$("fork-banner").addEventListener("click", (e) => fork(e.currentTarget));

$("export-preset").addEventListener("click", async () => {
  let file;
  if (page.exportUrl) {
    try {
      file = await callUrl("GET", page.exportUrl);
    } catch (err) {
      showStatus(`Could not export: ${describe(err)}`);
      return;
    }
  } else {
    // A shared link has no export URL: the file is the same fields the page already has.
    file = {
      format: "realtime-playground.preset",
      version: 2,
      name: detail.name,
      description: detail.description || "",
      tags: detail.tags || [],
      content: detail.content || {},
    };
  }
  download(`${slug(detail.name)}.preset.json`, JSON.stringify(file, null, 2) + "\n");
});

$("trash-preset").addEventListener("click", async (e) => {
  const button = e.currentTarget;
  button.disabled = true;
  try {
    const out = await callUrl("DELETE", page.apiUrl);
    detail = normalise(Object.assign({}, detail, out));
    renderHead();
    fillForm();
    showStatus("Moved to the trash. Restore it here or from the list's Trash tab.", "ok");
  } catch (err) {
    showStatus(`Could not move it to the trash: ${describe(err)}`);
  } finally {
    button.disabled = false;
  }
});

$("restore-preset").addEventListener("click", async (e) => {
  const button = e.currentTarget;
  button.disabled = true;
  try {
    const out = await callUrl("POST", page.restoreUrl);
    detail = normalise(Object.assign({}, detail, out));
    renderHead();
    fillForm();
    showStatus("Restored.", "ok");
  } catch (err) {
    showStatus(`Could not restore: ${describe(err)}`);
  } finally {
    button.disabled = false;
  }
});

// --- sharing -------------------------------------------------------------------------------------

const visSelect = $("share-visibility");
const shareStatus = $("share-status");
let teams = null;

async function renderSharing() {
  const d = detail;
  const box = $("sharing-box");
  // Only the owner decides who sees it; builtin presets are everyone's already.
  box.hidden = page.readOnly || !page.shareUrl || d.builtin || d.owner !== page.username;
  if (box.hidden) return;
  if (teams === null && page.teamsUrl) {
    try {
      teams = await callUrl("GET", page.teamsUrl);
    } catch (err) {
      teams = [];
      const note = $("share-teams-note");
      note.textContent = err.status === 404 ? "Teams are not available on this server yet." : `Could not list your teams: ${describe(err)}`;
      note.hidden = false;
    }
    if (teams.length === 0 && $("share-teams-note").hidden) {
      $("share-teams-note").textContent = "You are in no team yet: a team preset needs one.";
      $("share-teams-note").hidden = false;
    }
  }
  const options = [new Option("Private (only me)", "private")];
  const known = new Set();
  for (const t of teams || []) {
    options.push(new Option(`Team: ${t.name}`, `team:${t.id}`));
    known.add(String(t.id));
  }
  if (d.team && !known.has(String(d.team.id))) options.push(new Option(`Team: ${d.team.name}`, `team:${d.team.id}`));
  visSelect.replaceChildren(...options);
  visSelect.value = d.visibility === "team" && d.team ? `team:${d.team.id}` : "private";
  $("share-save").disabled = true;

  const link = d.share_url ? new URL(d.share_url, location.origin).href : "";
  $("share-link").value = link;
  $("share-link-row").hidden = !link;
  $("share-create").hidden = Boolean(link);
  $("share-revoke").hidden = !link;
}

visSelect.addEventListener("change", () => {
  $("share-save").disabled = false;
});
$("share-save").addEventListener("click", async (e) => {
  const button = e.currentTarget;
  const value = visSelect.value;
  const body = value === "private" ? { team: null, visibility: "private" } : { team: value.slice(5), visibility: "team" };
  if (body.team !== null && /^\d+$/.test(body.team)) body.team = Number(body.team);
  button.disabled = true;
  try {
    const out = await callUrl("PATCH", page.apiUrl, body);
    detail = normalise(Object.assign({}, detail, out));
    renderHead();
    renderSharing();
    setStatus(shareStatus, value === "private" ? "Now private." : `Now visible to the team.`, "ok");
  } catch (err) {
    button.disabled = false;
    setStatus(shareStatus, `Not saved: ${describe(err)}`, "error");
  }
});
$("share-create").addEventListener("click", async (e) => {
  const button = e.currentTarget;
  button.disabled = true;
  try {
    const out = await callUrl("POST", page.shareUrl, {});
    detail = normalise(Object.assign({}, detail, out));
    renderHead();
    await renderSharing();
    setStatus(shareStatus, "Link created: anyone with it can read this preset.", "ok");
  } catch (err) {
    setStatus(shareStatus, `Could not create a link: ${describe(err)}`, "error");
  } finally {
    button.disabled = false;
  }
});
$("share-revoke").addEventListener("click", async (e) => {
  const button = e.currentTarget;
  button.disabled = true;
  try {
    const out = await callUrl("DELETE", page.shareUrl);
    detail = normalise(Object.assign({}, detail, out, { share_url: out.share_url === undefined ? null : out.share_url }));
    renderHead();
    await renderSharing();
    setStatus(shareStatus, "Link revoked: it no longer opens this preset.", "ok");
  } catch (err) {
    setStatus(shareStatus, `Could not revoke the link: ${describe(err)}`, "error");
  } finally {
    button.disabled = false;
  }
});
$("share-copy").addEventListener("click", async () => {
  const ok = await copyText($("share-link").value);
  setStatus(shareStatus, ok ? "Link copied." : "Could not copy: select the link and copy it.", ok ? "ok" : "error");
});

// --- start ---------------------------------------------------------------------------------------

async function load() {
  try {
    detail = normalise(await callUrl("GET", page.apiUrl));
  } catch (err) {
    showStatus(`Could not load the preset: ${describe(err)}`);
    $("preset-form").hidden = true;
    return;
  }
  renderHead();
  fillForm();
  renderSharing();
  if (page.versionsUrl) $("version-count").textContent = String(detail.version);
}
load();

window.__preset = {
  page,
  get detail() {
    return detail;
  },
  reload: load,
};
