"""delete_range over 100k keys is one record; get and scan honour it across flush and
compaction; after a full compaction no covered data remains on disk."""

from __future__ import annotations

import os

import lsmkv
from lsmkv.core.trace import TraceRecorder

from .conftest import SMALL

N = 100_000


def _key(i: int) -> bytes:
    return b"r%06d" % i


def test_delete_range_over_100k_keys(tmp_path: os.PathLike[str]) -> None:
    rec = TraceRecorder()
    opts = dict(SMALL, memtable_bytes=1 << 20, target_file_bytes=256 * 1024, level1_bytes=1 << 20)
    with lsmkv.open(os.path.join(tmp_path, "db"), trace=rec, **opts) as db:
        with db.batch() as b:
            for i in range(N):
                b.put(_key(i), b"v")
        db.flush()
        db.put(b"a-before", b"1")
        db.put(b"z-after", b"2")
        before = db.stats()["counters"]["write_ops"]
        appends = [e for e in rec.events if e["event"] == "wal.append"]
        db.delete_range(_key(10), _key(N - 10))
        appends = [e for e in rec.events if e["event"] == "wal.append"][len(appends) :]
        assert db.stats()["counters"]["write_ops"] - before == 1
        assert len(appends) == 1 and appends[0]["bytes"] < 100  # one small record

        def check() -> None:
            assert db.get(_key(9)) == b"v" and db.get(_key(N - 10)) == b"v"
            assert db.get(_key(10)) is None and db.get(_key(N // 2)) is None
            keys = list(db.keys())
            assert keys == [
                b"a-before",
                *(_key(i) for i in range(10)),
                *(_key(i) for i in range(N - 10, N)),
                b"z-after",
            ]
            assert list(db.keys(_key(5), _key(N - 5), reverse=True)) == [
                *(_key(i) for i in range(N - 6, N - 11, -1)),
                *(_key(i) for i in range(9, 4, -1)),
            ]

        check()  # range tombstone in the memtable, data in L0
        with db.snapshot() as snap:
            db.flush()
            check()  # both in tables
            db.compact()
            check()
            # The snapshot predates nothing here, but it holds the range tombstone's
            # own sequence number in view: the covered data is already gone for it too.
            assert snap.get(_key(10)) is None
        db.compact()
        check()
        stats = db.stats()
        assert sum(lv["entries"] for lv in stats["levels"]) == 22
        assert sum(lv["range_tombstones"] for lv in stats["levels"]) == 0
        ends = [e for e in rec.events if e["event"] == "compaction.end"]
        assert sum(e["range_covered_dropped"] for e in ends) == N - 20


def test_snapshot_keeps_covered_data_until_released(tmp_path: os.PathLike[str]) -> None:
    with lsmkv.open(os.path.join(tmp_path, "db"), **SMALL) as db:
        for i in range(2000):
            db.put(_key(i), b"old")
        snap = db.snapshot()
        db.delete_range(_key(0), _key(2000))
        db.compact()
        assert list(db.scan()) == []
        assert len(list(snap.scan())) == 2000  # carried through compaction for the snapshot
        stats = db.stats()
        assert sum(lv["range_tombstones"] for lv in stats["levels"]) >= 1
        snap.release()
        db.compact()
        stats = db.stats()
        assert sum(lv["entries"] + lv["range_tombstones"] for lv in stats["levels"]) == 0
