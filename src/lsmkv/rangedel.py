"""Range tombstones: `delete_range(start, end)` as one record, and how reads consult them.

A range tombstone `[start, end)#seq` deletes every version of every key in the range
whose sequence number is below `seq`. Tombstones may overlap, so readers use them
*fragmented* (as Pebble's keyspan does): the key space is cut at every start and end,
giving non-overlapping spans, each carrying the sequence numbers of all tombstones that
cover it, newest first. A lookup is then one binary search.

    tombstones  [b, f)#9   [d, h)#5
    fragments   [b, d){9}  [d, f){9, 5}  [f, h){5}
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator

RangeTombstone = tuple[bytes, bytes, int]  # (start, end, seq)


class Fragments:
    """Non-overlapping spans of range tombstones, sorted by start.

    Cost: building is O(t log t + f) for t tombstones and f fragment-seq pairs;
    `covering_seq` is one `bisect` plus a scan of that span's seqs.
    """

    __slots__ = ("ends", "seqs", "starts")

    def __init__(self, tombstones: Iterable[RangeTombstone]) -> None:
        tombs = [t for t in tombstones if t[0] < t[1]]
        bounds = sorted({b for s, e, _ in tombs for b in (s, e)})
        index = {b: i for i, b in enumerate(bounds)}
        covering: list[list[int]] = [[] for _ in range(max(len(bounds) - 1, 0))]
        for start, end, seq in tombs:
            for i in range(index[start], index[end]):
                covering[i].append(seq)
        self.starts: list[bytes] = []
        self.ends: list[bytes] = []
        self.seqs: list[tuple[int, ...]] = []
        for i, seqs in enumerate(covering):
            if seqs:
                self.starts.append(bounds[i])
                self.ends.append(bounds[i + 1])
                self.seqs.append(tuple(sorted(set(seqs), reverse=True)))

    def __bool__(self) -> bool:
        return bool(self.starts)

    def __len__(self) -> int:
        return len(self.starts)

    def covering_seq(self, key: bytes, read_seq: int) -> int:
        """The newest seq <= read_seq of a tombstone covering `key`, or 0 if none."""
        i = bisect_right(self.starts, key) - 1
        if i < 0 or key >= self.ends[i]:
            return 0
        for seq in self.seqs[i]:
            if seq <= read_seq:
                return seq
        return 0

    def span_at(self, key: bytes) -> int:
        """Index of the fragment containing `key`, or -1."""
        i = bisect_right(self.starts, key) - 1
        if i < 0 or key >= self.ends[i]:
            return -1
        return i

    def tombstones(self) -> Iterator[RangeTombstone]:
        """Each fragment once per seq, sorted by (start, seq descending): the on-disk order."""
        for start, end, seqs in zip(self.starts, self.ends, self.seqs, strict=True):
            for seq in seqs:
                yield start, end, seq

    def overlapping(self, lo: bytes | None, hi: bytes | None) -> Iterator[RangeTombstone]:
        """`tombstones()` restricted to the fragments that overlap [lo, hi) (None: no
        bound). Cost: two bisects plus O(1) per fragment returned, not per fragment held:
        a scan above a long run of old range tombstones (a queue's consumed head) pays
        nothing for them."""
        starts, ends, seqs = self.starts, self.ends, self.seqs
        # Fragments do not overlap, so their ends are sorted as their starts are.
        first = 0 if lo is None else bisect_right(ends, lo)
        last = len(starts) if hi is None else bisect_left(starts, hi)
        for i in range(first, last):
            for seq in seqs[i]:
                yield starts[i], ends[i], seq

    def uncovered(
        self, floor_seq: int, lo: bytes | None, hi: bytes | None
    ) -> list[tuple[bytes | None, bytes | None]]:
        """The parts of [lo, hi) that a source holding only seqs <= `floor_seq` must
        still read: everything except the spans whose newest tombstone is above
        `floor_seq`, where every entry of that source is deleted. A scan reads each part
        with its own bounded seek, so a covered span costs nothing however many keys it
        holds (how iterators step over a `delete_range` of a million keys).

        The fragments must already be those a reader sees (seq <= its read point).
        Cost: two bisects plus O(1) per overlapping fragment. Returns `[(lo, hi)]` when
        nothing can be skipped.
        """
        starts, ends, seqs = self.starts, self.ends, self.seqs
        first = 0 if lo is None else bisect_right(ends, lo)
        last = len(starts) if hi is None else bisect_left(starts, hi)
        parts: list[tuple[bytes | None, bytes | None]] = []
        cursor = lo
        for i in range(first, last):
            if seqs[i][0] <= floor_seq:
                continue
            span_start, span_end = starts[i], ends[i]
            if cursor is None or span_start > cursor:
                parts.append((cursor, span_start))
            if cursor is None or span_end > cursor:
                cursor = span_end
        if hi is None or cursor is None or cursor < hi:
            parts.append((cursor, hi))
        return parts

    def visible(self, read_seq: int) -> Fragments:
        """The fragments as seen by a reader at `read_seq`."""
        return Fragments(t for t in self.tombstones() if t[2] <= read_seq)

    def check(self) -> None:
        """Assert the invariants: sorted, non-overlapping, non-empty spans, seqs descending."""
        for i, (s, e, seqs) in enumerate(zip(self.starts, self.ends, self.seqs, strict=True)):
            assert s < e, f"empty fragment {s!r}..{e!r}"
            assert seqs and list(seqs) == sorted(set(seqs), reverse=True)
            if i:
                assert self.ends[i - 1] <= s, "fragments overlap"


EMPTY = Fragments(())
