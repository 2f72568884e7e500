// The home page. The "New session" form: POST /api/sessions (in a team, if one is chosen), then open the
// session's page.
// "Start from a preset": the onboarding presets first, then mine; Run opens a session from one
// (POST /api/presets/{id}/sessions, with the upstream chosen in the form above) and goes to it.

import { call } from "../api.js";
import { h } from "../dom.js";

function setupNewSession() {
  const form = document.getElementById("new-session");
  const errorBox = document.getElementById("new-session-error");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    errorBox.hidden = true;
    const data = new FormData(form);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    button.textContent = "Connecting…";
    try {
      // A team: the session is shared with it and counts against its budgets (docs/usage.md).
      const team = data.get("team") || undefined;
      const session = await call("POST", "/sessions", {
        upstream: data.get("upstream"),
        session: { instructions: data.get("instructions"), output_modalities: [data.get("modality")] },
        ...(team ? { team } : {}),
      });
      window.location.href = "/sessions/" + session.id + "/";
    } catch (err) {
      errorBox.textContent = err.message;
      errorBox.hidden = false;
      button.disabled = false;
      button.textContent = "Connect";
    }
  });
}

function setupStartPresets() {
  const list = document.getElementById("start-presets");
  const errorBox = document.getElementById("start-presets-error");
  if (!list) return;
  const upstream = document.querySelector("#new-session select[name=upstream]");
  const MAX = 12;

  function row(p) {
    const run = h("button", { type: "button", class: "small", "aria-label": "Run " + p.name }, "Run");
    run.addEventListener("click", async () => {
      errorBox.hidden = true;
      run.disabled = true;
      run.textContent = "Starting…";
      try {
        // respond: a preset's opening conversation gets its first answer at once (canned tool outputs too).
        const body = { respond: true, ...(upstream && upstream.value ? { upstream: upstream.value } : {}) };
        const session = await call("POST", "/presets/" + p.id + "/sessions", body);
        window.location.href = "/sessions/" + session.id + "/";
      } catch (err) {
        errorBox.textContent = `Could not start “${p.name}”: ${err.message}`;
        errorBox.hidden = false;
        run.disabled = false;
        run.textContent = "Run";
      }
    });
    const text = h(
      "div",
      { class: "sp-text" },
      h("a", { href: "/presets/" + p.id + "/" }, p.name),
      h("span", { class: "muted", title: p.description || "" }, (p.builtin ? "onboarding · " : "") + (p.description || "")),
    );
    return h("li", { "data-preset-id": p.id }, text, run);
  }

  call("GET", "/presets")
    .then((presets) => {
      presets.sort((a, b) => Number(b.builtin) - Number(a.builtin));
      list.replaceChildren(...presets.slice(0, MAX).map(row));
      if (!presets.length) list.replaceChildren(h("li", { class: "muted" }, "No presets yet."));
    })
    .catch((err) => {
      list.replaceChildren();
      errorBox.textContent = "Could not load the presets: " + err.message;
      errorBox.hidden = false;
    });
}

setupNewSession();
setupStartPresets();
