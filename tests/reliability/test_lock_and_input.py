"""The lock (in-process and across processes, and after the holder is killed), and bad
input: each gets a clear error and nothing on disk changes."""

from __future__ import annotations

import os
import signal
import struct
import time
import zlib
from pathlib import Path

import pytest

import lsmkv
from lsmkv.core.keys import MAX_KEY_BYTES, MAX_VALUE_BYTES
from lsmkv.testing import MemFS


def test_second_open_in_process_is_refused_100_of_100(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with lsmkv.open(path) as db:
        db.put(b"k", b"v")
        refused = 0
        for _ in range(100):
            with pytest.raises(lsmkv.LockError):
                lsmkv.open(path)
            refused += 1
        assert refused == 100
        assert db.get(b"k") == b"v"  # the holder is unharmed
    with lsmkv.open(path) as db:  # and the lock is free after close
        assert db.get(b"k") == b"v"


def _fork(fn: object) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 3
        try:
            code = fn()  # type: ignore[operator]
        finally:
            os._exit(code)
    return pid


def test_second_open_from_another_process_is_refused_20_of_20(tmp_path: Path) -> None:
    path = tmp_path / "db"

    def try_open() -> int:
        try:
            lsmkv.open(path).close()
        except lsmkv.LockError:
            return 0
        return 1

    with lsmkv.open(path):
        codes = []
        for _ in range(20):
            _, status = os.waitpid(_fork(try_open), 0)
            codes.append(os.WEXITSTATUS(status))
    assert codes == [0] * 20


def test_open_succeeds_after_the_holder_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "db"
    r, w = os.pipe()

    def hold() -> int:
        db = lsmkv.open(path)
        db.put(b"k", b"v")
        os.write(w, b"O")
        time.sleep(60)
        return 0

    pid = _fork(hold)
    os.close(w)
    assert os.read(r, 1) == b"O"
    with pytest.raises(lsmkv.LockError):
        lsmkv.open(path)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(r)
    with lsmkv.open(path) as db:  # the kernel dropped the dead holder's lock
        assert db.get(b"k") == b"v"


def _disk(fs: MemFS) -> dict[str, bytes]:
    return {n: fs.read_file(f"/db/{n}") for n in fs.listdir("/db")}


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda db: db.put("text", b"v"), TypeError),
        (lambda db: db.put(b"k", "text"), TypeError),
        (lambda db: db.put(None, b"v"), TypeError),
        (lambda db: db.put(b"k", 42), TypeError),
        (lambda db: db.get(1.5), TypeError),
        (lambda db: db.delete(["k"]), TypeError),
        (lambda db: db.delete_range(b"a", 3), TypeError),
        (lambda db: db.write("not a batch"), TypeError),
        (lambda db: db.multi_get([b"a", 7]), TypeError),
        (lambda db: list(db.scan(start="a")), TypeError),
        (lambda db: list(db.scan(limit=-1)), ValueError),
        (lambda db: lsmkv.WriteBatch().put(b"k", {"a": 1}), TypeError),
        (lambda db: db.put(b"k" * (MAX_KEY_BYTES + 1), b"v"), ValueError),
        (lambda db: db.put(b"k", bytes(MAX_VALUE_BYTES + 1)), ValueError),
    ],
)
def test_bad_input_is_a_clear_error_and_changes_nothing(call: object, error: type) -> None:
    fs = MemFS()
    db = lsmkv.open("/db", fs=fs)
    db.put(b"k", b"v")
    before = _disk(fs)
    with pytest.raises(error) as e:
        call(db)  # type: ignore[operator]
    assert str(e.value)  # a message, naming what was wrong
    if error is TypeError:
        assert "bytes" in str(e.value) or "WriteBatch" in str(e.value), e.value
    assert _disk(fs) == before
    db.put(b"k2", b"v2")  # the store is still fine
    db.close()
    with lsmkv.open("/db", fs=fs) as db:
        assert db.get(b"k") == b"v" and db.get(b"k2") == b"v2"


def test_limits_are_exact() -> None:
    with lsmkv.open("/db", fs=MemFS()) as db:
        db.put(b"k" * MAX_KEY_BYTES, b"v")
        assert db.get(b"k" * MAX_KEY_BYTES) == b"v"
        # A longer key is refused on reads as on writes: bad input is an error.
        with pytest.raises(ValueError, match="limit"):
            db.get(b"k" * (MAX_KEY_BYTES + 1))
        db.put(b"", b"")  # the empty key and the empty value are allowed
        assert db.get(b"") == b""


def test_bad_options_are_clear_errors() -> None:
    fs = MemFS()
    with pytest.raises(TypeError, match="memtable_size"):
        lsmkv.open("/db", fs=fs, memtable_size=1)
    with pytest.raises(ValueError, match="memtable_bytes"):
        lsmkv.open("/db", fs=fs, memtable_bytes=0)
    with pytest.raises(ValueError, match="wal_recovery_mode"):
        lsmkv.open("/db", fs=fs, wal_recovery_mode="yolo")
    assert not fs.exists("/db")  # nothing was created


def test_a_path_that_is_a_file_or_not_a_store(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_bytes(b"hello")
    with pytest.raises(lsmkv.Error, match="not a directory"):
        lsmkv.open(f)
    assert f.read_bytes() == b"hello"
    d = tmp_path / "other"
    d.mkdir()
    (d / "notes.txt").write_text("mine")
    with pytest.raises(lsmkv.Error, match="not an lsmkv store"):
        lsmkv.open(d)
    assert sorted(p.name for p in d.iterdir()) == ["LOCK", "notes.txt"] or sorted(
        p.name for p in d.iterdir()
    ) == ["notes.txt"]
    with pytest.raises(lsmkv.NotFoundError):
        lsmkv.open(tmp_path / "missing", create_if_missing=False)
    assert not (tmp_path / "missing").exists()
    with pytest.raises(TypeError, match="path"):
        lsmkv.open(42)  # type: ignore[arg-type]


def test_an_unknown_table_format_version_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with lsmkv.open(path) as db:
        db.put(b"k", b"v")
        db.flush()
    table = next(p for p in path.iterdir() if p.suffix == ".sst")
    data = bytearray(table.read_bytes())
    # Footer: four handles (48 bytes), format_version u32, magic u64, crc32 u32.
    struct.pack_into("<I", data, len(data) - 16, 3)
    struct.pack_into("<I", data, len(data) - 4, zlib.crc32(bytes(data[-64:-4])))
    table.write_bytes(bytes(data))
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    with (
        pytest.raises(lsmkv.CorruptionError, match="format version 3"),
        lsmkv.open(path, read_only=True) as db,
    ):
        db.get(b"k")
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    report = lsmkv.verify(path)
    assert not report.ok and any("format version 3" in p for p in report.problems)
