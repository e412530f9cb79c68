"""`lsmkv demo`: the guided tour, on a fresh store in a temporary directory.

Everything shown comes from the real engine: the store is opened with a trace listener
and each step prints the events its operations emitted (wal.append, wal.fsync,
memtable.insert, memtable.switch, flush.*, file.*, compaction.*, get), then the layers as
`stats()` reports them, with the files of each level followed from the flush and
compaction events. `where()` shows what a delete leaves on disk, and the `get` events
(the same walk as `explain_get`) show how a read goes through the layers. No figure is
typed into this script: change the engine and the tour changes with it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from ..db import DB
from ..db import open as open_store
from .render import Out, esc, human_bytes, n_entries, plural, show_bytes, show_hex
from .views import render_where, walk_step_text

Event = dict[str, Any]

FRUIT_FIRST = [(b"apple", b"red"), (b"cherry", b"dark red"), (b"elderberry", b"black")]
FRUIT_SECOND = [(b"banana", b"yellow"), (b"date", b"brown"), (b"fig", b"purple")]
DELETED = b"cherry"
FAR_KEY = b"elderberry"
STEPS = 7


class Tour:
    """The tour's state: the store, the events not yet shown, and the files per level as
    the flush and compaction events reported them."""

    def __init__(self, out: Out, path: str, step_mode: bool) -> None:
        self.out = out
        self.path = path
        self.step_mode = step_mode
        self.events: list[Event] = []
        self.shown = 0
        self.step_no = 0
        self.files: dict[str, dict[str, Any]] = {}  # name -> {level, size, entries}
        self.wal: str | None = None
        self.db: DB = open_store(path, trace=self.events.append, background_compaction=False)

    # ------------------------------------------------------------ structure
    def step(self, title: str) -> None:
        if self.step_no and self.step_mode:
            self.pause()
        self.step_no += 1
        self.out.print()
        self.out.rule(f"Step {self.step_no} of {STEPS}: {title}")

    def pause(self) -> None:
        try:
            self.out.console.input("[dim]  press Enter for the next step ...[/]")
        except EOFError:
            pass

    def say(self, text: str) -> None:
        self.out.print(text)

    def new_events(self) -> list[Event]:
        fresh = self.events[self.shown :]
        self.shown = len(self.events)
        for e in fresh:
            self.follow(e)
        return fresh

    def follow(self, e: Event) -> None:
        """Keep the per-level file list in step with the engine's events."""
        name = e["event"]
        if name == "wal.append":
            self.wal = e["file"]
        elif name == "memtable.switch":
            self.wal = e["new_wal"]
        elif name == "file.created":
            self.files[e["file"]] = {"level": None, "size": e["size"], "entries": e["entries"]}
        elif name == "flush.end":
            for f in e["files"]:
                self.files.setdefault(f, {"size": 0, "entries": 0})["level"] = 0
        elif name == "compaction.end":
            for f in e["outputs"]:
                info = self.files.setdefault(f["file"], {})
                info.update(level=e["output_level"], size=f["size"], entries=f["entries"])
        elif name == "file.deleted":
            self.files.pop(e["file"], None)

    # ------------------------------------------------------------ printing
    def show_events(self, events: list[Event], indent: str = "  ") -> None:
        shown = [(e["event"], t) for e in events if (t := self.event_text(e)) is not None]
        if not self.out.tty:
            for name, text in shown:
                self.out.print(f"{indent}{name:<17} {text}")
            return
        # On a terminal, a grid keeps a long line wrapping inside its own column.
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=len(indent) - 1)
        grid.add_column(style="cyan", no_wrap=True)
        grid.add_column()
        for name, text in shown:
            grid.add_row("", name, Text.from_markup(text))
        self.out.console.print(grid)

    def event_text(self, e: Event) -> str | None:
        name = e["event"]
        if name == "wal.append":
            seqs = (
                f"seq {e['first_seq']}"
                if e["first_seq"] == e["last_seq"]
                else f"seqs {e['first_seq']}..{e['last_seq']}"
            )
            return f"{e['file']} at byte {e['offset']}: +{e['bytes']} bytes ({seqs})"
        if name == "wal.fsync":
            return f"{e['file']} is durable up to byte {e['durable_offset']}"
        if name == "memtable.insert":
            kind = {0: "DELETE", 1: "PUT", 2: "RANGE_DELETE"}.get(e["kind"], str(e["kind"]))
            what = show_hex(e["key"])
            if e["value"] is not None and e["kind"] == 1:
                what += f" = {show_hex(e['value'])}"
            return (
                f"seq {e['seq']} {kind} {esc(what)}; the memtable now holds "
                f"{n_entries(e['memtable_entries'])}, {human_bytes(e['memtable_bytes'])}"
            )
        if name == "memtable.switch":
            return (
                f"the memtable ({n_entries(e['immutable_entries'])}) is frozen; new writes go "
                f"to a new memtable and a new WAL, {e['new_wal']}"
            )
        if name == "flush.begin":
            return (
                f"writing {n_entries(e['entries'])} ({human_bytes(e['bytes'])} of memtable) "
                f"logged in {e['wal']} to level 0"
            )
        if name == "file.created":
            return f"{e['file']}: {n_entries(e['entries'])}, {e['size']} bytes ({e['reason']})"
        if name == "flush.end":
            return (
                f"level 0 gains {', '.join(e['files'])} ({e['bytes']} bytes) in "
                f"{e['seconds'] * 1000:.1f} ms"
            )
        if name == "file.deleted":
            return f"{e['file']} removed (nothing live needs it any more)"
        if name == "compaction.begin":
            inputs = ", ".join(f"L{i['level']} {i['file']}" for i in e["inputs"])
            return (
                f"{e['reason']} compaction of L{e['level']} into L{e['output_level']}: "
                f"inputs {inputs}"
            )
        if name == "compaction.end":
            outs = ", ".join(f"{o['file']} ({o['size']} bytes)" for o in e["outputs"]) or "none"
            return (
                f"outputs {outs}; read {e['bytes_read']} bytes, wrote {e['bytes_written']}; "
                f"dropped {plural(e['tombstones_dropped'], 'tombstone')} and "
                f"{plural(e['shadowed_dropped'], 'shadowed version')}"
            )
        if name == "get":
            return None  # shown as a walk, step by step
        return ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("event", "t"))

    def show_layers(self) -> None:
        """The layers as they now are: WAL, memtables and each non-empty level."""
        s = self.db.stats()
        rows: list[list[str]] = []
        wal = self.wal or "?"
        rows.append(["WAL", wal, "", human_bytes(s["wal_bytes"]), "log of the memtable's writes"])
        mem = s["memtable"]
        rows.append(["memtable", "", str(mem["entries"]), human_bytes(mem["bytes"]), "in memory"])
        if s["immutable_memtables"]:
            rows.append(["immutable", "", "", "", f"{s['immutable_memtables']} waiting for flush"])
        deepest = max((lv["level"] for lv in s["levels"] if lv["files"]), default=0)
        for lv in s["levels"][: max(deepest, 1) + 1]:
            names = sorted(
                (n for n, f in self.files.items() if f.get("level") == lv["level"]),
                reverse=True,
            )
            note = "empty"
            if lv["files"]:
                note = (
                    f"keys {show_hex(lv['smallest_key'])} .. {show_hex(lv['largest_key'])}; "
                    f"{plural(lv['tombstones'], 'tombstone')}"
                )
            rows.append(
                [
                    f"L{lv['level']}",
                    ", ".join(names) if names else "",
                    str(lv["entries"]),
                    human_bytes(lv["bytes"]),
                    note,
                ]
            )
        self.out.table(
            ["layer", "files", "entries", "size", ""],
            rows,
            title="The layers now (from db.stats()):",
            right=["entries", "size"],
        )

    def show_walk(self, key: bytes, value: bytes | None, event: Event) -> None:
        rows = []
        for i, step in enumerate(event["steps"], 1):
            layer, what = walk_step_text(step)
            rows.append([str(i), layer, what])
        self.out.table(["", "layer", "what the read did"], rows, right=[""])
        bloom_skips = sum(1 for st in event["steps"] if st.get("bloom") == "skip")
        verdict = f"{show_bytes(value)!r}" if value is not None else "None (not found)"
        self.say(
            f"  get({show_bytes(key)!r}) returned {esc(verdict)}: "
            f"{plural(len(event['steps']), 'layer')} consulted, "
            f"{plural(event['tables_probed'], 'table')} searched, {bloom_skips} skipped by a "
            f"bloom filter, {plural(event['blocks_read'], 'block')} read from disk, "
            f"{event['blocks_cached']} found in the block cache"
        )


def run_demo(out: Out, *, step: bool = False, directory: Path | None = None) -> None:
    """Run the tour (see the module doc). With `directory`, the store is kept there."""
    keep = directory is not None
    path = str(directory) if directory is not None else tempfile.mkdtemp(prefix="lsmkv-demo-")
    out.print("[bold]lsmkv demo[/]: a guided tour of a log-structured merge-tree, through the")
    out.print("real engine. Every figure below is reported by the engine itself (its trace")
    out.print("events, stats(), where() and the walk of each get).")
    out.print(
        f"Store: {esc(path)}" + ("" if keep else " (a temporary directory, removed at the end)")
    )
    tour = Tour(out, path, step)
    try:
        _tour(tour)
    finally:
        tour.db.close()
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def _tour(t: Tour) -> None:
    db = t.db
    out = t.out
    # 1 ------------------------------------------------------------------ open
    t.step("open a fresh store")
    t.new_events()
    names = sorted(os.listdir(t.path))
    t.wal = next((n for n in names if n.endswith(".log")), None)
    listing = ", ".join(f"{n} ({os.path.getsize(os.path.join(t.path, n))} B)" for n in names)
    t.say(f"lsmkv.open() made the directory and its files: {esc(listing)}.")
    t.say(
        "The WAL (write-ahead log) receives every write first; the MANIFEST lists the "
        "live SSTables; CURRENT names the manifest; LOCK keeps a second writer out. "
        "Automatic compaction is off in this tour so that every step is one you asked for."
    )
    t.show_layers()

    # 2 ---------------------------------------------------------------- writes
    t.step("three writes: each goes to the WAL, is fsync'd, then lands in the memtable")
    for key, value in FRUIT_FIRST:
        db.put(key, value)
        t.say(f"db.put({show_bytes(key)!r}, {show_bytes(value)!r})")
        t.show_events(t.new_events())
    t.say(
        "A put returns only after the fsync: from then on it survives a crash or a power "
        "cut, because recovery replays the WAL into a new memtable."
    )
    t.show_layers()

    # 3 ----------------------------------------------------------------- flush
    t.step("a flush: the memtable becomes a sorted, immutable SSTable in level 0")
    db.flush()
    t.say("db.flush()")
    t.show_events(t.new_events())
    t.say(
        "The SSTable holds the memtable's entries in key order, with a bloom filter and an "
        "index; once it is recorded in the manifest, the old WAL is no longer needed."
    )
    t.show_layers()

    # 4 ------------------------------------------------- more writes + flush
    t.step("three more writes and a second flush: level 0 now holds two tables")
    batch_events: list[Event] = []
    for key, value in FRUIT_SECOND:
        db.put(key, value)
        batch_events.extend(t.new_events())
    appends = [e for e in batch_events if e["event"] == "wal.append"]
    syncs = [e for e in batch_events if e["event"] == "wal.fsync"]
    inserts = [e for e in batch_events if e["event"] == "memtable.insert"]
    t.say(
        "db.put() x3: "
        + ", ".join(f"{show_bytes(k)} = {show_bytes(v)}" for k, v in FRUIT_SECOND)
        + f" ({len(appends)} WAL appends, {len(syncs)} fsyncs, {len(inserts)} memtable inserts)"
    )
    db.flush()
    t.say("db.flush()")
    t.show_events(t.new_events())
    t.say(
        "Level-0 tables may overlap in key range (each is one flushed memtable), so a read "
        "must consider every one of them, newest first."
    )
    t.show_layers()

    # 5 ---------------------------------------------------------------- delete
    t.step(f"a delete: {show_bytes(DELETED)} gets a tombstone; the old value stays on disk")
    db.delete(DELETED)
    t.say(f"db.delete({show_bytes(DELETED)!r})")
    t.show_events(t.new_events())
    t.say(
        "SSTables are never modified in place, so a delete is one more write: a tombstone "
        f"that hides older versions. db.where({show_bytes(DELETED)!r}) lists every version "
        "still physically present:"
    )
    render_where(out, show_bytes(DELETED), db.where(DELETED), False)
    t.show_layers()

    # 6 ----------------------------------------------------------------- reads
    t.step("two reads: one answered by the memtable, one walking the layers")
    got = db.get(DELETED)
    event = next(e for e in reversed(t.new_events()) if e["event"] == "get")
    t.say(f"db.get({show_bytes(DELETED)!r}): the newest layer answers, and the answer is 'deleted'")
    t.show_walk(DELETED, got, event)
    got = db.get(FAR_KEY)
    event = next(e for e in reversed(t.new_events()) if e["event"] == "get")
    t.say(
        f"db.get({show_bytes(FAR_KEY)!r}): not in the memtable, so the read walks the "
        "tables newest to oldest; a bloom filter lets it skip a table without reading it"
    )
    t.show_walk(FAR_KEY, got, event)
    t.say(
        "The same walk is available for any key as db.explain_get(key) and `lsmkv explain DB KEY`."
    )

    # 7 ------------------------------------------------------------ compaction
    t.step("a compaction: merge the tables, drop the tombstone and the value it hid")
    before = db.stats()
    db.compact()
    t.say("db.compact()")
    events = t.new_events()
    t.show_events(events)
    after = db.stats()
    begins = [e for e in events if e["event"] == "compaction.begin"]
    ends = [e for e in events if e["event"] == "compaction.end"]
    in_bytes = sum(i["size"] for e in begins for i in e["inputs"])
    out_bytes = sum(o["size"] for e in ends for o in e["outputs"])
    dropped = sum(e["tombstones_dropped"] for e in ends)
    shadowed = sum(e["shadowed_dropped"] for e in ends)
    files_before = sum(lv["files"] for lv in before["levels"])
    files_after = sum(lv["files"] for lv in after["levels"])
    t.say(
        f"Compaction read {len([i for e in begins for i in e['inputs']])} tables "
        f"({in_bytes} bytes) and wrote {sum(len(e['outputs']) for e in ends)} "
        f"({out_bytes} bytes): {in_bytes - out_bytes} bytes reclaimed; "
        f"{plural(dropped, 'tombstone')} and {plural(shadowed, 'shadowed version')} "
        "dropped, since no older level or snapshot could still need them."
    )
    t.say(f"SSTables in the store: {files_before} before, {files_after} after.")
    t.say(f"db.where({show_bytes(DELETED)!r}) now:")
    render_where(out, show_bytes(DELETED), db.where(DELETED), False)
    t.show_layers()

    s = db.stats()
    out.print()
    out.rule("What the counters say")
    c = s["counters"]
    t.say(
        f"{c['writes']} writes, {c['wal_syncs']} fsyncs, {c['wal_bytes_written']} WAL bytes; "
        f"{c['flushes']} flushes ({c['flush_bytes_written']} bytes), "
        f"{plural(c['compactions'], 'compaction')} ({c['compaction_bytes_written']} bytes written)."
    )
    t.say(
        f"Write amplification {s['write_amplification']:.1f}: bytes written to disk per byte "
        f"of keys and values (tiny writes pay for WAL framing and table metadata). Read "
        f"amplification {s['read_amplification']:.2f}: tables searched per get "
        f"({s['gets']} gets, {s['bloom_skips']} bloom skips)."
    )
    t.say(
        "Next: `lsmkv put DB KEY VALUE`, `lsmkv where DB KEY`, `lsmkv explain DB KEY`, "
        "`lsmkv stats DB --tombstones` on a store of your own."
    )
    sys.stdout.flush()
