// The event log: every frame, both directions, in a virtualized list. All frames stay in memory
// arrays; only the rows in view (plus a few) are in the DOM, each one fixed height, so tens of
// thousands of events scroll as smoothly as ten. Consecutive frames of one type and direction
// share a row with a count ("response.output_text.delta ×37"); merging runs over the frames
// shown, so hiding audio deltas lets the transcript deltas between them merge. With a type or a
// search chosen, nothing merges: each match is one row.

import { b64Bytes, trimBlobs } from "./base64.js";
import { copyText, h } from "./dom.js";
import { fmtInt } from "./format.js";

export function createEventLog({ store }) {
  const ROW_H = 24; // px; must match --log-row-h in console.css
  const DETAIL_H = 300; // px of the one expanded row's JSON
  const OVERSCAN = 12; // rows rendered beyond each edge of the view
  const MERGED_SHOWN = 50; // frames of a merged row shown in its detail (Copy takes all)
  // Events carrying base64 audio: hidden unless "Audio deltas" is ticked.
  const AUDIO_TYPES = new Set(["response.output_audio.delta", "response.audio.delta", "input_audio_buffer.append"]);
  const DIR_ARROW = { client: "→", server: "←", playground: "!" };
  const DIR_TITLE = { client: "sent by the browser", server: "from the upstream", playground: "the playground's notice" };

  const viewport = document.getElementById("log-viewport");
  const list = document.getElementById("events");
  const countBox = document.getElementById("event-count");
  const searchBox = document.getElementById("log-search");
  const typeSelect = document.getElementById("log-type");
  const audioBox = document.getElementById("log-audio");
  const dirBoxes = {
    client: document.getElementById("log-dir-client"),
    server: document.getElementById("log-dir-server"),
    playground: document.getElementById("log-dir-playground"),
  };
  const jumpButton = document.getElementById("log-jump");

  let entries = []; // frames in the log (Clear empties it, not the store)
  let searchCache = []; // lower-cased text per entry, made on the first search
  let rows = []; // {key, dir, first, last, count, members, ver, preview, bytes}
  const seenTypes = new Set();
  const filter = { search: "", type: "", audio: false, dirs: { client: true, server: true, playground: true } };
  let expanded = -1; // the row whose JSON is open
  let cursor = -1; // the keyboard's row
  let follow = true; // keep the newest row in view until the user scrolls up
  let pinnedTop = 0; // scrollTop as the last render left it
  let pool = new Map(); // row index → its <li>, for the rows now in the DOM
  let scheduled = false;

  function keyOf(frame) {
    if (frame.event) return frame.event.type || "(no type)";
    return "playground: " + ((frame.notice && frame.notice.kind) || "notice");
  }

  // The store keeps only the size of our own microphone appends (store.js, forgetOwnAudio).
  function audioBytes(frame) {
    if (frame.audioBytes !== undefined) return frame.audioBytes;
    const e = frame.event || {};
    return b64Bytes(e.delta || e.audio || "");
  }

  function summary(frame) {
    const n = frame.notice;
    if (n) return [n.message, n.field ? `(field ${n.field})` : ""].filter(Boolean).join(" ");
    const e = frame.event || {};
    if (e.type === "error" && e.error) return [e.error.code, e.error.message].filter(Boolean).join(": ");
    if (AUDIO_TYPES.has(e.type)) return `[base64 audio, ${fmtInt(audioBytes(frame))} bytes]`;
    if (typeof e.delta === "string") return JSON.stringify(e.delta);
    if (e.session) {
      const s = e.session;
      const out = (s.audio && s.audio.output) || {};
      return [s.output_modalities && s.output_modalities.join("+"), out.voice, s.tools && `${s.tools.length} tools`]
        .filter(Boolean)
        .join(" · ");
    }
    if (e.item) {
      const item = e.item;
      const text = (item.content || []).map((p) => p.text || p.transcript || "").join(" ");
      const what = item.type === "message" ? item.role : item.type;
      return [item.id, what, item.name, text && JSON.stringify(text.slice(0, 120)), item.output && item.output.slice(0, 80)]
        .filter(Boolean)
        .join(" · ");
    }
    if (e.response && typeof e.response === "object") {
      const r = e.response;
      const usage = r.usage ? `${r.usage.total_tokens} tokens` : "";
      return [r.id, r.status, usage].filter(Boolean).join(" · ");
    }
    if (e.type === "response.function_call_arguments.done") return `${e.name}(${e.arguments})`;
    return e.item_id || e.response_id || "";
  }

  function passes(frame, key) {
    if (!filter.dirs[frame.direction]) return false;
    if (!filter.audio && AUDIO_TYPES.has(key)) return false;
    if (filter.type && key !== filter.type) return false;
    if (filter.search) {
      const index = frame.__logIndex;
      if (searchCache[index] === undefined) {
        searchCache[index] = (key + " " + JSON.stringify(trimBlobs(frame.event || frame.notice))).toLowerCase();
      }
      if (!searchCache[index].includes(filter.search)) return false;
    }
    return true;
  }

  function place(index) {
    const frame = entries[index];
    const key = keyOf(frame);
    if (!passes(frame, key)) return;
    const last = rows[rows.length - 1];
    const e = frame.event || {};
    // Merge only in the overview: once a type or a search is chosen, each match is a row of its own.
    if (last && last.key === key && last.dir === frame.direction && !filter.type && !filter.search) {
      last.last = index;
      last.count += 1;
      if (last.members) last.members.push(index);
      else last.members = [last.first, index];
      last.ver += 1;
      // A merged row previews what its deltas add up to (text) or weigh (audio).
      if (AUDIO_TYPES.has(key)) last.bytes += audioBytes(frame);
      else if (typeof e.delta === "string" && last.preview.length < 400) last.preview = joinDelta(last, e.delta);
      return;
    }
    const row = { key, dir: frame.direction, first: index, last: index, count: 1, members: null, ver: 0 };
    row.bytes = AUDIO_TYPES.has(key) ? audioBytes(frame) : 0;
    row.text = typeof e.delta === "string" && !AUDIO_TYPES.has(key) ? e.delta : null;
    row.preview = summary(frame);
    rows.push(row);
  }

  function joinDelta(row, delta) {
    row.text = (row.text || "") + delta;
    return JSON.stringify(row.text);
  }

  function rowSummary(row) {
    if (row.count > 1 && AUDIO_TYPES.has(row.key)) return `[base64 audio, ${fmtInt(row.bytes)} bytes in all]`;
    return row.preview;
  }

  // --- incoming frames -------------------------------------------------------------------------

  function add(frame) {
    frame.__logIndex = entries.length;
    entries.push(frame);
    const key = keyOf(frame);
    if (!seenTypes.has(key)) addTypeOption(key);
    place(frame.__logIndex);
    schedule();
  }

  function addTypeOption(key) {
    seenTypes.add(key);
    const option = h("option", { value: key }, key);
    // Keep the list sorted so a type is easy to find.
    const after = Array.from(typeSelect.options).find((o) => o.value && o.value > key);
    typeSelect.insertBefore(option, after || null);
  }

  function rebuild() {
    rows = [];
    for (let i = 0; i < entries.length; i++) place(i);
    expanded = -1;
    cursor = Math.min(cursor, rows.length - 1);
    for (const el of pool.values()) el.remove();
    pool = new Map();
    render(); // at once: no frame with an empty list between the old rows and the new
  }

  function clear() {
    entries = [];
    searchCache = [];
    rows = [];
    expanded = -1;
    cursor = -1;
    follow = true;
    for (const el of pool.values()) el.remove();
    pool = new Map();
    render();
  }

  // --- geometry ----------------------------------------------------------------------------------

  function topOf(i) {
    return i * ROW_H + (expanded >= 0 && i > expanded ? DETAIL_H : 0);
  }
  function indexAt(y) {
    if (expanded < 0 || y < (expanded + 1) * ROW_H) return Math.floor(y / ROW_H);
    if (y < (expanded + 1) * ROW_H + DETAIL_H) return expanded;
    return Math.floor((y - DETAIL_H) / ROW_H);
  }
  function totalHeight() {
    return rows.length * ROW_H + (expanded >= 0 ? DETAIL_H : 0);
  }

  // --- rendering ---------------------------------------------------------------------------------

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(render);
  }

  function render() {
    scheduled = false;
    const total = totalHeight();
    list.style.height = total + "px";
    if (follow) viewport.scrollTop = total;
    const top = viewport.scrollTop;
    pinnedTop = top;
    const height = viewport.clientHeight || 400;
    const start = Math.max(0, indexAt(top) - OVERSCAN);
    const end = Math.min(rows.length, indexAt(top + height) + 1 + OVERSCAN);
    const next = new Map();
    const ordered = [];
    for (let i = start; i < end; i++) {
      const row = rows[i];
      // Rebuild a row only when it changed, so an open row's JSON keeps its scroll and selection.
      const version = `${row.ver}|${i === expanded}|${i === cursor}|${row.first}`;
      let el = pool.get(i);
      if (!el || el.__version !== version) {
        if (el) el.remove();
        el = buildRow(i, row);
        el.__version = version;
      }
      el.style.transform = `translateY(${topOf(i)}px)`;
      pool.delete(i);
      next.set(i, el);
      ordered.push(el);
    }
    for (const el of pool.values()) el.remove();
    pool = next;
    // Put rows in order, moving only those out of place.
    let ref = list.firstChild;
    for (const el of ordered) {
      if (el === ref) ref = ref.nextSibling;
      else list.insertBefore(el, ref);
    }
    const shown = rows.length;
    countBox.textContent =
      `${fmtInt(entries.length)} events` + (shown !== entries.length ? ` · ${fmtInt(shown)} rows shown` : "");
    jumpButton.hidden = follow || rows.length === 0;
  }

  function frameTime(frame) {
    return fmtInt(store.since(frame.ts));
  }

  function buildRow(i, row) {
    const first = entries[row.first];
    const lastFrame = entries[row.last];
    const seq =
      first.seq === null ? "·" : row.count > 1 && lastFrame.seq !== null ? `${first.seq}–${lastFrame.seq}` : `${first.seq}`;
    const classes = ["log-row", "dir-" + row.dir];
    if (row.key === "error" || row.key === "playground: rejected") classes.push("is-error");
    if (i === expanded) classes.push("expanded");
    if (i === cursor) classes.push("cursor");
    const li = h(
      "li",
      { class: classes.join(" "), id: "log-row-" + i, dataset: { row: String(i) }, "aria-expanded": String(i === expanded) },
      h(
        "div",
        { class: "log-line", title: `${row.key} — click to ${i === expanded ? "collapse" : "expand"}` },
        h("span", { class: "seq" }, seq),
        h("span", { class: "dir", title: DIR_TITLE[row.dir] || row.dir }, DIR_ARROW[row.dir] || "?"),
        h("span", { class: "t" }, frameTime(first)),
        h(
          "span",
          { class: "type-cell" },
          h("span", { class: "type" }, row.key),
          row.count > 1 ? h("span", { class: "count" }, "×" + fmtInt(row.count)) : null,
        ),
        h("span", { class: "sum" }, rowSummary(row)),
      ),
    );
    if (i === expanded) li.append(buildDetail(row));
    return li;
  }

  function displayFrame(frame) {
    const out = { seq: frame.seq, direction: frame.direction, ts: frame.ts };
    if (frame.event) out.event = trimBlobs(frame.event);
    if (frame.notice) out.notice = frame.notice;
    return out;
  }

  function members(row) {
    return row.members || [row.first];
  }

  function buildDetail(row) {
    const indexes = members(row);
    let text;
    if (indexes.length === 1) text = JSON.stringify(displayFrame(entries[indexes[0]]), null, 2);
    else {
      const shown = indexes.slice(0, MERGED_SHOWN).map((i) => displayFrame(entries[i]));
      text = JSON.stringify(shown, null, 2);
      if (indexes.length > MERGED_SHOWN) text += `\n… and ${fmtInt(indexes.length - MERGED_SHOWN)} more (Copy takes them all)`;
    }
    const status = h("span", { class: "muted copy-status", "aria-live": "polite" });
    const copy = h("button", { type: "button", class: "small copy" }, indexes.length > 1 ? "Copy events" : "Copy event");
    copy.addEventListener("click", async (e) => {
      e.stopPropagation();
      // The whole event(s), audio included: ready to paste into the composer or a script.
      const payload = indexes.map((i) => entries[i].event || entries[i].notice);
      const ok = await copyText(JSON.stringify(indexes.length === 1 ? payload[0] : payload, null, 2));
      status.textContent = ok ? "Copied." : "Copy failed: select the text instead.";
    });
    const base64Note = AUDIO_TYPES.has(row.key) ? " · base64 shortened for display" : "";
    return h(
      "div",
      { class: "log-detail", style: `height:${DETAIL_H}px` },
      h(
        "div",
        { class: "log-detail-bar" },
        copy,
        status,
        h("span", { class: "muted" }, `${fmtInt(indexes.length)} frame${indexes.length > 1 ? "s" : ""}${base64Note} · Esc closes`),
      ),
      h("pre", { class: "log-json", tabindex: "0" }, text),
    );
  }

  // --- interaction -------------------------------------------------------------------------------

  function toggle(i) {
    expanded = expanded === i ? -1 : i;
    cursor = i;
    follow = false;
    schedule();
  }

  function collapse() {
    if (expanded < 0) return false;
    const was = expanded;
    expanded = -1;
    schedule();
    cursor = was;
    return true;
  }

  function showRow(i) {
    const top = topOf(i);
    const bottom = top + ROW_H + (i === expanded ? DETAIL_H : 0);
    if (top < viewport.scrollTop) viewport.scrollTop = top;
    else if (bottom > viewport.scrollTop + viewport.clientHeight) viewport.scrollTop = bottom - viewport.clientHeight;
  }

  function moveCursor(to) {
    if (!rows.length) return;
    cursor = Math.max(0, Math.min(rows.length - 1, to));
    follow = cursor === rows.length - 1;
    showRow(cursor);
    viewport.setAttribute("aria-activedescendant", "log-row-" + cursor);
    schedule();
  }

  list.addEventListener("click", (e) => {
    if (e.target.closest(".log-detail")) return; // selecting JSON text must not collapse it
    const li = e.target.closest("li[data-row]");
    if (li) toggle(Number(li.dataset.row));
  });

  viewport.addEventListener("scroll", () => {
    const atBottom = viewport.scrollTop + viewport.clientHeight >= viewport.scrollHeight - ROW_H / 2;
    // Only a scroll up stops following. The scroll event of our own render can arrive after the
    // viewport shrank (the toolbar wrapped as a long type joined the filter): that is not the user.
    follow = atBottom || (follow && viewport.scrollTop >= pinnedTop);
    schedule();
  });

  viewport.addEventListener("keydown", (e) => {
    if (e.target.closest(".log-detail") && e.key !== "Escape") return;
    const page = Math.max(1, Math.floor(viewport.clientHeight / ROW_H) - 1);
    const at = cursor < 0 ? indexAt(viewport.scrollTop) : cursor;
    const moves = { ArrowDown: at + 1, ArrowUp: at - 1, PageDown: at + page, PageUp: at - page, Home: 0, End: rows.length - 1 };
    if (e.key in moves) {
      e.preventDefault();
      moveCursor(moves[e.key]);
    } else if ((e.key === "Enter" || e.key === " ") && cursor >= 0) {
      e.preventDefault();
      toggle(cursor);
      showRow(cursor);
    } else if (e.key === "Escape" && collapse()) {
      e.stopPropagation(); // this Esc is spent: the page's own Esc handling must not run too
      viewport.focus();
    }
  });

  let searchTimer = null;
  searchBox.addEventListener("input", () => {
    clearTimeout(searchTimer);
    // Typing fast over 20,000 events: filter once the typing pauses.
    searchTimer = setTimeout(() => {
      filter.search = searchBox.value.trim().toLowerCase();
      rebuild();
    }, 150);
  });
  typeSelect.addEventListener("change", () => {
    filter.type = typeSelect.value;
    rebuild();
  });
  audioBox.addEventListener("change", () => {
    filter.audio = audioBox.checked;
    rebuild();
  });
  for (const [dir, box] of Object.entries(dirBoxes)) {
    box.addEventListener("change", () => {
      filter.dirs[dir] = box.checked;
      rebuild();
    });
  }
  document.getElementById("log-clear").addEventListener("click", clear);
  jumpButton.addEventListener("click", () => {
    follow = true;
    schedule();
  });
  // A viewport that changes size (window resized, toolbar wrapped, panel unfolded) re-renders:
  // more rows may fit, and a followed tail is pinned to the new bottom.
  new ResizeObserver(schedule).observe(viewport);
  filter.audio = audioBox.checked;

  // Open the row holding the frame numbered `seq` and bring it into view (a link to one moment of a
  // recording, such as a failed check's #seq=N). Audio deltas are shown first if it is one of them.
  // False when the log holds no such frame, or the filters chosen hide it.
  function reveal(seq) {
    const index = entries.findIndex((f) => f.seq === seq);
    if (index < 0) return false;
    if (!filter.audio && AUDIO_TYPES.has(keyOf(entries[index]))) {
      audioBox.checked = true;
      filter.audio = true;
      rebuild();
    }
    const row = rows.findIndex((r) => members(r).includes(index));
    if (row < 0) return false;
    expanded = row;
    cursor = row;
    follow = false;
    render();
    showRow(row);
    render();
    return true;
  }

  store.subscribe(add);
  schedule();

  return {
    reveal,
    get entries() {
      return entries;
    },
    get rows() {
      return rows;
    },
    collapse,
    clear,
    // Render now instead of on the next animation frame (tests measure ingest + render).
    flush() {
      render();
    },
    renderedRows() {
      return list.children.length;
    },
  };
}
