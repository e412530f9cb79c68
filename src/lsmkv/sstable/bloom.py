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
    """The filter payload for the given key hashes. Cost: O(n * k)."""
    k = probes_for(bits_per_key)
    # At least 64 bits, so tiny tables do not get an absurdly high false-positive rate.
    nbytes = (max(64, len(hashes) * bits_per_key) + 7) // 8
    nbits = nbytes * 8
    bits = bytearray(nbytes)
    for h, step in hashes:
        for _ in range(k):
            pos = h % nbits
            bits[pos >> 3] |= 1 << (pos & 7)
            h += step
    return bytes((k,)) + bytes(bits)


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
