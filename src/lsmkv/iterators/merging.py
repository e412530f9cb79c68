"""Merging sorted sources of internal entries into one sorted stream.

Every source yields `(key, -seq, kind, value)` tuples in internal order, so the merge is
`heapq.merge` on plain tuples: the heap work runs in C, with no key function. Reverse
iteration merges the sources' reversed streams with `reverse=True`.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator

from ..core.keys import Entry


def merge(sources: list[Iterator[Entry]], reverse: bool = False) -> Iterator[Entry]:
    """All entries of all sources in internal order (or reverse internal order)."""
    if len(sources) == 1:
        return sources[0]
    if not sources:
        return iter(())
    return heapq.merge(*sources, reverse=reverse)


def visible(source: Iterable[Entry], read_seq: int) -> Iterator[Entry]:
    """Only the entries a reader at `read_seq` may see (seq <= read_seq)."""
    floor = -read_seq
    for entry in source:
        if entry[1] >= floor:
            yield entry


def concat(parts: Iterable[Iterator[Entry]]) -> Iterator[Entry]:
    """Chain the iterators of non-overlapping tables in key order (a level iterator)."""
    for part in parts:
        yield from part
