"""Worker processes for background jobs: flushes and compactions run in a process of
their own, so their Python does not take turns with the caller's under the GIL.

Why: CPython runs the bytecode of one thread at a time. In a 1M-key random fill the
background threads took 55% of the samples, in the writer's interpreter, and the
writer waited for them (docs/performance.md). A flush and a compaction are files in,
files out, apart from the flush's input, which is in memory: so a worker process can
run them, on another core, while the caller's threads keep the interpreter.

What stays in the store's own process: every decision and every change to what is
durable. The background threads still pick the work, hand out file numbers (and
mark them as pending outputs, so the obsolete-file sweep spares them), write the
manifest record, install the new SuperVersion and delete obsolete files. A worker only
writes new table files, fsyncs them and their directory, and describes them. A table
it wrote is live only once the parent's manifest record names it, exactly as when the
job runs in-process: crash recovery does not know whether a worker existed.

One worker per background thread, started by that thread on its first job (about
0.3 s of CPU, on the worker's side) and stopped when the store closes. A thread whose
worker cannot start (no such executable, an embedded interpreter, a silent or dead
start) runs its jobs in-process instead: the same functions, the same tables. The protocol
is one job at a time over a socket pair, as pickled tuples:

```
 background thread (parent)                          worker process
 ─────────────────────────────────────────────       ───────────────────────────
                                                 ◄── ("ready",)  once, at its start
 ("flush", dir, settings, number, tombstones, tr) ──►
 (keys, trailers, values)  a chunk of sorted runs ──► writes blocks as chunks come
 ...
 None                      end of input          ──►
                                                 ◄── ("trace", event, fields) ...
                                                 ◄── ("done", (files, bytes))
 ("compaction", dir, settings, c, version, ...)  ──► reads inputs, merges, writes
                                                 ◄── ("number",)   a new table is due
 file number                                     ──►
                                                 ◄── ("trace", event, fields) ...
                                                 ◄── ("done", (edit, result))
                                                 ◄── ("error", exception)  instead
 ("exit",)                                       ──► exits
```

A flush writes one table, so its number goes out with the job and the worker never
asks while the parent is still sending (two full socket buffers would deadlock).

When: only for stores on the real file system (`OSFileSystem` itself, not a
subclass), and only with `Options.background_processes`. MemFS and FaultFS live in
the parent's memory, so stores on them, which is what the fault-injection and
power-loss tests use, run the same job functions in-process.

An orphan must never write: after a kill -9 of the store's process, a reopened store
hands out file numbers again, and a worker still writing could clobber a new table.
So a worker dies with its parent: on Linux through PR_SET_PDEATHSIG (the kernel
kills it when the thread that started it ends, which happens only at close or at the
death of the process), and everywhere through a watchdog thread that exits as soon
as its parent process is gone.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection
from typing import Any

from ..compaction.job import Columns, JobContext, JobResult, run_compaction, write_tables
from ..compaction.picker import Compaction
from ..core import filenames
from ..core.counters import Counters
from ..errors import DiskError, Error
from ..manifest.edit import FileMeta, VersionEdit
from ..manifest.version import Version
from ..rangedel import RangeTombstone
from ..sstable.cache import BlockCache
from ..sstable.reader import TableReader
from ..sstable.writer import TableSettings
from ..storage.fs import FileSystem, OSFileSystem

# Entries per message of a flush's input. Why chunks: the worker builds blocks as
# chunks arrive, so it never holds a whole memtable (its memory is bounded by one chunk
# plus the table's index and filter keys), and pickling overlaps the worker's writing.
FLUSH_CHUNK_ENTRIES = 16384

# Blocks a worker keeps while it opens a compaction's input tables (index and meta
# blocks are read directly; data blocks are read past any cache, as in-process).
_WORKER_CACHE_BYTES = 1024 * 1024

# How often the watchdog looks for its parent where PR_SET_PDEATHSIG is unavailable.
_WATCHDOG_SECONDS = 0.2

# How long a new worker may take to say it is ready (Python's start and lsmkv's imports,
# about 0.3 s of CPU on a quiet machine). A worker that does not is not used: the
# thread runs its jobs in-process, which writes the same tables.
_START_SECONDS = 30.0

# The worker's entry point, run as `python -P -c _WORKER_MAIN root fd parent_pid`. Not
# `-m lsmkv.engine.jobworker`: the package imports this module first, and runpy would
# then run a second copy of it. `-P`: `-c` would otherwise put the working directory
# first on sys.path, where a module named like one the worker imports would replace
# it. SIGINT is ignored before the imports (see `main`).
_WORKER_MAIN = (
    "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from lsmkv.engine.jobworker import main; sys.exit(main(sys.argv[2:]))"
)


class WorkerDied(Error):
    """The worker process ended in the middle of a job (killed, or crashed)."""


def offloads(fs: FileSystem, enabled: bool) -> bool:
    """Whether background jobs of a store on `fs` run in worker processes. Never in a
    frozen program (PyInstaller and the like), whose `sys.executable` is the program
    itself: started as a worker, it would run the program again."""
    return (
        enabled
        and type(fs) is OSFileSystem
        and bool(sys.executable)
        and not getattr(sys, "frozen", False)
    )


class _Channel(Connection):
    """The parent's end of the socket pair: a Connection whose writes never raise
    SIGPIPE. Why: `Connection` writes with `os.write`, and a write to a socket whose
    worker died raises SIGPIPE; Python ignores it (a BrokenPipeError follows, which
    becomes WorkerDied), but a program that restored the default action (common in
    tools piped to `head`) would be killed outright. Cost: a socket object wrapped
    around the descriptor per write (a few system calls per message of up to a chunk).
    """

    def _send(self, buf: bytes, write: object = None) -> None:
        view = memoryview(buf)
        while view:
            sock = socket.socket(fileno=self.fileno())
            try:
                # Blocking, as the descriptor was: a socket object made while a default
                # timeout is set would have made it non-blocking (for `recv` too).
                sock.settimeout(None)
                n = sock.send(view, _NO_SIGNAL)
            finally:
                sock.detach()  # the descriptor stays the Connection's to close
            view = view[n:]


# Linux's flag; elsewhere 0 (the platform's default action for SIGPIPE applies).
_NO_SIGNAL: int = getattr(socket, "MSG_NOSIGNAL", 0)


class JobWorker:
    """The parent's side of one worker process, owned by one background thread.

    Not thread-safe: one job at a time, from the thread that owns it (that thread also
    starts the process, so PR_SET_PDEATHSIG ties the worker's life to it).
    """

    def __init__(self, dirname: str, settings: TableSettings) -> None:
        self._dirname = dirname
        self._settings = settings
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        # A job was sent and its reply not read: the parent gave up on it half-way (an
        # error on this side), so the worker's place in the protocol is unknown and it
        # is replaced before the next job.
        self._busy = False
        self.started = 0  # processes started by this object that said they were ready
        # Why no worker could be started (then this thread's jobs run in-process).
        self.unavailable: str | None = None
        # Table numbers handed to the running job: its outputs, unless the job ends
        # without the worker's word on them (see `_abandon`).
        self._numbers: list[int] = []

    @property
    def pid(self) -> int | None:
        """The worker's process id while it runs (None before its first job)."""
        return None if self._process is None else self._process.pid

    def ready(self) -> bool:
        """Whether the next job can run in the worker, starting it if none runs. False,
        for good, once a worker could not be started: an embedded or frozen program's
        `sys.executable` is not a Python that runs `-c`, or the process limit was hit;
        the caller then runs its jobs in-process (the same tables), rather than stop
        background work. Cost: nothing while a worker runs; else a start (see
        `_start`)."""
        if self.unavailable is not None:
            return False
        try:
            self._connection()
        except (OSError, Error) as e:
            self.unavailable = str(e)
            return False
        return True

    # ----------------------------------------------------------------- jobs
    def flush(
        self, runs: Iterable[Columns], tombstones: list[RangeTombstone], ctx: JobContext
    ) -> tuple[list[FileMeta], int]:
        """`write_tables(runs, tombstones, ctx, None, "flush")`, run by the worker.

        Cost in this process: pickling the runs (C-level, about a tenth of what writing
        the table costs in-process) and a few Python steps per chunk. Returns the table
        written (none when `runs` and `tombstones` are both empty) and its size.
        """
        source = iter(runs)
        first = next(source, None)
        if first is None and not tombstones:
            return [], 0
        number = ctx.new_file_number()
        ctx.pending_outputs.add(number)
        conn = self._begin()
        self._numbers.append(number)
        tracing = ctx.trace is not None
        try:
            try:
                conn.send(("flush", self._dirname, self._settings, number, tombstones, tracing))
                if first is not None:
                    for keys, trailers, values in _chain_first(first, source):
                        for i in range(0, len(keys), FLUSH_CHUNK_ENTRIES):
                            j = i + FLUSH_CHUNK_ENTRIES
                            conn.send((keys[i:j], trailers[i:j], values[i:j]))
                conn.send(None)
            except OSError as e:
                raise self._died(e) from e
            files: list[FileMeta]
            files, written = self._serve(ctx)
        except BaseException:
            self._abandon(ctx)
            raise
        return files, written

    def compaction(
        self,
        c: Compaction,
        version: Version,
        snapshots: list[int],
        ctx: JobContext,
        target_file_bytes: int,
        max_grandparent_overlap_bytes: int,
    ) -> tuple[VersionEdit, JobResult]:
        """`run_compaction(...)`, run by the worker; the parent hands out file numbers.

        Cost in this process: pickling the compaction and `version` (a few hundred file
        records), and one round trip per output table.
        """
        conn = self._begin()
        tracing = ctx.trace is not None
        job = (c, version, snapshots, target_file_bytes, max_grandparent_overlap_bytes)
        edit: VersionEdit
        result: JobResult
        try:
            try:
                conn.send(("compaction", self._dirname, self._settings, job, tracing))
            except OSError as e:
                raise self._died(e) from e
            edit, result = self._serve(ctx)
        except BaseException:
            self._abandon(ctx)
            raise
        return edit, result

    def _abandon(self, ctx: JobContext) -> None:
        """The job failed without the worker's word on its tables (it died, or this side
        gave up: a listener raised, an error while sending): stop the worker now, or it
        would go on writing, and remove every table it was given a number for, as
        `write_tables` removes its own on error. None of them is live: the job's edit
        was never applied. (After the worker's own error it has removed them itself.)
        """
        numbers, self._numbers = self._numbers, []
        if not numbers:
            return
        self._kill()
        for number in numbers:
            try:
                ctx.fs.remove(os.path.join(self._dirname, filenames.table_name(number)))
            except OSError:
                pass  # never created, or the sweep at the next open removes it

    def _serve(self, ctx: JobContext) -> Any:
        """Answer the worker until it reports the job done; return its result or raise
        its error (an OSError stays an OSError, as in-process). Waiting in `recv`
        releases the GIL."""
        conn = self._conn
        assert conn is not None
        while True:
            try:
                # Checked once a second while waiting: a worker that died may never
                # send the end of file (a process forked meanwhile elsewhere in the
                # program can hold a copy of the worker's end of the socket).
                while not conn.poll(1.0):
                    if self._process is not None and self._process.poll() is not None:
                        raise EOFError("the worker process exited")
                message = conn.recv()
            except (EOFError, OSError) as e:
                raise self._died(e) from e
            kind = message[0]
            if kind == "number":
                number = ctx.new_file_number()
                ctx.pending_outputs.add(number)
                self._numbers.append(number)
                try:
                    conn.send(number)
                except OSError as e:
                    raise self._died(e) from e
            elif kind == "trace":
                if ctx.trace is not None:
                    ctx.trace(message[1], **message[2])
            elif kind == "done":
                self._busy = False
                self._numbers.clear()  # the job's outputs now
                return message[1]
            else:
                self._busy = False
                self._numbers.clear()  # removed by the worker's write_tables
                raise message[1]

    # ------------------------------------------------------------- lifetime
    def _connection(self) -> Connection:
        if self._busy:
            self._kill()
        if self._conn is None:
            self._start()
        assert self._conn is not None
        return self._conn

    def _begin(self) -> Connection:
        """The connection for a new job (a fresh worker if the last job was abandoned)."""
        conn = self._connection()
        self._busy = True
        return conn

    def _start(self) -> None:
        """Start a worker and wait until it says it is ready (its death signal armed).
        Raises OSError (no process) or WorkerDied (it ended or stayed silent)."""
        parent_end, child_end = socket.socketpair()
        for end in (parent_end, child_end):
            # Blocking whatever socket.setdefaulttimeout said (the Connection's reads and
            # writes expect it: non-blocking, a read between messages fails at once).
            end.settimeout(None)
        # The worker imports this very copy of lsmkv, wherever the caller found it.
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        args = [str(child_end.fileno()), str(os.getpid())]
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-P", "-c", _WORKER_MAIN, package_root, *args],
                pass_fds=(child_end.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # the caller's stdout may be its own channel
            )
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        self._conn = conn = _Channel(parent_end.detach())
        try:
            if not conn.poll(_START_SECONDS):
                raise TimeoutError(f"no word from it in {_START_SECONDS:g} s")
            if conn.recv() != ("ready",):
                raise EOFError("it said something else than ready")
        except (EOFError, OSError) as e:
            raise self._died(e, "at its start") from e
        self.started += 1

    def _alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _died(self, cause: BaseException, when: str = "in the middle of a job") -> WorkerDied:
        status = self._kill(grace=1.0)
        return WorkerDied(
            f"{self._dirname}: the background worker process ended {when} "
            f"(exit status {status}; {cause!r})"
        )

    def _kill(self, grace: float = 0.0) -> int | None:
        """End the worker (after `grace` seconds to exit by itself) and forget it;
        its exit status."""
        process, conn = self._process, self._conn
        self._process = self._conn = None
        self._busy = False
        if conn is not None:
            conn.close()
        if process is None:
            return None
        try:
            return process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def close(self) -> None:
        """Stop the worker (at close, between jobs). Cost: one message and a wait for
        the process to exit (killed after 5 s, which only a hung worker takes; at once
        if a job was abandoned half-way)."""
        if self._conn is not None and not self._busy:
            try:
                self._conn.send(("exit",))
            except OSError:
                pass
            self._kill(grace=5.0)
        else:
            self._kill()


def _chain_first(first: Columns, rest: Iterator[Columns]) -> Iterator[Columns]:
    yield first
    yield from rest


# ---------------------------------------------------------------------- worker side
def _die_with_parent(parent_pid: int) -> None:
    """Exit when the parent does (see the module docstring for why)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the watchdog alone

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_WATCHDOG_SECONDS)
        os._exit(1)

    if os.getppid() != parent_pid:
        os._exit(1)  # the parent died before the signal was armed
    threading.Thread(target=watch, name="lsmkv-worker-watchdog", daemon=True).start()


class _Worker:
    """The worker's side: a loop over jobs, each run with the same functions the
    store runs in-process (compaction/job.py)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.fs = OSFileSystem()

    def context(
        self,
        dirname: str,
        settings: TableSettings,
        tracing: bool,
        new_file_number: Callable[[], int],
        readers: dict[int, TableReader],
    ) -> JobContext:
        cache = BlockCache(_WORKER_CACHE_BYTES)
        counters = Counters()

        def open_table(number: int) -> TableReader:
            reader = readers.get(number)
            if reader is None:
                path = os.path.join(dirname, filenames.table_name(number))
                try:
                    reader = TableReader(self.fs, path, number, cache, counters)
                except OSError as e:
                    # As the store's table cache says it (engine/tables.py): the file named.
                    raise DiskError.from_os(e, f"opening {path}") from e
                readers[number] = reader
            return reader

        def trace(event: str, **fields: Any) -> None:
            self.conn.send(("trace", event, fields))

        return JobContext(
            fs=self.fs,
            dirname=dirname,
            settings=settings,
            open_table=open_table,
            new_file_number=new_file_number,
            pending_outputs=set(),
            counters=counters,
            trace=trace if tracing else None,
        )

    def flush(
        self,
        dirname: str,
        settings: TableSettings,
        number: int,
        tombstones: list[RangeTombstone],
        tracing: bool,
    ) -> tuple[list[FileMeta], int]:
        ended = False
        numbers = [number]

        def runs() -> Iterator[Columns]:
            nonlocal ended
            while (chunk := self.conn.recv()) is not None:
                yield chunk
            ended = True

        def one_number() -> int:
            if not numbers:
                raise Error("a flush asked for a second table number")
            return numbers.pop()

        ctx = self.context(dirname, settings, tracing, one_number, {})
        try:
            return write_tables(runs(), tombstones, ctx, None, "flush")
        finally:
            while not ended:  # a failed flush still reads its input to the end marker
                ended = self.conn.recv() is None

    def compaction(
        self,
        dirname: str,
        settings: TableSettings,
        job: tuple[Compaction, Version, list[int], int, int],
        tracing: bool,
    ) -> tuple[VersionEdit, JobResult]:
        def ask_number() -> int:
            self.conn.send(("number",))
            number: int = self.conn.recv()
            return number

        readers: dict[int, TableReader] = {}
        ctx = self.context(dirname, settings, tracing, ask_number, readers)
        c, version, snapshots, target, overlap = job
        try:
            return run_compaction(c, version, snapshots, ctx, target, overlap)
        finally:
            for reader in readers.values():
                reader.close()

    def serve(self) -> None:
        conn = self.conn
        while True:
            try:
                message = conn.recv()
            except EOFError:
                return
            kind = message[0]
            if kind == "exit":
                return
            reply: object
            try:
                if kind == "flush":
                    reply = self.flush(*message[1:])
                elif kind == "compaction":
                    reply = self.compaction(*message[1:])
                else:
                    raise Error(f"unknown job {kind!r}")
            except Exception as e:
                if not isinstance(e, (Error, OSError)):
                    traceback.print_exc()  # a bug: keep its traceback where someone sees it
                conn.send(("error", _portable(e)))
            else:
                conn.send(("done", reply))


def _portable(e: Exception) -> Exception:
    """`e`, if it survives pickling as itself; else an Error that says what it was."""
    try:
        back = pickle.loads(pickle.dumps(e))
        if type(back) is type(e) and str(back) == str(e):
            return e
    except Exception:
        pass
    return Error(f"{type(e).__name__}: {e}")


def main(argv: list[str]) -> int:
    fd, parent_pid = int(argv[0]), int(argv[1])
    _die_with_parent(parent_pid)
    # Ctrl-C reaches the whole process group; the caller decides what it means, and a
    # worker that died of it would stop the store's background work for good
    # (_WORKER_MAIN ignores it already during the imports).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(fd)
    conn.send(("ready",))
    _Worker(conn).serve()
    return 0
