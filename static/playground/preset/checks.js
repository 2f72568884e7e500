// The preset page's Checks tab: run the preset's checks (all, or one) against an upstream with a repeat
// count, follow the run's progress, see the results matrix and open a cell's assertions, and edit the
// checks (check-form.js). Runs go through POST …/check-runs and are followed with GET /api/check-runs/{id}
// until they are over; the matrix shows the run live as attempts finish.

import { callUrl, describe } from "../api.js";
import { h, setStatus } from "../dom.js";
import { createCheckForm } from "./check-form.js";
import { renderDetail, renderMatrix } from "./check-results.js";

const POLL_MS = 400;
const LIVE = new Set(["queued", "running"]);

// preset: the page's shared state; onSaved after the checks were saved (a new version).
export function createChecks(preset, { onSaved }) {
  const { page } = preset;
  const $ = (id) => document.getElementById(id);
  const matrix = $("checks-matrix");
  const detail = $("checks-detail");
  const runAll = $("checks-run-all");
  const cancel = $("checks-cancel");
  const upstream = $("checks-upstream");
  const statusLine = $("checks-status");
  let runs = [];
  let loaded = false;
  let following = null; // the run being followed
  const form = createCheckForm(preset, {
    onSaved(answer) {
      onSaved(answer);
      render();
    },
  });

  for (const u of page.upstreams || []) {
    const option = h("option", { value: u.name, disabled: !u.available, title: u.available ? "" : "not configured here" }, u.title);
    upstream.append(option);
  }
  upstream.value = page.defaultUpstream || "emulator";

  function checkNames() {
    const names = ((preset.detail && preset.detail.content && preset.detail.content.checks) || []).map((c) => c.name);
    for (const run of runs) for (const r of run.results) if (!names.includes(r.check)) names.push(r.check);
    return names;
  }

  function canRun() {
    return Boolean(preset.detail && !preset.detail.deleted_at && !following && (preset.detail.content.checks || []).length);
  }

  function render() {
    const count = (preset.detail && preset.detail.content && preset.detail.content.checks) || [];
    $("checks-count").textContent = String(count.length);
    runAll.disabled = !canRun();
    runAll.title = preset.detail && preset.detail.deleted_at ? "Restore the preset to run its checks" : "";
    renderMatrix(matrix, { checks: checkNames(), runs, canRun: canRun(), onRun: (check) => start(check), onCell: openCell });
    const editable = preset.detail && preset.detail.can_change && !preset.detail.deleted_at;
    $("checks-readonly").hidden = Boolean(editable);
    for (const id of ["checks-form-view", "checks-json-view", "checks-actions"]) {
      if (!editable) $(id).hidden = true;
    }
    $("checks-actions").hidden = !editable;
    $("checks-view-form").disabled = !editable;
    $("checks-view-json").disabled = !editable;
  }

  async function load() {
    if (!page.checkRunsUrl) return;
    try {
      runs = await callUrl("GET", page.checkRunsUrl);
    } catch (err) {
      setStatus(statusLine, `Could not load the runs: ${describe(err)}`, "error");
    }
    loaded = true;
    render();
    const live = runs.find((r) => LIVE.has(r.state) && r.owner === page.username);
    if (live && !following) follow(live);
  }

  // The tab opened (or the preset was saved): fill the editor unless it holds unsaved work.
  function show() {
    if (!form.dirty) form.load();
    if (!loaded) load();
    else render();
  }

  function showProgress(run) {
    const box = $("checks-progress");
    box.hidden = false;
    delete box.dataset.verdict;
    const bar = $("checks-progress-bar");
    bar.max = Math.max(1, run.total);
    bar.value = run.done;
    const counts = [`${run.passed} passed`, `${run.failed} failed`, `${run.errors} errors`];
    if (run.incomplete) counts.push(`${run.incomplete} not fully run`);
    const what = run.check ? `“${run.check}”` : "all checks";
    const head = LIVE.has(run.state)
      ? `Running ${what} of v${run.version} on ${run.upstream}: ${run.done} of ${run.total} done`
      : `Run of ${what} (v${run.version}, ${run.upstream}) ${run.state}: ${run.done} of ${run.total} done`;
    $("checks-progress-text").textContent = `${head} · ${counts.join(", ")}${run.message ? ` · ${run.message}` : ""}`;
    box.dataset.state = run.state;
  }

  function upsert(run) {
    const i = runs.findIndex((r) => r.id === run.id);
    if (i >= 0) runs[i] = run;
    else runs.unshift(run);
  }

  async function follow(run) {
    following = run;
    cancel.hidden = run.owner !== page.username;
    showProgress(run);
    upsert(run);
    render();
    while (LIVE.has(run.state)) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      try {
        run = await callUrl("GET", page.checkRunUrl.replace("{id}", run.id));
      } catch (err) {
        setStatus(statusLine, `Lost track of the run: ${describe(err)}`, "error");
        break;
      }
      showProgress(run);
      upsert(run);
      render();
    }
    following = null;
    cancel.hidden = true;
    $("checks-progress").dataset.verdict = run.failed + run.errors ? "bad" : run.incomplete ? "partial" : "good";
    render();
  }

  async function start(check) {
    setStatus(statusLine, "");
    const body = {
      upstream: upstream.value || null,
      repeat: Number($("checks-repeat").value) || 1,
      concurrency: Number($("checks-concurrency").value) || null,
    };
    if (check) body.check = check;
    runAll.disabled = true;
    try {
      const run = await callUrl("POST", page.checkRunsUrl, body);
      follow(run);
    } catch (err) {
      setStatus(statusLine, `Not started: ${describe(err)}`, "error");
      render();
    }
  }

  function previous(check, run) {
    const older = runs.filter((r) => r.created_at < run.created_at);
    for (const r of older) {
      const found = r.results.find((x) => x.check === check && x.session);
      if (found) return found;
    }
    return null;
  }

  async function openCell(run, check) {
    detail.hidden = false;
    detail.replaceChildren(h("p", { class: "muted" }, "Loading…"));
    try {
      const full = await callUrl("GET", page.checkRunUrl.replace("{id}", run.id));
      renderDetail(detail, { run: full, check, page, previous });
      detail.scrollIntoView({ block: "nearest" });
    } catch (err) {
      detail.replaceChildren(h("p", { class: "error" }, `Could not load the run: ${describe(err)}`));
    }
  }

  runAll.addEventListener("click", () => start(null));
  cancel.addEventListener("click", async () => {
    if (!following) return;
    try {
      await callUrl("POST", page.checkRunUrl.replace("{id}", following.id) + "/cancel");
      setStatus(statusLine, "Cancelling: attempts under way finish, the rest are not started.", "muted");
    } catch (err) {
      setStatus(statusLine, `Not cancelled: ${describe(err)}`, "error");
    }
  });

  return {
    show,
    load,
    render,
    form,
    get runs() {
      return runs;
    },
    get following() {
      return following;
    },
  };
}
