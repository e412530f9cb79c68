"""memtable.py: versions newest first, reads at a sequence number, ordered iteration."""

from __future__ import annotations

from lsmkv.core.keys import KIND_DELETE, KIND_PUT, KIND_RANGE_DELETE
from lsmkv.memtable import Memtable


def _filled() -> Memtable:
    m = Memtable(log_number=3)
    m.add(1, KIND_PUT, b"b", b"b1")
    m.add(2, KIND_PUT, b"a", b"a2")
    m.add(3, KIND_PUT, b"b", b"b3")
    m.add(4, KIND_DELETE, b"c", b"")
    m.add(5, KIND_RANGE_DELETE, b"a", b"b")
    m.add(6, KIND_PUT, b"d", b"d6")
    return m


def test_get_sees_the_newest_version_at_a_seq() -> None:
    m = _filled()
    assert m.get(b"b", 10) == (b"b", -3, KIND_PUT, b"b3")
    assert m.get(b"b", 2) == (b"b", -1, KIND_PUT, b"b1")
    assert m.get(b"b", 0) is None
    assert m.get(b"c", 10) == (b"c", -4, KIND_DELETE, b"")  # deleted, not absent
    assert m.get(b"zz", 10) is None
    # Range tombstones are answered by the fragments, not by get().
    assert m.get(b"a", 10) == (b"a", -2, KIND_PUT, b"a2")
    assert m.fragments.covering_seq(b"a", 10) == 5
    assert m.fragments.covering_seq(b"a", 4) == 0
    m.check()


def test_counts_and_sequence_range() -> None:
    m = _filled()
    assert len(m) == 6 and m.point_deletes == 1
    assert (m.first_seq, m.last_seq) == (1, 6)
    assert m.approx_bytes > sum(len(x) for x in (b"b", b"b1", b"a", b"a2"))


def test_iteration_orders() -> None:
    m = _filled()
    latest = [(e[0], -e[1]) for e in m.iter_latest(10)]
    assert latest == [(b"a", 2), (b"b", 3), (b"c", 4), (b"d", 6)]
    assert [e[0] for e in m.iter_latest(10, b"b", b"d")] == [b"b", b"c"]
    assert [e[0] for e in m.iter_latest(10, reverse=True)] == [b"d", b"c", b"b", b"a"]
    assert [(e[0], -e[1]) for e in m.iter_latest(2)] == [(b"a", 2), (b"b", 1)]
    assert [(e[0], -e[1]) for e in m.iter_all()] == [
        (b"a", 2),
        (b"b", 3),
        (b"b", 1),
        (b"c", 4),
        (b"d", 6),
    ]


def test_an_iterator_keeps_its_key_list_while_writers_go_on() -> None:
    m = _filled()
    it = m.iter_latest(100)
    first = next(it)
    m.add(7, KIND_PUT, b"aa", b"new")  # sorts between a and b
    rest = list(it)
    assert first[0] == b"a"
    assert [e[0] for e in rest] == [b"b", b"c", b"d"]  # the new key is not seen
    assert [e[0] for e in m.iter_latest(100)][:2] == [b"a", b"aa"]
    m.check()


def test_memtable_bytes_is_real_memory() -> None:
    """`approx_bytes` (what `memtable_bytes` limits) tracks the memory the entries really
    take, measured by tracemalloc: the structures, plus the key and value objects."""
    import sys
    import tracemalloc

    n = 20_000
    keys = [b"%016d" % ((i * 7919) % n) for i in range(n)]
    values = [bytes([i & 0xFF]) * 100 for i in range(n)]
    objects = sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in zip(keys, values, strict=True))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        m = Memtable(1)
        for i, (k, v) in enumerate(zip(keys, values, strict=True)):
            m.add(i + 1, KIND_PUT, k, v)
        m.sorted_keys()
        structures = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    real = structures + objects
    assert 0.8 * real <= m.approx_bytes <= 1.25 * real, (m.approx_bytes, real)


def test_add_many_matches_add_per_op() -> None:
    """The bulk batch insert leaves the memtable exactly as one `add` per op does: keys
    new, already present, repeated inside the batch, deletes and range deletions."""
    import random

    rng = random.Random(5)
    one, bulk = Memtable(1), Memtable(1)
    seq = 1
    for _ in range(200):
        ops = []
        for _ in range(rng.randrange(1, 30)):
            key = b"k%03d" % rng.randrange(120)
            r = rng.random()
            if r < 0.1:
                ops.append((KIND_DELETE, key, b""))
            elif r < 0.12:
                ops.append((KIND_RANGE_DELETE, key, key + b"5"))
            else:
                ops.append((KIND_PUT, key, rng.randbytes(5)))
        for i, (kind, key, value) in enumerate(ops):
            one.add(seq + i, kind, key, value)
        kinds = bytes(op[0] for op in ops)
        bulk.add_many(
            seq,
            [op[1] for op in ops],
            [op[2] for op in ops],
            None if kinds.count(KIND_PUT) == len(ops) else kinds,
            # As the engine passes it: the batch's key and value bytes (or counted here).
            sum(len(op[1]) + len(op[2]) for op in ops) if rng.random() < 0.5 else None,
        )
        seq += len(ops)
    for m in (one, bulk):
        m.check()
    assert sorted(one.index) == sorted(bulk.index)
    assert all(one.versions(k) == bulk.versions(k) for k in one.index)
    assert one.range_tombstones == bulk.range_tombstones
    assert (one.entry_count, one.point_deletes, one.shadowed, one.approx_bytes) == (
        bulk.entry_count,
        bulk.point_deletes,
        bulk.shadowed,
        bulk.approx_bytes,
    )
    assert list(one.iter_all()) == list(bulk.iter_all())
