// One preset: its details and content (JSON) to edit and save as a new version, its versions with
// a diff between any two, code to run it elsewhere, sharing, and Run / Fork / Export / Trash.
// Every URL comes from page_data (a preset of mine and a shared link's view pass different ones);
// a null URL means "not offered here" and hides what uses it. Each tab and box is a module of
// static/playground/preset/; this one holds what they share and wires them together.
//
// Test hook: window.__preset (page, detail, reload, checks), the page's only global, there on purpose.

import { callUrl, describe } from "../api.js";
import { readJson, setupTabs, statusReporter } from "../dom.js";
import { setupActions } from "../preset/actions.js";
import { createChecks } from "../preset/checks.js";
import { createCode } from "../preset/code.js";
import { createEditor } from "../preset/editor.js";
import { createHeader } from "../preset/header.js";
import { createSharing } from "../preset/sharing.js";
import { createVersions } from "../preset/versions.js";

const page = readJson("page-data");
const $ = (id) => document.getElementById(id);

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

// What the sections share: the page's URLs, the preset as the API last described it, whether the
// form has unsaved edits, the page's status line, and update() for an API answer about the preset.
const preset = {
  page,
  detail: null,
  dirty: false,
  showStatus: statusReporter($("page-status")),
  // Keep the fields an answer may not echo (sharing), then show the new description in the header.
  update(out) {
    preset.detail = normalise(Object.assign({}, preset.detail, out));
    header.render();
  },
};

const header = createHeader(preset);
const editor = createEditor(preset, { onSaved: () => versions.reload() });
const versions = createVersions(preset, {
  onLoadIntoEditor(number, content) {
    editor.loadContent(number, content);
    selectTab(tabs[0]);
  },
});
const code = createCode(preset);
const sharing = createSharing(preset);
setupActions(preset, { onChanged: () => editor.fill() });

// Checks (checks.js): saving them makes a new version, so the preset and its versions are read again.
const checks = createChecks(preset, {
  async onSaved() {
    await load();
    versions.reload();
    checks.show();
  },
});

const tabs = ["tab-content", "tab-versions", "tab-code", "tab-checks"].map($);
if (!page.versionsUrl) tabs[1].hidden = true;
if (!page.codeUrl) tabs[2].hidden = true;
if (!page.checkRunsUrl) tabs[3].hidden = true;
const selectTab = setupTabs(tabs, (tab) => {
  if (tab === tabs[1]) versions.load();
  if (tab === tabs[2]) code.show();
  if (tab === tabs[3]) checks.show();
  // The results matrix grows a column per run: the Checks tab takes the page's whole width.
  document.querySelector(".preset-layout").classList.toggle("wide-tab", tab === tabs[3]);
});

async function load() {
  try {
    preset.detail = normalise(await callUrl("GET", page.apiUrl));
  } catch (err) {
    preset.showStatus(`Could not load the preset: ${describe(err)}`);
    $("preset-form").hidden = true;
    return;
  }
  header.render();
  if (!preset.dirty) editor.fill(); // a save on the Checks tab must not wipe unsaved edits here
  sharing.render();
  if (page.versionsUrl) $("version-count").textContent = String(preset.detail.version);
  $("checks-count").textContent = String((preset.detail.content.checks || []).length);
}
// /presets/<id>/#checks (where "Add as check" sends one) opens the Checks tab.
load().then(() => {
  if (window.location.hash === "#checks" && page.checkRunsUrl && preset.detail) selectTab(tabs[3]);
});

window.__preset = {
  page,
  get detail() {
    return preset.detail;
  },
  reload: load,
  checks,
};
