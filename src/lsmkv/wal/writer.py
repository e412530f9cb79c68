"""Appending write groups to the current WAL file."""

from __future__ import annotations

import struct
import zlib

from ..record import RecordWriter
from ..storage.fs import FileSystem

# A whole one-op record after its crc: the record tail (payload length, synced offset),
# the batch header (seq, count=1) and the op header (kind, key length, value length).
# Layouts: record.py, engine/commit.py (BATCH_HEADER) and batch.py (OP).
_ONE_OP = struct.Struct("<IQQIBII")
_ONE_OP_HEADER_BYTES = 12 + 9  # batch header + op header, inside the payload
_CRC = struct.Struct("<I")


class WalWriter(RecordWriter):
    """A WAL file being appended to. One record per batch; a write group is one `write`.

    Cost of `write`: one `os.write` of the framed records; of `sync`: one fsync.
    """

    __slots__ = ("number", "path")

    def __init__(self, fs: FileSystem, path: str, number: int) -> None:
        super().__init__(fs.create(path))
        self.path = path
        self.number = number

    def append_op(self, seq: int, kind: int, key: bytes, value: bytes) -> int:
        """Append the record of a one-op batch with one write; returns its size. The
        record is byte for byte what `frame(BATCH_HEADER.pack(seq, 1) + OP.pack(kind,
        ...) + key + value)` gives, built with one pack and one crc32 (crc32 of the tail
        then the payload equals crc32 of both, so one call covers them). The lone
        unsynced writer's path: one call from the engine, one `write` to the OS.
        Raises OSError from the write (the offset then does not move).
        """
        rest = (
            _ONE_OP.pack(
                _ONE_OP_HEADER_BYTES + len(key) + len(value),
                self.synced_offset,
                seq,
                1,
                kind,
                len(key),
                len(value),
            )
            + key
            + value
        )
        framed = _CRC.pack(zlib.crc32(rest)) + rest
        self.file.write(framed)
        self.offset += len(framed)
        return len(framed)
