"""sstable/: blocks, bloom filters, the writer and the reader, and their self-checks."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from lsmkv.core.keys import KIND_DELETE, KIND_PUT, Entry
from lsmkv.errors import CorruptionError
from lsmkv.sstable.block import BlockBuilder, decode_block
from lsmkv.sstable.bloom import (
    BloomFilter,
    bloom_hash,
    build_filter,
    patterns,
    probes_for,
    theoretical_fp_rate,
)
from lsmkv.sstable.format import FOOTER_SIZE
from lsmkv.sstable.reader import TableReader
from lsmkv.sstable.writer import TableSettings, TableWriter
from lsmkv.storage.fs import OSFileSystem


# ------------------------------------------------------------------- blocks
def test_block_round_trip_and_seek() -> None:
    b = BlockBuilder()
    rows = [(b"a", 5 << 8 | 1, b"x"), (b"a", 2 << 8 | 0, b""), (b"ccc", 9 << 8 | 1, b"yy")]
    for key, trailer, value in rows:
        b.add(key, trailer, value)
    payload = b.finish()
    assert len(payload) == b.estimated_size()
    block = decode_block(payload)
    assert block.count == 3
    assert block.entries() == [(b"a", -5, 1, b"x"), (b"a", -2, 0, b""), (b"ccc", -9, 1, b"yy")]
    assert [block.seek(k) for k in (b"", b"a", b"b", b"ccc", b"d")] == [0, 0, 2, 2, 3]
    assert block.entry_at(2) == (b"ccc", -9, 1, b"yy")


def test_empty_block() -> None:
    block = decode_block(BlockBuilder().finish())
    assert block.count == 0 and block.entries() == [] and block.seek(b"k") == 0


def test_inconsistent_block_layout_is_refused() -> None:
    b = BlockBuilder()
    b.add(b"key", 1 << 8 | 1, b"value")
    payload = b.finish()
    with pytest.raises(ValueError):
        decode_block(payload[:-1])
    bad = bytearray(payload)
    struct.pack_into("<I", bad, 4 + 4, 999)  # key offset 1 beyond the keys
    with pytest.raises(ValueError):
        decode_block(bytes(bad))


# ------------------------------------------------------------------- bloom
def _filter(keys: list[bytes], bits_per_key: int) -> BloomFilter:
    return BloomFilter(build_filter([bloom_hash(k) for k in keys], len(keys), bits_per_key))


def test_bloom_has_no_false_negatives() -> None:
    keys = [f"key{i}".encode() for i in range(5000)]
    bloom = _filter(keys, 10)
    assert all(bloom.may_contain(k) for k in keys)
    assert _filter([], 10).nblocks == 1 and not _filter([], 10).may_contain(b"x")


@pytest.mark.parametrize("bits_per_key", [6, 10, 16])
def test_bloom_false_positive_rate_is_near_theory(bits_per_key: int) -> None:
    rng = random.Random(bits_per_key)
    keys = [rng.randbytes(16) for _ in range(20_000)]
    bloom = _filter(keys, bits_per_key)
    probes = 100_000
    false_positives = sum(bloom.may_contain(rng.randbytes(16)) for _ in range(probes))
    measured = false_positives / probes
    theory = theoretical_fp_rate(bits_per_key)
    assert measured <= 1.5 * theory, (measured, theory)
    assert measured > theory / 3  # a filter that says "no" to everything would pass above


def test_bloom_theory_matches_the_documented_figure() -> None:
    # A blocked filter's rate at 10 bits/key: about 0.96% (standard filter: 0.82%).
    assert 0.0093 < theoretical_fp_rate(10) < 0.0098


def test_bloom_blocks_are_odd_and_sized_by_bits_per_key() -> None:
    bloom = _filter([b"%d" % i for i in range(1000)], 10)
    assert bloom.nblocks == 21 and bloom.nbits == 21 * 512  # ceil(10,000 / 512) = 20, made odd
    assert bloom.k == 7


def test_bloom_filter_rejects_malformed_payloads() -> None:
    good = build_filter([1, 2, 3], 3, 10)
    BloomFilter(good)
    for bad in (b"", good[:-1], b"\x02" + good[1:], good[:1] + b"\x00" + good[2:]):
        with pytest.raises(ValueError):
            BloomFilter(bad)


def test_bloom_probe_count() -> None:
    assert probes_for(10) == 7 and probes_for(1) == 1 and probes_for(100) == 30


def test_bloom_hash_is_stable_across_processes() -> None:
    # Stored on disk, so fixed forever: crc32 (never Python's salted hash()).
    assert bloom_hash(b"apple") == 0xA92ED050


PATTERN_0_K7 = (452, 220, 13, 497, 54, 167, 89)


def test_bloom_pattern_table_is_fixed() -> None:
    # The patterns are part of the format: pattern 0 at k = 7, as docs/format/sstable.md
    # derives it from SplitMix64.
    table = patterns(7)
    assert len(table) == 1024
    low = table[0] & ((1 << 512) - 1)
    assert table[0] == low | low << 512
    assert sorted(i for i in range(512) if low >> i & 1) == sorted(PATTERN_0_K7)


# ------------------------------------------------------------------- tables
def _entries(n: int, seed: int = 1) -> list[Entry]:
    """n entries in internal order with several versions per key and some tombstones."""
    rng = random.Random(seed)
    out: list[Entry] = []
    seq = 10 * n
    for i in range(n // 3):
        key = f"key{i:06d}".encode()
        for _ in range(rng.choice((1, 2, 3))):
            kind = KIND_DELETE if rng.random() < 0.2 else KIND_PUT
            value = b"" if kind == KIND_DELETE else rng.randbytes(rng.randrange(0, 200))
            out.append((key, -seq, kind, value))
            seq -= 1
    out.sort()
    return out


def _write(path: Path, entries: list[Entry], **settings: object) -> TableReader:
    fs = OSFileSystem()
    w = TableWriter(fs, str(path), TableSettings(**settings), 1)  # type: ignore[arg-type]
    for e in entries:
        w.add(e)
    w.add_range_tombstone(b"key000010", b"key000020", 10**9)
    props, size = w.finish()
    assert size == path.stat().st_size
    assert props.entries == len(entries)
    return TableReader(fs, str(path), 1)


@pytest.mark.parametrize("compression", ["none", "zlib"])
def test_table_round_trip(tmp_path: Path, compression: str) -> None:
    entries = _entries(3000)
    r = _write(tmp_path / "t.sst", entries, block_size_bytes=512, compression=compression)
    assert r.props.data_blocks > 10
    assert r.props.point_deletes == sum(e[2] == KIND_DELETE for e in entries)
    assert list(r.iter_entries()) == entries
    assert list(r.iter_entries(reverse=True)) == entries[::-1]
    lo, hi = b"key000100", b"key000200"
    assert list(r.iter_entries(lo, hi)) == [e for e in entries if lo <= e[0] < hi]
    assert list(r.iter_entries(lo, hi, reverse=True)) == [
        e for e in reversed(entries) if lo <= e[0] < hi
    ]
    assert r.check() == []
    assert r.range_tombstones() == [(b"key000010", b"key000020", 10**9)]
    assert r.smallest_key == entries[0][0] and r.largest_key == entries[-1][0]
    r.close()


def test_table_point_lookups_at_every_seq(tmp_path: Path) -> None:
    entries = _entries(1500, seed=2)
    r = _write(tmp_path / "t.sst", entries, block_size_bytes=256)
    by_key: dict[bytes, list[Entry]] = {}
    for e in entries:
        by_key.setdefault(e[0], []).append(e)
    for key, versions in by_key.items():
        assert r.get(key, 10**9) == versions[0]
        oldest_seq = -versions[-1][1]
        assert r.get(key, oldest_seq) == versions[-1]
        assert r.get(key, oldest_seq - 1) is None
        assert r.may_contain(key)
    assert r.get(b"key", 10**9) is None and r.get(b"zzz", 10**9) is None
    r.close()


def test_a_key_whose_versions_span_blocks(tmp_path: Path) -> None:
    entries = [(b"hot", -s, KIND_PUT, b"v" * 100) for s in range(500, 0, -1)]
    r = _write(tmp_path / "t.sst", entries, block_size_bytes=256)
    assert r.props.data_blocks > 50
    for seq in (500, 250, 1):
        assert r.get(b"hot", seq) == (b"hot", -seq, KIND_PUT, b"v" * 100)
    r.close()


def test_out_of_order_entries_are_refused(tmp_path: Path) -> None:
    w = TableWriter(OSFileSystem(), str(tmp_path / "t.sst"), TableSettings(), 1)
    w.add((b"b", -1, KIND_PUT, b""))
    with pytest.raises(ValueError, match="out of order"):
        w.add((b"a", -2, KIND_PUT, b""))
    with pytest.raises(ValueError, match="out of order"):
        w.add((b"b", -1, KIND_PUT, b""))
    w.abandon()
    assert not (tmp_path / "t.sst").exists()


def test_every_flipped_byte_is_detected(tmp_path: Path) -> None:
    """Flip each byte of a small table in turn: opening and reading it all either fails
    with CorruptionError or (never) returns something else than the original."""
    entries = _entries(60, seed=3)
    path = tmp_path / "t.sst"
    _write(path, entries, block_size_bytes=128).close()
    original = path.read_bytes()
    fs = OSFileSystem()
    for pos in range(len(original)):
        damaged = bytearray(original)
        damaged[pos] ^= 0x10
        path.write_bytes(bytes(damaged))
        with pytest.raises(CorruptionError, match=r"t\.sst"):
            r = TableReader(fs, str(path), 1)
            try:
                problems = r.check()
                if problems:
                    raise CorruptionError(problems[0])
                list(r.iter_entries())
            finally:
                r.close()


def test_a_version_1_table_is_read_without_its_filter(tmp_path: Path) -> None:
    # Version 1 tables hold the older, unblocked filter: read, but not consulted.
    path = tmp_path / "t.sst"
    entries = _entries(30)
    _write(path, entries).close()
    data = bytearray(path.read_bytes())
    footer = len(data) - FOOTER_SIZE
    struct.pack_into("<I", data, footer + 48, 1)
    import zlib

    struct.pack_into("<I", data, footer + 60, zlib.crc32(bytes(data[footer : footer + 60])))
    path.write_bytes(bytes(data))
    reader = TableReader(OSFileSystem(), str(path), 1)
    try:
        assert reader.footer.format_version == 1 and reader.bloom is None
        key = entries[0][0]
        assert reader.get(key, 10**9) == entries[0]
        assert reader.get(b"key999999", 10**9) is None
    finally:
        reader.close()


def test_unknown_format_version_is_named(tmp_path: Path) -> None:
    path = tmp_path / "t.sst"
    _write(path, _entries(30)).close()
    data = bytearray(path.read_bytes())
    footer = len(data) - FOOTER_SIZE
    struct.pack_into("<I", data, footer + 48, 99)
    import zlib

    struct.pack_into("<I", data, footer + 60, zlib.crc32(bytes(data[footer : footer + 60])))
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptionError, match="format version 99"):
        TableReader(OSFileSystem(), str(path), 1)


def test_not_a_table(tmp_path: Path) -> None:
    path = tmp_path / "t.sst"
    path.write_bytes(b"hello")
    with pytest.raises(CorruptionError, match="too short"):
        TableReader(OSFileSystem(), str(path), 1)
    path.write_bytes(b"\x00" * 200)
    with pytest.raises(CorruptionError, match="magic"):
        TableReader(OSFileSystem(), str(path), 1)
