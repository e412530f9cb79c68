"""The tombstone map: where deleted-but-not-yet-dropped entries sit, by key range and level.

A tombstone costs nothing until a scan walks over it; a range full of them makes a scan
step over thousands of dead entries to return a few live ones (the queue problem of
docs/queue.md). Cassandra warns when one read scans more than 1,000 tombstones; this map
names, before any scan runs, the key ranges where that would happen.

Method: the key space is cut into `buckets` ranges holding about the same number of
distinct keys (quantiles of every key present, so the cut follows the data whatever the
key format). For each layer (memtables, then each level) and each range it counts the
entries and the point tombstones. A range is *dense* when tombstones are at least half
of its entries; a run of adjacent dense ranges holding more than `threshold` tombstones
is reported with the remedy. Range tombstones are counted per layer: one of them costs a
scan one step, however many keys it hides.

Schema: docs/format/trace.md ("tombstone_map").
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from ..core.keys import KIND_DELETE
from ..engine.state import SuperVersion
from ..storage.fs import FileSystem
from .where import private_reader

REMEDY = (
    "bound scans so they start past the dead range; delete whole ranges with "
    "delete_range (one record, not one per key); run compact(start, end) on this range "
    "to drop the tombstones now (lsmkv compact DB --start S --end E)"
)


def tombstone_map(
    sv: SuperVersion, fs: FileSystem, path: str, *, buckets: int = 32, threshold: int = 1000
) -> dict[str, Any]:
    """Tombstone density by key range and layer (see the module doc).

    Cost: reads every entry of every live table and memtable once (keys only are kept),
    so O(entries) time and memory: a tool for inspection, not for a hot path. Tables
    are read outside the block cache, so the map neither evicts the blocks gets are
    using nor changes the counters of stats().
    """
    if buckets < 1:
        raise ValueError(f"buckets must be >= 1, got {buckets}")
    layers: list[tuple[str, list[tuple[bytes, bool]], int]] = []
    mems = (sv.mem, *sv.imms)
    mem_keys: list[tuple[bytes, bool]] = []
    mem_ranges = 0
    for mem in mems:
        mem_keys.extend((e[0], e[2] == KIND_DELETE) for e in mem.iter_all())
        mem_ranges += len(mem.range_tombstones)
    layers.append(("memtable", mem_keys, mem_ranges))
    for level, files in enumerate(sv.version.levels):
        keys: list[tuple[bytes, bool]] = []
        ranges = 0
        for f in files:
            reader = private_reader(fs, path, f.number)
            try:
                keys.extend((e[0], e[2] == KIND_DELETE) for e in reader.iter_entries())
                ranges += len(reader.range_tombstones())
            finally:
                reader.close()
        layers.append((f"L{level}", keys, ranges))
    distinct = sorted({k for _, keys, _ in layers for k, _ in keys})
    n = len(distinct)
    count = min(buckets, n) if n else 0
    starts = [distinct[i * n // count] for i in range(count)] if count else []
    bucket_rows: list[dict[str, Any]] = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < count else None
        last = distinct[(i + 1) * n // count - 1]
        bucket_rows.append(
            {"start": start.hex(), "end": None if end is None else end.hex(), "last": last.hex()}
        )
    totals_entries = [0] * count
    totals_tombs = [0] * count
    layer_rows: list[dict[str, Any]] = []
    for name, keys, ranges in layers:
        entries = [0] * count
        tombs = [0] * count
        for key, dead in keys:
            b = bisect_right(starts, key) - 1
            entries[b] += 1
            if dead:
                tombs[b] += 1
        for b in range(count):
            totals_entries[b] += entries[b]
            totals_tombs[b] += tombs[b]
        layer_rows.append(
            {
                "layer": name,
                "entries": len(keys),
                "tombstones": sum(tombs),
                "range_tombstones": ranges,
                "cells": [[entries[b], tombs[b]] for b in range(count)],
            }
        )
    for b, row in enumerate(bucket_rows):
        row["entries"] = totals_entries[b]
        row["tombstones"] = totals_tombs[b]
    warnings: list[dict[str, Any]] = []
    b = 0
    while b < count:
        if not _dense(totals_entries[b], totals_tombs[b]):
            b += 1
            continue
        first = b
        while b < count and _dense(totals_entries[b], totals_tombs[b]):
            b += 1
        run_tombstones = sum(totals_tombs[first:b])
        if run_tombstones > threshold:
            warnings.append(
                {
                    "start": bucket_rows[first]["start"],
                    "last": bucket_rows[b - 1]["last"],
                    "end": bucket_rows[b - 1]["end"],
                    "tombstones": run_tombstones,
                    "entries": sum(totals_entries[first:b]),
                    "remedy": REMEDY,
                }
            )
    return {
        "threshold": threshold,
        "buckets": bucket_rows,
        "layers": layer_rows,
        "tombstones": sum(totals_tombs),
        "entries": sum(totals_entries),
        "warnings": warnings,
    }


def _dense(entries: int, tombstones: int) -> bool:
    return tombstones > 0 and 2 * tombstones >= entries
