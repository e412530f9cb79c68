"""A one-line definition of every figure of `DB.stats()`, and the derived figures the
command line adds. `lsmkv stats --explain` prints these; docs/stats.md holds the same
lines (a test checks they agree, and that every key `stats()` returns has one).

Keys are paths into the stats dict: `levels[].files` is the `files` field of each
entry of `levels`; `counters.gets` the `gets` field of `counters`.
"""

from __future__ import annotations

from typing import Any

DEFINITIONS: dict[str, str] = {
    # Shape of the tree
    "levels": "one entry per level, 0 (newest, files may overlap) to num_levels - 1",
    "levels[].level": "the level number",
    "levels[].files": "live SSTables in the level",
    "levels[].bytes": "size on disk of the level's SSTables, in bytes",
    "levels[].entries": "point entries (puts and point tombstones) in the level's tables",
    "levels[].tombstones": "point tombstones (deletes) in the level, not yet dropped",
    "levels[].range_tombstones": "range tombstone fragments stored in the level's tables",
    "levels[].smallest_key": "smallest key in the level (hex; empty when the level is empty)",
    "levels[].largest_key": "largest key in the level (hex; empty when the level is empty)",
    "levels[].target_bytes": "size at which the level is compacted down (None for L0, "
    "which is compacted by file count)",
    "memtable": "the active memtable, receiving writes",
    "memtable.entries": "entries in the active memtable (puts, deletes, range deletes)",
    "memtable.bytes": "memory charged to the active memtable (keys, values, overhead)",
    "memtable.range_tombstones": "range tombstones in the active memtable",
    "immutable_memtables": "full memtables waiting to be flushed to level 0",
    "memtable_entries": "entries in all memtables, active and immutable",
    "memtable_bytes": "memory charged to all memtables, active and immutable",
    "wal_bytes": "bytes appended to the current write-ahead log file",
    "last_sequence": "sequence number of the newest write readers can see",
    "snapshots": "open snapshots (each pins the versions it can see)",
    # Cumulative counters since the store was opened
    "counters": "every cumulative counter since the store was opened",
    "counters.gets": "point lookups (get, multi_get, `in`, snapshot gets)",
    "counters.gets_found": "point lookups that found a value",
    "counters.memtable_hits": "point lookups answered by a memtable",
    "counters.tables_probed": "SSTables whose data blocks a lookup searched",
    "counters.bloom_skips": "SSTables skipped because their bloom filter ruled the key out",
    "counters.bloom_false_positives": "SSTables the bloom filter let through that held no "
    "record of the key",
    "counters.key_range_skips": "SSTables skipped because the key was outside their range",
    "counters.block_reads": "data blocks read from disk and checksum-verified",
    "counters.block_cache_hits": "data blocks found already decoded in the block cache",
    "counters.iterators": "scans started (scan, keys, values, snapshot scans)",
    "counters.iterator_entries": "key-value pairs returned by scans",
    "counters.tombstones_skipped": "point tombstones scans stepped over",
    "counters.range_deleted_skipped": "entries scans stepped over because a range "
    "tombstone hid them",
    "counters.shadowed_skipped": "older versions scans stepped over",
    "counters.writes": "write calls committed (put, delete, delete_range, batch: one each)",
    "counters.write_ops": "operations inside those writes",
    "counters.write_groups": "group commits (one WAL write each, shared by waiting writers)",
    "counters.wal_bytes_written": "bytes appended to write-ahead logs",
    "counters.wal_syncs": "fsyncs of write-ahead logs",
    "counters.user_bytes_written": "key and value bytes handed to the store by writes",
    "counters.flushes": "memtables flushed to level-0 SSTables",
    "counters.flush_bytes_written": "SSTable bytes written by flushes",
    "counters.compactions": "compactions run (automatic and manual)",
    "counters.compaction_bytes_read": "SSTable bytes read by compactions",
    "counters.compaction_bytes_written": "SSTable bytes written by compactions",
    "counters.compaction_seconds": "wall time spent compacting, in seconds",
    "counters.stall_count": "writes that were delayed or stopped to let background work catch up",
    "counters.stall_seconds": "time writes spent delayed or stopped, in seconds",
    "counters.per_level_bytes_read": "compaction bytes read from each level",
    "counters.per_level_bytes_written": "flush and compaction bytes written into each level",
    "counters.per_level_probes": "SSTables searched by lookups, per level",
    # Headline figures
    "gets": "point lookups (same as counters.gets)",
    "sstables_probed": "SSTables searched by lookups (same as counters.tables_probed)",
    "bloom_skips": "SSTables skipped by bloom filters (same as counters.bloom_skips)",
    "bloom_false_positives": "bloom filter false positives (counters.bloom_false_positives)",
    "tombstones_skipped": "point tombstones scans stepped over (counters.tombstones_skipped)",
    "flush_bytes_written": "SSTable bytes written by flushes",
    "compaction_bytes_written": "SSTable bytes written by compactions",
    "read_amplification": "SSTables searched per point lookup (sstables_probed / gets)",
    "write_amplification": "bytes written to disk (WAL + flush + compaction) per byte of "
    "keys and values written by the user",
    "background_error": "message of a failed background flush or compaction, or None",
    "write_error": "message of a failed WAL write or fsync, or None (writes refused)",
}

# Figures the command line derives from stats() (not keys of the dict).
DERIVED: dict[str, str] = {
    "space_amplification": "bytes of all SSTables per byte of the deepest non-empty "
    "level (RocksDB's estimate: 1.0 when all data sits in one level)",
    "tombstone_density": "point tombstones per entry in a level or key range "
    "(`stats --tombstones` draws it by key range)",
}


def space_amplification(stats: dict[str, Any]) -> float:
    """Bytes of all levels per byte of the deepest non-empty level (0.0 if empty)."""
    sizes = [int(level["bytes"]) for level in stats["levels"]]
    deepest = next((b for b in reversed(sizes) if b), 0)
    return sum(sizes) / deepest if deepest else 0.0


def stat_paths(stats: dict[str, Any]) -> list[str]:
    """Every key path of a stats dict, in the notation of DEFINITIONS."""
    paths: list[str] = []
    for key, value in stats.items():
        paths.append(key)
        if isinstance(value, dict):
            paths.extend(f"{key}.{sub}" for sub in value)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            paths.extend(f"{key}[].{sub}" for sub in value[0])
    return paths


def definitions_markdown() -> str:
    """The definitions as the Markdown list that docs/stats.md carries."""
    lines = [f"- `{path}`: {text}." for path, text in DEFINITIONS.items()]
    lines.append("")
    lines.append("Derived by `lsmkv stats` from the figures above:")
    lines.append("")
    lines.extend(f"- `{path}`: {text}." for path, text in DERIVED.items())
    return "\n".join(lines) + "\n"
