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

import collections
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
        self._bloom_keys: list[bytes] = []  # distinct user keys, hashed at finish
        self._last_key: bytes | None = None
        self._last_neg_seq = 0
        self._range_tombstones: list[RangeTombstone] = []
        self._block_bytes = 0  # estimated payload of the block being built
        # Positions of recent point deletes, to find the densest window (module docs).
        self._recent_deletes: collections.deque[int] = collections.deque()
        self.props = TableProperties(
            compression=settings.compression,
            deletion_window=settings.deletion_window,
            file_number=number,
        )

    # ---------------------------------------------------------------- adding
    def add(self, entry: Entry) -> None:
        """Append one point entry `(key, -seq, kind, value)`; entries must ascend.

        Cost: a handful of list appends and integer updates (this loop runs once per
        entry of every flush and compaction, so it is kept lean on purpose).
        """
        key, neg_seq, kind, value = entry
        last_key = self._last_key
        if last_key is None or key != last_key:
            if last_key is not None and key < last_key:
                raise ValueError(f"entries out of order: {key!r} after {last_key!r}")
            self._bloom_keys.append(key)
            self._last_key = key
        elif neg_seq <= self._last_neg_seq:
            raise ValueError(f"entries out of order: {key!r}#{-neg_seq} repeated or older")
        self._last_neg_seq = neg_seq
        seq = -neg_seq
        self._block.add(key, (seq << 8) | kind, value)
        props = self.props
        index = props.entries
        if index == 0:
            props.smallest_key = key
            props.smallest_seq = props.largest_seq = seq
        elif seq < props.smallest_seq:
            props.smallest_seq = seq
        elif seq > props.largest_seq:
            props.largest_seq = seq
        props.entries = index + 1
        props.raw_key_bytes += len(key)
        props.raw_value_bytes += len(value)
        if kind == KIND_DELETE:
            props.point_deletes += 1
            recent = self._recent_deletes
            recent.append(index)
            window = self._settings.deletion_window
            while recent[0] <= index - window:
                recent.popleft()
            if len(recent) > props.max_deletes_in_window:
                props.max_deletes_in_window = len(recent)
        else:
            props.puts += 1
        self._block_bytes += len(key) + len(value) + 16
        if self._block_bytes >= self._settings.block_size_bytes:
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

    @property
    def entry_count(self) -> int:
        return self.props.entries + len(self._range_tombstones)

    @property
    def estimated_file_bytes(self) -> int:
        return self._offset + self._block_bytes

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
        assert self._last_key is not None
        # The index maps the block's last internal key to its handle.
        self._index.add(self._last_key, pack_trailer(-self._last_neg_seq, 0), _HANDLE.pack(*handle))
        self.props.data_blocks += 1
        self.props.data_bytes += handle.size + 5
        self._block = BlockBuilder()
        self._block_bytes = 0

    def finish(self) -> tuple[TableProperties, int]:
        """Write the remaining blocks, the footer, fsync and close. Returns (props, size)."""
        self._finish_data_block()
        filter_handle = NO_BLOCK
        if self._bloom_keys and self._settings.bloom_bits_per_key:
            hashes = [bloom_hash(k) for k in self._bloom_keys]
            payload = build_filter(hashes, self._settings.bloom_bits_per_key)
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
            assert self._last_key is not None
            props.largest_key = max(props.largest_key, self._last_key)
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
