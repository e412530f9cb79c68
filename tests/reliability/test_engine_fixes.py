"""One regression test per engine bug the reliability campaign found (each failed before
its fix)."""

from __future__ import annotations

import errno

import pytest

import lsmkv
from lsmkv.testing import FaultFS, MemFS

PATH = "/db"


def _store_with_table(fs: FaultFS) -> lsmkv.DB:
    db = lsmkv.open(PATH, fs=fs)
    for i in range(50):
        db.put(b"k%03d" % i, b"v%03d" % i)
    db.flush()
    db.close()
    return lsmkv.open(PATH, fs=fs)


def test_a_read_error_from_a_table_is_a_disk_error_not_an_oserror() -> None:
    fs = FaultFS(MemFS())
    db = _store_with_table(fs)
    fs.inject("open", errno.EIO, match=".sst")  # opening the table for the first get
    with pytest.raises(lsmkv.DiskError) as e:
        db.get(b"k001")
    assert e.value.errno == errno.EIO
    fs.inject("read", errno.EIO, match=".sst")  # reading a data block
    with pytest.raises(lsmkv.DiskError):
        list(db.scan())
    assert db.get(b"k001") == b"v001"  # the fault was transient: reads work again
    db.close()


def test_a_failed_manual_compaction_raises_a_disk_error() -> None:
    fs = FaultFS(MemFS())
    db = _store_with_table(fs)
    db.put(b"k001", b"new")
    db.flush()
    fs.inject("write", errno.ENOSPC, match=".sst", times=None)
    with pytest.raises(lsmkv.DiskError) as e:
        db.compact()
    assert e.value.errno == errno.ENOSPC
    assert db.stats()["background_error"] is not None
    with pytest.raises(lsmkv.DiskError):
        db.put(b"x", b"y")
    assert db.get(b"k001") == b"new"
    fs.clear()
    db.close()
    with lsmkv.open(PATH, fs=fs) as db:
        assert db.get(b"k001") == b"new"


def test_a_creation_cut_short_before_current_does_not_block_the_store() -> None:
    fs = FaultFS(MemFS())
    fs.inject("rename", errno.EIO)  # CURRENT.tmp -> CURRENT fails
    with pytest.raises(lsmkv.DiskError):
        lsmkv.open(PATH, fs=fs)
    assert "CURRENT.tmp" in fs.listdir(PATH)
    with lsmkv.open(PATH, fs=fs) as db:  # was: "not an lsmkv store"
        db.put(b"k", b"v")
    with lsmkv.open(PATH, fs=fs) as db:
        assert db.get(b"k") == b"v"


def test_store_files_without_current_are_corruption_not_a_new_store() -> None:
    fs = FaultFS(MemFS())
    db = _store_with_table(fs)
    db.close()
    fs.remove(PATH + "/CURRENT")
    with pytest.raises(lsmkv.CorruptionError, match="CURRENT"):
        lsmkv.open(PATH, fs=fs)
    assert any(n.endswith(".sst") for n in fs.listdir(PATH))  # nothing was swept away


def test_the_store_directory_is_durable_even_if_the_first_open_failed() -> None:
    fs = FaultFS(MemFS())
    fs.inject("fsync", errno.EIO)  # the first open fails at its first fsync
    with pytest.raises(lsmkv.DiskError):
        lsmkv.open(PATH, fs=fs)
    db = lsmkv.open(PATH, fs=fs)  # the directory exists now; creation must still fsync /
    db.put(b"k", b"v", sync=True)
    fs.power_loss("drop")
    with lsmkv.open(PATH, fs=fs) as db:
        assert db.get(b"k") == b"v"  # was: the whole store vanished with the power


def test_power_loss_kills_the_open_store() -> None:
    fs = FaultFS(MemFS())
    db = lsmkv.open(PATH, fs=fs)
    db.put(b"a", b"1")
    db.put(b"b", b"2", sync=False)
    fs.power_loss("drop")
    for call in (lambda: db.get(b"a"), lambda: db.put(b"c", b"3"), lambda: list(db.scan())):
        with pytest.raises(lsmkv.Error):
            call()
    db.close()  # harmless
    with lsmkv.open(PATH, fs=fs) as db2:  # the lock went with the power
        assert db2.get(b"a") == b"1"
        assert db2.get(b"b") is None


@pytest.mark.timeout(30)
def test_an_unexpected_exception_in_background_work_is_reported_not_a_hang(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import lsmkv.db as dbmod

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("a bug in the flush")

    fs = FaultFS(MemFS())
    db = lsmkv.open(PATH, fs=fs)
    db.put(b"k", b"v")
    monkeypatch.setattr(dbmod, "write_tables", broken)
    with pytest.raises(lsmkv.Error, match="a bug in the flush"):
        db.flush()  # was: the background thread died and flush() waited forever
    assert "a bug in the flush" in db.stats()["background_error"]
    with pytest.raises(lsmkv.Error):
        db.put(b"k2", b"v2")
    assert db.get(b"k") == b"v"
    monkeypatch.undo()
    db.close()
    with lsmkv.open(PATH, fs=fs) as db:
        assert db.get(b"k") == b"v"
