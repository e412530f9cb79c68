"""Flushes and compactions in worker processes (engine/jobworker.py): the same tables as
in-process, the trace forwarded, errors passed back, and no worker outliving its store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import lsmkv
from lsmkv.errors import CorruptionError, Error

pytestmark = pytest.mark.skipif(
    not os.path.isdir("/proc/self"), reason="finds worker processes through /proc"
)

SMALL = {
    "sync": False,
    "level0_compaction_trigger": 2,
    "block_size_bytes": 512,
    "target_file_bytes": 16 * 1024,
}


def children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is `pid`."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # Fields after the command name (which may hold spaces) in parentheses.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.append(int(name))
    return found


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def write_and_compact(db: lsmkv.DB) -> None:
    """Writes, flushes and compactions one after the other (no flush but `flush()`, a
    wait after each), so every run hands out the same file numbers."""
    for round_ in range(4):
        for i in range(600):
            key = b"key%06d" % ((i * 7919 + round_ * 13) % 1500)
            db.put(key, b"value %d of round %d " % (i, round_) * 3)
        db.delete(b"key%06d" % (round_ * 100))
        db.delete_range(b"key%06d" % (1000 + round_ * 50), b"key%06d" % (1020 + round_ * 50))
        db.flush()
        db.wait_for_compaction()


def tables(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.glob("*.sst"))}


def created(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The file.created events, without their times."""
    return [
        {k: v for k, v in e.items() if k != "t"} for e in events if e["event"] == "file.created"
    ]


def test_jobs_in_worker_processes_write_the_same_tables_as_in_process(tmp_path: Path) -> None:
    results = {}
    for processes in (True, False):
        path = tmp_path / f"processes-{processes}"
        events: list[dict[str, Any]] = []
        with lsmkv.open(
            path, background_processes=processes, listeners=[events.append], **SMALL
        ) as db:
            write_and_compact(db)
            stats = db.stats()["compaction"]
            assert stats["count"] >= 2
            # One worker for the flush thread, one for the compaction thread.
            assert stats["worker_processes"] == (2 if processes else 0)
            assert (len(children(os.getpid())) == 2) is processes
            contents = dict(db.scan())
        results[processes] = (tables(path), created(events), contents)
    assert results[True] == results[False]
    assert results[True][1], "the workers' file.created events reached the listener"
    assert children(os.getpid()) == [], "closing the store stopped its workers"


def test_stores_on_other_file_systems_run_jobs_in_process(tmp_path: Path) -> None:
    from lsmkv.storage.memfs import MemFS

    with lsmkv.open("/db", fs=MemFS(), **SMALL) as db:
        write_and_compact(db)
        assert db.stats()["compaction"]["worker_processes"] == 0
        assert children(os.getpid()) == []


def test_a_worker_that_dies_stops_background_work_and_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "db"
    db = lsmkv.open(path, **{**SMALL, "sync": True})
    db.put(b"a", b"1")
    db.flush()  # starts the flush thread's worker
    [worker] = children(os.getpid())
    os.kill(worker, signal.SIGKILL)
    db.put(b"b", b"2")
    with pytest.raises(Error, match="background worker process ended"):
        db.flush()
    with pytest.raises(Error, match="refused after a background error"):
        db.put(b"c", b"3")
    db.close()
    assert children(os.getpid()) == []
    with lsmkv.open(path) as db:
        assert db.get(b"a") == b"1"
        assert db.get(b"b") == b"2"  # acknowledged before the failed flush: in the WAL
        assert db.get(b"c") is None


def test_a_worker_passes_back_what_went_wrong(tmp_path: Path) -> None:
    path = tmp_path / "db"
    db = lsmkv.open(path, **SMALL)
    for i in range(200):
        db.put(b"k%04d" % i, b"first")
    db.flush()
    [table] = sorted(path.glob("*.sst"))
    data = bytearray(table.read_bytes())
    data[100] ^= 0xFF  # inside the first data block, which no read has cached
    table.write_bytes(bytes(data))
    for i in range(200):
        db.put(b"k%04d" % i, b"second")
    with pytest.raises(CorruptionError) as raised:
        # The second L0 table: the compaction that reads the damaged one starts, and
        # its failure may already reach this flush.
        db.flush()
        db.wait_for_compaction(timeout=60)
    assert table.name in str(raised.value)
    db.close()


KILLED_CHILD = textwrap.dedent(
    """
    import sys
    import lsmkv

    db = lsmkv.open(sys.argv[1], sync=True, memtable_bytes=32 * 1024,
                    level0_compaction_trigger=2, target_file_bytes=16 * 1024)
    i = 0
    while True:
        db.put(b"key%08d" % i, b"v" * 200)
        print(i, flush=True)  # acknowledged
        i += 1
    """
)


def test_a_killed_store_takes_its_workers_with_it(tmp_path: Path) -> None:
    path = tmp_path / "db"
    env = {**os.environ, "PYTHONPATH": str(Path(lsmkv.__file__).parents[1])}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, str(path)], stdout=subprocess.PIPE, env=env
    )
    assert child.stdout is not None
    acknowledged = -1
    workers: list[int] = []
    deadline = time.monotonic() + 60
    # Until both workers run (the flush thread's and the compaction thread's).
    while len(workers) < 2 and time.monotonic() < deadline:
        acknowledged = int(child.stdout.readline())
        if acknowledged % 100 == 0:
            workers = children(child.pid)
    assert len(workers) == 2, "the store started a worker per background thread"
    child.kill()
    child.wait()
    for pid in workers:
        deadline = time.monotonic() + 10
        while not gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gone(pid), f"worker {pid} outlived its store"
    with lsmkv.open(path) as db:
        for i in range(acknowledged + 1):
            assert db.get(b"key%08d" % i) == b"v" * 200, i


def test_a_job_the_store_gives_up_half_way_gets_a_fresh_worker_next(tmp_path: Path) -> None:
    from lsmkv.compaction.job import JobContext
    from lsmkv.core.counters import Counters
    from lsmkv.engine.jobworker import JobWorker
    from lsmkv.sstable.reader import TableReader
    from lsmkv.sstable.writer import TableSettings
    from lsmkv.storage.fs import OSFileSystem

    numbers = iter(range(1, 100))
    pending: set[int] = set()
    ctx = JobContext(
        fs=OSFileSystem(),
        dirname=str(tmp_path),
        settings=TableSettings(),
        open_table=lambda n: TableReader(OSFileSystem(), str(tmp_path / f"{n:06d}.sst"), n),
        new_file_number=lambda: next(numbers),
        pending_outputs=pending,
        counters=Counters(),
    )
    keys = [b"k%05d" % i for i in range(40000)]
    run = (keys, [(i + 1) << 8 | 1 for i in range(40000)], [b"v"] * 40000)

    def failing_runs() -> Any:
        yield run
        raise RuntimeError("the store's side failed half-way")

    worker = JobWorker(str(tmp_path), TableSettings())
    try:
        with pytest.raises(RuntimeError):
            worker.flush(failing_runs(), [], ctx)
        [meta], written = worker.flush([run], [], ctx)
        assert worker.started == 2, "the half-fed worker was replaced"
        assert meta.entries == 40000 and meta.number in pending and written == meta.size
        reader = ctx.open_table(meta.number)
        assert reader.get(b"k00007", 1 << 50) is not None
        reader.close()
    finally:
        worker.close()
    assert children(os.getpid()) == []


@pytest.mark.parametrize("executable", ["/nonexistent/python3", "true"])
def test_a_worker_that_cannot_start_leaves_the_jobs_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, executable: str
) -> None:
    # An embedded or frozen interpreter's sys.executable is not a Python that runs
    # `-c`: the store must still flush and compact, in its own process.
    import shutil

    monkeypatch.setattr(sys, "executable", shutil.which(executable) or executable)
    path = tmp_path / "db"
    with lsmkv.open(path, **SMALL) as db:
        write_and_compact(db)
        stats = db.stats()
        assert stats["compaction"]["worker_processes"] == 0
        assert stats["compaction"]["count"] >= 2
        assert children(os.getpid()) == []
        contents = dict(db.scan())
    with lsmkv.open(path, background_processes=False) as db:
        assert dict(db.scan()) == contents


def test_the_worker_does_not_import_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `python -c` puts the working directory first on sys.path: a directory that holds
    # a module named like one the worker imports must not replace it.
    cwd = tmp_path / "cwd"
    (cwd / "lsmkv").mkdir(parents=True)
    (cwd / "lsmkv" / "__init__.py").write_text("raise SystemExit(3)\n")
    monkeypatch.chdir(cwd)
    with lsmkv.open(tmp_path / "db", **SMALL) as db:
        write_and_compact(db)
        assert db.stats()["compaction"]["worker_processes"] == 2


@pytest.mark.parametrize("processes", [True, False])
def test_a_table_that_cannot_be_opened_is_named_in_the_error(
    tmp_path: Path, processes: bool
) -> None:
    from lsmkv.errors import DiskError

    path = tmp_path / "db"
    db = lsmkv.open(path, background_processes=processes, **SMALL)
    for i in range(200):
        db.put(b"k%04d" % i, b"first")
    db.flush()
    [table] = sorted(path.glob("*.sst"))
    table.unlink()  # no read opened it yet: the compaction is the first to try
    for i in range(200):
        db.put(b"k%04d" % i, b"second")
    with pytest.raises(DiskError) as raised:
        db.flush()  # starts the compaction, whose failure this call may already see
        db.wait_for_compaction(timeout=60)
    assert table.name in str(raised.value)
    assert raised.value.errno == 2
    db.close()


def test_a_frozen_program_runs_its_jobs_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In a frozen program (PyInstaller and the like) sys.executable is the program
    # itself: starting it "as the worker" would run the program again.
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    with lsmkv.open(tmp_path / "db", **SMALL) as db:
        write_and_compact(db)
        assert db.stats()["compaction"]["worker_processes"] == 0
        assert children(os.getpid()) == []


SIGPIPE_CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    from lsmkv.compaction.job import JobContext
    from lsmkv.core.counters import Counters
    from lsmkv.engine.jobworker import JobWorker, WorkerDied
    from lsmkv.sstable.writer import TableSettings
    from lsmkv.storage.fs import OSFileSystem

    # A program that pipes its output to `head` often restores the default SIGPIPE.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    numbers = iter(range(1, 100))
    ctx = JobContext(fs=OSFileSystem(), dirname=sys.argv[1], settings=TableSettings(),
                     open_table=None, new_file_number=lambda: next(numbers),
                     pending_outputs=set(), counters=Counters())
    worker = JobWorker(sys.argv[1], TableSettings())
    assert worker.ready()
    os.kill(worker.pid, signal.SIGKILL)
    time.sleep(0.5)
    run = ([b"k%05d" % i for i in range(40000)], [(i + 1) << 8 | 1 for i in range(40000)],
           [b"v" * 100] * 40000)
    try:
        worker.flush([run], [], ctx)
    except WorkerDied as e:
        print("WorkerDied", e, flush=True)
    """
)


def test_a_dead_worker_is_an_error_even_where_sigpipe_kills(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(lsmkv.__file__).parents[1])}
    child = subprocess.run(
        [sys.executable, "-c", SIGPIPE_CHILD, str(tmp_path)],
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr.decode()
    assert child.stdout.startswith(b"WorkerDied"), child.stdout


def test_workers_run_where_the_program_set_a_default_socket_timeout(tmp_path: Path) -> None:
    # socket.setdefaulttimeout makes every new socket non-blocking underneath, the
    # store's socket pair included, unless it says otherwise.
    import socket

    before = socket.getdefaulttimeout()
    socket.setdefaulttimeout(0.5)
    try:
        with lsmkv.open(tmp_path / "db", **SMALL) as db:
            write_and_compact(db)
            assert db.stats()["compaction"]["worker_processes"] == 2
    finally:
        socket.setdefaulttimeout(before)


@pytest.mark.parametrize("processes", [True, False])
def test_a_job_that_fails_on_the_store_side_leaves_no_table(
    tmp_path: Path, processes: bool
) -> None:
    # A listener that raises at file.created fails the flush in the store's process,
    # after the worker wrote the table: as in-process, the table must not stay behind.
    def listener(event: dict[str, Any]) -> None:
        if event["event"] == "file.created":
            raise RuntimeError("listener failed")

    path = tmp_path / "db"
    db = lsmkv.open(path, background_processes=processes, listeners=[listener], **SMALL)
    for i in range(500):
        db.put(b"k%04d" % i, b"value")
    with pytest.raises(Error, match="listener failed"):
        db.flush()
    assert sorted(path.glob("*.sst")) == []
    db.close()
    assert children(os.getpid()) == []
    with lsmkv.open(path) as db:
        assert db.get(b"k0007") == b"value"


def test_a_dead_worker_is_noticed_when_its_socket_stays_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from lsmkv.engine import jobworker

    held: list[int] = []
    real_socketpair = socket.socketpair

    def socketpair_held_open() -> tuple[socket.socket, socket.socket]:
        parent_end, child_end = real_socketpair()
        # A copy of the worker's end, as a process forked meanwhile would hold: the
        # worker's death then sends no end of file.
        held.append(os.dup(child_end.fileno()))
        return parent_end, child_end

    monkeypatch.setattr(jobworker.socket, "socketpair", socketpair_held_open)
    db = lsmkv.open(tmp_path / "db", **{**SMALL, "sync": True})
    try:
        db.put(b"a", b"1")
        db.flush()  # starts the flush thread's worker
        [worker] = children(os.getpid())
        os.kill(worker, signal.SIGKILL)
        db.put(b"b", b"2")
        with pytest.raises(Error, match="background worker process ended"):
            db.flush()
    finally:
        db.close()
        for fd in held:
            os.close(fd)
