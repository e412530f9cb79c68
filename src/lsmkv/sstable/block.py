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
arrays decode with one C call each (`array.frombytes`), and a whole block decodes into
a list of keys (for `bisect`) and a list of ready-made entry tuples in two list
comprehensions. Decoded blocks are cached (cache.py), so a hot block is decoded once.
The same layout serves the index block and the range-deletion block.
"""

from __future__ import annotations

import struct
import sys
from array import array
from itertools import pairwise

from ..core.keys import Entry

_COUNT = struct.Struct("<I")
_BIG_ENDIAN = sys.byteorder == "big"


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
        keys, values = self._keys, self._values
        key_offsets = array("I", [0])
        value_offsets = array("I", [0])
        total = 0
        for k in keys:
            total += len(k)
            key_offsets.append(total)
        total = 0
        for v in values:
            total += len(v)
            value_offsets.append(total)
        trailers = array("Q", self._trailers)
        if _BIG_ENDIAN:  # the format is little-endian on every machine
            for arr in (key_offsets, value_offsets, trailers):
                arr.byteswap()
        return b"".join(
            (
                _COUNT.pack(len(keys)),
                key_offsets.tobytes(),
                value_offsets.tobytes(),
                trailers.tobytes(),
                *keys,
                *values,
            )
        )


class DecodedBlock:
    """A block in memory: `keys[i]` for bisect, `entries[i]` = `(key, -seq, kind, value)`."""

    __slots__ = ("charge", "entries", "keys")

    def __init__(self, keys: list[bytes], entries: list[Entry], charge: int) -> None:
        self.keys = keys
        self.entries = entries
        self.charge = charge  # approximate memory it holds, for the block cache


def decode_block(payload: bytes) -> DecodedBlock:
    """Decode a block payload. Cost: O(n) in C-level calls plus two comprehensions.

    Raises ValueError (the caller turns it into CorruptionError) if the layout is
    inconsistent; checksums have normally caught damage before this point.
    """
    (n,) = _COUNT.unpack_from(payload, 0)
    pos = 4
    key_offsets = array("I")
    key_offsets.frombytes(payload[pos : pos + 4 * (n + 1)])
    pos += 4 * (n + 1)
    value_offsets = array("I")
    value_offsets.frombytes(payload[pos : pos + 4 * (n + 1)])
    pos += 4 * (n + 1)
    trailers = array("Q")
    trailers.frombytes(payload[pos : pos + 8 * n])
    pos += 8 * n
    if _BIG_ENDIAN:
        for arr in (key_offsets, value_offsets, trailers):
            arr.byteswap()
    if len(trailers) != n or len(value_offsets) != n + 1:
        raise ValueError("block arrays truncated")
    key_base = pos
    value_base = key_base + key_offsets[n]
    if value_base + value_offsets[n] != len(payload):
        raise ValueError("block length does not match its offsets")
    kb = payload[key_base:value_base]
    vb = payload[value_base:]
    keys = [kb[a:b] for a, b in pairwise(key_offsets)]
    values = [vb[a:b] for a, b in pairwise(value_offsets)]
    entries: list[Entry] = [
        (k, -(t >> 8), t & 0xFF, v) for k, t, v in zip(keys, trailers, values, strict=True)
    ]
    return DecodedBlock(keys, entries, len(payload) + 120 * n)
