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
from itertools import chain
from operator import eq, itemgetter

from ..core.keys import KIND_DELETE, Entry, check_key
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


def user_entries(
    merged: Iterator[Entry],
    fragments: Fragments,
    read_seq: int,
    reverse: bool,
    tally: ScanTally,
    limit: int | None = None,
    finish: Callable[[ScanTally], None] | None = None,
) -> Iterator[tuple[bytes, bytes]]:
    """`(key, value)` of every live key, in order. `merged` must hold only seq <= read_seq.

    Stops after `limit` results (None: no limit) without pulling another entry. The
    step-overs are counted in locals and added to `tally` when the iterator ends or is
    closed (then `finish(tally)` runs): a per-entry attribute update would cost more
    than the rest of the loop.

    Cost: O(1) Python steps per internal entry (plus a bisect per key when range
    tombstones exist).
    """
    covering = fragments.covering_seq if fragments else None
    returned = tombstones = range_deleted = shadowed = 0
    # The scan-order range of deleted keys stepped over (ScanTally.first/last_deleted).
    first_deleted: bytes | None = None
    last_deleted: bytes | None = None
    try:
        if limit is not None and limit <= 0:
            return
        if not reverse:
            # Forward: the first entry of each key is its newest visible version.
            previous = None
            for key, neg_seq, kind, value in merged:
                if key == previous:
                    shadowed += 1
                    continue
                previous = key
                if covering is not None and covering(key, read_seq) > -neg_seq:
                    range_deleted += 1
                elif kind == KIND_DELETE:
                    tombstones += 1
                else:
                    returned += 1
                    yield key, value
                    if returned == limit:
                        return
                    continue
                if first_deleted is None:
                    first_deleted = key
                last_deleted = key
            return
        # Reverse: entries of one key arrive oldest first; the last one decides.
        pending: Entry | None = None
        for entry in chain(merged, (None,)):
            if pending is not None and (entry is None or entry[0] != pending[0]):
                key, neg_seq, kind, value = pending
                if covering is not None and covering(key, read_seq) > -neg_seq:
                    range_deleted += 1
                elif kind == KIND_DELETE:
                    tombstones += 1
                else:
                    returned += 1
                    yield key, value
                    if returned == limit:
                        return
                    pending = entry
                    continue
                if first_deleted is None:
                    first_deleted = key
                last_deleted = key
            elif pending is not None:
                shadowed += 1
            pending = entry
    finally:
        _settle(tally, returned, tombstones, range_deleted, shadowed, first_deleted, last_deleted)
        if finish is not None:
            finish(tally)


def _settle(
    tally: ScanTally,
    returned: int,
    tombstones: int,
    range_deleted: int,
    shadowed: int,
    first_deleted: bytes | None,
    last_deleted: bytes | None,
) -> None:
    tally.returned += returned
    tally.tombstones += tombstones
    tally.range_deleted += range_deleted
    tally.shadowed += shadowed
    if first_deleted is not None:
        if tally.first_deleted is None:
            tally.first_deleted = first_deleted
        tally.last_deleted = last_deleted


def user_runs(
    runs: Iterator[list[Entry]],
    reverse: bool,
    tally: ScanTally,
    limit: int | None = None,
    finish: Callable[[ScanTally], None] | None = None,
) -> Iterator[list[tuple[bytes, bytes]]]:
    """`user_entries` for the common case of no range tombstones, a run at a time.

    Takes the merge's sorted runs and yields lists of `(key, value)`; wrapped in
    `itertools.chain.from_iterable`, the caller sees single pairs at C speed. Per run,
    one comprehension keeps the deciding version of each key (forward: the first of the
    key's group; reverse: the last) unless it is a tombstone, and two C-level passes
    count what was stepped over. Counts: `returned` is what the runs handed out, so a
    caller that stops in the middle of a run is charged the whole run.
    """
    returned = tombstones = shadowed = 0
    first_deleted: bytes | None = None
    last_deleted: bytes | None = None
    try:
        if limit is not None and limit <= 0:
            return
        carry: list[Entry] = []
        prev_key: bytes | None = None
        for run in runs:
            if not reverse:
                keys = list(map(_key_of, run))
                others = [prev_key, *keys]  # the key before each entry
                decided = run
                prev_key = keys[-1]
            else:
                # A key's versions arrive oldest first and the last one decides, so the
                # last entry of a run waits for the next run to see whether its key goes on.
                decided = carry + run if carry else run
                keys = list(map(_key_of, decided))
                others = keys[1:]  # the key after each entry
                carry = [decided[-1]]
            # kind is 0 for a point tombstone, 1 for a put.
            out = [
                (k, v)
                for (k, _, kind, v), other in zip(decided, others, strict=False)
                if kind and k != other
            ]
            dup = sum(map(eq, keys, others))
            considered = len(decided) - (1 if reverse else 0)
            dead = considered - dup - len(out)
            if dead:
                tombstones += dead
                gone = [
                    k
                    for (k, _, kind, _), other in zip(decided, others, strict=False)
                    if not kind and k != other
                ]
                if first_deleted is None:
                    first_deleted = gone[0]
                last_deleted = gone[-1]
            shadowed += dup
            if limit is not None and len(out) >= limit - returned:
                out = out[: limit - returned]
                returned += len(out)
                yield out
                return
            returned += len(out)
            if out:
                yield out
        if carry:
            k, _, kind, v = carry[0]
            if kind:
                if limit is None or returned < limit:
                    returned += 1
                    yield [(k, v)]
            else:
                tombstones += 1
                if first_deleted is None:
                    first_deleted = k
                last_deleted = k
    finally:
        _settle(tally, returned, tombstones, 0, shadowed, first_deleted, last_deleted)
        if finish is not None:
            finish(tally)


_key_of = itemgetter(0)


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with `prefix` (None: no bound)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes((trimmed[-1] + 1,))


def scan_bounds(
    start: object, end: object, prefix: object, limit: object
) -> tuple[bytes | None, bytes | None]:
    """The checked `[start, end)` of a scan's arguments, a prefix folded into the bounds.

    Raises:
        TypeError: a bound or prefix that is not bytes-like (named).
        ValueError: a negative or non-int `limit`, or an oversized key.
    """
    lo = None if start is None else check_key(start, "start")
    hi = None if end is None else check_key(end, "end")
    if prefix is not None:
        prefix = check_key(prefix, "prefix")
        p_end = prefix_end(prefix)
        lo = prefix if lo is None or lo < prefix else lo
        hi = p_end if hi is None or (p_end is not None and p_end < hi) else hi
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a non-negative int, got {limit!r}")
    return lo, hi
