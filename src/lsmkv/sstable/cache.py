"""The block cache: decoded data blocks shared by all tables, bounded in bytes.

Eviction is first-in first-out over a `dict` (insertion ordered): a hit costs one
dict lookup and no bookkeeping, which in Python matters more than LRU's better hit
rate. Inserts and evictions take a lock; lookups do not (a dict read is atomic).
"""

from __future__ import annotations

import collections
import threading

from .block import Block

CacheKey = tuple[int, int]  # (file number, block offset)


class BlockCache:
    __slots__ = ("_blocks", "_lock", "_order", "blocks", "capacity_bytes", "used_bytes")

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity_bytes = capacity_bytes
        self.used_bytes = 0
        self._blocks: dict[CacheKey, Block] = {}
        # The same dict, read directly by TableReader.get (a lookup is one dict.get;
        # the dict object is never replaced, only mutated under the lock).
        self.blocks = self._blocks
        self._lock = threading.Lock()
        self._order: collections.deque[CacheKey] = collections.deque()  # insertion order

    def get(self, key: CacheKey) -> Block | None:
        return self._blocks.get(key)

    def put(self, key: CacheKey, block: Block) -> None:
        """Insert a block, evicting the oldest while over capacity. Cost: O(1) per
        block inserted or evicted."""
        with self._lock:
            blocks = self._blocks
            if key in blocks:
                return
            blocks[key] = block
            self._order.append(key)
            self.used_bytes += block.charge
            order = self._order
            # The oldest key comes from a deque, not `next(iter(blocks))`: after many
            # deletions at its front a dict walks over their empty slots on every such
            # call, which made each eviction cost O(cache size).
            while self.used_bytes > self.capacity_bytes and len(blocks) > 1 and order:
                old = blocks.pop(order.popleft(), None)
                if old is not None:  # evict_file may have dropped it already
                    self.used_bytes -= old.charge

    def evict_file(self, number: int) -> None:
        """Drop every block of a deleted table."""
        with self._lock:
            for key in [k for k in self._blocks if k[0] == number]:
                self.used_bytes -= self._blocks.pop(key).charge
            # Same O(cache size) pass over the order, so it never keeps dead keys.
            self._order = collections.deque(k for k in self._order if k[0] != number)

    def __len__(self) -> int:
        return len(self._blocks)
