"""The memtable: recent writes in memory, newest version of each key first.

Layout, chosen for Python's speed and memory: the entries live in two columns indexed
by *position* (the order of arrival): `values` (a list) and `trailers` (an
`array('Q')` of `seq << 8 | kind`, 8 bytes each, no object per entry). A `dict` maps
each user key to the position of its newest version; `older` maps a position to the
position of the next older version of the same key, and only overwritten keys have an
entry there. A sorted list of the keys is brought up to date only when someone iterates.
A put is then a dict lookup, two appends and a dict store (no tree to rebalance, no
tuple per entry); a get is one dict lookup; and a flush of a memtable whose keys were
each written once gathers its sorted columns with C-level passes (`newest_columns`),
no Python step per entry.

Concurrency: exactly one thread writes a memtable at a time (the write-group leader).
Readers never lock for a get: the columns only grow, and a key's dict slot is stored
after its version is in the columns, so a reader sees either the old newest position
or the new one, both complete; a new key joins the key list only after its slot, so an
iterator that finds a key in the list finds its slot. The sorted key list is replaced,
never mutated, so an iterator keeps a consistent list while writers go on.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from itertools import compress, islice, repeat
from operator import add, and_, eq, itemgetter, lt, ne
from typing import TypeVar

from .core.keys import KIND_DELETE, KIND_PUT, KIND_RANGE_DELETE, Entry
from .rangedel import EMPTY, Fragments, RangeTombstone

T = TypeVar("T")

# Bytes charged per entry on top of key and value, so that `memtable_bytes` means real
# memory: the key's and value's bytes headers (2 x 33), the dict slot and its index
# (~50 at the dict's average fill), the position int (32), the values-list slot (8),
# the trailer (8) and the two key-list slots (16), measured with tracemalloc on
# CPython 3.11 (tests/unit/test_memtable.py checks the figure stays honest).
ENTRY_OVERHEAD_BYTES = 180

# An overwrite of a key already in the memtable also costs its `older` dict slot.
OLDER_VERSION_BYTES = 90


def gather(column: Sequence[T], positions: list[int]) -> list[T]:
    """`[column[p] for p in positions]`, in one C call (`itemgetter` of many items)."""
    if len(positions) > 1:
        return list(itemgetter(*positions)(column))
    return [column[p] for p in positions]


def sort_columns(
    keys: list[bytes], trailers: list[int], values: list[bytes]
) -> tuple[list[bytes], list[int], list[bytes]]:
    """Columns of distinct keys (`Memtable.arrival_columns`) put in key order: the input
    itself if the keys already ascend (one C pass finds out), else gathered through one
    sort of the positions by key (`sorted(range(n), key=keys.__getitem__)`: the sort
    costs what sorting the keys would, and needs no dict to find where each sorted key
    came from). For a process that writes a memtable's table without the memtable."""
    if all(map(lt, keys, islice(keys, 1, None))):
        return keys, trailers, values
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return gather(keys, order), gather(trailers, order), gather(values, order)


class Memtable:
    """Sorted in-memory table of recent writes. See the module docstring for the design."""

    __slots__ = (
        "_fragments",
        "_merged",
        "_new_keys",
        "_sort_lock",
        "_sorted",
        "approx_bytes",
        "index",
        "log_number",
        "older",
        "point_deletes",
        "range_tombstones",
        "trailers",
        "values",
    )

    def __init__(self, log_number: int) -> None:
        self.log_number = log_number  # the WAL that holds exactly this memtable's writes
        self.index: dict[bytes, int] = {}  # user key -> position of its newest version
        self.values: list[bytes] = []  # by position
        self.trailers: array[int] = array("Q")  # by position: seq << 8 | kind
        self.older: dict[int, int] = {}  # position -> next older position of that key
        self._new_keys: list[bytes] = []  # keys in insertion order; only ever grows
        self._merged = 0  # how many of _new_keys are in _sorted
        self._sorted: list[bytes] = []
        self._sort_lock = threading.Lock()
        self.range_tombstones: list[RangeTombstone] = []
        self._fragments: tuple[int, Fragments] = (0, EMPTY)  # (tombstones covered, fragments)
        self.approx_bytes = 0
        self.point_deletes = 0

    # ----------------------------------------------------------------- writes
    def add(self, seq: int, kind: int, key: bytes, value: bytes) -> None:
        """Insert one entry. Cost: O(1) amortised (one dict probe, three appends).

        Every write runs this, so it keeps no counter it can derive: the entry count and
        the sequence range are read off the columns (`entry_count`, `first_seq`).
        """
        if kind == KIND_RANGE_DELETE:
            self.range_tombstones.append((key, value, seq))
            self.approx_bytes += len(key) + len(value) + ENTRY_OVERHEAD_BYTES
            return
        values = self.values
        pos = len(values)
        values.append(value)
        self.trailers.append(seq << 8 | kind)
        index = self.index
        # One probe: stores pos for a key new to the memtable, else returns its slot.
        old = index.setdefault(key, pos)
        if old is pos:
            # The dict slot before the key list: an iterator that finds the key in the
            # list must find its slot. The slot after the columns: see the module docs.
            self._new_keys.append(key)
            self.approx_bytes += len(key) + len(value) + ENTRY_OVERHEAD_BYTES
        else:
            self.older[pos] = old
            index[key] = pos
            self.approx_bytes += len(key) + len(value) + ENTRY_OVERHEAD_BYTES + OLDER_VERSION_BYTES
        if kind == KIND_DELETE:
            self.point_deletes += 1

    def add_many(
        self,
        seq: int,
        keys: Sequence[bytes],
        values: Sequence[bytes],
        kinds: bytes | None = None,
        nbytes: int | None = None,
    ) -> None:
        """Insert a batch's ops, given as columns, with seqs seq, seq+1, ...: op i puts
        `values[i]` under `keys[i]`, or is of kind `kinds[i]` if `kinds` is given (None:
        every op is a put; a range deletion's end is its value). `nbytes`, if the caller
        knows it, is the key and value bytes of the ops (else two passes count them).

        Same result as `add` per op. The usual batch (no range deletion, every key new
        to the memtable and distinct) goes in with C-level passes: the columns are
        extended (the trailers of an all-put batch are a `range`) and the dict filled by
        one `map` of `setdefault`, no Python step per op; a key already present costs
        one Python step. Readers cannot see a half-applied batch: its seqs are above the
        published sequence number until the whole group is in.
        """
        n = len(keys)
        if not n:
            return
        if kinds is not None and KIND_RANGE_DELETE in kinds:
            for kind, key, value in zip(kinds, keys, values, strict=True):
                self.add(seq, kind, key, value)
                seq += 1
            return
        index = self.index
        pos = len(self.values)
        self.values += values
        # A trailer is seq << 8 | kind, so consecutive puts' trailers step by 256.
        first = seq << 8
        if kinds is None:
            self.trailers.extend(range(first | KIND_PUT, (seq + n) << 8, 256))
        else:
            self.trailers.extend(map(add, range(first, (seq + n) << 8, 256), kinds))
            self.point_deletes += kinds.count(KIND_DELETE)
        if nbytes is None:
            nbytes = sum(map(len, keys)) + sum(map(len, values))
        # One probe per key, in C: `setdefault` stores the position of a key new to the
        # memtable and returns it, or returns the position already there (a key seen
        # before, or earlier in this batch) and stores nothing. The usual batch gets
        # its own positions back and is done.
        positions = list(range(pos, pos + n))
        found = list(map(index.setdefault, keys, positions))
        overwrites = 0
        if found == positions:
            self._new_keys += keys  # after the slots, as in `add`
        else:
            self._new_keys += compress(keys, map(eq, found, positions))
            older = self.older
            # The keys that were there already: chain each to the version before it,
            # in batch order (a key repeated in the batch chains to its previous op).
            for i in compress(range(n), map(ne, found, positions)):
                key = keys[i]
                p = positions[i]
                older[p] = index[key]
                index[key] = p
                overwrites += 1
        self.approx_bytes += nbytes + n * ENTRY_OVERHEAD_BYTES + overwrites * OLDER_VERSION_BYTES

    # ------------------------------------------------------------------ reads
    def get(self, key: bytes, read_seq: int) -> Entry | None:
        """The newest entry for `key` with seq <= read_seq (a put or a delete), else None.

        Range tombstones are not consulted here; see `fragments`.
        Cost: one dict lookup (plus a walk down older versions when reading a snapshot).
        """
        pos = self.index.get(key)
        if pos is None:
            return None
        trailers = self.trailers
        t = trailers[pos]
        while t >> 8 > read_seq:
            next_pos = self.older.get(pos)
            if next_pos is None:
                return None
            pos = next_pos
            t = trailers[pos]
        return (key, -(t >> 8), t & 0xFF, self.values[pos])

    def versions(self, key: bytes) -> list[Entry]:
        """Every version of `key` held here, newest first (for introspection)."""
        out: list[Entry] = []
        pos = self.index.get(key)
        while pos is not None:
            t = self.trailers[pos]
            out.append((key, -(t >> 8), t & 0xFF, self.values[pos]))
            pos = self.older.get(pos)
        return out

    @property
    def entry_count(self) -> int:
        """Entries held: point entries and range tombstones."""
        return len(self.trailers) + len(self.range_tombstones)

    @property
    def first_seq(self) -> int:
        """The smallest seq held (0 if empty). Both columns are in seq order."""
        seqs = []
        if self.trailers:
            seqs.append(self.trailers[0] >> 8)
        if self.range_tombstones:
            seqs.append(self.range_tombstones[0][2])
        return min(seqs, default=0)

    @property
    def last_seq(self) -> int:
        """The largest seq held (0 if empty)."""
        seqs = []
        if self.trailers:
            seqs.append(self.trailers[-1] >> 8)
        if self.range_tombstones:
            seqs.append(self.range_tombstones[-1][2])
        return max(seqs, default=0)

    @property
    def shadowed(self) -> int:
        """Versions held here that a newer version of the same key shadows."""
        return len(self.older)

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
                fresh = new_keys[self._merged : upto]
                merged = self._sorted + fresh if self._sorted else fresh
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
        index, trailers, values = self.index, self.trailers, self.values
        indexes = range(hi - 1, lo - 1, -1) if reverse else range(lo, hi)
        for i in indexes:
            key = keys[i]
            pos = index[key]
            t = trailers[pos]
            if t >> 8 <= read_seq:  # the common case: the newest version is visible
                yield (key, -(t >> 8), t & 0xFF, values[pos])
            else:
                entry = self.get(key, read_seq)
                if entry is not None:
                    yield entry

    def latest_columns(
        self, read_seq: int, start: bytes | None, end: bytes | None, reverse: bool
    ) -> MemtableColumns:
        """[start, end) as column chunks for the clean scan (iterators/clean.py)."""
        keys = self.sorted_keys()
        lo = 0 if start is None else bisect_left(keys, start)
        hi = len(keys) if end is None else bisect_left(keys, end)
        return MemtableColumns(self, keys, lo, max(lo, hi), read_seq, reverse)

    def iter_all(self) -> Iterator[Entry]:
        """Every point entry in internal order (key ascending, seq descending): for flush."""
        for key in self.sorted_keys():
            yield from self.versions(key)

    def newest_columns(self) -> tuple[list[bytes], list[int], list[bytes]]:
        """The newest version of every key as columns `(keys, trailers, values)`, in key
        order: what a flush writes when no older version needs keeping (`shadowed` is 0,
        or no snapshot can see them): the same as `sort_columns(*self.arrival_columns())`.
        Cost: a sort of the keys, then C-level gathers (the sorted keys' positions looked
        up in the dict by one `itemgetter` call), no Python step per entry.

        A sequential load costs one C pass and three copies: when no key was written
        twice (`older` is empty), key i of the arrival list sits at position i, so keys
        that also arrived ascending are the columns as they stand.
        """
        new_keys = self._new_keys
        if (
            not self.older
            and len(new_keys) == len(self.values)
            and all(map(lt, new_keys, islice(new_keys, 1, None)))
        ):
            return new_keys[:], list(self.trailers), self.values[:]
        keys = self.sorted_keys()
        # itemgetter over many keys: one C call, twice as fast as a map of lookups (and
        # about 10% faster than `sort_columns`' sort of positions by key, measured).
        positions: list[int] = (
            list(itemgetter(*keys)(self.index)) if len(keys) > 1 else [self.index[k] for k in keys]
        )
        return keys, gather(self.trailers, positions), gather(self.values, positions)

    def arrival_columns(self) -> tuple[list[bytes], list[int], list[bytes]]:
        """The newest version of every key as columns, keys in order of first arrival:
        `newest_columns` before its sort, so a flush can leave the sort to whoever
        writes the table (another process, say). Cost: C-level copies when no key was
        written twice (key i of the arrival list then sits at position i); otherwise the
        dict's positions (in arrival order too) and two C-level gathers.
        """
        new_keys = self._new_keys
        if not self.older and len(new_keys) == len(self.values):
            return new_keys[:], list(self.trailers), self.values[:]
        positions = list(self.index.values())
        return list(self.index), gather(self.trailers, positions), gather(self.values, positions)

    def __len__(self) -> int:
        return self.entry_count

    def check(self) -> None:
        """Assert the invariants (used by tests)."""
        keys = self.sorted_keys()
        assert keys == sorted(self.index), "sorted key list out of step with the table"
        count = 0
        for key in self.index:
            versions = self.versions(key)
            count += len(versions)
            seqs = [-e[1] for e in versions]
            assert seqs == sorted(seqs, reverse=True), f"versions of {key!r} out of order"
            assert all(e[2] in (KIND_PUT, KIND_DELETE) for e in versions)
        assert count == len(self.values) == len(self.trailers)
        self.fragments.check()


class MemtableColumns:
    """A memtable's keys in [lo, hi) of a sorted key list, handed out as column chunks
    (the `Columns` protocol of iterators/clean.py): up to n keys and the values of their
    newest versions, ascending, walking up (forward) or down (reverse) the range.

    Cost per chunk: a list slice, one dict gather and two column gathers (C-level), and
    two C passes over the trailers; no Python step per key. A chunk is refused (None)
    when one of its keys' newest version is a tombstone or is newer than the read
    point: the general path decides those. Safe beside the writer: positions only grow
    and a key in the sorted list always has its slot (see the module docs).
    """

    __slots__ = ("_hi", "_keys", "_lo", "_mem", "_read_seq", "_reverse")

    def __init__(
        self, mem: Memtable, keys: list[bytes], lo: int, hi: int, read_seq: int, reverse: bool
    ) -> None:
        self._mem = mem
        self._keys = keys
        self._lo = lo
        self._hi = hi
        self._read_seq = read_seq
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
        if not keys:
            return keys, []
        mem = self._mem
        index = mem.index
        positions: list[int] = list(itemgetter(*keys)(index)) if len(keys) > 1 else [index[keys[0]]]
        trailers = gather(mem.trailers, positions)
        # Every newest version a put (kind byte non-zero) at or below the read point.
        if max(trailers) >> 8 > self._read_seq or not all(map(and_, trailers, repeat(0xFF))):
            return None
        return keys, gather(mem.values, positions)
