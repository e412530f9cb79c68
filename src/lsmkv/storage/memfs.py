"""`MemFS`: a whole file system in memory, for fast tests (Pebble's `vfs.MemFS` idea).

Every file is a `bytearray` under its absolute path; directories are a set of paths. It
behaves like a POSIX file system for everything the engine does (append-only files,
positional reads, atomic rename, flock-style locks that conflict within one process),
and costs no system call, so a test can build and recover hundreds of stores a second.

MemFS itself never loses data: wrap it in `FaultFS` to simulate power loss and errors.
`clone()` copies the whole tree, which is how `FaultFS.crash_image()` produces a
power-cut image of a running store without stopping it.
"""

from __future__ import annotations

import errno
import os
import threading

from ..errors import LockError
from .fs import FileLock, FileSystem, ReadableFile, WritableFile


def _norm(path: str) -> str:
    return os.path.normpath(os.path.abspath(path))


def _oserror(code: int, path: str) -> OSError:
    return OSError(code, os.strerror(code), path)


class _MemWritable(WritableFile):
    __slots__ = ("_closed", "_data", "path")

    def __init__(self, data: bytearray, path: str) -> None:
        self._data = data
        self._closed = False
        self.path = path

    def write(self, data: bytes) -> None:
        if self._closed:
            raise _oserror(errno.EBADF, self.path)
        self._data += data

    def sync(self) -> None:
        if self._closed:
            raise _oserror(errno.EBADF, self.path)

    def close(self) -> None:
        self._closed = True


class _MemReadable(ReadableFile):
    __slots__ = ("_data", "path")

    def __init__(self, data: bytearray, path: str) -> None:
        self._data = data
        self.path = path

    def read_at(self, offset: int, length: int) -> bytes:
        return bytes(self._data[offset : offset + length])

    def size(self) -> int:
        return len(self._data)

    def close(self) -> None:
        pass


class _MemLock(FileLock):
    def __init__(self, fs: MemFS, path: str) -> None:
        self._fs = fs
        self._path = path
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            with self._fs._mutex:
                self._fs._locks.discard(self._path)


class MemFS(FileSystem):
    """An in-memory file system. Thread-safe; every operation costs a dict access.

    >>> fs = MemFS()
    >>> with lsmkv.open("/db", fs=fs) as db:
    ...     db.put(b"k", b"v")
    >>> fs.listdir("/db")
    ['000002.log', 'CURRENT', 'LOCK', 'MANIFEST-000001']
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._files: dict[str, bytearray] = {}
        self._dirs: set[str] = {"/"}
        self._locks: set[str] = set()

    # A file keeps its bytearray identity across renames, like an inode: a reader
    # opened before a rename or remove keeps reading the same bytes.
    def create(self, path: str) -> WritableFile:
        p = _norm(path)
        with self._mutex:
            self._check_parent(p)
            if p in self._dirs:
                raise _oserror(errno.EISDIR, path)
            data = bytearray()
            self._files[p] = data
        return _MemWritable(data, path)

    def open_read(self, path: str) -> ReadableFile:
        p = _norm(path)
        with self._mutex:
            data = self._files.get(p)
            if data is None:
                raise _oserror(errno.EISDIR if p in self._dirs else errno.ENOENT, path)
        return _MemReadable(data, path)

    def read_file(self, path: str) -> bytes:
        p = _norm(path)
        with self._mutex:
            data = self._files.get(p)
            if data is None:
                raise _oserror(errno.EISDIR if p in self._dirs else errno.ENOENT, path)
            return bytes(data)

    def rename(self, src: str, dst: str) -> None:
        s, d = _norm(src), _norm(dst)
        with self._mutex:
            if s not in self._files:
                raise _oserror(errno.ENOENT, src)
            self._check_parent(d)
            self._files[d] = self._files.pop(s)

    def remove(self, path: str) -> None:
        p = _norm(path)
        with self._mutex:
            if p not in self._files:
                raise _oserror(errno.EISDIR if p in self._dirs else errno.ENOENT, path)
            del self._files[p]

    def listdir(self, path: str) -> list[str]:
        p = _norm(path)
        with self._mutex:
            if p not in self._dirs:
                raise _oserror(errno.ENOTDIR if p in self._files else errno.ENOENT, path)
            names = {os.path.basename(f) for f in self._files if os.path.dirname(f) == p}
            names |= {os.path.basename(d) for d in self._dirs if d != p and os.path.dirname(d) == p}
            return sorted(names)

    def mkdir(self, path: str) -> None:
        p = _norm(path)
        with self._mutex:
            parts = []
            while p not in self._dirs:
                if p in self._files:
                    raise _oserror(errno.EEXIST, path)
                parts.append(p)
                p = os.path.dirname(p)
            self._dirs.update(parts)

    def exists(self, path: str) -> bool:
        p = _norm(path)
        with self._mutex:
            return p in self._files or p in self._dirs

    def is_dir(self, path: str) -> bool:
        with self._mutex:
            return _norm(path) in self._dirs

    def size(self, path: str) -> int:
        p = _norm(path)
        with self._mutex:
            data = self._files.get(p)
            if data is None:
                raise _oserror(errno.ENOENT, path)
            return len(data)

    def sync_dir(self, path: str) -> None:
        with self._mutex:
            if _norm(path) not in self._dirs:
                raise _oserror(errno.ENOENT, path)

    def lock(self, path: str) -> FileLock:
        p = _norm(path)
        with self._mutex:
            self._check_parent(p)
            if p in self._locks:
                raise LockError(f"{path}: the store is already open for writing")
            self._locks.add(p)
            self._files.setdefault(p, bytearray())
        return _MemLock(self, p)

    # ----------------------------------------------------------- test helpers
    def clone(self) -> MemFS:
        """A deep copy of every file and directory (locks are not copied). Cost: O(bytes)."""
        other = MemFS()
        with self._mutex:
            other._files = {p: bytearray(d) for p, d in self._files.items()}
            other._dirs = set(self._dirs)
        return other

    def remove_tree(self, path: str) -> None:
        """Remove a directory and everything under it (power-loss images use it)."""
        p = _norm(path)
        with self._mutex:
            inside = p + os.sep
            self._files = {f: d for f, d in self._files.items() if not f.startswith(inside)}
            self._dirs = {d for d in self._dirs if d != p and not d.startswith(inside)}

    def write_file(self, path: str, data: bytes) -> None:
        """Replace a file's whole content (tests use it to damage files)."""
        p = _norm(path)
        with self._mutex:
            self._check_parent(p)
            self._files[p] = bytearray(data)

    def _check_parent(self, p: str) -> None:
        if os.path.dirname(p) not in self._dirs:
            raise _oserror(errno.ENOENT, p)
