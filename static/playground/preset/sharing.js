// The preset page's Sharing box, for the preset's owner only (builtin presets are everyone's
// already): private or one of my teams, and a share link anyone can read it by.

import { callUrl, describe } from "../api.js";
import { copyText, setStatus } from "../dom.js";

export function createSharing(preset) {
  const { page } = preset;
  const $ = (id) => document.getElementById(id);
  const visSelect = $("share-visibility");
  const shareStatus = $("share-status");
  let teams = null; // my teams, fetched when the box is first shown

  async function render() {
    const d = preset.detail;
    const box = $("sharing-box");
    box.hidden = page.readOnly || !page.shareUrl || d.builtin || d.owner !== page.username;
    if (box.hidden) return;
    if (teams === null && page.teamsUrl) {
      const note = $("share-teams-note");
      try {
        teams = await callUrl("GET", page.teamsUrl);
      } catch (err) {
        teams = [];
        note.textContent = err.status === 404 ? "Teams are not available on this server yet." : `Could not list your teams: ${describe(err)}`;
        note.hidden = false;
      }
      if (teams.length === 0 && note.hidden) {
        note.textContent = "You are in no team yet: a team preset needs one.";
        note.hidden = false;
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
      preset.update(await callUrl("PATCH", page.apiUrl, body));
      render();
      setStatus(shareStatus, value === "private" ? "Now private." : `Now visible to the team.`, "ok");
    } catch (err) {
      button.disabled = false;
      setStatus(shareStatus, `Not saved: ${describe(err)}`, "error");
    }
  });

  // Create and Revoke: the same request-and-show, with their own words.
  function linkAction(id, method, body, done, failed) {
    $(id).addEventListener("click", async (e) => {
      const button = e.currentTarget;
      button.disabled = true;
      try {
        const out = await callUrl(method, page.shareUrl, body);
        // A revoke that does not echo share_url still leaves no link.
        const revoked = method === "DELETE" && out.share_url === undefined;
        preset.update(revoked ? { ...out, share_url: null } : out);
        await render();
        setStatus(shareStatus, done, "ok");
      } catch (err) {
        setStatus(shareStatus, `${failed}: ${describe(err)}`, "error");
      } finally {
        button.disabled = false;
      }
    });
  }
  linkAction("share-create", "POST", {}, "Link created: anyone with it can read this preset.", "Could not create a link");
  linkAction("share-revoke", "DELETE", undefined, "Link revoked: it no longer opens this preset.", "Could not revoke the link");

  $("share-copy").addEventListener("click", async () => {
    const ok = await copyText($("share-link").value);
    setStatus(shareStatus, ok ? "Link copied." : "Could not copy: select the link and copy it.", ok ? "ok" : "error");
  });

  return { render };
}
