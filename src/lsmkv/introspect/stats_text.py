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
    "which is compacted by file count; the last level's is shown but never acted on)",
    "levels[].bytes_read": "bytes compactions read from this level",
    "levels[].bytes_written": "bytes flushes and compactions wrote into this level",
    "levels[].score": "compaction score: L0 files / level0_compaction_trigger, else bytes / "
    "target_bytes; 1.0 or more means the level is due (the last level scores 0)",
    "levels[].probes_per_get": "SSTables of this level searched per get (its share of read "
    "amplification)",
    "levels[].sorted_runs": "sorted runs a get may have to consult here: each L0 file is "
    "one, a deeper non-empty level is one",
    "memtable": "the active memtable, receiving writes",
    "memtable.entries": "entries in the active memtable (puts, deletes, range deletes)",
    "memtable.bytes": "memory charged to the active memtable (keys, values, overhead)",
    "memtable.range_tombstones": "range tombstones in the active memtable",
    "immutable_memtables": "full memtables waiting to be flushed to level 0",
    "memtable_entries": "entries in all memtables, active and immutable",
    "memtable_bytes": "memory charged to all memtables, active and immutable",
    "wal_bytes": "bytes appended to the current write-ahead log file (0 on a read-only "
    "open, which replays the WALs into one immutable memtable and appends nothing)",
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
    "counters.bloom_bypassed": "SSTables with a bloom filter searched without asking it: "
    "the table was hot (at least half its blocks cached) and the data block that would "
    "hold the key was cached (the search answers exactly, for less than a probe costs)",
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
    "counters.flush_seconds": "wall time spent flushing, in seconds",
    "counters.trivial_moves": "files moved down a level without being rewritten",
    "counters.compactions_by_reason": "compactions run, per reason (level0_files, level_size, "
    "deletion_density, scan_hint, manual, manual_bottom; docs/compaction.md)",
    "counters.scan_hints": "scans that stepped over more than scan_tombstone_hint tombstones "
    "and reported their key range to compaction",
    "counters.stall_slowdowns": "writes delayed by the 1 ms slowdown",
    "counters.stall_stops": "times writers stopped until flush or compaction caught up",
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
    "compaction": "compaction accounting (docs/compaction.md)",
    "compaction.count": "compactions run (same as counters.compactions)",
    "compaction.by_reason": "compactions run, per reason",
    "compaction.trivial_moves": "files moved down a level without being rewritten",
    "compaction.seconds": "wall time spent compacting, in seconds",
    "compaction.flush_seconds": "wall time spent flushing, in seconds",
    "compaction.bytes_read": "SSTable bytes read by compactions",
    "compaction.bytes_written": "SSTable bytes written by compactions",
    "compaction.flush_bytes_written": "SSTable bytes written by flushes",
    "compaction.table_write_amplification": "SSTable bytes written (flush + compaction) per "
    "byte of keys and values written by the user (the WAL left out)",
    "compaction.compaction_write_amplification": "SSTable bytes written (flush + "
    "compaction) per byte flushed: compaction's own multiplier",
    "compaction.sst_bytes": "bytes of all live SSTables",
    "compaction.live_bytes_estimate": "estimated bytes the live data would take after a "
    "full compaction (the deepest table of each key range)",
    "compaction.space_amplification": "sst_bytes / live_bytes_estimate: disk used per byte "
    "of live data",
    "compaction.pending_bytes": "bytes compaction must still read before every level is "
    "within its target",
    "compaction.scan_hints": "scans that reported a tombstone-heavy key range to compaction",
    "compaction.dtc_exhausted_files": "tombstone-dense bottom files deletion-triggered "
    "compaction already rewrote and leaves alone until a snapshot is released",
    "compaction.threads": "the compaction threads the store runs "
    "(`max_background_compactions`); flushes run on one more thread of their own",
    "compaction.flush_running": "whether the flush thread is writing a table now",
    "compaction.running": "the compactions running now, one dict each: `job`, `reason`, "
    "`level`, `output_level`, `input_files`, `input_bytes`, `trivial_move`",
    "compaction.worker_processes": "worker processes started so far to run flushes and "
    'compactions (`background_processes`, docs/compaction.md "Worker processes"): one per '
    "background thread, and one more each time a worker was replaced (a job given up "
    "half-way); 0 when jobs run in this process (other file systems, a frozen program, or "
    "workers that could not start: docs/compaction.md)",
    "compaction.worker_pids": "process ids of the worker processes running now (their "
    "memory is not part of this process's)",
    "stalls": "write stalls: writes slowed or stopped so background work can catch up",
    "stalls.count": "writes that were delayed or stopped (same as counters.stall_count)",
    "stalls.slowdowns": "writes delayed by the 1 ms slowdown",
    "stalls.stops": "times writers stopped until flush or compaction caught up",
    "stalls.seconds": "time writes spent delayed or stopped, in seconds",
    "stalls.condition": "the write condition now: none, slowdown or stop",
    "stalls.pending_compaction_bytes": "compaction debt now (same as "
    "compaction.pending_bytes); large values slow and then stop writes",
    "background_error": "message of a failed background flush or compaction, or None",
    "write_error": "message of a failed WAL write or fsync, or None (writes refused)",
}

# Figures the command line derives from stats() (not keys of the dict).
DERIVED: dict[str, str] = {
    "tombstone_density": "point tombstones per entry in a level or key range "
    "(`stats --tombstones` draws it by key range)",
}


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
