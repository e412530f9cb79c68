"""A durable FIFO queue on an lsmkv store, done right, and the naive one it replaces.

The queue table is the classic trap of LSM stores (docs/queue.md): items are inserted
at the tail and deleted from the head, a delete only *adds* a tombstone, and a consumer
that looks for "the first live item" by scanning from the lowest key steps over every
tombstone left by every earlier pop until compaction purges them. Each pop gets slower
than the last: the tombstone cliff.

`Queue` avoids it with three habits, each of which any lsmkv (or RocksDB) user can copy:

1. **It remembers the head.** The position of the first unconsumed item lives in
   memory and, durably, in a marker key written with each acknowledgement, so a pop
   never scans from the start of the key space.
2. **It scans with a lower bound, and reads ahead.** `scan(start=head, end=...,
   limit=read_ahead)` seeks straight past the consumed items (every layer positions
   itself with a binary search; the deleted prefix is never visited) and fetches the
   next `read_ahead` items at once, so most pops cost no store access at all.
3. **It deletes consumed items in batches, with one range tombstone per batch.** One
   `delete_range` replaces `ack_every` point tombstones; compaction drops the covered
   items and the range tombstone together once they reach the bottom level.

Key layout (per queue `name`, which must not contain a zero byte)::

    name 0x00 'i' <8-byte big-endian sequence>   one item; keys sort in FIFO order
    name 0x00 'h'                                 the head marker (8-byte sequence)

Both classes use the public API of `lsmkv.DB` only.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from types import TracebackType

from ..db import DB

__all__ = ["NaiveQueue", "Queue"]

_SEQ_BYTES = 8


class _Keys:
    """The key layout of one queue name (see the module docstring)."""

    def __init__(self, name: bytes) -> None:
        if not isinstance(name, bytes):
            raise TypeError(f"queue name must be bytes, got {type(name).__name__}")
        if b"\x00" in name:
            raise ValueError("queue name must not contain a zero byte")
        self.prefix = name + b"\x00i"
        self.items_end = name + b"\x00j"  # every item key is below this
        self.head_marker = name + b"\x00h"

    def item(self, seq: int) -> bytes:
        return self.prefix + seq.to_bytes(_SEQ_BYTES, "big")

    def seq_of(self, key: bytes) -> int:
        return int.from_bytes(key[len(self.prefix) :], "big")


class Queue:
    """A durable FIFO queue of byte strings on an lsmkv store.

    Delivery is *at least once*. `push` is durable when it returns (with the store's
    default `sync=True`). `pop` removes the head item from this `Queue` object at once,
    but the removal becomes durable only when it is *acknowledged*: by `ack()`, by
    `close()`, or automatically by the first pop that finds `ack_every` pops pending.
    After a crash, the items popped since the last acknowledgement are delivered
    again, in order. A consumer
    that must not lose work pops, processes, then calls `ack()`; one that must not
    repeat work makes its processing idempotent (the item's position, from
    `pop_item`, is a natural idempotency key).

    One `Queue` object per queue name and store: it keeps the head and tail in memory.
    Its methods are thread-safe (one lock; pushes from several threads are serialised).

    Cost: one pop in `read_ahead` runs a lower-bounded scan of the next `read_ahead`
    items; the others take the next item from memory. Neither depends on how many items
    were ever consumed. Every `ack_every`-th pop also writes one batch (one range
    tombstone, one marker put, one fsync with sync on). `len` is O(1). Memory: up to
    `read_ahead` values.

    >>> q = Queue(db, b"jobs")
    >>> q.push(b"first")
    0
    >>> q.pop()
    b'first'
    >>> q.ack()
    """

    def __init__(
        self,
        db: DB,
        name: bytes = b"queue",
        *,
        ack_every: int = 256,
        read_ahead: int = 256,
        sync: bool | None = None,
    ) -> None:
        """Open the queue `name` on `db`, recovering its head and tail.

        `ack_every`: pops between automatic acknowledgements (>= 1); it is also the
        number of items one range tombstone covers. `read_ahead`: items fetched by one
        scan (>= 1; 1 means a scan per pop). `sync`: passed to every write (None: the
        store's default).

        Cost: one get (the head marker) and two scans returning one item each.
        Raises: `ValueError` for a bad name, `ack_every` or `read_ahead`; `lsmkv.Error`
        from the store.
        """
        if not isinstance(ack_every, int) or ack_every < 1:
            raise ValueError(f"ack_every must be a positive int, got {ack_every!r}")
        self._db = db
        self._keys = keys = _Keys(name)
        if not isinstance(read_ahead, int) or read_ahead < 1:
            raise ValueError(f"read_ahead must be a positive int, got {read_ahead!r}")
        self.ack_every = ack_every
        self.read_ahead = read_ahead
        # Items at positions head, head+1, ... already read, in order. Only this object
        # consumes the queue, so nothing can delete them behind its back; items pushed
        # later land after the last of them, so the buffer stays a prefix of the queue.
        self._ahead: deque[tuple[int, bytes]] = deque()
        self._sync = sync
        self._lock = threading.Lock()
        marker = db.get(keys.head_marker)
        start = keys.prefix if marker is None else keys.item(int.from_bytes(marker, "big"))
        # Once, at open: the first and last live items at or above the marker.
        first = next(db.keys(start, keys.items_end, limit=1), None)
        last = next(db.keys(start, keys.items_end, reverse=True, limit=1), None)
        marker_seq = 0 if marker is None else int.from_bytes(marker, "big")
        self._head = marker_seq if first is None else keys.seq_of(first)
        self._tail = self._head if last is None else keys.seq_of(last) + 1
        self._acked = self._head  # items below this are durably deleted

    # ----------------------------------------------------------------- writes
    def push(self, value: bytes, sync: bool | None = None) -> int:
        """Append `value` at the tail; return its position (0, 1, 2, ... per queue).

        Durability: as `DB.put` with `sync` (default: the queue's, then the store's).
        Cost: one put.
        Raises: `TypeError` if `value` is not bytes-like, `lsmkv.Error` from the store.
        """
        with self._lock:
            seq = self._tail
            self._db.put(self._keys.item(seq), value, sync=self._sync_for(sync))
            self._tail = seq + 1
            return seq

    def push_many(self, values: Iterable[bytes], sync: bool | None = None) -> int:
        """Append every value, atomically (one batch); return how many were appended.

        Durability: as `DB.write`: all of them or none survive a crash.
        Cost: one WAL record and at most one fsync for the whole batch.
        """
        with self._lock:
            seq = self._tail
            with self._db.batch(sync=self._sync_for(sync)) as b:
                for value in values:
                    b.put(self._keys.item(seq), value)
                    seq += 1
            count = seq - self._tail
            self._tail = seq
            return count

    # ------------------------------------------------------------------ reads
    def peek(self) -> bytes | None:
        """The head item without removing it, or None when the queue is empty.

        Cost: none if the item was read ahead, else one lower-bounded scan.
        """
        with self._lock:
            found = self._first()
            return None if found is None else found[1]

    def pop(self) -> bytes | None:
        """Remove and return the head item, or None when the queue is empty.

        Durability: the removal is durable at the next acknowledgement (see the class
        docstring); after a crash before it, the item is delivered again.
        Cost: as `peek`, plus one batch write (and fsync) every `ack_every` pops.
        """
        item = self.pop_item()
        return None if item is None else item[1]

    def pop_item(self) -> tuple[int, bytes] | None:
        """`pop`, also returning the item's position: `(position, value)` or None."""
        with self._lock:
            if self._head - self._acked >= self.ack_every:
                # Acknowledged here, before any read-ahead scan: the two costly steps
                # then fall on the same pop, one pop in `ack_every`.
                self._ack_locked(self._sync)
            found = self._first()
            if found is None:
                return None
            self._ahead.popleft()
            seq, value = found
            self._head = seq + 1
            return seq, value

    def _first(self) -> tuple[int, bytes] | None:
        ahead = self._ahead
        if not ahead:
            keys = self._keys
            # The lower bound is the whole trick: the scan seeks past every consumed item.
            scan = self._db.scan(keys.item(self._head), keys.items_end, limit=self.read_ahead)
            ahead.extend((keys.seq_of(key), value) for key, value in scan)
        return ahead[0] if ahead else None

    # ---------------------------------------------------------------- acking
    def ack(self, sync: bool | None = None) -> None:
        """Make every pop so far durable: delete the popped items with one range
        tombstone and move the head marker, in one atomic batch. No-op if none pending.

        Durability: as `DB.write` with `sync`. Cost: one batch of two records.
        """
        with self._lock:
            self._ack_locked(sync)

    def _ack_locked(self, sync: bool | None) -> None:
        head = self._head
        if head == self._acked:
            return
        keys = self._keys
        with self._db.batch(sync=self._sync_for(sync)) as b:
            b.delete_range(keys.item(self._acked), keys.item(head))
            b.put(keys.head_marker, head.to_bytes(_SEQ_BYTES, "big"))
        self._acked = head

    def item_key(self, seq: int) -> bytes:
        """The key of the item at position `seq` (for explain_scan, where and benchmarks)."""
        return self._keys.item(seq)

    def key_range(self) -> tuple[bytes, bytes]:
        """`(start, end)`: every item key k of this queue has start <= k < end."""
        return self._keys.prefix, self._keys.items_end

    @property
    def pending_acks(self) -> int:
        """Items popped but not yet acknowledged (they come back after a crash)."""
        return self._head - self._acked

    @property
    def head(self) -> int:
        """The position of the next item `pop` will return (if any)."""
        return self._head

    def __len__(self) -> int:
        """Items pushed and not yet popped. Cost: O(1)."""
        return self._tail - self._head

    def close(self) -> None:
        """Acknowledge the pending pops. The store stays open (it is the caller's)."""
        self.ack()

    def __enter__(self) -> Queue:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _sync_for(self, sync: bool | None) -> bool | None:
        return self._sync if sync is None else sync


class NaiveQueue:
    """The queue as it is too often written: for the benchmark and the docs only.

    `pop` scans from the lowest item key for the first live item, then deletes it with
    one point tombstone. Each pop therefore steps over the tombstone of every earlier
    pop that compaction has not purged yet: the k-th pop costs O(k) until a compaction.
    Each removal is durable on return (one delete, fsync'd with sync on).

    Same key layout as `Queue` (no head marker), so the two can be compared on equal
    data.
    """

    def __init__(self, db: DB, name: bytes = b"queue", *, sync: bool | None = None) -> None:
        self._db = db
        self._keys = keys = _Keys(name)
        self._sync = sync
        last = next(db.keys(keys.prefix, keys.items_end, reverse=True, limit=1), None)
        self._tail = 0 if last is None else keys.seq_of(last) + 1

    def item_key(self, seq: int) -> bytes:
        """The key of the item at position `seq` (the benchmark deletes by key)."""
        return self._keys.item(seq)

    def push(self, value: bytes, sync: bool | None = None) -> int:
        """Append `value`; return its position. Cost and durability: one put."""
        seq = self._tail
        self._db.put(self._keys.item(seq), value, sync=self._sync if sync is None else sync)
        self._tail = seq + 1
        return seq

    def push_many(self, values: Iterable[bytes], sync: bool | None = None) -> int:
        """Append every value in one atomic batch; return how many."""
        seq = self._tail
        with self._db.batch(sync=self._sync if sync is None else sync) as b:
            for value in values:
                b.put(self._keys.item(seq), value)
                seq += 1
        count = seq - self._tail
        self._tail = seq
        return count

    def peek_item(self) -> tuple[bytes, bytes] | None:
        """`(key, value)` of the first live item. Cost: a scan from the lowest item key,
        stepping over every unpurged tombstone of earlier pops."""
        keys = self._keys
        for key, value in self._db.scan(keys.prefix, keys.items_end, limit=1):
            return key, value
        return None

    def peek(self) -> bytes | None:
        found = self.peek_item()
        return None if found is None else found[1]

    def pop(self) -> bytes | None:
        """Remove and return the first live item (None if empty): `peek` plus one delete."""
        found = self.peek_item()
        if found is None:
            return None
        self._db.delete(found[0], sync=self._sync)
        return found[1]

    def __len__(self) -> int:
        """Live items, counted by a full scan of the queue's keys. Cost: O(n + tombstones)."""
        keys = self._keys
        return sum(1 for _ in self._db.keys(keys.prefix, keys.items_end))
