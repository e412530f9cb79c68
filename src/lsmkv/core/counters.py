"""The one set of cumulative counters behind `DB.stats()`.

Counters are plain integer attributes bumped inline on the hot paths (`c.gets += 1`),
because an attribute increment is the cheapest thing Python can do. Under heavy
multi-threaded use an increment can rarely be lost (the GIL may switch threads between
the read and the write of `+=`); the figures are statistics, not accounting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Counters:
    # Reads
    gets: int = 0
    gets_found: int = 0
    memtable_hits: int = 0
    tables_probed: int = 0  # SSTables whose data blocks a get searched
    bloom_skips: int = 0  # SSTables a bloom filter proved could not hold the key
    bloom_false_positives: int = 0  # the filter said "maybe", the table had no record
    # SSTables with a filter searched without asking it: the block that would hold the
    # key was cached, and searching it answers exactly for less than a probe costs.
    bloom_bypassed: int = 0
    key_range_skips: int = 0  # SSTables skipped because the key was outside their range
    block_reads: int = 0  # data blocks read from disk (and decoded)
    block_cache_hits: int = 0
    iterators: int = 0
    iterator_entries: int = 0  # user-visible entries returned by iterators
    tombstones_skipped: int = 0  # point tombstones stepped over by iterators
    range_deleted_skipped: int = 0  # entries hidden by range tombstones during iteration
    shadowed_skipped: int = 0  # older versions stepped over by iterators
    # Writes
    writes: int = 0  # write groups' members (put, delete, batch each count one)
    write_ops: int = 0  # operations inside them
    write_groups: int = 0
    wal_bytes_written: int = 0
    wal_syncs: int = 0
    user_bytes_written: int = 0  # key + value bytes handed to the store
    # Background work
    flushes: int = 0
    flush_bytes_written: int = 0
    flush_seconds: float = 0.0
    compactions: int = 0
    compaction_bytes_read: int = 0
    compaction_bytes_written: int = 0
    compaction_seconds: float = 0.0
    trivial_moves: int = 0  # files moved down a level without a rewrite
    compactions_by_reason: dict[str, int] = field(default_factory=dict)
    scan_hints: int = 0  # scans that reported a tombstone-heavy key range
    stall_count: int = 0  # writes delayed or stopped (slowdown + stop)
    stall_seconds: float = 0.0  # time writers spent delayed or stopped
    stall_slowdowns: int = 0  # writes delayed by the 1 ms slowdown
    stall_stops: int = 0  # times writers stopped until compaction or flush caught up
    per_level_bytes_read: list[int] = field(default_factory=lambda: [0] * 7)
    per_level_bytes_written: list[int] = field(default_factory=lambda: [0] * 7)
    per_level_probes: list[int] = field(default_factory=lambda: [0] * 7)

    def snapshot(self) -> dict[str, object]:
        """A JSON-serialisable copy of every counter."""
        return asdict(self)
