// The "New session" form: POST /api/sessions, then open the session's page.
"use strict";
(function () {
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
      const session = await playgroundApi.call("POST", "/sessions", {
        upstream: data.get("upstream"),
        session: { instructions: data.get("instructions"), output_modalities: [data.get("modality")] },
      });
      window.location.href = "/sessions/" + session.id + "/";
    } catch (err) {
      errorBox.textContent = err.message;
      errorBox.hidden = false;
      button.disabled = false;
      button.textContent = "Connect";
    }
  });
})();
