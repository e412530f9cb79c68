"""lsmkv.recipes.Queue (and the NaiveQueue it is compared with): FIFO order, durability
across reopen and kill -9, and the tombstones each head scan steps over.

The tombstone counts come from the store's own counters (`stats()["counters"]`), so the
tests check what the benchmark and docs/queue.md claim: the naive head scan steps over
one more deleted entry per earlier pop until `compact()` purges them; the recipe's head
scan steps over none, whatever the history (the stated bound: 0 per pop).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import lsmkv
from lsmkv.recipes import NaiveQueue, Queue

# Small memtables, so items and tombstones spread over SSTables and levels.
SMALL = {"memtable_bytes": 64 * 1024, "target_file_bytes": 32 * 1024}


def skipped(db: lsmkv.DB) -> int:
    c = db.stats()["counters"]
    return int(c["tombstones_skipped"]) + int(c["range_deleted_skipped"])


def test_fifo_order_peek_len(tmp_path: Path) -> None:
    with lsmkv.open(tmp_path / "db", sync=False, **SMALL) as db:
        q = Queue(db, b"jobs", ack_every=10)
        assert q.pop() is None and q.peek() is None and len(q) == 0
        assert q.push(b"v0") == 0
        assert q.push_many(b"v%d" % i for i in range(1, 500)) == 499
        assert len(q) == 500
        assert q.peek() == b"v0"
        out = []
        for i in range(250):
            out.append(q.pop())
            if i % 50 == 0:  # pushes interleaved with pops land at the tail
                q.push(b"late%d" % i)
        assert out == [b"v%d" % i for i in range(250)]
        rest = []
        while (v := q.pop()) is not None:
            rest.append(v)
        assert rest == [b"v%d" % i for i in range(250, 500)] + [
            b"late%d" % i for i in range(0, 250, 50)
        ]
        assert len(q) == 0 and q.pop() is None


def test_two_queues_do_not_mix(tmp_path: Path) -> None:
    with lsmkv.open(tmp_path / "db", sync=False) as db:
        a, b = Queue(db, b"a"), Queue(db, b"ab")
        a.push(b"1")
        b.push(b"2")
        db.put(b"a\x01", b"unrelated")  # a neighbouring key outside the queue's range
        assert a.pop() == b"1" and a.pop() is None
        assert b.pop() == b"2" and b.pop() is None
    with pytest.raises(ValueError):
        Queue(db, b"bad\x00name")


def test_reopen_keeps_acked_pops_and_redelivers_unacked(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with lsmkv.open(path, **SMALL) as db:
        q = Queue(db, b"jobs", ack_every=1000)
        q.push_many(b"%d" % i for i in range(100))
        assert [q.pop() for _ in range(30)] == [b"%d" % i for i in range(30)]
        q.ack()
        assert [q.pop() for _ in range(5)] == [b"%d" % i for i in range(30, 35)]
        assert q.pending_acks == 5
        # No ack and no close(): the store closes, but those 5 pops were never acked.
    with lsmkv.open(path, **SMALL) as db:
        q = Queue(db, b"jobs")
        assert q.head == 30 and len(q) == 70  # at least once: 30..34 come back
        assert q.pop() == b"30"
        with q:  # close() acks
            q.pop()
    with lsmkv.open(path, **SMALL) as db:
        q = Queue(db, b"jobs")
        assert q.head == 32
        assert q.push(b"new") == 100  # positions never restart
        values = []
        while (v := q.pop()) is not None:
            values.append(v)
        assert values == [b"%d" % i for i in range(32, 100)] + [b"new"]
        q.ack()
    with lsmkv.open(path) as db:
        q = Queue(db, b"jobs")
        assert len(q) == 0 and q.pop() is None and q.head == 101
        assert list(db.scan(b"jobs\x00i", b"jobs\x00j")) == []


CHILD = textwrap.dedent(
    """
    import sys
    import lsmkv
    from lsmkv.recipes import Queue

    db = lsmkv.open(sys.argv[1], memtable_bytes=16 * 1024)  # sync=True: the default
    q = Queue(db, b"jobs", ack_every=7)
    i = 0
    while True:
        q.push(b"item-%d" % i)
        print("pushed", i, flush=True)
        if i % 3 == 2:
            pending = q.pending_acks
            value = q.pop()
            print("popped", int(value[5:]), flush=True)
            if q.pending_acks <= pending:  # this pop acknowledged the earlier ones
                print("acked", q.head - q.pending_acks, flush=True)
        i += 1
    """
)


def test_kill_9_loses_no_acknowledged_push_or_pop(tmp_path: Path) -> None:
    path = tmp_path / "db"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pushed = acked = -1
    try:
        assert child.stdout is not None
        for line in child.stdout:
            what, n = line.split()
            if what == "pushed":
                pushed = int(n)
            elif what == "acked":
                acked = int(n)
            if pushed >= 150 and acked > 0:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        _, err = child.communicate(timeout=30)
    assert pushed >= 150 and acked > 0, err
    with lsmkv.open(path) as db:
        q = Queue(db, b"jobs")
        assert q.head >= acked  # an acknowledged pop never comes back
        delivered = []
        while (v := q.pop()) is not None:
            delivered.append(int(v[5:]))
    # FIFO, no gap, nothing reported as pushed is lost (one unreported push may survive).
    assert delivered == list(range(q.head - len(delivered), q.head))
    assert delivered[0] <= pushed and q.head - 1 >= pushed


def test_naive_scan_steps_over_every_earlier_pop_until_compaction(tmp_path: Path) -> None:
    # Deletion-triggered compaction off: the point is the bare data structure.
    with lsmkv.open(tmp_path / "db", sync=False, deletion_trigger=0, **SMALL) as db:
        q = NaiveQueue(db, b"jobs")
        q.push_many(b"%d" % i for i in range(2000))
        db.flush()
        per_pop = []
        for i in range(300):
            before = skipped(db)
            assert q.pop() == b"%d" % i
            per_pop.append(skipped(db) - before)
        # The k-th pop steps over the k tombstones of the pops before it.
        assert per_pop[0] == 0
        assert per_pop == sorted(per_pop)
        assert per_pop[-1] >= 299
        db.compact()  # really purges the tombstones (they sit at the bottom level now)
        before = skipped(db)
        assert q.peek() == b"300"
        assert skipped(db) - before == 0
        assert sum(level["tombstones"] for level in db.stats()["levels"]) == 0
        # ... and they pile up again with the next pops.
        for _ in range(50):
            q.pop()
        before = skipped(db)
        q.peek()
        assert skipped(db) - before == 50


@pytest.mark.parametrize("read_ahead", [1, 64])
def test_recipe_head_scan_steps_over_no_tombstone(tmp_path: Path, read_ahead: int) -> None:
    """The recipe's bound: 0 deleted entries stepped over per pop, at every stage, with
    items, range tombstones and the head marker spread over memtable, L0 and deeper."""
    with lsmkv.open(tmp_path / "db", sync=False, **SMALL) as db:
        q = Queue(db, b"jobs", ack_every=16, read_ahead=read_ahead)
        q.push_many(b"%d" % i for i in range(3000))
        worst = 0
        for i in range(3000):
            if i % 500 == 0:
                db.flush()
            if i == 1500:
                db.compact()
            before = skipped(db)
            assert q.pop() == b"%d" % i
            worst = max(worst, skipped(db) - before)
            if i % 7 == 0:
                q.push(b"more")  # keep the tail moving too
        assert worst == 0


def test_recipe_range_tombstones_are_there_but_never_visited(tmp_path: Path) -> None:
    """The popped items are still on disk under range tombstones, yet no scan walks them:
    not the recipe's (it starts at the head), and not even one from the lowest key, which
    seeks past each span a range tombstone hides instead of stepping over its entries.
    (Point deletes, which a scan must step over one by one, are the naive test above.)"""
    with lsmkv.open(tmp_path / "db", sync=False, background_compaction=False) as db:
        q = Queue(db, b"jobs", ack_every=16, read_ahead=1)  # a scan per pop and peek
        q.push_many(b"%d" % i for i in range(500))
        db.flush()
        for _ in range(400):
            q.pop()
        q.ack()
        db.flush()
        stats = db.stats()
        assert sum(lv["entries"] for lv in stats["levels"]) >= 500  # nothing erased
        assert sum(lv["range_tombstones"] for lv in stats["levels"]) >= 25
        before = skipped(db)
        assert q.peek() == b"400"
        assert skipped(db) - before == 0
        before = skipped(db)
        assert NaiveQueue(db, b"jobs").peek() == b"400"
        assert skipped(db) - before == 0
