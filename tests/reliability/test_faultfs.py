"""FaultFS itself: what a power loss keeps in each mode, injected errors, read-only
files, over MemFS and over the real file system."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

import lsmkv
from lsmkv.storage.fs import FileSystem, OSFileSystem
from lsmkv.testing import FaultFS, MemFS


def _fs(kind: str, tmp_path: Path) -> tuple[FaultFS, str]:
    if kind == "mem":
        inner: FileSystem = MemFS()
        inner.mkdir("/d")
        return FaultFS(inner, seed=1), "/d"
    d = tmp_path / "d"
    d.mkdir()
    return FaultFS(OSFileSystem(), seed=1), str(d)


@pytest.mark.parametrize("kind", ["mem", "os"])
def test_drop_keeps_exactly_what_was_synced(kind: str, tmp_path: Path) -> None:
    fs, d = _fs(kind, tmp_path)
    f = fs.create(f"{d}/a")
    f.write(b"synced")
    f.sync()
    f.write(b"-not")
    f.close()
    fs.sync_dir(d)
    h = fs.create(f"{d}/c")
    h.write(b"new")
    h.sync()
    h.close()
    fs.rename(f"{d}/c", f"{d}/a2")
    fs.sync_dir(d)
    g = fs.create(f"{d}/b")  # content synced, directory entry not
    g.write(b"x")
    g.sync()
    g.close()
    fs.rename(f"{d}/a", f"{d}/moved")  # rename not synced: undone
    fs.remove(f"{d}/a2")  # removal not synced: comes back
    fs.power_loss("drop")
    assert fs.read_file(f"{d}/a") == b"synced"
    assert not fs.exists(f"{d}/moved")
    assert not fs.exists(f"{d}/b")
    assert fs.read_file(f"{d}/a2") == b"new"
    with pytest.raises(OSError):  # handles from before the power loss are dead
        f.write(b"more")


def test_subset_and_garbage_keep_the_synced_prefix() -> None:
    for seed in range(30):
        for mode in ("subset", "garbage"):
            fs = FaultFS(MemFS(), seed=seed)
            fs.mkdir("/d")
            fs.sync_dir("/")
            f = fs.create("/d/f")
            f.write(b"A" * 5000)
            f.sync()
            fs.sync_dir("/d")
            f.write(b"B" * 9000)
            fs.power_loss(mode)
            data = fs.read_file("/d/f")
            assert data[:5000] == b"A" * 5000
            assert len(data) <= 14000
            if mode == "subset":
                assert set(data[5000:]) <= {ord("B"), 0}


def test_crash_image_leaves_the_running_system_alone() -> None:
    fs = FaultFS(MemFS())
    fs.mkdir("/d")
    f = fs.create("/d/f")
    f.write(b"unsynced")
    image = fs.crash_image("drop")
    assert not image.exists("/d")  # neither the directory's entry nor the file was synced
    f.write(b"!")  # still alive
    assert fs.read_file("/d/f") == b"unsynced!"


def test_inject_counts_operations_and_clear_stops_faults() -> None:
    fs = FaultFS(MemFS())
    fs.mkdir("/d")
    f = fs.create("/d/f")
    fs.inject("write", errno.ENOSPC, after=2)
    f.write(b"1")
    f.write(b"2")
    with pytest.raises(OSError) as e:
        f.write(b"3")
    assert e.value.errno == errno.ENOSPC
    f.write(b"4")  # once by default
    fs.inject("fsync", errno.EIO, times=None)
    for _ in range(3):
        with pytest.raises(OSError):
            f.sync()
    fs.clear()
    f.sync()
    assert fs.faults == 4
    with pytest.raises(ValueError):
        fs.inject("chmod", errno.EIO)


def test_read_only_file_refuses_creation_and_writes() -> None:
    fs = FaultFS(MemFS())
    with lsmkv.open("/db", fs=fs) as db:
        db.put(b"k", b"v")
    fs.make_read_only("/db/CURRENT.tmp")  # every open installs a new manifest through it
    with pytest.raises(lsmkv.DiskError) as e:
        lsmkv.open("/db", fs=fs)
    assert e.value.errno == errno.EACCES
    fs.clear()
    with lsmkv.open("/db", fs=fs) as db:
        assert db.get(b"k") == b"v"
    f = fs.create("/db/other")
    fs.make_read_only("/db/other")
    with pytest.raises(PermissionError):
        f.write(b"x")


def test_faultfs_over_the_real_disk_runs_a_store(tmp_path: Path) -> None:
    fs = FaultFS()
    db = lsmkv.open(tmp_path / "db", fs=fs, memtable_bytes=8192)
    for i in range(300):
        db.put(b"k%03d" % i, b"v", sync=i % 100 == 99)
    db.put(b"unsynced", b"v", sync=False)
    fs.power_loss("drop")
    with lsmkv.open(tmp_path / "db", fs=fs) as db:
        assert db.get(b"k299") == b"v"
        assert db.get(b"unsynced") is None
    assert lsmkv.verify(tmp_path / "db").ok


@pytest.mark.parametrize("mode", ["drop", "subset", "garbage"])
@pytest.mark.parametrize("how", ["close", "flush"])
def test_close_and_flush_make_unsynced_writes_durable(mode: str, how: str) -> None:
    """db.close() and db.flush() promise that sync=False writes made before them
    survive a power loss: checked under every power-loss mode."""
    fs = FaultFS(MemFS())
    db = lsmkv.open("/db", fs=fs)
    for i in range(50):
        db.put(b"k%02d" % i, b"v%d" % i, sync=False)
    db.delete(b"k07", sync=False)
    if how == "close":
        db.close()
    else:
        db.flush()
    fs.power_loss(mode, seed=1)
    with lsmkv.open("/db", fs=fs) as again:
        assert again.get(b"k49") == b"v49" and again.get(b"k00") == b"v0"
        assert again.get(b"k07") is None
        assert len(list(again.keys())) == 49
