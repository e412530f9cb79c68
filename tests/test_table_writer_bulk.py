"""TableWriter does its per-entry work a block at a time: the table it writes, its
properties and its order checks must be exactly what entry-at-a-time work gives."""

from __future__ import annotations

import collections
import os
import random

import pytest

from lsmkv.sstable.reader import TableReader
from lsmkv.sstable.writer import TableSettings, TableWriter
from lsmkv.storage.fs import OSFileSystem

Entry = tuple[bytes, int, int, bytes]


def _entries(n: int, seed: int) -> list[Entry]:
    rng = random.Random(seed)
    out: list[Entry] = []
    seq = 10 * n
    for i in range(n):
        for _ in range(rng.choice([1, 1, 1, 2, 3])):  # some keys carry several versions
            out.append(
                (b"k%06d" % i, -seq, rng.choice([0, 1, 1]), rng.randbytes(rng.randrange(40)))
            )
            seq -= 1
    return out


def _max_in_window(kinds: list[int], window: int) -> int:
    recent: collections.deque[int] = collections.deque()
    best = 0
    for i, kind in enumerate(kinds):
        if kind == 0:
            recent.append(i)
            while recent[0] <= i - window:
                recent.popleft()
            best = max(best, len(recent))
    return best


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_table_round_trips_with_exact_properties(tmp_path: str, seed: int) -> None:
    entries = _entries(700, seed)
    path = os.path.join(str(tmp_path), "t.sst")
    fs = OSFileSystem()
    settings = TableSettings(block_size_bytes=512, deletion_window=50)
    writer = TableWriter(fs, path, settings, 1)
    for e in entries:
        writer.add(e)
    props, _size = writer.finish()
    reader = TableReader(fs, path, 1)
    try:
        assert list(reader.iter_entries()) == entries
        assert reader.check() == []
        assert props.entries == len(entries)
        assert props.point_deletes == sum(1 for e in entries if e[2] == 0)
        assert props.puts == len(entries) - props.point_deletes
        assert props.smallest_key == entries[0][0] and props.largest_key == entries[-1][0]
        seqs = [-e[1] for e in entries]
        assert (props.smallest_seq, props.largest_seq) == (min(seqs), max(seqs))
        assert props.raw_key_bytes == sum(len(e[0]) for e in entries)
        assert props.raw_value_bytes == sum(len(e[3]) for e in entries)
        assert props.max_deletes_in_window == _max_in_window([e[2] for e in entries], 50)
        assert props.data_blocks > 5
        for key in {e[0] for e in entries}:
            assert reader.may_contain(key)
            newest = next(e for e in entries if e[0] == key)
            assert reader.get(key, 1 << 50) == newest
    finally:
        reader.close()


@pytest.mark.parametrize("bad", ["older_key", "same_version", "across_blocks"])
def test_out_of_order_entries_are_refused_at_once(tmp_path: str, bad: str) -> None:
    path = os.path.join(str(tmp_path), "t.sst")
    writer = TableWriter(OSFileSystem(), path, TableSettings(block_size_bytes=64), 1)
    if bad == "across_blocks":  # the previous entry sits in an already written block
        for i in range(10):
            writer.add((b"b%03d" % i, -100 + i, 1, b"x" * 30))
        wrong: Entry = (b"a", -1, 1, b"")
    else:
        writer.add((b"b", -5, 1, b""))
        wrong = (b"a", -4, 1, b"") if bad == "older_key" else (b"b", -5, 1, b"")
    with pytest.raises(ValueError, match="out of order"):
        writer.add(wrong)
    writer.abandon()


@pytest.mark.parametrize("density", [0.0, 0.002, 0.05, 0.5, 1.0])
@pytest.mark.parametrize("shift", range(4))
def test_densest_delete_window_of_column_runs(tmp_path: str, density: float, shift: int) -> None:
    """`max_deletes_in_window` of a table written in column runs of every size (one entry
    to thousands, each cutting blocks of its own and carrying the window across) is the
    one-entry-at-a-time count, for tombstones from none to all."""
    rng = random.Random(int(density * 1000))
    n = 4000
    kinds = [0 if rng.random() < density else 1 for _ in range(n)]
    if density < 0.5:
        # 300 tombstones in a row and none near them: the one densest window of 300,
        # ending at one of four entries (`shift`), so that with blocks of two or three
        # entries it ends at the first entry a call accounts in some case (the counts
        # carried from before must then reach back exactly one window).
        kinds[2400:3600] = [1] * 1200
        kinds[2700 + shift : 3000 + shift] = [0] * 300
    keys = [b"k%07d" % i for i in range(n)]
    trailers = [(n - i) << 8 | kind for i, kind in enumerate(kinds)]
    values = [b"" if kind == 0 else b"v" * 20 for kind in kinds]
    for window, block_size in ((1, 4096), (7, 64), (300, 4096), (300, 64), (5000, 4096)):
        # 64-byte blocks: a block per two entries, each accounted on its own.
        settings = TableSettings(deletion_window=window, block_size_bytes=block_size)
        path = os.path.join(str(tmp_path), f"t{window}-{block_size}.sst")
        writer = TableWriter(OSFileSystem(), path, settings, 1)
        pos = 0
        while pos < n:
            end = min(pos + rng.choice([1, 1, 2, 3, 50, 700, 4000]), n)
            added = writer.add_columns(keys[pos:end], trailers[pos:end], values[pos:end])
            assert added == end - pos
            pos = end
        props, _size = writer.finish()
        assert props.max_deletes_in_window == _max_in_window(kinds, window)
        assert props.point_deletes == kinds.count(0)
