// Light/dark theme: follows the system (prefers-color-scheme) until the header's toggle is used;
// the choice is kept in localStorage. Loaded in <head>, not deferred, so the page never flashes
// the wrong theme before the first paint: that is why it is the one classic script, not a module
// (modules always run after the document is parsed). It defines no globals.
"use strict";
(function () {
  const KEY = "playground.theme";
  const root = document.documentElement;
  const systemDark = window.matchMedia("(prefers-color-scheme: dark)");
  let choice = null; // "light", "dark" or null (follow the system)
  try {
    const value = localStorage.getItem(KEY);
    if (value === "light" || value === "dark") choice = value;
  } catch (e) {
    // Storage can be disabled: the system's choice still applies.
  }

  function effective() {
    return choice || (systemDark.matches ? "dark" : "light");
  }

  function apply() {
    if (choice) root.dataset.theme = choice;
    else delete root.dataset.theme;
    const button = document.getElementById("theme-toggle");
    if (!button) return;
    const dark = effective() === "dark";
    button.textContent = dark ? "☀ Light" : "☾ Dark";
    button.title = dark ? "Switch to the light theme" : "Switch to the dark theme";
    button.setAttribute("aria-pressed", String(dark));
  }

  apply();
  systemDark.addEventListener("change", apply);
  document.addEventListener("DOMContentLoaded", () => {
    apply();
    const button = document.getElementById("theme-toggle");
    if (!button) return;
    button.addEventListener("click", () => {
      choice = effective() === "dark" ? "light" : "dark";
      try {
        localStorage.setItem(KEY, choice);
      } catch (e) {
        // Not remembered across pages, but applied to this one.
      }
      apply();
    });
  });
})();
