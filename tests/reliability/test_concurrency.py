"""Concurrency: writers, readers, iterators and snapshots on many threads while flushes
and compactions run. Every read view must be a single point in time:

- each writer keeps the sum of its counters constant by moving amounts in batches, so
  any snapshot, multi_get or scan sees that sum exactly (a torn read would not);
- each batch also bumps the writer's version key: a reader never sees it go backwards;
- a snapshot reads the same before and after a flush and a full compaction.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

import lsmkv
from crash.workload import FULL

WRITERS = 3
COUNTERS = 8
START = 1000
OPTS = {
    "memtable_bytes": 16 * 1024,
    "block_size_bytes": 512,
    "target_file_bytes": 8 * 1024,
    "level0_compaction_trigger": 2,
    "level1_bytes": 32 * 1024,
    "level_size_multiplier": 4,
}


def ckey(w: int, j: int) -> bytes:
    return b"w%d:c%02d" % (w, j)


def vkey(w: int) -> bytes:
    return b"w%d:version" % w


def run(path: Path, seconds: float, minimums: dict[str, int]) -> Counter[str]:
    db = lsmkv.open(path, sync=False, **OPTS)
    with db.batch() as b:
        for w in range(WRITERS):
            for j in range(COUNTERS):
                b.put(ckey(w, j), b"%d" % START)
            b.put(vkey(w), b"0")
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    errors: list[BaseException] = []
    stop = threading.Event()

    def note(name: str, n: int = 1) -> None:
        with lock:
            counts[name] += n

    def check_sum(values: list[bytes | None], what: str) -> None:
        assert all(v is not None for v in values), f"{what}: a counter vanished"
        total = sum(int(v) for v in values)  # type: ignore[arg-type]
        assert total == START * COUNTERS, f"{what}: torn read, sum {total}"
        note("invariant_checks")

    def writer(w: int) -> None:
        rng = random.Random(w)
        version = 0
        values = [START] * COUNTERS
        while not stop.is_set():
            a, b_ = rng.sample(range(COUNTERS), 2)
            amount = rng.randint(1, 50)
            values[a] -= amount
            values[b_] += amount
            version += 1
            batch = lsmkv.WriteBatch()
            batch.put(ckey(w, a), b"%d" % values[a])
            batch.put(ckey(w, b_), b"%d" % values[b_])
            batch.put(vkey(w), b"%d" % version)
            batch.put(b"pad:%d:%d" % (w, version % 500), b"x" * rng.randint(10, 200))
            db.write(batch, sync=rng.random() < 0.05)
            note("batches")

    def reader(r: int) -> None:
        rng = random.Random(100 + r)
        last = [0] * WRITERS
        while not stop.is_set():
            w = rng.randrange(WRITERS)
            keys = [ckey(w, j) for j in range(COUNTERS)]
            choice = rng.random()
            if choice < 0.4:
                check_sum(db.multi_get(keys), "multi_get")
            elif choice < 0.7:
                with db.snapshot() as snap:
                    check_sum(snap.multi_get(keys), "snapshot")
                    rows = dict(snap.scan(prefix=b"w%d:c" % w))
                    check_sum([rows.get(k) for k in keys], "snapshot scan")
            else:
                rows = dict(db.scan(prefix=b"w%d:c" % w))
                check_sum([rows.get(k) for k in keys], "scan")
            v = int(db.get(vkey(w)) or b"0")
            assert v >= last[w], f"version of writer {w} went back from {last[w]} to {v}"
            last[w] = v
            note("version_checks")

    def iterator_thread() -> None:
        rng = random.Random(7)
        while not stop.is_set():
            # A long-lived iterator, consumed slowly while writes and compactions go on.
            it = db.scan(start=b"w", reverse=rng.random() < 0.5)
            rows: dict[bytes, bytes] = {}
            for i, (k, v) in enumerate(it):
                rows[k] = v
                if i % 5 == 0:
                    time.sleep(0.0005)
            for w in range(WRITERS):
                check_sum([rows.get(ckey(w, j)) for j in range(COUNTERS)], "iterator")
            note("iterations")

    def snapshot_compactor() -> None:
        while not stop.is_set():
            with db.snapshot() as snap:
                before = list(snap.scan(start=b"w", end=b"x"))
                db.flush()
                db.compact()
                after = list(snap.scan(start=b"w", end=b"x"))
                assert before == after, "a snapshot changed across a compaction"
            note("snapshot_compactions")

    def guard(fn: object, *args: object) -> None:
        try:
            fn(*args)  # type: ignore[operator]
        except BaseException as e:  # reported by the main thread
            errors.append(e)
            stop.set()

    threads = [threading.Thread(target=guard, args=(writer, w)) for w in range(WRITERS)]
    threads += [threading.Thread(target=guard, args=(reader, r)) for r in range(2)]
    threads += [threading.Thread(target=guard, args=(iterator_thread,))]
    threads += [threading.Thread(target=guard, args=(snapshot_compactor,))]
    for t in threads:
        t.start()
    stop.wait(seconds)
    # On a loaded machine the threads may need longer to reach the minimums: carry on
    # until they do (up to three times the planned time), rather than fail on speed.
    deadline = time.monotonic() + 2 * seconds
    while not stop.is_set() and time.monotonic() < deadline:
        with lock:
            if all(counts[name] >= n for name, n in minimums.items()):
                break
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join(60)
        assert not t.is_alive(), "a thread hung"
    if errors:
        raise errors[0]
    stats = db.stats()
    assert stats["background_error"] is None
    counts["flushes"] = stats["counters"]["flushes"]
    counts["compactions"] = stats["counters"]["compactions"]
    db.close()
    report = lsmkv.verify(path)
    assert report.ok, report.problems
    return counts


@pytest.mark.parametrize(
    "seconds",
    [
        pytest.param(30, id="ci"),
        pytest.param(
            300,
            id="full",
            marks=[
                pytest.mark.slow,
                pytest.mark.skipif(not FULL, reason="LSMKV_STRESS=full runs the 10x campaign"),
            ],
        ),
    ],
)
@pytest.mark.timeout(1200)
def test_concurrent_readers_writers_and_compactions(tmp_path: Path, seconds: int) -> None:
    scale = seconds // 30
    minimums = {
        "invariant_checks": 1000 * scale,
        "version_checks": 300 * scale,
        "snapshot_compactions": 5 * scale,
        "iterations": 5 * scale,
    }
    counts = run(tmp_path / "db", seconds, minimums)
    print(dict(counts))
    for name, n in minimums.items():
        assert counts[name] >= n, (name, counts[name])
    assert counts["flushes"] >= 20 * scale
    assert counts["compactions"] >= 10 * scale
