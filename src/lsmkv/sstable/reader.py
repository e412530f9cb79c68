"""Reading an SSTable: point lookups, ordered iteration and self-checks.

Opening reads the footer, index, filter, properties and range-del blocks once and keeps
them in memory; data blocks are read on demand through the shared block cache.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from functools import partial
from itertools import chain
from zlib import crc32

from ..core.counters import Counters
from ..core.keys import KIND_RANGE_DELETE, Entry
from ..errors import CorruptionError, DiskError
from ..rangedel import EMPTY, Fragments, RangeTombstone
from ..storage.fs import FileSystem
from .block import Block, FixedBlock, decode_block, fixed_block
from .bloom import BloomFilter
from .cache import BlockCache
from .format import (
    COMPRESSION_NONE,
    CRC32_RESIDUE,
    FOOTER_SIZE,
    TRAILER_SIZE,
    BlockHandle,
    Footer,
    check_block,
    read_block,
    unpack_stored,
    verify_in_place,
)
from .properties import TableProperties

_HANDLE = struct.Struct("<QI")
# Entries decoded first when a bounded scan starts inside a block (see iter_entries).
_FIRST_PIECE = 16
# A clean scan asking for chunks this long has gone on for a while: it reads blocks
# _READ_AHEAD at a time (TableColumns, TableReader.blocks_ahead).
_LONG_CHUNK = 256
_READ_AHEAD = 16


class TableReader:
    """An open SSTable. Thread-safe: all reads are positional (pread) or from the cache."""

    def __init__(
        self,
        fs: FileSystem,
        path: str,
        number: int,
        cache: BlockCache | None = None,
        counters: Counters | None = None,
    ) -> None:
        self.path = path
        self.number = number
        self._cache = cache if cache is not None else BlockCache(8 * 1024 * 1024)
        self._counters = counters if counters is not None else Counters()
        self._file = fs.open_read(path)
        self._read_at = self._file.read_at
        try:
            self._load_meta()
        except BaseException:
            self._file.close()
            raise

    def _load_meta(self) -> None:
        path = self.path
        size = self._file.size()
        self.file_size = size
        if size < FOOTER_SIZE:
            raise CorruptionError("file too short to be an SSTable", path, 0)
        self.footer = footer = Footer.decode(
            self._file.read_at(size - FOOTER_SIZE, FOOTER_SIZE), path, size - FOOTER_SIZE
        )
        for name, handle in zip(
            ("index", "filter", "range_del", "properties"), footer[:4], strict=True
        ):
            if handle.size and handle.offset + handle.size + 5 > size - FOOTER_SIZE:
                raise CorruptionError(f"{name} block handle points past the data", path, 0)
        try:
            index = decode_block(read_block(self._file, path, footer.index_block))
            self.props = TableProperties.decode(
                read_block(self._file, path, footer.properties_block)
            )
            self.bloom: BloomFilter | None = None
            if footer.filter_block.size and footer.format_version >= 2:
                # (A version-1 table's filter is of the older, unblocked layout: the
                # table is read as one without a filter until compaction rewrites it.)
                self.bloom = BloomFilter(read_block(self._file, path, footer.filter_block))
            self.fragments: Fragments = EMPTY
            if footer.range_del_block.size:
                block = decode_block(read_block(self._file, path, footer.range_del_block))
                tombs = [(e[0], e[3], -e[1]) for e in block.entries() if e[2] == KIND_RANGE_DELETE]
                self.fragments = Fragments(tombs)
        except (ValueError, KeyError, TypeError, struct.error, UnicodeDecodeError) as e:
            raise CorruptionError(f"meta block does not parse ({e})", path, 0) from None
        if self.number and self.props.file_number and self.props.file_number != self.number:
            raise CorruptionError(
                f"the file holds table {self.props.file_number}, not table {self.number} "
                "(a misplaced or swapped file)",
                path,
                footer.properties_block.offset,
            )
        # The index: the last user key of each data block, and where the block is.
        self.index_keys: list[bytes] = index.keys()
        self.handles: list[BlockHandle]
        if index.count and index.shape()[1] == _HANDLE.size:
            # Every value is one handle: all cut by one C-level pass (opening a table is
            # the first step of the first scan that reaches it; decoding the index entry
            # by entry was about 6% of a cold full scan).
            make = partial(tuple.__new__, BlockHandle)
            self.handles = list(map(make, _HANDLE.iter_unpack(index._vb)))
        else:
            self.handles = [BlockHandle(*_HANDLE.unpack(e[3])) for e in index.entries()]
        self.smallest_key = self.props.smallest_key
        self.largest_key = self.props.largest_key
        # The block cache's slots for this table's blocks (cache.py): a cached block is
        # `slots[i]`, one list index on the get path. One more slot than blocks, always
        # None, so that `slots[bisect_left(index_keys, key)]` needs no bounds check.
        self.slots: list[Block | None] = [None] * (len(self.handles) + 1)
        # Blocks of this table in the cache (kept by the cache), and from how many on
        # the table counts as *hot*: at least half its blocks cached. A get searches a
        # hot table's cached block without asking the filter (read.lookup).
        self.cached_blocks = 0
        self.hot_from = max(1, (len(self.handles) + 1) // 2)

    # ------------------------------------------------------------------ blocks
    def block(self, i: int) -> Block:
        """Data block i, from the cache or from disk (verified and decoded)."""
        block = self.slots[i]
        if block is not None:
            self._counters.block_cache_hits += 1
            return block
        return self._load_block(i)

    def _load_block(self, i: int) -> Block:
        """Data block i read from disk, verified, decoded and put in the cache: what
        every cache miss costs, so one function with no further Python calls than one
        pread (through the FileSystem), one crc32 and the decode. Cost: about 5 µs
        for a 4 KiB block in the OS page cache."""
        self._counters.block_reads += 1
        offset, size = handle = self.handles[i]
        try:
            data = self._read_at(offset, size + TRAILER_SIZE)
        except OSError as e:
            raise DiskError.from_os(e, f"reading {self.path} at offset {offset}") from e
        # format.read_stored, inlined: one crc32 over the bytes as read (see
        # CRC32_RESIDUE), and the payload decoded in place, trailer still attached.
        if len(data) != size + TRAILER_SIZE:
            raise CorruptionError("block extends past the end of the file", self.path, offset)
        if crc32(data) != CRC32_RESIDUE:
            raise CorruptionError("block checksum mismatch", self.path, offset)
        try:
            if not data[size]:  # COMPRESSION_NONE
                block = decode_block(data, size, False)
            else:
                block = decode_block(unpack_stored(data, data[size], self.path, handle))
        except (ValueError, struct.error):
            raise CorruptionError("data block does not parse", self.path, offset) from None
        self._cache.put(self, i, block)
        return block

    def read_data_block(self, i: int) -> Block:
        """Data block i read from disk and verified, bypassing the cache (repair, checks).

        Raises:
            CorruptionError: the block is damaged (file and offset named).
            DiskError: the read failed (readers see lsmkv errors only, never an OSError).
        """
        handle = self.handles[i]
        try:
            payload = read_block(self._file, self.path, handle)
        except OSError as e:
            raise DiskError.from_os(e, f"reading {self.path} at offset {handle.offset}") from e
        try:
            return decode_block(payload)
        except (ValueError, struct.error):
            raise CorruptionError("data block does not parse", self.path, handle.offset) from None

    def blocks_ahead(self, first: int, last: int) -> list[Block | FixedBlock]:
        """Data blocks first..last (ascending) for a long scan: cached ones from the
        cache, the others read with one pread and not cached (a scan that reads
        everything once would only evict what point reads keep hot, the reason LevelDB
        advises `fill_cache=false` for bulk scans). A block read here whose keys and
        values each have one width stays in the read buffer as a `FixedBlock`; any
        other is decoded into a `Block`. Blocks read from disk count as block reads.

        Why: one system call per 4 KiB block cost a full scan about as much as cutting
        the block's entries (0.4-0.7 µs per entry in `pread` alone here; 0.1-0.2 with
        16 blocks per call), and decoding into a cached `Block` as much again.

        Raises:
            CorruptionError: a block is damaged (file and offset named).
            DiskError: the read failed.
        """
        numbers = range(first, last + 1)
        cached = [self.block_cached(i) for i in numbers]
        missing = [i for i, hit in zip(numbers, cached, strict=True) if not hit]
        if not missing:
            return [self.block(i) for i in numbers]
        handles = self.handles
        base = handles[missing[0]].offset
        tail = handles[missing[-1]]
        try:
            data = self._file.read_at(base, tail.offset + tail.size + TRAILER_SIZE - base)
        except OSError as e:
            raise DiskError.from_os(e, f"reading {self.path} at offset {base}") from e
        blocks: list[Block | FixedBlock] = []
        for i, hit in zip(numbers, cached, strict=True):
            if hit:
                blocks.append(self.block(i))  # (read from disk if evicted meanwhile)
                continue
            self._counters.block_reads += 1
            handle = handles[i]
            at = handle.offset - base
            ctype = verify_in_place(data, at, self.path, handle)
            fixed = fixed_block(data, at, handle.size) if ctype == COMPRESSION_NONE else None
            if fixed is not None:
                blocks.append(fixed)
                continue
            payload = check_block(data[at : at + handle.size + TRAILER_SIZE], self.path, handle)
            try:
                blocks.append(decode_block(payload, check_order=False))  # crc just checked
            except (ValueError, struct.error):
                raise CorruptionError(
                    "data block does not parse", self.path, handle.offset
                ) from None
        return blocks

    def block_cached(self, i: int) -> bool:
        return self.slots[i] is not None

    # ------------------------------------------------------------------- reads
    def get(self, key: bytes, read_seq: int) -> Entry | None:
        """The newest point entry for `key` with seq <= read_seq, or None: `search`
        from the block the index names. Cost: one bisect in the index, then `search`.
        The caller checks the bloom filter and key range first."""
        return self.search(bisect_left(self.index_keys, key), key, read_seq)

    def search(self, i: int, key: bytes, read_seq: int) -> Entry | None:
        """`get` from data block i, which must be `bisect_left(index_keys, key)` (the
        caller bisected already, to see whether block i is cached: read.lookup).

        Cost: one block (usually cached: one list index), a search of the block's raw
        key bytes (one `bytes.find` when its keys have one width, else a binary search
        in Python), and one entry built if found. This is the innermost step of every
        get, so `block()`, `Block.seek` and `Block.entry_at` are inlined.
        """
        n = len(self.index_keys)
        slots = self.slots
        while i < n:
            block = slots[i]
            if block is None:
                block = self._load_block(i)
            else:
                self._counters.block_cache_hits += 1
            kb, ko = block._kb, block._ko
            count = block.count
            width = block.width
            if width:
                # Every key here is `width` bytes (Block): the first entry with this
                # key is its first occurrence in the key bytes at a multiple of width,
                # found in C. (A match straddling two keys is skipped; a key of
                # another length cannot be in this block, hence not in the table.)
                if len(key) != width:
                    return None
                lo = kb.find(key)
                while lo > 0 and lo % width:
                    lo = kb.find(key, lo + 1)
                if lo < 0:
                    return None
                lo //= width
                # Entry lo's key is `key` (found at a key boundary): its newest version
                # is checked here without slicing the key out to compare it again.
                t = block._trailers[lo]
                if t >> 8 <= read_seq:
                    vo = block._vo
                    return (key, -(t >> 8), t & 0xFF, block._vb[vo[lo] : vo[lo + 1]])
                lo += 1
            else:
                lo, hi = 0, count
                while lo < hi:
                    mid = (lo + hi) >> 1
                    if kb[ko[mid] : ko[mid + 1]] < key:
                        lo = mid + 1
                    else:
                        hi = mid
            trailers = block._trailers
            while lo < count:
                if kb[ko[lo] : ko[lo + 1]] != key:
                    return None
                t = trailers[lo]
                if t >> 8 <= read_seq:
                    vo = block._vo
                    return (key, -(t >> 8), t & 0xFF, block._vb[vo[lo] : vo[lo + 1]])
                lo += 1
            # The versions of this key continue in the next block.
            i += 1
        return None

    def iter_entries(
        self, start: bytes | None = None, end: bytes | None = None, reverse: bool = False
    ) -> Iterator[Entry]:
        """Every point entry with start <= key < end, in internal order (or its reverse).

        Cost: per entry, one step of `itertools.chain` (C) over lists each block decodes
        in one comprehension; Python runs once per block, not once per entry. The first
        block of a bounded scan is decoded from its start position in two parts, so a
        short scan (a seek and a few nexts) decodes little more than it returns.
        """
        index_keys = self.index_keys
        n = len(index_keys)
        first = 0 if start is None else bisect_left(index_keys, start)
        last = n - 1 if end is None else min(n - 1, bisect_left(index_keys, end))
        if first > last:
            return iter(())
        if reverse:
            return chain.from_iterable(self._reverse_blocks(first, last, start, end))
        return chain.from_iterable(self._forward_blocks(first, last, start, end))

    def _forward_blocks(
        self, first: int, last: int, start: bytes | None, end: bytes | None
    ) -> Iterator[list[Entry]]:
        for i in range(first, last + 1):
            block = self.block(i)
            hi = block.count if end is None or i != last else block.seek(end)
            lo = block.seek(start) if i == first and start is not None else 0
            if i == first and lo < hi:
                # The first entry alone: a scan that stops after one item (a queue's
                # head) must not decode a block per table.
                yield [block.entry_at(lo)]
                lo += 1
            if start is not None and i <= first + 1:
                # Then a short piece from each of the first two blocks: most seeks
                # read only a few entries, and decoding is the cost of a short scan.
                cut = min(hi, lo + _FIRST_PIECE)
                yield block.entries(lo, cut)
                lo = cut
            if lo < hi:
                yield block.entries(lo, hi)

    def _reverse_blocks(
        self, first: int, last: int, start: bytes | None, end: bytes | None
    ) -> Iterator[Iterator[Entry]]:
        for i in range(last, first - 1, -1):
            block = self.block(i)
            lo = 0 if start is None or i != first else block.seek(start)
            hi = block.count if end is None or i != last else block.seek(end)
            yield reversed(block.entries(lo, hi))

    def columns(
        self, start: bytes | None, end: bytes | None, reverse: bool, read_seq: int | None = None
    ) -> TableColumns:
        """[start, end) as column chunks for the clean scan (iterators/clean.py); with a
        `read_seq`, chunks holding a newer version are refused (pass None when the table
        has none). Cost: two index bisects now; blocks are read as chunks are taken."""
        index_keys = self.index_keys
        n = len(index_keys)
        first = 0 if start is None else bisect_left(index_keys, start)
        last = n - 1 if end is None else min(n - 1, bisect_left(index_keys, end))
        ceiling = None if read_seq is None else read_seq << 8 | 0xFF
        return TableColumns(self, first, last, start, end, reverse, ceiling)

    def range_tombstones(self) -> list[RangeTombstone]:
        return list(self.fragments.tombstones())

    def may_contain(self, key: bytes) -> bool:
        return self.bloom is None or self.bloom.may_contain(key)

    # ------------------------------------------------------------------ checks
    def check(self) -> list[str]:
        """Read and verify every block; return the problems found (empty when sound)."""
        problems: list[str] = []
        previous: tuple[bytes, int] | None = None
        for i, handle in enumerate(self.handles):
            try:
                block = decode_block(read_block(self._file, self.path, handle))
            except CorruptionError as e:
                problems.append(str(e))
                continue
            except (ValueError, struct.error):
                problems.append(f"{self.path} at offset {handle.offset}: block does not parse")
                continue
            entries = block.entries()
            for entry in entries:
                ikey = (entry[0], entry[1])
                if previous is not None and ikey <= previous:
                    problems.append(f"{self.path} at offset {handle.offset}: keys out of order")
                    break
                previous = ikey
            if entries and entries[-1][0] != self.index_keys[i]:
                problems.append(
                    f"{self.path} at offset {handle.offset}: index key does not match block"
                )
        return problems

    def close(self) -> None:
        self._file.close()


class TableColumns:
    """One table's entries in [start, end), handed out as column chunks (the `Columns`
    protocol of iterators/clean.py): up to n keys and their values, ascending, walking
    forward or backward through blocks first..last.

    Cost per chunk: per block piece, `Block.columns` (a `struct` call or a comprehension
    of slices) and a tombstone count in C; a chunk inside one block is handed out as the
    tuples `columns` made, uncopied. A chunk holding a point tombstone, or (when a
    `ceiling` trailer is given) a version newer than the read point, is refused (None):
    the general path decides it.
    """

    __slots__ = (
        "_ahead",
        "_block",
        "_ceiling",
        "_end",
        "_first",
        "_hi",
        "_i",
        "_last",
        "_lo",
        "_reader",
        "_reverse",
        "_start",
    )

    def __init__(
        self,
        reader: TableReader,
        first: int,
        last: int,
        start: bytes | None,
        end: bytes | None,
        reverse: bool,
        ceiling: int | None = None,
    ) -> None:
        self._reader = reader
        self._ceiling = ceiling  # the largest visible trailer (None: all are visible)
        self._first = first
        self._last = last
        self._start = start
        self._end = end
        self._reverse = reverse
        self._i = last if reverse else first  # the next block to open
        self._block: Block | FixedBlock | None = None  # the open block; its entries not yet taken
        self._lo = self._hi = 0
        # Blocks read ahead, the next one last (None until a long scan reads ahead).
        self._ahead: list[Block | FixedBlock] | None = None

    def _open(self, n: int) -> Block | FixedBlock | None:
        i = self._i
        if not self._first <= i <= self._last:
            return None
        block: Block | FixedBlock
        ahead = self._ahead
        if ahead:
            block = ahead.pop()
        elif n < _LONG_CHUNK:
            # TableReader.block, inlined (a seek opens a block per source).
            reader = self._reader
            cached = reader.slots[i]
            if cached is None:
                block = reader._load_block(i)
            else:
                reader._counters.block_cache_hits += 1
                block = cached
        else:
            # A long scan: the next blocks in one read (see TableReader.blocks_ahead).
            if self._reverse:
                ahead = self._reader.blocks_ahead(max(self._first, i - _READ_AHEAD + 1), i)
            else:
                ahead = self._reader.blocks_ahead(i, min(self._last, i + _READ_AHEAD - 1))
                ahead.reverse()
            block = ahead.pop()
            self._ahead = ahead
        start, end = self._start, self._end
        self._lo = block.lower_bound(start) if start is not None and i == self._first else 0
        self._hi = block.lower_bound(end) if end is not None and i == self._last else block.count
        self._i = i - 1 if self._reverse else i + 1
        self._block = block
        return block

    @property
    def done(self) -> bool:
        return self._block is None and not self._first <= self._i <= self._last

    def take(self, n: int, partial: bool = False) -> tuple[Sequence[bytes], Sequence[bytes]] | None:
        block = self._block or self._open(n)
        if block is None or n <= 0:
            return (), ()
        lo, hi = self._lo, self._hi
        if hi - lo < n and (not partial or hi <= lo):
            return self._take_pieces(n, partial)
        # The open block answers alone (a seek's first chunk, and most chunks of a long
        # scan): its columns as `Block.columns` cut them, with no piece lists.
        if self._reverse:
            a = max(lo, hi - n)
            self._hi = a
            if a <= lo:
                self._block = None
            b = hi
        else:
            b = min(hi, lo + n)
            self._lo = b
            if b >= hi:
                self._block = None
            a = lo
        if block.deletes and block.deletes_in(a, b):
            return None
        if self._ceiling is not None and block.max_trailer(a, b) > self._ceiling:
            return None
        return block.columns(a, b)

    def _take_pieces(self, n: int, partial: bool) -> tuple[Sequence[bytes], Sequence[bytes]] | None:
        """`take` across blocks: a piece from each block until n entries (or, when
        `partial`, the first non-empty piece), joined."""
        key_pieces: list[Sequence[bytes]] = []
        value_pieces: list[Sequence[bytes]] = []
        size = n
        while n > 0 and not (partial and key_pieces):
            block = self._block or self._open(size)
            if block is None:
                break
            lo, hi = self._lo, self._hi
            if self._reverse:
                a, b = max(lo, hi - n), hi
                self._hi = a
            else:
                a, b = lo, min(hi, lo + n)
                self._lo = b
            if self._lo >= self._hi:
                self._block = None
            if a == b:
                continue
            if block.deletes_in(a, b):
                return None
            if self._ceiling is not None and block.max_trailer(a, b) > self._ceiling:
                return None
            ks, vs = block.columns(a, b)
            key_pieces.append(ks)
            value_pieces.append(vs)
            n -= b - a
        if len(key_pieces) == 1:
            return key_pieces[0], value_pieces[0]
        if self._reverse:  # each piece lies below the one taken before it
            key_pieces.reverse()
            value_pieces.reverse()
        if len(key_pieces) == 2:  # (a seek that crosses a block's end) one C call each
            return [*key_pieces[0], *key_pieces[1]], [*value_pieces[0], *value_pieces[1]]
        return list(chain.from_iterable(key_pieces)), list(chain.from_iterable(value_pieces))
