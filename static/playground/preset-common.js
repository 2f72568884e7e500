// What the two preset pages (the list and one preset) share beyond the API and the DOM helpers:
// URLs filled from page_data's templates (never built here), tags typed as text, and downloads.

// Fill a template from page_data ("/presets/{id}/") with an id.
export function fill(template, id) {
  return template.replace("{id}", encodeURIComponent(id));
}

export function parseTags(text) {
  const seen = new Set();
  return text
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t && !seen.has(t) && seen.add(t));
}

export function download(filename, text, type) {
  const blob = new Blob([text], { type: type || "application/json" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

export function slug(name) {
  return (
    String(name || "preset")
      .toLowerCase()
      .replace(/[^a-z0-9а-яё]+/gi, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 60) || "preset"
  );
}
