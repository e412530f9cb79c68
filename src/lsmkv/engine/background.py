"""Background work: one flush thread and `max_background_compactions` compaction threads.

```
 writers ──switch──► immutable memtables ──► [flush thread]        one flush at a time,
                                                   │               oldest memtable first
                                                   ▼
                                                   L0 ──► [compaction thread 1]  L0 -> L1
                                                   L1 ──► [compaction thread 2]  L1 -> L2
                                                   ...     (up to N at once, disjoint)
```

The flush thread (RocksDB's high-priority pool) only flushes, so a full memtable never
waits behind a long compaction; it holds a flush only while level 0 is at its stop
trigger and compaction can bring it down (`_flush_due`). Each compaction thread takes
the next compaction (`_next_compaction`: manual and hinted steps, then size-triggered,
then deletion work) that stays clear of what the running ones hold (picker.Busy), runs
it with the mutex released and installs the result. Version edits are applied one at
a time (manifest/versionset.py). A manual `compact()` runs exclusively: it waits for
running compactions to end and no automatic one starts until it is done. The first
failure stops all background work for good (`_set_bg_error` says why). `DB.compact`
and `DB.wait_for_compaction` queue requests for these threads and wait on them; a scan
that stepped over many tombstones leaves a hint here (`_scan_hint`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from ..compaction import picker
from ..compaction.job import run_compaction
from ..core.keys import check_key
from ..errors import ClosedError, Error
from ..iterators.user import ScanTally
from ..manifest.edit import FileMeta
from ..manifest.version import Version
from .base import EngineBase, disk_error, file_info
from .jobworker import JobWorker, offloads
from .state import SuperVersion, make_super_version

# A compaction to run and the Version it was picked from.
Pick = tuple[picker.Compaction, Version]


class BackgroundMixin(EngineBase):
    """The background threads' loops and jobs, and the manual requests they serve."""

    def _start_background(self) -> None:
        """Start the flush thread and the compaction threads (end of a read-write open)."""
        with self._mutex:
            self._note_version(self._sv.version)
        threads = [
            threading.Thread(target=self._flush_loop, name=f"lsmkv-flush:{self.path}", daemon=True)
        ]
        for i in range(self.options.max_background_compactions):
            threads.append(
                threading.Thread(
                    target=self._compaction_loop,
                    name=f"lsmkv-compaction-{i}:{self.path}",
                    daemon=True,
                )
            )
        self._bg_threads = threads
        for thread in threads:
            thread.start()

    def _compact_range(self, start: bytes | None, end: bytes | None) -> None:
        """`DB.compact`: flush, queue a manual request, wait for its steps to run."""
        if start is not None:
            start = check_key(start, "start")
        if end is not None:
            end = check_key(end, "end")
        self._flush_now()
        request = self._request(start, end, picker.MANUAL)
        with self._mutex:
            self._manual.append(request)
            self._bg_cv.notify_all()
            while not request["done"]:
                if self._closed and not self._bg_threads:
                    raise ClosedError(f"{self.path}: the store is closed")
                self._bg_cv.wait(0.5)
        if request["error"] is not None:
            raise request["error"]

    def _wait_idle(self, timeout: float | None) -> bool:
        """`DB.wait_for_compaction`: wait (mutex held between checks) until nothing is due."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._mutex:
            while True:
                self._check_open()
                if self._read_only:
                    return True  # no background work ever runs in a read-only store
                if self._bg_error is not None:
                    raise self._bg_error
                if not self._flushing and not self._running and self._idle_job() is None:
                    return True
                left = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
                if left <= 0:
                    return False
                self._bg_cv.notify_all()
                self._bg_cv.wait(left)

    # ------------------------------------------------------------------ threads
    def _job_worker(self) -> JobWorker | None:
        """The worker process a background thread runs its jobs in (started on its first
        job), or None to run them in this process (engine/jobworker.py says when)."""
        if not offloads(self._fs, self.options.background_processes):
            return None
        worker = JobWorker(self.path, self._settings)
        self._job_workers.append(worker)
        return worker

    def _flush_loop(self) -> None:
        """The flush thread: flush the oldest immutable memtable whenever one is due."""
        worker = self._job_worker()
        try:
            with self._mutex:
                while True:
                    while not self._shutting_down and (
                        self._bg_error is not None or not self._flush_due()
                    ):
                        self._bg_cv.wait()
                    if self._shutting_down:
                        return
                    self._flushing = True
                    try:
                        self._run_unlocked(partial(self._flush_oldest, worker))
                    finally:
                        self._flushing = False
        finally:
            if worker is not None:
                worker.close()

    def _compaction_loop(self) -> None:
        """A compaction thread: run the next compaction the others leave free, repeatedly."""
        worker = self._job_worker()
        try:
            self._compactions(worker)
        finally:
            if worker is not None:
                worker.close()

    def _compactions(self, worker: JobWorker | None) -> None:
        with self._mutex:
            while True:
                pick = None
                while not self._shutting_down:
                    if self._bg_error is None:
                        pick = self._next_compaction()
                        if pick is not None:
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
                assert pick is not None
                c, version = pick
                self._jobs += 1
                job = self._jobs
                # Registered before the mutex is released: from now on no other pick
                # may take these files or write into this key range of the output level.
                self._running[job] = c
                try:
                    self._run_unlocked(partial(self._run_compaction, c, version, job, worker))
                finally:
                    del self._running[job]
                # Drop this frame's references to the old Version first, or the sweep
                # would see it alive and keep the inputs on disk until the next sweep.
                del pick, c, version
                self._run_unlocked(self._delete_obsolete_files)

    def _run_unlocked(self, job: Callable[[], None]) -> None:
        """Run `job` with the mutex released (held on entry and on return); a failure
        stops background work. Wakes every waiter afterwards."""
        error: Error | None = None
        self._mutex.release()
        try:
            job()
        except Error as e:
            error = e
        except OSError as e:
            error = disk_error(e, "background work")
        except Exception as e:
            # A bug must not kill this thread silently: writers waiting for a flush
            # would hang forever. Stop, and say why, like a disk error.
            error = Error(f"background work failed: {e!r}")
        finally:
            self._mutex.acquire()
            if error is not None:
                self._set_bg_error(error)
            self._bg_cv.notify_all()
            self._write_cv.notify_all()

    def _set_bg_error(self, e: Error) -> None:
        # Why stop rather than retry: a half-written flush or compaction is cleaned up,
        # but the cause (full disk, failing device) is not; carrying on would pile up
        # memtables. RocksDB does the same: the store turns read-only until reopened.
        # Only the first error counts: a job running beside the one that failed may fail
        # after it for the same cause (the manifest refuses edits after a failed write).
        if self._bg_error is not None:
            return
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

    # ------------------------------------------------------------- what runs next
    def _flush_due(self) -> bool:
        """Should the flush thread flush now? (mutex held)

        Yes whenever a memtable waits, except at L0's stop trigger: then the flush waits
        until compaction takes L0 below it, so L0 never holds more than
        `level0_stop_trigger` files (writers needing a memtable switch stop meanwhile,
        by the rules of stalls.py). Only while compaction can bring L0 down (one runs,
        is queued, or can be picked): otherwise the flush goes ahead, never a deadlock.
        """
        sv = self._sv
        if not sv.imms:
            return False
        opts = self.options
        if not opts.background_compaction or len(sv.version.levels[0]) < opts.level0_stop_trigger:
            return True
        return not (self._running or self._manual or self._pick() is not None)

    def _next_compaction(self) -> Pick | None:
        """The next compaction for a free compaction thread, or None (mutex held).

        Order: manual and hinted compactions, one step at a time and alone (each step
        is planned against the levels the previous one left, so it waits until no other
        compaction runs, and automatic ones wait for it); then the most urgent
        size-triggered compaction, then a scan hint, then deletion-triggered compaction.
        Every automatic pick stays clear of the running compactions (picker.Busy).
        """
        opts = self.options
        while self._manual:
            if self._running:
                return None  # a manual compaction runs alone: wait for the others to end
            request = self._manual[0]
            plan: Iterator[Pick] | None = request.get("plan")
            if plan is None:
                plan = request["plan"] = self._manual_plan(
                    request["start"], request["end"], request["reason"]
                )
            step = next(plan, None)
            if step is not None:
                return step
            self._manual.popleft()
            request["done"] = True
            if request["reason"] == picker.SCAN_HINT:
                self._hint_running = False
                self._hint_version = self._versions.current
            self._bg_cv.notify_all()
        if not opts.background_compaction:
            return None
        version = self._versions.current
        busy = picker.Busy.of(self._running.values())
        c = self._pick(version, busy)
        size_due = c is not None and c.reason != picker.DELETION_DENSITY
        # Deletion work (a scan hint, else a DTC table) gets every other turn while
        # size-triggered work is pending, unless L0 is at its slowdown trigger: under a
        # steady write load some level is nearly always due, and tombstones must not
        # wait for a lull that never comes.
        if not size_due or (
            self._deletion_turn and len(version.levels[0]) < opts.level0_slowdown_trigger
        ):
            if self._hint is not None:
                lo, hi = self._hint
                self._hint = None
                self._hint_running = True
                self._deletion_turn = False
                self._manual.append(self._request(lo, hi, picker.SCAN_HINT))
                return self._next_compaction()
            dense = c if not size_due else self._pick_dense(version, busy)
            if dense is not None:
                self._deletion_turn = False
                return dense, version
        if c is None:
            return None
        self._deletion_turn = True
        return c, version

    def _idle_job(self) -> object | None:
        """Something background work still has to do, or None (mutex held, no side effects)."""
        if self._sv.imms or self._manual or self._hint is not None:
            return True
        return self._pick() if self.options.background_compaction else None

    def _pick(
        self, version: Version | None = None, busy: picker.Busy | None = None
    ) -> picker.Compaction | None:
        """The picker's choice for `version` (default: the current one) clear of `busy`
        (default: the running compactions). Mutex held."""
        return picker.pick(
            self._versions.current if version is None else version,
            self.options,
            self._versions.compact_pointers,
            self._dtc_exhausted,
            min(self._snapshots) if self._snapshots else None,
            picker.Busy.of(self._running.values()) if busy is None else busy,
        )

    def _pick_dense(self, version: Version, busy: picker.Busy) -> picker.Compaction | None:
        return picker.pick_dense(
            version,
            self.options,
            self._dtc_exhausted,
            min(self._snapshots) if self._snapshots else None,
            busy,
        )

    def _manual_plan(self, lo: bytes | None, hi: bytes | None, reason: str) -> Iterator[Pick]:
        """The steps of a manual (or hinted) compaction, each planned against the version
        current when it is asked for (run under the mutex by `_next_compaction`, when no
        other compaction runs).

        The generator keeps no Version in a local while it waits between steps: a Version
        alive here would keep the previous step's inputs on disk past its sweep (the
        obsolete-file sweep spares every Version still referenced)."""
        steps = picker.manual_steps(self._versions.current, lo, hi)
        yield from filter(None, (self._manual_step(level, lo, hi, reason) for level in steps))
        # Only this plan changes levels >= 1 until it ends, so the list stays valid.
        bottom = (steps[-1] + 1) if steps else 1
        for c in picker.bottom_rewrites(self._versions.current, bottom, lo, hi):
            c.reason = picker.MANUAL_BOTTOM if reason == picker.MANUAL else reason
            yield c, self._versions.current

    def _manual_step(
        self, level: int, lo: bytes | None, hi: bytes | None, reason: str
    ) -> Pick | None:
        version = self._versions.current
        c = picker.manual_compaction(version, level, lo, hi, reason)
        return None if c is None else (c, version)

    def _install(self, sv: SuperVersion) -> None:
        """Make `sv` current (mutex held) and update what depends on its Version."""
        if sv.version is not self._sv.version:
            self._note_version(sv.version)
        self._sv = sv
        self._live_versions.add(sv.version)
        if self._stall_condition:
            self._relax_stall(sv)

    def _run_compaction(
        self, c: picker.Compaction, version: Version, job: int, worker: JobWorker | None = None
    ) -> None:
        """Run one compaction picked from `version` (in `worker`, if given, unless it is
        a trivial move) and install its result (mutex released; `c` is registered in
        `_running`, so its files are being compacted)."""
        snapshots = self._snapshot_list()
        tr = self._trace
        # The fields compaction.begin and compaction.end share (docs/format/trace.md).
        job_fields: dict[str, Any] = {}
        if tr is not None:
            job_fields = {
                "job": job,
                "reason": c.reason,
                "level": c.level,
                "output_level": c.output_level,
                "trivial_move": c.trivial_move,
                "inputs": [file_info(lvl, f) for lvl, f in c.all_inputs],
            }
            tr(
                "compaction.begin",
                **job_fields,
                grandparent_files=len(c.grandparents),
                snapshots=len(snapshots),
            )
        job_args = (
            c,
            version,
            snapshots,
            self._job_context(),
            self.options.target_file_bytes,
            picker.max_grandparent_overlap_bytes(self.options),
        )
        if worker is None or c.trivial_move or not worker.ready():
            edit, result = run_compaction(*job_args)
        else:
            edit, result = worker.compaction(*job_args)
        try:
            self._versions.log_and_apply(edit)
        finally:
            self._pending_outputs.difference_update(f.number for f in result.outputs)
        counters = self._counters
        with self._mutex:
            # Under the mutex: compactions on other threads bump the same counters, and
            # stats() promises that the per-reason and per-level figures add up.
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
            if c.reason == picker.DELETION_DENSITY:
                self._note_dtc_outputs(c, version, snapshots, result.outputs)
            sv = self._sv
            self._install(make_super_version(sv.mem, sv.imms, self._versions.current))
        if tr is not None:
            tally = result.tally
            tr(
                "compaction.end",
                **job_fields,
                outputs=[file_info(c.output_level, f) for f in result.outputs],
                bytes_read=result.bytes_read,
                bytes_written=result.bytes_written,
                tombstones_dropped=tally.tombstones_dropped,
                range_tombstones_dropped=tally.range_tombstones_dropped,
                shadowed_dropped=tally.shadowed_dropped,
                range_covered_dropped=tally.range_covered_dropped,
                seconds=round(result.seconds, 6),
            )

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
