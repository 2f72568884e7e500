// A team's page: an invitation link's text is selected when it gets the focus (ready to copy),
// and deleting the team asks first. Here rather than in onfocus= / onsubmit= attributes so the
// pages need no inline script.

for (const input of document.querySelectorAll(".invite-link")) {
  input.addEventListener("focus", () => input.select());
}

for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (e) => {
    if (!window.confirm(form.dataset.confirm)) e.preventDefault();
  });
}
