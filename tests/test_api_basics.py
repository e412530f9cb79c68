"""The public surface of shared/api.md, call by call."""

from __future__ import annotations

from pathlib import Path

import pytest

import lsmkv


def test_put_get_delete_roundtrip(tmp_path: Path) -> None:
    with lsmkv.open(tmp_path / "db") as db:
        db.put(b"a", b"1")
        db[b"b"] = b"2"
        assert db.get(b"a") == b"1"
        assert db[b"b"] == b"2"
        assert b"a" in db
        db.delete(b"a")
        del db[b"b"]
        assert db.get(b"a") is None
        assert db.get(b"a", b"dflt") == b"dflt"
        with pytest.raises(KeyError):
            db[b"b"]
        db.put(b"", b"")  # empty key and empty value are allowed
        assert db.get(b"") == b""


def test_types_are_checked(tmp_path: Path) -> None:
    with lsmkv.open(tmp_path / "db") as db:
        with pytest.raises(TypeError, match="bytes-like"):
            db.put("text", b"v")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="value must be bytes-like"):
            db.put(b"k", 3)  # type: ignore[arg-type]
        db.put(bytearray(b"k"), memoryview(b"v"))  # type: ignore[arg-type]
        assert db.get(b"k") == b"v"


def test_unknown_option_is_named(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="memtable_size_typo"):
        lsmkv.open(tmp_path / "db", memtable_size_typo=1)


def test_second_open_is_refused_and_close_is_idempotent(tmp_path: Path) -> None:
    db = lsmkv.open(tmp_path / "db")
    with pytest.raises(lsmkv.LockError):
        lsmkv.open(tmp_path / "db")
    db.close()
    db.close()
    with pytest.raises(lsmkv.ClosedError):
        db.get(b"k")
    lsmkv.open(tmp_path / "db").close()


def test_missing_store_and_read_only(tmp_path: Path) -> None:
    with pytest.raises(lsmkv.NotFoundError):
        lsmkv.open(tmp_path / "nope", create_if_missing=False)
    with lsmkv.open(tmp_path / "db") as db:
        db.put(b"k", b"v")
    ro = lsmkv.open(tmp_path / "db", read_only=True)
    assert ro.get(b"k") == b"v"
    with pytest.raises(lsmkv.ReadOnlyError):
        ro.put(b"k", b"w")
    ro.close()


def test_batches_scans_snapshots(tmp_path: Path) -> None:
    with lsmkv.open(tmp_path / "db", memtable_bytes=4096) as db:
        with db.batch() as b:
            for i in range(300):
                b.put(b"user:%03d" % i, b"v%d" % i)
        with pytest.raises(RuntimeError), db.batch() as b:
            b.put(b"never", b"written")
            raise RuntimeError("discard")
        assert db.get(b"never") is None
        snap = db.snapshot()
        db.delete_range(b"user:100", b"user:200")
        db.flush()
        keys = list(db.keys(prefix=b"user:"))
        assert len(keys) == 200 and b"user:150" not in keys
        assert [k for k, _ in db.scan(start=b"user:290", reverse=True)][:2] == [
            b"user:299",
            b"user:298",
        ]
        assert snap.get(b"user:150") == b"v150"
        assert len(list(snap.scan(prefix=b"user:"))) == 300
        snap.release()
        db.compact()
        assert db.multi_get([b"user:150", b"user:250"]) == [None, b"v250"]
        stats = db.stats()
        assert stats["levels"][0]["files"] == 0
        assert stats["background_error"] is None


def test_an_oversized_key_is_an_error_on_reads_too(tmp_path: Path) -> None:
    from lsmkv.core.keys import MAX_KEY_BYTES

    huge = b"k" * (MAX_KEY_BYTES + 1)
    with lsmkv.open(tmp_path / "db") as db:
        for read in (db.get, lambda k: db.multi_get([k]), db.__contains__):
            with pytest.raises(ValueError, match="limit"):
                read(huge)
        with pytest.raises(ValueError, match="limit"):
            db.put(huge, b"v")


def test_verify_refuses_a_store_open_for_writing(tmp_path: Path) -> None:
    with lsmkv.open(tmp_path / "db") as db:
        db.put(b"k", b"v")
        with pytest.raises(lsmkv.LockError):
            lsmkv.verify(tmp_path / "db")
        with lsmkv.open(tmp_path / "db", read_only=True):
            pass
    report = lsmkv.verify(tmp_path / "db")
    assert report.ok, report.problems


def test_a_released_snapshot_refuses_reads(tmp_path: Path) -> None:
    with lsmkv.open(tmp_path / "db") as db:
        db.put(b"a", b"old")
        with db.snapshot() as snap:
            assert snap.get(b"a") == b"old"
        db.put(b"a", b"new")
        db.compact()  # the old version is gone: reading on would answer wrongly
        for read in (
            lambda: snap.get(b"a"),
            lambda: snap.multi_get([b"a"]),
            lambda: list(snap.scan()),
            lambda: snap.keys(),
            lambda: b"a" in snap,
        ):
            with pytest.raises(lsmkv.ClosedError, match="released"):
                read()


def test_create_if_missing_false_refuses_an_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(lsmkv.NotFoundError):
        lsmkv.open(tmp_path / "empty", create_if_missing=False)
    assert not (tmp_path / "empty" / "CURRENT").exists()
