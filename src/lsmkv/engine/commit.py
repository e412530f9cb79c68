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

from ..core.keys import KIND_DELETE

BATCH_HEADER = struct.Struct("<QI")
# The kinds column of a lone delete (see `Writer`).
DELETE_KINDS = bytes((KIND_DELETE,))

# A group stops growing at this many payload bytes, so one huge group does not delay
# the small writes queued behind it for long (LevelDB uses 1 MiB).
MAX_GROUP_BYTES = 1 << 20


class Writer:
    """One caller's write, waiting in the queue: its encoded ops (`body`) and the same ops
    as columns for the memtable (`kinds` None when every op is a put)."""

    __slots__ = (
        "body",
        "count",
        "done",
        "error",
        "keys",
        "kinds",
        "seq",
        "switch",
        "sync",
        "user_bytes",
        "values",
    )

    def __init__(
        self,
        body: bytes,
        keys: list[bytes],
        values: list[bytes],
        kinds: bytes | None,
        sync: bool,
        user_bytes: int,
    ) -> None:
        self.body = body
        self.keys = keys
        self.values = values
        self.kinds = kinds
        self.count = len(keys)
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
