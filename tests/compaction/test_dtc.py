"""Deletion-triggered compaction cures the queue workload.

The queue: push at the tail, find the head with a scan, delete it. Every deleted head
leaves a tombstone in front of the next head, and a scan for the head steps over all of
them until a compaction brings each tombstone down onto the value it deletes, where
both vanish. With a backlog deep enough that the values sit in level 2 and below, size
-triggered compaction alone rarely does that for the head's key range: the tombstones
pile up and the head scan grows with every pop (the cliff). DTC, from table
properties or from scan hints, keeps the pile bounded.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

import lsmkv

from .conftest import SMALL

BACKLOG = 3000
POPS = 800
HINT = 100


def _run_queue(path: str, **options: Any) -> tuple[list[int], dict[str, Any]]:
    """Skipped-tombstone count of each head scan, and the final stats."""
    with lsmkv.open(path, **SMALL, **options) as db:
        tail = 0
        for _ in range(BACKLOG):
            db.put(b"q%010d" % tail, b"x" * 100)
            tail += 1
        db.wait_for_compaction(timeout=120)
        skipped = []
        for _ in range(POPS):
            db.put(b"q%010d" % tail, b"x" * 100)
            tail += 1
            # The counter behind stats()["tombstones_skipped"], read directly: a full
            # stats() per pop would cost more than the pop.
            before = db._counters.tombstones_skipped
            head, _value = next(iter(db.scan(start=b"q", limit=1)))
            skipped.append(db._counters.tombstones_skipped - before)
            db.delete(head)
        stats = db.stats()
        return skipped, stats


@pytest.mark.parametrize(
    "mode",
    [
        # From table properties alone: 50 tombstones in 100 entries marks a table.
        dict(deletion_window_entries=100, deletion_trigger=50, scan_tombstone_hint=0),
        # From scan hints alone: a scan that steps over > 100 tombstones reports them.
        dict(deletion_trigger=0, scan_tombstone_hint=HINT),
    ],
    ids=["table-properties", "scan-hints"],
)
def test_dtc_keeps_head_scan_bounded(tmp_path: os.PathLike[str], mode: dict[str, Any]) -> None:
    skipped, stats = _run_queue(os.path.join(tmp_path, "db"), **mode)
    reasons = stats["compaction"]["by_reason"]
    assert reasons.get("deletion_density" if mode["deletion_trigger"] else "scan_hint", 0) > 0
    # Bounded: past the first third, no head scan steps over 640 tombstones (80% of the
    # pops) and the last 100 average under 480, though every pop left one more.
    # Measured (4 runs per mode, 2 cores shared with another test): worst 238-437 from
    # table properties, 292-455 from scan hints; last-100 means 111-267. Without DTC:
    # 799 and 749.5.
    assert max(skipped[POPS // 3 :]) < 0.8 * POPS
    assert sum(skipped[-100:]) / 100 < 0.6 * POPS


def test_without_dtc_the_head_scan_falls_off_the_cliff(tmp_path: os.PathLike[str]) -> None:
    skipped, stats = _run_queue(
        os.path.join(tmp_path, "db"), deletion_trigger=0, scan_tombstone_hint=0
    )
    assert "deletion_density" not in stats["compaction"]["by_reason"]
    # The n-th pop steps over (nearly) every tombstone left by the pops before it.
    assert max(skipped[-100:]) > POPS * 0.9
    assert skipped[-1] > skipped[POPS // 2] > skipped[POPS // 10]
