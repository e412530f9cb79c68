// lsmkv replay: renders the frames that lsmkv.viz.replay derived from a real trace.
// Each frame carries only the parts of the state that changed; full states are rebuilt
// once on load, so stepping back is as cheap as stepping forward.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const esc = (s) =>
    String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, (c) => ({
      "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
    })[c]);
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many || one + "s"}`;
  const VERDICT_TEXT = {
    range: "outside key range", bloom: "bloom: no", found: "found", deleted: "deleted",
    absent: "not here", false_positive: "bloom false positive",
  };

  let frames = [];
  let states = [];
  let index = 0;
  let timer = null;

  async function loadData() {
    const node = $("lsmkv-data");
    const text = node.textContent.trim();
    if (node.type === "application/json") return JSON.parse(text);
    // Large traces are embedded gzip-compressed (base64); the browser inflates them.
    const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return JSON.parse(await new Response(stream).text());
  }

  function rebuild(data) {
    frames = data.frames;
    let current = {};
    states = frames.map((f) => (current = Object.assign({}, current, f.state)));
  }

  // ------------------------------------------------------------------ rendering
  function chip(item) {
    const kind = item.kind || "put";
    const tomb = kind !== "put";
    const cls = ["chip", kind, item.shadowed ? "shadowed" : "", item.hl ? "hl appear" : ""].join(" ");
    const what = tomb ? "tombstone" : "value";
    const label = `${item.key}, seq ${item.seq}, ${what}${item.value && !tomb ? " " + item.value : ""}` +
      (item.shadowed ? ", shadowed by a newer version" : "");
    const val = item.value !== undefined && item.value !== null && !tomb
      ? `<span class="val">=${esc(item.value)}</span>` : "";
    const end = kind === "range_delete" ? `…${esc(item.value)}` : "";
    return `<li class="${cls}" aria-label="${esc(label)}" title="${esc(label)}">` +
      `${tomb ? "\u2715\uFE0E " : ""}${esc(item.key)}${end}${val}<sub>${item.seq}</sub></li>`;
  }

  function renderWal(wal, hl) {
    $("wal-file").textContent = wal.file || "";
    $("wal-meta").textContent = wal.file
      ? `${plural(wal.count, "record")}, ${wal.bytes} bytes; durable (fsync'd) up to byte ${wal.durable}`
      : "No WAL written yet.";
    const list = $("wal-records");
    if (wal.records === null) {
      list.innerHTML = `<li class="aggregate" data-aggregate="wal">${plural(wal.count, "record")}, ` +
        `${wal.synced} fsync'd: too many to draw one by one</li>`;
    } else {
      list.innerHTML = wal.records.map((r) => {
        const h = hl.has(r.id) ? " hl appear" : "";
        const sync = r.synced ? '<span class="sync" title="fsync\'d">\u2713</span>' : "";
        const label = `${r.label}, seq ${r.seq}, ${r.bytes} bytes, ${r.synced ? "durable" : "not yet durable"}`;
        return `<li class="rec k-${r.kind}${r.synced ? "" : " unsynced"}${h}" aria-label="${esc(label)}" ` +
          `title="${esc(label)}">${esc(r.label)}<sub>${r.seq}</sub> ${sync}</li>`;
      }).join("");
    }
    const older = wal.older && wal.older.length
      ? `<div class="older">Older WALs kept until their memtable is flushed: ${esc(wal.older.join(", "))}</div>` : "";
    list.insertAdjacentHTML("beforeend", older ? `<li>${older}</li>` : "");
  }

  function memBody(mem, hl) {
    if (mem.items === null) {
      return `<div class="aggregate" data-aggregate="${esc(mem.id)}">${plural(mem.count, "entry", "entries")}, ` +
        `${plural(mem.tombstones, "tombstone")}: too many to draw one by one</div>`;
    }
    if (!mem.items.length) return '<p class="empty">Empty.</p>';
    return `<ul class="entries">${mem.items.map((it) => chip(Object.assign({}, it, { hl: hl.has(it.id) }))).join("")}</ul>`;
  }

  function renderMem(mem, hl, read) {
    $("mem-meta").innerHTML = `<span id="mem-count">${mem.count}</span> ${mem.count === 1 ? "entry" : "entries"}, ` +
      `${mem.bytes} bytes, <span id="mem-tombstones">${mem.tombstones}</span> tombstone${mem.tombstones === 1 ? "" : "s"}` +
      (mem.wal ? `; logged in ${esc(mem.wal)}` : "");
    const box = $("mem");
    box.classList.toggle("walk-current", hl.has("mem") && !!read);
    $("mem-entries").innerHTML = memBody(mem, hl);
  }

  function renderImms(imms, hl, read) {
    const list = $("imm-list");
    if (!imms.length) {
      list.innerHTML = '<p class="empty">None.</p>';
      return;
    }
    list.innerHTML = imms.map((m) => {
      const cur = hl.has(m.id) ? (read ? " walk-current" : " hl") : "";
      return `<div class="imm${m.flushing ? " flushing" : ""}${cur}" data-id="${esc(m.id)}">` +
        `<p class="meta">${esc(m.id.replace("imm:", "#"))}: ${plural(m.count, "entry", "entries")}, ` +
        `${plural(m.tombstones, "tombstone")}${m.wal ? `, logged in ${esc(m.wal)}` : ""}` +
        `${m.flushing ? " \u2014 <strong>being flushed</strong>" : ""}</p>${memBody(m, hl)}</div>`;
    }).join("");
  }

  function tableBox(t, level, hl, verdicts, currentTarget) {
    const id = "sst:" + t.file;
    const cls = ["sst", t.state ? "s-" + t.state : "", hl.has(id) && id !== currentTarget ? "hl" : "",
      id === currentTarget ? "walk-current" : "", t.state === "new" ? "appear" : ""].join(" ");
    const range = t.smallest !== null ? `${t.smallest} \u2026 ${t.largest}` : "keys not in this trace";
    const tomb = t.tombstones === null ? "?" : t.tombstones;
    const badge = t.state === "new" ? '<span class="badge b-new">new</span>'
      : t.state === "input" ? '<span class="badge b-input">merging</span>' : "";
    const verdict = verdicts[id]
      ? `<span class="verdict v-${verdicts[id]}">${esc(VERDICT_TEXT[verdicts[id]] || verdicts[id])}</span>` : "";
    const keys = t.keys ? `<ul class="sst-keys entries">${t.keys.map((k) => chip(k)).join("")}</ul>` : "";
    const label = `${t.file}, level ${level}, keys ${range}, ${t.entries === null ? "?" : t.entries} entries, ` +
      `${tomb} tombstones${t.bloom ? `, bloom filter ${t.bloom} bits per key` : ""}` +
      (t.state === "new" ? ", being written" : t.state === "input" ? ", compaction input" : "") +
      (verdicts[id] ? `, read: ${VERDICT_TEXT[verdicts[id]] || verdicts[id]}` : "");
    return `<div class="${cls}" role="group" data-file="${esc(t.file)}" data-level="${level}" aria-label="${esc(label)}">` +
      `<div class="sst-name">${badge}${esc(t.file)} ${verdict}</div>` +
      `<div class="sst-range">${esc(range)}</div>${keys}` +
      `<div class="sst-meta"><span class="ent">${t.entries === null ? "?" : t.entries}</span> entries \u00b7 ` +
      `<span class="tomb" title="tombstones">\u2715\uFE0E <span class="tomb-count">${tomb}</span></span>` +
      (t.bloom ? ` \u00b7 bloom ${t.bloom} b/key` : " \u00b7 no bloom") + "</div></div>";
  }

  function renderLevels(levels, hl, read) {
    let deepest = 1;
    levels.forEach((l, n) => { if (l.files) deepest = Math.max(deepest, n); });
    const verdicts = {};
    let currentTarget = null;
    if (read) {
      read.steps.forEach((s) => { verdicts[s.target] = s.verdict; });
      if (!read.done && read.steps.length) currentTarget = read.steps[read.steps.length - 1].target;
    }
    const list = $("level-list");
    list.innerHTML = levels.slice(0, deepest + 1).map((l, n) => {
      const sum = `<span class="lsum">${plural(l.files, "table")}, ${plural(l.entries, "entry", "entries")}, ` +
        `${plural(l.tombstones, "tombstone")}</span>`;
      let body;
      if (l.tables === null) {
        const extra = (l.inputs ? `; ${l.inputs} being merged` : "") + (l.new ? `; ${l.new} being written` : "");
        body = `<div class="aggregate" data-aggregate="level-${n}">${plural(l.files, "table")} holding keys ` +
          `${esc(l.smallest)} \u2026 ${esc(l.largest)}: ${plural(l.entries, "entry", "entries")}, ` +
          `${plural(l.tombstones, "tombstone")}, ${l.bytes} bytes${extra} (too many to draw one by one)</div>`;
      } else if (!l.tables.length) {
        body = '<p class="empty">No tables.</p>';
      } else {
        body = `<div class="tables">${l.tables.map((t) => tableBox(t, n, hl, verdicts, currentTarget)).join("")}</div>`;
      }
      return `<div class="level" id="level-${n}" data-level="${n}" data-files="${l.files}" data-tombstones="${l.tombstones}">` +
        `<h3>Level ${n} ${sum}</h3>${body}</div>`;
    }).join("");
  }

  function renderDropped(dropped) {
    const box = $("dropped");
    box.hidden = !dropped;
    box.innerHTML = dropped
      ? `<h3>Gone for good in this compaction</h3><ul class="entries">${dropped.map((k) => chip(k)).join("")}</ul>`
      : "";
  }

  function renderRead(read) {
    const body = $("read-body");
    if (!read) {
      body.innerHTML = '<p class="empty">No read in progress.</p>';
      return;
    }
    const steps = read.steps.map((s, n) => {
      const cur = !read.done && n === read.steps.length - 1 ? ' class="current"' : "";
      return `<li${cur}><span class="verdict v-${esc(s.verdict)}">${esc(VERDICT_TEXT[s.verdict] || s.verdict)}</span> ${esc(s.text)}</li>`;
    }).join("");
    const answer = read.done
      ? `<p class="answer" id="read-answer" data-probed="${read.probed}">Returns ${esc(read.answer)}: ` +
        `${plural(read.consulted, "source")} consulted, <span id="read-probed">${read.probed}</span> ` +
        `${read.probed === 1 ? "table" : "tables"} probed (read amplification ${read.probed}).</p>`
      : "";
    body.innerHTML = `<p>get(<span class="key">${esc(read.key)}</span>)</p><ol>${steps}</ol>${answer}`;
  }

  const TOTALS = [
    ["tables", "SSTables"], ["sst_entries", "entries in SSTables"], ["sst_tombstones", "tombstones in SSTables"],
    ["memtable_entries", "memtable entries"], ["immutable_memtables", "immutable memtables"],
    ["writes", "puts"], ["deletes", "deletes"], ["gets", "gets"], ["tables_probed", "tables probed by gets"],
    ["bloom_skips", "bloom-filter skips"], ["flushes", "flushes"], ["compactions", "compactions"],
    ["tombstones_dropped", "tombstones dropped"],
  ];

  function renderTotals(totals) {
    $("totals-list").innerHTML = TOTALS.map(([k, label]) =>
      `<div><dt>${label}</dt><dd id="total-${k.replace(/_/g, "-")}">${totals[k]}</dd></div>`).join("");
  }

  function render(i) {
    index = Math.max(0, Math.min(frames.length - 1, i));
    const f = frames[index];
    const s = states[index];
    const hl = new Set(s.hl || []);
    const stage = $("stage");
    stage.dataset.step = String(index);
    stage.dataset.event = String(f.event);
    stage.dataset.name = f.name;
    $("now").dataset.category = f.category;
    $("caption").textContent = f.caption;
    $("call").textContent = s.call || "";
    renderWal(s.wal, hl);
    renderMem(s.mem, hl, s.read);
    renderImms(s.imms, hl, s.read);
    renderLevels(s.levels, hl, s.read);
    renderDropped(s.dropped);
    renderRead(s.read);
    renderTotals(s.totals);
    $("step-index").textContent = String(index);
    $("scrub").value = String(index);
    $("btn-back").disabled = index === 0;
    $("btn-forward").disabled = index === frames.length - 1;
    markTimeline();
    markTranscript();
  }

  // ----------------------------------------------------------------- timeline
  const MAX_TICKS = 400;
  let ticks = [];
  function buildTimeline() {
    const line = $("timeline");
    const per = Math.max(1, Math.ceil(frames.length / MAX_TICKS));
    const html = [];
    for (let i = 0; i < frames.length; i += per) {
      html.push(`<span class="t-${esc(frames[i].category)}"></span>`);
    }
    line.innerHTML = html.join("");
    ticks = Array.from(line.children);
    line.dataset.per = String(per);
  }
  let lastTick = null;
  function markTimeline() {
    const per = Number($("timeline").dataset.per || 1);
    const tick = ticks[Math.floor(index / per)];
    if (lastTick) lastTick.classList.remove("cur");
    if (tick) tick.classList.add("cur");
    lastTick = tick;
  }

  let transcriptBuilt = false;
  let lastLine = null;
  function buildTranscript() {
    if (transcriptBuilt) return;
    transcriptBuilt = true;
    $("transcript-list").innerHTML = frames.map((f) => `<li>${esc(f.caption)}</li>`).join("");
    markTranscript();
  }
  function markTranscript() {
    if (!transcriptBuilt) return;
    const line = $("transcript-list").children[index];
    if (lastLine) lastLine.classList.remove("cur");
    if (line) line.classList.add("cur");
    lastLine = line;
  }

  // ----------------------------------------------------------------- playback
  function speed() { return Number($("speed").value) || 1; }
  function setPlaying(on) {
    if (timer) { clearTimeout(timer); timer = null; }
    const btn = $("btn-play");
    btn.setAttribute("aria-pressed", on ? "true" : "false");
    btn.setAttribute("aria-label", on ? "Pause" : "Play");
    btn.innerHTML = on ? "\u23F8\uFE0E Pause" : "\u25B6\uFE0E Play";
    document.body.dataset.playing = on ? "true" : "false";
    // While playing, a screen reader would be flooded: it reads the caption when paused.
    $("caption").setAttribute("aria-live", on ? "off" : "polite");
    if (on) tick();
  }
  function tick() {
    timer = setTimeout(() => {
      if (index >= frames.length - 1) { setPlaying(false); return; }
      render(index + 1);
      tick();
    }, 1000 / speed());
  }
  function playing() { return timer !== null; }
  function toggle() {
    if (!playing() && index >= frames.length - 1) render(0);
    setPlaying(!playing());
  }
  function step(delta) { setPlaying(false); render(index + delta); }

  function wire() {
    $("btn-play").addEventListener("click", toggle);
    $("btn-back").addEventListener("click", () => step(-1));
    $("btn-forward").addEventListener("click", () => step(1));
    $("btn-first").addEventListener("click", () => { setPlaying(false); render(0); });
    $("btn-last").addEventListener("click", () => { setPlaying(false); render(frames.length - 1); });
    $("scrub").addEventListener("input", (e) => { setPlaying(false); render(Number(e.target.value)); });
    $("speed").addEventListener("change", () => { if (playing()) setPlaying(true); });
    $("transcript").addEventListener("toggle", buildTranscript);
    document.addEventListener("keydown", (e) => {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      const tag = e.target && e.target.tagName;
      if (e.key === " " || e.key === "Spacebar") {
        if (tag === "SELECT" || tag === "SUMMARY") return;
        e.preventDefault();
        toggle();
      } else if (tag === "INPUT" || tag === "SELECT") {
        return; // the slider and the speed list use the arrows themselves
      } else if (e.key === "ArrowRight") { e.preventDefault(); step(1); }
      else if (e.key === "ArrowLeft") { e.preventDefault(); step(-1); }
      else if (e.key === "Home") { e.preventDefault(); setPlaying(false); render(0); }
      else if (e.key === "End") { e.preventDefault(); setPlaying(false); render(frames.length - 1); }
    });
    // A focused button would also "click" on the space key's release: swallow it.
    document.addEventListener("keyup", (e) => {
      if (e.key === " " && e.target && e.target.tagName === "BUTTON") e.preventDefault();
    });
  }

  async function main() {
    let data;
    try {
      data = await loadData();
    } catch (err) {
      $("caption").textContent = "This browser could not read the embedded trace (" + err + ").";
      return;
    }
    rebuild(data);
    $("step-count").textContent = String(frames.length - 1);
    $("scrub").max = String(frames.length - 1);
    $("speed").value = String(data.speed || 1);
    buildTimeline();
    wire();
    render(0);
    document.body.dataset.ready = "true";
    window.lsmkvReplay = { frames: () => frames.length, index: () => index, go: render };
  }
  main();
})();
