"""Every tunable of a store, in one dataclass, each default explained.

`lsmkv.open(path, **options)` builds an `Options` from its keyword arguments; an unknown
name is a `TypeError` naming it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .storage.fs import FileSystem

KiB = 1024
MiB = 1024 * KiB

WAL_RECOVERY_MODES = (
    "strict",  # default: drop a torn never-synced tail; damage to synced data is an error
    "absolute_consistency",  # any damaged record, even a torn tail, is an error
    "point_in_time",  # stop replay at the first damaged record, keep what came before
    "skip_any_corrupted",  # skip damaged records and keep replaying (salvage; may lose data)
)
COMPRESSIONS = ("none", "zlib")


@dataclass
class Options:
    # --- Opening ---
    create_if_missing: bool = True
    error_if_exists: bool = False
    read_only: bool = False  # no lock, no writes, nothing on disk changes
    fs: FileSystem | None = None  # None: the real OS file system

    # --- Write path ---
    sync: bool = True  # default for put/delete/write: fsync the WAL before returning
    # RocksDB's default write buffer size. It counts real memory (key, value and the
    # ~300 bytes of Python objects per entry), so 64 MiB holds about 160,000 entries of
    # 16-byte keys and 100-byte values; recovery replays at most about that much WAL.
    memtable_bytes: int = 64 * MiB
    # Memtables waiting for flush before writers wait (one being flushed, one filling).
    max_immutable_memtables: int = 2
    wal_recovery_mode: str = "strict"

    # --- SSTables ---
    block_size_bytes: int = 4 * KiB  # data block target size, as LevelDB and RocksDB
    bloom_bits_per_key: int = 10  # ~1% false positives; 0 disables the filter
    compression: str = "none"  # "none" or "zlib" (per block, kept only when it saves 12.5%)
    block_cache_bytes: int = 32 * MiB  # decoded data blocks kept in memory, shared by tables
    target_file_bytes: int = 2 * MiB  # compaction output files are cut near this size

    # --- Compaction (leveled, as LevelDB/RocksDB) ---
    background_compaction: bool = True
    # Threads that run compactions (RocksDB's max_background_compactions); flushes have
    # a thread of their own besides, so a flush never waits behind a compaction. In
    # CPython the GIL runs one thread's Python at a time: more threads overlap I/O
    # (reads, writes, fsyncs), not the merging itself. What they buy is that a long
    # deep-level compaction no longer holds up an urgent L0 -> L1 (docs/compaction.md).
    max_background_compactions: int = 1
    # Run flushes and compactions in worker processes (one per background thread), so
    # their Python runs on another core instead of taking turns with the caller's under
    # the GIL (engine/jobworker.py). Only for stores on the real file system; the
    # decisions and the manifest stay in this process, so crash safety is unchanged.
    background_processes: bool = True
    num_levels: int = 7
    level0_compaction_trigger: int = 4  # L0 files that start a compaction
    level0_slowdown_trigger: int = 8  # L0 files that delay each write by 1 ms
    level0_stop_trigger: int = 12  # L0 files that stop writes until compaction catches up
    level1_bytes: int = 64 * MiB  # RocksDB's max_bytes_for_level_base
    level_size_multiplier: int = 10
    # Estimated bytes compaction still owes (picker.pending_compaction_bytes) at which
    # writes are delayed, and at which memtable switches stop until compaction catches
    # up. RocksDB uses 64 GiB / 256 GiB for C++ compaction speed; ours compacts tens of
    # MB/s, so the limits are scaled to a few tens of seconds of work. 0 disables.
    soft_pending_compaction_bytes: int = 512 * MiB
    hard_pending_compaction_bytes: int = 2048 * MiB

    # --- Tombstones (deletion-triggered compaction, docs/compaction.md) ---
    # A table with at least `deletion_trigger` point tombstones in some run of
    # `deletion_window_entries` consecutive entries is scheduled for compaction (the
    # idea of RocksDB's CompactOnDeletionCollector). 0 disables the trigger.
    deletion_window_entries: int = 1000
    deletion_trigger: int = 500
    # A scan that steps over more tombstones than this reports its key range as a
    # compaction hint (Cassandra warns at 1,000 tombstones per read). 0 disables.
    scan_tombstone_hint: int = 1000

    # --- Observability ---
    trace: Callable[[dict[str, Any]], None] | None = None  # receives every engine event
    listeners: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)

    def validate(self) -> None:
        """Raise `ValueError` naming the first option whose value is out of range."""
        positive = (
            "memtable_bytes",
            "block_size_bytes",
            "block_cache_bytes",
            "target_file_bytes",
            "level1_bytes",
            "max_immutable_memtables",
            "level0_compaction_trigger",
            "deletion_window_entries",
            "max_background_compactions",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"option {name} must be a positive int, got {value!r}")
        if self.bloom_bits_per_key < 0:
            raise ValueError("option bloom_bits_per_key must be >= 0")
        if self.num_levels < 2:
            raise ValueError("option num_levels must be >= 2")
        if self.level_size_multiplier < 2:
            raise ValueError("option level_size_multiplier must be >= 2")
        if not (
            self.level0_compaction_trigger
            <= self.level0_slowdown_trigger
            <= self.level0_stop_trigger
        ):
            raise ValueError(
                "options must satisfy level0_compaction_trigger <= "
                "level0_slowdown_trigger <= level0_stop_trigger"
            )
        for name in (
            "soft_pending_compaction_bytes",
            "hard_pending_compaction_bytes",
            "deletion_trigger",
            "scan_tombstone_hint",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"option {name} must be an int >= 0, got {value!r}")
        if self.deletion_trigger and self.deletion_window_entries < self.deletion_trigger:
            raise ValueError("option deletion_window_entries must be >= deletion_trigger")
        if self.wal_recovery_mode not in WAL_RECOVERY_MODES:
            raise ValueError(
                f"option wal_recovery_mode must be one of {WAL_RECOVERY_MODES}, "
                f"got {self.wal_recovery_mode!r}"
            )
        if self.compression not in COMPRESSIONS:
            raise ValueError(
                f"option compression must be one of {COMPRESSIONS}, got {self.compression!r}"
            )

    def level_target_bytes(self, level: int) -> int:
        """The size a level may reach before it is compacted (level >= 1)."""
        return int(self.level1_bytes * self.level_size_multiplier ** (level - 1))


OPTION_NAMES = frozenset(f.name for f in dataclasses.fields(Options))


def make_options(kwargs: dict[str, Any]) -> Options:
    """Options from `open()`'s keyword arguments; unknown names raise `TypeError`."""
    for name in kwargs:
        if name not in OPTION_NAMES:
            raise TypeError(f"lsmkv.open() got an unknown option {name!r}")
    options = Options(**kwargs)
    options.validate()
    return options
