"""Data blocks: sorted entries in a columnar layout that decodes with few Python steps.

Block payload (before the trailer of format.py), all integers little-endian:

    +-----------+------------------------+--------------------------+------------------+
    | count u32 | key_offsets u32 x(n+1) | value_offsets u32 x(n+1) | trailers u64 x n |
    +-----------+------------------------+--------------------------+------------------+
    | key bytes, concatenated          | value bytes, concatenated                     |
    +----------------------------------+-----------------------------------------------+

Key i is `keys[key_offsets[i]:key_offsets[i+1]]`; trailer i is `seq << 8 | kind`.
Why columnar and not LevelDB's prefix-compressed entries with restart points: in
Python the cost is per interpreted step, not per byte. Here the offset and trailer
arrays load with one C call each (`array.frombytes`); a point lookup then binary-searches
the raw key bytes through the offsets (no per-entry objects), and iteration decodes a
whole block in one list comprehension. Parsed blocks are cached (cache.py).
The same layout serves the index block and the range-deletion block.
"""

from __future__ import annotations

import struct
import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import accumulate, pairwise, repeat
from operator import and_, le, neg, rshift

from ..core.keys import KIND_DELETE, Entry

_COUNT = struct.Struct("<I")
_BIG_ENDIAN = sys.byteorder == "big"
# Where the kind (the low byte of a u64 trailer) sits in the trailers' native bytes.
_KIND_BYTE = 7 if _BIG_ENDIAN else 0


@lru_cache(maxsize=4096)
def _uniform(count: int, width: int) -> tuple[bytes, array[int]]:
    """The offsets 0, width, 2*width, ... (count + 1 of them), which a block's offset
    array holds when every key (or value) has length `width`: as the format encodes them
    (little-endian u32) and as an array. A block whose offsets are these shares the one
    array, read-only, instead of building its own. Bounded: a store sees few distinct
    (count, width) pairs."""
    offsets = array("I", [i * width for i in range(count + 1)])
    return struct.pack(f"<{count + 1}I", *offsets), offsets


@lru_cache(maxsize=1024)
def _cutter(width: int, count: int) -> struct.Struct:
    """A Struct that cuts `count` consecutive strings of `width` bytes in one C call."""
    return struct.Struct(f"{width}s" * count)


def encode_block(keys: list[bytes], trailers: list[int], values: list[bytes]) -> bytes:
    """One block payload from its columns. Cost: a few C-level passes (offsets by
    `accumulate`, arrays by `array`), whatever the entry count."""
    trailer_array = array("Q", trailers)
    if _BIG_ENDIAN:  # the format is little-endian on every machine
        trailer_array.byteswap()
    return b"".join(
        (
            block_head(map(len, keys), map(len, values), len(keys)),
            trailer_array.tobytes(),
            *keys,
            *values,
        )
    )


def block_head(key_lengths: Iterable[int], value_lengths: Iterable[int], count: int) -> bytes:
    """The first `4 + 8 * (count + 1)` bytes of a block payload: the entry count and the
    key and value offset arrays, from the entries' key and value lengths. (A writer
    that has the lengths already passes them; `encode_block` maps `len`.)"""
    key_offsets = array("I", accumulate(key_lengths, initial=0))
    value_offsets = array("I", accumulate(value_lengths, initial=0))
    if _BIG_ENDIAN:
        key_offsets.byteswap()
        value_offsets.byteswap()
    return _COUNT.pack(count) + key_offsets.tobytes() + value_offsets.tobytes()


@lru_cache(maxsize=256)
def fixed_block_head(key_width: int, value_width: int, count: int) -> bytes:
    """The first `4 + 8 * (count + 1)` bytes of the payload `encode_block` makes of
    `count` entries whose keys all have `key_width` bytes and values `value_width`: the
    count and the two offset arrays. They depend on nothing else, so a writer cutting
    blocks of fixed-width entries builds each head once (cached) instead of per block.
    """
    return _COUNT.pack(count) + _uniform(count, key_width)[0] + _uniform(count, value_width)[0]


class BlockBuilder:
    """Accumulates entries (in internal order) and encodes them as one block payload."""

    __slots__ = ("_key_bytes", "_keys", "_trailers", "_value_bytes", "_values")

    def __init__(self) -> None:
        self._keys: list[bytes] = []
        self._values: list[bytes] = []
        self._trailers: list[int] = []
        self._key_bytes = 0
        self._value_bytes = 0

    def add(self, key: bytes, trailer: int, value: bytes) -> None:
        self._keys.append(key)
        self._trailers.append(trailer)
        self._values.append(value)
        self._key_bytes += len(key)
        self._value_bytes += len(value)

    def __len__(self) -> int:
        return len(self._keys)

    def estimated_size(self) -> int:
        """The payload size `finish()` would produce, in bytes."""
        n = len(self._keys)
        return 4 + 16 * n + 8 + self._key_bytes + self._value_bytes

    def finish(self) -> bytes:
        return encode_block(self._keys, self._trailers, self._values)


class Block:
    """A block in memory: its payload and offset arrays, searched without decoding.

    A point lookup binary-searches the raw bytes through the key offsets (about log2(n)
    slices) and builds only the one entry it returns; iteration decodes the whole block
    with `entries()`. Keeping blocks raw in the cache also keeps the cache small: its
    charge is the payload plus the arrays, not a Python object per entry.

    Its *shape*, measured once by `decode_block` from the offsets it parses anyway, is
    `(key width, value width, point deletes)`: a width is the length shared by every key
    (value) of the block, or -1 when they differ. `width` is the key width as the get
    path reads it: the shared key length, or 0 when there is none to use (mixed widths,
    or only empty keys). With fixed-width keys (the common case: fixed-size ids, or
    db_bench's 16-byte keys) a point lookup finds its key with one `bytes.find` over the
    key bytes (C) at a multiple of `width`, instead of a binary search in Python (see
    TableReader.get), and a scan cuts keys (values) with one `struct` call (`columns`).
    """

    __slots__ = (
        "_kb",
        "_ko",
        "_shape",
        "_trailers",
        "_vb",
        "_vo",
        "charge",
        "count",
        "deletes",
        "width",
    )

    def __init__(
        self,
        count: int,
        key_offsets: array[int],
        value_offsets: array[int],
        trailers: array[int],
        key_bytes: bytes,
        value_bytes: bytes,
        shape: tuple[int, int, int] | None = None,
    ) -> None:
        self.count = count
        self._ko = key_offsets
        self._vo = value_offsets
        self._trailers = trailers
        self._kb = key_bytes
        self._vb = value_bytes
        self.charge = len(key_bytes) + len(value_bytes) + 16 * count + 200
        if shape is None:
            shape = _measure_shape(count, key_offsets, value_offsets, trailers)
        self._shape = shape
        self.width = shape[0] if shape[0] > 0 else 0
        self.deletes = shape[2]  # point tombstones in the block

    def key_at(self, i: int) -> bytes:
        ko = self._ko
        return self._kb[ko[i] : ko[i + 1]]

    def entry_at(self, i: int) -> Entry:
        ko, vo, t = self._ko, self._vo, self._trailers[i]
        return (
            self._kb[ko[i] : ko[i + 1]],
            -(t >> 8),
            t & 0xFF,
            self._vb[vo[i] : vo[i + 1]],
        )

    def seek(self, key: bytes) -> int:
        """Index of the first entry whose user key is >= `key` (count if none).

        Cost: about log2(count) byte-slice comparisons, no decoding.
        """
        kb, ko = self._kb, self._ko
        lo, hi = 0, self.count
        while lo < hi:
            mid = (lo + hi) >> 1
            if kb[ko[mid] : ko[mid + 1]] < key:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def max_trailer(self, lo: int, hi: int) -> int:
        """The largest trailer (`seq << 8 | kind`) among entries lo..hi-1 (hi > lo)."""
        return max(self._trailers[lo:hi])

    def lower_bound(self, key: bytes) -> int:
        """`seek(key)` for scans, in C where the keys have one width: a key that is in
        the block is found by `bytes.find` at a multiple of the width (its first
        occurrence there is its first version, where a seek lands); any other key is
        bisected over the keys cut by one `struct` call. Both are cheaper than
        ~log2(count) interpreted slices and compares, the fallback for mixed widths."""
        kw = self._shape[0]
        if kw <= 0:
            return self.seek(key)
        kb = self._kb
        if len(key) == kw:
            at = kb.find(key)
            while at > 0 and at % kw:  # a match straddling two keys: look further
                at = kb.find(key, at + 1)
            if at >= 0:
                return at // kw
        return bisect_left(_cutter(kw, self.count).unpack_from(kb), key)

    def keys(self) -> list[bytes]:
        kb = self._kb
        return [kb[a:b] for a, b in pairwise(self._ko)]

    def entries(self, lo: int = 0, hi: int | None = None) -> list[Entry]:
        """Entries lo..hi-1 (all by default) as `(key, -seq, kind, value)`, decoded in
        one comprehension (for iteration); a fixed-width block (see `shape`) with C
        calls only: its columns, `map`s over the trailers, and a `zip`."""
        kb, vb, ko, vo = self._kb, self._vb, self._ko, self._vo
        count = self.count
        if hi is None or hi > count:
            hi = count
        if lo >= hi:
            return []
        kw, vw, _ = self._shape
        if kw >= 0 and vw >= 0:
            keys, values = self.columns(lo, hi)
            trailers = self._trailers[lo:hi]
            neg_seqs = map(neg, map(rshift, trailers, repeat(8)))
            kinds = map(and_, trailers, repeat(0xFF))
            return list(zip(keys, neg_seqs, kinds, values, strict=True))
        if lo == 0 and hi == count:
            return [
                (kb[a:b], -(t >> 8), t & 0xFF, vb[c:d])
                for (a, b), t, (c, d) in zip(
                    pairwise(ko), self._trailers, pairwise(vo), strict=True
                )
            ]
        return [
            (kb[a:b], -(t >> 8), t & 0xFF, vb[c:d])
            for (a, b), t, (c, d) in zip(
                pairwise(ko[lo : hi + 1]),
                self._trailers[lo:hi],
                pairwise(vo[lo : hi + 1]),
                strict=True,
            )
        ]

    def shape(self) -> tuple[int, int, int]:
        """(key width, value width, point deletes) of the whole block; a width is -1
        when the lengths differ (see the class docs). Measured at decode."""
        return self._shape

    def deletes_in(self, lo: int, hi: int) -> int:
        """Point tombstones among entries lo..hi-1. Cost: three C calls (none at all for
        a block without tombstones, the common case)."""
        if not self.deletes:
            return 0
        return self._trailers[lo:hi].tobytes()[_KIND_BYTE::8].count(KIND_DELETE)

    def columns(self, lo: int, hi: int) -> tuple[Sequence[bytes], Sequence[bytes]]:
        """The keys and the values of entries lo..hi-1, without building entries.

        Why: a scan over clean data (iterators/clean.py) needs only keys and values, and
        cutting them is most of a scan's per-entry cost. Keys (values) that all have one
        length, as fixed-width ids do, are cut by one `struct.unpack_from` in C (about
        0.02 µs per entry here, against 0.12 for a comprehension of slices); other
        lengths fall back to one comprehension of slices.
        """
        kw, vw, _ = self._shape
        n = hi - lo
        keys: Sequence[bytes]
        values: Sequence[bytes]
        if kw >= 0:
            keys = _cutter(kw, n).unpack_from(self._kb, lo * kw)
        else:
            kb = self._kb
            keys = [kb[a:b] for a, b in pairwise(self._ko[lo : hi + 1])]
        if vw >= 0:
            values = _cutter(vw, n).unpack_from(self._vb, lo * vw)
        else:
            vb = self._vb
            values = [vb[a:b] for a, b in pairwise(self._vo[lo : hi + 1])]
        return keys, values


_PAIR = struct.Struct("<II")


class FixedBlock:
    """A data block whose keys all have one width and whose values do too, read in place
    from a buffer that holds it (a long scan's read-ahead; see TableReader.blocks_ahead).

    Why: a scan that reads a block once needs only its columns. Building a `Block`
    (three arrays, two copies of the payload, an order check) and caching it cost
    several times more than cutting the columns, about 0.5 µs per entry on this
    machine; here the columns are cut straight from the read buffer by `struct`, and
    the layout checks are two byte compares. The interface is the part of `Block` a
    scan uses: `count`, `deletes`, `lower_bound`, `columns`, `deletes_in`, `max_trailer`.
    """

    __slots__ = (
        "_buf",
        "_keys_at",
        "_kw",
        "_trailers_at",
        "_values_at",
        "_vw",
        "count",
        "deletes",
    )

    def __init__(
        self, buf: bytes, count: int, trailers_at: int, keys_at: int, kw: int, vw: int
    ) -> None:
        self._buf = buf
        self.count = count
        self._trailers_at = trailers_at
        self._keys_at = keys_at
        self._values_at = keys_at + kw * count
        self._kw = kw
        self._vw = vw
        self.deletes = buf[trailers_at + _KIND_BYTE : keys_at : 8].count(KIND_DELETE)

    def lower_bound(self, key: bytes) -> int:
        kw, buf, at = self._kw, self._buf, self._keys_at
        if kw and len(key) == kw:  # in the block: `bytes.find`, as in Block.lower_bound
            stop = self._values_at
            found = buf.find(key, at, stop)
            while found >= 0 and (found - at) % kw:
                found = buf.find(key, found + 1, stop)
            if found >= 0:
                return (found - at) // kw
        return bisect_left(_cutter(kw, self.count).unpack_from(buf, at), key)

    def columns(self, lo: int, hi: int) -> tuple[Sequence[bytes], Sequence[bytes]]:
        n = hi - lo
        kw, vw = self._kw, self._vw
        return (
            _cutter(kw, n).unpack_from(self._buf, self._keys_at + lo * kw),
            _cutter(vw, n).unpack_from(self._buf, self._values_at + lo * vw),
        )

    def deletes_in(self, lo: int, hi: int) -> int:
        if not self.deletes:
            return 0
        at = self._trailers_at + _KIND_BYTE
        return self._buf[at + 8 * lo : at + 8 * hi : 8].count(KIND_DELETE)

    def max_trailer(self, lo: int, hi: int) -> int:
        trailers: tuple[int, ...] = struct.unpack_from(
            f"<{hi - lo}Q", self._buf, self._trailers_at + 8 * lo
        )
        return max(trailers)


def fixed_block(buf: bytes, at: int, size: int) -> FixedBlock | None:
    """The block payload at `buf[at : at + size]` as a `FixedBlock`, or None when its
    keys or values differ in length (or the layout does not add up: then
    `decode_block` on a copy decides, and names any damage). Cost: a few C calls."""
    if _BIG_ENDIAN or size < 12:
        return None
    (n,) = _COUNT.unpack_from(buf, at)
    key_offsets_at = at + 4
    value_offsets_at = key_offsets_at + 4 * (n + 1)
    trailers_at = value_offsets_at + 4 * (n + 1)
    keys_at = trailers_at + 8 * n
    if not n or keys_at > at + size:
        return None
    k0, k1 = _PAIR.unpack_from(buf, key_offsets_at)
    v0, v1 = _PAIR.unpack_from(buf, value_offsets_at)
    kw, vw = k1 - k0, v1 - v0
    if (
        k0
        or v0
        or keys_at + (kw + vw) * n != at + size
        or buf[key_offsets_at:value_offsets_at] != _uniform(n, kw)[0]
        or buf[value_offsets_at:trailers_at] != _uniform(n, vw)[0]
    ):
        return None
    return FixedBlock(buf, n, trailers_at, keys_at, kw, vw)


def decode_block(payload: bytes, end: int | None = None, check_order: bool = True) -> Block:
    """Parse a block payload (`payload[:end]`, all of it by default) into a searchable
    `Block`, its shape measured (see `Block`). Cost: one C-level array conversion (the
    trailers), two slices and a few bytes compares for a block of fixed-width keys and
    values, whose offset arrays are shared (`_uniform`); one more array conversion per
    column of mixed widths, and with `check_order` a C-level pass over it.

    `end` lets a data block be decoded straight from the bytes read from disk, trailer
    still attached (format.read_stored), without copying the payload out first.
    `check_order` verifies that the offsets never decrease. Data blocks read on the get
    and scan paths skip it: their crc32 has just verified them byte for byte, the writer
    makes offsets by `accumulate` (they cannot decrease), and even offsets that did
    could only misplace slices inside this block's own key or value bytes (the bounds
    below are always checked). It costs as much as the rest of the decode, so it runs
    where the format itself is being verified: `TableReader.check` (verify, repair)
    and the meta blocks read once per table. (Uniform offsets are in order by
    construction.)

    Raises ValueError (the caller turns it into CorruptionError) if the layout is
    inconsistent; checksums have normally caught damage before this point.
    """
    if end is None:
        end = len(payload)
    (n,) = _COUNT.unpack_from(payload, 0)
    vstart = 8 + 4 * n
    tstart = vstart + 4 * (n + 1)
    key_base = tstart + 8 * n
    if key_base > end:
        raise ValueError("block arrays truncated")
    kw, key_offsets = _offsets(payload, 4, vstart, n, end, check_order)
    vw, value_offsets = _offsets(payload, vstart, tstart, n, end, check_order)
    trailer_bytes = payload[tstart:key_base]
    trailers = array("Q", trailer_bytes)
    if _BIG_ENDIAN:
        trailers.byteswap()
    value_base = key_base + key_offsets[n]
    if value_base + value_offsets[n] != end:
        raise ValueError("block length does not match its offsets")
    # The kind is the low byte of each little-endian trailer: one C count.
    deletes = trailer_bytes[::8].count(KIND_DELETE)
    return Block(
        n,
        key_offsets,
        value_offsets,
        trailers,
        payload[key_base:value_base],
        payload[value_base:end],
        (kw, vw, deletes),
    )


def _offsets(
    payload: bytes, at: int, stop: int, n: int, end: int, check_order: bool
) -> tuple[int, array[int]]:
    """The offset array at `payload[at:stop]` (n + 1 of them) and the width it shows
    (-1: mixed). Uniform offsets are recognised with one bytes compare against the
    memoized encoding, and their array is the shared one."""
    raw = payload[at:stop]
    (width,) = _COUNT.unpack_from(payload, at + 4) if n else (0,)
    if width * n <= end:  # (a damaged block's width could overflow the array)
        encoded, shared = _uniform(n, width)
        if raw == encoded:
            return width, shared
    offsets = array("I", raw)
    if _BIG_ENDIAN:
        offsets.byteswap()
    if check_order and not all(map(le, offsets, offsets[1:])):
        raise ValueError("block offsets decrease")
    return -1, offsets


def _measure_shape(
    count: int, key_offsets: array[int], value_offsets: array[int], trailers: array[int]
) -> tuple[int, int, int]:
    """The shape of a block built from arrays (see `Block`); `decode_block` measures it
    on the payload instead."""
    widths = []
    for offsets in (key_offsets, value_offsets):
        width = offsets[1] - offsets[0] if count else 0
        if list(offsets) != list(_uniform(count, width)[1]):
            width = -1
        widths.append(width)
    deletes = trailers.tobytes()[_KIND_BYTE::8].count(KIND_DELETE)
    return widths[0], widths[1], deletes
