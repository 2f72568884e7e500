// The preset page's header, banners and About box: the name and badges, which actions this viewer
// is offered (Run, Fork, Move to trash), the trash and read-only banners, and the preset's facts.

import { h } from "../dom.js";
import { fmtDate } from "../format.js";
import { fill } from "../preset-common.js";

export function badge(text, cls) {
  return h("span", { class: "badge " + (cls || "") }, text);
}

export function createHeader(preset) {
  const { page } = preset;
  const $ = (id) => document.getElementById(id);

  function render() {
    const d = preset.detail;
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
    $("run-preset").title = preset.dirty ? "Runs the saved version; save your changes first to run them." : "";
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
    const d = preset.detail;
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

  return { render };
}
