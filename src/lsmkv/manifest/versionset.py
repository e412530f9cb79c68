"""The VersionSet: the current Version, the counters that must survive a crash, and the
manifest that records every change to them.

Durability protocol (docs/format/manifest.md). A change is applied in this order:
  1. the new SSTable is fsync'd, and its directory fsync'd, by the caller;
  2. the edit is appended to the manifest and the manifest fsync'd;
  3. only then does the new Version become current, and only after that may files it
     no longer names be deleted.
A new manifest is installed by writing it in full, fsync, fsync of the directory, then
CURRENT is replaced by write-temp, fsync, rename, fsync of the directory: at every
instant CURRENT names a complete, durable manifest.
"""

from __future__ import annotations

import os
import threading

from ..core import filenames
from ..errors import CorruptionError, DiskError
from ..record import RecordWriter, read_records
from ..storage.fs import FileSystem
from .edit import VersionEdit
from .version import Version

# Start a fresh manifest once the current one passes this size, so recovery reads little.
MANIFEST_ROLL_BYTES = 4 * 1024 * 1024


class VersionSet:
    """Owns the manifest. `log_and_apply` is serialised here: the flush thread and every
    compaction thread finish their jobs on their own, and their edits are applied one at
    a time, each against the Version the previous one left (RocksDB's LogAndApply)."""

    def __init__(self, fs: FileSystem, dirname: str, num_levels: int) -> None:
        self._fs = fs
        self._dir = dirname
        self.current = Version.empty(num_levels)
        self.num_levels = num_levels
        self.next_file_number = 1
        self.log_number = 0  # WALs below this number are flushed and may be deleted
        self.last_seq = 0  # the last sequence number made durable in an SSTable
        self.compact_pointers: dict[int, bytes] = {}
        self.sealed_wals: dict[int, int] = {}  # WAL number -> size at a clean close
        self.manifest_number = 0
        self._manifest: RecordWriter | None = None
        # Writers allocate WAL numbers while the background threads allocate table
        # numbers and absorbs edits: one lock keeps a number from ever being handed out
        # twice (a reused WAL number would truncate a live log).
        self._number_lock = threading.Lock()
        # Held while an edit is written and applied. The obsolete-file sweep holds it too,
        # so that no new manifest appears between its directory listing and its decision.
        self.lock = threading.Lock()
        # The first failed manifest write: after it the manifest's tail is unknown (a
        # record may be half written, CURRENT may name either file), so no further edit
        # may be appended; the engine stops background work and the store is reopened.
        self._failed: BaseException | None = None

    @property
    def failed(self) -> bool:
        """Did a manifest write fail? Then the manifest on disk may name files that
        `current` does not (an edit written but not synced), so nothing may be deleted."""
        return self._failed is not None

    def _path(self, name: str) -> str:
        return os.path.join(self._dir, name)

    def new_file_number(self) -> int:
        """A file number never used before in this store. Thread-safe."""
        with self._number_lock:
            number = self.next_file_number
            self.next_file_number += 1
            return number

    def mark_file_number_used(self, number: int) -> None:
        """Make sure `number` is never handed out again (recovery calls this for every
        file it finds: WALs are numbered without a manifest edit, so after a crash the
        manifest's counter can lag behind the newest WALs)."""
        with self._number_lock:
            self.next_file_number = max(self.next_file_number, number + 1)

    # --------------------------------------------------------------- recovery
    def recover(self) -> None:
        """Load the state named by CURRENT. Raises CorruptionError on damage."""
        current_path = self._path(filenames.CURRENT)
        raw = self._fs.read_file(current_path)
        try:
            name = raw.decode("ascii")
        except UnicodeDecodeError:
            raise CorruptionError("CURRENT is not ASCII text", current_path, 0) from None
        parsed = filenames.parse(name.rstrip("\n"))
        if not name.endswith("\n") or parsed is None or parsed[0] != "manifest":
            raise CorruptionError(f"CURRENT does not name a manifest: {raw!r}", current_path, 0)
        manifest_path = self._path(name.rstrip("\n"))
        if not self._fs.exists(manifest_path):
            raise CorruptionError(f"CURRENT names {name.strip()}, which is missing", current_path)
        data = self._fs.read_file(manifest_path)
        # Each edit was fsync'd before anything acted on it, so a torn last record is an
        # edit that never took effect: dropping it is exactly right.
        result = read_records(data, manifest_path, fully_synced=False, mode="strict")
        if not result.records:
            raise CorruptionError("manifest holds no intact record", manifest_path, 0)
        version = Version.empty(self.num_levels)
        for offset, payload in result.records:
            try:
                edit = VersionEdit.decode(payload)
            except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
                raise CorruptionError(
                    f"version edit does not parse ({e})", manifest_path, offset
                ) from None
            if offset == 0 and not edit.snapshot:
                raise CorruptionError("manifest does not start with a snapshot", manifest_path, 0)
            version = self._absorb(version, edit)
        self.current = version
        self.manifest_number = parsed[1]
        self.mark_file_number_used(parsed[1])

    def _absorb(self, version: Version, edit: VersionEdit) -> Version:
        if edit.log_number is not None:
            self.log_number = edit.log_number
        if edit.next_file_number is not None:
            self.mark_file_number_used(edit.next_file_number - 1)
        if edit.last_seq is not None:
            self.last_seq = max(self.last_seq, edit.last_seq)
        for level, key in edit.compact_pointers:
            self.compact_pointers[level] = key
        for number, size in edit.sealed_wals:
            self.sealed_wals[number] = size
        if edit.log_number is not None:
            for number in [n for n in self.sealed_wals if n < edit.log_number]:
                del self.sealed_wals[number]  # flushed: its WAL is obsolete
        for _level, meta in edit.added:
            self.mark_file_number_used(meta.number)
        return version.apply(edit)

    # ------------------------------------------------------------------ writes
    def snapshot_edit(self) -> VersionEdit:
        return VersionEdit(
            snapshot=True,
            log_number=self.log_number,
            next_file_number=self.next_file_number,
            last_seq=self.last_seq,
            added=list(self.current.files()),
            compact_pointers=sorted(self.compact_pointers.items()),
            sealed_wals=sorted(self.sealed_wals.items()),
        )

    def install_new_manifest(self) -> list[str]:
        """Write a fresh manifest holding the whole state and point CURRENT at it.

        Returns the names of files this made obsolete (the old manifest).
        """
        number = self.new_file_number()
        name = filenames.manifest_name(number)
        writer = RecordWriter(self._fs.create(self._path(name)))
        try:
            writer.append(self.snapshot_edit().encode())
            writer.seal()
        except BaseException:
            writer.close()
            raise
        self._fs.sync_dir(self._dir)
        tmp = self._path(filenames.CURRENT + filenames.TEMP_SUFFIX)
        f = self._fs.create(tmp)
        try:
            f.write((name + "\n").encode())
            f.sync()
        finally:
            f.close()
        self._fs.rename(tmp, self._path(filenames.CURRENT))
        # Until this fsync a power loss could bring back the old CURRENT; that is safe,
        # because the old manifest is still on disk and describes a consistent state.
        self._fs.sync_dir(self._dir)
        old = self._manifest
        old_number = self.manifest_number
        self._manifest = writer
        self.manifest_number = number
        if old is not None:
            old.close()
        return [filenames.manifest_name(old_number)] if old_number else []

    def log_and_apply(self, edit: VersionEdit) -> list[str]:
        """Make `edit` durable in the manifest, then install the new Version. Thread-safe:
        concurrent callers are applied one at a time (an edit removes and adds files by
        number, so it applies to whatever Version the previous edit left).

        Cost: one manifest append and one fsync (plus a full rewrite when the manifest
        has grown past MANIFEST_ROLL_BYTES). Returns obsolete manifest names, if any.
        Raises the OSError of a failed write; after one, every later call raises
        DiskError (the manifest must not grow past a record of unknown state).
        """
        with self.lock:
            if self._failed is not None:
                raise DiskError(
                    f"{self._dir}: the manifest takes no more edits after a failed write "
                    f"({self._failed}); reopen the store",
                    getattr(self._failed, "errno", None),
                )
            try:
                return self._log_and_apply(edit)
            except BaseException as e:
                self._failed = e
                raise

    def _log_and_apply(self, edit: VersionEdit) -> list[str]:
        edit.next_file_number = self.next_file_number
        new_version = self.current.apply(edit)
        obsolete: list[str] = []
        if self._manifest is None or self._manifest.offset > MANIFEST_ROLL_BYTES:
            # The snapshot written by install_new_manifest must include this edit.
            saved = (
                self.current,
                self.log_number,
                self.last_seq,
                dict(self.compact_pointers),
                dict(self.sealed_wals),
            )
            self.current = self._absorb(self.current, edit)
            try:
                obsolete = self.install_new_manifest()
            except BaseException:
                (
                    self.current,
                    self.log_number,
                    self.last_seq,
                    self.compact_pointers,
                    self.sealed_wals,
                ) = saved
                raise
            return obsolete
        self._manifest.append(edit.encode())
        # Sealed, not just synced: the engine acts on an edit (deletes the WAL it
        # flushed, the inputs it compacted) only once a later record vouches for it, so
        # damage to an edit that was acted upon is always corruption, never a "torn tail"
        # silently dropped with the files it named. Costs one more small fsync per edit.
        self._manifest.seal()
        self.current = self._absorb(self.current, edit)
        assert self.current.file_numbers() == new_version.file_numbers()
        return obsolete

    def close(self) -> None:
        if self._manifest is not None:
            self._manifest.close()
            self._manifest = None
