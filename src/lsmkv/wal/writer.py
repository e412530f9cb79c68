"""Appending write groups to the current WAL file."""

from __future__ import annotations

from ..record import RecordWriter
from ..storage.fs import FileSystem


class WalWriter(RecordWriter):
    """A WAL file being appended to. One record per batch; a write group is one `write`.

    Cost of `write`: one `os.write` of the framed records; of `sync`: one fsync.
    """

    __slots__ = ("number", "path")

    def __init__(self, fs: FileSystem, path: str, number: int) -> None:
        super().__init__(fs.create(path))
        self.path = path
        self.number = number
