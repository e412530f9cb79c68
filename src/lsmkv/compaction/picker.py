"""Choosing what to compact: pure functions of a Version and the options (no I/O).

Leveled policy, as LevelDB and RocksDB: level 0 is compacted when it holds
`level0_compaction_trigger` files (each L0 file can overlap every other, so a get must
probe them all: their count *is* L0's read amplification); a deeper level is compacted
when its size passes its target, which grows `level_size_multiplier` times per level.
The level with the highest score (count / trigger, or size / target) goes first.
Within a level, files are taken round-robin by key (the compact pointer), so every
part of the key space is rewritten in turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..manifest.edit import FileMeta
from ..manifest.version import Version
from ..options import Options


@dataclass
class Compaction:
    level: int
    output_level: int
    inputs: list[FileMeta]  # files of `level`
    overlaps: list[FileMeta]  # files of `output_level` that overlap the inputs
    reason: str
    grandparents: list[FileMeta] = field(default_factory=list)

    @property
    def all_inputs(self) -> list[tuple[int, FileMeta]]:
        pairs = [(self.level, f) for f in self.inputs]
        if self.output_level != self.level:
            pairs += [(self.output_level, f) for f in self.overlaps]
        return pairs

    def key_range(self) -> tuple[bytes, bytes]:
        files = [f for _, f in self.all_inputs]
        return min(f.smallest for f in files), max(f.largest for f in files)


def key_span(files: list[FileMeta]) -> tuple[bytes, bytes]:
    return min(f.smallest for f in files), max(f.largest for f in files)


def level_scores(version: Version, options: Options) -> list[float]:
    """Score per level (>= 1.0 means it needs compaction); the last level scores 0."""
    scores = [len(version.levels[0]) / options.level0_compaction_trigger]
    for level in range(1, version.num_levels - 1):
        scores.append(version.level_bytes(level) / options.level_target_bytes(level))
    scores.append(0.0)
    return scores


def _with_overlaps(version: Version, level: int, inputs: list[FileMeta], reason: str) -> Compaction:
    out = level + 1
    lo, hi = key_span(inputs)
    overlaps = version.overlapping(out, lo, hi)
    grandparents: list[FileMeta] = []
    if out + 1 < version.num_levels:
        lo2, hi2 = key_span(inputs + overlaps)
        grandparents = version.overlapping(out + 1, lo2, hi2)
    return Compaction(level, out, inputs, overlaps, reason, grandparents)


def pick(
    version: Version, options: Options, compact_pointers: dict[int, bytes]
) -> Compaction | None:
    """The most urgent compaction, or None when every level is within its target."""
    scores = level_scores(version, options)
    best = max(range(len(scores)), key=lambda lvl: scores[lvl])
    if scores[best] < 1.0:
        return None
    if best == 0:
        # All of L0: its files overlap one another, and taking them all keeps the
        # rule that a newer version of a key never sits below an older one.
        return _with_overlaps(version, 0, list(version.levels[0]), "level0_files")
    files = version.levels[best]
    pointer = compact_pointers.get(best)
    chosen = files[0]
    if pointer is not None:
        for f in files:
            if f.smallest > pointer:
                chosen = f
                break
    return _with_overlaps(version, best, [chosen], "level_size")


def manual_steps(version: Version, lo: bytes | None, hi: bytes | None) -> list[int]:
    """Levels whose overlapping files a manual compaction of [lo, hi] merges downward.

    Returns the source levels in order; the deepest level holding data in the range is
    the destination (level 1 if all data is in level 0).
    """
    deepest = 0
    for level in range(version.num_levels):
        if version.overlapping(level, lo, hi):
            deepest = level
    bottom = max(1, deepest)
    return list(range(0, bottom))


def manual_compaction(
    version: Version, level: int, lo: bytes | None, hi: bytes | None
) -> Compaction | None:
    """Merge the files of `level` overlapping [lo, hi] into level + 1."""
    inputs = version.overlapping(level, lo, hi)
    if level == 0:
        inputs = list(version.levels[0]) if inputs else []
    if not inputs:
        return None
    return _with_overlaps(version, level, inputs, "manual")


def bottom_rewrites(
    version: Version, level: int, lo: bytes | None, hi: bytes | None
) -> list[Compaction]:
    """Rewrites, in place, of the bottom-level files in [lo, hi] that still hold
    tombstones, so that a manual compaction really purges them. One file per rewrite:
    the output then cannot overlap a neighbour that was not rewritten.

    (RocksDB's CompactRange with default options skips this step and may move a file
    to the bottom level tombstones and all; docs/queue.md shows the consequence.)
    """
    return [
        Compaction(level, level, [f], [], "manual_bottom")
        for f in version.overlapping(level, lo, hi)
        if f.point_deletes or f.range_deletes
    ]
