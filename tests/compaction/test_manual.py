"""compact(start, end) rewrites exactly the tables overlapping the range (and those the
merge must take along to keep a level sorted), through every level down to the deepest
one holding data there; tables elsewhere stay untouched."""

from __future__ import annotations

import os
import random

import lsmkv

from .conftest import SMALL


def _tables(db: lsmkv.DB) -> dict[int, tuple[int, bytes, bytes, int]]:
    return {
        f.number: (lvl, f.smallest, f.largest, f.point_deletes) for lvl, f in db._sv.version.files()
    }


def test_compact_range_is_exact(tmp_path: os.PathLike[str]) -> None:
    # Three levels, the last without a size target, L0 compacted at its first file and
    # no deletion-triggered work: once settled, nothing is due before or after the
    # manual compaction, so every change below is the manual compaction's.
    opts = dict(
        SMALL,
        num_levels=3,
        level0_compaction_trigger=1,
        deletion_trigger=0,
        scan_tombstone_hint=0,
    )
    rng = random.Random(3)
    with lsmkv.open(os.path.join(tmp_path, "db"), **opts) as db:
        for _ in range(5000):
            key = b"k%05d" % rng.randrange(4000)
            if rng.random() < 0.3:
                db.delete(key)
            else:
                db.put(key, rng.randbytes(80))
        db.flush()
        assert db.wait_for_compaction(timeout=60)
        # The range: the span of a middle L2 table, with fresh writes in it flushed (and
        # compacted into L1, L0's trigger being 1) so that tables at both levels overlap
        # it, wherever the settled fill left its tables.
        l2 = sorted((f.smallest, f.largest) for f in db._sv.version.levels[2])
        lo, hi = l2[len(l2) // 2]
        for i in range(20):
            db.put(lo + b"-%02d" % i, b"new")
        db.flush()
        assert db.wait_for_compaction(timeout=60)
        model = dict(db.scan())
        before = _tables(db)
        levels_before = {lvl for lvl, *_ in before.values()}
        assert levels_before == {1, 2}, levels_before
        # What the compaction must rewrite: the L1 tables overlapping the range, the L2
        # tables those overlap (the merge takes them along so L2 stays sorted), and the
        # L2 tables in the range that hold tombstones (rewritten in place to drop them).
        l1 = [(s, e) for lvl, s, e, _ in before.values() if lvl == 1 and s <= hi and e >= lo]
        span = (min(s for s, _ in l1), max(e for _, e in l1)) if l1 else (hi, lo)
        touched = {
            n
            for n, (lvl, s, e, deletes) in before.items()
            if (lvl == 1 and s <= hi and e >= lo)
            or (lvl == 2 and s <= span[1] and e >= span[0])
            or (lvl == 2 and s <= hi and e >= lo and deletes)
        }
        compactions = db.stats()["compaction"]["count"]
        db.compact(lo, hi)
        after = _tables(db)
        assert touched and db.stats()["compaction"]["count"] > compactions
        db._sv.version.check()
        assert dict(db.scan()) == model
        # Exactly the overlapping tables were rewritten; every other one is untouched.
        assert set(before) - set(after) == touched
        for number in set(before) - touched:
            assert after[number] == before[number]
        # Everything new sits at the bottom, and none of it holds a tombstone: all
        # were older than any snapshot (none is open) and nothing lies beneath.
        new = {n: t for n, t in after.items() if n not in before}
        assert new and all(lvl == 2 and deletes == 0 for lvl, _, _, deletes in new.values())
        # Nothing left in the range above the bottom.
        assert not [n for n, (lvl, s, e, _) in after.items() if lvl < 2 and s <= hi and e >= lo]
