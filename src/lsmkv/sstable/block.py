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
from itertools import accumulate, pairwise
from operator import le

from ..core.keys import Entry

_COUNT = struct.Struct("<I")
_BIG_ENDIAN = sys.byteorder == "big"


def encode_block(keys: list[bytes], trailers: list[int], values: list[bytes]) -> bytes:
    """One block payload from its columns. Cost: a few C-level passes (offsets by
    `accumulate`, arrays by `array`), whatever the entry count."""
    key_offsets = array("I", accumulate(map(len, keys), initial=0))
    value_offsets = array("I", accumulate(map(len, values), initial=0))
    trailer_array = array("Q", trailers)
    if _BIG_ENDIAN:  # the format is little-endian on every machine
        for arr in (key_offsets, value_offsets, trailer_array):
            arr.byteswap()
    return b"".join(
        (
            _COUNT.pack(len(keys)),
            key_offsets.tobytes(),
            value_offsets.tobytes(),
            trailer_array.tobytes(),
            *keys,
            *values,
        )
    )


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

    `width` is the length shared by every key of the block, or 0 if they differ. With
    fixed-width keys (the common case: fixed-size ids, or db_bench's 16-byte keys) a
    point lookup finds its key with one `bytes.find` over the key bytes (C) at a
    multiple of `width`, instead of a binary search in Python (see TableReader.get).
    """

    __slots__ = ("_kb", "_ko", "_trailers", "_vb", "_vo", "charge", "count", "width")

    def __init__(
        self,
        count: int,
        key_offsets: array[int],
        value_offsets: array[int],
        trailers: array[int],
        key_bytes: bytes,
        value_bytes: bytes,
        width: int = 0,
    ) -> None:
        self.count = count
        self.width = width
        self._ko = key_offsets
        self._vo = value_offsets
        self._trailers = trailers
        self._kb = key_bytes
        self._vb = value_bytes
        self.charge = len(key_bytes) + len(value_bytes) + 16 * count + 200

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

    def keys(self) -> list[bytes]:
        kb = self._kb
        return [kb[a:b] for a, b in pairwise(self._ko)]

    def entries(self, lo: int = 0, hi: int | None = None) -> list[Entry]:
        """Entries lo..hi-1 (all by default) as `(key, -seq, kind, value)`, decoded in
        one comprehension (for iteration)."""
        kb, vb, ko, vo = self._kb, self._vb, self._ko, self._vo
        count = self.count
        if hi is None or hi > count:
            hi = count
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


def decode_block(payload: bytes, end: int | None = None, check_order: bool = True) -> Block:
    """Parse a block payload (`payload[:end]`, all of it by default) into a searchable
    `Block`. Cost: three C-level array conversions and two slices, whatever the entry
    count; with `check_order`, two more C-level passes over the offsets.

    `end` lets a data block be decoded straight from the bytes read from disk, trailer
    still attached (format.read_stored), without copying the payload out first.
    `check_order` verifies that the offsets never decrease. Data blocks read on the get
    and scan paths skip it: their crc32 has just verified them byte for byte, the writer
    makes offsets by `accumulate` (they cannot decrease), and even offsets that did
    could only misplace slices inside this block's own key or value bytes (the bounds
    below are always checked). It costs as much as the rest of the decode, so it runs
    where the format itself is being verified: `TableReader.check` (verify, repair)
    and the meta blocks read once per table.

    Raises ValueError (the caller turns it into CorruptionError) if the layout is
    inconsistent; checksums have normally caught damage before this point.
    """
    if end is None:
        end = len(payload)
    (n,) = _COUNT.unpack_from(payload, 0)
    # The three arrays in one C call each (array's constructor runs frombytes).
    vstart = 8 + 4 * n
    tstart = vstart + 4 * (n + 1)
    key_base = tstart + 8 * n
    if key_base > end:
        raise ValueError("block arrays truncated")
    key_offset_bytes = payload[4:vstart]
    key_offsets = array("I", key_offset_bytes)
    value_offsets = array("I", payload[vstart:tstart])
    trailers = array("Q", payload[tstart:key_base])
    if _BIG_ENDIAN:
        for arr in (key_offsets, value_offsets, trailers):
            arr.byteswap()
    value_base = key_base + key_offsets[n]
    if value_base + value_offsets[n] != end:
        raise ValueError("block length does not match its offsets")
    # Offsets must not decrease (checked in C).
    if check_order and not (
        all(map(le, key_offsets, key_offsets[1:]))
        and all(map(le, value_offsets, value_offsets[1:]))
    ):
        raise ValueError("block offsets decrease")
    # Fixed-width keys: the key offsets are exactly 0, w, 2w, ... (one bytes compare
    # against a memoized encoding of that array).
    width = key_offsets[1] if n else 0
    if width and key_offsets[n] == n * width:
        uniform = _UNIFORM_OFFSETS.get((n, width))
        if uniform is None:
            uniform = _uniform_offsets(n, width)
        if key_offset_bytes != uniform:
            width = 0
    else:
        width = 0
    return Block(
        n,
        key_offsets,
        value_offsets,
        trailers,
        payload[key_base:value_base],
        payload[value_base:end],
        width,
    )


# The encoded key offsets of a block of n keys of w bytes each, by (n, w); bounded,
# since a store sees few distinct (count, width) pairs.
_UNIFORM_OFFSETS: dict[tuple[int, int], bytes] = {}


def _uniform_offsets(n: int, width: int) -> bytes:
    encoded = struct.pack(f"<{n + 1}I", *range(0, (n + 1) * width, width))
    if len(_UNIFORM_OFFSETS) < 4096:
        _UNIFORM_OFFSETS[(n, width)] = encoded
    return encoded
