"""What survives a flush or compaction: the garbage-collection rules for versions and
tombstones, in one place.

Open snapshots cut the sequence numbers into *stripes*: stripe i holds the seqs a
snapshot at `snapshots[i]` sees but the previous snapshot does not; the last stripe
is what only the live store sees. Within a stripe, no reader can tell versions of a
key apart except by the newest, so:

1. For each key, keep the newest version in each stripe; older ones in the same
   stripe are shadowed for every reader and are dropped.
2. A version covered by a range tombstone with a higher seq in the same stripe is
   invisible to every reader that could see it: drop it.
3. A point tombstone may be dropped only when the output is the bottom-most level for
   its key (no deeper level has a file whose range holds the key, so nothing older can
   hide beneath it) *and* it sits in the oldest stripe (every open snapshot already
   sees the delete). Dropping it earlier would resurrect the older value it hides.
   "Bottom-most" is decided key by key (`Beneath`), as RocksDB does, not for the
   compaction's whole range: a tombstone above a gap in the deeper levels can go.
4. A range tombstone is dropped under the same two conditions (no deeper file overlaps
   its span); otherwise it is carried into the outputs whose key range it overlaps.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, compress, islice, repeat
from operator import and_, eq, itemgetter, ne

from ..core.keys import KIND_DELETE, Entry
from ..manifest.version import Version
from ..rangedel import Fragments, RangeTombstone

# Is the output the bottom-most level for this user key (True) or may a deeper level
# hold an older version of it (False)? A plain bool answers for every key.
Bottommost = bool | Callable[[bytes], bool]


class Beneath:
    """Key-by-key bottom-most test for a compaction writing to `output_level`.

    `is_bottommost(key)` must be called with ascending keys (as a merge yields them):
    it keeps one cursor per deeper level, so a whole compaction costs O(keys + files).
    """

    __slots__ = ("_levels", "_pos")

    def __init__(self, version: Version, output_level: int) -> None:
        self._levels = [
            version.levels[d]
            for d in range(output_level + 1, version.num_levels)
            if version.levels[d]
        ]
        self._pos = [0] * len(self._levels)

    def is_bottommost(self, key: bytes) -> bool:
        pos = self._pos
        for i, files in enumerate(self._levels):
            p = pos[i]
            n = len(files)
            while p < n and files[p].largest < key:
                p += 1
            pos[i] = p
            if p < n and files[p].smallest <= key:
                return False
        return True


@dataclass
class RetentionTally:
    shadowed_dropped: int = 0
    range_covered_dropped: int = 0
    tombstones_dropped: int = 0
    range_tombstones_dropped: int = 0


def retain(
    merged: Iterator[Entry],
    snapshots: list[int],
    fragments: Fragments,
    bottommost: Bottommost,
    tally: RetentionTally,
) -> Iterator[Entry]:
    """The entries of `merged` (internal order, all versions) that must be kept.

    `snapshots`: sequence numbers of open snapshots, ascending. `bottommost`: a bool for
    every key (a flush passes False), or a per-key test such as `Beneath.is_bottommost`.
    Cost: O(1) per entry, plus a bisect when snapshots or range tombstones exist.
    """
    if isinstance(bottommost, bool):
        everywhere = bottommost

        def bottommost(_key: bytes) -> bool:
            return everywhere

    nsnap = len(snapshots)
    oldest = snapshots[0] if snapshots else None
    last_key: bytes | None = None
    last_stripe = -1
    for entry in merged:
        key, neg_seq, kind, _value = entry
        seq = -neg_seq
        stripe = bisect_left(snapshots, seq) if nsnap else 0
        if key == last_key and stripe == last_stripe:
            tally.shadowed_dropped += 1  # rule 1
            continue
        last_key, last_stripe = key, stripe
        if fragments:
            span = fragments.span_at(key)
            if span >= 0:
                ceiling = snapshots[stripe] if stripe < nsnap else None
                if any(t > seq and (ceiling is None or t <= ceiling) for t in fragments.seqs[span]):
                    tally.range_covered_dropped += 1  # rule 2
                    continue
        if kind == KIND_DELETE and (oldest is None or seq <= oldest) and bottommost(key):
            tally.tombstones_dropped += 1  # rule 3
            continue
        yield entry


_KEY = itemgetter(0)
_KIND = itemgetter(2)


def retain_runs(
    runs: Iterable[list[Entry]],
    snapshots: list[int],
    fragments: Fragments,
    bottommost: Bottommost,
    tally: RetentionTally,
) -> Iterator[list[Entry]]:
    """`retain` over runs of entries (lists whose concatenation is in internal order, as
    `merge_runs` yields them), giving runs of the entries kept.

    Why: rule 1 and rule 3 are all that apply when no snapshot and no range tombstone
    exist (the usual compaction), and both reduce to C-level passes over a run: rule 1
    compares each key with the one before it (`map(ne, ...)`), giving a keep mask
    applied with `compress`; rule 3 then costs one Python step per point tombstone that
    survived rule 1, and none per put. A run with no repeated key and no tombstone is
    passed on as it is. With snapshots or range tombstones every entry goes through
    `retain`.
    """
    if snapshots or fragments:
        yield from _chunked(
            retain(chain.from_iterable(runs), snapshots, fragments, bottommost, tally)
        )
        return
    is_bottom: Callable[[bytes], bool] | None = None  # None: a bool answers for all keys
    if not isinstance(bottommost, bool):
        is_bottom = bottommost
    last_key: bytes | None = None
    for run in runs:
        if not run:
            continue
        n = len(run)
        keys = list(map(_KEY, run))
        # Rule 1 (one stripe, no snapshots): keep the first version of each key.
        newest = list(map(ne, keys, chain((last_key,), keys)))
        last_key = keys[-1]
        kinds = list(map(_KIND, run))
        deletes = KIND_DELETE in kinds
        firsts = newest.count(True)
        if not deletes and firsts == n:
            yield run  # the usual run: nothing to drop
            continue
        tally.shadowed_dropped += n - firsts
        if deletes and (is_bottom is not None or bottommost):
            # Rule 3: a point tombstone that survived rule 1 goes where nothing below
            # it may hold the key. One Python step per such tombstone, none per put.
            is_delete = map(eq, kinds, repeat(KIND_DELETE))
            for i in compress(range(n), list(map(and_, newest, is_delete))):
                if is_bottom is None or is_bottom(keys[i]):
                    newest[i] = False
                    tally.tombstones_dropped += 1
        survivors = list(compress(run, newest))
        if survivors:
            yield survivors


def _chunked(entries: Iterator[Entry], size: int = 1024) -> Iterator[list[Entry]]:
    while True:
        part = list(islice(entries, size))
        if part:
            yield part
        if len(part) < size:
            return


def retained_range_tombstones(
    fragments: Fragments,
    snapshots: list[int],
    bottommost: bool | Callable[[bytes, bytes], bool],
    tally: RetentionTally,
) -> list[RangeTombstone]:
    """Rule 4: the range tombstones to carry into the outputs. `bottommost` is a bool or
    a test of one span [start, end) (e.g. `Version.bottommost_for` of the output level)."""
    oldest = snapshots[0] if snapshots else None
    kept = []
    for start, end, seq in fragments.tombstones():
        if (oldest is None or seq <= oldest) and (
            bottommost if isinstance(bottommost, bool) else bottommost(start, end)
        ):
            tally.range_tombstones_dropped += 1
            continue
        kept.append((start, end, seq))
    return kept
