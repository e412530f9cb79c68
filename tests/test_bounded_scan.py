"""Lower-bounded scans (the queue recipe's head scan) and the two engine changes made
for it: a scan only gathers the range-tombstone fragments that overlap its bounds
(`Fragments.overlapping`), and a table iterator yields its first entry without decoding
the rest of the block."""

from __future__ import annotations

import random
from pathlib import Path

import lsmkv
from lsmkv.engine.read import visible_fragments
from lsmkv.rangedel import Fragments


def _key(i: int) -> bytes:
    return b"k%04d" % i


def _brute(frags: list[Fragments], read_seq: int, lo: bytes | None, hi: bytes | None) -> list:
    out = []
    for f in frags:
        for start, end, seq in f.tombstones():
            if seq <= read_seq and (hi is None or start < hi) and (lo is None or end > lo):
                out.append((start, end, seq))
    return list(Fragments(out).tombstones())


def test_overlapping_fragments_match_brute_force() -> None:
    rng = random.Random(7)
    for _ in range(300):
        sources = []
        for _ in range(rng.randint(1, 3)):
            tombs = []
            for _ in range(rng.randint(0, 12)):
                a, b = sorted(rng.sample(range(60), 2))
                tombs.append((_key(a), _key(b), rng.randint(1, 40)))
            sources.append(Fragments(tombs))
        lo = None if rng.random() < 0.2 else _key(rng.randint(0, 60))
        hi = None if rng.random() < 0.2 else _key(rng.randint(0, 60))
        read_seq = rng.randint(1, 45)
        got = list(visible_fragments(sources, read_seq, lo, hi).tombstones())
        assert got == _brute(sources, read_seq, lo, hi)
        for f in sources:
            want = [
                t for t in f.tombstones() if (hi is None or t[0] < hi) and (lo is None or t[1] > lo)
            ]
            assert list(f.overlapping(lo, hi)) == want


def test_bounded_scans_agree_with_a_model(tmp_path: Path) -> None:
    rng = random.Random(11)
    model: dict[bytes, bytes] = {}
    opts = {"memtable_bytes": 16 * 1024, "block_size_bytes": 256, "sync": False}
    with lsmkv.open(tmp_path / "db", **opts) as db:
        for step in range(3000):
            r = rng.random()
            i = rng.randint(0, 400)
            if r < 0.6:
                v = b"v%d" % step
                db.put(_key(i), v)
                model[_key(i)] = v
            elif r < 0.8:
                db.delete(_key(i))
                model.pop(_key(i), None)
            elif r < 0.85:
                j = i + rng.randint(1, 30)
                db.delete_range(_key(i), _key(j))
                for k in [k for k in model if _key(i) <= k < _key(j)]:
                    del model[k]
            if step % 50 == 0:
                lo = _key(rng.randint(0, 400))
                hi = None if rng.random() < 0.3 else _key(rng.randint(0, 420))
                limit = rng.choice([1, 2, 5, None])
                want = [(k, model[k]) for k in sorted(model) if k >= lo and (hi is None or k < hi)]
                if limit is not None:
                    want = want[:limit]
                assert list(db.scan(lo, hi, limit=limit)) == want
                first = next(db.scan(lo, hi), None)
                assert first == (want[0] if want else None)
            if step % 700 == 0:
                db.flush()
        assert list(db.scan()) == sorted(model.items())
