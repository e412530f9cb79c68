"""The bulk write paths produce exactly what the per-entry paths produce.

`TableWriter.add_columns`, `build_filter`, the run-based `write_tables` and the
memtable's column hand-over (`memtable_runs`) exist for speed only: each is checked here
against a plain per-entry reference on random inputs (several versions of a key, runs
of versions spanning blocks, tombstones, snapshots, tiny blocks and target sizes, and
grandparent files to cut at), byte for byte.
"""

from __future__ import annotations

import os
import random
from typing import Any

import pytest

from lsmkv.compaction.job import (
    GrandparentLimit,
    JobContext,
    entry_runs,
    memtable_runs,
    write_tables,
)
from lsmkv.compaction.retention import RetentionTally, retain, retain_runs
from lsmkv.core.counters import Counters
from lsmkv.core.keys import KIND_DELETE, KIND_PUT, KIND_RANGE_DELETE, Entry
from lsmkv.manifest.edit import FileMeta
from lsmkv.memtable import Memtable, sort_columns
from lsmkv.rangedel import EMPTY, Fragments
from lsmkv.sstable.bloom import (
    BloomFilter,
    bloom_hash,
    build_filter,
    build_filter_for_keys,
    probes_for,
)
from lsmkv.sstable.writer import TableSettings, TableWriter
from lsmkv.storage.memfs import MemFS

DIR = "/db"


def _entries(
    rng: random.Random, n: int, key_space: int, value_width: int | None = None
) -> list[Entry]:
    """Random entries in internal order: several versions per key, some deletes. With
    `value_width`, every value (a delete's too) has that many bytes, as every key has
    six: the table writer's fixed-width path."""
    out = []
    seq = 1
    raw = []
    for _ in range(n):
        key = b"k%05d" % rng.randrange(key_space)
        kind = KIND_DELETE if rng.random() < 0.2 else KIND_PUT
        value = b"" if kind == KIND_DELETE else rng.randbytes(rng.randrange(0, 60))
        if value_width is not None:
            value = rng.randbytes(value_width)
        raw.append((key, -seq, kind, value))
        seq += 1
    out = sorted(raw)
    return out


def _pattern_positions(i: int, k: int) -> list[int]:
    """Pattern i's bit positions, derived from the format page's words alone: the top 9
    bits of SplitMix64's outputs from state i, first k distinct."""
    positions: list[int] = []
    state = i
    mask = (1 << 64) - 1
    while len(positions) < k:
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        if (z ^ (z >> 31)) >> 55 not in positions:
            positions.append((z ^ (z >> 31)) >> 55)
    return positions


def test_splitmix64_matches_its_published_first_output() -> None:
    # SplitMix64 from state 0 first outputs 0xE220A8397B1DCDAF (a published test vector).
    assert _pattern_positions(0, 1) == [0xE220A8397B1DCDAF >> 55]


def _reference_filter(hashes: list[int], bits_per_key: int) -> bytes:
    """The filter as the format describes it (docs/format/sstable.md), bit by bit."""
    k = probes_for(bits_per_key)
    nblocks = max(1, -(-len(hashes) * bits_per_key // 512)) | 1
    bits = bytearray(nblocks * 64)
    for h in hashes:
        for p in _pattern_positions(h & 1023, k):
            bit = (h % nblocks) * 512 + (p - (h >> 23)) % 512
            bits[bit >> 3] |= 1 << (bit & 7)
    return bytes((1, k)) + bytes(bits)


@pytest.mark.parametrize("bits_per_key", [1, 5, 10, 16])
def test_filter_builder_matches_the_bit_by_bit_reference(bits_per_key: int) -> None:
    rng = random.Random(bits_per_key)
    for n in (0, 1, 7, 300, 2000):
        hashes = [rng.getrandbits(32) for _ in range(n)]
        want = _reference_filter(hashes, bits_per_key)
        assert build_filter(hashes, n, bits_per_key) == want
        bloom = BloomFilter(want)
        assert all(map(bloom.may_contain_hash, hashes))
    keys = [rng.randbytes(rng.randrange(0, 24)) for _ in range(3000)]
    want = _reference_filter([bloom_hash(k) for k in keys], bits_per_key)
    assert build_filter_for_keys(keys, bits_per_key) == want


def _columns(entries: list[Entry]) -> tuple[list[bytes], list[int], list[bytes]]:
    return (
        [e[0] for e in entries],
        [(-e[1] << 8) | e[2] for e in entries],
        [e[3] for e in entries],
    )


@pytest.mark.parametrize("seed", range(12))
def test_add_columns_writes_the_same_file_as_add(seed: int) -> None:
    rng = random.Random(seed)
    # Odd seeds: fixed-width entries (cached block heads), and some compressed tables.
    width = rng.choice([0, 3, 24]) if seed % 2 else None
    entries = _entries(rng, rng.randrange(1, 2500), rng.choice([5, 50, 5000]), width)
    settings = TableSettings(
        block_size_bytes=rng.choice([64, 256, 4096]),
        deletion_window=7,
        compression=rng.choice(["none", "zlib"]) if seed % 2 else "none",
    )
    fs = MemFS()
    fs.mkdir(DIR)
    one = TableWriter(fs, DIR + "/one.sst", settings, 1)
    for e in entries:
        one.add(e)
    bulk = TableWriter(fs, DIR + "/bulk.sst", settings, 1)
    pos = 0
    while pos < len(entries):  # in random slices, so slices start mid-block and mid-key
        step = rng.randrange(1, 400)
        if rng.random() < 0.2:  # and entries added one by one between the slices
            for e in entries[pos : pos + step]:
                bulk.add(e)
        else:
            assert bulk.add_columns(*_columns(entries[pos : pos + step])) == len(
                entries[pos : pos + step]
            )
        pos += step
    assert one.finish() == bulk.finish()
    assert fs.read_file(DIR + "/one.sst") == fs.read_file(DIR + "/bulk.sst")


def test_add_columns_refuses_entries_out_of_order() -> None:
    fs = MemFS()
    fs.mkdir(DIR)
    w = TableWriter(fs, DIR + "/t.sst", TableSettings(), 1)
    w.add((b"b", -5, KIND_PUT, b""))
    with pytest.raises(ValueError):
        w.add_columns([b"a"], [9 << 8 | KIND_PUT], [b""])
    with pytest.raises(ValueError):
        w.add_columns([b"b"], [5 << 8 | KIND_PUT], [b""])  # the same version again
    with pytest.raises(ValueError):
        w.add_columns([b"c", b"c"], [1 << 8 | KIND_PUT, 2 << 8 | KIND_PUT], [b"", b""])
    with pytest.raises(ValueError):
        w.add_columns([b"d", b"c"], [1 << 8 | KIND_PUT, 2 << 8 | KIND_PUT], [b"", b""])
    assert w.add_columns([b"b", b"c"], [4 << 8 | KIND_PUT, 2 << 8 | KIND_PUT], [b"", b""]) == 2


def _context(fs: MemFS, settings: TableSettings) -> JobContext:
    numbers = iter(range(10, 10_000))
    return JobContext(
        fs=fs,
        dirname=DIR,
        settings=settings,
        open_table=lambda n: None,  # type: ignore[arg-type,return-value]
        new_file_number=lambda: next(numbers),
        pending_outputs=set(),
        counters=Counters(),
    )


def _reference_write_tables(
    entries: list[Entry],
    ctx: JobContext,
    target: int | None,
    grandparents: GrandparentLimit | None,
) -> list[tuple[int, bytes]]:
    """The per-entry loop: before each new key, ask the grandparent test, then the size."""
    tables: list[tuple[int, bytes]] = []
    writer: TableWriter | None = None
    last_key: bytes | None = None

    def start() -> TableWriter:
        n = ctx.new_file_number()
        return TableWriter(ctx.fs, os.path.join(DIR, f"ref{n}.sst"), ctx.settings, n)

    def finish(w: TableWriter) -> None:
        w.finish()
        tables.append((w.number, ctx.fs.read_file(w.path)))  # type: ignore[attr-defined]

    for e in entries:
        key = e[0]
        if writer is None:
            writer = start()
            if grandparents is not None:
                grandparents.should_cut_before(key)
        elif key != last_key and (
            (grandparents is not None and grandparents.should_cut_before(key))
            | (target is not None and writer.estimated_file_bytes >= target)
        ):
            finish(writer)
            writer = start()
            if grandparents is not None:
                grandparents.reset()
        writer.add(e)
        last_key = key
    if writer is not None:
        finish(writer)
    return tables


def _grandparents(rng: random.Random) -> list[FileMeta]:
    bounds = sorted({b"k%05d" % rng.randrange(600) for _ in range(rng.randrange(0, 30))})
    files = []
    for i in range(0, len(bounds) - 1, 2):
        size = rng.randrange(100, 5000)
        files.append(FileMeta(i + 1, size, bounds[i], bounds[i + 1], 1, 1))
    return files


@pytest.mark.parametrize("seed", range(16))
def test_write_tables_cuts_where_the_per_entry_loop_cuts(seed: int) -> None:
    rng = random.Random(100 + seed)
    width = rng.choice([0, 30]) if seed % 2 else None  # odd seeds: fixed-width entries
    entries = _entries(rng, rng.randrange(1, 3000), rng.choice([3, 40, 600]), width)
    settings = TableSettings(block_size_bytes=rng.choice([64, 512, 4096]))
    target = rng.choice([None, 300, 2000, 20_000])
    gp_files = _grandparents(rng)
    max_overlap = rng.choice([0, 1000, 8000])
    use_gp = rng.random() < 0.7
    fs = MemFS()
    fs.mkdir(DIR)
    ref = _reference_write_tables(
        entries,
        _context(fs, settings),
        target,
        GrandparentLimit(gp_files, max_overlap) if use_gp else None,
    )
    # The same entries in runs of random sizes (a merge hands out runs like these).
    runs = []
    pos = 0
    while pos < len(entries):
        step = rng.randrange(1, 300)
        runs.append(_columns(entries[pos : pos + step]))
        pos += step
    outputs, written = write_tables(
        iter(runs),
        [],
        _context(fs, settings),
        target,
        "compaction",
        GrandparentLimit(gp_files, max_overlap) if use_gp else None,
    )
    got = [(f.number, fs.read_file(os.path.join(DIR, f"{f.number:06d}.sst"))) for f in outputs]
    assert [n for n, _ in got] == [n for n, _ in ref]
    assert [data for _, data in got] == [data for _, data in ref]
    assert written == sum(len(data) for _, data in ref)


def _memtable(rng: random.Random, overwrite: bool, ranges: bool) -> Memtable:
    m = Memtable(1)
    space = 50 if overwrite else 10**9
    seen: set[bytes] = set()
    for seq in range(1, 400):
        key = b"k%09d" % rng.randrange(space)
        if not overwrite and key in seen:
            continue
        seen.add(key)
        if ranges and rng.random() < 0.05:
            m.add(seq, KIND_RANGE_DELETE, key, key + b"\xff")
        elif rng.random() < 0.2:
            m.add(seq, KIND_DELETE, key, b"")
        else:
            m.add(seq, KIND_PUT, key, rng.randbytes(8))
    m.check()
    return m


@pytest.mark.parametrize("case", range(8))
def test_memtable_runs_keep_what_retain_keeps(case: int) -> None:
    rng = random.Random(case)
    overwrite, ranges, snap = case & 1, case & 2, case & 4
    m = _memtable(rng, bool(overwrite), bool(ranges))
    snapshots = sorted(rng.sample(range(1, 400), 3)) if snap else []
    want_tally = RetentionTally()
    want = list(retain(m.iter_all(), snapshots, m.fragments, False, want_tally))
    tally = RetentionTally()
    got: list[Any] = []
    for keys, trailers, values in memtable_runs(m, snapshots, tally):
        got += [(k, -(t >> 8), t & 0xFF, v) for k, t, v in zip(keys, trailers, values, strict=True)]
    assert got == want
    assert tally == want_tally
    # entry_runs is only a change of shape.
    flat = [
        (k, -(t >> 8), t & 0xFF, v)
        for keys, trailers, values in entry_runs(iter(want), 7)
        for k, t, v in zip(keys, trailers, values, strict=True)
    ]
    assert flat == want


@pytest.mark.parametrize("case", range(6))
def test_newest_columns_of_every_arrival_order(case: int) -> None:
    """`newest_columns` takes the arrival order as it stands when keys came ascending and
    each once; the columns must be exactly the newest versions in key order whatever
    the order (ascending, random, ascending with a repeat or a step back at the end)."""
    rng = random.Random(900 + case)
    n = 300
    keys = [b"k%06d" % i for i in sorted(rng.sample(range(10**6), n))]
    if case in (1, 4):
        rng.shuffle(keys)
    if case == 2:
        keys.append(keys[-5])  # an overwrite: the shortcut must not apply
    if case == 3:
        keys.append(keys[0][:-1])  # a new key sorting before the others
    m = Memtable(1)
    ops = [(KIND_DELETE if rng.random() < 0.2 else KIND_PUT, k, rng.randbytes(6)) for k in keys]
    if case >= 4:
        m.add_many(1, [op[1] for op in ops], [op[2] for op in ops], bytes(op[0] for op in ops))
    else:
        for seq, (kind, key, value) in enumerate(ops, 1):
            m.add(seq, kind, key, value if kind == KIND_PUT else b"")
    newest = [versions[0] for versions in map(m.versions, sorted(m.index))]
    keys_, trailers, values = m.newest_columns()
    got = [(k, -(t >> 8), t & 0xFF, v) for k, t, v in zip(keys_, trailers, values, strict=True)]
    assert got == newest
    # The same columns when the sort is left to whoever writes the table.
    assert sort_columns(*m.arrival_columns()) == (keys_, trailers, values)
    # The columns are copies: a table writer may keep them while the memtable lives on.
    assert keys_ is not m._new_keys and values is not m.values


@pytest.mark.parametrize("seed", range(15))
def test_retain_runs_keeps_what_retain_keeps(seed: int) -> None:
    rng = random.Random(500 + seed)
    entries = _entries(rng, rng.randrange(1, 3000), rng.choice([10, 300, 100_000]))
    snapshots = sorted(rng.sample(range(1, 3000), 2)) if seed % 3 == 0 else []
    fragments = Fragments([(b"k00100", b"k00200", 1500)]) if seed % 4 == 1 else EMPTY
    holes = {b"k%05d" % rng.randrange(300) for _ in range(50)}

    def per_key(key: bytes) -> bool:
        return key not in holes

    bottommost: Any = [per_key, True, False][(seed // 3) % 3]
    want_tally = RetentionTally()
    want = list(retain(iter(entries), snapshots, fragments, bottommost, want_tally))
    runs = []
    pos = 0
    while pos < len(entries):  # runs of random sizes, so a key's versions span runs
        step = rng.randrange(1, 200)
        runs.append(entries[pos : pos + step])
        pos += step
    tally = RetentionTally()
    kept = retain_runs(iter(runs), snapshots, fragments, bottommost, tally)
    got = [e for run in kept for e in run]
    assert got == want
    assert tally == want_tally
