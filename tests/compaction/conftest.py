"""Shared settings for the compaction tests: small sizes so that a few thousand writes
build several levels, and a listener that keeps every event."""

from __future__ import annotations

from typing import Any

# 16 KiB memtables and a 64 KiB level 1: a few thousand 100-byte writes reach level 3.
SMALL: dict[str, Any] = dict(
    memtable_bytes=16 * 1024,
    block_size_bytes=1024,
    level1_bytes=64 * 1024,
    target_file_bytes=16 * 1024,
    sync=False,
)


def level_shape_problems(db: Any) -> list[str]:
    """What is wrong with the level shape of a settled store: L0 at or past its
    compaction trigger, or a level over its target by more than one file."""
    stats = db.stats()
    opts = db.options
    problems = []
    levels = stats["levels"]
    if levels[0]["files"] >= opts.level0_compaction_trigger:
        problems.append(f"L0 holds {levels[0]['files']} files")
    version = db._sv.version
    for lv in levels[1:-1]:
        files = version.levels[lv["level"]]
        largest = max((f.size for f in files), default=0)
        if lv["bytes"] > lv["target_bytes"] + largest:
            problems.append(
                f"L{lv['level']} holds {lv['bytes']} bytes, target {lv['target_bytes']}"
            )
    return problems
