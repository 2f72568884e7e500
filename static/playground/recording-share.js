// The replay page's Share box and Re-run button (only on a recording of mine or my team's; a shared
// link's view has neither). Who sees it: private or one of my teams (its owner decides); a share
// link anyone can replay, created and revoked by whoever may change the recording.

import { callUrl, errorWords } from "./api.js";
import { copyText } from "./dom.js";

export function setupRecordingShare(page) {
  if (!page.sessionApiUrl) return;
  const $ = (id) => document.getElementById(id);

  // Whole URLs from page_data; the error's words name the field when the API did.
  async function call(method, url, body) {
    try {
      return await callUrl(method, url, body);
    } catch (err) {
      err.message = errorWords(err);
      throw err;
    }
  }

  const status = (text, kind) => {
    $("share-status").textContent = text;
    $("share-status").className = kind === "error" ? "error" : "muted";
  };

  function show(session) {
    const link = session.share_url || "";
    $("share-link").value = link;
    $("share-link-row").hidden = !link;
    $("share-create").hidden = Boolean(link) || !session.can_change;
    $("share-revoke").hidden = !link;
    const team = session.team && session.visibility === "team" ? `the team ${session.team.name}` : "its owner only";
    $("share-who").textContent =
      `Seen by ${team}${link ? " and anyone with the link" : ""}.` +
      (session.can_change ? "" : " You may replay it, not share it.");
    $("share-visibility").value = session.team && session.visibility === "team" ? session.team.id : "";
  }

  async function load() {
    const session = await call("GET", page.sessionApiUrl);
    if (page.isOwner) {
      const teams = (await call("GET", page.teamsApiUrl)).filter((t) => t.role !== "viewer");
      const select = $("share-visibility");
      select.replaceChildren(new Option("Private (only me)", ""));
      for (const t of teams) select.append(new Option(`Team: ${t.name}`, t.id));
      if (session.team && !teams.some((t) => t.id === session.team.id)) select.append(new Option(`Team: ${session.team.name}`, session.team.id));
      $("share-visibility-label").hidden = false;
    }
    show(session);
  }

  $("share-visibility").addEventListener("change", async (e) => {
    const team = e.target.value || null;
    try {
      show(await call("PATCH", page.sessionApiUrl, { team, visibility: team ? "team" : "private" }));
      status(team ? "Now visible to the team." : "Now private.");
    } catch (err) {
      status(`Not saved: ${err.message}`, "error");
    }
  });
  $("share-create").addEventListener("click", async () => {
    try {
      show(await call("POST", page.sessionApiUrl + "/share", {}));
      status("Link created: anyone with it can replay this recording.");
    } catch (err) {
      status(`Could not create a link: ${err.message}`, "error");
    }
  });
  $("share-revoke").addEventListener("click", async () => {
    try {
      show(await call("DELETE", page.sessionApiUrl + "/share"));
      status("Link revoked: it no longer opens.");
    } catch (err) {
      status(`Could not revoke: ${err.message}`, "error");
    }
  });
  $("share-copy").addEventListener("click", async () => {
    if (await copyText($("share-link").value)) status("Copied.");
    else $("share-link").select();
  });
  $("rerun").addEventListener("click", async (e) => {
    e.target.disabled = true;
    e.target.textContent = "Starting…";
    try {
      const rerun = await call("POST", page.sessionApiUrl + "/rerun", {});
      location.href = `/sessions/${page.id}/compare/${rerun.id}/`;
    } catch (err) {
      e.target.disabled = false;
      e.target.textContent = "Re-run";
      status(`Could not re-run: ${err.message}`, "error");
      $("share-box").open = true;
    }
  });
  load().catch((err) => status(`Could not load the sharing settings: ${err.message}`, "error"));
}
