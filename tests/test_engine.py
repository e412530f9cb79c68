"""Engine behaviour seen through the public API: group commit, stats and their
amplification figures, iterator isolation, recovery of acknowledged writes."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import lsmkv
from lsmkv.storage.fs import OSFileSystem, WritableFile
from lsmkv.testing import MemFS


class _SlowSyncFile(WritableFile):
    def __init__(self, inner: WritableFile) -> None:
        self._inner = inner

    def write(self, data: bytes) -> None:
        self._inner.write(data)

    def sync(self) -> None:
        time.sleep(0.005)  # a slow disk: writers pile up behind the fsync
        self._inner.sync()

    def close(self) -> None:
        self._inner.close()


class SlowSyncFS(OSFileSystem):
    def create(self, path: str) -> WritableFile:
        return _SlowSyncFile(super().create(path))


def test_group_commit_shares_fsyncs_between_writers(tmp_path: Path) -> None:
    threads, per_thread = 8, 40
    with lsmkv.open(tmp_path / "db", fs=SlowSyncFS()) as db:
        start = threading.Barrier(threads)

        def writer(t: int) -> None:
            start.wait()
            for i in range(per_thread):
                db.put(f"t{t}-{i:03d}".encode(), b"v", sync=True)

        workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        c = db.stats()["counters"]
        assert c["writes"] == threads * per_thread
        # Every write was synced, yet far fewer fsyncs ran than writes: groups formed.
        assert c["wal_syncs"] <= c["writes"] // 2, c
        assert c["write_groups"] == c["wal_syncs"]
        assert len(list(db.scan())) == threads * per_thread
    with lsmkv.open(tmp_path / "db") as db:
        assert len(list(db.keys())) == threads * per_thread


def test_stats_shape_and_amplification(tmp_path: Path) -> None:
    with lsmkv.open(tmp_path / "db", memtable_bytes=64 * 1024, background_compaction=False) as db:
        for i in range(2000):
            db.put(f"k{i:05d}".encode(), b"x" * 50, sync=False)
        db.delete(b"k00007", sync=False)
        db.flush()
        for i in range(1000, 1200):
            db.put(f"k{i:05d}".encode(), b"y" * 50, sync=False)
        db.flush()
        for i in range(0, 2000, 10):
            db.get(f"k{i:05d}".encode())
        db.get(b"missing")
        stats = db.stats()
        json.dumps(stats)  # plain data
        level0 = stats["levels"][0]
        assert level0["files"] >= 2 and level0["tombstones"] == 1
        assert level0["entries"] == 2000 + 1 + 200
        assert stats["gets"] == 201
        # A get probes at most the L0 files that may hold it; some are skipped by bloom.
        # The 200 found keys probe at least one table each; b"missing" may probe none.
        assert 200 / 201 <= stats["read_amplification"] <= level0["files"]
        assert stats["bloom_skips"] > 0
        # Bytes reached the disk twice (WAL, then flush): write amplification above 2.
        assert stats["write_amplification"] > 2.0
        assert stats["memtable_entries"] == 0 and stats["background_error"] is None
        db.compact()
        after = db.stats()
        assert after["levels"][0]["files"] == 0
        assert sum(lv["tombstones"] for lv in after["levels"]) == 0
        assert sum(lv["entries"] for lv in after["levels"]) == 1999


def test_an_iterator_is_a_snapshot(tmp_path: Path) -> None:
    with lsmkv.open(tmp_path / "db", memtable_bytes=16 * 1024) as db:
        for i in range(300):
            db.put(f"k{i:04d}".encode(), b"old")
        it = db.scan()
        first = next(it)
        for i in range(300):
            db.put(f"k{i:04d}".encode(), b"new")
        db.delete(b"k0299")
        db.put(b"k9999", b"late")
        db.compact()  # files the iterator reads are replaced underneath it
        rest = list(it)
        assert first == (b"k0000", b"old")
        assert len(rest) == 299 and all(v == b"old" for _, v in rest)
        assert db.get(b"k0000") == b"new" and db.get(b"k0299") is None


def test_reopen_recovers_unflushed_and_flushed_writes(tmp_path: Path) -> None:
    with lsmkv.open(tmp_path / "db", memtable_bytes=8 * 1024) as db:
        for i in range(500):
            db.put(f"k{i:04d}".encode(), str(i).encode())
        db.delete_range(b"k0100", b"k0200")
        db.delete(b"k0300")
    with lsmkv.open(tmp_path / "db") as db:
        keys = list(db.keys())
        assert len(keys) == 500 - 100 - 1
        assert db.get(b"k0150") is None and db.get(b"k0300") is None
        assert db.get(b"k0499") == b"499"
        assert db.stats()["last_sequence"] >= 502


def test_wals_beyond_the_manifest_counter_are_never_replayed_twice(tmp_path: Path) -> None:
    """WALs are numbered without a manifest edit, so after a crash the manifest's file
    counter can lag behind several WALs. Recovery must not hand those numbers out again:
    reusing one would truncate a WAL or leave a flushed one to be replayed a second time,
    resurrecting what was deleted since."""
    from lsmkv.batch import encode_op
    from lsmkv.core.keys import KIND_PUT
    from lsmkv.engine.commit import BATCH_HEADER
    from lsmkv.manifest.versionset import VersionSet
    from lsmkv.record import RecordWriter

    path = tmp_path / "db"
    with lsmkv.open(path) as db:
        db.put(b"base", b"1")
    fs = OSFileSystem()
    versions = VersionSet(fs, str(path), 7)
    versions.recover()
    first, last_seq = versions.next_file_number, versions.last_seq
    versions.close()
    # The crash left three WALs the manifest never heard of (a writer switched
    # memtables while flushes were pending), numbered from the manifest's counter on.
    crafted = (b"k0", b"k1", b"k2", b"k3", b"zombie")
    for i, key in enumerate(crafted):
        writer = RecordWriter(fs.create(str(path / f"{first + i:06d}.log")))
        seq = last_seq + 10 + i
        writer.append(BATCH_HEADER.pack(seq, 1) + encode_op(KIND_PUT, key, b"v"))
        writer.sync()
        writer.close()
    with lsmkv.open(path) as db:
        assert [db.get(k) for k in (b"base", *crafted)] == [b"1"] + [b"v"] * len(crafted)
        # Every crafted WAL was replayed and flushed, and no new file took a number.
        numbers = {int(n.split(".")[0]) for n in os.listdir(path) if n[0].isdigit()}
        assert not numbers & set(range(first, first + len(crafted))), sorted(numbers)
        db.delete(b"zombie")
        db.compact()  # the put and its tombstone both leave the bottom level
    with lsmkv.open(path) as db:
        assert db.get(b"zombie") is None
        assert db.get(b"k1") == b"v"


def test_a_scan_seeks_past_a_range_deletion_instead_of_walking_it(tmp_path: Path) -> None:
    """100,000 keys deleted by one delete_range: a scan over them returns the keys around
    the range and steps over (almost) none of the deleted ones: each source seeks past
    the span its newer range tombstone hides."""
    with lsmkv.open(tmp_path / "db", background_compaction=False) as db:
        with db.batch() as b:
            for i in range(100_000):
                b.put(f"k{i:06d}".encode(), b"v")
        db.flush()
        db.delete_range(b"k000010", b"k099990")
        db.put(b"k050000", b"rewritten after the delete")  # newer than the tombstone
        for phase in ("memtable", "flushed"):
            before = db.stats()["counters"]["range_deleted_skipped"]
            keys = list(db.keys())
            assert len(keys) == 10 + 1 + 10, phase
            assert b"k050000" in keys
            assert list(db.keys(reverse=True)) == keys[::-1]
            stepped = db.stats()["counters"]["range_deleted_skipped"] - before
            assert stepped == 0, (phase, stepped)
            db.flush()
        assert db.get(b"k000500") is None and db.get(b"k050000") is not None


def test_a_traced_get_counts_like_an_untraced_one(tmp_path: Path) -> None:
    """stats() must not depend on whether a trace listener is attached."""

    def run(trace: object) -> dict[str, int]:
        path = tmp_path / ("traced" if trace else "plain")
        with lsmkv.open(path, trace=trace, background_compaction=False) as db:
            for i in range(50):
                db.put(b"k%02d" % i, b"v")
            db.flush()
            db.delete_range(b"k10", b"k20")  # stays in the memtable: covers, no record
            db.delete(b"k30")
            for key in (b"k05", b"k15", b"k30", b"k99", b"j"):
                db.get(key)
            c = db.stats()["counters"]
        names = ("memtable_hits", "tables_probed", "bloom_skips", "key_range_skips", "gets")
        return {n: c[n] for n in names}

    assert run(lambda event: None) == run(None)


class _GatedTablesFS(MemFS):
    """A MemFS on which creating a table waits for `gate`: flushes hang, WALs pile up."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def create(self, path: str) -> WritableFile:
        if path.endswith(".sst"):
            self.gate.wait()
        return super().create(path)


def test_recovery_writes_each_memtables_worth_to_level_0() -> None:
    # Several memtables' worth of WALs, none flushed at the crash (flushes wait at the
    # gate). Recovery must not rebuild them as one memtable several times the limit:
    # it writes level-0 tables as the rebuilt memtable fills.
    fs = _GatedTablesFS()
    limit = 64 * 1024
    value = b"v" * 100
    per_memtable = limit // (7 + len(value) + 300) + 1  # entries that fill one
    db = lsmkv.open("/db", fs=fs, memtable_bytes=limit, max_immutable_memtables=3)
    written = 0
    try:
        # Stop before the switch that would stall behind the gate.
        while len(db._sv.imms) < 3:
            db.put(b"k%06d" % written, value, sync=True)
            written += 1
        image = fs.clone()  # the files as a kill -9 now would leave them
    finally:
        fs.gate.set()
        db.close()
    assert len([n for n in image.listdir("/db") if n.endswith(".log")]) >= 4
    # No compaction after the reopen: it could move the recovered tables out of L0.
    with lsmkv.open("/db", fs=image, memtable_bytes=limit, background_compaction=False) as db:
        level0 = db.stats()["levels"][0]
        assert level0["entries"] == written
        # Each table holds at most a memtable's worth plus the WAL that overfilled it.
        assert level0["files"] >= written / (2 * per_memtable), (level0, written)
        assert level0["files"] >= 2
        assert all(db.get(b"k%06d" % i) == value for i in range(written))
        assert len(list(db.scan())) == written
