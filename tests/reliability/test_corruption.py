"""Corruption: byte flips and other mutations of every kind of file of a closed store.

For every damaged copy: `verify` must flag it (every flip outside the last WAL record:
100%), and opening and reading it must either raise `CorruptionError` naming the file
and offset, or return exactly the data that was written: never a wrong value, never a
deleted key resurrected.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

import lsmkv
from crash.workload import Workload, apply_op, campaign_scales, check_value, key_of, model_at
from lsmkv.core import filenames
from lsmkv.testing import FaultFS, MemFS

PATH = "/db"
OPTS = {
    "memtable_bytes": 4 * 1024,
    "block_size_bytes": 256,
    "target_file_bytes": 2 * 1024,
    "level0_compaction_trigger": 3,
    "level1_bytes": 6 * 1024,
    "background_compaction": False,
}


def build_store(seed: int) -> tuple[MemFS, dict[bytes, bytes], Workload]:
    """A closed store holding tables on two levels (with tombstones and range tombstones),
    a manifest with several edits, and a WAL with records."""
    fs = MemFS()
    w = Workload(seed, keys=80)
    db = lsmkv.open(PATH, fs=fs, **OPTS)
    for i in range(260):
        op, _ = w.next_op()
        apply_op(db, op, False)
        if i == 120:
            db.compact()
        elif i in (180, 220):
            db.flush()
    db.close()
    kinds = Counter(filenames.parse(n)[0] for n in fs.listdir(PATH) if filenames.parse(n))
    assert kinds["sst"] >= 3 and kinds["log"] >= 1 and kinds["manifest"] == 1, kinds
    return fs, model_at(w.ops, len(w.ops)), w


def check_reads(fs: MemFS, model: dict[bytes, bytes], keys: int, counts: Counter[str]) -> None:
    """Open and read everything: correct data or a CorruptionError naming file and offset."""
    try:
        db = lsmkv.open(PATH, fs=FaultFS(fs), read_only=True)
    except lsmkv.CorruptionError as e:
        assert e.path is not None, e
        counts["open_refused"] += 1
        return
    try:
        for i in range(keys):
            k = key_of(i)
            try:
                got = db.get(k)
            except lsmkv.CorruptionError as e:
                assert e.path is not None and e.offset is not None, e
                counts["reads_refused"] += 1
                continue
            if got != model.get(k):
                counts["wrong"] += 1
                if model.get(k) is None:
                    counts["resurrected"] += 1
                raise AssertionError(f"{k!r}: read {got!r}, expected {model.get(k)!r}")
            counts["reads_right"] += 1
        try:
            found = dict(db.scan())
        except lsmkv.CorruptionError as e:
            assert e.path is not None, e
            counts["scans_refused"] += 1
        else:
            assert found == model, "a scan returned wrong data without an error"
    finally:
        db.close()


def flip_campaign(scale: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    rng = random.Random(4)
    for s in range(4 * scale):
        base, model, w = build_store(s)
        names = [n for n in base.listdir(PATH) if n != filenames.LOCK]
        report = lsmkv.verify(PATH, fs=base)
        assert report.ok, report.problems
        for _ in range(110):
            name = rng.choice(names)
            kind = (filenames.parse(name) or ("current", 0))[0]
            fs = base.clone()
            data = bytearray(fs.read_file(f"{PATH}/{name}"))
            offset = rng.randrange(len(data))
            data[offset] ^= 1 << rng.randrange(8)
            fs.write_file(f"{PATH}/{name}", bytes(data))
            counts["flips"] += 1
            counts[f"flips:{kind}"] += 1
            report = lsmkv.verify(PATH, fs=fs)
            # Every flip, the last WAL record's included: a clean close sealed the WAL.
            assert not report.ok, f"flip at {name}:{offset} not flagged by verify"
            counts["flagged"] += 1
            assert any(name in p for p in report.problems), report.problems
            check_reads(fs, model, w.keys, counts)
            if counts["flips"] % 8 == 0:
                check_repair(fs, model, w.keys, counts)
    return counts


def check_repair(fs: MemFS, model: dict[bytes, bytes], keys: int, counts: Counter[str]) -> None:
    """repair() yields a store that opens, verifies, and holds only genuine values; all of
    the data when it reports nothing lost."""
    report = lsmkv.repair(PATH, fs=fs)
    counts["repairs"] += 1
    assert lsmkv.verify(PATH, fs=fs).ok
    with lsmkv.open(PATH, fs=fs) as db:
        found = dict(db.scan())
        for i in range(keys):
            k = key_of(i)
            assert db.get(k) == found.get(k)
    for k, v in found.items():
        check_value(k, v)  # a genuine value of that key, never garbage
    if report.complete:
        assert found == model, "repair reported nothing lost but data differs"
        counts["repairs_complete"] += 1
    else:
        counts["repairs_with_losses"] += 1
        counts["keys_recovered_by_repair"] += sum(1 for k in model if found.get(k) == model[k])


def mutate(fs: MemFS, rng: random.Random, names: list[str]) -> tuple[str, str]:
    name = rng.choice(names)
    p = f"{PATH}/{name}"
    data = fs.read_file(p)
    what = rng.choice(["truncate", "zero", "append", "delete", "swap"])
    if what == "truncate":
        fs.write_file(p, data[: rng.randrange(len(data))])
    elif what == "zero":
        a = rng.randrange(len(data))
        b = min(len(data), a + rng.randint(1, 300))
        fs.write_file(p, data[:a] + bytes(b - a) + data[b:])
    elif what == "append":
        fs.write_file(p, data + rng.randbytes(rng.randint(1, 200)))
    elif what == "delete":
        fs.remove(p)
    else:
        other = rng.choice([n for n in names if n != name] or [name])
        q = f"{PATH}/{other}"
        odata = fs.read_file(q)
        fs.write_file(p, odata)
        fs.write_file(q, data)
    return what, name


def mutation_campaign(scale: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    rng = random.Random(5)
    for s in range(2 * scale):
        base, model, w = build_store(100 + s)
        names = [n for n in base.listdir(PATH) if n != filenames.LOCK]
        for _ in range(50):
            fs = base.clone()
            what, name = mutate(fs, rng, names)
            kind = (filenames.parse(name) or ("current", 0))[0]
            counts["mutations"] += 1
            counts[f"mutation:{what}"] += 1
            counts[f"mutation:{kind}"] += 1
            report = lsmkv.verify(PATH, fs=fs)
            # Every mutation that changed something is flagged: tables and the manifest
            # by checksums, sizes and names; WALs because a clean close sealed them
            # and recorded their sizes in the manifest.
            path = f"{PATH}/{name}"
            changed = fs.read_file(path) if fs.exists(path) else None
            if changed != base.read_file(path):
                assert not report.ok, f"{what} of {name} not flagged: {report.to_dict()}"
                counts["mutations_flagged"] += 1
            check_reads(fs, model, w.keys, counts)
            if counts["mutations"] % 4 == 0:
                check_repair(fs, model, w.keys, counts)
    return counts


@campaign_scales
def test_byte_flips(scale: int) -> None:
    counts = flip_campaign(scale)
    print(dict(counts))
    assert counts["flips"] >= 400 * scale
    assert counts["flagged"] == counts["flips"]
    assert counts["reads_right"] >= 1000 * scale  # reads that need no damaged byte go on
    for kind in ("sst", "log", "manifest", "current"):
        assert counts[f"flips:{kind}"] >= 10 * scale, kind
    assert counts["wrong"] == 0 and counts["resurrected"] == 0
    assert counts["repairs"] >= 50 * scale


@campaign_scales
def test_mutations(scale: int) -> None:
    counts = mutation_campaign(scale)
    print(dict(counts))
    assert counts["mutations"] >= 80 * scale
    assert counts["mutations_flagged"] >= 0.9 * counts["mutations"]
    for what in ("truncate", "zero", "append", "delete", "swap"):
        assert counts[f"mutation:{what}"] >= 5 * scale, what
    for kind in ("sst", "log", "manifest", "current"):
        assert counts[f"mutation:{kind}"] >= 3 * scale, kind
    assert counts["wrong"] == 0 and counts["resurrected"] == 0
    assert counts["repairs"] >= 20 * scale


def test_repair_names_what_it_lost_and_keeps_the_rest() -> None:
    base, model, _ = build_store(7)
    fs = base.clone()
    # Damage one data block of one table.
    table = sorted(n for n in fs.listdir(PATH) if n.endswith(".sst"))[0]
    data = bytearray(fs.read_file(f"{PATH}/{table}"))
    data[10] ^= 0xFF
    fs.write_file(f"{PATH}/{table}", bytes(data))
    with pytest.raises(lsmkv.CorruptionError), lsmkv.open(PATH, fs=fs) as db:
        list(db.scan())
    report = lsmkv.repair(PATH, fs=fs)
    assert not report.complete
    assert any(table in item and "at offset 0" in item for item in report.lost), report.lost
    assert report.entries_salvaged > 0 and table in report.moved
    assert fs.listdir(f"{PATH}/lost")  # nothing deleted
    assert lsmkv.verify(PATH, fs=fs).ok
    with lsmkv.open(PATH, fs=fs) as db:
        found = dict(db.scan())
    for k, v in found.items():
        check_value(k, v)
    assert sum(1 for k in model if found.get(k) == model[k]) >= len(model) // 2


def test_repair_of_an_intact_store_changes_nothing_visible() -> None:
    base, model, _ = build_store(8)
    report = lsmkv.repair(PATH, fs=base)
    assert report.complete and not report.lost
    with lsmkv.open(PATH, fs=base) as db:
        assert dict(db.scan()) == model
