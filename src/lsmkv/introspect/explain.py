"""EXPLAIN for one read: what a get or a scan did, as plain data.

`explain_get` is the read path's own `walk` (engine/read.py), the same loop a traced
get runs, so the explanation cannot drift from what a get does. `explain_scan` takes
the scan's own sources (engine/scan.py `scan_sources`), each labelled and counted, and
runs the user-facing iterator over them, so it reports what that scan stepped over:
tombstones, versions hidden by range tombstones, and shadowed older versions.

Schemas: docs/format/trace.md ("explain_get", "explain_scan").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..core.counters import Counters
from ..core.keys import Entry
from ..engine.read import walk
from ..engine.scan import scan_sources
from ..engine.state import SuperVersion
from ..engine.tables import TableCache
from ..iterators.merging import merge
from ..iterators.user import ScanTally, user_entries

# At most this many keys are listed in an explain_scan report (all are counted).
MAX_LISTED_KEYS = 100


def explain_get(sv: SuperVersion, tables: TableCache, key: bytes, read_seq: int) -> dict[str, Any]:
    """The walk of one get of `key` at `read_seq` (see `engine.read.walk`).

    Cost: the same as a get, plus one small dict per layer consulted.
    """
    answer, report = walk(sv, key, read_seq, tables)
    report["value"] = answer[3].hex() if answer is not None and answer[2] == 1 else None
    return report


class _Counted:
    """Wraps a source iterator, counting the internal entries the merge pulls from it."""

    __slots__ = ("count", "source")

    def __init__(self, source: Iterator[Entry]) -> None:
        self.source = source
        self.count = 0

    def __iter__(self) -> Iterator[Entry]:
        for entry in self.source:
            self.count += 1
            yield entry


def explain_scan(
    sv: SuperVersion,
    tables: TableCache,
    counters: Counters,
    read_seq: int,
    start: bytes | None,
    end: bytes | None,
    reverse: bool,
    limit: int | None,
    tombstone_hint: int,
) -> dict[str, Any]:
    """Run one scan of [start, end) (bounds already resolved from a prefix) and report
    what it did. The scan's results are counted, and listed up to MAX_LISTED_KEYS.

    Cost: the same as the scan itself (every entry is visited once), plus a counter
    per entry for the per-source figures.
    """
    sources: list[dict[str, Any]] = []
    iters: list[_Counted] = []

    def label(info: dict[str, Any], source: Iterator[Entry]) -> Iterator[Entry]:
        counted = _Counted(source)
        sources.append(info)
        iters.append(counted)
        return iter(counted)

    # The very sources a scan reads (engine/scan.py), each wrapped to count its entries.
    merge_inputs, fragments = scan_sources(sv, tables, read_seq, start, end, reverse, label)
    tally = ScanTally()
    blocks_before = (counters.block_reads, counters.block_cache_hits)
    listed: list[str] = []
    first: bytes | None = None
    last: bytes | None = None
    if limit != 0 and iters:
        merged = merge(merge_inputs, reverse)
        for produced, (key, _value) in enumerate(
            user_entries(merged, fragments, read_seq, reverse, tally), 1
        ):
            if first is None:
                first = key
            last = key
            if len(listed) < MAX_LISTED_KEYS:
                listed.append(key.hex())
            if limit is not None and produced >= limit:
                break
    for info, it in zip(sources, iters, strict=True):
        info["entries_read"] = it.count
    internal = sum(it.count for it in iters)
    stepped = tally.tombstones + tally.range_deleted + tally.shadowed
    report: dict[str, Any] = {
        "start": None if start is None else start.hex(),
        "end": None if end is None else end.hex(),
        "reverse": reverse,
        "limit": limit,
        "read_seq": read_seq,
        "sources": sources,
        "range_tombstone_fragments": len(fragments),
        "returned": tally.returned,
        "keys": listed,
        "first_key": None if first is None else first.hex(),
        "last_key": None if last is None else last.hex(),
        "entries_read": internal,
        "tombstones_skipped": tally.tombstones,
        "range_deleted_skipped": tally.range_deleted,
        "shadowed_skipped": tally.shadowed,
        # Blocks are counted from the store-wide counters: a concurrent reader's blocks
        # would be counted too (EXPLAIN is for a quiet store, as in any database).
        "blocks_read": counters.block_reads - blocks_before[0],
        "blocks_cached": counters.block_cache_hits - blocks_before[1],
        "read_amplification": (internal / tally.returned) if tally.returned else float(internal),
        "stepped_over": stepped,
        "warning": None,
    }
    if tombstone_hint and tally.tombstones + tally.range_deleted > tombstone_hint:
        report["warning"] = (
            f"this scan stepped over {tally.tombstones + tally.range_deleted} deleted "
            f"entries (more than {tombstone_hint}); bound the scan, use delete_range for "
            "bulk deletes, or compact(start, end) this range to drop the tombstones"
        )
    return report
