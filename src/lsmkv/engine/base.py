"""The state every part of the engine shares, declared once, and the checks they share.

`DB` (db.py) is the public facade; what it does is split by concept into mixin classes
under `engine/` (listed in engine/__init__.py): writes, stalls, get, scan, snapshots,
flush, background, obsolete, recovery, closing, stats. Each mixin derives from
`EngineBase`, so its methods are type-checked against these fields; `DB` inherits them
all. A mixin method costs a call exactly as a DB method did, so the hot paths (put,
get, scan) pay no extra layer for the split.

Why mixins over functions taking the DB: the code moved without a line of its logic
changing (still `self._mutex`, `self._sv`), and tests and tools that read private
attributes (`db._sv`, `db._counters`) keep working.
"""

from __future__ import annotations

import collections
import errno as errno_codes
import os
import threading
import weakref
from typing import TYPE_CHECKING, Any

from ..compaction.job import JobContext
from ..compaction.picker import Compaction
from ..core import filenames
from ..core.counters import Counters
from ..core.trace import make_tracer
from ..errors import ClosedError, DiskError, Error, ReadOnlyError
from ..iterators.user import ScanTally
from ..manifest.edit import FileMeta
from ..manifest.version import Version
from ..manifest.versionset import VersionSet
from ..options import Options
from ..sstable.cache import BlockCache
from ..sstable.writer import TableSettings
from ..storage.fs import FileLock, FileSystem, OSFileSystem
from ..wal.writer import WalWriter
from .commit import Writer
from .jobworker import JobWorker
from .state import SuperVersion
from .tables import TableCache

STALL_NAMES = ("none", "slowdown", "stop")


def file_info(level: int, f: FileMeta) -> dict[str, Any]:
    """A table as events describe it (docs/compaction.md, "Events")."""
    return {
        "level": level,
        "file": filenames.table_name(f.number),
        "size": f.size,
        "entries": f.entries,
        "tombstones": f.point_deletes,
        "range_tombstones": f.range_deletes,
        "smallest": f.smallest.hex(),
        "largest": f.largest.hex(),
    }


def disk_error(e: OSError, what: str) -> DiskError:
    """An OSError as the DiskError users see: what failed, the message, the errno name."""
    code = e.errno
    name = errno_codes.errorcode.get(code, str(code)) if code is not None else "?"
    return DiskError(f"{what}: {e.strerror or e} ({name})", code)


class EngineBase:
    """The fields of an open store (set once here) and the checks every part runs."""

    def __init__(self, path: str | os.PathLike[str], options: Options) -> None:
        self.path = os.fspath(path)
        self.options = options
        base_fs = options.fs if options.fs is not None else OSFileSystem()
        # A session dies with a simulated power loss (FaultFS); the real fs is itself.
        self._fs: FileSystem = base_fs.session(self._lost_power)
        self._counters = Counters(
            per_level_bytes_read=[0] * options.num_levels,
            per_level_bytes_written=[0] * options.num_levels,
            per_level_probes=[0] * options.num_levels,
        )
        self._trace = make_tracer([options.trace, *options.listeners])
        self._mutex = threading.Lock()
        self._write_cv = threading.Condition(self._mutex)
        self._bg_cv = threading.Condition(self._mutex)
        self._queue: collections.deque[Writer] = collections.deque()
        self._waiting = 0  # writers blocked in the queue (skip notify when none)
        # Copies of two options read on every write (an attribute read beats two).
        self._memtable_limit = options.memtable_bytes
        self._l0_slowdown = (
            options.level0_slowdown_trigger if options.background_compaction else 1 << 30
        )
        self._block_cache = BlockCache(options.block_cache_bytes)
        self._tables = TableCache(self._fs, self.path, self._block_cache, self._counters)
        self._versions = VersionSet(self._fs, self.path, options.num_levels)
        self._settings = TableSettings(
            block_size_bytes=options.block_size_bytes,
            bloom_bits_per_key=options.bloom_bits_per_key,
            compression=options.compression,
            deletion_window=options.deletion_window_entries,
        )
        self._snapshots: collections.Counter[int] = collections.Counter()
        self._live_versions: weakref.WeakSet[Version] = weakref.WeakSet()
        self._pending_outputs: set[int] = set()
        self._wal: WalWriter | None = None
        self._lock: FileLock | None = None
        self._last_seq = 0  # last sequence number assigned
        self._visible_seq = 0  # last sequence number readers may see
        self._write_error: Error | None = None  # a failed WAL write/fsync: no more writes
        self._bg_error: Error | None = None  # a failed flush/compaction
        self._closed = False
        self._shutting_down = False
        # Background threads (engine/background.py): the flush running, and the
        # compactions running by job number (their files are `being compacted`).
        self._flushing = False
        self._running: dict[int, Compaction] = {}
        self._manual: collections.deque[dict[str, Any]] = collections.deque()
        # Compaction state (docs/compaction.md): background job ids, write pressure,
        # DTC's memory of bottom rewrites, and the pending scan hint.
        self._jobs = 0
        self._pending_bytes = 0
        self._stall_condition = 0  # index into STALL_NAMES
        self._stall_since = 0.0
        self._dtc_exhausted: dict[int, int] = {}
        self._hint: tuple[bytes, bytes] | None = None
        self._hint_running = False
        self._hint_version: Version | None = None
        self._deletion_turn = False  # deletion work goes next (see _next_compaction)
        self._bg_threads: list[threading.Thread] = []
        self._job_workers: list[JobWorker] = []  # worker processes' handles (jobworker.py)
        self._read_only = options.read_only
        self._sv: SuperVersion

    def _job_context(self) -> JobContext:
        return JobContext(
            fs=self._fs,
            dirname=self.path,
            settings=self._settings,
            open_table=self._tables.get,
            new_file_number=self._versions.new_file_number,
            pending_outputs=self._pending_outputs,
            counters=self._counters,
            trace=self._trace,
        )

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError(f"{self.path}: the store is closed")

    def _check_writable(self) -> None:
        if self._closed:
            raise ClosedError(f"{self.path}: the store is closed")
        if self._read_only:
            raise ReadOnlyError(f"{self.path}: the store was opened read-only")
        if self._write_error is not None:
            raise DiskError(
                f"{self.path}: writes are refused after an earlier WAL failure "
                f"({self._write_error}); reopen the store",
                getattr(self._write_error, "errno", None),
            )
        if self._bg_error is not None:
            raise DiskError(
                f"{self.path}: writes are refused after a background error "
                f"({self._bg_error}); reopen the store",
                getattr(self._bg_error, "errno", None),
            )

    if TYPE_CHECKING:
        # Methods one concept's mixin calls on another's. Declared for the type checker
        # only: at run time `DB` inherits the real ones, and nothing here can shadow them.
        def _lost_power(self) -> None: ...
        def _release_resources(self) -> None: ...
        def _start_background(self) -> None: ...
        def _delete_obsolete_files(self) -> None: ...
        def _commit(self, w: Writer) -> None: ...
        def _make_room(self, force_switch: bool) -> None: ...
        def _switch_memtable(self) -> None: ...
        def _flush_now(self) -> None: ...
        def _flush_oldest(self, worker: JobWorker | None = None) -> None: ...
        def _install(self, sv: SuperVersion) -> None: ...
        def _relax_stall(self, sv: SuperVersion) -> None: ...
        def _note_version(self, version: Version) -> None: ...
        def _snapshot_list(self) -> list[int]: ...
        def _scan_hint(self, tally: ScanTally) -> None: ...
