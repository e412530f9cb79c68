"""The error hierarchy of lsmkv. Every error the engine raises on purpose derives from `Error`."""

from __future__ import annotations

import errno as errno_codes


class Error(Exception):
    """Base class of every lsmkv error."""


class LockError(Error):
    """The store is already open for writing (in this process or another)."""


class NotFoundError(Error):
    """The store does not exist and `create_if_missing=False` was given."""


class ReadOnlyError(Error):
    """A write was attempted on a store opened with `read_only=True`."""


class ClosedError(Error):
    """The store was closed; open it again to use it."""


class CorruptionError(Error):
    """A checksum or format check failed. The message names the file and the offset.

    Attributes:
        path: the file in which the damage was found (or `None` when not file-specific).
        offset: the byte offset of the damaged record or block (or `None`).
    """

    def __init__(self, message: str, path: str | None = None, offset: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}" + (f" at offset {offset}" if offset is not None else "") + ": "
        super().__init__(where + message)
        self.path = path
        self.offset = offset


class DiskError(Error):
    """An I/O failure from the operating system, such as ENOSPC or EIO.

    Attributes:
        errno: the OS error code (`errno.ENOSPC`, `errno.EIO`, ...), or `None`.
    """

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno

    @classmethod
    def from_os(cls, e: OSError, what: str) -> DiskError:
        """The DiskError for an OSError met while doing `what` (errno name in the text)."""
        code = e.errno
        name = errno_codes.errorcode.get(code, str(code)) if code is not None else "?"
        return cls(f"{what}: {e.strerror or e} ({name})", code)
