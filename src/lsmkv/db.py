"""The DB: the public face of a store (shared/api.md), wiring the write path, the read
path, background flush and compaction, and recovery.

Data flows one way. A write: `WriteBatch` encoding -> group commit (engine/commit.py)
-> WAL append (+ fsync) -> memtable. A full memtable becomes immutable and a new WAL
starts; the background thread flushes it to a level-0 SSTable and records that in the
manifest, then deletes the WAL. Compaction merges tables down the levels. A read takes
the current SuperVersion (memtable, immutable memtables, Version) in one step and walks
it newest to oldest (engine/read.py).

Locking: one mutex guards the write queue, the SuperVersion swap, snapshots and the
background state. Reads take no lock. The WAL write and fsync, SSTable writes and
manifest writes all happen with the mutex released.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import chain
from types import TracebackType
from typing import Any, TypeVar

from .batch import OP, WriteBatch
from .compaction import picker
from .compaction.accounting import estimate_live_bytes
from .compaction.job import run_compaction, write_tables
from .compaction.retention import RetentionTally, retain
from .core import filenames
from .core.keys import (
    KIND_DELETE,
    KIND_PUT,
    MAX_KEY_BYTES,
    MAX_VALUE_BYTES,
    check_key,
    check_value,
)
from .engine import read as read_path
from .engine.base import STALL_NAMES as _STALL_NAMES
from .engine.base import EngineBase
from .engine.base import disk_error as _disk_error
from .engine.base import file_info as _file_info
from .engine.closing import ClosingMixin
from .engine.commit import Writer
from .engine.obsolete import ObsoleteMixin
from .engine.recovery import RecoveryMixin
from .engine.stalls import StallMixin
from .engine.state import SuperVersion, make_super_version
from .engine.writes import WriteMixin
from .errors import ClosedError, Error
from .iterators.merging import FIRST_RUN, MAX_RUN, concat, merge, merge_runs, visible
from .iterators.user import ScanTally, scan_bounds, user_entries, user_runs
from .manifest.edit import FileMeta, VersionEdit
from .manifest.version import Version
from .memtable import Memtable
from .options import Options, make_options
from .rangedel import Fragments

T = TypeVar("T")


class Snapshot:
    """A consistent point-in-time read view (`with db.snapshot() as snap:`).

    Compaction keeps every version an open snapshot can see, so release snapshots you
    no longer need (the context manager does).
    """

    def __init__(self, db: DB, seq: int) -> None:
        self._db = db
        self.seq = seq
        self._released = False

    def get(self, key: bytes, default: T | None = None) -> bytes | T | None:
        return self._db._get_at(key, self.seq, default)

    def multi_get(self, keys: Iterable[bytes]) -> list[bytes | None]:
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


class DB(WriteMixin, StallMixin, RecoveryMixin, ClosingMixin, ObsoleteMixin, EngineBase):
    """An open lsmkv store. Make one with `lsmkv.open(path, **options)`."""

    # ------------------------------------------------------------------ opening
    def __init__(self, path: str | os.PathLike[str], options: Options) -> None:
        super().__init__(path, options)
        self._open()

    # --------------------------------------------------------------- utilities
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
        body = OP.pack(KIND_PUT, len(key), len(value)) + key + value
        self._commit(Writer(body, ((KIND_PUT, key, value),), synced, len(key) + len(value)))

    def delete(self, key: bytes, sync: bool | None = None) -> None:
        """Write a tombstone for `key` (never an error if it is absent). Same cost and
        durability as `put`. The old value stays on disk until compaction drops it."""
        if type(key) is not bytes or len(key) > MAX_KEY_BYTES:
            key = check_key(key)
        synced = self.options.sync if sync is None else sync
        if not synced and self._write_unsynced(KIND_DELETE, key, b""):
            return
        body = OP.pack(KIND_DELETE, len(key), 0) + key
        self._commit(Writer(body, ((KIND_DELETE, key, b""),), synced, len(key)))

    def delete_range(self, start: bytes, end: bytes, sync: bool | None = None) -> None:
        """Delete every key in [start, end) with ONE range tombstone record, whatever the
        number of keys. Same cost and durability as `put`."""
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
        self._commit(
            Writer(
                batch.body(),
                list(batch.ops),
                self.options.sync if sync is None else sync,
                batch.user_bytes,
            )
        )

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

    def _get_at(self, key: bytes, seq: int, default: T | None) -> bytes | T | None:
        key = check_key(key)
        self._check_open()
        if self._trace is not None:
            return self._traced_get(key, seq, default)
        c = self._counters
        c.gets += 1
        entry = read_path.lookup(self._sv, key, seq, self._tables, c)
        if entry is not None and entry[2] == KIND_PUT:
            c.gets_found += 1
            result: bytes = entry[3]
            return result
        return default

    def _traced_get(self, key: bytes, seq: int, default: T | None) -> bytes | T | None:
        self._counters.gets += 1
        entry, report = read_path.walk(self._sv, key, seq, self._tables)
        c = self._counters
        # A traced get counts what it did like an untraced one, so stats() agrees.
        for step in report["steps"]:
            bloom = step.get("bloom")
            if step["source"] == "memtable":
                c.memtable_hits += step["result"] != "absent"
            elif bloom == "skip":
                c.bloom_skips += 1
            elif "why" in step:
                c.key_range_skips += 1
            else:
                c.tables_probed += 1
                c.per_level_probes[step["level"]] += 1
                c.bloom_false_positives += bloom == "false_positive"
        assert self._trace is not None
        self._trace("get", **report)
        if entry is not None and entry[2] == KIND_PUT:
            self._counters.gets_found += 1
            found: bytes = entry[3]
            return found
        return default

    def multi_get(self, keys: Iterable[bytes]) -> list[bytes | None]:
        """The values of several keys, all read at one point in time."""
        self._check_open()
        return self._multi_get_at(list(keys), self._visible_seq)

    def _multi_get_at(self, keys: list[bytes], seq: int) -> list[bytes | None]:
        sv = self._sv
        c = self._counters
        tables = self._tables
        out: list[bytes | None] = []
        for key in keys:
            if type(key) is not bytes or len(key) > MAX_KEY_BYTES:
                key = check_key(key)
            c.gets += 1
            entry = read_path.lookup(sv, key, seq, tables, c)
            if entry is not None and entry[2] == KIND_PUT:
                c.gets_found += 1
                out.append(entry[3])
            else:
                out.append(None)
        return out

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

        Cost: a merge of one source per memtable, per L0 table and per deeper level;
        O(1) Python steps per entry visited, including the tombstones and shadowed
        versions stepped over (counted in `stats()`).
        """
        self._check_open()
        return self._scan_at(self._visible_seq, start, end, prefix, reverse, limit)

    def keys(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        return (k for k, _ in self.scan(*args, **kwargs))

    def values(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        return (v for _, v in self.scan(*args, **kwargs))

    def __iter__(self) -> Iterator[bytes]:
        return self.keys()

    def _scan_at(
        self,
        read_seq: int,
        start: bytes | None,
        end: bytes | None,
        prefix: bytes | None,
        reverse: bool,
        limit: int | None,
    ) -> Iterator[tuple[bytes, bytes]]:
        self._check_open()
        start, end = scan_bounds(start, end, prefix, limit)
        sv = self._sv  # captured now: the iterator reads the store as of this moment
        sources, fragments = self._sources(sv, read_seq, start, end, reverse)
        self._counters.iterators += 1
        return self._iterate(sv, sources, fragments, read_seq, reverse, limit)

    def _sources(
        self,
        sv: SuperVersion,
        read_seq: int,
        start: bytes | None,
        end: bytes | None,
        reverse: bool,
    ) -> tuple[list[Iterator[Any]], Fragments]:
        if start is not None and end is not None and start >= end:
            return [], Fragments(())
        version = sv.version
        tables = self._tables
        hi = end  # inclusive bound for the overlap test is fine: over-approximates
        mems = (sv.mem, *sv.imms)
        chosen = [
            version.overlapping(level, start, hi) if files else []
            for level, files in enumerate(version.levels)
        ]
        # Range tombstones first: they decide which parts of the range each source may
        # skip. A deeper level's tables are otherwise opened lazily, as the scan reaches
        # them (a scan that stops early, a queue's head or `limit=1`, must not pay per
        # table of the range); only those holding range tombstones are opened up front,
        # because their tombstones apply to keys of other tables too.
        frags = [m.fragments for m in mems if m.range_tombstones]
        for level, files in enumerate(chosen):
            for f in files:
                if level == 0 or f.range_deletes:
                    fragments = tables.get(f.number).fragments
                    if fragments:
                        frags.append(fragments)
        deletions = read_path.visible_fragments(frags, read_seq, start, end)

        def parts(newest_seq: int) -> list[tuple[bytes | None, bytes | None]]:
            """The sub-ranges a source whose newest entry is `newest_seq` must read: a
            span hidden by a newer range tombstone is skipped with a seek, never walked
            entry by entry (a `delete_range` of a million keys costs a scan nothing)."""
            if not deletions:
                return [(start, end)]
            found = deletions.uncovered(newest_seq, start, end)
            return found[::-1] if reverse else found

        def memtable_entries(mem: Memtable) -> Iterator[Any]:
            ranges = parts(mem.last_seq)
            if len(ranges) == 1:
                return mem.iter_latest(read_seq, *ranges[0], reverse)
            return concat(mem.iter_latest(read_seq, a, b, reverse) for a, b in ranges)

        # An empty memtable would only add a merge input.
        sources = [memtable_entries(m) for m in mems if m.entry_count]

        def table_entries(f: FileMeta) -> Iterator[Any]:
            reader = tables.get(f.number)
            ranges = parts(f.largest_seq)
            if len(ranges) == 1:
                it = reader.iter_entries(*ranges[0], reverse)
            else:
                it = concat(reader.iter_entries(a, b, reverse) for a, b in ranges)
            return visible(it, read_seq) if f.largest_seq > read_seq else it

        for level, files in enumerate(chosen):
            if not files:
                continue
            if level == 0:
                sources.extend(table_entries(f) for f in files)
            else:
                ordered = files[::-1] if reverse else files
                sources.append(concat(table_entries(f) for f in ordered))
        return sources, deletions

    def _iterate(
        self,
        sv: SuperVersion,
        sources: list[Iterator[Any]],
        fragments: Fragments,
        read_seq: int,
        reverse: bool,
        limit: int | None,
    ) -> Iterator[tuple[bytes, bytes]]:
        # The user-facing iterator counts what it steps over and hands the tally to
        # _count_scan when it ends or is closed. `sv` rides along in that callback on
        # purpose: the iterator holds it for its whole life, and its Version keeps the
        # tables it reads from being deleted (and their readers closed) by compaction.
        finish = partial(self._count_scan, sv)
        if not fragments:
            # No range tombstones: merge and filter a run at a time, so the per-entry
            # work runs in C (iterators/merging.py, user_runs).
            first = FIRST_RUN if limit is None else max(1, min(limit, MAX_RUN))
            runs = user_runs(
                merge_runs(sources, reverse, first), reverse, ScanTally(), limit, finish
            )
            return chain.from_iterable(runs)
        merged = merge(sources, reverse)
        return user_entries(merged, fragments, read_seq, reverse, ScanTally(), limit, finish)

    def _count_scan(self, sv: SuperVersion, tally: ScanTally) -> None:
        c = self._counters
        c.iterator_entries += tally.returned
        c.tombstones_skipped += tally.tombstones
        c.range_deleted_skipped += tally.range_deleted
        c.shadowed_skipped += tally.shadowed
        hint = self.options.scan_tombstone_hint
        if hint and tally.tombstones + tally.range_deleted > hint:
            self._scan_hint(tally)

    # --------------------------------------------------------------- snapshots
    def snapshot(self) -> Snapshot:
        """A point-in-time read view; release it (or use `with`) when done."""
        with self._mutex:
            self._check_open()
            seq = self._visible_seq
            self._snapshots[seq] += 1
        return Snapshot(self, seq)

    def _release_snapshot(self, seq: int) -> None:
        with self._mutex:
            self._snapshots[seq] -= 1
            if self._snapshots[seq] <= 0:
                del self._snapshots[seq]

    def _snapshot_list(self) -> list[int]:
        with self._mutex:
            return sorted(self._snapshots)

    # ------------------------------------------------------------- maintenance
    def flush(self) -> None:
        """Turn the memtable into a level-0 SSTable now, and wait until it is written.

        Cost: one memtable switch (a WAL fsync and a new WAL), then the background thread
        writes one table and one manifest record. Durability: on return the data is in
        an fsync'd table named by an fsync'd manifest. Raises ClosedError, DiskError.

        >>> db.flush()
        """
        self._check_writable()
        w = Writer(b"", (), False, 0)
        w.switch = True
        self._commit(w)
        with self._mutex:
            while self._sv.imms and self._bg_error is None and not self._closed:
                self._bg_cv.notify_all()
                self._bg_cv.wait(0.5)
            if self._bg_error is not None:
                raise self._bg_error

    def compact(self, start: bytes | None = None, end: bytes | None = None) -> None:
        """Compact exactly the tables overlapping [start, end] (everything by default)
        down to the deepest level holding data in that range, dropping shadowed versions,
        covered data and every tombstone no open snapshot needs.

        Level by level from L0, the files overlapping the range (all of L0 if any L0 file
        does) are merged into the next level; at the deepest level, files in the range
        that still hold tombstones are rewritten in place. Background compactions wait
        meanwhile (flushes do not). Flushes the memtable first and blocks until done.
        Cost: reads and rewrites every overlapping table once per level it passes.
        Raises ClosedError if the store closes meanwhile, DiskError on an I/O failure.

        >>> db.compact()
        >>> db.compact(b"a", b"m")
        """
        if start is not None:
            start = check_key(start, "start")
        if end is not None:
            end = check_key(end, "end")
        self.flush()
        request = self._request(start, end, picker.MANUAL)
        with self._mutex:
            self._manual.append(request)
            self._bg_cv.notify_all()
            while not request["done"]:
                if self._closed and self._bg_thread is None:
                    raise ClosedError(f"{self.path}: the store is closed")
                self._bg_cv.wait(0.5)
        if request["error"] is not None:
            raise request["error"]

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
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._mutex:
            while True:
                self._check_open()
                if self._read_only:
                    return True  # no background work ever runs in a read-only store
                if self._bg_error is not None:
                    raise self._bg_error
                if not self._bg_busy and self._idle_job() is None:
                    return True
                left = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
                if left <= 0:
                    return False
                self._bg_cv.notify_all()
                self._bg_cv.wait(left)

    # -------------------------------------------------------- background work
    def _background_loop(self) -> None:
        with self._mutex:
            self._note_version(self._sv.version)
            while True:
                job = None
                while not self._shutting_down:
                    if self._bg_error is None:
                        job = self._next_job()
                        if job is not None:
                            break
                    self._fail_manual_requests_if_errored()
                    self._bg_cv.wait()
                if self._shutting_down:
                    for request in self._manual:
                        request["done"] = True
                        request["error"] = ClosedError(f"{self.path}: the store was closed")
                    self._manual.clear()
                    self._bg_cv.notify_all()
                    return
                self._bg_busy = True
                assert job is not None
                self._mutex.release()
                try:
                    job()
                except Error as e:
                    self._mutex.acquire()
                    self._set_bg_error(e)
                    self._mutex.release()
                except OSError as e:
                    self._mutex.acquire()
                    self._set_bg_error(_disk_error(e, "background work"))
                    self._mutex.release()
                except Exception as e:
                    # A bug must not kill this thread silently: writers waiting for a
                    # flush would hang forever. Stop, and say why, like a disk error.
                    self._mutex.acquire()
                    self._set_bg_error(Error(f"background work failed: {e!r}"))
                    self._mutex.release()
                finally:
                    self._mutex.acquire()
                    self._bg_busy = False
                    self._bg_cv.notify_all()
                    self._write_cv.notify_all()

    def _set_bg_error(self, e: Error) -> None:
        # Why stop rather than retry: a half-written flush or compaction is cleaned up,
        # but the cause (full disk, failing device) is not; carrying on would pile up
        # memtables. RocksDB does the same: the store turns read-only until reopened.
        self._bg_error = e
        if self._trace is not None:
            self._trace("background.error", message=str(e))

    def _fail_manual_requests_if_errored(self) -> None:
        if self._bg_error is not None and self._manual:
            for request in self._manual:
                request["done"] = True
                request["error"] = self._bg_error
            self._manual.clear()
            self._hint_running = False
            self._bg_cv.notify_all()

    def _request(self, start: bytes | None, end: bytes | None, reason: str) -> dict[str, Any]:
        return {"start": start, "end": end, "reason": reason, "done": False, "error": None}

    def _next_job(self) -> Callable[[], None] | None:
        """The next piece of background work, or None (mutex held).

        Order: flushes first (a full memtable blocks writers soonest), then manual and
        hinted compactions one step at a time (automatic compactions wait, so the
        steps see the levels they planned for), then the most urgent size-triggered
        compaction, then a scan hint, then deletion-triggered compaction.
        """
        opts = self.options
        sv = self._sv
        if sv.imms:
            # At L0's stop trigger, compact before flushing more: L0 then never holds
            # more than `level0_stop_trigger` files (writers wait meanwhile). Not during
            # a manual compaction, whose later steps assume only flushes run between.
            if (
                not opts.background_compaction
                or self._manual
                or len(sv.version.levels[0]) < opts.level0_stop_trigger
            ):
                return self._flush_oldest
            c = self._pick()
            if c is None:
                return self._flush_oldest
            return partial(self._run_compaction, c)
        while self._manual:
            request = self._manual[0]
            plan = request.get("plan")
            if plan is None:
                plan = request["plan"] = self._manual_plan(
                    request["start"], request["end"], request["reason"]
                )
            step = next(plan, None)
            if step is not None:
                return partial(self._run_compaction, step)
            self._manual.popleft()
            request["done"] = True
            if request["reason"] == picker.SCAN_HINT:
                self._hint_running = False
                self._hint_version = self._versions.current
            self._bg_cv.notify_all()
        if not opts.background_compaction:
            return None
        c = self._pick()
        size_due = c is not None and c.reason != picker.DELETION_DENSITY
        # Deletion work (a scan hint, else a DTC table) gets every other turn while
        # size-triggered work is pending, unless L0 is at its slowdown trigger: under a
        # steady write load some level is nearly always due, and tombstones must not
        # wait for a lull that never comes.
        if not size_due or (
            self._deletion_turn and len(sv.version.levels[0]) < opts.level0_slowdown_trigger
        ):
            if self._hint is not None:
                lo, hi = self._hint
                self._hint = None
                self._hint_running = True
                self._deletion_turn = False
                self._manual.append(self._request(lo, hi, picker.SCAN_HINT))
                return self._next_job()
            dense = c if not size_due else self._pick_dense()
            if dense is not None:
                self._deletion_turn = False
                return partial(self._run_compaction, dense)
        if c is None:
            return None
        self._deletion_turn = True
        return partial(self._run_compaction, c)

    def _idle_job(self) -> object | None:
        """Something background work still has to do, or None (mutex held, no side effects)."""
        if self._sv.imms or self._manual or self._hint is not None:
            return True
        return self._pick() if self.options.background_compaction else None

    def _pick(self) -> picker.Compaction | None:
        return picker.pick(
            self._versions.current,
            self.options,
            self._versions.compact_pointers,
            self._dtc_exhausted,
            min(self._snapshots) if self._snapshots else None,
        )

    def _pick_dense(self) -> picker.Compaction | None:
        return picker.pick_dense(
            self._versions.current,
            self.options,
            self._dtc_exhausted,
            min(self._snapshots) if self._snapshots else None,
        )

    def _manual_plan(
        self, lo: bytes | None, hi: bytes | None, reason: str
    ) -> Iterator[picker.Compaction]:
        """The steps of a manual (or hinted) compaction, each planned against the version
        current when it is asked for (run under the mutex by `_next_job`)."""
        steps = picker.manual_steps(self._versions.current, lo, hi)
        for level in steps:
            c = picker.manual_compaction(self._versions.current, level, lo, hi, reason)
            if c is not None:
                yield c
        # Only this plan changes levels >= 1 until it ends, so the list stays valid.
        bottom = (steps[-1] + 1) if steps else 1
        for c in picker.bottom_rewrites(self._versions.current, bottom, lo, hi):
            c.reason = picker.MANUAL_BOTTOM if reason == picker.MANUAL else reason
            yield c

    def _flush_oldest(self) -> None:
        """Write the oldest immutable memtable to a level-0 table (mutex released)."""
        with self._mutex:
            sv = self._sv
            imm = sv.imms[-1]
            next_log = sv.imms[-2].log_number if len(sv.imms) > 1 else sv.mem.log_number
            self._jobs += 1
            job = self._jobs
        snapshots = self._snapshot_list()
        tr = self._trace
        t0 = time.monotonic()
        if tr is not None:
            tr(
                "flush.begin",
                job=job,
                entries=imm.entry_count,
                range_tombstones=len(imm.range_tombstones),
                bytes=imm.approx_bytes,
                wal=filenames.wal_name(imm.log_number),
            )
        tally = RetentionTally()
        fragments = imm.fragments
        outputs, written = write_tables(
            retain(imm.iter_all(), snapshots, fragments, False, tally),
            list(fragments.tombstones()),
            self._job_context(),
            None,
            "flush",
        )
        edit = VersionEdit(
            log_number=next_log, last_seq=imm.last_seq, added=[(0, f) for f in outputs]
        )
        try:
            self._versions.log_and_apply(edit)
        finally:
            self._pending_outputs.difference_update(f.number for f in outputs)
        seconds = time.monotonic() - t0
        c = self._counters
        c.flushes += 1
        c.flush_bytes_written += written
        c.per_level_bytes_written[0] += written
        c.flush_seconds += seconds
        with self._mutex:
            sv = self._sv
            imms = tuple(m for m in sv.imms if m is not imm)
            self._install(make_super_version(sv.mem, imms, self._versions.current))
        if tr is not None:
            tr(
                "flush.end",
                job=job,
                level=0,
                files=[filenames.table_name(f.number) for f in outputs],
                outputs=[_file_info(0, f) for f in outputs],
                bytes=written,
                dropped_versions=tally.shadowed_dropped,
                seconds=round(seconds, 6),
            )
        self._delete_obsolete_files()

    def _install(self, sv: SuperVersion) -> None:
        """Make `sv` current (mutex held) and update what depends on its Version."""
        if sv.version is not self._sv.version:
            self._note_version(sv.version)
        self._sv = sv
        self._live_versions.add(sv.version)
        if self._stall_condition:
            self._relax_stall(sv)

    def _run_compaction(self, c: picker.Compaction) -> None:
        """Run one compaction and install its result (mutex released)."""
        snapshots = self._snapshot_list()
        version = self._versions.current
        with self._mutex:
            self._jobs += 1
            job = self._jobs
        tr = self._trace
        if tr is not None:
            tr(
                "compaction.begin",
                job=job,
                reason=c.reason,
                level=c.level,
                output_level=c.output_level,
                trivial_move=c.trivial_move,
                inputs=[_file_info(lvl, f) for lvl, f in c.all_inputs],
                grandparent_files=len(c.grandparents),
                snapshots=len(snapshots),
            )
        edit, result = run_compaction(
            c,
            version,
            snapshots,
            self._job_context(),
            self.options.target_file_bytes,
            picker.max_grandparent_overlap_bytes(self.options),
        )
        try:
            self._versions.log_and_apply(edit)
        finally:
            self._pending_outputs.difference_update(f.number for f in result.outputs)
        counters = self._counters
        counters.compactions += 1
        by_reason = counters.compactions_by_reason
        by_reason[c.reason] = by_reason.get(c.reason, 0) + 1
        if c.trivial_move:
            counters.trivial_moves += 1
        else:
            counters.compaction_bytes_read += result.bytes_read
            counters.compaction_bytes_written += result.bytes_written
            for level, f in c.all_inputs:
                counters.per_level_bytes_read[level] += f.size
            counters.per_level_bytes_written[c.output_level] += result.bytes_written
        counters.compaction_seconds += result.seconds
        with self._mutex:
            if c.reason == picker.DELETION_DENSITY:
                self._note_dtc_outputs(c, version, snapshots, result.outputs)
            sv = self._sv
            self._install(make_super_version(sv.mem, sv.imms, self._versions.current))
        if tr is not None:
            tally = result.tally
            tr(
                "compaction.end",
                job=job,
                reason=c.reason,
                level=c.level,
                output_level=c.output_level,
                trivial_move=c.trivial_move,
                inputs=[_file_info(lvl, f) for lvl, f in c.all_inputs],
                outputs=[_file_info(c.output_level, f) for f in result.outputs],
                bytes_read=result.bytes_read,
                bytes_written=result.bytes_written,
                tombstones_dropped=tally.tombstones_dropped,
                range_tombstones_dropped=tally.range_tombstones_dropped,
                shadowed_dropped=tally.shadowed_dropped,
                range_covered_dropped=tally.range_covered_dropped,
                seconds=round(result.seconds, 6),
            )
        # Drop this frame's references to the old version, or the sweep below would see
        # it alive and keep the compaction's input files on disk until the next sweep.
        del sv, version
        self._delete_obsolete_files()

    def _note_dtc_outputs(
        self,
        c: picker.Compaction,
        version: Version,
        snapshots: list[int],
        outputs: list[FileMeta],
    ) -> None:
        """Remember bottom-level DTC outputs that are still dense (mutex held).

        Their tombstones stayed for an open snapshot (nothing lies beneath them), so
        rewriting them again is useless until that snapshot goes; without this note the
        picker would rewrite them forever.
        """
        lo, hi = c.key_range()
        if not version.bottommost_for(c.output_level, lo, hi):
            return  # tombstones left above other data: a further push down makes progress
        horizon = snapshots[0] if snapshots else picker.NO_SNAPSHOT
        for f in outputs:
            if picker.is_dense(f, self.options):
                self._dtc_exhausted[f.number] = horizon
        live = self._versions.current.file_numbers()
        for number in [n for n in self._dtc_exhausted if n not in live]:
            del self._dtc_exhausted[number]

    def _scan_hint(self, tally: ScanTally) -> None:
        """A scan stepped over more deleted entries than `scan_tombstone_hint`: queue a
        compaction of the key range it stepped over (once per change of the tables, so
        tombstones still in the memtable, which no compaction can remove, cause no loop).
        Called by the iterator when it closes; costs one lock round trip."""
        lo, hi = tally.first_deleted, tally.last_deleted
        if lo is None or hi is None:
            return
        if lo > hi:
            lo, hi = hi, lo  # a reverse scan
        # Bounded wait: this runs when an iterator is finalized, which the garbage
        # collector may do in a thread that already holds the mutex. A hint is only a
        # hint; dropping one beats a deadlock.
        if not self._mutex.acquire(timeout=0.1):
            return
        try:
            if self._closed or self._read_only or not self.options.background_compaction:
                return
            self._counters.scan_hints += 1
            version = self._versions.current
            accepted = (
                version is not self._hint_version
                and not self._hint_running
                and any(
                    f.point_deletes or f.range_deletes
                    for level in range(version.num_levels)
                    for f in version.overlapping(level, lo, hi)
                )
            )
            if self._trace is not None:
                self._trace(
                    "compaction.hint",
                    start=lo.hex(),
                    end=hi.hex(),
                    tombstones=tally.tombstones,
                    range_deleted=tally.range_deleted,
                    accepted=accepted,
                )
            if not accepted:
                return
            if self._hint is not None:
                lo, hi = min(lo, self._hint[0]), max(hi, self._hint[1])
            self._hint = (lo, hi)
            self._bg_cv.notify_all()
        finally:
            self._mutex.release()

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
        """Plain, JSON-serialisable figures about the store (see docs/stats.md)."""
        self._check_open()
        sv = self._sv
        version = sv.version
        c = self._counters.snapshot()
        scores = picker.level_scores(version, self.options)
        levels = []
        for level, files in enumerate(version.levels):
            levels.append(
                {
                    "level": level,
                    "files": len(files),
                    "bytes": sum(f.size for f in files),
                    "entries": sum(f.entries for f in files),
                    "tombstones": sum(f.point_deletes for f in files),
                    "range_tombstones": sum(f.range_deletes for f in files),
                    "smallest_key": min((f.smallest for f in files), default=b"").hex(),
                    "largest_key": max((f.largest for f in files), default=b"").hex(),
                    "target_bytes": self.options.level_target_bytes(level) if level else None,
                    # Compaction accounting (docs/compaction.md): bytes this level gave to
                    # compactions, bytes flushes/compactions wrote into it, its score
                    # (>= 1 means due), and its read amplification: tables a get probed
                    # here per get, and the sorted runs a get may have to look at.
                    "bytes_read": c["per_level_bytes_read"][level],  # type: ignore[index]
                    "bytes_written": c["per_level_bytes_written"][level],  # type: ignore[index]
                    "score": round(scores[level], 4),
                    "probes_per_get": round(
                        c["per_level_probes"][level] / max(int(c["gets"]), 1),  # type: ignore[index, call-overload]
                        4,
                    ),
                    "sorted_runs": len(files) if level == 0 else int(bool(files)),
                }
            )
        gets = int(c["gets"])  # type: ignore[call-overload]
        user_bytes = int(c["user_bytes_written"])  # type: ignore[call-overload]
        disk_written = (
            int(c["wal_bytes_written"])  # type: ignore[call-overload]
            + int(c["flush_bytes_written"])  # type: ignore[call-overload]
            + int(c["compaction_bytes_written"])  # type: ignore[call-overload]
        )
        mems = (sv.mem, *sv.imms)
        return {
            "levels": levels,
            "memtable": {
                "entries": sv.mem.entry_count,
                "bytes": sv.mem.approx_bytes,
                "range_tombstones": len(sv.mem.range_tombstones),
            },
            "immutable_memtables": len(sv.imms),
            "memtable_entries": sum(m.entry_count for m in mems),
            "memtable_bytes": sum(m.approx_bytes for m in mems),
            "wal_bytes": self._wal.offset if self._wal is not None else 0,
            "last_sequence": self._visible_seq,
            "snapshots": sum(self._snapshots.values()),
            "counters": c,
            "gets": gets,
            "sstables_probed": c["tables_probed"],
            "bloom_skips": c["bloom_skips"],
            "bloom_false_positives": c["bloom_false_positives"],
            "tombstones_skipped": c["tombstones_skipped"],
            "flush_bytes_written": c["flush_bytes_written"],
            "compaction_bytes_written": c["compaction_bytes_written"],
            "read_amplification": (int(c["tables_probed"]) / gets)  # type: ignore[call-overload]
            if gets
            else 0.0,
            "write_amplification": (disk_written / user_bytes) if user_bytes else 0.0,
            "compaction": self._compaction_stats(version, c, user_bytes),
            "stalls": {
                "count": c["stall_count"],
                "slowdowns": c["stall_slowdowns"],
                "stops": c["stall_stops"],
                "seconds": round(float(c["stall_seconds"]), 6),  # type: ignore[arg-type]
                "condition": _STALL_NAMES[self._stall_condition],
                "pending_compaction_bytes": self._pending_bytes,
            },
            "background_error": None if self._bg_error is None else str(self._bg_error),
            "write_error": None if self._write_error is None else str(self._write_error),
        }

    def _compaction_stats(
        self, version: Version, c: dict[str, object], user_bytes: int
    ) -> dict[str, Any]:
        """The compaction accounting of `stats()` (docs/compaction.md, "Accounting")."""
        sst_bytes = sum(f.size for _, f in version.files())
        live = estimate_live_bytes(version)
        flushed = int(c["flush_bytes_written"])  # type: ignore[call-overload]
        compacted = int(c["compaction_bytes_written"])  # type: ignore[call-overload]
        return {
            "count": c["compactions"],
            "by_reason": dict(c["compactions_by_reason"]),  # type: ignore[call-overload]
            "trivial_moves": c["trivial_moves"],
            "seconds": round(float(c["compaction_seconds"]), 6),  # type: ignore[arg-type]
            "flush_seconds": round(float(c["flush_seconds"]), 6),  # type: ignore[arg-type]
            "bytes_read": c["compaction_bytes_read"],
            "bytes_written": compacted,
            "flush_bytes_written": flushed,
            # Table bytes written per byte the user handed in (the WAL left out), and per
            # byte flushed (compaction's own multiplier).
            "table_write_amplification": round((flushed + compacted) / user_bytes, 4)
            if user_bytes
            else 0.0,
            "compaction_write_amplification": round((flushed + compacted) / flushed, 4)
            if flushed
            else 0.0,
            "sst_bytes": sst_bytes,
            "live_bytes_estimate": live,
            "space_amplification": round(sst_bytes / live, 4) if live else 0.0,
            "pending_bytes": self._pending_bytes,
            "scan_hints": c["scan_hints"],
            "dtc_exhausted_files": len(self._dtc_exhausted),
        }

    # ----------------------------------------------------------------- closing
    def close(self) -> None:
        """Stop background work, sync and close files, release the lock. Idempotent.

        Durability: on return every acknowledged write, sync=False ones included, is
        in an fsync'd WAL. Cost: waits for queued writers and the running background
        job; one WAL fsync and one manifest record. Raises nothing on a second call.

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
