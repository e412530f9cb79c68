"""The block cache stays within its byte budget, evicts oldest first, and forgets a
deleted table's blocks entirely."""

from __future__ import annotations

from dataclasses import dataclass, field

from lsmkv.sstable.block import Block, decode_block, encode_block
from lsmkv.sstable.cache import BlockCache, Slots


@dataclass
class _Table:
    """A cache owner (TableReader's part the cache uses)."""

    number: int
    slots: Slots = field(default_factory=lambda: [None] * 80)
    cached_blocks: int = 0


def _block(n: int) -> Block:
    keys = [b"k%04d" % i for i in range(n)]
    return decode_block(encode_block(keys, [(i + 1) << 8 | 1 for i in range(n)], keys))


def test_fifo_within_budget_and_evict_file() -> None:
    block = _block(4)
    charge = block.charge
    cache = BlockCache(charge * 10)
    owners = [_Table(n) for n in range(3)]  # three tables
    tables = [t.slots for t in owners]
    for i in range(50):
        cache.put(owners[i % 3], i, block)
        assert cache.used_bytes <= cache.capacity_bytes
        assert cache.used_bytes == charge * len(cache)
    assert len(cache) == 10
    assert [tables[i % 3][i] is not None for i in range(50)] == [False] * 40 + [True] * 10
    # Each table's count of cached blocks follows its slots.
    assert [t.cached_blocks for t in owners] == [sum(s is not None for s in t) for t in tables]
    cache.put(owners[49 % 3], 49, _block(4))  # already cached: kept as it is
    assert tables[49 % 3][49] is block and len(cache) == 10
    cache.evict_file(1)
    assert all(slot is None for slot in tables[1]) and owners[1].cached_blocks == 0
    assert (
        sum(slot is not None for t in tables for slot in t) == len(cache) == 6
    )  # 40, 43, 46, 49 were table 1
    assert cache.used_bytes == charge * len(cache)
    for i in range(50, 80):  # eviction keeps working after a file's blocks were dropped
        cache.put(owners[i % 3], i, block)
        assert cache.used_bytes <= cache.capacity_bytes
    assert sum(slot is not None for t in tables for slot in t) == len(cache) == 10
    assert [t.cached_blocks for t in owners] == [sum(s is not None for s in t) for t in tables]
