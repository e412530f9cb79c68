"""The fast path of a scan: user pairs merged straight from the sources' key and value
columns, for data that needs no filtering.

Most of a store is *clean* for a scan most of the time: in the range read, every key
has exactly one version, it is a put, and it is visible at the read point. For such
data the `(key, value)` pairs a user sees can be made without building an internal
entry `(key, -seq, kind, value)` per key: each source hands over a chunk as two
sequences, keys and values, cut from a block with C calls (`Block.columns`) or sliced
from the memtable's sorted key list; the chunks become pairs with `zip`; the merge sorts
the pairs by key and hands out everything
below the *watermark* as a run, as merging.py does for entries. No Python step runs per
entry; the per-run Python work is a handful of steps.

A chunk is refused by its source when it holds a tombstone or a version newer than the
read point, and the merge finds a key with two versions when, after sorting, two
neighbours share a key (a key's last version in one chunk and its next in the following
chunk of the same source meet in `pending` too, because the watermark key itself is
held back until every source has gone past it). Then this path stops, having handed out
only keys it had fully decided, and the caller resumes the general path (merging.py and
user.py) just after the last key handed out; since the clean part stepped over nothing,
the scan's counts are those of the general path alone. tests/test_clean_scan.py checks
the two paths give the same pairs on random stores.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, islice
from operator import eq, itemgetter
from typing import Protocol

from .merging import MAX_RUN

Pair = tuple[bytes, bytes]
Chunk = tuple[Sequence[bytes], Sequence[bytes]]


class Columns(Protocol):
    """A source of the clean path."""

    def take(self, n: int, partial: bool = False) -> Chunk | None:
        """Up to `n` keys and their values, ascending, just past (forward) or just below
        (reverse) what was taken before; fewer than `n` means the source is done, unless
        `partial` allowed a shorter chunk (a table stops at its block's end rather than
        read the next block; see `done`). None: the next entries are not clean (a
        tombstone, a version newer than the read point)."""
        ...

    @property
    def done(self) -> bool:
        """Nothing is left to take. (May say False of a source that turns out to be
        done: its next chunk is then empty.)"""
        ...


class ConcatColumns:
    """Sources over disjoint key ranges, in scan order, as one source (a level's tables).
    `parts` is consumed lazily (pass a `map` or a generator), so each part is made only
    when the scan reaches it."""

    __slots__ = ("_current", "_parts", "_reverse")

    def __init__(self, parts: Iterable[Columns], reverse: bool) -> None:
        self._parts: Iterator[Columns] | None = iter(parts)  # None: all made
        self._current: Columns | None = None
        self._reverse = reverse

    @property
    def done(self) -> bool:
        return self._current is None and self._parts is None

    def take(self, n: int, partial: bool = False) -> Chunk | None:
        current = self._current
        if current is None:
            current = None if self._parts is None else next(self._parts, None)
            if current is None:
                self._parts = None
                return (), ()
            self._current = current
        # One part usually answers alone (a seek's first take, most takes of a long
        # scan): its chunk is handed over as it is, with no piece lists.
        chunk = current.take(n, partial)
        if chunk is None:
            return None
        got = len(chunk[0])
        if current.done or not got or (got < n and not partial):
            self._current = None
        if got == n or (partial and got):
            return chunk
        return self._take_pieces(n, partial, chunk)

    def _take_pieces(self, n: int, partial: bool, first: Chunk | None) -> Chunk | None:
        """`take` across parts, starting with `first` (taken from the part open before)."""
        key_pieces: list[Sequence[bytes]] = []
        value_pieces: list[Sequence[bytes]] = []
        if first is not None and first[0]:
            key_pieces.append(first[0])
            value_pieces.append(first[1])
            n -= len(first[0])
        while n > 0 and not (partial and key_pieces):
            current = self._current
            if current is None:
                current = None if self._parts is None else next(self._parts, None)
                if current is None:
                    self._parts = None
                    break
                self._current = current
            chunk = current.take(n, partial)
            if chunk is None:
                return None
            keys, values = chunk
            if current.done or (len(keys) < n and not partial):
                self._current = None
            if keys:
                key_pieces.append(keys)
                value_pieces.append(values)
                n -= len(keys)
        if len(key_pieces) == 1:
            return key_pieces[0], value_pieces[0]
        if self._reverse:
            key_pieces.reverse()
            value_pieces.reverse()
        return list(chain.from_iterable(key_pieces)), list(chain.from_iterable(value_pieces))


_key_of = itemgetter(0)

# Scans with a limit up to this (a seek and a few nexts) try `short_merge` first.
SHORT_LIMIT = 64


def short_merge(sources: list[Columns], reverse: bool, limit: int) -> list[Pair] | None:
    """The first `limit` pairs of a clean scan, or None at data that is not clean (then
    the caller runs the regular path on fresh sources).

    The rule of `CleanMerge`, written straight for the common seek: `limit + 1` entries
    from each source, except that a table stops at the end of its current block rather
    than read the next one (the watermark accounts for it, and most seeks never need
    that block); one dict (whose size tells whether a key came twice), one sort of the
    keys, one bisect; more from the source that set the watermark only if too few pairs
    lie before it. One source alone is not merged (`_single`). Cost: a few C calls
    per source and per entry, per round.
    """
    if len(sources) == 1:
        return _single(sources[0], reverse, limit)
    keys: list[bytes] = []
    values: list[bytes] = []
    # The last key taken from each source that may hold more (None: done).
    lasts: list[bytes | None] = [None] * len(sources)
    need: Iterable[int] = range(len(sources))
    want = limit + 1
    while True:
        for i in need:
            source = sources[i]
            chunk = source.take(want, True)
            if chunk is None:
                return None
            ks, vs = chunk
            keys += ks
            values += vs
            if not ks or source.done:
                lasts[i] = None
            else:
                lasts[i] = ks[0] if reverse else ks[-1]
        found = dict(zip(keys, values, strict=True))
        if len(found) != len(keys):
            return None  # a key with two versions
        ordered = sorted(keys)
        live = [last for last in lasts if last is not None]
        if reverse:
            # Keys strictly above the watermark, the largest first.
            mark = max(live) if live else None
            cut = bisect_right(ordered, mark) if mark is not None else 0
            out = ordered[max(cut, len(ordered) - limit) :]
            out.reverse()
        else:
            mark = min(live) if live else None
            cut = bisect_left(ordered, mark) if mark is not None else len(ordered)
            out = ordered[: min(cut, limit)]
        if len(out) >= limit or mark is None:
            return list(zip(out, map(found.__getitem__, out), strict=True))
        need = [i for i, last in enumerate(lasts) if last == mark]


def _single(source: Columns, reverse: bool, limit: int) -> list[Pair] | None:
    """`short_merge` of one source: nothing to merge, so its next `limit` keys are the
    answer, once they are known to be distinct (a table may hold two versions of a key
    side by side). In reverse, one more is taken and the smallest dropped while the
    source has more: its newer version may lie just below, not taken (a table stores a
    key's versions newest first). Cost: one `take`, one `eq` pass, one `zip`."""
    chunk = source.take(limit + 1 if reverse else limit)
    if chunk is None:
        return None
    keys, values = chunk
    if any(map(eq, keys, islice(keys, 1, None))):
        return None  # a key with two versions
    if reverse:
        if len(keys) > limit:
            keys, values = keys[1:], values[1:]
        pairs = list(zip(keys, values, strict=True))
        pairs.reverse()
        return pairs
    return list(zip(keys, values, strict=True))


class CleanMerge:
    """The merge of clean sources into runs of user pairs (see the module docs).

    After `runs()` ends, `unclean` says whether it stopped at data it could not decide,
    and `last` is the last key it handed out (None: none), where the general path
    resumes.

    Cost: per entry, C-level steps only (a `zip`, a sort that mostly merges sorted
    chunks, a `map` for the keys, an `eq` pass to find keys with two versions, slices);
    per run, a handful of Python steps. Chunks start at `first` entries per source and
    double up to MAX_RUN, as in merging.py.
    """

    def __init__(self, sources: list[Columns], reverse: bool, first: int) -> None:
        self.sources = sources
        self.reverse = reverse
        self.first = first
        self.unclean = False
        self.last: bytes | None = None

    def runs(self) -> Iterator[list[Pair]]:
        sources, reverse = self.sources, self.reverse
        # The last key taken from each live source, in scan order.
        lasts: list[bytes] = [b""] * len(sources)
        live = list(range(len(sources)))
        need = list(live)
        pending: list[Pair] = []  # taken, not handed out; ascending
        size = self.first
        while True:
            # Sorting is needed unless one chunk (already ascending) lands alone.
            must_sort = bool(pending) or len(need) > 1
            for i in need:
                chunk = sources[i].take(size)
                if chunk is None:
                    self.unclean = True
                    return
                keys, values = chunk
                if len(keys) < size:
                    live.remove(i)
                elif reverse:
                    lasts[i] = keys[0]
                else:
                    lasts[i] = keys[-1]
                pending += zip(keys, values, strict=True)
            if must_sort:
                # By key alone: bytes compare faster than pairs (distinct keys, checked
                # next, make the two orders the same).
                pending.sort(key=_key_of)
            keys = list(map(_key_of, pending))
            if any(map(eq, keys, islice(keys, 1, None))):
                # A key with two versions: the general path decides it.
                self.unclean = True
                return
            if not live:
                if reverse:
                    pending.reverse()
                if pending:
                    self.last = pending[-1][0]
                    yield pending
                return
            # Hand out what lies strictly before the watermark; the watermark key waits,
            # since the source that set it may hold another version of it.
            if reverse:
                mark = max([lasts[i] for i in live])
                cut = bisect_right(keys, mark)
                out = pending[cut:]
                del pending[cut:]
                out.reverse()
            else:
                mark = min([lasts[i] for i in live])
                cut = bisect_left(keys, mark)
                out = pending[:cut]
                del pending[:cut]
            need = [i for i in live if lasts[i] == mark]
            if out:
                self.last = out[-1][0]
                yield out
            size = min(size * 2, MAX_RUN)
