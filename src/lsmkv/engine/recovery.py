"""Opening a store: create it or recover it, then start the background threads.

Recovery loads the manifest, checks that every file it names is there, replays the
WALs newer than the last flush (only the newest may have a torn tail), writes what
they held to level 0 and starts a new WAL. The checks say why a store is refused
(missing tables, a missing current WAL, a directory that is not a store) instead of
failing later at the first read.
"""

from __future__ import annotations

import os

from ..compaction.job import memtable_runs, write_tables
from ..compaction.retention import RetentionTally
from ..core import filenames
from ..errors import CorruptionError, Error, NotFoundError
from ..manifest.edit import FileMeta, VersionEdit
from ..memtable import Memtable
from ..wal.replay import check_sealed_wals, iter_ops, read_wal
from ..wal.writer import WalWriter
from .base import EngineBase, disk_error
from .state import make_super_version


class RecoveryMixin(EngineBase):
    """`DB._open` and `DB._recover`."""

    def _open(self) -> None:
        fs, path, opts = self._fs, self.path, self.options
        try:
            if fs.exists(path) and not fs.is_dir(path):
                raise Error(f"{path}: exists and is not a directory, so it cannot be a store")
            if not fs.exists(path):
                if not opts.create_if_missing or opts.read_only:
                    raise NotFoundError(f"{path}: no store here (create_if_missing=False)")
                fs.mkdir(path)
            if not opts.read_only:
                self._lock = fs.lock(os.path.join(path, filenames.LOCK))
            try:
                self._recover()
            except BaseException:
                self._release_resources()
                raise
        except OSError as e:
            raise disk_error(e, f"opening {path}") from e
        if not self._read_only:
            self._start_background()

    def _recover(self) -> None:
        """Load the manifest, replay WALs newer than the last flush, flush what they held,
        start a new WAL. On return the store holds exactly the acknowledged state."""
        fs, path, opts = self._fs, self.path, self.options
        names = fs.listdir(path)
        parsed = {name: filenames.parse(name) for name in names}
        store_files = [p for p in parsed.values() if p is not None]
        versions = self._versions
        if filenames.CURRENT in names:
            if opts.error_if_exists:
                raise Error(f"{path}: a store already exists here (error_if_exists=True)")
            versions.recover()
            present = set(names)
            missing = [
                filenames.table_name(f.number)
                for _, f in versions.current.files()
                if filenames.table_name(f.number) not in present
            ]
            if missing:
                # Fail now, naming the file, rather than at the first read that needs it.
                raise CorruptionError(
                    f"the manifest names {len(missing)} missing table(s): {', '.join(missing)}",
                    os.path.join(path, missing[0]),
                )
        else:
            # A creation cut short (crash or error before CURRENT was renamed into place)
            # leaves a manifest and CURRENT.tmp: no write was ever acknowledged, so start
            # afresh. Tables or WALs without CURRENT are a damaged store, not a new one.
            leftovers = (filenames.LOCK, filenames.CURRENT + filenames.TEMP_SUFFIX)
            not_manifests = [n for n, p in parsed.items() if p is not None and p[0] != "manifest"]
            if not_manifests:
                raise CorruptionError(
                    f"CURRENT is missing but the directory holds store files "
                    f"(e.g. {not_manifests[0]!r}); lsmkv.repair() can salvage them",
                    os.path.join(path, filenames.CURRENT),
                )
            strangers = [n for n, p in parsed.items() if p is None and n not in leftovers]
            if strangers:
                raise Error(
                    f"{path}: not an lsmkv store (no CURRENT file, but it holds "
                    f"{len(strangers)} other entries, e.g. {strangers[0]!r})"
                )
            if opts.read_only or not opts.create_if_missing:
                # An existing but empty directory holds no store either.
                raise NotFoundError(f"{path}: no store here (create_if_missing=False)")
            # The store directory's own entry must be durable too, or a power loss could
            # take the whole store away with every synced write in it. Done on every
            # creation, not only after mkdir: an earlier attempt may have made the
            # directory and failed before this fsync.
            fs.sync_dir(os.path.dirname(os.path.abspath(path)))
            versions.install_new_manifest()
        for _kind, number in store_files:
            versions.mark_file_number_used(number)
        # Replay every WAL the manifest does not mark as flushed, oldest first.
        logs = sorted(
            num for kind, num in store_files if kind == "log" and num >= versions.log_number
        )
        recovered = Memtable(0)
        # A read-only open keeps what it replays in memory: it may not write tables.
        limit = float("inf") if self._read_only else self._memtable_limit
        last_seq = versions.last_seq
        check_sealed_wals(versions.sealed_wals, logs, path, fs, opts.wal_recovery_mode)
        if versions.log_number and versions.log_number not in logs:
            # The WAL the manifest names as current is always created before the
            # manifest names it and deleted only after a later edit moves past it.
            raise CorruptionError(
                "the manifest's current WAL is missing: the WAL was deleted, or the "
                "manifest lost its later edits",
                os.path.join(path, filenames.wal_name(versions.log_number)),
            )
        edit = VersionEdit()
        for i, number in enumerate(logs):
            wal_path = os.path.join(path, filenames.wal_name(number))
            # Every WAL but the newest was fsync'd in full when the next one started,
            # so only the newest may have a torn tail; none has after a clean close.
            contents = read_wal(
                fs,
                wal_path,
                fully_synced=i < len(logs) - 1 or number in versions.sealed_wals,
                mode=opts.wal_recovery_mode,
                decode=False,
            )
            add = recovered.add
            for seq, kind, key, value in iter_ops(contents):
                add(seq, kind, key, value)
                last_seq = max(last_seq, seq)
                if recovered.approx_bytes >= limit:
                    # Several WALs (immutable memtables not yet flushed at a crash or
                    # close), or one WAL written with a larger memtable_bytes, must not
                    # become one memtable several times the configured size: write each
                    # memtable's worth to level 0 as it fills, as RocksDB's recovery
                    # does, so recovery holds at most about one memtable in memory.
                    # Newer writes go to newer (higher-numbered) L0 tables, so age
                    # order holds; the one edit below names them all.
                    edit.added += self._write_recovered(recovered)
                    recovered = Memtable(0)
                    add = recovered.add
            if self._trace is not None:
                self._trace(
                    "recovery.wal_replayed",
                    file=filenames.wal_name(number),
                    batches=contents.batch_count,
                    dropped_tail_bytes=contents.result.dropped_tail_bytes,
                )
            stopped_early = contents.result.stopped_early
            del contents  # the WAL's bytes: not held while the next one is read
            if stopped_early:
                break  # point_in_time: nothing after the first damage is replayed
        self._last_seq = self._visible_seq = last_seq
        if self._read_only:
            imms = (recovered,) if recovered.entry_count else ()
            self._sv = make_super_version(Memtable(0), imms, versions.current)
            return
        edit.last_seq = last_seq
        if recovered.entry_count:
            edit.added += self._write_recovered(recovered)
        # The new WAL exists, durably, before the manifest names it: so the WAL numbered
        # `log_number` is always on disk, which is what lets the check below tell a
        # manifest that lost edits (or a deleted WAL) from a crash. A crash before the
        # edit leaves an empty WAL to replay, which is harmless.
        wal_number = versions.new_file_number()
        self._wal = WalWriter(fs, os.path.join(path, filenames.wal_name(wal_number)), wal_number)
        fs.sync_dir(path)
        edit.log_number = wal_number
        versions.log_and_apply(edit)
        self._pending_outputs.clear()
        self._sv = make_super_version(Memtable(wal_number), (), versions.current)
        self._live_versions.add(versions.current)
        self._delete_obsolete_files()

    def _write_recovered(self, recovered: Memtable) -> list[tuple[int, FileMeta]]:
        """Write a memtable rebuilt from WALs to level-0 tables (not yet in the manifest:
        the caller's one edit names them all, with the new log number)."""
        outputs, _ = write_tables(
            memtable_runs(recovered, [], RetentionTally()),
            list(recovered.fragments.tombstones()),
            self._job_context(),
            None,
            "recovery",
        )
        return [(0, f) for f in outputs]
