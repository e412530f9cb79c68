"""Group commit: concurrent writers share one WAL write and one fsync.

LevelDB's leader/follower scheme. Every writer joins a queue under the DB mutex. The
writer at the head is the *leader*: it takes the writers queued behind it as its
group, assigns their sequence numbers, then *releases the mutex* and writes all their
records with one `write` and (if any of them asked for sync) one fsync. Meanwhile new
writers queue up for the next group. Then the leader applies the group to the
memtable, publishes the new last sequence number so readers can see it, and wakes the
followers, whose writes are done. With N threads waiting on a ~250 µs fsync, one
fsync serves all N.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from ..batch import Op

BATCH_HEADER = struct.Struct("<QI")

# A group stops growing at this many payload bytes, so one huge group does not delay
# the small writes queued behind it for long (LevelDB uses 1 MiB).
MAX_GROUP_BYTES = 1 << 20


class Writer:
    """One caller's write, waiting in the queue."""

    __slots__ = ("body", "count", "done", "error", "ops", "seq", "switch", "sync", "user_bytes")

    def __init__(
        self, body: bytes, ops: list[Op] | tuple[Op, ...], sync: bool, user_bytes: int
    ) -> None:
        self.body = body
        self.ops = ops
        self.count = len(ops)
        self.sync = sync
        self.user_bytes = user_bytes
        self.seq = 0
        self.done = False
        self.error: BaseException | None = None
        self.switch = False  # a flush() request: switch the memtable, write nothing


def take_group(queue: Iterable[Writer], leader: Writer) -> list[Writer]:
    """The leader and the writers behind it that may share its WAL write.

    A non-sync leader does not take sync followers: it would make them wait for an
    fsync nobody in front asked for... and, worse, promise them one it will not do.
    """
    group = [leader]
    size = len(leader.body)
    for w in queue:
        if w is leader:
            continue
        if w.switch or (w.sync and not leader.sync):
            break
        size += len(w.body)
        if size > MAX_GROUP_BYTES:
            break
        group.append(w)
    return group
