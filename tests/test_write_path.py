"""The write path's bulk shortcuts, seen through the public API: batches, recovery in
bounded memory, and memtables handed to flushes as columns, all checked against a
plain dict model."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import lsmkv


def _model_ops(rng: random.Random, n: int) -> list[tuple[str, bytes, bytes]]:
    ops = []
    for _ in range(n):
        key = b"k%05d" % rng.randrange(800)
        r = rng.random()
        if r < 0.15:
            ops.append(("delete", key, b""))
        elif r < 0.17:
            ops.append(("range", key, key[:-2] + b"99"))
        else:
            ops.append(("put", key, rng.randbytes(rng.randrange(1, 40))))
    return ops


def _apply(db: lsmkv.DB, model: dict[bytes, bytes], ops: list[tuple[str, bytes, bytes]]) -> None:
    for op, key, value in ops:
        if op == "put":
            db.put(key, value, sync=False)
            model[key] = value
        elif op == "delete":
            db.delete(key, sync=False)
            model.pop(key, None)
        elif key < value:
            db.delete_range(key, value, sync=False)
            for k in [k for k in model if key <= k < value]:
                del model[k]


def _check(db: lsmkv.DB, model: dict[bytes, bytes]) -> None:
    assert list(db.scan()) == sorted(model.items())
    for key in [b"k%05d" % i for i in range(0, 800, 7)]:
        assert db.get(key) == model.get(key)


def test_recovery_writes_a_large_wal_a_memtable_at_a_time(tmp_path: Path) -> None:
    rng = random.Random(7)
    model: dict[bytes, bytes] = {}
    path = tmp_path / "db"
    with lsmkv.open(path, memtable_bytes=64 << 20) as db:
        _apply(db, model, _model_ops(rng, 4000))
    events: list[dict[str, Any]] = []
    # Reopened with a memtable far smaller than the WAL: replay must cut it into tables.
    with lsmkv.open(path, memtable_bytes=64 << 10, trace=events.append) as db:
        created = [e for e in events if e.get("event") == "file.created"]
        assert len([e for e in created if e.get("reason") == "recovery"]) >= 3
        _check(db, model)
        _apply(db, model, _model_ops(rng, 500))
        _check(db, model)
    with lsmkv.open(path) as db:
        _check(db, model)
    with lsmkv.open(path, read_only=True, memtable_bytes=64 << 10) as db:
        _check(db, model)


def test_batches_with_repeats_deletes_and_ranges_match_the_model(tmp_path: Path) -> None:
    rng = random.Random(11)
    model: dict[bytes, bytes] = {}
    with lsmkv.open(tmp_path / "db", memtable_bytes=256 << 10) as db:
        for _ in range(60):
            ops = _model_ops(rng, rng.randrange(1, 120))
            with db.batch(sync=False) as b:
                for op, key, value in ops:
                    if op == "put":
                        b.put(key, value)
                    elif op == "delete":
                        b.delete(key)
                    elif key < value:
                        b.delete_range(key, value)
            for op, key, value in ops:  # the model applies the same ops in order
                if op == "put":
                    model[key] = value
                elif op == "delete":
                    model.pop(key, None)
                elif key < value:
                    for k in [k for k in model if key <= k < value]:
                        del model[k]
            if rng.random() < 0.2:
                db.flush()
        _check(db, model)
        stats = db.stats()
        assert stats["counters"]["user_bytes_written"] > 0
    with lsmkv.open(tmp_path / "db") as db:
        _check(db, model)


def test_a_snapshot_keeps_its_versions_through_a_flush(tmp_path: Path) -> None:
    with lsmkv.open(tmp_path / "db") as db:
        db.put(b"a", b"1")
        db.put(b"b", b"1")
        snap = db.snapshot()
        db.put(b"a", b"2")
        db.delete(b"b")
        db.flush()  # a memtable with two versions of a key and an open snapshot
        assert snap.get(b"a") == b"1" and snap.get(b"b") == b"1"
        assert db.get(b"a") == b"2" and db.get(b"b") is None
        snap.release()


def test_write_counters_count_every_path_exactly(tmp_path: Path) -> None:
    """The lone unsynced put and delete (one WAL record each, counted without looking at
    the key and value again), synced writes and batches all count their user bytes,
    ops, writes and WAL bytes exactly."""
    with lsmkv.open(tmp_path / "db", sync=False) as db:
        db.put(b"k1", b"value")  # 2 + 5
        db.delete(b"key2")  # 4
        db.put(b"k3", b"v" * 300, sync=True)  # 2 + 300
        b = lsmkv.WriteBatch()
        b.put(b"a", b"bb")  # 1 + 2
        b.delete(b"ccc")  # 3
        b.delete_range(b"d", b"e")  # 1 + 1
        db.write(b)
        c = db.stats()["counters"]
        assert c["user_bytes_written"] == 7 + 4 + 302 + 3 + 3 + 2
        assert (c["writes"], c["write_ops"]) == (4, 6)
        wal = [p for p in os.listdir(tmp_path / "db") if p.endswith(".log")]
        assert c["wal_bytes_written"] == sum(os.path.getsize(tmp_path / "db" / p) for p in wal)
