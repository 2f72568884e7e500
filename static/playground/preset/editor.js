// The preset page's Content tab: name, tags, description and content (JSON), checked as typed and
// saved with PUT as a new version. Errors name their field; one inside the content links to its
// line. Read-only (not mine to change, or in the trash) the form shows the preset without actions.

import { callUrl } from "../api.js";
import { h, setStatus, submitOnCtrlEnter } from "../dom.js";
import { parseTags } from "../preset-common.js";
import { checkPreset, locate, stripField } from "./content-check.js";

const RUN_SAVED_ONLY = "Runs the saved version; save your changes first to run them.";

// preset: the page's shared state (page, detail, dirty, update). onSaved runs after a save, once
// the form shows what the server stored.
export function createEditor(preset, { onSaved }) {
  const $ = (id) => document.getElementById(id);
  const form = $("preset-form");
  const nameInput = $("pf-name");
  const tagsInput = $("pf-tags");
  const descInput = $("pf-description");
  const contentInput = $("pf-content");
  const errorsBox = $("pf-errors");
  const saveButton = $("save-preset");
  const saveStatus = $("save-status");
  const inputs = [nameInput, tagsInput, descInput, contentInput];

  function fill() {
    const detail = preset.detail;
    nameInput.value = detail.name;
    tagsInput.value = (detail.tags || []).join(", ");
    descInput.value = detail.description || "";
    contentInput.value = JSON.stringify(withoutChecks(detail.content), null, 2);
    const ro = !detail.can_change || Boolean(detail.deleted_at);
    for (const el of inputs) el.readOnly = ro;
    $("form-actions").hidden = ro;
    form.classList.toggle("is-readonly", ro);
    preset.dirty = false;
    showErrors([]);
    validate();
  }

  // The checks are edited on the Checks tab: shown there, not here, and kept as they are on a save here
  // (a "checks" key typed here replaces them).
  function withoutChecks(content) {
    const copy = Object.assign({}, content || {});
    delete copy.checks;
    return copy;
  }
  function withChecks(content) {
    if (!content || typeof content !== "object" || "checks" in content) return content;
    return Object.assign({}, content, { checks: (preset.detail.content && preset.detail.content.checks) || [] });
  }

  function inputFor(field) {
    if (!field) return null;
    if (field === "name") return nameInput;
    if (field === "description") return descInput;
    if (field.startsWith("tags")) return tagsInput;
    if (field === "content" || field.startsWith("content.") || field.startsWith("content[")) return contentInput;
    return null;
  }

  // errors: [{field, message}] shown as a list naming each field; the inputs at fault are marked.
  function showErrors(errors) {
    for (const el of inputs) el.removeAttribute("aria-invalid");
    errorsBox.replaceChildren();
    errorsBox.hidden = errors.length === 0;
    for (const e of errors) {
      const input = inputFor(e.field);
      if (input) input.setAttribute("aria-invalid", "true");
      const where = input === contentInput && e.field !== "content" ? locate(contentInput.value, e.field) : null;
      const li = h(
        "li",
        { dataset: { field: e.field || "" } },
        e.field ? h("code", { class: "field" }, e.field) : null,
        e.field ? ": " : "",
        e.message,
        where ? h("button", { type: "button", class: "link small goto", title: "Show it in the editor" }, `line ${where.line}`) : null,
      );
      if (where) {
        li.querySelector(".goto").addEventListener("click", () => {
          contentInput.focus();
          contentInput.setSelectionRange(where.index, contentInput.value.indexOf("\n", where.index));
        });
      }
      errorsBox.append(li);
    }
  }

  function check() {
    return checkPreset({ name: nameInput.value, tags: tagsInput.value, content: contentInput.value });
  }

  function validate() {
    const { errors } = check();
    showErrors(errors);
    saveButton.disabled = errors.length > 0;
    return errors.length === 0;
  }

  form.addEventListener("input", () => {
    preset.dirty = true;
    validate();
    setStatus(saveStatus, "Unsaved changes.", "muted");
    $("run-preset").title = RUN_SAVED_ONLY;
  });
  submitOnCtrlEnter(form, form);
  // Tab in the JSON editor indents instead of leaving it (Esc, then Tab, leaves).
  let escaped = false;
  contentInput.addEventListener("keydown", (e) => {
    if (e.key === "Escape") escaped = true;
    else if (e.key === "Tab" && !e.shiftKey && !escaped && !contentInput.readOnly) {
      e.preventDefault();
      document.execCommand("insertText", false, "  ");
    } else escaped = false;
  });
  $("pf-reset").addEventListener("click", () => {
    fill();
    setStatus(saveStatus, "Changes discarded.", "muted");
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const { errors, content } = check();
    if (errors.length) {
      showErrors(errors);
      return;
    }
    saveButton.disabled = true;
    setStatus(saveStatus, "Saving…", "muted");
    try {
      const saved = await callUrl("PUT", preset.page.apiUrl, {
        name: nameInput.value.trim(),
        description: descInput.value,
        tags: parseTags(tagsInput.value),
        content: withChecks(content),
      });
      // Keep fields the PUT may not echo (sharing), then show what the server stored.
      preset.update(saved);
      fill();
      setStatus(saveStatus, `Saved as version ${preset.detail.version}.`, "ok");
      onSaved();
    } catch (err) {
      saveButton.disabled = false;
      const list = err.errors && err.errors.length ? err.errors : [{ field: err.field, message: err.message }];
      showErrors(list.map((x) => ({ field: x.field, message: stripField(x.message, x.field) })));
      errorsBox.scrollIntoView({ block: "nearest" });
      setStatus(saveStatus, `Not saved${err.status ? ` (HTTP ${err.status})` : ""}: nothing was changed.`, "error");
    }
  });

  // An older version's content in the editor, unsaved: saving makes it the newest version.
  function loadContent(number, content) {
    contentInput.value = JSON.stringify(content, null, 2); // with that version's checks: saving restores them too
    preset.dirty = true;
    validate();
    setStatus(saveStatus, `Loaded version ${number} into the editor: Save changes makes it version ${preset.detail.version + 1}.`, "muted");
  }

  return { fill, loadContent };
}
