"""The block cache: decoded data blocks shared by all tables, bounded in bytes.

Eviction is first-in first-out over a `dict` (insertion ordered): a hit costs one
dict lookup and no bookkeeping, which in Python matters more than LRU's better hit
rate. Inserts and evictions take a lock; lookups do not (a dict read is atomic).
"""

from __future__ import annotations

import threading

from .block import Block

CacheKey = tuple[int, int]  # (file number, block offset)


class BlockCache:
    __slots__ = ("_blocks", "_lock", "blocks", "capacity_bytes", "used_bytes")

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity_bytes = capacity_bytes
        self.used_bytes = 0
        self._blocks: dict[CacheKey, Block] = {}
        # The same dict, read directly by TableReader.get (a lookup is one dict.get;
        # the dict object is never replaced, only mutated under the lock).
        self.blocks = self._blocks
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> Block | None:
        return self._blocks.get(key)

    def put(self, key: CacheKey, block: Block) -> None:
        with self._lock:
            if key in self._blocks:
                return
            self._blocks[key] = block
            self.used_bytes += block.charge
            blocks = self._blocks
            while self.used_bytes > self.capacity_bytes and len(blocks) > 1:
                oldest = next(iter(blocks))
                self.used_bytes -= blocks.pop(oldest).charge

    def evict_file(self, number: int) -> None:
        """Drop every block of a deleted table."""
        with self._lock:
            for key in [k for k in self._blocks if k[0] == number]:
                self.used_bytes -= self._blocks.pop(key).charge

    def __len__(self) -> int:
        return len(self._blocks)
