"""Running a flush or a compaction: merge inputs, apply the retention rules, write
output tables, and describe the result as a version edit. All I/O of background work
happens here; deciding what to do happens in picker.py and retention.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..core import filenames
from ..core.counters import Counters
from ..core.keys import KIND_NAMES, Entry
from ..core.trace import Tracer
from ..iterators.merging import merge
from ..manifest.edit import FileMeta, VersionEdit
from ..manifest.version import Version
from ..rangedel import Fragments, RangeTombstone
from ..sstable.reader import TableReader
from ..sstable.writer import TableSettings, TableWriter
from ..storage.fs import FileSystem
from .picker import LEVEL_SIZE, Compaction
from .retention import Beneath, RetentionTally, retain, retained_range_tombstones

# A traced `file.created` lists the entries of tables up to this size (docs/format/trace.md).
TRACE_KEYS_MAX = 32


@dataclass
class JobContext:
    """What a job needs from the engine, and nothing more."""

    fs: FileSystem
    dirname: str
    settings: TableSettings
    open_table: Callable[[int], TableReader]
    new_file_number: Callable[[], int]
    pending_outputs: set[int]  # numbers the obsolete-file sweep must not delete
    counters: Counters
    trace: Tracer | None = None


@dataclass
class JobResult:
    outputs: list[FileMeta] = field(default_factory=list)
    bytes_read: int = 0
    bytes_written: int = 0
    tally: RetentionTally = field(default_factory=RetentionTally)
    seconds: float = 0.0


def _clip(
    tombstones: list[RangeTombstone], lo: bytes | None, hi: bytes | None
) -> list[RangeTombstone]:
    """Tombstones cut to [lo, hi): each output carries only the part inside its range, so
    outputs of one level never overlap."""
    clipped = []
    for start, end, seq in tombstones:
        s = start if lo is None or start > lo else lo
        e = end if hi is None or end < hi else hi
        if s < e:
            clipped.append((s, e, seq))
    return clipped


class GrandparentLimit:
    """When to cut an output so it overlaps at most `max_bytes` of the grandparent level
    (the level below the output). Why: a later compaction of that output file merges it
    with every grandparent file it overlaps; without the cut one small file could drag
    a large part of the next level through a rewrite. Cost: O(keys + grandparents) for a
    whole compaction, since keys arrive in order (LevelDB's ShouldStopBefore).
    """

    __slots__ = ("_files", "_i", "_max", "_overlap", "_started")

    def __init__(self, grandparents: list[FileMeta], max_bytes: int) -> None:
        self._files = grandparents
        self._max = max_bytes
        self._i = 0
        self._overlap = 0
        self._started = False

    def should_cut_before(self, key: bytes) -> bool:
        files = self._files
        i = self._i
        while i < len(files) and key > files[i].largest:
            if self._started:
                self._overlap += files[i].size
            i += 1
        self._i = i
        self._started = True
        if self._overlap > self._max:
            self._overlap = 0
            return True
        return False

    def reset(self) -> None:
        """A new output has started: its overlap counts from here."""
        self._overlap = 0


def write_tables(
    entries: Iterator[Entry],
    tombstones: list[RangeTombstone],
    ctx: JobContext,
    target_file_bytes: int | None,
    reason: str,
    grandparents: GrandparentLimit | None = None,
) -> tuple[list[FileMeta], int]:
    """Write `entries` (internal order) and `tombstones` to new tables, cut near
    `target_file_bytes` (None: one table) and where `grandparents` says the overlap with
    the level below has grown too large, but never between two versions of one key.

    Returns the new files (each fsync'd, and the directory fsync'd) and bytes written.
    On error every table this call created is removed, then the error propagates.
    """
    outputs: list[FileMeta] = []
    writers: list[TableWriter] = []
    written = 0
    lo: bytes | None = None
    cut_before = grandparents.should_cut_before if grandparents is not None else None
    sample: list[Entry] = []  # the first entries of the table being written, when tracing
    tracing = ctx.trace is not None

    def start() -> TableWriter:
        sample.clear()
        number = ctx.new_file_number()
        ctx.pending_outputs.add(number)
        path = os.path.join(ctx.dirname, filenames.table_name(number))
        writer = TableWriter(ctx.fs, path, ctx.settings, number)
        writers.append(writer)
        return writer

    def finish(writer: TableWriter, hi: bytes | None) -> None:
        nonlocal written
        for start_key, end_key, seq in _clip(tombstones, lo, hi):
            writer.add_range_tombstone(start_key, end_key, seq)
        props, size = writer.finish()
        written += size
        number = writer.number
        outputs.append(FileMeta.of_table(number, size, props))
        if ctx.trace is not None:
            fields: dict[str, Any] = {}
            if len(sample) <= TRACE_KEYS_MAX:
                # A small table's contents, so a replay can draw its keys and tombstones.
                fields["keys"] = [
                    {"key": k.hex(), "seq": -neg_seq, "kind": KIND_NAMES[kind].lower()}
                    for k, neg_seq, kind, _ in sample
                ]
            ctx.trace(
                "file.created",
                file=filenames.table_name(number),
                reason=reason,
                size=size,
                entries=props.entries,
                tombstones=props.point_deletes,
                range_tombstones=props.range_deletes,
                smallest=props.smallest_key.hex(),
                largest=props.largest_key.hex(),
                smallest_seq=props.smallest_seq,
                largest_seq=props.largest_seq,
                bloom_bits_per_key=ctx.settings.bloom_bits_per_key,
                **fields,
            )

    try:
        writer: TableWriter | None = None
        last_key: bytes | None = None
        for entry in entries:
            key = entry[0]
            if writer is None:
                writer = start()
                if cut_before is not None:
                    cut_before(key)
            elif key != last_key and (
                # Asked first and always, so the grandparent cursor sees every key.
                (cut_before is not None and cut_before(key))
                | (
                    target_file_bytes is not None
                    and writer.estimated_file_bytes >= target_file_bytes
                )
            ):
                finish(writer, key)
                lo = key
                writer = start()
                if grandparents is not None:
                    grandparents.reset()
            writer.add(entry)
            if tracing and len(sample) <= TRACE_KEYS_MAX:
                sample.append(entry)
            last_key = key
        if writer is None and tombstones:
            writer = start()
        if writer is not None:
            finish(writer, None)
        if outputs:
            # The tables' names must be durable before a manifest refers to them.
            ctx.fs.sync_dir(ctx.dirname)
    except BaseException:
        for w in writers:
            if w.number not in {o.number for o in outputs}:
                w.abandon()
        for o in outputs:
            try:
                ctx.fs.remove(os.path.join(ctx.dirname, filenames.table_name(o.number)))
            except OSError:
                pass
        raise
    return outputs, written


def run_compaction(
    c: Compaction,
    version: Version,
    snapshots: list[int],
    ctx: JobContext,
    target_file_bytes: int,
    max_grandparent_overlap_bytes: int,
) -> tuple[VersionEdit, JobResult]:
    """Merge the compaction's inputs into new tables at its output level (or, for a
    trivial move, move its one input file down without reading it).

    `version` must be the one the compaction was picked from. Cost: reads every input
    table once and writes the survivors once; no lock is held.
    """
    t0 = time.monotonic()
    result = JobResult()
    inputs = c.all_inputs
    pointer = []
    if c.level == c.output_level or c.reason == LEVEL_SIZE:
        # Round-robin: the next compaction of this level starts past this one's keys.
        pointer = [(c.level, max(f.largest for f in c.inputs))]
    if c.trivial_move:
        (f,) = c.inputs
        result.outputs = [f]
        result.seconds = time.monotonic() - t0
        edit = VersionEdit(
            removed=[(c.level, f.number)], added=[(c.output_level, f)], compact_pointers=pointer
        )
        return edit, result
    readers = [ctx.open_table(f.number) for _, f in inputs]
    result.bytes_read = sum(f.size for _, f in inputs)
    out = c.output_level
    fragments = Fragments(t for r in readers for t in r.range_tombstones())
    merged = merge([r.iter_entries() for r in readers])
    beneath = Beneath(version, out)
    kept = retain(merged, snapshots, fragments, beneath.is_bottommost, result.tally)
    tombstones = retained_range_tombstones(
        fragments,
        snapshots,
        lambda start, end: version.bottommost_for(out, start, end),
        result.tally,
    )
    limit = GrandparentLimit(c.grandparents, max_grandparent_overlap_bytes)
    outputs, written = write_tables(kept, tombstones, ctx, target_file_bytes, "compaction", limit)
    result.outputs = outputs
    result.bytes_written = written
    result.seconds = time.monotonic() - t0
    edit = VersionEdit(
        removed=[(level, f.number) for level, f in inputs],
        added=[(out, f) for f in outputs],
        compact_pointers=pointer,
    )
    return edit, result
