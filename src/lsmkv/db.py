"""The DB: the public face of a store (shared/api.md), a thin facade over the engine.

`DB` holds the public methods with their contracts (cost, durability, raises,
examples); their bodies live in `engine/`, one mixin class per concept (listed in
engine/__init__.py), which `DB` inherits. The hot paths keep exactly the calls they
had before the split, because a delegation would cost each call one more Python frame:
`put`/`delete` validate and go straight to `_write_unsynced` or `_commit`, `get` runs its
lookup inline, `scan` goes straight to `_scan_at`.

Data flows one way. A write: `WriteBatch` encoding -> group commit (engine/commit.py)
-> WAL append (+ fsync) -> memtable. A full memtable becomes immutable and a new WAL
starts; the flush thread writes it to a level-0 SSTable and records that in the
manifest, then deletes the WAL. Compaction threads merge tables down the levels. A read takes
the current SuperVersion (memtable, immutable memtables, Version) in one step and walks
it newest to oldest (engine/read.py).

Locking: one mutex guards the write queue, the SuperVersion swap, snapshots and the
background state. Reads take no lock. The WAL write and fsync, SSTable writes and
manifest writes all happen with the mutex released.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar

from .batch import OP, WriteBatch, encode_op
from .core.keys import (
    KIND_DELETE,
    KIND_PUT,
    MAX_KEY_BYTES,
    MAX_VALUE_BYTES,
    check_key,
    check_value,
)
from .engine import read as read_path
from .engine.background import BackgroundMixin
from .engine.base import EngineBase
from .engine.closing import ClosingMixin
from .engine.commit import DELETE_KINDS, Writer
from .engine.flush import FlushMixin
from .engine.get import GetMixin
from .engine.obsolete import ObsoleteMixin
from .engine.recovery import RecoveryMixin
from .engine.scan import ScanMixin
from .engine.snapshots import SnapshotMixin
from .engine.stalls import StallMixin
from .engine.stats import StatsMixin
from .engine.writes import WriteMixin
from .errors import ClosedError
from .iterators.user import scan_bounds
from .options import Options, make_options

T = TypeVar("T")


class Snapshot:
    """A consistent point-in-time read view (`with db.snapshot() as snap:`).

    Compaction keeps every version an open snapshot can see, so release snapshots you
    no longer need (the context manager does). A released snapshot refuses reads with
    `ClosedError`: compaction may already have dropped what it saw, so reading on would
    return wrong answers silently.
    """

    def __init__(self, db: DB, seq: int) -> None:
        self._db = db
        self.seq = seq
        self._released = False

    def _check(self) -> None:
        if self._released:
            raise ClosedError("the snapshot was released; take a new one")

    def get(self, key: bytes, default: T | None = None) -> bytes | T | None:
        self._check()
        return self._db._get_at(key, self.seq, default)

    def multi_get(self, keys: Iterable[bytes]) -> list[bytes | None]:
        self._check()
        return self._db._multi_get_at(list(keys), self.seq)

    def scan(
        self,
        start: bytes | None = None,
        end: bytes | None = None,
        *,
        prefix: bytes | None = None,
        reverse: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        self._check()
        return self._db._scan_at(self.seq, start, end, prefix, reverse, limit)

    def keys(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        return (k for k, _ in self.scan(*args, **kwargs))

    def values(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        return (v for _, v in self.scan(*args, **kwargs))

    def __contains__(self, key: bytes) -> bool:
        return self.get(key) is not None

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._db._release_snapshot(self.seq)

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class _BatchContext:
    """`with db.batch() as b:` commits `b` when the block exits normally."""

    def __init__(self, db: DB, sync: bool | None) -> None:
        self._db = db
        self._sync = sync
        self.batch = WriteBatch()

    def __enter__(self) -> WriteBatch:
        return self.batch

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self._db.write(self.batch, sync=self._sync)


class DB(
    WriteMixin,
    StallMixin,
    StatsMixin,
    GetMixin,
    ScanMixin,
    SnapshotMixin,
    FlushMixin,
    BackgroundMixin,
    RecoveryMixin,
    ClosingMixin,
    ObsoleteMixin,
    EngineBase,
):
    """An open lsmkv store. Make one with `lsmkv.open(path, **options)`.

    The bases are the engine's parts (engine/), one concept each; their order does not
    matter, since no two define the same method (tests/test_layering.py checks that).
    """

    # ------------------------------------------------------------------ opening
    def __init__(self, path: str | os.PathLike[str], options: Options) -> None:
        super().__init__(path, options)
        self._open()

    # ------------------------------------------------------------------ writes
    def put(self, key: bytes, value: bytes, sync: bool | None = None) -> None:
        """Store `value` under `key`.

        Durability: with sync (the default, `Options.sync`) the write is in the WAL and
        fsync'd before this returns: it survives kill -9 and power loss. With
        `sync=False` it survives a process crash but not a power loss.
        Cost: one WAL record (one `os.write`, shared with concurrent writers), one
        fsync if sync, one memtable insert.

        >>> db.put(b"apple", b"red")
        """
        if type(key) is not bytes or len(key) > MAX_KEY_BYTES:
            key = check_key(key)
        if type(value) is not bytes or len(value) > MAX_VALUE_BYTES:
            value = check_value(value)
        synced = self.options.sync if sync is None else sync
        if not synced and self._write_unsynced(KIND_PUT, key, value):
            return
        body = encode_op(KIND_PUT, key, value)
        self._commit(Writer(body, [key], [value], None, synced, len(key) + len(value)))

    def delete(self, key: bytes, sync: bool | None = None) -> None:
        """Write a tombstone for `key` (never an error if it is absent). Same cost and
        durability as `put`. The old value stays on disk until compaction drops it."""
        if type(key) is not bytes or len(key) > MAX_KEY_BYTES:
            key = check_key(key)
        synced = self.options.sync if sync is None else sync
        if not synced and self._write_unsynced(KIND_DELETE, key, b""):
            return
        body = encode_op(KIND_DELETE, key, b"")
        self._commit(Writer(body, [key], [b""], DELETE_KINDS, synced, len(key)))

    def delete_range(self, start: bytes, end: bytes, sync: bool | None = None) -> None:
        """Delete every key in [start, end) with ONE range tombstone record, whatever the
        number of keys. Same cost and durability as `put`; `start == end` deletes nothing.

        Raises:
            ValueError: `start > end`.
        """
        b = WriteBatch()
        b.delete_range(start, end)
        if len(b):
            self.write(b, sync=sync)

    def write(self, batch: WriteBatch, sync: bool | None = None) -> None:
        """Commit a batch atomically: one WAL record, so after any crash all of it or
        none of it is visible. Cost: one WAL record and (if sync) one fsync."""
        if not isinstance(batch, WriteBatch):
            raise TypeError(f"batch must be a lsmkv.WriteBatch, got {type(batch).__name__}")
        if not len(batch):
            self._check_writable()
            return
        body = batch.body()
        sync = self.options.sync if sync is None else sync
        # Every op is encoded as a fixed header plus its key and value bytes.
        user_bytes = len(body) - OP.size * len(batch)
        # Copies of the columns: the caller may reuse the batch once this returns.
        self._commit(Writer(body, batch.keys[:], batch.values[:], batch.kinds(), sync, user_bytes))

    def batch(self, sync: bool | None = None) -> _BatchContext:
        """`with db.batch() as b: b.put(...)`: committed atomically when the block exits
        normally, discarded if it raises."""
        self._check_open()
        return _BatchContext(self, sync)

    # ------------------------------------------------------------------- reads
    def get(self, key: bytes, default: T | None = None) -> bytes | T | None:
        """The value of `key`, or `default` (None) if it was never written or is deleted.

        Cost: memtable dict lookups, then O(L0 files + levels) table checks, each
        skipped by key range or bloom filter when it cannot hold the key; a table that
        may hold it costs one (usually cached) block search.

        >>> db.put(b"apple", b"red")
        >>> db.get(b"apple")
        b'red'
        >>> db.get(b"pear", b"none")
        b'none'
        """
        if type(key) is not bytes or len(key) > MAX_KEY_BYTES:
            key = check_key(key)
        if self._closed:
            self._check_open()
        if self._trace is not None:
            return self._traced_get(key, self._visible_seq, default)
        c = self._counters
        c.gets += 1
        entry = read_path.lookup(self._sv, key, self._visible_seq, self._tables, c)
        if entry is not None and entry[2] == KIND_PUT:
            c.gets_found += 1
            value: bytes = entry[3]
            return value
        return default

    def multi_get(self, keys: Iterable[bytes]) -> list[bytes | None]:
        """The values of several keys, all read at one point in time."""
        self._check_open()
        return self._multi_get_at(list(keys), self._visible_seq)

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None  # type: ignore[arg-type]

    def __getitem__(self, key: bytes) -> bytes:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.put(key, value)

    def __delitem__(self, key: bytes) -> None:
        self.delete(key)

    # --------------------------------------------------------------- iteration
    def scan(
        self,
        start: bytes | None = None,
        end: bytes | None = None,
        *,
        prefix: bytes | None = None,
        reverse: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        """`(key, value)` pairs with start <= key < end (or with `prefix`), ascending
        (descending with `reverse=True`), as of this call: later writes are not seen.

        Cost: a merge of one source per memtable, per L0 table and per deeper level.
        Over clean data (one visible put per key, the common case) the merge works on
        key and value columns with C-level steps per entry and a few Python steps per
        run; from the first tombstone, key with several versions or range tombstone
        on, O(1) Python steps per entry visited, including the tombstones and shadowed
        versions stepped over (counted in `stats()`). A scan with a small `limit` (a
        seek and a few nexts) over clean data is decided at the call.
        """
        self._check_open()
        return self._scan_at(self._visible_seq, start, end, prefix, reverse, limit)

    def keys(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        return (k for k, _ in self.scan(*args, **kwargs))

    def values(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        return (v for _, v in self.scan(*args, **kwargs))

    def __iter__(self) -> Iterator[bytes]:
        return self.keys()

    # --------------------------------------------------------------- snapshots
    def snapshot(self) -> Snapshot:
        """A point-in-time read view; release it (or use `with`) when done."""
        with self._mutex:
            self._check_open()
            seq = self._visible_seq
            self._snapshots[seq] += 1
        return Snapshot(self, seq)

    # ------------------------------------------------------------- maintenance
    def flush(self) -> None:
        """Turn the memtable into a level-0 SSTable now, and wait until it is written.

        Cost: one memtable switch (a WAL fsync and a new WAL), then the flush thread
        writes one table and one manifest record. Durability: on return the data is in
        an fsync'd table named by an fsync'd manifest. Raises ClosedError, DiskError.

        >>> db.flush()
        """
        self._flush_now()

    def compact(self, start: bytes | None = None, end: bytes | None = None) -> None:
        """Compact exactly the tables overlapping [start, end] (everything by default)
        down to the deepest level holding data in that range, dropping shadowed versions,
        covered data and every tombstone no open snapshot needs.

        Level by level from L0, the files overlapping the range (all of L0 if any L0 file
        does) are merged into the next level; at the deepest level, files in the range
        that still hold tombstones are rewritten in place. It runs alone: it waits for
        running compactions to end, and automatic ones wait until it is done (flushes go
        on). Flushes the memtable first and blocks until done.
        Cost: reads and rewrites every overlapping table once per level it passes.
        Raises ClosedError if the store closes meanwhile, DiskError on an I/O failure.

        >>> db.compact()
        >>> db.compact(b"a", b"m")
        """
        self._compact_range(start, end)

    def wait_for_compaction(self, timeout: float | None = None) -> bool:
        """Wait until background work has settled: no memtable waiting for flush, no
        manual or hinted compaction queued, and no level over its target (nor a table
        due for deletion-triggered compaction). Returns False if `timeout` seconds
        passed first. Writes made meanwhile may start new work; this waits for it too.

        Cost: the work itself; this only waits. Raises ClosedError, or the background
        error that stopped the store (DiskError).

        >>> db.wait_for_compaction(timeout=10.0)
        True
        """
        return self._wait_idle(timeout)

    # ----------------------------------------------------------- introspection
    # (introspect/ is imported on first use: the engine's hot paths never need it)
    def explain_get(self, key: bytes) -> dict[str, Any]:
        """What one get of `key` does, step by step, as plain data: the memtables and
        tables consulted newest to oldest, each key-range and bloom verdict (skip / pass /
        false_positive), the block read or found in cache, range tombstones met, the
        record that answered, and the call's read amplification (tables searched).
        Schema: docs/format/trace.md. It is not counted as a get in stats() (the
        blocks it reads are counted).

        Cost: the same as a get, plus a small dict per layer.

        >>> db.put(b"apple", b"red")
        >>> db.explain_get(b"apple")["found"]
        True
        """
        from .introspect import explain

        key = check_key(key)
        self._check_open()
        return explain.explain_get(self._sv, self._tables, key, self._visible_seq)

    def explain_scan(
        self,
        start: bytes | None = None,
        end: bytes | None = None,
        *,
        prefix: bytes | None = None,
        reverse: bool = False,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """Run the scan `scan(start, end, prefix=, reverse=, limit=)` and report what it did:
        its sources, entries read from each, tombstones, range-deleted and shadowed
        versions stepped over, blocks read, and keys returned (listed up to 100).
        Schema: docs/format/trace.md.

        Cost: the same as the scan run to its end (or its limit).
        """
        from .introspect import explain

        start, end = scan_bounds(start, end, prefix, limit)
        self._check_open()
        report = explain.explain_scan(
            self._sv,
            self._tables,
            self._counters,
            self._visible_seq,
            start,
            end,
            reverse,
            limit,
            self.options.scan_tombstone_hint,
        )
        report["prefix"] = None if prefix is None else prefix.hex()
        return report

    def where(self, key: bytes) -> list[dict[str, Any]]:
        """Every version of `key` physically present, newest first: WAL records,
        memtable entries, SSTable entries and covering range tombstones, each with its
        source, level, file, seq, kind, value (hex) and `status` ("answer": what a get
        returns or the tombstone that makes it return None; "shadowed"; "log": a WAL
        copy). Schema: docs/format/trace.md.

        Cost: reads the live WAL files in full, plus a lookup in every table whose key
        range holds the key. Leaves the block cache and the counters of stats() as
        they were.

        >>> db.put(b"apple", b"red")
        >>> [r["status"] for r in db.where(b"apple")]
        ['answer', 'log']
        """
        from .introspect import where as where_mod

        key = check_key(key)
        self._check_open()
        return where_mod.where(
            self._sv,
            self._fs,
            self.path,
            self._versions.log_number,
            key,
            self._visible_seq,
        )

    def tombstone_map(self, buckets: int = 32, threshold: int | None = None) -> dict[str, Any]:
        """Tombstone density by key range and layer, and the key ranges where a scan
        would step over more than `threshold` tombstones (default: the option
        `scan_tombstone_hint`, 1,000), with the remedy. Schema: docs/format/trace.md.

        Cost: reads every entry of every live table once (O(entries) time and memory),
        outside the block cache.
        """
        from .introspect import tombstones

        self._check_open()
        limit = self.options.scan_tombstone_hint if threshold is None else threshold
        return tombstones.tombstone_map(
            self._sv, self._fs, self.path, buckets=buckets, threshold=limit
        )

    # ------------------------------------------------------------------- stats
    def stats(self) -> dict[str, Any]:
        """Plain, JSON-serialisable figures about the store (see docs/stats.md): per
        level files, bytes and scores, memtables, counters, read and write
        amplification, compaction accounting, stalls, and any background error.

        Cost: O(tables) (sums over the live Version) plus a copy of the counters; no
        I/O. Raises ClosedError.

        >>> db.put(b"apple", b"red")
        >>> db.stats()["memtable"]["entries"]
        1
        """
        return self._stats()

    # ----------------------------------------------------------------- closing
    def close(self) -> None:
        """Stop background work, sync and close files, release the lock. Idempotent.

        Durability: on return every acknowledged write, sync=False ones included, is
        in an fsync'd WAL. Cost: waits for queued writers and for the job each
        background thread is running; one WAL fsync and one manifest record. Raises
        nothing on a second call.

        >>> db.close()
        >>> db.close()
        """
        self._close()

    def __enter__(self) -> DB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("read-only" if self._read_only else "open")
        return f"<lsmkv.DB {self.path!r} {state}>"


def open(path: str | os.PathLike[str], **options: Any) -> DB:
    """Open (creating if missing) the store at `path`.

    Raises:
        TypeError: an unknown option (named) or a path that is not str/PathLike.
        LockError: the store is already open for writing, here or in another process.
        NotFoundError: no store and `create_if_missing=False` (or `read_only=True`).
        CorruptionError: the manifest or a WAL is damaged (file and offset named).
        DiskError: the operating system refused an operation (errno attached).
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be str or os.PathLike, got {type(path).__name__}")
    return DB(path, make_options(options))
