"""The clean fast path of a scan (iterators/clean.py) against the general path: same
pairs, same order, and for whole scans the same step-over counts, on random stores
with overlapping sources, several versions per key, tombstones, range tombstones,
snapshots, both directions and limits. Also its pieces: `Block.columns` against
`Block.entries`, and `CleanMerge` on hand-made sources."""

from __future__ import annotations

import random
from collections.abc import Iterator
from itertools import chain
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lsmkv
from lsmkv.engine import scan as scan_module
from lsmkv.iterators.clean import Chunk, CleanMerge, Columns, ConcatColumns, short_merge
from lsmkv.sstable.block import decode_block, encode_block, fixed_block
from lsmkv.testing import MemFS

COUNTERS = ("iterator_entries", "tombstones_skipped", "range_deleted_skipped", "shadowed_skipped")


# ------------------------------------------------------------------ Block.columns
@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 3)), min_size=1, max_size=60),
    st.booleans(),
    st.booleans(),
    st.data(),
)
def test_block_columns_match_entries(
    kinds_and_sizes: list[tuple[int, int]], fixed_keys: bool, fixed_values: bool, data: Any
) -> None:
    n = len(kinds_and_sizes)
    keys = [b"%06d" % i if fixed_keys else b"k" * (1 + i % 3) + b"%06d" % i for i in range(n)]
    values = [b"v" * (4 if fixed_values else size) for _, size in kinds_and_sizes]
    trailers = [(100 + i) << 8 | kind for i, (kind, _) in enumerate(kinds_and_sizes)]
    payload = encode_block(keys, trailers, values)
    block = decode_block(payload)
    lo = data.draw(st.integers(0, n))
    hi = data.draw(st.integers(lo, n))
    entries = block.entries(lo, hi)
    assert entries == [
        (keys[i], -(trailers[i] >> 8), trailers[i] & 0xFF, values[i]) for i in range(lo, hi)
    ]
    probe = data.draw(st.sampled_from([*keys, b"", b"k", b"\xff"]))
    # The same payload read in place from a larger buffer, as a scan's read-ahead does.
    pad = data.draw(st.integers(0, 9))
    buf = b"x" * pad + payload + b"y" * 3
    fixed = fixed_block(buf, pad, len(payload))
    uniform = len(set(map(len, keys))) == 1 and len(set(map(len, values))) == 1
    assert (fixed is not None) == uniform
    for b in (block, fixed) if fixed is not None else (block,):
        got_keys, got_values = b.columns(lo, hi)
        assert list(got_keys) == [e[0] for e in entries]
        assert list(got_values) == [e[3] for e in entries]
        assert b.deletes_in(lo, hi) == sum(1 for e in entries if e[2] == 0)
        assert b.lower_bound(probe) == block.seek(probe)
        if hi > lo:
            assert b.max_trailer(lo, hi) == max(trailers[lo:hi])


# ------------------------------------------------------------------ CleanMerge
class _ListColumns:
    """A source over a sorted list of (key, kind, value): refuses chunks with kind 0;
    a partial take stops at every third entry, as a table stops at a block's end."""

    def __init__(self, items: list[tuple[bytes, int, bytes]], reverse: bool) -> None:
        self.items = items
        self.reverse = reverse
        self.lo, self.hi = 0, len(items)

    @property
    def done(self) -> bool:
        return self.lo >= self.hi

    def take(self, n: int, partial: bool = False) -> Chunk | None:
        if partial:
            n = min(n, 1 + (self.hi - 1) % 3 if self.reverse else 3 - self.lo % 3)
        if self.reverse:
            a, b = max(self.lo, self.hi - n), self.hi
            self.hi = a
        else:
            a, b = self.lo, min(self.hi, self.lo + n)
            self.lo = b
        part = self.items[a:b]
        if any(kind == 0 for _, kind, _ in part):
            return None
        return [k for k, _, _ in part], [v for _, _, v in part]


def _user_view(
    sources: list[list[tuple[bytes, int, bytes]]], reverse: bool
) -> list[tuple[bytes, bytes]]:
    """What a user sees: per key, its newest version (earliest source; first in a
    source), unless that is a tombstone."""
    newest: dict[bytes, tuple[int, bytes]] = {}
    for items in sources:
        for key, kind, value in items:
            newest.setdefault(key, (kind, value))
    return sorted(((k, v) for k, (kind, v) in newest.items() if kind), reverse=reverse)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.binary(max_size=2), st.sampled_from([0, 1, 1, 1, 1])), max_size=60),
        max_size=4,
    ),
    st.booleans(),
    st.sampled_from([1, 2, 3, 8]),
    st.booleans(),
)
def test_clean_merge_hands_out_a_prefix_and_stops_honestly(
    raw: list[list[tuple[bytes, int]]], reverse: bool, first: int, concat: bool
) -> None:
    seq = 0
    sources = []
    for source in raw:
        items = []
        for key, kind in source:
            seq += 1
            items.append((key, -seq, kind, b"v%d" % seq))
        items.sort()
        # Newest source first, as a scan orders them.
        sources.append([(k, kind, v) for k, _, kind, v in items])
    sources.reverse()
    expected = _user_view(sources, reverse)
    columns_again = _columns(sources, reverse, concat)
    merge = CleanMerge(_columns(sources, reverse, concat), reverse, first)
    got = list(chain.from_iterable(merge.runs()))
    assert got == expected[: len(got)]
    assert merge.last == (got[-1][0] if got else None)
    if not merge.unclean:
        assert got == expected
    clean = all(kind for items in sources for _, kind, _ in items)
    keys = [k for items in sources for k, _, _ in items]
    if clean and len(set(keys)) == len(keys):
        assert not merge.unclean
    # The one-shot merge of short scans: the first `limit` pairs, or None.
    limit = first + 1
    head = short_merge(columns_again, reverse, limit)
    if head is not None:
        assert head == expected[:limit]
    elif clean and len(set(keys)) == len(keys):
        raise AssertionError("short_merge refused clean data")


def _columns(
    sources: list[list[tuple[bytes, int, bytes]]], reverse: bool, concat: bool
) -> list[Columns]:
    columns: list[Columns] = []
    for items in sources:
        if concat and len(items) > 1:
            # The same source as two parts, as a level's tables are.
            cut = next((i for i in range(1, len(items)) if items[i][0] != items[i - 1][0]), 0)
            parts = [items[:cut], items[cut:]] if cut else [items]
            ordered = parts[::-1] if reverse else parts
            made: list[int] = []

            def make(p: list[tuple[bytes, int, bytes]], made: list[int] = made) -> Columns:
                made.append(1)
                return _ListColumns(p, reverse)

            columns.append(ConcatColumns(map(make, ordered), reverse))
            assert not made  # parts are made as the scan reaches them
        else:
            columns.append(_ListColumns(items, reverse))
    return columns


# ------------------------------------------------------------------ whole stores
def _general_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan_module, "clean_sources", lambda *args, **kwargs: None)


def _counters(db: lsmkv.DB) -> dict[str, int]:
    c = db.stats()["counters"]
    return {name: int(c[name]) for name in COUNTERS}


def _build_store(rng: random.Random, dense_deletes: bool) -> lsmkv.DB:
    db = lsmkv.open(
        "/db",
        fs=MemFS(),
        sync=False,
        background_compaction=False,
        memtable_bytes=1 << 30,
        block_size_bytes=256,
        target_file_bytes=2048,
    )
    width = rng.choice([None, 8])  # fixed-width keys or not
    deletes = 0.3 if dense_deletes else rng.choice([0.0, 0.003, 0.03])
    range_deletes = rng.choice([0.0, 0.0, 0.005])
    space = rng.choice([300, 3000])  # the larger: few keys with two versions

    def key(i: int) -> bytes:
        return b"%08d" % i if width else b"k" * (1 + i % 3) + b"%d" % i

    for round_ in range(rng.randint(2, 5)):
        for _ in range(rng.randint(10, 120)):
            i = rng.randrange(space)
            r = rng.random()
            if r < deletes:
                db.delete(key(i))
            elif r < deletes + range_deletes:
                a = rng.randrange(300)
                lo, hi = sorted((key(a), key(a + rng.randint(1, 6))))
                db.delete_range(lo, hi)
            else:
                db.put(key(i), b"v%d.%d" % (i, round_) * rng.randint(1, 3))
        if rng.random() < 0.8:
            db.flush()
        if rng.random() < 0.4:
            db.compact()
    return db


def _scans(rng: random.Random) -> Iterator[dict[str, Any]]:
    for _ in range(12):
        kwargs: dict[str, Any] = {"reverse": rng.random() < 0.5}
        if rng.random() < 0.5:
            kwargs["start"] = b"%08d" % rng.randrange(300) if rng.random() < 0.5 else b"k1"
        if rng.random() < 0.3:
            kwargs["end"] = b"%08d" % rng.randrange(300) if rng.random() < 0.5 else b"kk2"
        if rng.random() < 0.5:
            kwargs["limit"] = rng.choice([0, 1, 2, 11, 50])
        yield kwargs


@pytest.mark.parametrize("seed", range(16))
def test_scans_match_the_general_path(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    db = _build_store(rng, dense_deletes=seed % 3 == 0)
    try:
        snap = db.snapshot()
        for i in range(40):  # writes after the snapshot: its scans must not see them
            db.put(b"%08d" % (i * 7), b"after")
        if seed % 2:
            db.flush()
        readers: list[Any] = [db, snap]
        cases = list(_scans(rng))
        fast = []
        for reader in readers:
            for kwargs in cases:
                before = _counters(db)
                pairs = list(reader.scan(**kwargs))
                fast.append((pairs, _counters(db), before))
        with monkeypatch.context() as m:
            _general_only(m)
            slow = []
            for reader in readers:
                for kwargs in cases:
                    before = _counters(db)
                    pairs = list(reader.scan(**kwargs))
                    slow.append((pairs, _counters(db), before))
        for (got, after_f, before_f), (want, after_s, before_s), kwargs in zip(
            fast, slow, cases * 2, strict=True
        ):
            assert got == want, kwargs
            if "limit" not in kwargs:
                # A whole scan steps over exactly what the general path steps over.
                delta_f = {k: after_f[k] - before_f[k] for k in COUNTERS}
                delta_s = {k: after_s[k] - before_s[k] for k in COUNTERS}
                assert delta_f == delta_s, kwargs
        snap.release()
    finally:
        db.close()


def test_clean_store_takes_the_fast_path_to_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """No tombstones, one version per key: the fast path alone answers every scan."""
    stops: list[bool] = []
    runs = CleanMerge.runs

    def spy(self: CleanMerge) -> Iterator[list[tuple[bytes, bytes]]]:
        yield from runs(self)
        stops.append(self.unclean)

    monkeypatch.setattr(CleanMerge, "runs", spy)
    with lsmkv.open(
        "/db", fs=MemFS(), sync=False, background_compaction=False, block_size_bytes=256
    ) as db:
        for i in range(0, 600, 2):
            db.put(b"%06d" % i, b"x%d" % i)
        db.flush()
        for i in range(1, 600, 2):
            db.put(b"%06d" % i, b"y%d" % i)
        db.flush()
        for i in range(600, 700):
            db.put(b"%06d" % i, b"z")
        assert len(list(db.scan())) == 700
        assert [k for k, _ in db.scan(reverse=True)] == [b"%06d" % i for i in range(699, -1, -1)]
        assert db.scan(start=b"000100", limit=11).__next__() == (b"000100", b"x100")
        assert list(db.keys(start=b"000597", end=b"000603")) == [
            b"%06d" % i for i in range(597, 603)
        ]
    assert stops and not any(stops)


@pytest.mark.parametrize("reverse", [False, True])
def test_long_scan_counts_each_block_once(reverse: bool) -> None:
    """A long scan reads ahead (16 blocks per read, fixed-width blocks not cached): every
    block it visits is counted exactly once, as a cache hit or as a block read."""
    with lsmkv.open(
        "/db", fs=MemFS(), sync=False, background_compaction=False, block_size_bytes=256
    ) as db:
        for i in range(3000):
            db.put(b"%08d" % i, b"v%05d" % i)
        db.flush()
        (table,) = db._sv.version.levels[0]
        blocks = len(db._tables.get(table.number).handles)
        for warm in (False, True, False):
            if warm:  # point reads put every block in the cache
                assert all(db.get(b"%08d" % i) is not None for i in range(3000))
            before = db.stats()["counters"]
            assert len(list(db.scan(reverse=reverse))) == 3000
            after = db.stats()["counters"]
            visited = sum(after[c] - before[c] for c in ("block_reads", "block_cache_hits"))
            assert visited == blocks


def test_only_range_tombstones_over_the_range_send_a_scan_to_the_general_path() -> None:
    with lsmkv.open("/db", fs=MemFS(), sync=False, background_compaction=False) as db:
        for i in range(100):
            db.put(b"%04d" % i, b"v")
        db.delete_range(b"0010", b"0020")
        db.flush()
        db.delete_range(b"0080", b"0085")  # in the memtable

        def sources(start: bytes | None, end: bytes | None) -> object:
            return scan_module.clean_sources(db._sv, db._tables, db._visible_seq, start, end, False)

        assert sources(b"0030", b"0080") is not None
        assert sources(b"0019", b"0030") is None
        assert sources(b"0070", None) is None
        assert sources(None, None) is None
        assert [k for k, _ in db.scan(b"0030", b"0080")] == [b"%04d" % i for i in range(30, 80)]
        assert [k for k, _ in db.scan(b"0005", b"0025")] == [
            b"%04d" % i for i in (*range(5, 10), *range(20, 25))
        ]


def _seek_store(shape: str) -> tuple[lsmkv.DB, Any]:
    """A store without range tombstones, and a snapshot of it: `one_level` (a full
    compaction: one level of several tables), `one_table` (one level-0 table), or
    `mixed` (a memtable, a level-0 table and deeper levels, keys rewritten in newer
    sources, blocks of a few entries)."""
    db = lsmkv.open(
        "/db",
        fs=MemFS(),
        sync=False,
        background_compaction=False,
        memtable_bytes=1 << 30,
        block_size_bytes=128,
        target_file_bytes=1024,
    )
    for i in range(0, 400, 2):
        db.put(b"%06d" % i, b"a%d" % i)
    db.flush()
    if shape != "one_table":
        db.compact()  # deeper levels, several tables each
    snap = db.snapshot()
    if shape == "mixed":
        for i in range(0, 400, 60):
            db.put(b"%06d" % i, b"b%d" % i)  # newer versions of a few keys
        db.flush()  # a level-0 table
        for i in range(1, 400, 10):
            db.put(b"%06d" % i, b"c%d" % i)  # the memtable
        db.put(b"000030", b"c30")  # a third version
        assert db._sv.version.levels[0] and any(db._sv.version.levels[1:])
    elif shape == "one_table":
        assert len(db._sv.version.levels[0]) == 1 and not any(db._sv.version.levels[1:])
    else:
        assert not db._sv.version.levels[0]
        assert sum(1 for files in db._sv.version.levels if files) == 1
        assert sum(len(files) for files in db._sv.version.levels) > 2
    return db, snap


@pytest.mark.parametrize("shape", ["mixed", "one_level", "one_table"])
@pytest.mark.parametrize("reverse", [False, True])
def test_seeks_match_the_general_path(
    shape: str, reverse: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Short scans (`clean_sources` and `short_merge`) from every third key, with limits
    that stay in a block or cross block and table ends, against the general path: the
    same pairs and the same returned count."""
    db, snap = _seek_store(shape)
    try:
        seeks = [b"%06d" % i for i in range(-1, 402)] + [b"", b"000100x", b"\xff"]
        readers: list[Any] = [db, snap]
        cases = [(r, k, n) for r in readers for k in seeks[::3] for n in (1, 2, 11, 40)]
        fast = []
        made = []
        answered = []
        clean_sources = scan_module.clean_sources
        short = scan_module.short_merge

        def spy(*args: Any) -> Any:
            made.append(1)
            return clean_sources(*args)

        def spy_merge(*args: Any) -> Any:
            pairs = short(*args)
            answered.append(pairs is not None)
            return pairs

        monkeypatch.setattr(scan_module, "clean_sources", spy)
        monkeypatch.setattr(scan_module, "short_merge", spy_merge)
        for reader, key, limit in cases:
            before = _counters(db)
            if reverse:
                pairs = list(reader.scan(end=key, reverse=True, limit=limit))
            else:
                pairs = list(reader.scan(start=key, limit=limit))
            fast.append((pairs, _counters(db)["iterator_entries"] - before["iterator_entries"]))
        assert len(made) == len(answered) == len(cases)  # every one took the seek path
        # ... and many were answered there (the others met a key with two versions, or,
        # for the snapshot, a source holding versions newer than it).
        least = len(cases) // 4 if shape == "mixed" else len(cases)
        assert sum(answered) >= least, (sum(answered), len(cases))
        with monkeypatch.context() as m:
            _general_only(m)
            for (reader, key, limit), (got, returned) in zip(cases, fast, strict=True):
                if reverse:
                    want = list(reader.scan(end=key, reverse=True, limit=limit))
                else:
                    want = list(reader.scan(start=key, limit=limit))
                assert got == want, (key, limit)
                assert returned == len(want)
        snap.release()
    finally:
        db.close()
