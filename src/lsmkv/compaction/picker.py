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
- With several compaction threads (`max_background_compactions`), each pick skips what
  running compactions hold (`Busy`, RocksDB's `being_compacted`): a file already being
  compacted is never handed out again, two compactions never write overlapping key
  ranges into the same level, and only one compaction takes level 0 at a time (its
  inputs are then all of L0 as it was, the oldest files, and files flushed meanwhile
  stay for the next one, which keeps newer versions above older ones).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


@dataclass(frozen=True)
class Busy:
    """What the running compactions hold, so that a new pick stays clear of them.

    `files`: numbers of every input file of a running compaction (RocksDB's
    `being_compacted` flag); `outputs`: each running compaction's output level and the
    key range it will write there; `level0`: a compaction taking level 0 is running.
    """

    files: frozenset[int] = frozenset()
    outputs: tuple[tuple[int, bytes, bytes], ...] = ()
    level0: bool = False

    @staticmethod
    def of(running: Iterable[Compaction]) -> Busy:
        """The busy set of `running` compactions. Cost: O(their input files)."""
        files: set[int] = set()
        outputs = []
        level0 = False
        for c in running:
            files.update(f.number for _, f in c.all_inputs)
            outputs.append((c.output_level, *c.key_range()))
            level0 = level0 or c.level == 0
        return Busy(frozenset(files), tuple(outputs), level0)

    def conflicts(self, c: Compaction) -> bool:
        """Would `c` touch a file, or a key range of an output level, that a running
        compaction holds? Why both: the inputs must not be read and removed twice, and
        two compactions writing overlapping ranges into one level would leave that
        level's files overlapping."""
        if c.level == 0 and self.level0:
            return True  # L0 files overlap: two L0 compactions could reorder versions
        if any(f.number in self.files for _, f in c.all_inputs):
            return True
        lo, hi = c.key_range()
        return any(
            level == c.output_level and lo <= end and start <= hi
            for level, start, end in self.outputs
        )


# Nothing is running: the busy set of a single-threaded pick.
IDLE = Busy()


def key_span(files: list[FileMeta]) -> tuple[bytes, bytes]:
    return min(f.smallest for f in files), max(f.largest for f in files)


def max_grandparent_overlap_bytes(options: Options) -> int:
    """How much of the grandparent level one output file may overlap (LevelDB's 10x)."""
    return 10 * options.target_file_bytes


def level_scores(version: Version, options: Options, busy: Busy = IDLE) -> list[float]:
    """Score per level (>= 1.0 means it needs compaction); the last level scores 0.

    Files a running compaction holds (`busy`) do not count, as in RocksDB: a level just
    over target whose excess is already being compacted is not picked a second time.
    """
    held = busy.files
    scores = [
        sum(1 for f in version.levels[0] if f.number not in held)
        / options.level0_compaction_trigger
    ]
    for level in range(1, version.num_levels - 1):
        size = sum(f.size for f in version.levels[level] if f.number not in held)
        scores.append(size / options.level_target_bytes(level))
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
    return round_robin_order(files, pointer)[0]


def round_robin_order(files: tuple[FileMeta, ...], pointer: bytes | None) -> list[FileMeta]:
    """`files` in the order a level offers them: from the first one whose range ends past
    `pointer`, wrapping around (the later ones are for when the first is busy)."""
    start = 0
    if pointer is not None:
        start = next((i for i, f in enumerate(files) if f.largest > pointer), 0)
    return [*files[start:], *files[:start]]


def pick(
    version: Version,
    options: Options,
    compact_pointers: Mapping[int, bytes],
    dtc_exhausted: Mapping[int, int] | None = None,
    horizon: int | None = None,
    busy: Busy = IDLE,
) -> Compaction | None:
    """The most urgent compaction that `busy` (what running compactions hold) allows,
    or None when there is nothing to do.

    `dtc_exhausted` maps a file number to the snapshot horizon at which a DTC
    compaction already rewrote it at the bottom; `horizon` is the current one (the
    oldest open snapshot's seq, None when no snapshot is open). Levels are tried from
    the highest score down; within a level, files in round-robin order, skipping those
    that conflict with a running compaction. Cost: O(files) when nothing is busy, up to
    O(files x overlaps) when many candidates are refused.
    """
    scores = level_scores(version, options, busy)
    # Highest score first; `sorted` is stable, so on a tie the shallower level goes first.
    for level in sorted(range(len(scores)), key=lambda lvl: -scores[lvl]):
        if scores[level] < 1.0:
            break
        if level == 0:
            c = _with_overlaps(version, 0, list(version.levels[0]), LEVEL0_FILES, options)
            if not busy.conflicts(c):
                return c
            continue
        for f in round_robin_order(version.levels[level], compact_pointers.get(level)):
            if f.number in busy.files:
                continue
            c = _with_overlaps(version, level, [f], LEVEL_SIZE, options)
            if not busy.conflicts(c):
                return c
    return pick_dense(version, options, dtc_exhausted or {}, horizon, busy)


def is_dense(f: FileMeta, options: Options) -> bool:
    """Does `f` hold a window dense enough in point tombstones to trigger DTC?"""
    return options.deletion_trigger > 0 and f.max_deletes_in_window >= options.deletion_trigger


def pick_dense(
    version: Version,
    options: Options,
    exhausted: Mapping[int, int],
    horizon: int | None,
    busy: Busy = IDLE,
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
            and f.number not in busy.files
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
        # Densest first; a candidate that conflicts with a running compaction is passed over.
        for f in sorted(dense, key=lambda f: (-f.max_deletes_in_window, f.number)):
            if level == 0:
                c = _with_overlaps(version, 0, list(version.levels[0]), DELETION_DENSITY, None)
            elif level == last:
                c = Compaction(level, level, [f], [], DELETION_DENSITY)
            else:
                c = _with_overlaps(version, level, [f], DELETION_DENSITY, None)
            if not busy.conflicts(c):
                return c
            if level == 0:
                break  # every L0 candidate is the same compaction: all of L0
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
