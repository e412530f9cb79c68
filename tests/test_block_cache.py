"""The block cache stays within its byte budget, evicts oldest first, and forgets a
deleted table's blocks entirely."""

from __future__ import annotations

from lsmkv.sstable.block import decode_block, encode_block
from lsmkv.sstable.cache import BlockCache


def _block(n: int) -> object:
    keys = [b"k%04d" % i for i in range(n)]
    return decode_block(encode_block(keys, [(i + 1) << 8 | 1 for i in range(n)], keys))


def test_fifo_within_budget_and_evict_file() -> None:
    block = _block(4)
    charge = block.charge  # type: ignore[attr-defined]
    cache = BlockCache(charge * 10)
    for i in range(50):
        cache.put((i % 3, i), block)  # type: ignore[arg-type]
        assert cache.used_bytes <= cache.capacity_bytes
        assert cache.used_bytes == charge * len(cache)
    assert len(cache) == 10
    assert [cache.get((i % 3, i)) is not None for i in range(50)] == [False] * 40 + [True] * 10
    cache.evict_file(1)
    assert all(k[0] != 1 for k in cache.blocks)
    assert all(k[0] != 1 for k in cache._order)
    assert cache.used_bytes == charge * len(cache)
    for i in range(50, 80):  # eviction keeps working after a file's blocks were dropped
        cache.put((i % 3, i), block)  # type: ignore[arg-type]
        assert cache.used_bytes <= cache.capacity_bytes
    assert len(cache._order) == len(cache)
