"""`FaultFS`: a file system that fails on purpose and loses power on demand.

It wraps another `FileSystem` (the real one by default, or `MemFS` for speed) and
passes every operation through, while it

- remembers, per file, how many bytes an fsync made durable, and per directory which
  entries were created, renamed or removed since the directory was last fsync'd;
- on `power_loss()` rewrites the inner file system to what a POSIX disk may hold after
  a power cut (three modes, below), kills every handle and session opened before, and
  releases their locks, so the next `lsmkv.open(path, fs=fs)` is a recovery;
- fails the N-th operation of a kind with an errno (`inject`), or refuses writes to a
  read-only file (`make_read_only`).

The idea is LevelDB's FaultInjectionTestEnv and Pebble's errorfs/strict MemFS; the code
is ours. Power-loss modes (`mode=`):

    "drop"     every byte written since the last fsync of its file is gone, and every
               directory entry created, renamed or removed since the last fsync of its
               directory is undone: exactly what POSIX guarantees, nothing more.
    "subset"   unsynced data survives in random 4 KiB pages (a dropped page before a
               kept one reads as zeros), and a random prefix of each directory's
               unsynced entry changes survives (journaling file systems commit
               metadata in order).
    "garbage"  each file's unsynced tail survives up to a random byte; from there to
               the length the file had, it holds zeros or random garbage (the
               torn-sector case). Directory changes are undone as in "drop".

Operation names for `inject`: open (create, open_read, lock), read, write, fsync (files
and directories), rename, remove, mkdir, listdir.

    >>> fs = FaultFS(MemFS())
    >>> db = lsmkv.open("/db", fs=fs)
    >>> db.put(b"k", b"v", sync=False)
    >>> fs.power_loss()            # the unsynced put is gone; db is dead
    >>> db = lsmkv.open("/db", fs=fs)
    >>> print(db.get(b"k"))
    None
    >>> db.close()
"""

from __future__ import annotations

import errno as errno_codes
import os
import random
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from .fs import FileLock, FileSystem, OSFileSystem, ReadableFile, WritableFile
from .memfs import MemFS

OPERATIONS = ("open", "read", "write", "fsync", "rename", "remove", "mkdir", "listdir")
MODES = ("drop", "subset", "garbage")
PAGE = 4096


def _norm(path: str) -> str:
    return os.path.normpath(os.path.abspath(path))


def _oserror(code: int, path: str, why: str = "") -> OSError:
    text = os.strerror(code) + (f" ({why})" if why else "")
    return OSError(code, text, path)


@dataclass
class _FileState:
    """What of one file (an inode: it follows renames) is durable."""

    synced: int = 0  # bytes made durable by the last successful fsync
    length: int = 0  # bytes written so far


@dataclass
class _Rule:
    op: str
    errno: int
    after: int
    times: int | None  # None: every time until clear()
    match: str | None  # only paths containing this text


@dataclass
class _Journal:
    """Directory changes not yet made durable by an fsync of the directory."""

    events: list[tuple[object, ...]] = field(default_factory=list)


def _put(target: FileSystem, path: str, data: bytes) -> None:
    f = target.create(path)
    try:
        f.write(data)
        f.sync()
    finally:
        f.close()


def _crash_content(data: bytes, synced: int, mode: str, rng: random.Random) -> bytes:
    """What a file holding `data`, of which `synced` bytes are durable, holds after a cut."""
    if len(data) <= synced:
        return data
    if mode == "drop":
        return data[:synced]
    if mode == "garbage":
        cut = rng.randint(synced, len(data))
        rest = len(data) - cut
        fill = bytes(rest) if rng.random() < 0.5 else rng.randbytes(rest)
        return data[:cut] + fill
    # subset: pages of the unsynced part survive independently.
    out = bytearray(data[:synced])
    kept_end = synced
    pos = synced
    while pos < len(data):
        end = min(len(data), (pos // PAGE + 1) * PAGE)
        if rng.random() < 0.5:
            out += bytes(pos - len(out)) if len(out) < pos else b""
            out += data[pos:end]
            kept_end = end
        pos = end
    return bytes(out[:kept_end])


class FaultFS(FileSystem):
    """A `FileSystem` wrapper with fault injection and simulated power loss (tests only).

    Thread-safe: one lock serialises every operation, which is what lets a crash image
    be taken from another thread at any instant. Counters: `ops` (operations seen, by
    name), `faults` (injected errors raised), `power_losses`.
    """

    def __init__(self, inner: FileSystem | None = None, *, seed: int | None = None) -> None:
        self.inner: FileSystem = inner if inner is not None else OSFileSystem()
        self._mutex = threading.RLock()
        self._rng = random.Random(seed)
        self._epoch = 0
        self._files: dict[str, _FileState] = {}
        self._journals: dict[str, _Journal] = {}
        self._rules: list[_Rule] = []
        self._read_only: set[str] = set()
        self._locks: list[tuple[int, FileLock]] = []
        self._callbacks: list[tuple[int, Callable[[], None]]] = []
        self._handles: weakref.WeakSet[_FaultWritable | _FaultReadable] = weakref.WeakSet()
        self.ops: dict[str, int] = dict.fromkeys(OPERATIONS, 0)
        # Called as hook(op, path) before every operation (mutex held): a test can take
        # a crash_image() at exactly that instant, or cut the power there.
        self.hook: Callable[[str, str], None] | None = None
        # Called as on_fault(op, errno, path) just before an injected error is raised.
        self.on_fault: Callable[[str, int, str], None] | None = None
        self.faults = 0
        self.power_losses = 0

    # ------------------------------------------------------------ fault control
    def inject(
        self,
        op: str,
        errno: int,
        after: int = 0,
        *,
        times: int | None = 1,
        match: str | None = None,
    ) -> None:
        """Fail an operation of kind `op` with `errno` once `after` more have succeeded.

        `times`: how many operations fail from then on (None: all, until `clear()`),
        `match`: only operations on paths containing this text count.

        >>> import errno
        >>> fs = FaultFS(MemFS())
        >>> fs.inject("write", errno.ENOSPC, after=3)   # the 4th write from now fails
        """
        if op not in OPERATIONS:
            raise ValueError(f"unknown operation {op!r}; expected one of {OPERATIONS}")
        with self._mutex:
            self._rules.append(_Rule(op, errno, after, times, match))

    def clear(self) -> None:
        """No more injected faults (read-only files become writable again)."""
        with self._mutex:
            self._rules.clear()
            self._read_only.clear()

    def make_read_only(self, path: str) -> None:
        """Creating or writing `path` fails with EACCES from now on (until `clear()`)."""
        with self._mutex:
            self._read_only.add(_norm(path))

    def _check(self, op: str, path: str, epoch: int | None) -> None:
        """Called with the mutex held before each operation: raise what is due."""
        if epoch is not None and epoch != self._epoch:
            raise _oserror(errno_codes.EIO, path, "power was lost since this was opened")
        self.ops[op] += 1
        if self.hook is not None:
            self.hook(op, path)
        for rule in self._rules:
            if rule.op != op or (rule.match is not None and rule.match not in path):
                continue
            if rule.after > 0:
                rule.after -= 1
                continue
            if rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:
                    self._rules.remove(rule)
            self.faults += 1
            if self.on_fault is not None:
                self.on_fault(op, rule.errno, path)
            raise _oserror(rule.errno, path, "injected")

    def _journal(self, path: str, event: tuple[object, ...]) -> None:
        self._journals.setdefault(os.path.dirname(path), _Journal()).events.append(event)

    def _durable_content(self, p: str) -> bytes | None:
        """The bytes of `p` a power cut now would leave (None: no such file)."""
        if not self.inner.exists(p) or self.inner.is_dir(p):
            return None
        data = self.inner.read_file(p)
        state = self._files.get(p)
        return data if state is None else data[: state.synced]

    # --------------------------------------------------- FileSystem operations
    def _create(self, path: str, epoch: int | None) -> WritableFile:
        p = _norm(path)
        with self._mutex:
            self._check("open", path, epoch)
            if p in self._read_only:
                raise _oserror(errno_codes.EACCES, path, "read-only file")
            existed = self.inner.exists(p)
            inner = self.inner.create(path)
            if not existed:
                self._journal(p, ("create", p, None))
            state = _FileState()
            self._files[p] = state
            handle = _FaultWritable(self, inner, state, p, self._epoch)
            self._handles.add(handle)
            return handle

    def _open_read(self, path: str, epoch: int | None) -> ReadableFile:
        with self._mutex:
            self._check("open", path, epoch)
            handle = _FaultReadable(self, self.inner.open_read(path), path, self._epoch)
            self._handles.add(handle)
            return handle

    def _read_file(self, path: str, epoch: int | None) -> bytes:
        with self._mutex:
            self._check("open", path, epoch)
            self._check("read", path, epoch)
            return self.inner.read_file(path)

    def _rename(self, src: str, dst: str, epoch: int | None) -> None:
        s, d = _norm(src), _norm(dst)
        with self._mutex:
            self._check("rename", dst, epoch)
            backup = self._durable_content(d)
            self.inner.rename(src, dst)
            self._journal(d, ("rename", s, d, backup))
            state = self._files.pop(s, None)
            self._files.pop(d, None)
            if state is not None:
                self._files[d] = state

    def _remove(self, path: str, epoch: int | None) -> None:
        p = _norm(path)
        with self._mutex:
            self._check("remove", path, epoch)
            backup = self._durable_content(p)
            self.inner.remove(path)
            self._journal(p, ("remove", p, backup))
            self._files.pop(p, None)

    def _listdir(self, path: str, epoch: int | None) -> list[str]:
        with self._mutex:
            self._check("listdir", path, epoch)
            return self.inner.listdir(path)

    def _mkdir(self, path: str, epoch: int | None) -> None:
        p = _norm(path)
        with self._mutex:
            self._check("mkdir", path, epoch)
            missing = []
            q = p
            while not self.inner.exists(q):
                missing.append(q)
                q = os.path.dirname(q)
            self.inner.mkdir(path)
            for d in reversed(missing):
                self._journal(d, ("mkdir", d, None))

    def _stat(self, epoch: int | None, path: str) -> None:
        with self._mutex:
            if epoch is not None and epoch != self._epoch:
                raise _oserror(errno_codes.EIO, path, "power was lost since this was opened")

    def _sync_dir(self, path: str, epoch: int | None) -> None:
        with self._mutex:
            self._check("fsync", path, epoch)
            self.inner.sync_dir(path)
            self._journals.pop(_norm(path), None)

    def _lock(self, path: str, epoch: int | None) -> FileLock:
        with self._mutex:
            self._check("open", path, epoch)
            lock = self.inner.lock(path)
            self._locks.append((self._epoch, lock))
            return lock

    # The public FileSystem face: operations "now", valid in every epoch.
    def create(self, path: str) -> WritableFile:
        return self._create(path, None)

    def open_read(self, path: str) -> ReadableFile:
        return self._open_read(path, None)

    def read_file(self, path: str) -> bytes:
        return self._read_file(path, None)

    def rename(self, src: str, dst: str) -> None:
        self._rename(src, dst, None)

    def remove(self, path: str) -> None:
        self._remove(path, None)

    def listdir(self, path: str) -> list[str]:
        return self._listdir(path, None)

    def mkdir(self, path: str) -> None:
        self._mkdir(path, None)

    def exists(self, path: str) -> bool:
        return self.inner.exists(path)

    def is_dir(self, path: str) -> bool:
        return self.inner.is_dir(path)

    def size(self, path: str) -> int:
        return self.inner.size(path)

    def sync_dir(self, path: str) -> None:
        self._sync_dir(path, None)

    def lock(self, path: str) -> FileLock:
        return self._lock(path, None)

    def session(self, on_power_loss: Callable[[], None] | None = None) -> FileSystem:
        with self._mutex:
            if on_power_loss is not None:
                self._callbacks.append((self._epoch, on_power_loss))
            return _Session(self, self._epoch)

    # --------------------------------------------------------------- power loss
    def power_loss(self, mode: str = "drop", seed: int | None = None) -> None:
        """Cut the power: the inner file system keeps only what `mode` lets survive.

        Every store opened on this FaultFS before is dead afterwards (its calls raise
        `lsmkv.Error`; its file handles fail with EIO) and its lock is released, so
        `lsmkv.open(path, fs=fs)` next is a recovery. Injected faults stay armed.
        Cost: rewrites each file with unsynced bytes; O(bytes of those files).
        """
        if mode not in MODES:
            raise ValueError(f"unknown power-loss mode {mode!r}; expected one of {MODES}")
        with self._mutex:
            rng = random.Random(seed) if seed is not None else self._rng
            self._apply_crash(self.inner, mode, rng)
            self._files.clear()
            self._journals.clear()
            old = self._epoch
            self._epoch += 1
            self.power_losses += 1
            for handle in list(self._handles):
                handle._kill()
            for _, lock in self._locks:
                lock.release()
            self._locks.clear()
            callbacks = [cb for epoch, cb in self._callbacks if epoch <= old]
            self._callbacks.clear()
        for cb in callbacks:
            cb()

    def crash_image(self, mode: str = "drop", seed: int | None = None) -> MemFS:
        """A copy of what the disk would hold if power were cut now; nothing changes here.

        Needs a `MemFS` inside. This is how one running workload yields hundreds of crash
        images cheaply. Cost: one copy of every file.
        """
        if mode not in MODES:
            raise ValueError(f"unknown power-loss mode {mode!r}; expected one of {MODES}")
        if not isinstance(self.inner, MemFS):
            raise TypeError("crash_image() needs FaultFS(MemFS())")
        with self._mutex:
            image = self.inner.clone()
            self._apply_crash(image, mode, random.Random(seed) if seed is not None else self._rng)
            return image

    def _apply_crash(self, target: FileSystem, mode: str, rng: random.Random) -> None:
        """Rewrite `target` (the inner fs or a copy of it) as a power cut in `mode` leaves it."""
        for path, state in self._files.items():
            if state.length > state.synced and target.exists(path):
                data = target.read_file(path)
                _put(target, path, _crash_content(data, state.synced, mode, rng))
        for _, journal in sorted(self._journals.items()):
            events = journal.events
            keep = rng.randint(0, len(events)) if mode == "subset" else 0
            for event in reversed(events[keep:]):
                self._undo(target, event)

    @staticmethod
    def _undo(target: FileSystem, event: tuple[object, ...]) -> None:
        kind = event[0]
        if kind == "create":
            path = str(event[1])
            if target.exists(path) and not target.is_dir(path):
                target.remove(path)
        elif kind == "remove":
            path, backup = str(event[1]), event[2]
            if isinstance(backup, bytes):
                _put(target, path, backup)
        elif kind == "rename":
            src, dst, backup = str(event[1]), str(event[2]), event[3]
            moved = target.read_file(dst) if target.exists(dst) else None
            if isinstance(backup, bytes):
                _put(target, dst, backup)
            elif moved is not None:
                target.remove(dst)
            if moved is not None:
                _put(target, src, moved)
        elif kind == "mkdir":
            remove_tree = getattr(target, "remove_tree", None)
            if remove_tree is not None:  # MemFS; a real directory tree is left alone
                remove_tree(str(event[1]))


class _FaultHandle:
    """What both kinds of open file share: the inner file, and death at a power loss
    (after which every call fails with EIO, as on a machine that lost its disk)."""

    __slots__ = ("_dead", "_epoch", "_fs", "_inner", "path")

    def __init__(
        self, fs: FaultFS, inner: WritableFile | ReadableFile, path: str, epoch: int
    ) -> None:
        self._fs = fs
        self._inner = inner
        self.path = path
        self._epoch = epoch
        self._dead = False

    def _kill(self) -> None:
        self._dead = True
        try:
            self._inner.close()
        except OSError:
            pass

    def _alive(self) -> None:
        if self._dead:
            raise _oserror(errno_codes.EIO, self.path, "power was lost")

    def close(self) -> None:
        if not self._dead:
            self._inner.close()


class _FaultWritable(_FaultHandle, WritableFile):
    __slots__ = ("_state", "_writer")

    def __init__(
        self, fs: FaultFS, inner: WritableFile, state: _FileState, path: str, epoch: int
    ) -> None:
        super().__init__(fs, inner, path, epoch)
        self._writer = inner
        self._state = state

    def write(self, data: bytes) -> None:
        fs = self._fs
        with fs._mutex:
            self._alive()
            fs._check("write", self.path, self._epoch)
            if _norm(self.path) in fs._read_only:
                raise _oserror(errno_codes.EACCES, self.path, "read-only file")
            self._writer.write(data)
            self._state.length += len(data)

    def sync(self) -> None:
        fs = self._fs
        with fs._mutex:
            self._alive()
            fs._check("fsync", self.path, self._epoch)
            self._writer.sync()
            self._state.synced = self._state.length


class _FaultReadable(_FaultHandle, ReadableFile):
    __slots__ = ("_reader",)

    def __init__(self, fs: FaultFS, inner: ReadableFile, path: str, epoch: int) -> None:
        super().__init__(fs, inner, path, epoch)
        self._reader = inner

    def read_at(self, offset: int, length: int) -> bytes:
        fs = self._fs
        with fs._mutex:
            self._alive()
            fs._check("read", self.path, self._epoch)
            return self._reader.read_at(offset, length)

    def size(self) -> int:
        self._alive()
        return self._reader.size()


class _Session(FileSystem):
    """One open store's view of a FaultFS: dead (EIO) once power is lost."""

    def __init__(self, fs: FaultFS, epoch: int) -> None:
        self._fs = fs
        self._epoch = epoch

    def create(self, path: str) -> WritableFile:
        return self._fs._create(path, self._epoch)

    def open_read(self, path: str) -> ReadableFile:
        return self._fs._open_read(path, self._epoch)

    def read_file(self, path: str) -> bytes:
        return self._fs._read_file(path, self._epoch)

    def rename(self, src: str, dst: str) -> None:
        self._fs._rename(src, dst, self._epoch)

    def remove(self, path: str) -> None:
        self._fs._remove(path, self._epoch)

    def listdir(self, path: str) -> list[str]:
        return self._fs._listdir(path, self._epoch)

    def mkdir(self, path: str) -> None:
        self._fs._mkdir(path, self._epoch)

    def exists(self, path: str) -> bool:
        self._fs._stat(self._epoch, path)
        return self._fs.inner.exists(path)

    def is_dir(self, path: str) -> bool:
        self._fs._stat(self._epoch, path)
        return self._fs.inner.is_dir(path)

    def size(self, path: str) -> int:
        self._fs._stat(self._epoch, path)
        return self._fs.inner.size(path)

    def sync_dir(self, path: str) -> None:
        self._fs._sync_dir(path, self._epoch)

    def lock(self, path: str) -> FileLock:
        return self._fs._lock(path, self._epoch)


__all__ = ["MODES", "OPERATIONS", "FaultFS"]
