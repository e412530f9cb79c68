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
   its key (nothing older can hide beneath it in a deeper level) *and* it sits in the
   oldest stripe (every open snapshot already sees the delete). Dropping it earlier
   would resurrect the older value it hides.
4. A range tombstone is dropped under the same two conditions; otherwise it is carried
   into the outputs whose key range it overlaps.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass

from ..core.keys import KIND_DELETE, Entry
from ..rangedel import Fragments, RangeTombstone


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
    bottommost: bool,
    tally: RetentionTally,
) -> Iterator[Entry]:
    """The entries of `merged` (internal order, all versions) that must be kept.

    `snapshots`: sequence numbers of open snapshots, ascending.
    """
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
        if kind == KIND_DELETE and bottommost and (oldest is None or seq <= oldest):
            tally.tombstones_dropped += 1  # rule 3
            continue
        yield entry


def retained_range_tombstones(
    fragments: Fragments, snapshots: list[int], bottommost: bool, tally: RetentionTally
) -> list[RangeTombstone]:
    """Rule 4: the range tombstones to carry into the outputs."""
    oldest = snapshots[0] if snapshots else None
    kept = []
    for start, end, seq in fragments.tombstones():
        if bottommost and (oldest is None or seq <= oldest):
            tally.range_tombstones_dropped += 1
            continue
        kept.append((start, end, seq))
    return kept
