// "Send anything": pick one of the eleven client event types, edit its JSON (prefilled with a
// valid template), and send it over the socket. The JSON is checked before it goes; what the
// server refuses anyway comes back as a `rejected` notice and is shown right here.

import { h, submitOnCtrlEnter } from "./dom.js";
import { check as checkEvent, template } from "./templates.js";

export function createComposer({ types, send, context }) {
  const form = document.getElementById("composer");
  const select = document.getElementById("composer-type");
  const area = document.getElementById("composer-json");
  const errorsBox = document.getElementById("composer-errors");
  const sendButton = document.getElementById("composer-send");
  const status = document.getElementById("composer-status");
  let timer = null;

  select.replaceChildren(...types.map((t) => new Option(t, t)));
  select.value = "response.create";

  function showErrors(errors) {
    errorsBox.replaceChildren(...errors.map((e) => h("li", {}, h("code", {}, e.field), " ", e.message)));
    errorsBox.hidden = errors.length === 0;
    area.setAttribute("aria-invalid", errors.length ? "true" : "false");
  }

  function check() {
    const result = checkEvent(area.value);
    showErrors(result.errors);
    sendButton.disabled = result.errors.length > 0;
    return result;
  }

  function loadTemplate() {
    area.value = JSON.stringify(template(select.value, context()), null, 2);
    status.textContent = "";
    check();
  }

  select.addEventListener("change", loadTemplate);
  document.getElementById("composer-reset").addEventListener("click", loadTemplate);
  area.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(check, 120);
  });
  submitOnCtrlEnter(area, form);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    clearTimeout(timer);
    const { event, errors } = check();
    if (errors.length) {
      area.focus();
      return;
    }
    const how = send(event, "composer");
    status.className = "composer-status muted";
    status.textContent =
      how === "sent" ? `Sent ${event.type}.` : how === "queued" ? `Queued ${event.type} until the socket is back.` : "The session has ended: not sent.";
  });

  loadTemplate();

  return {
    // A `rejected` notice for what we sent: shown where the user is looking.
    rejected(message, field) {
      status.className = "composer-status error";
      status.textContent = "Refused by the playground.";
      showErrors([{ field: field || "body", message }]);
    },
    select: loadTemplate,
  };
}
