"""TableReader.get's two block searches: `bytes.find` over fixed-width keys (with
matches that straddle two keys, and keys of another width) and the binary search over
keys of mixed widths; both must agree with a plain model."""

from __future__ import annotations

import itertools
from pathlib import Path

from lsmkv.core.keys import KIND_PUT, Entry
from lsmkv.sstable.block import decode_block, encode_block
from lsmkv.sstable.reader import TableReader
from lsmkv.sstable.writer import TableSettings, TableWriter
from lsmkv.storage.fs import OSFileSystem


def _table(path: Path, keys: list[bytes]) -> TableReader:
    fs = OSFileSystem()
    w = TableWriter(fs, str(path), TableSettings(block_size_bytes=64), 1)  # type: ignore[arg-type]
    for seq, key in enumerate(sorted(keys), start=1):
        w.add((key, -seq, KIND_PUT, b"v" + key))
    w.finish()
    return TableReader(fs, str(path), 1)


def _probe(r: TableReader, present: set[bytes], asked: list[bytes]) -> None:
    for key in asked:
        got = r.get(key, 10**9)
        if key in present:
            assert got is not None and got[0] == key and got[3] == b"v" + key, key
        else:
            assert got is None, key


def test_fixed_width_search_skips_straddling_matches(tmp_path: Path) -> None:
    # The key bytes "ab" "ba" "bb" hold "bb" first at offset 1, straddling "ab"+"ba";
    # "ab" "ba" alone hold the absent "bb" only there.
    asked = [bytes(p) for n in (1, 2, 3) for p in itertools.product(b"ab", repeat=n)]
    for keys in ([b"ab", b"ba", b"bb"], [b"ab", b"ba"]):
        block = decode_block(encode_block(keys, [1 << 8 | 1] * len(keys), keys))
        assert block.width == 2 and b"".join(keys).find(b"bb") in (1, -1)
        r = _table(tmp_path / f"t{len(keys)}.sst", keys)
        _probe(r, set(keys), asked)
        r.close()


def test_fixed_width_and_mixed_width_tables_agree_with_a_model(tmp_path: Path) -> None:
    fixed = [b"%06d" % i for i in range(0, 3000, 3)]
    mixed = fixed + [b"%d" % i for i in range(0, 3000, 7)] + [b"%07d." % i for i in range(50)]
    for name, keys in (("fixed", fixed), ("mixed", mixed)):
        r = _table(tmp_path / f"{name}.sst", keys)
        widths = {r.block(i).width for i in range(len(r.handles))}
        assert widths == ({6} if name == "fixed" else widths | {0}), widths
        asked = [b"%06d" % i for i in range(0, 3001)] + [b"%d" % i for i in range(0, 3000, 5)]
        asked += [b"", b"0", b"00000", b"0000000", b"zzz", b"%07d." % 3]
        _probe(r, set(keys), asked)
        r.close()


def test_a_block_with_keys_of_several_widths_has_no_width() -> None:
    keys = [b"aa", b"b", b"ccc"]  # offsets 0, 2, 3, 6: sum matches 3 x 2, spacing not
    assert decode_block(encode_block(keys, [1 << 8 | 1] * 3, keys)).width == 0
    same = [b"ab", b"cd", b"ef"]
    assert decode_block(encode_block(same, [1 << 8 | 1] * 3, same)).width == 2
    assert decode_block(encode_block([], [], [])).width == 0
    entries: list[Entry] = []
    assert entries == decode_block(encode_block([], [], [])).entries()
