// The preset page's actions: Run (a session from the saved version), Fork (a copy in my
// workspace; a visitor signs in first), Export (the preset file), Move to trash and Restore.

import { callUrl, describe } from "../api.js";
import { download, fill, slug } from "../preset-common.js";

// onChanged: the preset was trashed or restored (the form turns read-only or back).
export function setupActions(preset, { onChanged }) {
  const { page } = preset;
  const $ = (id) => document.getElementById(id);
  const showStatus = preset.showStatus;

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
      const d = preset.detail;
      file = {
        format: "realtime-playground.preset",
        version: 2,
        name: d.name,
        description: d.description || "",
        tags: d.tags || [],
        content: d.content || {},
      };
    }
    download(`${slug(preset.detail.name)}.preset.json`, JSON.stringify(file, null, 2) + "\n");
  });

  // Trash and Restore: the same request-and-show, with their own words.
  function trashAction(id, method, url, done, failed) {
    $(id).addEventListener("click", async (e) => {
      const button = e.currentTarget;
      button.disabled = true;
      try {
        preset.update(await callUrl(method, url));
        onChanged();
        showStatus(done, "ok");
      } catch (err) {
        showStatus(`${failed}: ${describe(err)}`);
      } finally {
        button.disabled = false;
      }
    });
  }
  trashAction("trash-preset", "DELETE", page.apiUrl, "Moved to the trash. Restore it here or from the list's Trash tab.", "Could not move it to the trash");
  trashAction("restore-preset", "POST", page.restoreUrl, "Restored.", "Could not restore");
}
