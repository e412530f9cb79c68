"""A store filled with random puts and deletes keeps its level shape, and its space
amplification stays under 1.5x once background compaction has settled."""

from __future__ import annotations

import os
import random

import pytest

import lsmkv

from .conftest import SMALL, level_shape_problems

STRESS = 10 if os.environ.get("LSMKV_STRESS") == "full" else 1


@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 2])
def test_random_fill_keeps_level_shape_and_space_amplification(
    tmp_path: os.PathLike[str], threads: int
) -> None:
    rng = random.Random(7)
    n = 12000 * STRESS
    stop = 6
    opts = dict(
        SMALL,
        level0_slowdown_trigger=5,
        level0_stop_trigger=stop,
        max_background_compactions=threads,
    )
    max_l0 = 0
    with lsmkv.open(os.path.join(tmp_path, "db"), **opts) as db:
        for i in range(n):
            key = b"k%07d" % rng.randrange(n // 2)
            if rng.random() < 0.25:
                db.delete(key)
            else:
                db.put(key, rng.randbytes(100))
            if i % 16 == 0:
                max_l0 = max(max_l0, len(db._sv.version.levels[0]))
        assert max_l0 <= stop, f"L0 reached {max_l0} files, past its stop trigger {stop}"
        db.flush()
        assert db.wait_for_compaction(timeout=120)
        stats = db.stats()
        assert level_shape_problems(db) == []
        assert stats["levels"][2]["files"] > 0, "the fill must build at least three levels"
        acct = stats["compaction"]
        assert acct["count"] == sum(acct["by_reason"].values()) > 0
        assert 1.0 <= acct["space_amplification"] < 1.5
        # The exact figure: on-disk bytes now over the bytes left once a full compaction
        # has removed every dead version and tombstone.
        on_disk = acct["sst_bytes"]
        db.compact()
        live = db.stats()["compaction"]["sst_bytes"]
        assert on_disk / live < 1.5, (on_disk, live)
        # Accounting adds up: every byte written to a level came from a flush or a
        # compaction, and write amplification is table bytes over user bytes.
        after = db.stats()
        levels = after["levels"]
        acct = after["compaction"]
        assert sum(lv["bytes_written"] for lv in levels) == (
            acct["flush_bytes_written"] + acct["bytes_written"]
        )
        assert sum(lv["bytes_read"] for lv in levels) == acct["bytes_read"]
        assert acct["table_write_amplification"] > 1.0
        assert after["write_amplification"] > acct["table_write_amplification"]
        assert after["stalls"]["count"] == after["stalls"]["slowdowns"] + after["stalls"]["stops"]
