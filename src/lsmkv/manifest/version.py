"""A Version: the immutable set of live SSTables, level by level.

Level 0 holds flushed memtables; its files may overlap and are kept newest first.
Levels 1 and deeper each hold files sorted by key whose ranges do not overlap (two
neighbours may share a boundary key only when one of them ends with a range tombstone,
whose end is exclusive). Readers take the current Version with one attribute read and
keep it as long as they like: nothing in it ever changes.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from itertools import pairwise

from .edit import FileMeta, VersionEdit


class Version:
    __slots__ = ("__weakref__", "_largest", "_smallest", "deep_levels", "levels")

    def __init__(self, levels: list[list[FileMeta]]) -> None:
        ordered: list[tuple[FileMeta, ...]] = []
        for level, files in enumerate(levels):
            if level == 0:
                key = sorted(files, key=lambda f: (f.largest_seq, f.number), reverse=True)
            else:
                key = sorted(files, key=lambda f: (f.smallest, f.largest))
            ordered.append(tuple(key))
        self.levels: tuple[tuple[FileMeta, ...], ...] = tuple(ordered)
        self._largest: list[list[bytes]] = [[f.largest for f in files] for files in self.levels]
        self._smallest: list[list[bytes]] = [[f.smallest for f in fs] for fs in self.levels]
        # The non-empty levels below 0 as (level, files, their largest keys): what a
        # point lookup walks after level 0 (read.lookup), without visiting empty levels.
        self.deep_levels: tuple[tuple[int, tuple[FileMeta, ...], list[bytes]], ...] = tuple(
            (level, files, self._largest[level])
            for level, files in enumerate(self.levels)
            if level and files
        )

    @staticmethod
    def empty(num_levels: int) -> Version:
        return Version([[] for _ in range(num_levels)])

    def apply(self, edit: VersionEdit) -> Version:
        """The version after `edit`. Cost: O(files)."""
        removed = set(edit.removed)
        levels = [
            [f for f in files if (level, f.number) not in removed]
            for level, files in enumerate(self.levels)
        ]
        for level, meta in edit.added:
            while level >= len(levels):
                levels.append([])
            levels[level].append(meta)
        return Version(levels)

    # ---------------------------------------------------------------- queries
    @property
    def num_levels(self) -> int:
        return len(self.levels)

    def files(self) -> Iterator[tuple[int, FileMeta]]:
        for level, files in enumerate(self.levels):
            for f in files:
                yield level, f

    def file_numbers(self) -> set[int]:
        return {f.number for _, f in self.files()}

    def level_bytes(self, level: int) -> int:
        return sum(f.size for f in self.levels[level])

    def candidates(self, level: int, key: bytes) -> list[FileMeta]:
        """Files of a level >= 1 whose range holds `key` (at most two). Cost: one bisect."""
        files = self.levels[level]
        i = bisect_left(self._largest[level], key)
        found = []
        while i < len(files) and files[i].smallest <= key:
            found.append(files[i])
            i += 1
        return found

    def overlapping(self, level: int, lo: bytes | None, hi: bytes | None) -> list[FileMeta]:
        """Files of `level` whose range meets [lo, hi] (inclusive; None is unbounded).

        Cost: O(L0 files) for level 0; two bisects and a slice for deeper levels, whose
        files are sorted and disjoint (so both their smallest and largest keys ascend).
        """
        files = self.levels[level]
        if level == 0:
            return [
                f
                for f in files
                if (hi is None or f.smallest <= hi) and (lo is None or f.largest >= lo)
            ]
        i = 0 if lo is None else bisect_left(self._largest[level], lo)
        j = len(files) if hi is None else bisect_right(self._smallest[level], hi)
        return list(files[i:j])

    def bottommost_for(self, level: int, lo: bytes, hi: bytes) -> bool:
        """True if no level deeper than `level` has data in [lo, hi]."""
        return all(not self.overlapping(d, lo, hi) for d in range(level + 1, self.num_levels))

    def check(self) -> None:
        """Assert the invariants (tests call this after every change)."""
        seen: set[int] = set()
        for level, files in enumerate(self.levels):
            for f in files:
                assert f.number not in seen, f"file {f.number} appears twice"
                seen.add(f.number)
                assert f.smallest <= f.largest, f"file {f.number} has an inverted range"
            if level == 0:
                continue
            for a, b in pairwise(files):
                assert a.largest <= b.smallest, (
                    f"level {level}: files {a.number} and {b.number} overlap"
                )
