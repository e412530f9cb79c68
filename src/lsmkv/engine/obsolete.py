"""Deleting obsolete files: tables no Version still names, WALs already flushed, old
manifests.

A file goes only when neither the durable manifest nor any live reader can need it:
a table stays while any Version an iterator still holds names it, or while a job is
still writing it (pending outputs); a WAL stays until a flush recorded in the
manifest moved past it. Run after every flush, compaction and open.
"""

from __future__ import annotations

import os

from ..core import filenames
from .base import EngineBase


class ObsoleteMixin(EngineBase):
    """`DB._delete_obsolete_files`."""

    def _delete_obsolete_files(self) -> None:
        """Delete files that no durable manifest and no live reader still needs.

        Safe beside running jobs: the directory is listed first and what is live is
        read after, so a file a job created before the listing is already among its
        pending outputs (a job adds a number there before it creates the file and drops
        it only after the manifest names the file). The VersionSet's lock is held
        throughout, so no edit (nor a new manifest) lands between listing and decision.
        Nothing is deleted once a manifest write has failed.
        Cost: one listdir, O(files x live Versions) set work, one remove per file.
        """
        versions = self._versions
        with versions.lock:
            if versions.failed:
                # A failed manifest write may have left an edit on disk that `current`
                # lacks: a table it names looks obsolete here but is not after a reopen.
                return
            try:
                names = self._fs.listdir(self.path)
            except OSError:
                return
            with self._mutex:
                # Pending outputs before the Versions: a job installs, then forgets.
                live_tables = set(self._pending_outputs)
                live_versions = [versions.current, *self._live_versions]
                sv = self._sv
                live_logs = {sv.mem.log_number, *(m.log_number for m in sv.imms)}
            log_number = versions.log_number
            manifest_number = versions.manifest_number
        for version in live_versions:
            live_tables |= version.file_numbers()
        del live_versions
        for name in names:
            parsed = filenames.parse(name)
            if parsed is None:
                continue
            kind, number = parsed
            if kind == "sst":
                obsolete = number not in live_tables
            elif kind == "log":
                obsolete = number < log_number and number not in live_logs
            else:
                obsolete = number != manifest_number
            if not obsolete:
                continue
            try:
                self._fs.remove(os.path.join(self.path, name))
            except OSError:
                continue  # retried at the next sweep; an extra file is harmless
            if kind == "sst":
                self._tables.evict(number)
            if self._trace is not None:
                self._trace("file.deleted", file=name, kind=kind)
