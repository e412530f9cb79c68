"""Write stalls: the back-pressure that keeps writes from outrunning flush and compaction.

Slowdown delays a write by 1 ms, once; stop makes a write that needs a memtable
switch wait until background work makes room. The triggers (level-0 files, immutable
memtables, pending compaction bytes) and their defaults are in options.py and
docs/compaction.md; the events (`stall.begin`, `stall.end`) in docs/format/trace.md.
"""

from __future__ import annotations

import time

from ..compaction import picker
from ..manifest.version import Version
from .base import STALL_NAMES, EngineBase
from .state import SuperVersion


class StallMixin(EngineBase):
    """`DB._make_room` and the stall bookkeeping it and background work share."""

    def _make_room(self, force_switch: bool) -> None:
        """Called by the leader with the mutex held: switch to a new memtable when the
        current one is full, delaying or stopping (stalling) while compaction is behind.

        Slowdown (L0 at `level0_slowdown_trigger` files, or pending compaction bytes at
        the soft limit): this write waits 1 ms, once, which spreads the waiting over many
        writes instead of one long stop. Stop (a memtable switch is needed but
        `max_immutable_memtables` wait for flush, L0 is at `level0_stop_trigger`, or
        pending bytes are at the hard limit): wait until background work makes room.
        Neither is an error; both are counted in `stats()["stalls"]`. The waits end at
        once if the store closes or background work fails (the check below raises).
        """
        opts = self.options
        c = self._counters
        delayed = False
        stopped_at = 0.0
        try:
            while True:
                self._check_writable()
                sv = self._sv
                switching = force_switch or sv.mem.approx_bytes >= opts.memtable_bytes
                level, cause = self._pressure(sv, switching)
                if level == 1 and not delayed and not force_switch:
                    delayed = True
                    self._set_stall(1, cause, sv)
                    c.stall_count += 1
                    c.stall_slowdowns += 1
                    t0 = time.monotonic()
                    self._bg_cv.wait(0.001)
                    c.stall_seconds += time.monotonic() - t0
                    continue
                if not switching or (force_switch and sv.mem.entry_count == 0):
                    return
                if level == 2:
                    self._set_stall(2, cause, sv)
                    if not stopped_at:
                        stopped_at = time.monotonic()
                        c.stall_count += 1
                        c.stall_stops += 1
                    self._bg_cv.notify_all()
                    self._bg_cv.wait(1.0)
                    continue
                self._switch_memtable()
                return
        finally:
            if stopped_at:
                c.stall_seconds += time.monotonic() - stopped_at
            if self._stall_condition:
                self._relax_stall(self._sv)

    def _pressure(self, sv: SuperVersion, switching: bool) -> tuple[int, str]:
        """How hard writes must wait now: (0 none | 1 slowdown | 2 stop, cause). A stop
        applies only to a write that needs a memtable switch (LevelDB's rule): until the
        memtable is full, writes go on at most slowed down. Mutex held."""
        opts = self.options
        if switching and len(sv.imms) >= opts.max_immutable_memtables:
            return 2, "immutable_memtables"
        if not opts.background_compaction:
            return 0, ""
        l0 = len(sv.version.levels[0])
        pending = self._pending_bytes
        hard = opts.hard_pending_compaction_bytes
        soft = opts.soft_pending_compaction_bytes
        cause = ""
        if l0 >= opts.level0_stop_trigger:
            cause = "level0_files"
        elif hard and pending >= hard:
            cause = "pending_compaction_bytes"
        if cause:
            return (2 if switching else 1), cause
        if l0 >= opts.level0_slowdown_trigger:
            return 1, "level0_files"
        if soft and pending >= soft:
            return 1, "pending_compaction_bytes"
        return 0, ""

    def _set_stall(self, condition: int, cause: str, sv: SuperVersion) -> None:
        """Record a change of the write-stall condition and emit its events (mutex held)."""
        old = self._stall_condition
        if condition == old:
            return
        now = time.monotonic()
        tr = self._trace
        if old and tr is not None:
            tr(
                "stall.end",
                condition=STALL_NAMES[old],
                seconds=round(now - self._stall_since, 6),
            )
        self._stall_condition = condition
        if condition:
            self._stall_since = now
            if tr is not None:
                tr(
                    "stall.begin",
                    condition=STALL_NAMES[condition],
                    cause=cause,
                    level0_files=len(sv.version.levels[0]),
                    immutable_memtables=len(sv.imms),
                    pending_compaction_bytes=self._pending_bytes,
                )

    def _relax_stall(self, sv: SuperVersion) -> None:
        """Lower the stall condition if the pressure behind it has eased (mutex held)."""
        switching = sv.mem.approx_bytes >= self.options.memtable_bytes
        level, cause = self._pressure(sv, switching)
        if level < self._stall_condition:
            self._set_stall(level, cause, sv)

    def _note_version(self, version: Version) -> None:
        """Recompute the write-pressure figures of a new Version (mutex held). O(files)."""
        opts = self.options
        self._pending_bytes = picker.pending_compaction_bytes(version, opts)
        if opts.background_compaction:
            soft = opts.soft_pending_compaction_bytes
            hard = opts.hard_pending_compaction_bytes
            pending = self._pending_bytes
            # 0 sends every write through `_make_room`, where the delay is applied; the
            # hard limit counts too (soft may be off, or set above hard).
            over = bool(soft and pending >= soft) or bool(hard and pending >= hard)
            self._l0_slowdown = 0 if over else opts.level0_slowdown_trigger
