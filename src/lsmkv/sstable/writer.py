"""Writing an SSTable: entries in internal order in, one immutable checksummed file out.

File layout (docs/format/sstable.md):

    [data block 0][trailer] ... [data block n-1][trailer]
    [filter block][trailer]        bloom filter over the user keys (optional)
    [range-del block][trailer]     fragmented range tombstones (optional)
    [properties block][trailer]    JSON facts: counts, key and seq ranges
    [index block][trailer]         one entry per data block: its last key -> handle
    [footer: 64 bytes]
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..core.keys import KIND_DELETE, KIND_RANGE_DELETE, Entry, pack_trailer
from ..rangedel import Fragments, RangeTombstone
from ..storage.fs import FileSystem
from .block import BlockBuilder
from .bloom import bloom_hash, build_filter
from .format import (
    COMPRESSION_IDS,
    COMPRESSION_NONE,
    NO_BLOCK,
    BlockHandle,
    Footer,
    seal_block,
)
from .properties import TableProperties

_HANDLE = struct.Struct("<QI")


@dataclass(frozen=True)
class TableSettings:
    block_size_bytes: int = 4096
    bloom_bits_per_key: int = 10
    compression: str = "none"
    deletion_window: int = 1000  # entries per window when measuring delete density


class TableWriter:
    """Builds one SSTable. Call `add` in internal order, then `finish` (or `abandon`).

    Cost: O(n) Python work per entry plus one `write` per block; `finish` writes the
    meta blocks and the footer, then fsyncs (the caller also fsyncs the directory).
    """

    def __init__(self, fs: FileSystem, path: str, settings: TableSettings, number: int = 0) -> None:
        self.path = path
        self.number = number
        self._fs = fs
        self._file = fs.create(path)
        self._settings = settings
        self._compression = COMPRESSION_IDS[settings.compression]
        self._offset = 0
        self._block = BlockBuilder()
        self._index = BlockBuilder()
        self._hashes: list[tuple[int, int]] = []
        self._last: tuple[bytes, int] | None = None
        self._range_tombstones: list[RangeTombstone] = []
        self._window: list[bool] = []
        self._window_deletes = 0
        self.props = TableProperties(
            compression=settings.compression, deletion_window=settings.deletion_window
        )

    # ---------------------------------------------------------------- adding
    def add(self, entry: Entry) -> None:
        """Append one point entry `(key, -seq, kind, value)`; entries must ascend."""
        key, neg_seq, kind, value = entry
        last = self._last
        if last is not None:
            if (key, neg_seq) <= last:
                raise ValueError(f"entries out of order: {key!r}#{-neg_seq} after {last}")
            if key != last[0] and self._settings.bloom_bits_per_key:
                self._hashes.append(bloom_hash(key))
        elif self._settings.bloom_bits_per_key:
            self._hashes.append(bloom_hash(key))
        self._last = (key, neg_seq)
        seq = -neg_seq
        self._block.add(key, pack_trailer(seq, kind), value)
        props = self.props
        if props.entries == 0:
            props.smallest_key = key
        props.entries += 1
        props.raw_key_bytes += len(key)
        props.raw_value_bytes += len(value)
        self._note_seq(seq)
        is_delete = kind == KIND_DELETE
        if is_delete:
            props.point_deletes += 1
        else:
            props.puts += 1
        self._note_delete_density(is_delete)
        if self._block.estimated_size() >= self._settings.block_size_bytes:
            self._finish_data_block()

    def add_range_tombstone(self, start: bytes, end: bytes, seq: int) -> None:
        if start < end:
            self._range_tombstones.append((start, end, seq))
            self._note_seq(seq)

    def _note_seq(self, seq: int) -> None:
        props = self.props
        if props.smallest_seq == 0 or seq < props.smallest_seq:
            props.smallest_seq = seq
        props.largest_seq = max(props.largest_seq, seq)

    def _note_delete_density(self, is_delete: bool) -> None:
        window = self._window
        window.append(is_delete)
        self._window_deletes += is_delete
        if len(window) > self._settings.deletion_window:
            self._window_deletes -= window.pop(0)
        if self._window_deletes > self.props.max_deletes_in_window:
            self.props.max_deletes_in_window = self._window_deletes

    @property
    def entry_count(self) -> int:
        return self.props.entries + len(self._range_tombstones)

    @property
    def estimated_file_bytes(self) -> int:
        return self._offset + self._block.estimated_size()

    # --------------------------------------------------------------- writing
    def _write_block(self, payload: bytes, compression: int) -> BlockHandle:
        sealed = seal_block(payload, compression)
        handle = BlockHandle(self._offset, len(sealed) - 5)
        self._file.write(sealed)
        self._offset += len(sealed)
        return handle

    def _finish_data_block(self) -> None:
        block = self._block
        if not len(block):
            return
        handle = self._write_block(block.finish(), self._compression)
        assert self._last is not None
        key, neg_seq = self._last
        # The index maps the block's last internal key to its handle.
        self._index.add(key, pack_trailer(-neg_seq, 0), _HANDLE.pack(*handle))
        self.props.data_blocks += 1
        self.props.data_bytes += handle.size + 5
        self._block = BlockBuilder()

    def finish(self) -> tuple[TableProperties, int]:
        """Write the remaining blocks, the footer, fsync and close. Returns (props, size)."""
        self._finish_data_block()
        filter_handle = NO_BLOCK
        if self._hashes:
            payload = build_filter(self._hashes, self._settings.bloom_bits_per_key)
            filter_handle = self._write_block(payload, COMPRESSION_NONE)
        range_handle = NO_BLOCK
        props = self.props
        if self._range_tombstones:
            fragments = Fragments(self._range_tombstones)
            rblock = BlockBuilder()
            for start, end, seq in fragments.tombstones():
                rblock.add(start, pack_trailer(seq, KIND_RANGE_DELETE), end)
                props.range_deletes += 1
            range_handle = self._write_block(rblock.finish(), COMPRESSION_NONE)
            lo = fragments.starts[0]
            hi = fragments.ends[-1]
            if props.entries == 0 or lo < props.smallest_key:
                props.smallest_key = lo
            if props.entries == 0 or hi > props.largest_key:
                props.largest_key = hi
        if props.entries:
            assert self._last is not None
            props.largest_key = max(props.largest_key, self._last[0])
        props_handle = self._write_block(props.encode(), COMPRESSION_NONE)
        index_handle = self._write_block(self._index.finish(), COMPRESSION_NONE)
        footer = Footer(index_handle, filter_handle, range_handle, props_handle)
        self._file.write(footer.encode())
        self._offset += 64
        # Durable before any manifest names it: a manifest must never point at a table
        # whose bytes a power loss could take away.
        self._file.sync()
        self._file.close()
        return props, self._offset

    def abandon(self) -> None:
        """Close and delete a table that will not be used (a failed flush or compaction)."""
        try:
            self._file.close()
        finally:
            try:
                self._fs.remove(self.path)
            except OSError:
                pass
