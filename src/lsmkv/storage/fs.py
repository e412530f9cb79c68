"""The file-system interface: the only door between the engine and the disk.

The engine never calls `open()` or an `os` file function itself (a test enforces it):
it asks a `FileSystem`. `OSFileSystem` is the real one; `lsmkv.testing.FaultFS` wraps it
to inject errors and to simulate a power loss, the way LevelDB's `Env` and Pebble's
`vfs` let their tests do. The interface is deliberately small: the engine only ever
creates a file, appends to it, syncs it, reads it at offsets, renames and removes whole
files, lists and syncs directories, and takes a lock.

Errors are the operating system's `OSError`; the engine turns them into `DiskError`.
Operation names (used by fault injection): open, read, write, fsync, rename, remove,
mkdir, listdir.
"""

from __future__ import annotations

import errno
import fcntl
import os
from abc import ABC, abstractmethod
from collections.abc import Callable

from ..errors import LockError


class WritableFile(ABC):
    """A file being written from start to end (append only)."""

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Append all of `data` (one `os.write` in the common case)."""

    @abstractmethod
    def sync(self) -> None:
        """Make every byte written so far durable (fsync). Cost: one disk flush."""

    @abstractmethod
    def close(self) -> None:
        """Close the file; unsynced data stays in the OS page cache (not durable)."""


class ReadableFile(ABC):
    """A file read at arbitrary offsets; safe to share between threads (pread)."""

    @abstractmethod
    def read_at(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes from `offset` (fewer only at the end of the file)."""

    @abstractmethod
    def size(self) -> int:
        """The file's current length in bytes."""

    @abstractmethod
    def close(self) -> None: ...


class FileLock(ABC):
    @abstractmethod
    def release(self) -> None: ...


class FileSystem(ABC):
    """What the engine may do to files. Paths are `str`."""

    @abstractmethod
    def create(self, path: str) -> WritableFile:
        """A new empty file for appending (an existing file of that name is truncated)."""

    @abstractmethod
    def open_read(self, path: str) -> ReadableFile: ...

    def read_file(self, path: str) -> bytes:
        """The whole content of a file."""
        f = self.open_read(path)
        try:
            return f.read_at(0, f.size())
        finally:
            f.close()

    @abstractmethod
    def rename(self, src: str, dst: str) -> None:
        """Atomically replace `dst` by `src` (durable only after `sync_dir`)."""

    @abstractmethod
    def remove(self, path: str) -> None: ...

    @abstractmethod
    def listdir(self, path: str) -> list[str]: ...

    @abstractmethod
    def mkdir(self, path: str) -> None:
        """Create a directory and its missing parents (no error if it exists)."""

    @abstractmethod
    def exists(self, path: str) -> bool: ...

    @abstractmethod
    def is_dir(self, path: str) -> bool: ...

    @abstractmethod
    def size(self, path: str) -> int: ...

    @abstractmethod
    def sync_dir(self, path: str) -> None:
        """fsync a directory, making the entries created, renamed or removed in it durable."""

    @abstractmethod
    def lock(self, path: str) -> FileLock:
        """Take an exclusive lock on `path` (created if missing) or raise `LockError` at once."""

    def session(self, on_power_loss: Callable[[], None] | None = None) -> FileSystem:
        """The file system one open store uses (the DB asks for it once, at open).

        A real file system returns itself. `FaultFS` returns a view that dies with a
        simulated power loss: every later operation through it fails with EIO, just as
        a process that lost power does nothing more, and `on_power_loss` is called so
        the store can refuse further calls. Cost: none after open.
        """
        return self


class _OSWritableFile(WritableFile):
    __slots__ = ("_fd", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)

    def write(self, data: bytes) -> None:
        written = os.write(self._fd, data)
        if written != len(data):
            # os.write may write less than asked (a signal, a full disk); loop until done.
            view = memoryview(data)[written:]
            while view:
                view = view[os.write(self._fd, view) :]

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class _OSReadableFile(ReadableFile):
    __slots__ = ("_fd", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    def read_at(self, offset: int, length: int) -> bytes:
        return os.pread(self._fd, length, offset)

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class _OSFileLock(FileLock):
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1


class OSFileSystem(FileSystem):
    """The real file system, through `os` calls."""

    def create(self, path: str) -> WritableFile:
        return _OSWritableFile(path)

    def open_read(self, path: str) -> ReadableFile:
        return _OSReadableFile(path)

    def rename(self, src: str, dst: str) -> None:
        os.rename(src, dst)

    def remove(self, path: str) -> None:
        os.remove(path)

    def listdir(self, path: str) -> list[str]:
        return sorted(os.listdir(path))

    def mkdir(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    def size(self, path: str) -> int:
        return os.stat(path).st_size

    def sync_dir(self, path: str) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def lock(self, path: str) -> FileLock:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            # flock (not fcntl's POSIX locks) conflicts between two opens in the same
            # process too, so a second lsmkv.open() of a path in one process is refused.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise LockError(f"{path}: the store is already open for writing") from None
            raise
        return _OSFileLock(fd)
