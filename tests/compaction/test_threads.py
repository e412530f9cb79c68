"""Background threads: a flush thread of its own and `max_background_compactions`
compaction threads (docs/compaction.md, "Threads").

The tests make the interleavings they need deterministic by holding a compaction at a
gate in the file-system layer (`GateFS`: a compaction thread that creates a table waits
there until the test opens it), never by timing: every wait has a generous timeout that
only a broken engine reaches.
"""

from __future__ import annotations

import errno
import os
import threading
from typing import Any

import pytest

import lsmkv
from lsmkv.core.filenames import table_name
from lsmkv.storage.fs import OSFileSystem, WritableFile
from lsmkv.testing import FaultFS

from .conftest import SMALL

WAIT = 60.0  # seconds; reached only when the behaviour under test is missing


class GateFS(OSFileSystem):
    """The real file system, except that a compaction thread creating a table (or, with
    `at="sync"`, syncing one it has written) waits at a gate while it is armed, so that
    compaction is "slow": it holds its files and its thread as long as the test likes."""

    def __init__(self, armed: bool = True, at: str = "create") -> None:
        self.armed = armed
        self.at = at
        self.opened = threading.Event()  # set: compactions go on
        self.held = threading.Event()  # set once a compaction has waited here
        self.held_paths: list[str] = []

    def wait_here(self, op: str, path: str) -> None:
        thread = threading.current_thread().name
        if (
            self.armed
            and op == self.at
            and path.endswith(".sst")
            and thread.startswith("lsmkv-compaction")
        ):
            self.held_paths.append(path)
            self.held.set()
            self.opened.wait(WAIT)

    def create(self, path: str) -> WritableFile:
        self.wait_here("create", path)
        return _GateFile(self, path, super().create(path))


class _GateFile(WritableFile):
    def __init__(self, fs: GateFS, path: str, inner: WritableFile) -> None:
        self._fs = fs
        self._path = path
        self._inner = inner

    def write(self, data: bytes) -> None:
        self._inner.write(data)

    def sync(self) -> None:
        self._fs.wait_here("sync", self._path)
        self._inner.sync()

    def close(self) -> None:
        self._inner.close()


def test_two_compactions_run_at_the_same_time(tmp_path: os.PathLike[str]) -> None:
    """With two compaction threads, an L0 -> L1 compaction and a deletion-triggered
    L1 -> L2 compaction of other files run at once: each is held at the gate until the
    other has begun, so with one thread (or a picker that serialised them) the second
    would never begin while the first runs, and the test would fail."""
    path = os.path.join(tmp_path, "db")
    # Level 1: keys a0000-a0299 as values and tombstones (a snapshot kept both through
    # the compaction), dense enough in tombstones for deletion-triggered compaction.
    # Level 0: a few tables of keys z0000-z0049, a key range of their own.
    with lsmkv.open(path, background_compaction=False, **SMALL) as db:
        for i in range(300):
            db.put(b"a%04d" % i, b"v" * 100)
        snap = db.snapshot()
        for i in range(300):
            db.delete(b"a%04d" % i)
        db.compact()
        snap.release()
        for _ in range(2):
            for i in range(50):
                db.put(b"z%04d" % i, b"w" * 100)
            db.flush()
        shape = [len(files) for files in db._sv.version.levels]
    assert shape[0] >= 2 and shape[1] >= 1 and sum(shape[2:]) == 0, shape

    gate = GateFS()
    lock = threading.Lock()
    running: dict[int, dict[str, Any]] = {}
    overlaps: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def listener(event: dict[str, Any]) -> None:
        with lock:
            if event["event"] == "compaction.begin":
                for other in running.values():
                    overlaps.append((other, event))
                running[event["job"]] = event
                if len(running) >= 2:
                    gate.opened.set()
            elif event["event"] == "compaction.end":
                running.pop(event["job"], None)

    opts = dict(
        SMALL,
        fs=gate,
        listeners=[listener],
        max_background_compactions=2,
        level0_compaction_trigger=2,
        level0_slowdown_trigger=20,
        level0_stop_trigger=30,
        level1_bytes=1 << 20,
        deletion_window_entries=100,
        deletion_trigger=40,
    )
    with lsmkv.open(path, **opts) as db:
        assert gate.opened.wait(WAIT), "a second compaction never began while one ran"
        assert db.wait_for_compaction(timeout=WAIT)
        db._sv.version.check()
        assert list(db.scan(b"a", b"b")) == []
        assert list(db.scan(b"z")) == [(b"z%04d" % i, b"w" * 100) for i in range(50)]
        assert db.stats()["compaction"]["running"] == []
    assert overlaps, "no compaction began while another was running"
    first, second = overlaps[0]
    assert {first["reason"], second["reason"]} == {"level0_files", "deletion_density"}
    # They shared no file and wrote to different levels.
    files = [{i["file"] for i in e["inputs"]} for e in (first, second)]
    assert not files[0] & files[1]
    assert first["output_level"] != second["output_level"]


def test_flushes_land_while_a_long_manual_compaction_runs(tmp_path: os.PathLike[str]) -> None:
    """A manual compaction held at the gate: flushes go on (the flush thread does not
    wait behind it) until level 0 reaches its stop trigger, never past it; then writers
    stop by the normal rules. Once the compaction goes on, everything completes."""
    stop = 4
    gate = GateFS(armed=False)
    l0_after_flushes: list[int] = []
    holder: list[lsmkv.DB] = []

    def listener(event: dict[str, Any]) -> None:
        if event["event"] == "flush.end" and gate.held.is_set() and not gate.opened.is_set():
            l0_after_flushes.append(len(holder[0]._sv.version.levels[0]))

    opts = dict(
        SMALL,
        fs=gate,
        listeners=[listener],
        level0_compaction_trigger=2,
        level0_slowdown_trigger=3,
        level0_stop_trigger=stop,
        max_immutable_memtables=2,
    )
    db = lsmkv.open(os.path.join(tmp_path, "db"), **opts)
    holder.append(db)
    try:
        for i in range(600):
            db.put(b"k%04d" % (i * 7 % 600), b"v" * 100)
        assert db.wait_for_compaction(timeout=WAIT)
        assert sum(len(files) for files in db._sv.version.levels[1:]) > 0

        gate.armed = True
        errors: list[BaseException] = []

        def compact() -> None:
            try:
                db.compact()
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        compactor = threading.Thread(target=compact)
        compactor.start()
        assert gate.held.wait(WAIT), "the manual compaction never wrote a table"

        written: list[int] = []

        def writer() -> None:
            try:
                for i in range(1500):
                    db.put(b"w%05d" % i, b"x" * 100)
                    written.append(i)
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        w = threading.Thread(target=writer)
        w.start()
        # Flushes go on while the compaction is held, until L0 reaches its stop trigger;
        # then the flush waits, the memtables fill and the writer stops.
        for _ in range(int(WAIT * 100)):
            l0 = len(db._sv.version.levels[0])
            if (l0 >= stop and db.stats()["stalls"]["condition"] == "stop") or not w.is_alive():
                break
            threading.Event().wait(0.01)
        assert db.stats()["stalls"]["condition"] == "stop", db.stats()["stalls"]
        assert w.is_alive(), "the writer finished although the compaction was held"
        assert l0_after_flushes, "no flush completed while the compaction was held"
        # Up to the stop trigger and no further (a flush waits there for compaction).
        assert max(l0_after_flushes) == stop, l0_after_flushes
        assert len(db._sv.version.levels[0]) == stop
        assert compactor.is_alive()

        gate.opened.set()
        compactor.join(WAIT)
        w.join(WAIT)
        assert not compactor.is_alive() and not w.is_alive(), "deadlock"
        assert errors == []
        assert len(written) == 1500
        assert db.wait_for_compaction(timeout=WAIT)
        assert max(l0_after_flushes) <= stop
        for i in range(0, 1500, 37):
            assert db.get(b"w%05d" % i) == b"x" * 100
        assert db.get(b"k0123") == b"v" * 100
        db._sv.version.check()
        assert db.stats()["background_error"] is None
    finally:
        gate.opened.set()
        db.close()


def test_manual_compaction_waits_for_running_compactions_and_runs_alone(
    tmp_path: os.PathLike[str],
) -> None:
    """`compact()` keeps its semantics with several threads: none of its steps begins
    while another compaction runs, and no automatic compaction begins during it."""
    lock = threading.Lock()
    running: dict[int, str] = {}
    mixed: list[tuple[str, str]] = []

    def listener(event: dict[str, Any]) -> None:
        with lock:
            if event["event"] == "compaction.begin":
                reason = event["reason"]
                for other in running.values():
                    if reason.startswith("manual") or other.startswith("manual"):
                        mixed.append((other, reason))
                running[event["job"]] = reason
            elif event["event"] == "compaction.end":
                running.pop(event["job"], None)

    opts = dict(
        SMALL,
        listeners=[listener],
        max_background_compactions=3,
        level0_compaction_trigger=2,
        level0_slowdown_trigger=3,
        level0_stop_trigger=5,
    )
    with lsmkv.open(os.path.join(tmp_path, "db"), **opts) as db:
        # A snapshot older than every write keeps every tombstone, so each compact(range)
        # has steps to run however far automatic compaction got: at least the in-place
        # rewrites of the bottom files holding the range's tombstones.
        snap = db.snapshot()
        for round_ in range(3):
            for i in range(800):
                db.put(b"k%04d" % (i * 13 % 800), b"%d" % round_ * 50)
                if i % 200 == 199:
                    db.delete(b"k%04d" % (i // 2))
            # Writes keep automatic compactions busy while the manual ones come in.
            db.compact(b"k0100", b"k0300")
        snap.release()
        db.compact()
        assert db.wait_for_compaction(timeout=WAIT)
        by_reason = db.stats()["compaction"]["by_reason"]
        assert by_reason.get("manual_bottom", 0) >= 3, by_reason
        assert by_reason.get("level0_files", 0) > 0, by_reason
        levels = db.stats()["levels"]
        # compact() of everything leaves no tombstone anywhere.
        assert sum(lv["tombstones"] for lv in levels) == 0
        db._sv.version.check()
    assert mixed == []


def test_the_option_is_validated_and_reported(tmp_path: os.PathLike[str]) -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_background_compactions"):
            lsmkv.open(os.path.join(tmp_path, "bad"), max_background_compactions=bad)
    with lsmkv.open(os.path.join(tmp_path, "db"), max_background_compactions=3) as db:
        names = sorted(t.name.split(":")[0] for t in db._bg_threads)
        assert names == [
            "lsmkv-compaction-0",
            "lsmkv-compaction-1",
            "lsmkv-compaction-2",
            "lsmkv-flush",
        ]
        acct = db.stats()["compaction"]
        assert acct["threads"] == 3
        assert acct["flush_running"] is False and acct["running"] == []
        threads = list(db._bg_threads)
    assert not any(t.is_alive() for t in threads), "close() must join every thread"


def test_sweeps_beside_a_running_compaction_keep_its_outputs(tmp_path: os.PathLike[str]) -> None:
    """A compaction held after writing an output table, before its fsync: flushes on the
    flush thread run the obsolete-file sweep meanwhile, and must leave the table (a
    pending output, named by no manifest yet) and the compaction's inputs alone."""
    path = os.path.join(tmp_path, "db")
    gate = GateFS(at="sync")
    flushed_while_held: list[int] = []

    def listener(event: dict[str, Any]) -> None:
        if event["event"] == "flush.end" and gate.held.is_set() and not gate.opened.is_set():
            flushed_while_held.append(event["job"])

    opts = dict(
        SMALL,
        fs=gate,
        listeners=[listener],
        # One compaction thread: the held compaction is then the only job that could
        # remove a table, so every file of the Version below must stay.
        max_background_compactions=1,
        level0_compaction_trigger=2,
        level0_slowdown_trigger=4,
        level0_stop_trigger=6,
    )
    db = lsmkv.open(path, **opts)
    try:
        writer_done = threading.Event()

        def writer() -> None:
            for i in range(1200):
                db.put(b"k%05d" % (i * 7 % 1200), b"v" * 100)
            writer_done.set()

        w = threading.Thread(target=writer)
        w.start()
        assert gate.held.wait(WAIT), "no compaction wrote a table"
        inputs = {f.number for _, f in db._sv.version.files()}
        for _ in range(int(WAIT * 100)):
            if len(flushed_while_held) >= 2 or writer_done.is_set():
                break
            threading.Event().wait(0.01)
        assert len(flushed_while_held) >= 2, "flushes (and their sweeps) did not run"
        names = set(os.listdir(path))
        held = os.path.basename(gate.held_paths[0])
        assert held in names, "a sweep deleted a running compaction's output"
        assert {table_name(n) for n in inputs} <= names, "a sweep deleted an input"
        gate.opened.set()
        w.join(WAIT)
        assert not w.is_alive()
        assert db.wait_for_compaction(timeout=WAIT)
        assert db.stats()["background_error"] is None
    finally:
        gate.opened.set()
        db.close()
    # The manifest names only files that exist, and every checksum holds.
    assert lsmkv.verify(path).ok
    with lsmkv.open(path, **SMALL) as again:
        for i in range(0, 1200, 17):
            assert again.get(b"k%05d" % i) == b"v" * 100


def test_the_first_background_error_stops_every_thread(tmp_path: os.PathLike[str]) -> None:
    """With three compaction threads, a compaction whose table write fails stops all
    background work: the error is reported (the first one), writes are refused, and
    close() still joins every thread; the store reopens with every acknowledged write."""
    path = os.path.join(tmp_path, "db")
    fs = FaultFS()
    failed: list[str] = []

    def hook(op: str, file: str) -> None:
        if (
            op == "write"
            and file.endswith(".sst")
            and threading.current_thread().name.startswith("lsmkv-compaction")
            and not failed
        ):
            failed.append(file)
            raise OSError(errno.EIO, "injected compaction write error", file)

    fs.hook = hook
    opts = dict(
        SMALL,
        fs=fs,
        max_background_compactions=3,
        level0_compaction_trigger=2,
        level0_slowdown_trigger=3,
        level0_stop_trigger=5,
    )
    acknowledged = []
    db = lsmkv.open(path, **opts)
    try:
        with pytest.raises(lsmkv.DiskError):
            for i in range(20_000):
                db.put(b"k%05d" % i, b"v" * 100)
                acknowledged.append(i)
        assert failed, "no compaction wrote a table"
        error = db.stats()["background_error"]
        assert error is not None and "injected compaction write error" in error
        with pytest.raises(lsmkv.DiskError):
            db.wait_for_compaction(timeout=WAIT)
        with pytest.raises(lsmkv.DiskError):
            db.put(b"after", b"x")
        threads = list(db._bg_threads)
    finally:
        db.close()
    assert not any(t.is_alive() for t in threads), "close() must join every thread"
    fs.hook = None
    with lsmkv.open(path, fs=fs, **SMALL) as again:
        assert again.stats()["background_error"] is None
        for i in acknowledged[::37]:
            assert again.get(b"k%05d" % i) == b"v" * 100
        assert again.get(b"after") is None
    assert lsmkv.verify(path).ok
