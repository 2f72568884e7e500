// The preset page's "View code" tab: the preset as a runnable script (openai SDK, websockets or
// curl), fetched once per language, with Copy.

import { callUrl, describe } from "../api.js";
import { copyText, setStatus } from "../dom.js";

export function createCode(preset) {
  const { page } = preset;
  const $ = (id) => document.getElementById(id);
  const codeText = $("code-text");
  const codeCopy = $("code-copy");
  const codeStatus = $("code-status");
  const langButtons = document.querySelectorAll(".code-lang");
  const cache = new Map();
  let lang = "openai";

  async function show(wanted = lang) {
    lang = wanted;
    langButtons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.lang === wanted)));
    setStatus(codeStatus, "");
    let got = cache.get(wanted);
    if (!got) {
      codeText.textContent = "Loading…";
      codeCopy.disabled = true;
      try {
        got = await callUrl("GET", `${page.codeUrl}?lang=${encodeURIComponent(wanted)}`);
        cache.set(wanted, got);
      } catch (err) {
        if (lang !== wanted) return; // another language was asked for meanwhile
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
    if (lang !== wanted) return;
    codeText.textContent = got.code;
    $("code-filename").textContent = got.filename || "";
    codeCopy.disabled = false;
  }

  langButtons.forEach((b) => b.addEventListener("click", () => show(b.dataset.lang)));
  codeCopy.addEventListener("click", async () => {
    const ok = await copyText(codeText.textContent);
    setStatus(codeStatus, ok ? "Copied." : "Could not copy: select the code and copy it.", ok ? "ok" : "error");
  });

  // The tab was opened: the language shown last.
  return { show: () => show() };
}
