"""The event listener API and write stalls: every flush, compaction, file and stall is
announced with the fields docs/compaction.md documents; stalls are counted, never an
error, and never deadlock a close."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

import lsmkv
from lsmkv.core.trace import TraceRecorder

from .conftest import SMALL

# The documented fields of each event (docs/format/trace.md), beside "event" and "t".
FIELDS = {
    "flush.begin": {"job", "entries", "range_tombstones", "bytes", "wal"},
    "flush.end": {"job", "level", "files", "outputs", "bytes", "dropped_versions", "seconds"},
    "compaction.begin": {
        "job",
        "reason",
        "level",
        "output_level",
        "trivial_move",
        "inputs",
        "grandparent_files",
        "snapshots",
    },
    "compaction.end": {
        "job",
        "reason",
        "level",
        "output_level",
        "trivial_move",
        "inputs",
        "outputs",
        "bytes_read",
        "bytes_written",
        "tombstones_dropped",
        "range_tombstones_dropped",
        "shadowed_dropped",
        "range_covered_dropped",
        "seconds",
    },
    "file.created": {
        "file",
        "reason",
        "size",
        "entries",
        "tombstones",
        "range_tombstones",
        "smallest",
        "largest",
        "smallest_seq",
        "largest_seq",
        "bloom_bits_per_key",
    },
    "file.deleted": {"file", "kind"},
    "stall.begin": {
        "condition",
        "cause",
        "level0_files",
        "immutable_memtables",
        "pending_compaction_bytes",
    },
    "stall.end": {"condition", "seconds"},
}
OPTIONAL = {"file.created": {"keys"}}  # small tables list their entries, for the replay
FILE_INFO = {
    "level",
    "file",
    "size",
    "entries",
    "tombstones",
    "range_tombstones",
    "smallest",
    "largest",
}


@pytest.mark.parametrize("threads", [1, 2])
def test_events_carry_documented_fields(tmp_path: os.PathLike[str], threads: int) -> None:
    rec = TraceRecorder()
    opts = dict(
        SMALL,
        level0_compaction_trigger=2,
        level0_slowdown_trigger=2,
        level0_stop_trigger=3,
        max_background_compactions=threads,
    )
    with lsmkv.open(os.path.join(tmp_path, "db"), listeners=[rec], **opts) as db:
        for i in range(1500):
            db.put(b"k%05d" % (i * 7919 % 1500), b"v" * 100)
            if i % 10 == 0:
                db.delete(b"k%05d" % (i // 2))
        db.flush()
        db.wait_for_compaction(timeout=60)
        stalls = db.stats()["stalls"]
    events = [e for e in rec.events if e["event"] in FIELDS]
    seen = {e["event"] for e in events}
    assert seen == set(FIELDS), set(FIELDS) - seen
    for e in events:
        extra = set(e) - {"event", "t"} - FIELDS[e["event"]]
        assert FIELDS[e["event"]] <= set(e) and extra <= OPTIONAL.get(e["event"], set()), e
        for info in e.get("inputs", []) + e.get("outputs", []):
            assert set(info) == FILE_INFO
    # Begun/completed pairs share a job id; every flush and compaction completed (with
    # several threads they may end in another order than they began); job ids are unique
    # across flushes and compactions.
    all_begun = []
    for kind in ("flush", "compaction"):
        begun = [e["job"] for e in events if e["event"] == f"{kind}.begin"]
        done = [e["job"] for e in events if e["event"] == f"{kind}.end"]
        assert sorted(begun) == sorted(done) and begun
        all_begun += begun
    assert len(set(all_begun)) == len(all_begun)
    # Each table a compaction or flush reports as output was announced as created, and
    # each rewritten input was deleted afterwards.
    created = {e["file"] for e in events if e["event"] == "file.created"}
    deleted = {e["file"] for e in events if e["event"] == "file.deleted"}
    for e in events:
        if e["event"] in ("flush.end", "compaction.end") and not e.get("trivial_move"):
            assert {o["file"] for o in e["outputs"]} <= created
        if e["event"] == "compaction.end" and not e["trivial_move"]:
            assert {i["file"] for i in e["inputs"]} <= deleted
    # Stalls: counted in stats, each begin followed by an end (the last may still be
    # open when the store closes), conditions alternate sensibly.
    begins = [e for e in events if e["event"] == "stall.begin"]
    ends = [e for e in events if e["event"] == "stall.end"]
    assert stalls["count"] > 0 and begins
    assert len(begins) - len(ends) in (0, 1)
    assert {e["condition"] for e in begins} <= {"slowdown", "stop"}
    assert {e["cause"] for e in begins} <= {
        "level0_files",
        "immutable_memtables",
        "pending_compaction_bytes",
    }


@pytest.mark.parametrize("threads", [1, 3])
def test_close_while_a_writer_is_stopped_does_not_deadlock(
    tmp_path: os.PathLike[str], threads: int
) -> None:
    """Hold the compaction threads inside a listener so L0 fills and a writer stops;
    close from another thread; then let the background go. Everything must finish."""
    gate = threading.Event()
    held = threading.Event()

    def listener(event: dict[str, Any]) -> None:
        if event["event"] == "compaction.begin" and not gate.is_set():
            held.set()
            gate.wait(30)

    opts = dict(
        SMALL,
        memtable_bytes=4096,
        level0_compaction_trigger=1,
        level0_slowdown_trigger=1,
        level0_stop_trigger=2,
        max_immutable_memtables=1,
        max_background_compactions=threads,
    )
    db = lsmkv.open(os.path.join(tmp_path, "db"), listeners=[listener], **opts)
    outcome: list[BaseException | None] = []
    acknowledged: list[int] = []

    def writer() -> None:
        try:
            for i in range(100_000):
                db.put(b"k%06d" % i, b"v" * 100)
                acknowledged.append(i)
            outcome.append(None)
        except lsmkv.Error as e:
            outcome.append(e)

    t = threading.Thread(target=writer)
    t.start()
    assert held.wait(30), "the background thread never started a compaction"
    # Wait until the writer is stopped (it is blocked in the stop condition).
    for _ in range(1000):
        if db.stats()["stalls"]["condition"] == "stop":
            break
        threading.Event().wait(0.01)
    assert db.stats()["stalls"]["condition"] == "stop"
    assert db.stats()["stalls"]["stops"] >= 1
    closer = threading.Thread(target=db.close)
    closer.start()
    gate.set()
    closer.join(30)
    t.join(30)
    assert not closer.is_alive() and not t.is_alive(), "close or the writer deadlocked"
    assert len(outcome) == 1 and isinstance(outcome[0], lsmkv.ClosedError)
    # The store reopens with every acknowledged write (no error left behind).
    with lsmkv.open(os.path.join(tmp_path, "db"), **SMALL) as again:
        assert acknowledged, "the writer acknowledged nothing before it stopped"
        for i in acknowledged:
            assert again.get(b"k%06d" % i) == b"v" * 100, i
        assert again.stats()["background_error"] is None


def test_wait_for_compaction_returns_on_a_read_only_store(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "db")
    with lsmkv.open(path, **SMALL) as db:
        db.put(b"k", b"v")  # left in the WAL: a read-only open keeps it in memory
    with lsmkv.open(path, read_only=True) as ro:
        assert ro.wait_for_compaction(timeout=5) is True
        assert ro.get(b"k") == b"v"


def test_the_hard_pending_limit_slows_writes_even_with_soft_off(
    tmp_path: os.PathLike[str], monkeypatch: Any
) -> None:
    """With the soft limit off (0), writes past the hard pending-compaction limit must
    still take the slow path: the fast path's gate once looked at the soft limit only."""
    from lsmkv.compaction import picker

    with lsmkv.open(
        tmp_path, soft_pending_compaction_bytes=0, hard_pending_compaction_bytes=1
    ) as db:
        monkeypatch.setattr(picker, "pending_compaction_bytes", lambda v, o: 10**9)
        with db._mutex:
            db._note_version(db._sv.version)
        db.put(b"k", b"v", sync=False)
        assert db.stats()["stalls"]["slowdowns"] >= 1
