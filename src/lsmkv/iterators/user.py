"""The user-facing iterator: from merged internal entries to the (key, value) pairs a
user sees at one sequence number.

It hides what a user must not see: versions newer than the read point (filtered by the
sources), older versions of a key (shadowed by the newest), point tombstones, and keys
covered by a newer range tombstone. Each kind of step-over is counted, because that
hidden work is exactly the read amplification of a scan (docs/queue.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..core.keys import KIND_DELETE, Entry
from ..rangedel import Fragments


@dataclass
class ScanTally:
    """What one scan stepped over (and returned)."""

    returned: int = 0
    tombstones: int = 0
    range_deleted: int = 0
    shadowed: int = 0
    # The first and last keys stepped over as deleted (point or range), in scan order:
    # the key range a scan reports as a compaction hint (docs/compaction.md).
    first_deleted: bytes | None = None
    last_deleted: bytes | None = None

    def note_deleted(self, key: bytes) -> None:
        if self.first_deleted is None:
            self.first_deleted = key
        self.last_deleted = key


def user_entries(
    merged: Iterator[Entry],
    fragments: Fragments,
    read_seq: int,
    reverse: bool,
    tally: ScanTally,
) -> Iterator[tuple[bytes, bytes]]:
    """`(key, value)` of every live key, in order. `merged` must hold only seq <= read_seq.

    Cost: O(1) Python steps per internal entry (plus a bisect per key when range
    tombstones exist).
    """
    covering = fragments.covering_seq if fragments else None
    if not reverse:
        # Forward: the first entry of each key is its newest visible version.
        previous = None
        for key, neg_seq, kind, value in merged:
            if key == previous:
                tally.shadowed += 1
                continue
            previous = key
            if covering is not None and covering(key, read_seq) > -neg_seq:
                tally.range_deleted += 1
                tally.note_deleted(key)
                continue
            if kind == KIND_DELETE:
                tally.tombstones += 1
                tally.note_deleted(key)
                continue
            tally.returned += 1
            yield key, value
        return
    # Reverse: entries of one key arrive oldest first; the last one decides.
    pending: Entry | None = None
    for entry in merged:
        if pending is not None and entry[0] != pending[0]:
            result = _decide(pending, covering, read_seq, tally)
            if result is not None:
                yield result
        elif pending is not None:
            tally.shadowed += 1
        pending = entry
    if pending is not None:
        result = _decide(pending, covering, read_seq, tally)
        if result is not None:
            yield result


def _decide(
    entry: Entry,
    covering: Callable[[bytes, int], int] | None,
    read_seq: int,
    tally: ScanTally,
) -> tuple[bytes, bytes] | None:
    key, neg_seq, kind, value = entry
    if covering is not None and covering(key, read_seq) > -neg_seq:
        tally.range_deleted += 1
        tally.note_deleted(key)
        return None
    if kind == KIND_DELETE:
        tally.tombstones += 1
        tally.note_deleted(key)
        return None
    tally.returned += 1
    return key, value


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with `prefix` (None: no bound)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes((trimmed[-1] + 1,))
