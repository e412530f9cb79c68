"""Checksummed record framing, shared by the write-ahead log and the manifest.

A file is a sequence of records, each one header and a payload (docs/format/wal.md):

    +---------+---------+------------------+-------------------+
    | crc32   | length  | synced_offset    | payload           |
    | u32 LE  | u32 LE  | u64 LE           | `length` bytes    |
    +---------+---------+------------------+-------------------+
      crc32 (zlib) covers length, synced_offset and the payload.

`synced_offset` is the file length known to be durable (fsync'd) when the record was
written. It is what lets recovery tell a torn tail from damage (Pebble's WAL does the
same): a record that fails its checksum is a *torn tail* only if no later valid record
claims that the bytes at its offset had already been synced. If one does, the bad
record was acknowledged data and the file is corrupt. An empty record (a *seal*,
`RecordWriter.seal`) carries nothing but that claim: the manifest writes one after every
edit and a clean close writes one at the end of the WAL, so no acted-upon edit and no
record of a cleanly closed WAL can be mistaken for a torn tail. The WAL and manifest
`read_records` drops empty records (neither ever writes an empty payload otherwise).
"""

from __future__ import annotations

import struct
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

from .errors import CorruptionError
from .storage.fs import WritableFile

HEADER = struct.Struct("<IIQ")
HEADER_SIZE = HEADER.size  # 16
_TAIL = struct.Struct("<IQ")
_CRC = struct.Struct("<I")
MAX_RECORD_BYTES = 0xFFFFFFFF


def encode_record(payload: bytes, synced_offset: int) -> bytes:
    """One framed record. Cost: one crc32 over the payload and two small packs."""
    tail = _TAIL.pack(len(payload), synced_offset)
    return _CRC.pack(zlib.crc32(payload, zlib.crc32(tail))) + tail + payload


class RecordWriter:
    """Appends framed records to a file and tracks how much of it is durable."""

    __slots__ = ("file", "offset", "synced_offset")

    def __init__(self, file: WritableFile) -> None:
        self.file = file
        self.offset = 0  # bytes appended so far
        self.synced_offset = 0  # bytes known durable

    def frame(self, payload: bytes) -> bytes:
        """Frame a payload as the next record (the caller writes the bytes with `write`)."""
        return encode_record(payload, self.synced_offset)

    def write(self, framed: bytes) -> None:
        """Append already-framed records (one or several, in one write)."""
        self.file.write(framed)
        self.offset += len(framed)

    def append(self, payload: bytes) -> None:
        self.write(self.frame(payload))

    def sync(self) -> None:
        """fsync; on success every record appended so far is durable."""
        self.file.sync()
        self.synced_offset = self.offset

    def seal(self) -> None:
        """fsync, then append an empty record and fsync again. Cost: two fsyncs.

        The empty record's `synced_offset` vouches that every byte before it is durable,
        so damage to any earlier record, the last one included, reads as corruption
        rather than as a torn tail. Readers skip empty records.
        """
        self.sync()
        self.append(b"")
        self.sync()

    def close(self) -> None:
        self.file.close()


def _valid_at(data: bytes, pos: int) -> tuple[int, int] | None:
    """`(payload_length, synced_offset)` if a checksum-valid record starts at `pos`."""
    if pos + HEADER_SIZE > len(data):
        return None
    crc, length, synced = HEADER.unpack_from(data, pos)
    end = pos + HEADER_SIZE + length
    if end > len(data):
        return None
    body = memoryview(data)[pos + HEADER_SIZE : end]
    if zlib.crc32(body, zlib.crc32(data[pos + 4 : pos + HEADER_SIZE])) != crc:
        return None
    return length, synced


def _later_records(data: bytes, start: int) -> Iterator[tuple[int, int, int]]:
    """Checksum-valid records found by scanning byte by byte from `start` (recovery only).

    Yields `(offset, payload_length, synced_offset)`. Slow (it tries every offset), but it
    only runs after a damaged record, to decide whether the damage hid acknowledged data.
    """
    pos = start
    n = len(data)
    while pos + HEADER_SIZE <= n:
        found = _valid_at(data, pos)
        if found is not None:
            yield pos, found[0], found[1]
            pos += HEADER_SIZE + found[0]
        else:
            pos += 1


@dataclass
class ReadResult:
    """What reading a record file found."""

    records: list[tuple[int, bytes]] = field(default_factory=list)  # (offset, payload)
    # With `read_records(..., payloads=False)`: the offsets of the records to keep, in
    # place of `records` (8 bytes each instead of a payload copy; see `payload_at`).
    offsets: array[int] = field(default_factory=lambda: array("Q"))
    valid_end: int = 0  # offset just past the last record kept
    dropped_tail_bytes: int = 0  # bytes of a torn tail (or skipped damage) not replayed
    damaged_offsets: list[int] = field(default_factory=list)
    stopped_early: bool = False  # point_in_time mode stopped at damage


def payload_at(data: bytes, offset: int) -> bytes:
    """The payload of the (already checked) record at `offset` of `data`."""
    (length,) = _CRC.unpack_from(data, offset + 4)
    start = offset + HEADER_SIZE
    return data[start : start + length]


def read_records(
    data: bytes, path: str, *, fully_synced: bool, mode: str = "strict", payloads: bool = True
) -> ReadResult:
    """Parse every record of a file's content, applying a recovery mode to damage.

    `payloads=False` records only the kept records' offsets (`ReadResult.offsets`, read
    back with `payload_at`) instead of a copy of each payload: a replay of a large WAL
    then holds the file once, not twice.

    `fully_synced`: the writer finished the file and fsync'd it (an older WAL, a manifest
    that was rolled over), so it cannot have a torn tail and any damage is corruption.
    Modes are those of `Options.wal_recovery_mode`.

    Raises:
        CorruptionError: damage that the mode does not tolerate (names file and offset).
    """
    result = ReadResult()
    pos = 0
    n = len(data)
    while pos < n:
        found = _valid_at(data, pos)
        if found is not None:
            length, _synced = found
            start = pos + HEADER_SIZE
            if not length:
                pass  # a seal vouches for what came before it and carries nothing
            elif payloads:
                result.records.append((pos, bytes(data[start : start + length])))
            else:
                result.offsets.append(pos)
            pos = start + length
            result.valid_end = pos
            continue
        # A record that is short or fails its checksum.
        result.damaged_offsets.append(pos)
        if mode == "absolute_consistency":
            raise CorruptionError("damaged record (absolute_consistency mode)", path, pos)
        if mode == "point_in_time":
            result.dropped_tail_bytes = n - pos
            result.stopped_early = True
            return result
        later = next(
            (rec for rec in _later_records(data, pos + 1) if fully_synced or rec[2] > pos),
            None,
        )
        if mode == "skip_any_corrupted":
            if later is None:
                result.dropped_tail_bytes = n - pos
                return result
            result.dropped_tail_bytes += later[0] - pos
            pos = later[0]
            continue
        # strict: tolerate only a tail that no durable record vouches for.
        if fully_synced:
            raise CorruptionError("damaged record in a fully synced file", path, pos)
        if later is not None:
            raise CorruptionError(
                f"damaged record, but a later record at offset {later[0]} says "
                f"bytes up to {later[2]} had been synced",
                path,
                pos,
            )
        # Why this is not an error: nothing at or after `pos` was ever acknowledged as
        # durable, so a crash mid-write explains it and no acknowledged write is lost.
        result.dropped_tail_bytes = n - pos
        return result
    return result
