"""Merging sorted sources of internal entries into one sorted stream.

Every source yields `(key, -seq, kind, value)` tuples in internal order (or all in
reverse internal order), and tuple comparison is exactly the internal ordering.

The merge works in *runs* rather than entry by entry, so that the per-entry work runs
in C: it takes a chunk from each source (`islice`), sorts what it holds (timsort merges
the already-sorted chunks in C), and hands out every entry up to the *watermark*, the
smallest "last entry taken" among the sources not yet exhausted: no source can still
produce anything below it. Only the source that set the watermark is refilled next, so
at most one chunk per source is buffered. Chunks start small (a short scan reads little
more than it returns) and double up to `MAX_RUN`. `chain.from_iterable` over the runs
turns them back into an entry stream at C speed where a caller wants single entries.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from itertools import chain, islice

from ..core.keys import Entry

FIRST_RUN = 8
MAX_RUN = 1024


def runs_of(source: Iterator[Entry], first: int = FIRST_RUN) -> Iterator[list[Entry]]:
    """One source cut into lists (growing from `first` to MAX_RUN entries)."""
    size = first
    while True:
        part = list(islice(source, size))
        if part:
            yield part
        if len(part) < size:
            return
        size = min(size * 2, MAX_RUN)


def merge_runs(
    sources: list[Iterator[Entry]], reverse: bool = False, first: int = FIRST_RUN
) -> Iterator[list[Entry]]:
    """Sorted runs whose concatenation is the merge of `sources` (see module docs).

    `first` is the size of the first chunk taken from each source: a scan with a
    limit passes the limit, so that the first run alone usually satisfies it (the
    source that sets the watermark hands out all `first` of its entries).

    Cost: per entry, a few C-level steps (islice, a sort that mostly merges runs, a
    slice); per run, a handful of Python steps.
    """
    if len(sources) <= 1:
        if sources:
            yield from runs_of(sources[0], first)
        return
    # The last entry taken from each source (set for every live one in the first round).
    lasts: list[Entry] = [(b"", 0, 0, b"")] * len(sources)
    live = list(range(len(sources)))
    need = list(live)
    pending: list[Entry] = []  # taken but not handed out; kept ascending
    size = first
    while True:
        for i in need:
            part = list(islice(sources[i], size))
            if len(part) < size:
                live.remove(i)
            else:
                lasts[i] = part[-1]
            if reverse:
                part.reverse()
            pending += part
        pending.sort()
        if not live:
            if reverse:
                pending.reverse()
            if pending:
                yield pending
            return
        if not reverse:
            mark = min(lasts[i] for i in live)
            cut = bisect_right(pending, mark)
            out = pending[:cut]
            del pending[:cut]
        else:
            mark = max(lasts[i] for i in live)
            cut = bisect_left(pending, mark)
            out = pending[cut:]
            del pending[cut:]
            out.reverse()
        need = [i for i in live if lasts[i] == mark]
        if out:
            yield out
        size = min(size * 2, MAX_RUN)


def merge(sources: list[Iterator[Entry]], reverse: bool = False) -> Iterator[Entry]:
    """All entries of all sources in internal order (or reverse internal order)."""
    if len(sources) == 1:
        return sources[0]
    if not sources:
        return iter(())
    return chain.from_iterable(merge_runs(sources, reverse))


def visible(source: Iterable[Entry], read_seq: int) -> Iterator[Entry]:
    """Only the entries a reader at `read_seq` may see (seq <= read_seq)."""
    floor = -read_seq
    for entry in source:
        if entry[1] >= floor:
            yield entry


def concat(parts: Iterable[Iterator[Entry]]) -> Iterator[Entry]:
    """Chain the iterators of non-overlapping tables in key order (a level iterator).
    Cost: one C-level `chain` step per entry."""
    return chain.from_iterable(parts)
