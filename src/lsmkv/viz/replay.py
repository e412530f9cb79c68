"""Folding a trace into the frames of the replay: what every layer holds after each step.

The engine emits plain-data events (docs/format/trace.md); this module replays them over
a model of the store's layers (WAL, memtable, immutable memtables, SSTables per level)
and records one *frame* per step: the state of every layer, a one-sentence caption, and
the event it came from. A traced `get` becomes one frame per step of its walk, plus a
summary, so the page can animate it newest to oldest.

Nothing here opens the store: the frames are derived from the events alone, so a trace
recorded elsewhere (`lsmkv viz --trace FILE`) replays the same way. A table the trace
never saw created (the store held it before tracing began) appears as a placeholder
with what later events tell about it.

When a layer holds too many items to draw, its frame carries counts instead of items
(`"items": None`), so a trace of a few thousand operations stays small and readable.

Cost: O(events x drawn items); a few thousand events fold in well under a second.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Drawing limits: above these a layer is shown as counts instead of boxes.
MAX_DRAWN_ENTRIES = 16  # memtable / immutable memtable entries, WAL records
MAX_DRAWN_TABLES = 12  # tables per level
MAX_DRAWN_KEYS = 32  # keys drawn inside one table

KIND_BY_CODE = {0: "delete", 1: "put", 2: "range_delete"}

# An annotation the scenarios add to a trace (not an engine event): the call the program
# made, shown above the caption until the next one.
CALL_EVENT = "viz.call"


def show(hexed: str | None, limit: int = 24) -> str:
    """A key or value (hex, as events carry them) as readable text: UTF-8 when it is
    printable, else `0x...`; cut to `limit` characters."""
    if hexed is None:
        return ""
    raw = bytes.fromhex(hexed)
    try:
        text = raw.decode("utf-8")
        ok = text.isprintable()
    except UnicodeDecodeError:
        ok = False
    if not ok:
        text = "0x" + hexed
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote(hexed: str | None) -> str:
    return f"‘{show(hexed)}’"


@dataclass
class _Entry:
    key: str  # hex
    seq: int
    kind: str  # put / delete / range_delete
    value: str | None  # hex (for a range delete: its end key)


@dataclass
class _Mem:
    wal: str | None
    entries: list[_Entry] = field(default_factory=list)
    count: int = 0  # the engine's own entry count (from the last insert event)
    bytes: int = 0
    tombstones: int = 0
    flushing: bool = False


@dataclass
class _Table:
    file: str
    level: int
    smallest: str | None = None
    largest: str | None = None
    entries: int | None = None
    tombstones: int | None = None
    range_tombstones: int = 0
    size: int = 0
    bloom: int | None = None
    keys: list[dict[str, Any]] | None = None
    state: str = ""  # "" settled, "new" being written, "input" of a running compaction


@dataclass
class _WalRecord:
    offset: int
    bytes: int
    first_seq: int
    last_seq: int
    label: str
    kind: str
    synced: bool = False


class Replay:
    """The layers' state, advanced one event at a time; `frames` collects the steps."""

    def __init__(self, events: list[dict[str, Any]], num_levels: int = 7) -> None:
        self.events = events
        self.frames: list[dict[str, Any]] = []
        self.wal_file: str | None = None
        self.wal_records: list[_WalRecord] = []
        self.wal_bytes = 0
        self.wal_durable = 0
        self.old_wals: list[str] = []
        self.mem = _Mem(wal=None)
        self.imms: list[_Mem] = []  # newest first, as a read walks them
        self.levels: list[list[_Table]] = [[] for _ in range(num_levels)]
        self.read: dict[str, Any] | None = None
        self.call: str | None = None
        self.compaction: dict[str, Any] | None = None
        self.counters = {
            "writes": 0,
            "deletes": 0,
            "gets": 0,
            "tables_probed": 0,
            "bloom_skips": 0,
            "flushes": 0,
            "compactions": 0,
            "tombstones_dropped": 0,
        }
        self.hl: set[str] = set()  # ids highlighted in the current frame
        self.dropped: list[dict[str, Any]] | None = None  # what the last compaction dropped
        self.dirty: set[str] = set()  # parts of the state changed since the last frame
        self._last: dict[str, Any] = {}
        self._ranges: list[tuple[str, str, int]] = []  # memtables' range tombstones
        # seq -> memtable.insert event, so a WAL record can be labelled before its insert.
        self.inserts: dict[int, dict[str, Any]] = {
            e["seq"]: e for e in events if e.get("event") == "memtable.insert"
        }

    # ------------------------------------------------------------------ driving
    def run(self) -> list[dict[str, Any]]:
        self._frame(
            -1, "start", "An empty store: nothing in the WAL, the memtable or any level yet."
        )
        for i, event in enumerate(self.events):
            self.hl = set()
            name = str(event.get("event", "?"))
            if name == CALL_EVENT:
                self.call = str(event.get("call", ""))
                continue
            handler = getattr(self, "_on_" + name.replace(".", "_"), None)
            if handler is None:
                self._frame(i, name, f"Engine event {name}.")
            else:
                handler(i, event)
        return self.frames

    # ------------------------------------------------------------------- writes
    def _on_wal_append(self, i: int, e: dict[str, Any]) -> None:
        file = e.get("file")
        if file != self.wal_file:
            if self.wal_file is not None and self.wal_file not in self.old_wals:
                self.old_wals.append(self.wal_file)
            self.wal_file, self.wal_records, self.wal_durable = file, [], 0
        first, last = int(e["first_seq"]), int(e["last_seq"])
        ops = [self.inserts[s] for s in range(first, last + 1) if s in self.inserts]
        if len(ops) == 1:
            kind = KIND_BY_CODE.get(ops[0]["kind"], "?")
            label = f"{'del' if kind != 'put' else 'put'} {show(ops[0]['key'], 12)}"
            if kind == "range_delete":
                label += f"…{show(ops[0].get('value'), 12)}"
            what = f"{_verb(kind)} {quote(ops[0]['key'])}"
        else:
            kind = "batch"
            label = f"batch ×{last - first + 1}"
            what = f"a batch of {last - first + 1} operations"
        offset, size = int(e["offset"]), int(e["bytes"])
        self.wal_records.append(_WalRecord(offset, size, first, last, label, kind))
        self._touch("wal")
        self.wal_bytes = offset + size
        self.hl.add(f"wal:{first}")
        seqs = f"seq {first}" if first == last else f"seqs {first}–{last}"
        self._frame(
            i,
            "write",
            f"The record for {what} ({seqs}, {size} bytes) is appended to the write-ahead "
            f"log {file} at offset {offset}; it is not yet durable.",
        )

    def _on_wal_fsync(self, i: int, e: dict[str, Any]) -> None:
        durable = int(e["durable_offset"])
        self.wal_durable = durable
        self._touch("wal")
        for r in self.wal_records:
            if r.offset + r.bytes <= durable:
                r.synced = True
        if self.wal_records:
            self.hl.add(f"wal:{self.wal_records[-1].first_seq}")
        self._frame(
            i,
            "write",
            f"fsync: {e.get('file')} is durable up to byte {durable}, so the write now "
            "survives a crash or a power loss.",
        )

    def _on_memtable_insert(self, i: int, e: dict[str, Any]) -> None:
        kind = KIND_BY_CODE.get(int(e["kind"]), "?")
        entry = _Entry(str(e["key"]), int(e["seq"]), kind, e.get("value"))
        mem = self.mem
        if mem.wal is None:
            mem.wal = self.wal_file
        mem.entries.append(entry)
        self._touch("mem")
        mem.count = int(e.get("memtable_entries", len(mem.entries)))
        mem.bytes = int(e.get("memtable_bytes", 0))
        self.hl.add(f"mem:{entry.key}:{entry.seq}")
        if kind == "put":
            self.counters["writes"] += 1
            self._frame(
                i,
                "write",
                f"{quote(entry.key)} = {quote(entry.value)} (seq {entry.seq}) goes into the "
                f"memtable, a sorted table in memory ({_n(mem.count, 'entry', 'entries')}, "
                f"{mem.bytes} bytes).",
            )
            return
        mem.tombstones += 1
        self.counters["deletes"] += 1
        if kind == "range_delete":
            self._frame(
                i,
                "delete",
                f"A range tombstone [{quote(entry.key)}, {quote(entry.value)}) (seq "
                f"{entry.seq}) goes into the memtable: one record hides every older key "
                "in the range.",
            )
            return
        older = self._older_versions(entry.key, entry.seq)
        if older:
            seq, where = older[0]
            shadow = (
                f"it shadows the older value (seq {seq}) in {where}, which stays there "
                "until compaction drops both"
            )
        else:
            shadow = "no older version of the key is in view, yet the tombstone is kept"
        self._frame(
            i,
            "delete",
            f"A delete writes no value: a tombstone for {quote(entry.key)} (seq {entry.seq}) "
            f"goes into the memtable; {shadow}.",
        )

    def _older_versions(self, key: str, seq: int) -> list[tuple[int, str]]:
        """(seq, where) of the versions of `key` older than `seq` that this replay can see,
        newest first."""
        found: list[tuple[int, str]] = []
        for name, mem in [("the memtable", self.mem)] + [
            ("an immutable memtable", m) for m in self.imms
        ]:
            found += [(x.seq, name) for x in mem.entries if x.key == key and x.seq < seq]
        for tables in self.levels:
            for t in tables:
                for k in t.keys or ():
                    if k["key"] == key and k["seq"] < seq:
                        found.append((int(k["seq"]), f"{t.file} (level {t.level})"))
        return sorted(found, reverse=True)

    def _on_memtable_switch(self, i: int, e: dict[str, Any]) -> None:
        old = self.mem
        old.wal = old.wal or self.wal_file
        self.imms.insert(0, old)
        self._touch("mem", "imms", "wal")
        self.mem = _Mem(wal=e.get("new_wal"))
        if self.wal_file is not None and self.wal_file not in self.old_wals:
            self.old_wals.append(self.wal_file)
        self.wal_file, self.wal_records, self.wal_bytes, self.wal_durable = (
            e.get("new_wal"),
            [],
            0,
            0,
        )
        self.hl.add("imm:0")
        self._frame(
            i,
            "flush",
            f"The memtable ({_n(int(e.get('immutable_entries', old.count)), 'entry', 'entries')}"
            f") is frozen: it becomes immutable and waits for a flush, while new writes go to "
            f"a fresh memtable and a new WAL, {e.get('new_wal')}.",
        )

    # ------------------------------------------------------------------- flushes
    def _on_flush_begin(self, i: int, e: dict[str, Any]) -> None:
        self._touch("imms")
        if self.imms:
            self.imms[-1].flushing = True
            self.hl.add(f"imm:{len(self.imms) - 1}")
        self._frame(
            i,
            "flush",
            f"Flush: the oldest immutable memtable "
            f"({_n(int(e.get('entries', 0)), 'entry', 'entries')}, from "
            f"{e.get('wal')}) is written in key order to a new level-0 SSTable.",
        )

    def _on_file_created(self, i: int, e: dict[str, Any]) -> None:
        reason = e.get("reason", "")
        level = 0
        if reason == "compaction" and self.compaction is not None:
            level = int(self.compaction["output_level"])
        table = self._table_from(e, level)
        table.state = "" if reason == "recovery" else "new"
        self._place(table)
        self.hl.add(f"sst:{table.file}")
        tomb = table.tombstones or 0
        keys = (
            f"keys {quote(table.smallest)}…{quote(table.largest)}"
            if table.smallest is not None
            else "its keys"
        )
        bloom = (
            f", with a bloom filter of {table.bloom} bits per key"
            if table.bloom
            else ", without a bloom filter"
        )
        self._frame(
            i,
            "compaction" if reason == "compaction" else "flush",
            f"{table.file} is written for level {level} by {reason or 'the engine'}: {keys}, "
            f"{_n(table.entries or 0, 'entry', 'entries')} of which {_n(tomb, 'tombstone')}"
            f"{bloom}.",
        )

    def _table_from(self, e: dict[str, Any], level: int) -> _Table:
        keys = e.get("keys")
        return _Table(
            file=str(e["file"]),
            level=level,
            smallest=e.get("smallest"),
            largest=e.get("largest"),
            entries=e.get("entries"),
            tombstones=e.get("tombstones"),
            range_tombstones=int(e.get("range_tombstones", 0) or 0),
            size=int(e.get("size", 0) or 0),
            bloom=e.get("bloom_bits_per_key"),
            keys=list(keys) if isinstance(keys, list) else None,
        )

    def _place(self, table: _Table) -> None:
        self._touch("levels")
        self._remove(table.file)
        while table.level >= len(self.levels):
            self.levels.append([])
        tables = self.levels[table.level]
        if table.level == 0:
            tables.insert(0, table)  # level 0 is kept newest first, as reads walk it
        else:
            tables.append(table)
            tables.sort(key=lambda t: (t.smallest or "", t.file))

    def _find(self, file: str) -> _Table | None:
        for tables in self.levels:
            for t in tables:
                if t.file == file:
                    return t
        return None

    def _remove(self, file: str) -> _Table | None:
        self._touch("levels")
        for tables in self.levels:
            for t in tables:
                if t.file == file:
                    tables.remove(t)
                    return t
        return None

    def _on_flush_end(self, i: int, e: dict[str, Any]) -> None:
        done = self.imms.pop() if self.imms else None
        self._touch("imms", "levels")
        files = [str(f) for f in e.get("files", [])]
        for f in files:
            t = self._find(f)
            if t is None:
                self._place(_Table(file=f, level=0))
            else:
                t.state = ""
            self.hl.add(f"sst:{f}")
        self.counters["flushes"] += 1
        wal = f"; its WAL {done.wal} is no longer needed" if done and done.wal else ""
        self._frame(
            i,
            "flush",
            f"Flush done: {', '.join(files) or 'no table'} joins level 0 and the immutable "
            f"memtable is dropped{wal}.",
        )

    def _on_file_deleted(self, i: int, e: dict[str, Any]) -> None:
        file = str(e.get("file"))
        if file.endswith(".log"):
            self._touch("wal")
            if file in self.old_wals:
                self.old_wals.remove(file)
            why = "every record in it is now in an SSTable"
        elif file.endswith(".sst"):
            self._remove(file)
            why = "no version of the store and no reader needs it any more"
        else:
            why = "a newer manifest has replaced it"
        self._frame(i, "file", f"{file} is deleted from disk: {why}.")

    # --------------------------------------------------------------- compaction
    def _on_compaction_begin(self, i: int, e: dict[str, Any]) -> None:
        self.compaction = dict(e)
        self._touch("levels")
        inputs = e.get("inputs", [])
        for inp in inputs:
            t = self._find(str(inp["file"]))
            if t is None:
                t = _Table(
                    file=str(inp["file"]),
                    level=int(inp["level"]),
                    entries=inp.get("entries"),
                    tombstones=inp.get("tombstones"),
                    size=int(inp.get("size", 0)),
                )
                self._place(t)
            t.state = "input"
            self.hl.add(f"sst:{t.file}")
        entries = sum(int(x.get("entries", 0)) for x in inputs)
        tombs = sum(int(x.get("tombstones", 0)) for x in inputs)
        levels = sorted({int(x["level"]) for x in inputs})
        self._frame(
            i,
            "compaction",
            f"Compaction ({e.get('reason')}): {len(inputs)} table"
            f"{'s' if len(inputs) != 1 else ''} from level"
            f"{'s' if len(levels) > 1 else ''} {', '.join(map(str, levels))} ({entries} "
            f"entries, {tombs} tombstone{'s' if tombs != 1 else ''}) are merged in key "
            f"order into level {e.get('output_level')}.",
        )

    def _on_compaction_end(self, i: int, e: dict[str, Any]) -> None:
        begin = self.compaction or {}
        removed = [self._remove(str(inp["file"])) for inp in begin.get("inputs", [])]
        out_level = int(e.get("output_level", begin.get("output_level", 1)))
        outputs = e.get("outputs", [])
        for out in outputs:
            t = self._find(str(out["file"]))
            if t is None:
                t = _Table(
                    file=str(out["file"]),
                    level=out_level,
                    entries=out.get("entries"),
                    tombstones=out.get("tombstones"),
                    size=int(out.get("size", 0)),
                )
                self._place(t)
            t.state = ""
            self.hl.add(f"sst:{t.file}")
        self._note_dropped(removed, [self._find(str(o["file"])) for o in outputs])
        dropped = int(e.get("tombstones_dropped", 0)) + int(e.get("range_tombstones_dropped", 0))
        shadowed = int(e.get("shadowed_dropped", 0)) + int(e.get("range_covered_dropped", 0))
        self.counters["compactions"] += 1
        self.counters["tombstones_dropped"] += dropped
        self.compaction = None
        self._frame(
            i,
            "compaction",
            f"Compaction done: {_n(len(outputs), 'table')} in level {out_level} "
            f"{'replaces' if len(outputs) == 1 else 'replace'} the inputs; "
            f"{_n(dropped, 'tombstone')} and {_n(shadowed, 'shadowed version')} are gone "
            "for good.",
        )

    def _note_dropped(self, inputs: list[_Table | None], outputs: list[_Table | None]) -> None:
        """The entries a compaction dropped, when every input and output listed its keys."""
        tables = [*inputs, *outputs]
        if not tables or any(t is None or t.keys is None for t in tables):
            return
        kept = {(k["key"], k["seq"]) for t in outputs if t is not None for k in t.keys or ()}
        gone = [
            k
            for t in inputs
            if t is not None
            for k in t.keys or ()
            if (k["key"], k["seq"]) not in kept
        ]
        gone.sort(key=lambda k: (bytes.fromhex(str(k["key"])), -int(k["seq"])))
        self.dropped = [
            {"key": show(str(k["key"]), 14), "seq": int(k["seq"]), "kind": str(k["kind"])}
            for k in gone[:MAX_DRAWN_KEYS]
        ]

    # -------------------------------------------------------------------- reads
    def _on_get(self, i: int, e: dict[str, Any]) -> None:
        key = str(e.get("key", ""))
        steps: list[dict[str, Any]] = []
        self.counters["gets"] += 1
        self.read = {"key": show(key), "steps": steps, "done": False, "answer": None}
        self.hl = set()
        self._frame(
            i,
            "read",
            f"get({quote(key)}) walks the layers newest to oldest and stops at the first "
            "record for the key.",
        )
        for step in e.get("steps", []):
            target, text, verdict = self._read_step(key, step)
            if step.get("bloom") == "skip":
                self.counters["bloom_skips"] += 1
            if step.get("source") == "sstable" and step.get("bloom") in (
                "pass",
                "none",
                "false_positive",
                "bypassed",
            ):
                self.counters["tables_probed"] += 1
            steps.append({"target": target, "verdict": verdict, "text": text})
            self.hl = {target}
            self._frame(i, "read", text)
        answer = e.get("answer")
        if answer is None:
            result = "nothing: no layer holds the key"
        elif answer.get("kind") == "put":
            result = f"{quote(answer.get('value'))} (seq {answer.get('seq')})"
        else:
            result = f"nothing: the key is deleted (tombstone seq {answer.get('seq')})"
        probed = int(e.get("tables_probed", 0))
        self.read["done"] = True
        self.read["answer"] = result
        self.read["probed"] = probed
        self.read["consulted"] = int(e.get("sources_consulted", len(steps)))
        self.hl = set()
        self._frame(
            i,
            "read",
            f"get({quote(key)}) returns {result}, after consulting "
            f"{self.read['consulted']} source{'s' if self.read['consulted'] != 1 else ''} and "
            f"reading {probed} table{'s' if probed != 1 else ''} (read amplification {probed}).",
        )

    def _read_step(self, key: str, step: dict[str, Any]) -> tuple[str, str, str]:
        result = step.get("result", "absent")
        record = step.get("record") or {}
        if step.get("source") == "memtable":
            name = str(step.get("name", "memtable"))
            target = "mem" if name == "memtable" else "imm:" + name.rsplit(" ", 1)[-1]
            where = f"The {name}"
            if result == "found":
                return (
                    target,
                    f"{where} holds {quote(key)} = {quote(record.get('value'))}.",
                    "found",
                )
            if result == "deleted":
                return (
                    target,
                    f"{where} holds a tombstone for {quote(key)}: it is deleted.",
                    "deleted",
                )
            return target, f"{where} has no {quote(key)}; the walk goes on.", "absent"
        file = str(step.get("file"))
        level = step.get("level")
        if self._find(file) is None and level is not None:
            self._place(_Table(file=file, level=int(level)))
        target = f"sst:{file}"
        where = f"{file} (level {level})"
        bloom = step.get("bloom")
        if result == "skipped" and bloom is None:
            return target, f"{where} is skipped: {quote(key)} is outside its key range.", "range"
        if bloom == "skip":
            if result == "deleted":
                return (
                    target,
                    f"{where}'s bloom filter rules {quote(key)} out, but a range tombstone "
                    "there covers it: it is deleted.",
                    "deleted",
                )
            return (
                target,
                f"{where}'s bloom filter says {quote(key)} is certainly absent, so no block "
                "is read.",
                "bloom",
            )
        block = step.get("block") or {}
        read = (
            f"block {block.get('index')} ({'cached' if block.get('cached') else 'read from disk'})"
            if block
            else "its index"
        )
        maybe = {
            "none": "there is no filter, so",
            "bypassed": "the block is cached (searching it beats asking the filter), so",
        }.get(str(bloom), "the bloom filter says maybe, so")
        if result == "found":
            return (
                target,
                f"{where}: {maybe} {read} is searched and holds {quote(key)} = "
                f"{quote(record.get('value'))} (seq {record.get('seq')}).",
                "found",
            )
        if result == "deleted":
            return (
                target,
                f"{where}: {maybe} {read} is searched and holds a tombstone for {quote(key)} "
                f"(seq {record.get('seq') or step.get('range_tombstone_seq')}): it is deleted.",
                "deleted",
            )
        if bloom == "false_positive":
            return (
                target,
                f"{where}: the bloom filter said maybe, but {read} has no {quote(key)}: a "
                "false positive, one wasted probe.",
                "false_positive",
            )
        return target, f"{where}: {read} has no {quote(key)}; the walk goes on.", "absent"

    # ------------------------------------------------------------ other events
    def _on_stall_begin(self, i: int, e: dict[str, Any]) -> None:
        self._frame(
            i,
            "stall",
            f"Writes stall: {e.get('immutable_memtables')} immutable memtables and "
            f"{e.get('level0_files')} level-0 tables wait for background work.",
        )

    def _on_stall_end(self, i: int, e: dict[str, Any]) -> None:
        self._frame(i, "stall", f"Writes resume after a stall of {e.get('seconds')} s.")

    def _on_recovery_wal_replayed(self, i: int, e: dict[str, Any]) -> None:
        # The store was (re)opened: memory from before is gone; what the WAL held is
        # replayed and written to a level-0 table (the `file.created` that follows).
        self.mem, self.imms = _Mem(wal=None), []
        if self.wal_file is not None and self.wal_file not in self.old_wals:
            self.old_wals.append(self.wal_file)
        self.wal_file, self.wal_records, self.wal_bytes, self.wal_durable = None, [], 0, 0
        self._touch("mem", "imms", "wal")
        self._frame(
            i,
            "recovery",
            f"Recovery replays {e.get('file')}: {e.get('batches')} batches back into memory "
            f"({e.get('dropped_tail_bytes', 0)} bytes of torn tail dropped).",
        )

    def _on_background_error(self, i: int, e: dict[str, Any]) -> None:
        self._frame(
            i,
            "error",
            f"Background work failed ({e.get('message')}); the store refuses writes until "
            "reopened.",
        )

    # ------------------------------------------------------------------ frames
    def _frame(self, index: int, category: str, caption: str) -> None:
        name = "start" if index < 0 else str(self.events[index].get("event"))
        if name != "get" and category != "read":
            self.read = None
        state = self._state()
        self.dropped = None  # shown in the compaction's last frame only
        self.frames.append(
            {
                "event": index,
                "name": name,
                "category": category,
                "caption": caption,
                "state": state,
            }
        )

    def _touch(self, *parts: str) -> None:
        self.dirty.update(parts)

    def _state(self) -> dict[str, Any]:
        """The state after this step. Parts no handler touched are the very objects of the
        frame before (cheap to build, and `encode_frames` skips them by identity)."""
        last = self._last
        dirty = self.dirty
        self.dirty = set()
        layers = dirty & {"mem", "imms", "levels"}
        newest = self._newest_versions() if layers else {}
        keys_drawn = any(t.keys is not None for ts in self.levels for t in ts)
        state: dict[str, Any] = {
            "call": self.call,
            "wal": self._wal_state() if "wal" in dirty or not last else last["wal"],
            "mem": self._mem_state(self.mem, "mem", newest) if layers or not last else last["mem"],
            "imms": [self._mem_state(m, f"imm:{n}", newest) for n, m in enumerate(self.imms)]
            if layers or not last
            else last["imms"],
            "levels": [self._level_state(n, ts, newest) for n, ts in enumerate(self.levels)]
            if "levels" in dirty or (layers and keys_drawn) or not last
            else last["levels"],
            "read": json.loads(json.dumps(self.read)) if self.read is not None else None,
            "dropped": self.dropped,
            "hl": sorted(self.hl),
            "totals": {
                **self.counters,
                "tables": sum(len(t) for t in self.levels),
                "sst_entries": sum(t.entries or 0 for ts in self.levels for t in ts),
                "sst_tombstones": sum(
                    (t.tombstones or 0) + t.range_tombstones for ts in self.levels for t in ts
                ),
                "memtable_entries": self.mem.count,
                "immutable_memtables": len(self.imms),
            },
        }
        self._last = state
        return state

    def _shadowed(self, newest: dict[str, int], key: str, seq: int) -> bool:
        """Whether a newer version, or a newer range tombstone in a memtable, hides
        `key`@`seq` (hex keys compare like the bytes they encode)."""
        if newest.get(key, seq) > seq:
            return True
        return any(lo <= key < hi and seq < rseq for lo, hi, rseq in self._ranges)

    def _newest_versions(self) -> dict[str, int]:
        """The newest seq of every key this replay can see, to mark older ones shadowed."""
        newest: dict[str, int] = {}
        self._ranges = [
            (x.key, x.value or "", x.seq)
            for mem in (self.mem, *self.imms)
            for x in mem.entries
            if x.kind == "range_delete"
        ]

        def see(key: str, seq: int) -> None:
            if newest.get(key, -1) < seq:
                newest[key] = seq

        for mem in (self.mem, *self.imms):
            if len(mem.entries) <= MAX_DRAWN_ENTRIES:
                for x in mem.entries:
                    see(x.key, x.seq)
        for tables in self.levels:
            for t in tables:
                for k in t.keys or ():
                    see(str(k["key"]), int(k["seq"]))
        return newest

    def _wal_state(self) -> dict[str, Any]:
        records = None
        if len(self.wal_records) <= MAX_DRAWN_ENTRIES:
            records = [
                {
                    "id": f"wal:{r.first_seq}",
                    "label": r.label,
                    "kind": r.kind,
                    "seq": r.first_seq,
                    "bytes": r.bytes,
                    "synced": r.synced,
                }
                for r in self.wal_records
            ]
        return {
            "file": self.wal_file,
            "bytes": self.wal_bytes,
            "durable": self.wal_durable,
            "count": len(self.wal_records),
            "synced": sum(r.synced for r in self.wal_records),
            "records": records,
            "older": list(self.old_wals),
        }

    def _mem_state(self, mem: _Mem, ident: str, newest: dict[str, int]) -> dict[str, Any]:
        items = None
        if len(mem.entries) <= MAX_DRAWN_ENTRIES:
            ordered = sorted(mem.entries, key=lambda x: (bytes.fromhex(x.key), -x.seq))
            items = [
                {
                    "key": show(x.key, 14),
                    "seq": x.seq,
                    "kind": x.kind,
                    "value": show(x.value, 10) if x.value is not None else None,
                    "shadowed": self._shadowed(newest, x.key, x.seq),
                    "id": f"mem:{x.key}:{x.seq}",
                }
                for x in ordered
            ]
        return {
            "id": ident,
            "wal": mem.wal,
            "count": mem.count or len(mem.entries),
            "bytes": mem.bytes,
            "tombstones": mem.tombstones,
            "flushing": mem.flushing,
            "items": items,
        }

    def _level_state(
        self, level: int, tables: list[_Table], newest: dict[str, int]
    ) -> dict[str, Any]:
        known = [t for t in tables if t.smallest is not None]
        summary = {
            "level": level,
            "files": len(tables),
            "entries": sum(t.entries or 0 for t in tables),
            "tombstones": sum((t.tombstones or 0) + t.range_tombstones for t in tables),
            "bytes": sum(t.size for t in tables),
            "smallest": show(min(t.smallest or "" for t in known), 14) if known else None,
            "largest": show(max(t.largest or "" for t in known), 14) if known else None,
            "inputs": sum(t.state == "input" for t in tables),
            "new": sum(t.state == "new" for t in tables),
        }
        if len(tables) > MAX_DRAWN_TABLES:
            return {**summary, "tables": None}
        return {**summary, "tables": [self._table_state(t, newest) for t in tables]}

    def _table_state(self, t: _Table, newest: dict[str, int]) -> dict[str, Any]:
        keys = None
        if t.keys is not None and len(t.keys) <= MAX_DRAWN_KEYS:
            keys = [
                {
                    "key": show(str(k["key"]), 14),
                    "seq": int(k["seq"]),
                    "kind": str(k["kind"]),
                    "shadowed": self._shadowed(newest, str(k["key"]), int(k["seq"])),
                }
                for k in t.keys
            ]
        return {
            "file": t.file,
            "smallest": show(t.smallest, 14) if t.smallest is not None else None,
            "largest": show(t.largest, 14) if t.largest is not None else None,
            "entries": t.entries,
            "tombstones": None if t.tombstones is None else t.tombstones + t.range_tombstones,
            "size": t.size,
            "bloom": t.bloom,
            "keys": keys,
            "state": t.state,
        }


def _n(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def _verb(kind: str) -> str:
    return {"put": "put", "delete": "delete", "range_delete": "range delete"}.get(kind, kind)


def derive(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The frames of a trace: `[{"event", "name", "category", "caption", "state"}, ...]`,
    one per step, the first being the empty store before any event."""
    return Replay(list(events)).run()


def encode_frames(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Frames as deltas: each keeps only the parts of `state` that changed since the frame
    before (the page rebuilds full states on load), so long traces stay small."""
    out: list[dict[str, Any]] = []
    previous: dict[str, str] = {}
    last: dict[str, Any] = {}
    for frame in frames:
        state = frame["state"]
        delta = {}
        for part, value in state.items():
            if part in last and last[part] is value:
                continue
            text = json.dumps(value, sort_keys=True)
            if previous.get(part) != text:
                delta[part] = value
                previous[part] = text
        out.append({**{k: v for k, v in frame.items() if k != "state"}, "state": delta})
        last = state
    return out
