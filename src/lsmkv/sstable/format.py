"""Block trailers, block handles and the footer of an SSTable (docs/format/sstable.md).

Every block on disk is followed by a 5-byte trailer:

    +-----------------+-------------------+
    | compression u8  | crc32 u32 LE      |   crc32 (zlib) over the stored block + the u8
    +-----------------+-------------------+

The file ends with a fixed 64-byte footer:

    +------------------------------------------+  four block handles, each
    | index      offset u64 | size u32         |  offset u64 + size u32 (size of the
    | filter     offset u64 | size u32         |  stored block, trailer excluded;
    | range_del  offset u64 | size u32         |  size 0 = no such block)
    | properties offset u64 | size u32         |
    | format_version u32                       |
    | magic u64 = 0x5453536b766d736c "lsmkvSST"|
    | crc32 u32 of the 60 bytes above          |
    +------------------------------------------+
"""

from __future__ import annotations

import struct
import zlib
from typing import Final, NamedTuple

from ..errors import CorruptionError
from ..storage.fs import ReadableFile

MAGIC: Final = int.from_bytes(b"lsmkvSST", "little")
# Version 2: the filter block is the blocked bloom filter (bloom.py). Version 1 tables
# (an unblocked filter) are still read, without their filter: see `READABLE_VERSIONS`.
FORMAT_VERSION: Final = 2
READABLE_VERSIONS: Final = (1, 2)
COMPRESSION_NONE: Final = 0
COMPRESSION_ZLIB: Final = 1
COMPRESSION_IDS: Final = {"none": COMPRESSION_NONE, "zlib": COMPRESSION_ZLIB}

TRAILER = struct.Struct("<BI")
TRAILER_SIZE: Final = TRAILER.size  # 5
_HANDLE = struct.Struct("<QI")
FOOTER = struct.Struct("<QIQIQIQIIQI")
FOOTER_SIZE: Final = FOOTER.size  # 64


class BlockHandle(NamedTuple):
    offset: int
    size: int  # stored size, trailer excluded


NO_BLOCK = BlockHandle(0, 0)


def encode_handle(handle: BlockHandle) -> bytes:
    return _HANDLE.pack(handle.offset, handle.size)


def decode_handle(data: bytes) -> BlockHandle:
    offset, size = _HANDLE.unpack(data)
    return BlockHandle(offset, size)


def seal_block(payload: bytes, compression: int) -> bytes:
    """The stored form of a block: maybe compressed, then the trailer."""
    stored = payload
    ctype = COMPRESSION_NONE
    if compression == COMPRESSION_ZLIB:
        packed = zlib.compress(payload, 1)
        # Keep compression only when it saves at least 1/8 (LevelDB's rule): otherwise
        # reads would pay the decompression for too little space.
        if len(packed) < len(payload) - len(payload) // 8:
            stored, ctype = packed, COMPRESSION_ZLIB
    crc = zlib.crc32(bytes((ctype,)), zlib.crc32(stored))
    return stored + TRAILER.pack(ctype, crc)


# zlib's CRC-32 of any message followed by its own CRC-32 (little-endian) is this
# constant, so a stored block plus its trailer verifies with one crc32 over the bytes as
# read: no slicing first. It is the same check as comparing the stored crc32: for a
# given block, exactly one 4-byte value makes the residue come out.
CRC32_RESIDUE: Final = 0x2144DF1C


def read_stored(file: ReadableFile, path: str, handle: BlockHandle) -> tuple[bytes, int]:
    """Read and verify one stored block: `(data, compression)`, where `data` is the
    stored block with its trailer still attached (the payload is `data[:handle.size]`
    when `compression` is COMPRESSION_NONE). Cost: one pread and one crc32, no copy.

    Raises:
        CorruptionError: short read or checksum mismatch.
    """
    size = handle.size
    data = file.read_at(handle.offset, size + TRAILER_SIZE)
    if len(data) != size + TRAILER_SIZE:
        raise CorruptionError("block extends past the end of the file", path, handle.offset)
    if zlib.crc32(data) != CRC32_RESIDUE:
        raise CorruptionError("block checksum mismatch", path, handle.offset)
    return data, data[size]


def read_block(file: ReadableFile, path: str, handle: BlockHandle) -> bytes:
    """Read, verify and decompress one block. Cost: one pread, one crc32, one copy.

    Raises:
        CorruptionError: short read, checksum mismatch or unknown compression.
    """
    data, ctype = read_stored(file, path, handle)
    return unpack_stored(data, ctype, path, handle)


def unpack_stored(data: bytes, ctype: int, path: str, handle: BlockHandle) -> bytes:
    """The payload of a verified stored block (`read_stored`), decompressed if it was.

    Raises:
        CorruptionError: unknown compression, or the block does not decompress.
    """
    stored = data[: handle.size]
    if ctype == COMPRESSION_NONE:
        return stored
    if ctype == COMPRESSION_ZLIB:
        try:
            return zlib.decompress(stored)
        except zlib.error:
            raise CorruptionError("block does not decompress", path, handle.offset) from None
    raise CorruptionError(f"unknown compression type {ctype}", path, handle.offset)


def check_block(data: bytes, path: str, handle: BlockHandle) -> bytes:
    """The payload of one block's stored bytes (`handle.size` plus the trailer, read by
    the caller), verified and decompressed: `read_block` without the read, for callers
    that read several blocks at once.

    Raises:
        CorruptionError: short data, checksum mismatch or unknown compression.
    """
    return unpack_stored(data, verify_in_place(data, 0, path, handle), path, handle)


def verify_in_place(buf: bytes, at: int, path: str, handle: BlockHandle) -> int:
    """Check the checksum of the block stored at `buf[at:]` (`handle.size` bytes and the
    trailer) without copying it; return its compression type. Cost: one crc32.

    Raises:
        CorruptionError: short data or checksum mismatch.
    """
    size = handle.size
    if len(buf) < at + size + TRAILER_SIZE:
        raise CorruptionError("block extends past the end of the file", path, handle.offset)
    ctype, crc = TRAILER.unpack_from(buf, at + size)
    view = memoryview(buf)
    if zlib.crc32(view[at + size : at + size + 1], zlib.crc32(view[at : at + size])) != crc:
        raise CorruptionError("block checksum mismatch", path, handle.offset)
    return int(ctype)


class Footer(NamedTuple):
    index_block: BlockHandle
    filter_block: BlockHandle
    range_del_block: BlockHandle
    properties_block: BlockHandle
    format_version: int = FORMAT_VERSION

    def encode(self) -> bytes:
        body = FOOTER.pack(
            *self.index_block,
            *self.filter_block,
            *self.range_del_block,
            *self.properties_block,
            self.format_version,
            MAGIC,
            0,
        )[:-4]
        return body + struct.pack("<I", zlib.crc32(body))

    @staticmethod
    def decode(data: bytes, path: str, offset: int) -> Footer:
        if len(data) != FOOTER_SIZE:
            raise CorruptionError("file too short to be an SSTable", path, offset)
        fields = FOOTER.unpack(data)
        if fields[9] != MAGIC:
            raise CorruptionError("bad magic number: not an lsmkv SSTable", path, offset)
        if zlib.crc32(data[:-4]) != fields[10]:
            raise CorruptionError("footer checksum mismatch", path, offset)
        if fields[8] not in READABLE_VERSIONS:
            raise CorruptionError(
                f"unsupported SSTable format version {fields[8]} (this lsmkv reads "
                f"versions {', '.join(map(str, READABLE_VERSIONS))})",
                path,
                offset,
            )
        return Footer(
            BlockHandle(fields[0], fields[1]),
            BlockHandle(fields[2], fields[3]),
            BlockHandle(fields[4], fields[5]),
            BlockHandle(fields[6], fields[7]),
            fields[8],
        )
