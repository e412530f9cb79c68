"""Closing a store, cleanly or by a simulated power loss.

A clean close drains the write queue, stops the background threads, seals the WAL
(so sync=False writes become durable and damage to its last record reads as
corruption) and records the sealed sizes in the manifest. A power loss from FaultFS
only marks the object dead, as its process would be.
"""

from __future__ import annotations

import os
import threading

from ..core import filenames
from ..errors import Error
from ..manifest.edit import VersionEdit
from .base import EngineBase


class ClosingMixin(EngineBase):
    """The body of `DB.close`, and what a power loss or a failed open releases."""

    def _record_sealed_wals(self) -> None:
        """Tell the manifest the exact size of every live WAL (close, after the seal), so
        the next open treats a WAL cut short, extended or deleted as corruption."""
        wal = self._wal
        assert wal is not None
        sealed = [(wal.number, wal.offset)]
        for mem in self._sv.imms:  # fsync'd in full when their memtable was switched out
            name = os.path.join(self.path, filenames.wal_name(mem.log_number))
            if self._fs.exists(name):
                sealed.append((mem.log_number, self._fs.size(name)))
        self._versions.log_and_apply(VersionEdit(sealed_wals=sorted(sealed)))

    def _lost_power(self) -> None:
        """FaultFS cut the power: this DB object is dead, as its process would be.

        Its file handles already fail with EIO and its lock is released; from now on
        every call raises `ClosedError`, and the background threads stop.
        """
        self._closed = True
        self._lock = None

        def wake() -> None:
            with self._mutex:
                self._shutting_down = True
                self._bg_cv.notify_all()
                self._write_cv.notify_all()

        # From a helper thread: the caller may be an engine thread holding the mutex
        # (a test cutting power from inside a trace hook).
        threading.Thread(target=wake, name="lsmkv-power-loss", daemon=True).start()

    def _release_resources(self) -> None:
        if self._wal is not None:
            try:
                self._wal.close()
            except OSError:
                pass
            self._wal = None
        self._versions.close()
        self._tables.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self._closed = True

    def _close(self) -> None:
        """`DB.close`: drain writers, stop the background threads, seal the WAL, release."""
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            self._bg_cv.notify_all()  # a writer stalled in _make_room sees the close now
            while self._queue:
                self._write_cv.wait(0.1)
            self._shutting_down = True
            self._bg_cv.notify_all()
        # Each thread finishes the job it is running (a flush or one compaction) and exits.
        for thread in self._bg_threads:
            thread.join()
        self._bg_threads = []
        if self._wal is not None and self._write_error is None:
            try:
                # A clean close makes sync=False writes durable too, and the seal makes
                # damage to any record of this WAL, the last included, read as corruption.
                self._wal.seal()
                if self._bg_error is None:
                    self._record_sealed_wals()
            except (OSError, Error):
                pass  # the seals are a stronger check for the next open, not a need
        self._release_resources()
