"""Snapshots: the sequence numbers open read views pin.

An open snapshot is a count per sequence number (several views may share one). Flush
and compaction read the sorted list, so they keep every version a snapshot can still
see (compaction/retention.py); `stats()` reports how many are open.
"""

from __future__ import annotations

from .base import EngineBase


class SnapshotMixin(EngineBase):
    """`DB._release_snapshot` and `DB._snapshot_list`."""

    def _release_snapshot(self, seq: int) -> None:
        with self._mutex:
            self._snapshots[seq] -= 1
            if self._snapshots[seq] <= 0:
                del self._snapshots[seq]

    def _snapshot_list(self) -> list[int]:
        with self._mutex:
            return sorted(self._snapshots)
