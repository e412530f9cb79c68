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
    import lsmkv.engine.flush as flushmod

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("a bug in the flush")

    fs = FaultFS(MemFS())
    db = lsmkv.open(PATH, fs=fs)
    db.put(b"k", b"v")
    monkeypatch.setattr(flushmod, "write_tables", broken)
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


# --- Damage that used to read as a harmless torn tail, or not be noticed at all.


def _flushed_store() -> MemFS:
    """A closed store: one table (the flush deleted its WAL), a WAL with writes."""
    fs = MemFS()
    with lsmkv.open(PATH, fs=fs) as db:
        db.put(b"old", b"1")
        db.delete(b"gone")
        db.flush()
        db.put(b"gone", b"resurrect-me")
        db.flush()
        db.delete(b"gone")  # only in the WAL
        db.put(b"new", b"2")
    return fs


def _records(data: bytes) -> list[tuple[int, int]]:
    """(offset, payload length) of each record of a record file."""
    out, pos = [], 0
    while pos + 16 <= len(data):
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        out.append((pos, length))
        pos += 16 + length
    return out


def test_damage_to_the_last_wal_record_of_a_closed_store_is_corruption() -> None:
    fs = _flushed_store()
    wal = next(n for n in fs.listdir(PATH) if n.endswith(".log"))
    data = bytearray(fs.read_file(f"{PATH}/{wal}"))
    last_real = [off for off, length in _records(bytes(data)) if length][-1]
    data[last_real + 20] ^= 1
    fs.write_file(f"{PATH}/{wal}", bytes(data))
    # Was: dropped as a torn tail, silently losing the acknowledged put of b"new".
    with pytest.raises(lsmkv.CorruptionError, match=wal):
        lsmkv.open(PATH, fs=fs)


@pytest.mark.parametrize("cut", ["truncate", "delete"])
def test_a_shortened_or_deleted_wal_of_a_closed_store_is_corruption(cut: str) -> None:
    fs = _flushed_store()
    wal = next(n for n in fs.listdir(PATH) if n.endswith(".log"))
    if cut == "delete":
        fs.remove(f"{PATH}/{wal}")
    else:
        data = fs.read_file(f"{PATH}/{wal}")
        fs.write_file(f"{PATH}/{wal}", data[: _records(data)[0][1] + 16])
    # Was: the lost delete of b"gone" brought back b"resurrect-me".
    with pytest.raises(lsmkv.CorruptionError, match=wal):
        lsmkv.open(PATH, fs=fs)


def test_damage_to_the_last_manifest_edit_is_corruption() -> None:
    fs = _flushed_store()
    manifest = next(n for n in fs.listdir(PATH) if n.startswith("MANIFEST"))
    data = bytearray(fs.read_file(f"{PATH}/{manifest}"))
    last_edit = [off for off, length in _records(bytes(data)) if length][-1]
    data[last_edit + 20] ^= 1
    fs.write_file(f"{PATH}/{manifest}", bytes(data))
    # Was: dropped as a torn tail, with the files it named already acted upon.
    with pytest.raises(lsmkv.CorruptionError, match=manifest):
        lsmkv.open(PATH, fs=fs)


def test_a_manifest_that_lost_its_later_edits_is_corruption() -> None:
    fs = MemFS()
    with lsmkv.open(PATH, fs=fs) as db:
        db.put(b"k", b"v1")
        db.flush()
        manifest = next(n for n in fs.listdir(PATH) if n.startswith("MANIFEST"))
        early = fs.read_file(f"{PATH}/{manifest}")
        db.delete(b"k")
        db.flush()  # the edit naming this flush, and the WAL it replaced, are gone below
        db.put(b"x", b"y")
    fs.write_file(f"{PATH}/{manifest}", early)
    # Was: opened as if the delete had never happened.
    with pytest.raises(lsmkv.CorruptionError, match="current WAL is missing"):
        lsmkv.open(PATH, fs=fs)


def test_a_swapped_table_file_is_corruption_not_another_tables_data() -> None:
    fs = _flushed_store()
    a, b = sorted(n for n in fs.listdir(PATH) if n.endswith(".sst"))
    da, db_ = fs.read_file(f"{PATH}/{a}"), fs.read_file(f"{PATH}/{b}")
    fs.write_file(f"{PATH}/{a}", db_)
    fs.write_file(f"{PATH}/{b}", da)
    # Was: each table served the other's entries (b"gone" could come back).
    with (
        lsmkv.open(PATH, fs=fs, read_only=True) as db,
        pytest.raises(lsmkv.CorruptionError, match="swapped"),
    ):
        list(db.scan())


def test_cli_repair_and_verify(tmp_path: object) -> None:
    from pathlib import Path

    from lsmkv.cli.main import main

    path = Path(str(tmp_path)) / "db"
    with lsmkv.open(path) as db:
        db.put(b"k", b"v")
        db.flush()
        db.put(b"k2", b"v2")
    table = next(p for p in path.iterdir() if p.suffix == ".sst")
    data = bytearray(table.read_bytes())
    data[3] ^= 1
    table.write_bytes(bytes(data))
    assert main(["verify", str(path)]) == 3
    assert main(["repair", str(path)]) == 0
    assert main(["verify", str(path)]) == 0
    with lsmkv.open(path) as db:
        assert db.get(b"k2") == b"v2"  # from the WAL; b"k" was in the damaged block
    assert (path / "lost" / table.name).exists()
