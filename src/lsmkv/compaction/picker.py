"""Choosing what to compact: pure functions of a Version and the options (no I/O).

Leveled policy, as LevelDB and RocksDB (docs/compaction.md has the picture):

- Level 0 is compacted when it holds `level0_compaction_trigger` files. Each L0 file
  can overlap every other, so a get must probe them all: their count *is* L0's read
  amplification. All of L0 goes at once, which keeps the rule that a newer version of
  a key never sits below an older one.
- A deeper level is compacted when its size passes its target, which grows
  `level_size_multiplier` times per level. The level with the highest score
  (count / trigger, or size / target) goes first.
- Within a level, one file is taken round-robin by key (the compact pointer: the first
  file past the largest key of the last compaction at that level), so every part of
  the key space is rewritten in turn and no hot range is compacted twice in a row.
- Outputs are cut at `target_file_bytes` and wherever the output has come to overlap
  more than `max_grandparent_overlap_bytes` of the level below the output level, so
  that compacting any one output file later never rewrites too much.
- Deletion-triggered compaction (DTC, `pick_dense`) looks for a table whose densest
  window holds `deletion_trigger` point tombstones among `deletion_window_entries`
  entries, and pushes it down a level (or rewrites it in place at the last level) so
  its tombstones meet, and remove, what they delete. `pick` offers it when nothing is
  over target; the engine also gives it every other turn under load (engine/background.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..manifest.edit import FileMeta
from ..manifest.version import Version
from ..options import Options

# Reasons, as reported in events and stats (docs/compaction.md lists them).
LEVEL0_FILES = "level0_files"
LEVEL_SIZE = "level_size"
DELETION_DENSITY = "deletion_density"
MANUAL = "manual"
MANUAL_BOTTOM = "manual_bottom"
SCAN_HINT = "scan_hint"

# The snapshot horizon when no snapshot is open: above every sequence number.
NO_SNAPSHOT = 1 << 62


@dataclass
class Compaction:
    level: int
    output_level: int
    inputs: list[FileMeta]  # files of `level`
    overlaps: list[FileMeta]  # files of `output_level` that overlap the inputs
    reason: str
    grandparents: list[FileMeta] = field(default_factory=list)  # output_level + 1
    # Move the single input file down a level without rewriting it: nothing to merge
    # with, and a rewrite would only cost I/O (LevelDB's "trivial move").
    trivial_move: bool = False

    @property
    def all_inputs(self) -> list[tuple[int, FileMeta]]:
        pairs = [(self.level, f) for f in self.inputs]
        if self.output_level != self.level:
            pairs += [(self.output_level, f) for f in self.overlaps]
        return pairs

    def key_range(self) -> tuple[bytes, bytes]:
        files = [f for _, f in self.all_inputs]
        return min(f.smallest for f in files), max(f.largest for f in files)

    def describe(self) -> str:
        """One line for docs, tests and the data-driven cases: `L1->L2 level_size 7,9 + 12`."""
        ins = ",".join(str(f.number) for f in self.inputs)
        outs = ",".join(str(f.number) for f in self.overlaps) or "-"
        move = " (move)" if self.trivial_move else ""
        return f"L{self.level}->L{self.output_level} {self.reason} {ins} + {outs}{move}"


def key_span(files: list[FileMeta]) -> tuple[bytes, bytes]:
    return min(f.smallest for f in files), max(f.largest for f in files)


def max_grandparent_overlap_bytes(options: Options) -> int:
    """How much of the grandparent level one output file may overlap (LevelDB's 10x)."""
    return 10 * options.target_file_bytes


def level_scores(version: Version, options: Options) -> list[float]:
    """Score per level (>= 1.0 means it needs compaction); the last level scores 0."""
    scores = [len(version.levels[0]) / options.level0_compaction_trigger]
    for level in range(1, version.num_levels - 1):
        scores.append(version.level_bytes(level) / options.level_target_bytes(level))
    scores.append(0.0)
    return scores


def pending_compaction_bytes(version: Version, options: Options) -> int:
    """Bytes compaction must still read before every level is within its target.

    An estimate in RocksDB's spirit: all of L0 once it reaches its trigger, and for
    each deeper level its bytes over target, multiplied by 1 + the fan-out to the next
    level (each byte pushed down is merged with about that many bytes below it).
    Cost: O(files).
    """
    total = 0
    if len(version.levels[0]) >= options.level0_compaction_trigger:
        total += version.level_bytes(0)
    for level in range(1, version.num_levels - 1):
        excess = version.level_bytes(level) - options.level_target_bytes(level)
        if excess > 0:
            total += excess * (1 + options.level_size_multiplier)
    return total


def _with_overlaps(
    version: Version, level: int, inputs: list[FileMeta], reason: str, options: Options | None
) -> Compaction:
    out = level + 1
    lo, hi = key_span(inputs)
    overlaps = version.overlapping(out, lo, hi)
    grandparents: list[FileMeta] = []
    if out + 1 < version.num_levels:
        lo2, hi2 = key_span(inputs + overlaps)
        grandparents = version.overlapping(out + 1, lo2, hi2)
    c = Compaction(level, out, inputs, overlaps, reason, grandparents)
    if (
        options is not None
        and reason in (LEVEL0_FILES, LEVEL_SIZE)
        and len(inputs) == 1
        and not overlaps
        and sum(f.size for f in grandparents) <= max_grandparent_overlap_bytes(options)
    ):
        c.trivial_move = True
    return c


def round_robin(files: tuple[FileMeta, ...], pointer: bytes | None) -> FileMeta:
    """The first file whose range ends past `pointer`, wrapping to the first file."""
    if pointer is not None:
        for f in files:
            if f.largest > pointer:
                return f
    return files[0]


def pick(
    version: Version,
    options: Options,
    compact_pointers: Mapping[int, bytes],
    dtc_exhausted: Mapping[int, int] | None = None,
    horizon: int | None = None,
) -> Compaction | None:
    """The most urgent compaction, or None when there is nothing to do.

    `dtc_exhausted` maps a file number to the snapshot horizon at which a DTC
    compaction already rewrote it at the bottom; `horizon` is the current one (the
    oldest open snapshot's seq, None when no snapshot is open). Cost: O(files).
    """
    scores = level_scores(version, options)
    best = max(range(len(scores)), key=lambda lvl: scores[lvl])
    if scores[best] >= 1.0:
        if best == 0:
            return _with_overlaps(version, 0, list(version.levels[0]), LEVEL0_FILES, options)
        chosen = round_robin(version.levels[best], compact_pointers.get(best))
        return _with_overlaps(version, best, [chosen], LEVEL_SIZE, options)
    return pick_dense(version, options, dtc_exhausted or {}, horizon)


def is_dense(f: FileMeta, options: Options) -> bool:
    """Does `f` hold a window dense enough in point tombstones to trigger DTC?"""
    return options.deletion_trigger > 0 and f.max_deletes_in_window >= options.deletion_trigger


def pick_dense(
    version: Version, options: Options, exhausted: Mapping[int, int], horizon: int | None
) -> Compaction | None:
    """Deletion-triggered compaction of the densest table (shallowest level first), or None.

    A table at the last level is rewritten in place. Its tombstones then either drop or
    are kept for a snapshot; in the latter case the rewrite is recorded in `exhausted`
    so it is not repeated until that snapshot is released (the horizon moves).
    """
    if options.deletion_trigger <= 0:
        return None
    last = version.num_levels - 1
    for level, files in enumerate(version.levels):
        dense = [
            f
            for f in files
            if is_dense(f, options)
            and (
                # Above the data's bottom a push down makes progress by itself: the
                # tombstones move toward what they delete (at most one push per level).
                not (
                    level == last
                    or (level and version.bottommost_for(level, f.smallest, f.largest))
                )
                or _may_drop(f, exhausted, horizon)
            )
        ]
        if not dense:
            continue
        f = max(dense, key=lambda f: (f.max_deletes_in_window, -f.number))
        if level == 0:
            return _with_overlaps(version, 0, list(version.levels[0]), DELETION_DENSITY, None)
        if level == last:
            return Compaction(level, level, [f], [], DELETION_DENSITY)
        return _with_overlaps(version, level, [f], DELETION_DENSITY, None)
    return None


def _may_drop(f: FileMeta, exhausted: Mapping[int, int], horizon: int | None) -> bool:
    """Could a rewrite of bottom-level file `f` now drop tombstones it kept last time?"""
    if horizon is not None and f.smallest_seq > horizon:
        return False  # every entry is newer than the oldest snapshot: all must stay
    done_at = exhausted.get(f.number)
    if done_at is None:
        return True
    return (NO_SNAPSHOT if horizon is None else horizon) > done_at


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
    version: Version, level: int, lo: bytes | None, hi: bytes | None, reason: str = MANUAL
) -> Compaction | None:
    """Merge the files of `level` overlapping [lo, hi] into level + 1 (all of L0 if any
    L0 file overlaps: L0 files may hold older versions of each other's keys)."""
    inputs = version.overlapping(level, lo, hi)
    if level == 0:
        inputs = list(version.levels[0]) if inputs else []
    if not inputs:
        return None
    return _with_overlaps(version, level, inputs, reason, None)


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
        Compaction(level, level, [f], [], MANUAL_BOTTOM)
        for f in version.overlapping(level, lo, hi)
        if f.point_deletes or f.range_deletes
    ]
