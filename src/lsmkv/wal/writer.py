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
# The bytes of a one-op record besides its key and value: crc, tail, the two headers.
ONE_OP_RECORD_BYTES = 4 + _ONE_OP.size
_CRC = struct.Struct("<I")
# A batch record after its crc: the record tail, then the batch header (seq, count).
_BATCH_TAIL = struct.Struct("<IQQI")
_BATCH_HEADER_BYTES = 12


class WalWriter(RecordWriter):
    """A WAL file being appended to. One record per batch; a write group is one `write`.

    Cost of `write`: one `os.write` of the framed records; of `sync`: one fsync.
    """

    __slots__ = ("number", "path")

    def __init__(self, fs: FileSystem, path: str, number: int) -> None:
        super().__init__(fs.create(path))
        self.path = path
        self.number = number

    def frame_batch(self, seq: int, count: int, body: bytes) -> bytes:
        """The record of a batch: byte for byte `frame(BATCH_HEADER.pack(seq, count) +
        body)`, with one copy of the body instead of two (the crc32 runs over the parts
        in turn, then one join). What a group commit writes, so a 1,000-put batch's
        130 KB are copied once on their way to `write`."""
        head = _BATCH_TAIL.pack(_BATCH_HEADER_BYTES + len(body), self.synced_offset, seq, count)
        return b"".join((_CRC.pack(zlib.crc32(body, zlib.crc32(head))), head, body))

    def append_op(self, seq: int, kind: int, key: bytes, value: bytes) -> int:
        """Append the record of a one-op batch with one write; returns its size. The
        record is byte for byte what `frame(BATCH_HEADER.pack(seq, 1) + OP.pack(kind,
        ...) + key + value)` gives, built with one pack and one crc32 (crc32 of the tail
        then the payload equals crc32 of both, so one call covers them). The lone
        unsynced writer's path: one call from the engine, one `write` to the OS.
        Raises OSError from the write (the offset then does not move).
        """
        klen = len(key)
        vlen = len(value)
        rest = (
            _ONE_OP.pack(
                _ONE_OP_HEADER_BYTES + klen + vlen, self.synced_offset, seq, 1, kind, klen, vlen
            )
            + key
            + value
        )
        self.file.write(_CRC.pack(zlib.crc32(rest)) + rest)
        size = ONE_OP_RECORD_BYTES + klen + vlen
        self.offset += size
        return size
