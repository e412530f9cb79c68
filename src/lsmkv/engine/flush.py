"""Flush: the oldest immutable memtable becomes a level-0 table.

Run by the flush thread (background.py), which does nothing else: a full memtable
blocks writers soonest, so a flush never waits behind a compaction. The table is
written and fsync'd, then one manifest record names it and moves the log number past
its WAL, and only then is the memtable dropped from the SuperVersion and the WAL
deleted: at every moment one durable copy of each acknowledged write exists.
`DB.flush` forces a memtable switch and waits.
"""

from __future__ import annotations

import time

from ..compaction.job import memtable_runs, write_tables
from ..compaction.retention import RetentionTally
from ..core import filenames
from ..manifest.edit import VersionEdit
from .base import EngineBase, file_info
from .commit import Writer
from .jobworker import JobWorker
from .state import make_super_version


class FlushMixin(EngineBase):
    """`DB._flush_oldest` (background) and `DB._flush_now` (the body of `DB.flush`)."""

    def _flush_now(self) -> None:
        """`DB.flush`: switch the memtable out, then wait for the background flush."""
        self._check_writable()
        w = Writer(b"", [], [], None, False, 0)
        w.switch = True
        self._commit(w)
        with self._mutex:
            # Wait for the memtables older than the active one to be flushed, not for
            # "no memtable waiting": under a steady write load the flush thread keeps
            # up, but new immutable memtables keep appearing, and this would wait on.
            target = self._sv.mem.log_number
            while (
                self._sv.imms
                and self._sv.imms[-1].log_number < target
                and self._bg_error is None
                and not self._closed
            ):
                self._bg_cv.notify_all()
                self._bg_cv.wait(0.5)
            if self._bg_error is not None:
                raise self._bg_error

    def _flush_oldest(self, worker: JobWorker | None = None) -> None:
        """Write the oldest immutable memtable to a level-0 table (mutex released), in
        `worker` if one is given."""
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
        runs = memtable_runs(imm, snapshots, tally)
        tombstones = list(fragments.tombstones())
        if worker is None or not worker.ready():
            outputs, written = write_tables(runs, tombstones, self._job_context(), None, "flush")
        else:
            outputs, written = worker.flush(runs, tombstones, self._job_context())
        edit = VersionEdit(
            log_number=next_log, last_seq=imm.last_seq, added=[(0, f) for f in outputs]
        )
        try:
            self._versions.log_and_apply(edit)
        finally:
            self._pending_outputs.difference_update(f.number for f in outputs)
        seconds = time.monotonic() - t0
        c = self._counters
        with self._mutex:
            # Under the mutex, as compactions on other threads bump the same counters.
            c.flushes += 1
            c.flush_bytes_written += written
            c.per_level_bytes_written[0] += written
            c.flush_seconds += seconds
            sv = self._sv
            imms = tuple(m for m in sv.imms if m is not imm)
            self._install(make_super_version(sv.mem, imms, self._versions.current))
        if tr is not None:
            tr(
                "flush.end",
                job=job,
                level=0,
                files=[filenames.table_name(f.number) for f in outputs],
                outputs=[file_info(0, f) for f in outputs],
                bytes=written,
                dropped_versions=tally.shadowed_dropped,
                seconds=round(seconds, 6),
            )
        self._delete_obsolete_files()
