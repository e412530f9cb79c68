"""Running a flush or a compaction: merge inputs, apply the retention rules, write
output tables, and describe the result as a version edit. All I/O of background work
happens here; deciding what to do happens in picker.py and retention.py.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, islice, pairwise, repeat
from operator import itemgetter, lshift, neg, or_
from typing import Any

from ..core import filenames
from ..core.counters import Counters
from ..core.keys import KIND_NAMES, Entry
from ..iterators.merging import MAX_RUN, merge_runs, runs_of
from ..manifest.edit import FileMeta, VersionEdit
from ..manifest.version import Version
from ..memtable import Memtable
from ..rangedel import Fragments, RangeTombstone
from ..sstable.reader import TableReader
from ..sstable.writer import TableSettings, TableWriter
from ..storage.fs import FileSystem
from .picker import LEVEL_SIZE, Compaction
from .retention import (
    Beneath,
    RetentionTally,
    retain,
    retain_runs,
    retained_range_tombstones,
)

# Entries as columns: user keys, trailers (seq << 8 | kind), values (TableWriter.add_columns).
Columns = tuple[list[bytes], list[int], list[bytes]]
_KEY, _NEG_SEQ, _KIND, _VALUE = (itemgetter(i) for i in range(4))

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
    trace: Callable[..., None] | None = None  # a Tracer, or a worker's forwarder


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

    __slots__ = ("_max", "_overlap", "_started", "files", "position")

    def __init__(self, grandparents: list[FileMeta], max_bytes: int) -> None:
        self.files = grandparents
        self._max = max_bytes
        self.position = 0  # the first file whose largest key is >= every key seen
        self._overlap = 0
        self._started = False

    def should_cut_before(self, key: bytes) -> bool:
        """Whether an output should end before `key`. Only a key past
        `files[position].largest` can change the answer (write_tables relies on it)."""
        files = self.files
        i = self.position
        while i < len(files) and key > files[i].largest:
            if self._started:
                self._overlap += files[i].size
            i += 1
        self.position = i
        self._started = True
        if self._overlap > self._max:
            self._overlap = 0
            return True
        return False

    def reset(self) -> None:
        """A new output has started: its overlap counts from here."""
        self._overlap = 0


def entry_runs(entries: Iterable[Entry], size: int = 1024) -> Iterator[Columns]:
    """An entry stream cut into column runs `(keys, trailers, values)` of up to `size`
    entries, for `write_tables`. Cost: C-level passes per run (no Python step per
    entry); the entries' own iteration is the caller's."""
    source = iter(entries)
    while True:
        part = list(islice(source, size))
        if not part:
            return
        yield columns_of(part)
        if len(part) < size:
            return


def columns_of(part: list[Entry]) -> Columns:
    """Entries as columns. Cost: five C-level passes, no Python step per entry."""
    trailers = list(
        map(or_, map(lshift, map(neg, map(_NEG_SEQ, part)), repeat(8)), map(_KIND, part))
    )
    return list(map(_KEY, part)), trailers, list(map(_VALUE, part))


def memtable_runs(mem: Memtable, snapshots: list[int], tally: RetentionTally) -> Iterator[Columns]:
    """What a flush (or recovery) writes of `mem`, as column runs: the retention rules
    (retention.py) applied to its entries.

    The common case takes no Python step per entry: with no range tombstones, and
    either one version per key or no snapshot that could see an older one, the rules
    keep exactly the newest version of each key (a flush never drops a point tombstone:
    nothing below a memtable is known to be empty), which the memtable hands over as
    sorted columns (`Memtable.newest_columns`). Otherwise every entry goes through
    `retain`.
    """
    if not mem.range_tombstones and (not mem.shadowed or not snapshots):
        tally.shadowed_dropped += mem.shadowed
        if mem.index:
            yield mem.newest_columns()
        return
    yield from entry_runs(retain(mem.iter_all(), snapshots, mem.fragments, False, tally))


def write_tables(
    runs: Iterable[Columns],
    tombstones: list[RangeTombstone],
    ctx: JobContext,
    target_file_bytes: int | None,
    reason: str,
    grandparents: GrandparentLimit | None = None,
) -> tuple[list[FileMeta], int]:
    """Write `runs` (column runs `(keys, trailers, values)` whose concatenation is in
    internal order) and `tombstones` to new tables, cut near `target_file_bytes` (None:
    one table) and where `grandparents` says the overlap with the level below has grown
    too large, but never between two versions of one key.

    Cost: O(1) Python steps per run, per data block and per grandparent file crossed
    (the entries go to `TableWriter.add_columns` in slices), not per entry. The cuts
    land exactly where a check before each new key would put them.

    Returns the new files (each fsync'd, and the directory fsync'd) and bytes written.
    On error every table this call created is removed, then the error propagates.
    """
    outputs: list[FileMeta] = []
    # The writer of the table being written, for `abandon` on error. Only that one: a
    # finished writer still holds its table's keys (for the filter), and keeping every
    # finished writer would hold every key of a compaction, not one output's worth.
    writers: list[TableWriter] = []
    written = 0
    lo: bytes | None = None
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
        writers.remove(writer)
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

    def note_sample(keys: list[bytes], trailers: list[int], values: list[bytes]) -> None:
        room = TRACE_KEYS_MAX + 1 - len(sample)
        for k, t, v in zip(keys[:room], trailers[:room], values[:room], strict=True):
            sample.append((k, -(t >> 8), t & 0xFF, v))

    # The grandparent test changes its mind only when a key passes the largest key of
    # the grandparent file its cursor is on, so it is asked at those keys only (found
    # by bisect); at every other key it would answer False and change nothing.
    files = grandparents.files if grandparents is not None else []
    try:
        writer: TableWriter | None = None
        last_key: bytes | None = None  # the last key added (of the previous run, too)
        for keys, trailers, values in runs:
            n = len(keys)
            p = 0  # next entry of this run to add
            check = True  # whether entry p must be checked for a cut
            if writer is None and n:
                writer = start()
                if grandparents is not None:
                    grandparents.should_cut_before(keys[0])
                check = False
            while p < n:
                assert writer is not None
                # The next key at which the grandparent test may change its mind.
                g = n
                if grandparents is not None and grandparents.position < len(files):
                    g = max(bisect_right(keys, files[grandparents.position].largest, p), p)
                if g == p and check:
                    key = keys[p]
                    if key != last_key and (
                        # Asked first and always, so the grandparent cursor sees every key.
                        (grandparents is not None and grandparents.should_cut_before(key))
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
                    check = False
                    continue
                if g == p:  # entry p was checked; the next event is after it
                    g = n
                    if grandparents is not None and grandparents.position < len(files):
                        g = bisect_right(keys, files[grandparents.position].largest, p + 1)
                added = writer.add_columns(
                    keys[p:g], trailers[p:g], values[p:g], target_file_bytes, check
                )
                if tracing and len(sample) <= TRACE_KEYS_MAX:
                    note_sample(keys[p : p + added], trailers[p : p + added], values[p : p + added])
                if added:
                    last_key = keys[p + added - 1]
                p += added
                if p < g:  # the table reached its target size before keys[p]
                    if grandparents is not None:
                        grandparents.should_cut_before(keys[p])  # answers False here
                    finish(writer, keys[p])
                    lo = keys[p]
                    writer = start()
                    if grandparents is not None:
                        grandparents.reset()
                    check = False
                else:
                    check = True
        if writer is None and tombstones:
            writer = start()
        if writer is not None:
            finish(writer, None)
        if outputs:
            # The tables' names must be durable before a manifest refers to them.
            ctx.fs.sync_dir(ctx.dirname)
    except BaseException:
        for w in writers:
            w.abandon()
        for o in outputs:
            try:
                ctx.fs.remove(os.path.join(ctx.dirname, filenames.table_name(o.number)))
            except OSError:
                pass
        raise
    return outputs, written


def _uncached_entries(reader: TableReader) -> Iterator[Entry]:
    """Every point entry of a table, its blocks read past the block cache: a compaction
    reads each block once, and its inputs are deleted when it is done, so caching them
    would only evict the blocks that gets are using (RocksDB's fill_cache=false)."""
    return chain.from_iterable(
        reader.read_data_block(i).entries() for i in range(len(reader.handles))
    )


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
    # A run at a time from merge to writer: only where versions of one key meet or a
    # tombstone needs a decision does Python look at single entries (retain_runs).
    merged = merge_runs([_uncached_entries(r) for r in readers], first=MAX_RUN)
    metas = sorted((f for _, f in inputs), key=lambda f: f.smallest)
    if all(a.largest < b.smallest for a, b in pairwise(metas)):
        # Inputs with disjoint key ranges (a sequential load) merge by concatenation in
        # key order: no sort, no watermark.
        by_number = {r.number: r for r in readers}
        ordered = chain.from_iterable(_uncached_entries(by_number[f.number]) for f in metas)
        merged = runs_of(ordered, MAX_RUN)
    beneath = Beneath(version, out)
    kept = map(
        columns_of,
        retain_runs(merged, snapshots, fragments, beneath.is_bottommost, result.tally),
    )
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
