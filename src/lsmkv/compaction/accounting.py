"""Figures about the shape of the levels that `stats()` reports: live data and space
amplification. Pure functions of a Version (no I/O).
"""

from __future__ import annotations

from bisect import bisect_right

from ..manifest.version import Version


def estimate_live_bytes(version: Version) -> int:
    """An estimate of the bytes the live data would take after a full compaction.

    Walk the levels from the bottom up and count a table only where no deeper table
    already counted covers its key range: in a leveled tree the deepest copy of a key
    range holds most of its data, and shallower tables over the same range mostly
    repeat or delete it (RocksDB's estimate-live-data-size works the same way). Space
    amplification is then on-disk bytes / this. It over-counts data deleted by
    tombstones that have not yet reached the bottom, so it errs toward low amplification;
    the exact figure is the size after `compact()` (tests/compaction measure both).
    Cost: O(files log files).
    """
    starts: list[bytes] = []  # counted ranges, disjoint and sorted by start
    ends: list[bytes] = []
    total = 0
    for level in range(version.num_levels - 1, -1, -1):
        added: list[tuple[bytes, bytes]] = []
        for f in version.levels[level]:
            i = bisect_right(starts, f.largest)  # ranges starting at or before f.largest
            if i and ends[i - 1] >= f.smallest:
                continue  # overlaps a range already counted at a deeper level
            total += f.size
            added.append((f.smallest, f.largest))
        if added:
            merged = sorted([*zip(starts, ends, strict=True), *added])
            starts = [s for s, _ in merged]
            ends = [e for _, e in merged]
    return total
