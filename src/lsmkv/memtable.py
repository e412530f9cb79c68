"""The memtable: recent writes in memory, newest version of each key first.

Layout, chosen for Python's speed: a `dict` from user key to a tuple of entries
`(key, -seq, kind, value)`, newest first, plus a sorted list of the keys that is brought
up to date only when someone iterates. A put is then one dict lookup and one dict store
(no tree to rebalance), a get is one dict lookup, and iterators bisect the sorted list.

Concurrency: exactly one thread writes a memtable at a time (the write-group leader).
Readers never lock for a get: each dict slot holds an immutable tuple that is replaced
whole, so a reader sees either the old versions or the new ones. The sorted key list is
replaced, never mutated, so an iterator keeps a consistent list while writers go on.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter

from .core.keys import KIND_DELETE, KIND_PUT, KIND_RANGE_DELETE, Entry
from .rangedel import EMPTY, Fragments, RangeTombstone

# Bytes charged per entry on top of key and value, so that `memtable_bytes` means real
# memory: the bytes objects' headers (2 x 33), the entry tuple (72), the -seq int (32),
# the versions tuple (48), the dict slot (~60) and two list slots (16), measured with
# sys.getsizeof on CPython 3.11.
ENTRY_OVERHEAD_BYTES = 300


class Memtable:
    """Sorted in-memory table of recent writes. See the module docstring for the design."""

    __slots__ = (
        "_fragments",
        "_merged",
        "_new_keys",
        "_sort_lock",
        "_sorted",
        "approx_bytes",
        "entry_count",
        "first_seq",
        "last_seq",
        "log_number",
        "point_deletes",
        "range_tombstones",
        "table",
    )

    def __init__(self, log_number: int) -> None:
        self.log_number = log_number  # the WAL that holds exactly this memtable's writes
        self.table: dict[bytes, tuple[Entry, ...]] = {}
        self._new_keys: list[bytes] = []  # keys in insertion order; only ever grows
        self._merged = 0  # how many of _new_keys are in _sorted
        self._sorted: list[bytes] = []
        self._sort_lock = threading.Lock()
        self.range_tombstones: list[RangeTombstone] = []
        self._fragments: tuple[int, Fragments] = (0, EMPTY)  # (tombstones covered, fragments)
        self.approx_bytes = 0
        self.entry_count = 0
        self.point_deletes = 0
        self.first_seq = 0
        self.last_seq = 0

    # ----------------------------------------------------------------- writes
    def add(self, seq: int, kind: int, key: bytes, value: bytes) -> None:
        """Insert one entry. Cost: O(1) amortised (a dict lookup and store)."""
        if kind == KIND_RANGE_DELETE:
            self.range_tombstones.append((key, value, seq))
        else:
            table = self.table
            entry = (key, -seq, kind, value)
            old = table.get(key)
            if old is None:
                table[key] = (entry,)
                self._new_keys.append(key)
            else:
                table[key] = (entry, *old)
            if kind == KIND_DELETE:
                self.point_deletes += 1
        self.entry_count += 1
        self.approx_bytes += len(key) + len(value) + ENTRY_OVERHEAD_BYTES
        if not self.first_seq:
            self.first_seq = seq
        self.last_seq = seq

    def add_many(self, seq: int, ops: Iterable[tuple[int, bytes, bytes]]) -> None:
        """Insert a batch's ops `(kind, key, value)` with seqs seq, seq+1, ...

        Same result as `add` per op; the counters are updated once per batch, which
        matters for large batches (this is the commit path when tracing is off).
        """
        table = self.table
        new_keys = self._new_keys
        first = seq
        nbytes = deletes = 0
        for kind, key, value in ops:
            if kind == KIND_RANGE_DELETE:
                self.range_tombstones.append((key, value, seq))
            else:
                entry = (key, -seq, kind, value)
                old = table.get(key)
                if old is None:
                    table[key] = (entry,)
                    new_keys.append(key)
                else:
                    table[key] = (entry, *old)
                if kind == KIND_DELETE:
                    deletes += 1
            nbytes += len(key) + len(value)
            seq += 1
        count = seq - first
        if not count:
            return
        self.entry_count += count
        self.point_deletes += deletes
        self.approx_bytes += nbytes + count * ENTRY_OVERHEAD_BYTES
        if not self.first_seq:
            self.first_seq = first
        self.last_seq = seq - 1

    # ------------------------------------------------------------------ reads
    def get(self, key: bytes, read_seq: int) -> Entry | None:
        """The newest entry for `key` with seq <= read_seq (a put or a delete), else None.

        Range tombstones are not consulted here; see `fragments`.
        Cost: one dict lookup (plus a scan of newer versions when reading a snapshot).
        """
        versions = self.table.get(key)
        if versions is not None:
            for entry in versions:
                if -entry[1] <= read_seq:
                    return entry
        return None

    @property
    def fragments(self) -> Fragments:
        """This memtable's range tombstones, fragmented (rebuilt lazily after a change).

        The cache is keyed by how many tombstones it covers: the list only grows, so a
        cache built from the first n tombstones is right exactly while there are n.
        """
        count, fragments = self._fragments
        n = len(self.range_tombstones)
        if count != n:
            fragments = Fragments(self.range_tombstones[:n])
            self._fragments = (n, fragments)
        return fragments

    def sorted_keys(self) -> list[bytes]:
        """Every key, sorted. Cost: O(n) after new keys arrived (timsort merges the runs)."""
        new_keys = self._new_keys
        if self._merged == len(new_keys):
            return self._sorted
        with self._sort_lock:
            upto = len(new_keys)
            if self._merged < upto:
                merged = self._sorted + new_keys[self._merged : upto]
                merged.sort()
                self._sorted = merged  # replaced whole: iterators keep their own list
                self._merged = upto
            return self._sorted

    def iter_latest(
        self,
        read_seq: int,
        start: bytes | None = None,
        end: bytes | None = None,
        reverse: bool = False,
    ) -> Iterator[Entry]:
        """The newest entry with seq <= read_seq of each key in [start, end), in key order.

        Older versions in this memtable are shadowed by it, so they are not yielded.
        """
        keys = self.sorted_keys()
        lo = 0 if start is None else bisect_left(keys, start)
        hi = len(keys) if end is None else bisect_left(keys, end)
        table = self.table
        indexes = range(hi - 1, lo - 1, -1) if reverse else range(lo, hi)
        for i in indexes:
            for entry in table[keys[i]]:
                if -entry[1] <= read_seq:
                    yield entry
                    break

    def latest_columns(
        self, read_seq: int, start: bytes | None, end: bytes | None, reverse: bool
    ) -> MemtableColumns:
        """[start, end) as column chunks for the clean scan (iterators/clean.py)."""
        keys = self.sorted_keys()
        lo = 0 if start is None else bisect_left(keys, start)
        hi = len(keys) if end is None else bisect_left(keys, end)
        return MemtableColumns(keys, self.table, lo, max(lo, hi), read_seq, reverse)

    def iter_all(self) -> Iterator[Entry]:
        """Every point entry in internal order (key ascending, seq descending): for flush."""
        table = self.table
        for key in self.sorted_keys():
            yield from table[key]

    def __len__(self) -> int:
        return self.entry_count

    def check(self) -> None:
        """Assert the invariants (used by tests)."""
        keys = self.sorted_keys()
        assert keys == sorted(self.table), "sorted key list out of step with the table"
        for key, versions in self.table.items():
            seqs = [-e[1] for e in versions]
            assert seqs == sorted(seqs, reverse=True), f"versions of {key!r} out of order"
            assert all(e[0] == key and e[2] in (KIND_PUT, KIND_DELETE) for e in versions)
        self.fragments.check()


_first = itemgetter(0)
_neg_seq = itemgetter(1)
_kind = itemgetter(2)
_value = itemgetter(3)


class MemtableColumns:
    """A memtable's keys in [lo, hi) of a sorted key list, handed out as column chunks
    (the `Columns` protocol of iterators/clean.py): up to n keys and the values of their
    newest versions, ascending, walking up (forward) or down (reverse) the range.

    Cost per chunk: a list slice and four C-level `map` passes; no Python step per key.
    A chunk is refused (None) when one of its keys' newest version is a tombstone or is
    newer than the read point: the general path decides those.
    """

    __slots__ = ("_floor", "_hi", "_keys", "_lo", "_reverse", "_table")

    def __init__(
        self,
        keys: list[bytes],
        table: dict[bytes, tuple[Entry, ...]],
        lo: int,
        hi: int,
        read_seq: int,
        reverse: bool,
    ) -> None:
        self._keys = keys
        self._table = table
        self._lo = lo
        self._hi = hi
        self._floor = -read_seq
        self._reverse = reverse

    @property
    def done(self) -> bool:
        return self._lo >= self._hi

    def take(self, n: int, partial: bool = False) -> tuple[Sequence[bytes], Sequence[bytes]] | None:
        if self._reverse:
            b = self._hi
            a = self._hi = max(self._lo, b - n)
        else:
            a = self._lo
            b = self._lo = min(self._hi, a + n)
        keys = self._keys[a:b]
        newest = list(map(_first, map(self._table.__getitem__, keys)))
        if newest and (min(map(_neg_seq, newest)) < self._floor or not all(map(_kind, newest))):
            return None
        return keys, list(map(_value, newest))
