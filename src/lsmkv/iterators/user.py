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
from operator import eq, itemgetter

from ..core.keys import KIND_DELETE, Entry
from ..rangedel import Fragments


@dataclass
class ScanTally:
    """What one scan stepped over (and returned)."""

    returned: int = 0
    tombstones: int = 0
    range_deleted: int = 0
    shadowed: int = 0


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
                    continue
                if kind == KIND_DELETE:
                    tombstones += 1
                    continue
                returned += 1
                yield key, value
                if returned == limit:
                    return
            return
        # Reverse: entries of one key arrive oldest first; the last one decides.
        pending: Entry | None = None
        pending_key = None
        for entry in merged:
            if entry[0] != pending_key:
                if pending is not None:
                    _key, neg_seq, kind, value = pending
                    if covering is not None and covering(_key, read_seq) > -neg_seq:
                        range_deleted += 1
                    elif kind == KIND_DELETE:
                        tombstones += 1
                    else:
                        returned += 1
                        yield _key, value
                        if returned == limit:
                            return
                pending_key = entry[0]
            else:
                shadowed += 1
            pending = entry
        if pending is not None:
            _key, neg_seq, kind, value = pending
            if covering is not None and covering(_key, read_seq) > -neg_seq:
                range_deleted += 1
            elif kind == KIND_DELETE:
                tombstones += 1
            else:
                returned += 1
                yield _key, value
    finally:
        tally.returned += returned
        tally.tombstones += tombstones
        tally.range_deleted += range_deleted
        tally.shadowed += shadowed
        if finish is not None:
            finish(tally)


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
    try:
        if limit is not None and limit <= 0:
            return
        if not reverse:
            prev_key: bytes | None = None
            for run in runs:
                keys = list(map(_key_of, run))
                before = [prev_key, *keys]  # the key before each entry
                # kind is 0 for a point tombstone, 1 for a put.
                out = [
                    (k, v)
                    for (k, _, kind, v), pk in zip(run, before, strict=False)
                    if kind and k != pk
                ]
                dup = sum(map(eq, keys, before))
                shadowed += dup
                tombstones += len(run) - dup - len(out)
                prev_key = keys[-1]
                if limit is not None and len(out) >= limit - returned:
                    out = out[: limit - returned]
                    returned += len(out)
                    yield out
                    return
                returned += len(out)
                if out:
                    yield out
            return
        # Reverse: a key's versions arrive oldest first; the last one decides, so the
        # last entry of a run waits for the next run to see whether its key goes on.
        carry: list[Entry] = []
        for run in runs:
            buf = carry + run if carry else run
            keys = list(map(_key_of, buf))
            after = keys[1:]
            out = [
                (k, v) for (k, _, kind, v), nk in zip(buf, after, strict=False) if kind and k != nk
            ]
            dup = sum(map(eq, keys, after))
            shadowed += dup
            tombstones += len(buf) - 1 - dup - len(out)
            carry = [buf[-1]]
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
    finally:
        tally.returned += returned
        tally.tombstones += tombstones
        tally.shadowed += shadowed
        if finish is not None:
            finish(tally)


_key_of = itemgetter(0)


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with `prefix` (None: no bound)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes((trimmed[-1] + 1,))
