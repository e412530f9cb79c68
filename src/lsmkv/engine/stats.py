"""The figures of `DB.stats()`: levels, memtables, counters, amplification, stalls.

Plain, JSON-serialisable data built from the counters (core/counters.py) and the
current SuperVersion; the schema and the meaning of each figure are in
docs/stats.md, the compaction accounting in docs/compaction.md ("Accounting").
Nothing here runs on a read or write path: the counters are bumped where the work
happens, and only read here.
"""

from __future__ import annotations

from typing import Any

from ..compaction import picker
from ..compaction.accounting import estimate_live_bytes
from ..manifest.version import Version
from .base import STALL_NAMES, EngineBase


class StatsMixin(EngineBase):
    """`DB._stats` (the body of `DB.stats`) and `DB._compaction_stats`."""

    def _stats(self) -> dict[str, Any]:
        """The body of `DB.stats`: one dict built from the counters and the SuperVersion."""
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
                "condition": STALL_NAMES[self._stall_condition],
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
            # What the background threads are doing now (docs/compaction.md, "Threads").
            "threads": self.options.max_background_compactions,
            "flush_running": self._flushing,
            "running": self._running_compactions(),
            "worker_processes": sum(w.started for w in self._job_workers),
            "worker_pids": [w.pid for w in self._job_workers if w.pid is not None],
        }

    def _running_compactions(self) -> list[dict[str, Any]]:
        """The compactions running now, by job number. Cost: O(their input files).

        No lock: a listener may call stats() from an engine thread that holds the mutex,
        and copying the dict's items is one step for the GIL."""
        running = sorted(self._running.items())
        return [
            {
                "job": job,
                "reason": c.reason,
                "level": c.level,
                "output_level": c.output_level,
                "input_files": len(c.all_inputs),
                "input_bytes": sum(f.size for _, f in c.all_inputs),
                "trivial_move": c.trivial_move,
            }
            for job, c in running
        ]
