"""Model-based: random overwrites, deletes and range deletes with background compaction
running and snapshots held open; every snapshot must read exactly its point in time,
however many flushes and compactions ran since it was taken."""

from __future__ import annotations

import os
import random

import pytest

import lsmkv

from .conftest import SMALL

STRESS = 10 if os.environ.get("LSMKV_STRESS") == "full" else 1


def _check(snap: lsmkv.Snapshot | lsmkv.DB, model: dict[bytes, bytes], keys: list[bytes]) -> None:
    assert list(snap.scan()) == sorted(model.items())
    for key in keys:
        assert snap.get(key) == model.get(key), key
    lo, hi = b"k0100", b"k0200"
    assert list(snap.scan(lo, hi, reverse=True)) == sorted(
        ((k, v) for k, v in model.items() if lo <= k < hi), reverse=True
    )


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "threads"), [(1, 1), (2, 2), (3, 3)])
def test_snapshots_read_their_point_in_time_under_background_compaction(
    tmp_path: os.PathLike[str], seed: int, threads: int
) -> None:
    rng = random.Random(seed)
    opts = dict(
        SMALL,
        level0_compaction_trigger=2,
        level0_slowdown_trigger=3,
        level0_stop_trigger=5,
        max_background_compactions=threads,
    )
    keys = [b"k%04d" % i for i in range(400)]
    model: dict[bytes, bytes] = {}
    snaps: list[tuple[lsmkv.Snapshot, dict[bytes, bytes]]] = []
    with lsmkv.open(os.path.join(tmp_path, "db"), **opts) as db:
        for step in range(6000 * STRESS):
            r = rng.random()
            key = rng.choice(keys)
            if r < 0.6:
                value = rng.randbytes(rng.randrange(20, 120))
                db.put(key, value)
                model[key] = value
            elif r < 0.9:
                db.delete(key)
                model.pop(key, None)
            elif r < 0.92:
                end = b"k%04d" % (int(key[1:]) + rng.randrange(1, 40))
                db.delete_range(key, end)
                for k in [k for k in model if key <= k < end]:
                    del model[k]
            if step % 500 == 250:
                snaps.append((db.snapshot(), dict(model)))
            if step % 1000 == 999 and snaps:
                # Check the oldest and newest, then release one in the middle so the
                # snapshot list changes under running compactions.
                for snap, frozen in (snaps[0], snaps[-1]):
                    _check(snap, frozen, keys)
                snap, _ = snaps.pop(len(snaps) // 2)
                snap.release()
        db.flush()
        assert db.wait_for_compaction(timeout=120)
        db._sv.version.check()
        stats = db.stats()
        assert stats["compaction"]["count"] > 10, "the test must exercise compaction"
        assert sum(lv["files"] for lv in stats["levels"][2:]) > 0, "data must reach L2"
        for snap, frozen in snaps:
            _check(snap, frozen, keys)
        _check(db, model, keys)
        # Releasing every snapshot lets a full compaction collapse all history.
        for snap, _ in snaps:
            snap.release()
        db.compact()
        _check(db, model, keys)
        levels = db.stats()["levels"]
        assert sum(lv["tombstones"] + lv["range_tombstones"] for lv in levels) == 0
        assert sum(lv["entries"] for lv in levels) == len(model)
