// Two things the console offers testers: "Add as check" (the conversation just held becomes a check of the
// preset the session came from: POST /api/sessions/{id}/check, a new version of the preset) and an audio file
// sent as the user's turn (POST /api/sessions/{id}/audio-turn: the server decodes it, resamples it to the
// session's input rate, appends it and commits it as the session's turn detection wants). No microphone needed.

import { call, csrfToken, errorWords } from "./api.js";
import { h } from "./dom.js";

// The audio file: its own fetch, as multipart (api.js speaks JSON only).
async function sendAudio(sessionId, file) {
  const body = new FormData();
  body.append("file", file, file.name);
  let res;
  try {
    res = await fetch(`/api/sessions/${encodeURIComponent(sessionId)}/audio-turn`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      body,
    });
  } catch (err) {
    throw Object.assign(new Error("The playground did not answer (network error)."), { status: 0 });
  }
  const data = await res.json().catch(() => ({ detail: res.statusText }));
  if (!res.ok) throw Object.assign(new Error(data.detail || `HTTP ${res.status}`), { status: res.status, field: data.field });
  return data;
}

export function createConsoleChecks({ page, showBanner }) {
  const $ = (id) => document.getElementById(id);

  // --- an audio file as the user's turn ----------------------------------------------------------------

  const fileInput = $("audio-file");
  const fileButton = $("audio-file-button");
  fileButton.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", async () => {
    const file = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (!file) return;
    fileButton.disabled = true;
    showBanner(`Sending ${file.name}…`, "info");
    try {
      const out = await sendAudio(page.id, file);
      const resampled = out.source_rate === out.rate ? `${out.rate} Hz` : `resampled from ${out.source_rate} to ${out.rate} Hz`;
      const who = out.committed_by === "server_vad" ? out.note : "committed by the playground";
      showBanner(`Sent ${out.filename} (${out.seconds.toFixed(1)} s, ${resampled}) as your turn: ${who}.`, "info");
    } catch (err) {
      showBanner(`${file.name} was not sent${err.status ? ` (HTTP ${err.status})` : ""}: ${errorWords(err)}`, "error");
    } finally {
      fileButton.disabled = false;
    }
  });

  // --- Add as check ------------------------------------------------------------------------------------

  const addButton = $("add-as-check");
  const dialog = $("add-check-dialog");
  const nameInput = $("add-check-name");
  const result = $("add-check-result");
  if (!page.preset) return { sendAudio };
  addButton.hidden = false;
  addButton.title = `Turn this conversation into a check of the preset “${page.preset.name}”`;
  addButton.addEventListener("click", () => {
    result.replaceChildren();
    result.hidden = true;
    nameInput.value = "";
    dialog.showModal();
    nameInput.focus();
  });
  $("add-check-cancel").addEventListener("click", () => dialog.close());
  $("add-check-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const submit = $("add-check-submit");
    submit.disabled = true;
    try {
      const name = nameInput.value.trim();
      const out = await call("POST", `/sessions/${page.id}/check`, name ? { name } : {});
      const turns = out.check.turns.length;
      result.replaceChildren(
        h("span", {}, `Added “${out.check.name}” (${turns} turn${turns === 1 ? "" : "s"}) to “${out.preset.name}”, now version ${out.version}. `),
        h("a", { href: out.preset_url, id: "add-check-open" }, "Open its Checks tab"),
      );
      result.dataset.kind = "ok";
    } catch (err) {
      result.replaceChildren(`Not added${err.status ? ` (HTTP ${err.status})` : ""}: ${errorWords(err)}`);
      result.dataset.kind = "error";
    } finally {
      result.hidden = false;
      submit.disabled = false;
    }
  });
  return { sendAudio };
}
