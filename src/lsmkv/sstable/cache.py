"""The block cache: decoded data blocks shared by all tables, bounded in bytes.

Where a block lives: each open table (TableReader) has a list with one slot per data
block, and a cached block sits in its table's slot. A lookup is one list index by block
number, with no key to build or hash: cheaper, and kinder to the CPU cache, than a dict
keyed by (table, offset) holding every table's blocks (a probe there touched the hash
table, an entry and a tuple key). The cache itself keeps the budget: the blocks it
filled, oldest first, with their charges.

Eviction is first-in first-out: a hit costs the slot read and no bookkeeping, which in
Python matters more than LRU's better hit rate. Inserts and evictions take a lock;
lookups do not (reading a list item is atomic).
"""

from __future__ import annotations

import collections
import threading
from typing import Protocol

from .block import Block

Slots = list[Block | None]  # one table's blocks by block number (None: not cached)


class CacheOwner(Protocol):
    """What the cache needs of a table (TableReader): its slots, its number, and the
    count of its cached blocks, which the cache keeps (read.lookup reads it to choose
    between searching a cached block first and asking the bloom filter first)."""

    slots: Slots
    number: int
    cached_blocks: int


class BlockCache:
    __slots__ = ("_lock", "_order", "capacity_bytes", "used_bytes")

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity_bytes = capacity_bytes
        self.used_bytes = 0
        self._lock = threading.Lock()
        # (owner, block number, charge) of each cached block, oldest first.
        self._order: collections.deque[tuple[CacheOwner, int, int]] = collections.deque()

    def put(self, owner: CacheOwner, i: int, block: Block) -> None:
        """Cache `block` in slot `i` of its table `owner`, evicting the oldest blocks
        while over capacity. Cost: O(1) per block inserted or evicted."""
        charge = block.charge
        with self._lock:
            slots = owner.slots
            if slots[i] is not None:  # another thread read it meanwhile
                return
            slots[i] = block
            owner.cached_blocks += 1
            order = self._order
            order.append((owner, i, charge))
            used = self.used_bytes + charge
            capacity = self.capacity_bytes
            while used > capacity and len(order) > 1:
                old, j, old_charge = order.popleft()
                old.slots[j] = None
                old.cached_blocks -= 1
                used -= old_charge
            self.used_bytes = used

    def evict_file(self, table: int) -> None:
        """Drop every block of a deleted table. Cost: O(blocks cached)."""
        with self._lock:
            kept: collections.deque[tuple[CacheOwner, int, int]] = collections.deque()
            used = 0
            for entry in self._order:
                owner = entry[0]
                if owner.number == table:
                    owner.slots[entry[1]] = None
                    owner.cached_blocks -= 1
                else:
                    kept.append(entry)
                    used += entry[2]
            self._order = kept
            self.used_bytes = used

    def __len__(self) -> int:
        return len(self._order)
