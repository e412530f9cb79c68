"""The scan path: the sources of a range scan, merged and filtered for the user.

A scan captures the SuperVersion once (it reads the store as of that moment, and its
Version keeps the tables it reads alive), builds one source per memtable, per level-0
table and per deeper level (deeper tables opened lazily, as the scan reaches them),
skips spans hidden by range tombstones with a seek, and hands the merge to the
user-facing iterator of iterators/user.py. When the iterator ends, its tally of what
it stepped over goes to the counters, and maybe to a compaction hint.

Before that general path, a scan tries the clean path (iterators/clean.py): over data
with one visible put per key, the sources' key and value columns merge straight into
user pairs. At the first tombstone, key with two versions or version newer than the
read point, the general path takes over just after the last key returned; a range
tombstone visible in the range sends the whole scan to the general path. A scan with a
small limit (a seek and a few nexts) over clean data is decided at the call by
`short_merge`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from itertools import chain
from typing import Any

from ..core import filenames
from ..iterators.clean import SHORT_LIMIT, CleanMerge, Columns, ConcatColumns, short_merge
from ..iterators.merging import FIRST_RUN, MAX_RUN, concat, merge, merge_runs, visible
from ..iterators.user import ScanTally, scan_bounds, user_entries, user_runs
from ..manifest.edit import FileMeta
from ..memtable import Memtable
from ..rangedel import Fragments
from . import read as read_path
from .base import EngineBase
from .state import SuperVersion
from .tables import TableCache


class ScanMixin(EngineBase):
    """`DB._scan_at` (the body of `DB.scan` and `Snapshot.scan`) and its parts."""

    def _scan_at(
        self,
        read_seq: int,
        start: bytes | None,
        end: bytes | None,
        prefix: bytes | None,
        reverse: bool,
        limit: int | None,
    ) -> Iterator[tuple[bytes, bytes]]:
        self._check_open()
        start, end = scan_bounds(start, end, prefix, limit)
        sv = self._sv  # captured now: the iterator reads the store as of this moment
        self._counters.iterators += 1
        if limit is not None and 0 < limit <= SHORT_LIMIT:
            # A seek and a few nexts over clean data is decided now, in one call
            # (`short_merge`): a list iterator costs less than a generator per pair, and
            # the answer is the store as of this call either way.
            columns = clean_sources(sv, self._tables, read_seq, start, end, reverse)
            if columns is not None:
                pairs = short_merge(columns, reverse, limit)
                if pairs is not None:
                    # The clean part steps over nothing: only the returned count moves.
                    self._counters.iterator_entries += len(pairs)
                    return iter(pairs)
            # Not clean at the start: the general path.
            return self._scan_sv(sv, None, read_seq, start, end, reverse, limit)
        columns = clean_sources(sv, self._tables, read_seq, start, end, reverse)
        return self._scan_sv(sv, columns, read_seq, start, end, reverse, limit)

    def _scan_sv(
        self,
        sv: SuperVersion,
        columns: list[Columns] | None,
        read_seq: int,
        start: bytes | None,
        end: bytes | None,
        reverse: bool,
        limit: int | None,
    ) -> Iterator[tuple[bytes, bytes]]:
        """The scan of `sv` at `read_seq`: the clean fast path when `columns` (its
        sources, from `clean_sources`) is given, else the general path."""
        if columns is not None:
            runs = self._clean_runs(sv, columns, read_seq, start, end, reverse, limit)
            return chain.from_iterable(runs)
        sources, fragments = self._sources(sv, read_seq, start, end, reverse)
        return self._iterate(sv, sources, fragments, read_seq, reverse, limit)

    def _clean_runs(
        self,
        sv: SuperVersion,
        columns: list[Columns],
        read_seq: int,
        start: bytes | None,
        end: bytes | None,
        reverse: bool,
        limit: int | None,
    ) -> Iterator[list[tuple[bytes, bytes]]]:
        """The fast path (iterators/clean.py) while the data is clean, then the general
        path from just after the last key it handed out. The clean part steps over
        nothing, so the tally is the general part's plus what the clean part returned."""
        returned = 0
        tally: ScanTally | None = None  # made only if the general path takes over
        try:
            if limit is not None and limit <= 0:
                return
            # One more than the limit: the watermark key waits (see CleanMerge), so a
            # seek with a limit usually ends in one round.
            first = FIRST_RUN if limit is None else max(1, min(limit + 1, MAX_RUN))
            merged = CleanMerge(columns, reverse, first)
            for run in merged.runs():
                if limit is not None and len(run) >= limit - returned:
                    run = run[: limit - returned]
                    returned += len(run)
                    yield run
                    return
                returned += len(run)
                yield run
            if not merged.unclean:
                return
            last = merged.last
            if last is not None:
                if reverse:
                    end = last
                else:
                    start = last + b"\x00"  # the smallest key after `last`
            rest = None if limit is None else limit - returned
            sources, fragments = self._sources(sv, read_seq, start, end, reverse)
            tally = ScanTally()
            yield from self._general_runs(sources, fragments, read_seq, reverse, rest, tally)
        finally:
            if tally is None:
                # The clean part stepped over nothing: only the returned count moves.
                self._counters.iterator_entries += returned
            else:
                tally.returned += returned
                self._count_scan(sv, tally)

    def _sources(
        self,
        sv: SuperVersion,
        read_seq: int,
        start: bytes | None,
        end: bytes | None,
        reverse: bool,
    ) -> tuple[list[Iterator[Any]], Fragments]:
        return scan_sources(sv, self._tables, read_seq, start, end, reverse)

    def _iterate(
        self,
        sv: SuperVersion,
        sources: list[Iterator[Any]],
        fragments: Fragments,
        read_seq: int,
        reverse: bool,
        limit: int | None,
    ) -> Iterator[tuple[bytes, bytes]]:
        # The user-facing iterator counts what it steps over and hands the tally to
        # _count_scan when it ends or is closed. `sv` rides along in that callback on
        # purpose: the iterator holds it for its whole life, and its Version keeps the
        # tables it reads from being deleted (and their readers closed) by compaction.
        finish = partial(self._count_scan, sv)
        if not fragments:
            # No range tombstones: merge and filter a run at a time, so the per-entry
            # work runs in C (iterators/merging.py, user_runs).
            first = FIRST_RUN if limit is None else max(1, min(limit, MAX_RUN))
            runs = user_runs(
                merge_runs(sources, reverse, first), reverse, ScanTally(), limit, finish
            )
            return chain.from_iterable(runs)
        merged = merge(sources, reverse)
        return user_entries(merged, fragments, read_seq, reverse, ScanTally(), limit, finish)

    def _general_runs(
        self,
        sources: list[Iterator[Any]],
        fragments: Fragments,
        read_seq: int,
        reverse: bool,
        limit: int | None,
        tally: ScanTally,
    ) -> Iterator[list[tuple[bytes, bytes]]]:
        """The general path as runs of pairs, counting into `tally` (no finish call)."""
        if not fragments:
            first = FIRST_RUN if limit is None else max(1, min(limit, MAX_RUN))
            yield from user_runs(merge_runs(sources, reverse, first), reverse, tally, limit)
            return
        merged = merge(sources, reverse)
        for pair in user_entries(merged, fragments, read_seq, reverse, tally, limit):
            yield [pair]

    def _count_scan(self, sv: SuperVersion, tally: ScanTally) -> None:
        c = self._counters
        c.iterator_entries += tally.returned
        c.tombstones_skipped += tally.tombstones
        c.range_deleted_skipped += tally.range_deleted
        c.shadowed_skipped += tally.shadowed
        hint = self.options.scan_tombstone_hint
        if hint and tally.tombstones + tally.range_deleted > hint:
            self._scan_hint(tally)


def scan_sources(
    sv: SuperVersion,
    tables: TableCache,
    read_seq: int,
    start: bytes | None,
    end: bytes | None,
    reverse: bool,
    label: Callable[[dict[str, Any], Iterator[Any]], Iterator[Any]] | None = None,
) -> tuple[list[Iterator[Any]], Fragments]:
    """The merge inputs of a scan of [start, end) at `read_seq`, newest source first, and
    the range tombstones it must honour. One source per memtable, per level-0 table and
    per deeper level (whose tables open lazily, as the scan reaches them); a span hidden
    by a newer range tombstone is skipped with a seek.

    `label`, when given, wraps each source with a description of it (`explain_scan`
    counts what each source yields that way); a plain scan passes None and pays nothing.
    """
    if start is not None and end is not None and start >= end:
        return [], Fragments(())
    version = sv.version
    hi = end  # inclusive bound for the overlap test is fine: over-approximates
    mems = (sv.mem, *sv.imms)
    chosen = [
        version.overlapping(level, start, hi) if files else []
        for level, files in enumerate(version.levels)
    ]
    # Range tombstones first: they decide which parts of the range each source may
    # skip. A deeper level's tables are otherwise opened lazily, as the scan reaches
    # them (a scan that stops early, a queue's head or `limit=1`, must not pay per
    # table of the range); only those holding range tombstones are opened up front,
    # because their tombstones apply to keys of other tables too.
    frags = [m.fragments for m in mems if m.range_tombstones]
    for level, files in enumerate(chosen):
        for f in files:
            if level == 0 or f.range_deletes:
                fragments = tables.get(f.number).fragments
                if fragments:
                    frags.append(fragments)
    deletions = read_path.visible_fragments(frags, read_seq, start, end)

    def parts(newest_seq: int) -> list[tuple[bytes | None, bytes | None]]:
        """The sub-ranges a source whose newest entry is `newest_seq` must read: a
        span hidden by a newer range tombstone is skipped with a seek, never walked
        entry by entry (a `delete_range` of a million keys costs a scan nothing)."""
        if not deletions:
            return [(start, end)]
        found = deletions.uncovered(newest_seq, start, end)
        return found[::-1] if reverse else found

    def memtable_entries(mem: Memtable) -> Iterator[Any]:
        ranges = parts(mem.last_seq)
        if len(ranges) == 1:
            return mem.iter_latest(read_seq, *ranges[0], reverse)
        return concat(mem.iter_latest(read_seq, a, b, reverse) for a, b in ranges)

    # An empty memtable would only add a merge input.
    sources: list[Iterator[Any]] = []
    for i, mem in enumerate(mems):
        if mem.entry_count:
            it = memtable_entries(mem)
            if label is not None:
                name = "memtable" if i == 0 else f"immutable memtable {i - 1}"
                it = label({"source": "memtable", "name": name}, it)
            sources.append(it)

    def table_entries(f: FileMeta) -> Iterator[Any]:
        reader = tables.get(f.number)
        ranges = parts(f.largest_seq)
        if len(ranges) == 1:
            it = reader.iter_entries(*ranges[0], reverse)
        else:
            it = concat(reader.iter_entries(a, b, reverse) for a, b in ranges)
        return visible(it, read_seq) if f.largest_seq > read_seq else it

    for level, files in enumerate(chosen):
        if not files:
            continue
        if level == 0:
            for f in files:
                it = table_entries(f)
                if label is not None:
                    it = label({"source": "sstable", "level": 0, "files": [_name(f)]}, it)
                sources.append(it)
        else:
            ordered = files[::-1] if reverse else files
            it = concat(table_entries(f) for f in ordered)
            if label is not None:
                info = {"source": "sstable", "level": level, "files": [_name(f) for f in ordered]}
                it = label(info, it)
            sources.append(it)
    return sources, deletions


def clean_sources(
    sv: SuperVersion,
    tables: TableCache,
    read_seq: int,
    start: bytes | None,
    end: bytes | None,
    reverse: bool,
) -> list[Columns] | None:
    """The sources of a scan for the clean fast path (iterators/clean.py), newest first,
    or None when it cannot apply at all: a range tombstone visible at `read_seq`
    overlaps the range. (Versions newer than the read point, as a snapshot's scan
    meets, are refused chunk by chunk.) Cost: what `scan_sources` pays to open the
    sources; the tombstone check costs nothing when no source holds range tombstones.
    """
    columns: list[Columns] = []
    if start is not None and end is not None and start >= end:
        return columns
    frags: list[Fragments] = []
    for mem in (sv.mem, *sv.imms):
        if mem.entry_count:
            if mem.range_tombstones:
                frags.append(mem.fragments)
            columns.append(mem.latest_columns(read_seq, start, end, reverse))
    # Tables hold range tombstones only if the SuperVersion says so (it is immutable):
    # otherwise no table of the range is asked, which a seek across a level of many
    # tables would pay for every table to the end of the range.
    table_tombstones = sv.frozen_range_dels
    version = sv.version
    levels = version.levels
    readers = tables.readers
    # Level 0 filtered inline and the table cache's dict read directly: for a seek this
    # set-up is most of the cost.
    for f in levels[0]:
        if (end is None or f.smallest < end) and (start is None or f.largest >= start):
            reader = readers.get(f.number) or tables.get(f.number)
            if table_tombstones and reader.fragments:
                frags.append(reader.fragments)
            newer = read_seq if f.largest_seq > read_seq else None
            columns.append(reader.columns(start, end, reverse, newer))
    for level in range(1, len(levels)):
        if not levels[level]:
            continue
        chosen = version.overlapping(level, start, end)
        if chosen:
            if table_tombstones:
                frags.extend(tables.get(f.number).fragments for f in chosen if f.range_deletes)
            if reverse:
                chosen.reverse()
            # Each table is opened only when the scan reaches it (ConcatColumns takes
            # the `map` lazily): a seek reads one or two tables of the level.
            make = partial(_table_columns, tables, start, end, reverse, read_seq)
            columns.append(ConcatColumns(map(make, chosen), reverse))
    if frags and read_path.visible_fragments(frags, read_seq, start, end):
        return None  # the general path honours them (and skips what they hide)
    return columns


def _table_columns(
    tables: TableCache,
    start: bytes | None,
    end: bytes | None,
    reverse: bool,
    read_seq: int,
    f: FileMeta,
) -> Columns:
    newer = read_seq if f.largest_seq > read_seq else None
    reader = tables.readers.get(f.number) or tables.get(f.number)
    return reader.columns(start, end, reverse, newer)


def _name(f: FileMeta) -> str:
    return filenames.table_name(f.number)
