"""Bloom filters: one per SSTable, over its user keys, so a get can skip a table that
cannot hold the key without reading any data block.

Filter block payload:

    +--------+-----------------------------+
    | k  u8  | bit array (m bits, m/8 B)   |   bit i is byte i>>3, mask 1 << (i & 7)
    +--------+-----------------------------+

Hashing: two 32-bit hashes of the key computed in C by zlib, h1 = crc32(key) and
h2 = adler32(key) | 1, both stable across processes and machines (Python's `hash()` is
salted per process, so it cannot be stored). The k probe positions are
(h1 + i*h2) mod m (Kirsch and Mitzenmacher's double hashing): two C calls per lookup,
whatever k is, computed once per get for all tables. Measured at 10 bits/key over 100k
keys: 0.78% to 0.86% false positives against the theoretical 0.82% (a first version that
derived h2 by rotating h1 measured 1.3%; one that mixed crc32 through murmur's finaliser
matched theory too, at six times the hashing cost).

With b bits per key the best k is b*ln2, and the false-positive rate is about
(1 - e^(-k/b))^k: 0.82% at b = 10 (k = 7).
"""

from __future__ import annotations

import math
import zlib
from itertools import repeat
from operator import itemgetter, or_

_CHUNK = 4096  # keys hashed at a time by build_filter_for_keys


def bloom_hash(key: bytes) -> tuple[int, int]:
    """`(h1, h2)` of a key: compute once, probe any number of filters with it."""
    return zlib.crc32(key), zlib.adler32(key) | 1


def probes_for(bits_per_key: int) -> int:
    """k = round(b * ln 2), clamped to [1, 30]."""
    return max(1, min(30, round(bits_per_key * math.log(2))))


def theoretical_fp_rate(bits_per_key: int) -> float:
    k = probes_for(bits_per_key)
    return float((1.0 - math.exp(-k / bits_per_key)) ** k)


def build_filter(hashes: list[tuple[int, int]], bits_per_key: int) -> bytes:
    """The filter payload for the given key hashes. Cost: O(n * k), in C (see
    `build_filter_columns`)."""
    return build_filter_columns(
        list(map(itemgetter(0), hashes)), list(map(itemgetter(1), hashes)), bits_per_key
    )


def build_filter_for_keys(keys: list[bytes], bits_per_key: int) -> bytes:
    """The filter payload for the given (distinct) user keys: what a table writer calls.
    Cost: two C hash calls per key, then the probes of `build_filter_columns`; the
    hashes are made a chunk of keys at a time, so the extra memory stays small (a list
    of hash ints for every key of a large table would cost 80 bytes per key)."""
    k = probes_for(bits_per_key)
    nbytes = (max(64, len(keys) * bits_per_key) + 7) // 8
    scratch = bytearray(nbytes * 8)
    for lo in range(0, len(keys), _CHUNK):
        part = keys[lo : lo + _CHUNK]
        h1s = list(map(zlib.crc32, part))
        h2s = list(map(or_, map(zlib.adler32, part), repeat(1)))
        _set_probes(scratch, h1s, h2s, k)
    return _pack(scratch, k)


def build_filter_columns(h1s: list[int], h2s: list[int], bits_per_key: int) -> bytes:
    """The filter payload for keys whose hashes are `h1s[i], h2s[i]` (see `bloom_hash`).

    Cost: O(n * k), about 2.5x less than setting bits in place. Why it is written this
    way: a flush or compaction builds a filter over every key it writes, and the old
    loop (shift, mask, read-modify-write of a byte per probe) was 7% of a write-heavy
    profile. Here a probe is one store of 1 into a scratch bytearray holding one byte per
    bit; for the usual k = 7 (10 bits/key) the probe loop is unrolled, which halves the
    interpreter steps again (measured: 0.10 s for 200k keys against 0.26 s). The bytes
    are then packed 8 to 1 with big-int arithmetic in C: the slice `scratch[j::8]` holds
    bit j of every output byte, so OR-ing `int.from_bytes(slice) << j` over j = 0..7
    gives the bit array (bit i is byte i >> 3, mask 1 << (i & 7): the documented layout).
    """
    k = probes_for(bits_per_key)
    # At least 64 bits, so tiny tables do not get an absurdly high false-positive rate.
    nbytes = (max(64, len(h1s) * bits_per_key) + 7) // 8
    scratch = bytearray(nbytes * 8)
    _set_probes(scratch, h1s, h2s, k)
    return _pack(scratch, k)


def _set_probes(scratch: bytearray, h1s: list[int], h2s: list[int], k: int) -> None:
    """Set byte (h1 + i*h2) mod m of `scratch` to 1 for i < k, for every key (m: its size)."""
    m = len(scratch)
    if k == 7:
        for h, s in zip(h1s, h2s, strict=True):
            scratch[h % m] = 1
            h += s
            scratch[h % m] = 1
            h += s
            scratch[h % m] = 1
            h += s
            scratch[h % m] = 1
            h += s
            scratch[h % m] = 1
            h += s
            scratch[h % m] = 1
            h += s
            scratch[h % m] = 1
    else:
        rounds = range(k)
        for h, s in zip(h1s, h2s, strict=True):
            for _ in rounds:
                scratch[h % m] = 1
                h += s


def _pack(scratch: bytearray, k: int) -> bytes:
    """The payload: k, then the scratch's one-byte-per-bit array packed 8 bits a byte."""
    packed = 0
    for j in range(8):
        packed |= int.from_bytes(scratch[j::8], "little") << j
    return bytes((k,)) + packed.to_bytes(len(scratch) // 8, "little")


class BloomFilter:
    """A decoded filter block. `may_contain` answers False only if the key is absent."""

    __slots__ = ("_bits", "_k", "_nbits", "probes")

    def __init__(self, payload: bytes) -> None:
        if len(payload) < 2 or not 1 <= payload[0] <= 30:
            raise ValueError("filter block malformed")
        self._k = payload[0]
        self._bits = payload[1:]
        self._nbits = len(self._bits) * 8
        # The probe loop's `range(k)`, made once: read.lookup iterates it per table.
        self.probes = range(payload[0])

    def may_contain(self, key: bytes) -> bool:
        return self.may_contain_hash(bloom_hash(key))

    def may_contain_hash(self, hashes: tuple[int, int]) -> bool:
        """False only if the key is certainly absent. Cost: at most k bit tests (a miss
        usually stops after one or two)."""
        h, step = hashes
        bits, nbits = self._bits, self._nbits
        for _ in self.probes:
            pos = h % nbits
            if not bits[pos >> 3] & (1 << (pos & 7)):
                return False
            h += step
        return True
