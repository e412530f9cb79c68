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
import sys
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, compress, islice, repeat
from operator import add, and_, eq, lt, ne, sub
from zlib import crc32

from ..core.keys import KIND_DELETE, KIND_RANGE_DELETE, Entry, pack_trailer
from ..rangedel import Fragments, RangeTombstone
from ..storage.fs import FileSystem
from .block import BlockBuilder, block_head, encode_block, fixed_block_head
from .bloom import build_filter_for_keys
from .format import (
    COMPRESSION_IDS,
    COMPRESSION_NONE,
    NO_BLOCK,
    TRAILER,
    BlockHandle,
    Footer,
    seal_block,
)
from .properties import TableProperties

_HANDLE = struct.Struct("<QI")
_BIG_ENDIAN = sys.byteorder == "big"
_NONE_BYTE = bytes((COMPRESSION_NONE,))  # what a block's crc32 covers after the block
# Blocks go to the file this many bytes at a time (and at `finish`): one `write` per
# 4 KiB block was a sixth of the time a flush spent cutting blocks. Nothing is lost by
# holding them: a table counts only once `finish` has fsync'd it.
_WRITE_BUFFER_BYTES = 256 * 1024


@dataclass(frozen=True)
class TableSettings:
    block_size_bytes: int = 4096
    bloom_bits_per_key: int = 10
    compression: str = "none"
    deletion_window: int = 1000  # entries per window when measuring delete density


class TableWriter:
    """Builds one SSTable. Call `add` (one entry) or `add_columns` (many) in internal
    order, then `finish` (or `abandon`). Both produce the same bytes.

    Cost: `add` is O(1) Python steps per entry; `add_columns` a few C-level passes over
    its entries plus O(1) Python steps per block; either way one `write` per 256 KiB of
    blocks. `finish` writes the rest, the meta blocks and the footer, then fsyncs (the
    caller also fsyncs the directory).
    """

    def __init__(self, fs: FileSystem, path: str, settings: TableSettings, number: int = 0) -> None:
        self.path = path
        self.number = number
        self._fs = fs
        self._file = fs.create(path)
        self._settings = settings
        self._compression = COMPRESSION_IDS[settings.compression]
        self._offset = 0  # bytes of the file so far, the write buffer's included
        self._out: list[bytes] = []  # the write buffer
        self._out_bytes = 0
        # The data block being built, as columns (keys, trailers seq << 8 | kind, values).
        self._pkeys: list[bytes] = []
        self._ptrailers: list[int] = []
        self._pvalues: list[bytes] = []
        self._block_size = settings.block_size_bytes
        self._index = BlockBuilder()
        self._bloom_keys: list[bytes] = []  # distinct user keys, hashed at finish
        self._last_key: bytes | None = None  # of the last entry added
        self._prev_block_key: bytes | None = None  # last key of the last data block
        self._last_neg_seq = 0
        self._range_tombstones: list[RangeTombstone] = []
        self._block_bytes = 0  # estimated payload of the block being built
        # Point deletes among the table's first e entries, for the last deletion_window + 1
        # values of e (0 before the first entry): the densest window (`_account`).
        self._delete_counts = [0] * (settings.deletion_window + 1)
        self.props = TableProperties(
            compression=settings.compression,
            deletion_window=settings.deletion_window,
            file_number=number,
        )

    # ---------------------------------------------------------------- adding
    def add(self, entry: Entry) -> None:
        """Append one point entry `(key, -seq, kind, value)`; entries must ascend.

        Cost: an order check, three list appends and one size update. The rest of the
        work (properties, bloom keys, encoding) is done a block at a time in
        `_finish_data_block`, mostly by C-level passes over the block's columns.

        Raises ValueError (and adds nothing) if the entry does not come after the last.
        """
        key = entry[0]
        last_key = self._last_key
        # Refused at once (and not added): one comparison in the common case.
        if last_key is not None and key <= last_key:
            if key < last_key:
                raise ValueError(f"entries out of order: {key!r} after {last_key!r}")
            if entry[1] <= self._last_neg_seq:
                raise ValueError(f"entries out of order: {key!r}#{-entry[1]} repeated or older")
        self._last_key = key
        self._last_neg_seq = entry[1]
        value = entry[3]
        self._pkeys.append(key)
        self._ptrailers.append((-entry[1] << 8) | entry[2])
        self._pvalues.append(value)
        self._block_bytes += len(key) + len(value) + 16
        if self._block_bytes >= self._block_size:
            self._finish_data_block()

    def add_columns(
        self,
        keys: list[bytes],
        trailers: list[int],
        values: list[bytes],
        stop_bytes: int | None = None,
        check_first: bool = True,
    ) -> int:
        """Append point entries given as columns: `keys[i]`, its trailer `seq << 8 | kind`
        and `values[i]`, in internal order and after every entry added so far. Returns how
        many were added: all of them, unless `stop_bytes` is given and the table reaches
        it, in which case adding stops before the first entry i (i > 0, or i = 0 if
        `check_first`) whose user key differs from the entry before it and at which
        `estimated_file_bytes >= stop_bytes`: where a job cuts its output (never between
        two versions of one key). The file is byte for byte what `add` of each entry
        would write.

        Cost: a few C-level passes over the entries (order check, lengths, the trailers
        packed once) and O(1) Python steps per data block: why it exists, a flush or
        compaction writes every entry through here, and per-entry Python was a third of
        a write profile. The blocks cut from these columns are accounted (properties,
        bloom keys) in one pass over all of them, not one per block, and when every key
        has one width and every value one width (as fixed-width ids do) each block's
        offset arrays are a cached constant (`fixed_block_head`) and its trailers a slice
        of the run's packed trailers.

        Raises ValueError (and adds nothing) if the entries are out of order.
        """
        n = len(keys)
        if not n:
            return 0
        distinct = self._check_order(keys, trailers)
        klens = list(map(len, keys))
        vlens = list(map(len, values))
        kw, vw = klens[0], vlens[0]
        fixed = klens.count(kw) == n and vlens.count(vw) == n
        # cum[i]: the block-size estimate before entry i (cum[0]: the block so far). With
        # fixed widths it is an arithmetic progression: a range, which bisect indexes in
        # O(1) without building it.
        cum: Sequence[int]
        if fixed:
            step = kw + vw + 16
            cum = range(self._block_bytes, self._block_bytes + (n + 1) * step, step)
        else:
            sizes = map(add, map(add, klens, vlens), repeat(16))
            cum = list(accumulate(sizes, initial=self._block_bytes))
        # The run's trailers packed once: blocks take slices, and the kind of entry i is
        # byte 8 * i (little-endian: the kind is the low byte).
        packed = array("Q", trailers)
        if _BIG_ENDIAN:
            packed.byteswap()
        tbytes = packed.tobytes()
        del packed
        block_size = self._block_size
        start = 0  # first entry not yet in a finished block
        base = 0  # cum value at which the block being built started
        span = -1  # first entry of the blocks cut straight from the columns
        added = n
        while True:
            # The first j (> start) at which the block reaches its size: cut after j-1.
            j = bisect_left(cum, base + block_size, start + 1)
            end = min(j, n)
            if stop_bytes is not None:
                lo = start if start or check_first else 1
                threshold = stop_bytes - self._offset + base
                i = bisect_left(cum, threshold, lo, end) if lo < end else end
                # Never between two versions of one key: the estimate only grows, so
                # the cut moves to the next new key.
                while i < end and keys[i] == (keys[i - 1] if i else self._last_key):
                    i += 1
                if i < end:
                    added = end = j = i
            if j > n or added < n:
                # The entries left over start the next block.
                self._pkeys += keys[start:end]
                self._ptrailers += trailers[start:end]
                self._pvalues += values[start:end]
                self._block_bytes = cum[end] - base
                break
            if self._pkeys:  # only at start == 0: entries added before complete this block
                self._pkeys += keys[:j]
                self._ptrailers += trailers[:j]
                self._pvalues += values[:j]
                self._finish_data_block()
            else:
                if span < 0:
                    span = start
                head = (
                    fixed_block_head(kw, vw, j - start)
                    if fixed
                    else block_head(klens[start:j], vlens[start:j], j - start)
                )
                self._emit_block(
                    (head, tbytes[8 * start : 8 * j], *keys[start:j], *values[start:j]),
                    keys[j - 1],
                    trailers[j - 1],
                )
            start, base = j, cum[j]
            if start == n:
                self._block_bytes = 0
                break
        if span >= 0:  # the blocks cut straight from the columns, accounted in one go
            m = start - span
            self._account(
                keys[span:start],
                trailers[span:start],
                kw * m if fixed else sum(klens[span:start]),
                vw * m if fixed else sum(vlens[span:start]),
                tbytes[8 * span : 8 * start : 8],
                distinct,
            )
        if added:
            self._last_key = keys[added - 1]
            self._last_neg_seq = -(trailers[added - 1] >> 8)
        return added

    def _check_order(self, keys: list[bytes], trailers: list[int]) -> bool:
        """Raise ValueError unless (key, -seq) strictly ascends through `keys` from the
        last entry added; True if the keys themselves strictly ascend (one version
        each). Cost: one C-level pass, plus a Python step per repeated key."""
        last_key = self._last_key
        if (
            last_key is not None
            and keys[0] <= last_key
            and (keys[0] < last_key or -(trailers[0] >> 8) <= self._last_neg_seq)
        ):
            raise ValueError(f"entries out of order: {keys[0]!r} after {last_key!r}")
        if all(map(lt, keys, islice(keys, 1, None))):
            return True  # the common case: one version per key, ascending
        for i in range(1, len(keys)):
            a, b = keys[i - 1], keys[i]
            if b < a or (b == a and trailers[i] >> 8 >= trailers[i - 1] >> 8):
                raise ValueError(f"entries out of order: {b!r} after {a!r}")
        return False

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
        return self.props.entries + len(self._pkeys) + len(self._range_tombstones)

    @property
    def estimated_file_bytes(self) -> int:
        return self._offset + self._block_bytes

    # --------------------------------------------------------------- writing
    def _emit(self, data: bytes) -> None:
        """Append bytes to the file through the write buffer (see `_WRITE_BUFFER_BYTES`)."""
        self._out.append(data)
        self._offset += len(data)
        self._out_bytes += len(data)
        if self._out_bytes >= _WRITE_BUFFER_BYTES:
            self._flush_out()

    def _flush_out(self) -> None:
        if self._out:
            self._file.write(b"".join(self._out))
            self._out = []
            self._out_bytes = 0

    def _write_block(self, payload: bytes, compression: int) -> BlockHandle:
        sealed = seal_block(payload, compression)
        handle = BlockHandle(self._offset, len(sealed) - 5)
        self._emit(sealed)
        return handle

    def _emit_block(self, parts: tuple[bytes, ...], last_key: bytes, last_trailer: int) -> None:
        """Write one data block whose payload is the concatenation of `parts`, and index
        it under its last key. Without compression the block is stored as it is, so its
        crc32 runs over the joined payload and the trailer follows it in the buffer:
        no second copy to append the trailer. Properties and bloom keys are the
        caller's (`_account`)."""
        payload = b"".join(parts)
        offset = self._offset
        size = len(payload)
        if self._compression == COMPRESSION_NONE:
            self._out += (
                payload,
                TRAILER.pack(COMPRESSION_NONE, crc32(_NONE_BYTE, crc32(payload))),
            )
            self._offset = offset + size + 5
            self._out_bytes += size + 5
            if self._out_bytes >= _WRITE_BUFFER_BYTES:
                self._flush_out()
        else:
            size = self._write_block(payload, self._compression).size
        # The index maps the block's last internal key to its handle.
        self._index.add(last_key, last_trailer >> 8 << 8, _HANDLE.pack(offset, size))
        props = self.props
        props.data_blocks += 1
        props.data_bytes += size + 5

    def _account(
        self,
        keys: list[bytes],
        trailers: Sequence[int],
        key_bytes: int,
        value_bytes: int,
        kinds: bytes | None = None,
        distinct: bool = False,
    ) -> None:
        """Count entries that go into data blocks, in order, in the table's properties and
        bloom keys: `key_bytes` and `value_bytes` are their sizes, `kinds` their kinds
        (if the caller has them; else taken from the trailers), `distinct` that their keys
        strictly ascend. Cost: a few C-level passes (over the last `deletion_window`
        entries too, while a point delete is among them), no Python step per entry."""
        n = len(keys)
        props = self.props
        first_index = props.entries
        if first_index == 0:
            props.smallest_key = keys[0]
        # Distinct user keys for the bloom filter: each key whose predecessor differs.
        prev = self._prev_block_key
        if distinct and keys[0] != prev:
            self._bloom_keys += keys
        else:
            self._bloom_keys += compress(keys, map(ne, keys, [prev, *keys]))
        # Trailer order is seq order: the kind sits below the seq bits.
        # smallest_seq may already hold a range tombstone's seq (0: nothing yet).
        self._note_seq(min(trailers) >> 8)
        self._note_seq(max(trailers) >> 8)
        props.entries = first_index + n
        props.raw_key_bytes += key_bytes
        props.raw_value_bytes += value_bytes
        if kinds is None:
            kinds = bytes(map(and_, trailers, repeat(0xFF)))
        deletes = kinds.count(KIND_DELETE)
        props.point_deletes += deletes
        counts = self._delete_counts
        if deletes or counts[0] != counts[-1]:
            # The densest window (`max_deletes_in_window`): with D[e] the point deletes
            # among the table's first e entries, the window of entries ending at entry i
            # holds D[i + 1] - D[i + 1 - window] of them. `counts` carries D over the
            # last window + 1 entries (0 before the table's first), so this is a running
            # sum and a difference of the list with itself shifted by the window: C-level
            # passes, no Python step per delete (a tombstone-only flush has 100,000s).
            window = self._settings.deletion_window
            running = accumulate(map(eq, kinds, repeat(KIND_DELETE)), initial=counts[-1])
            counts += islice(running, 1, None)
            best = max(map(sub, islice(counts, window + 1, None), islice(counts, 1, None)))
            if best > props.max_deletes_in_window:
                props.max_deletes_in_window = best
            self._delete_counts = counts[-(window + 1) :]
        props.puts += n - deletes
        self._prev_block_key = keys[-1]

    def _finish_data_block(self) -> None:
        """Write the block being built from `add` (and a column run's first entries)."""
        keys = self._pkeys
        if not keys:
            return
        trailers = self._ptrailers
        values = self._pvalues
        self._account(keys, trailers, sum(map(len, keys)), sum(map(len, values)))
        self._emit_block((encode_block(keys, trailers, values),), keys[-1], trailers[-1])
        self._pkeys = []
        self._ptrailers = []
        self._pvalues = []
        self._block_bytes = 0

    def finish(self) -> tuple[TableProperties, int]:
        """Write the remaining blocks, the footer, fsync and close. Returns (props, size)."""
        self._finish_data_block()
        filter_handle = NO_BLOCK
        if self._bloom_keys and self._settings.bloom_bits_per_key:
            payload = build_filter_for_keys(self._bloom_keys, self._settings.bloom_bits_per_key)
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
        self._emit(footer.encode())
        self._flush_out()
        # Durable before any manifest names it: a manifest must never point at a table
        # whose bytes a power loss could take away.
        self._file.sync()
        self._file.close()
        return props, self._offset

    def abandon(self) -> None:
        """Close and delete a table that will not be used (a failed flush or compaction)."""
        self._out = []
        try:
            self._file.close()
        finally:
            try:
                self._fs.remove(self.path)
            except OSError:
                pass
