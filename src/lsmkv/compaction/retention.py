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
from itertools import chain, islice
from operator import itemgetter, ne

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
    exist (the usual compaction), and a run with no repeated key and no point
    tombstone keeps every entry under them. That is checked with C-level passes
    (one over the keys, one over the kinds), so such a run passes with no Python step
    per entry; only runs where versions of one key meet or a tombstone needs a decision
    go through the rules entry by entry. With snapshots or range tombstones every entry
    goes through `retain`.
    """
    if snapshots or fragments:
        yield from _chunked(
            retain(chain.from_iterable(runs), snapshots, fragments, bottommost, tally)
        )
        return
    is_bottom: Callable[[bytes], bool]
    if isinstance(bottommost, bool):
        everywhere = bottommost

        def is_bottom(_key: bytes) -> bool:
            return everywhere

    else:
        is_bottom = bottommost
    last_key: bytes | None = None
    for run in runs:
        if not run:
            continue
        keys = list(map(_KEY, run))
        if (
            keys[0] != last_key
            and all(map(ne, keys, islice(keys, 1, None)))
            and KIND_DELETE not in map(_KIND, run)
        ):
            last_key = keys[-1]
            yield run
            continue
        kept = []
        for entry in run:
            key = entry[0]
            if key == last_key:
                tally.shadowed_dropped += 1  # rule 1 (one stripe: no snapshots)
                continue
            last_key = key
            if entry[2] == KIND_DELETE and is_bottom(key):
                tally.tombstones_dropped += 1  # rule 3
                continue
            kept.append(entry)
        if kept:
            yield kept


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
