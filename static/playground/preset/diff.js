// A unified diff (the API's text between two versions) drawn as lines coloured by kind, or side
// by side: context on both sides, a run of removed lines facing the run of added ones.

import { h } from "../dom.js";

function kindOf(line) {
  if (line.startsWith("@@")) return "hunk";
  if (line.startsWith("+")) return "add";
  if (line.startsWith("-")) return "del";
  return "ctx";
}

// The diff's element; the file header lines (--- and +++) say nothing here and are left out.
export function diffElement(text, layout, from, to) {
  const lines = text.split("\n").filter((l) => !l.startsWith("--- ") && !l.startsWith("+++ "));
  return layout === "split" ? splitDiff(lines, from, to) : unifiedDiff(lines);
}

function unifiedDiff(lines) {
  return h(
    "pre",
    { class: "diff unified" },
    lines.map((l) => h("span", { class: "dl dl-" + kindOf(l) }, l || " ")),
  );
}

function splitDiff(lines, from, to) {
  const rows = [];
  let dels = [];
  let adds = [];
  const flush = () => {
    for (let i = 0; i < Math.max(dels.length, adds.length); i++) rows.push([dels[i], adds[i]]);
    dels = [];
    adds = [];
  };
  for (const l of lines) {
    const k = kindOf(l);
    if (k === "del") dels.push(l);
    else if (k === "add") adds.push(l);
    else {
      flush();
      rows.push(k === "hunk" ? ["@@", l] : [l, l]);
    }
  }
  flush();
  const cell = (l) => {
    if (l === undefined) return h("td", { class: "dl dl-empty" }, "");
    const k = kindOf(l);
    return h("td", { class: "dl dl-" + k }, k === "ctx" ? l.slice(1) || " " : l.slice(1));
  };
  const body = rows.map(([a, b]) =>
    a === "@@" ? h("tr", {}, h("td", { class: "dl dl-hunk", colspan: "2" }, b)) : h("tr", {}, cell(a), cell(b)),
  );
  return h(
    "table",
    { class: "diff split" },
    h("thead", {}, h("tr", {}, h("th", {}, `v${from}`), h("th", {}, `v${to}`))),
    h("tbody", {}, body),
  );
}
