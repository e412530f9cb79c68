"""multi_get answers exactly as one get per key does, wherever the keys live (memtable,
L0 tables, deeper levels), in the caller's order, with duplicates and missing keys, at
a snapshot, under range tombstones; and it counts the same work in stats()."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import lsmkv

_COUNTED = (
    "memtable_hits",
    "tables_probed",
    "bloom_skips",
    "bloom_false_positives",
    "bloom_bypassed",
    "key_range_skips",
    "per_level_probes",
)


def _key(i: int) -> bytes:
    return b"k%05d" % i


def _layered(path: Path) -> lsmkv.DB:
    """A store whose keys are spread over a deep level (several files), two L0 tables
    and the memtable, with overwrites and deletes shadowing older versions."""
    db = lsmkv.open(
        path,
        sync=False,
        block_size_bytes=256,
        target_file_bytes=2048,
        background_compaction=False,
    )
    for i in range(0, 600):
        db.put(_key(i), b"base%d" % i)
    db.flush()
    db.compact()
    for i in range(100, 200):  # first L0 table: overwrites
        db.put(_key(i), b"l0a%d" % i)
    for i in range(150, 160):
        db.delete(_key(i))
    db.flush()
    for i in range(180, 260):  # second L0 table: newer overwrites
        db.put(_key(i), b"l0b%d" % i)
    db.flush()
    for i in range(240, 300):  # the memtable: newest
        db.put(_key(i), b"mem%d" % i)
    for i in range(290, 295):
        db.delete(_key(i))
    return db


def _levels(db: lsmkv.DB) -> list[int]:
    return [len(files) for files in db._sv.version.levels]


def _counts(db: lsmkv.DB) -> dict[str, Any]:
    c = db.stats()["counters"]
    return {name: c[name] for name in _COUNTED}


def _delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in after.items():
        if isinstance(value, list):
            out[name] = [a - b for a, b in zip(value, before[name], strict=True)]
        else:
            out[name] = value - before[name]
    return out


def test_multi_get_agrees_with_get_across_every_layer(tmp_path: Path) -> None:
    with _layered(tmp_path / "db") as db:
        levels = _levels(db)
        assert levels[0] == 2 and sum(levels[1:]) >= 3, levels
        rng = random.Random(7)
        keys = [_key(rng.randrange(-20, 640)) for _ in range(400)]  # misses on both sides
        keys += keys[:50]  # duplicates
        keys += [_key(150) + b".", b"", b"zzz"]  # missing, sorting inside and outside
        rng.shuffle(keys)
        expected = [db.get(k) for k in keys]
        assert db.multi_get(keys) == expected
        assert db.multi_get(list(reversed(keys))) == list(reversed(expected))
        assert db.multi_get([]) == []
        # Spot checks that the layers really answer: memtable, deletes, L0, the level.
        assert db.multi_get([_key(295), _key(290), _key(250), _key(200), _key(120)]) == [
            b"mem295",
            None,
            b"mem250",
            b"l0b200",
            b"l0a120",
        ]
        assert db.multi_get([_key(155), _key(10), _key(599), _key(600)]) == [
            None,
            b"base10",
            b"base599",
            None,
        ]


def _cold_counts(path: Path, keys: list[bytes], multi: bool) -> tuple[list[Any], dict[str, Any]]:
    """The answers for `keys` and the counted work, from a fresh read-only open (a cold
    block cache): by one multi_get, or by one get per key in key order."""
    with lsmkv.open(path, read_only=True) as db:
        before = _counts(db)
        if multi:
            answers = db.multi_get(keys)
        else:
            by_key = {k: db.get(k) for k in sorted(set(keys))}
            answers = [by_key[k] for k in keys]
        return answers, _delta(_counts(db), before)


def test_multi_get_counts_the_work_one_get_per_key_counts(tmp_path: Path) -> None:
    # Whether a table's filter is asked depends on whether the block that would hold
    # the key is cached (read.lookup), so both sides start from a cold cache and the
    # gets go in key order: the order in which multi_get meets each table's blocks.
    path = tmp_path / "db"
    _layered(path).close()
    keys = sorted({_key(i) for i in range(-5, 620, 3)} | {_key(7) + b"."})
    random.Random(3).shuffle(keys)
    singles, by_get = _cold_counts(path, keys, multi=False)
    answers, by_multi = _cold_counts(path, keys, multi=True)
    assert answers == singles and by_multi == by_get
    assert by_get["tables_probed"] > 0 and by_get["key_range_skips"] > 0
    assert by_get["memtable_hits"] > 0
    assert by_get["bloom_bypassed"] > 0  # a key whose block an earlier key loaded
    # Missing keys in blocks nobody loaded: the filters are asked, and rule them out.
    missing = [_key(i) + b"." for i in range(0, 600, 40)]
    singles, by_get = _cold_counts(path, missing, multi=False)
    answers, by_multi = _cold_counts(path, missing, multi=True)
    assert answers == singles == [None] * len(missing) and by_multi == by_get
    assert by_get["bloom_skips"] > 0
    with lsmkv.open(path, read_only=True) as db:
        db.multi_get(keys)
        # Warm now: tables with at least half their blocks cached ("hot") are searched
        # without asking their filters, and most tables here are.
        before = _counts(db)
        assert db.multi_get(keys) == [db.get(k) for k in keys]
        warm = _delta(_counts(db), before)
        assert warm["bloom_false_positives"] == 0
        assert warm["bloom_bypassed"] > warm["tables_probed"] // 2 > 0
        c0 = db.stats()["counters"]
        db.multi_get([_key(1), _key(1), _key(123456)])
        c1 = db.stats()["counters"]
        assert c1["gets"] - c0["gets"] == 3  # one get per key asked, duplicates included
        assert c1["gets_found"] - c0["gets_found"] == 2


def test_multi_get_at_a_snapshot_sees_the_snapshot(tmp_path: Path) -> None:
    with _layered(tmp_path / "db") as db:
        keys = [_key(i) for i in range(0, 620, 7)]
        snap = db.snapshot()
        at_snapshot = [db.get(k) for k in keys]
        for i in range(0, 620, 2):  # newer writes, flushed and not
            db.put(_key(i), b"after")
        db.flush()
        for i in range(0, 620, 5):
            db.delete(_key(i))
        with snap:
            assert snap.multi_get(keys) == at_snapshot
            assert snap.multi_get(keys) == [snap.get(k) for k in keys]
        assert db.multi_get(keys) == [db.get(k) for k in keys]


def test_multi_get_honours_range_tombstones(tmp_path: Path) -> None:
    with _layered(tmp_path / "db") as db:
        db.delete_range(_key(50), _key(70))  # over the deep level only
        db.delete_range(_key(185), _key(245))  # over both L0 tables and the memtable
        db.put(_key(60), b"after the range delete")
        keys = [_key(i) for i in range(40, 260, 3)] + [_key(60)]
        expected = [db.get(k) for k in keys]
        assert db.multi_get(keys) == expected
        assert expected[-1] == b"after the range delete"
        assert db.get(_key(190)) is None and db.get(_key(52)) is None
        db.flush()  # the tombstones now live in an L0 table
        assert db.multi_get(keys) == [db.get(k) for k in keys] == expected


def test_multi_get_checks_its_keys(tmp_path: Path) -> None:
    with lsmkv.open(tmp_path / "db", sync=False) as db:
        db.put(b"a", b"1")
        assert db.multi_get([bytearray(b"a"), memoryview(b"a"), b"b"]) == [b"1", b"1", None]
        try:
            db.multi_get([b"a", 7])  # type: ignore[list-item]
        except TypeError:
            pass
        else:
            raise AssertionError("a non-bytes key must raise TypeError")
