"""The write path: a write's WAL record, its memtable insert, and the memtable switch.

`_commit` is the group commit of commit.py run against the store: a writer queues, the
leader frames the group's records, writes them (and fsyncs once if any member asked)
with the mutex released, then applies them to the memtable and publishes the new last
sequence number. `_write_unsynced` is the fast path of a lone unsynced write. A full
memtable is switched out (stalls.py decides whether the write must wait first), and
the switch starts a new WAL.
"""

from __future__ import annotations

import os

from ..core import filenames
from ..core.keys import KIND_DELETE, KIND_PUT
from ..errors import Error
from ..memtable import Memtable
from ..wal.writer import ONE_OP_RECORD_BYTES, WalWriter
from .base import EngineBase, disk_error
from .commit import Writer, take_group
from .state import make_super_version


class WriteMixin(EngineBase):
    """`DB._write_unsynced`, `DB._commit` and `DB._switch_memtable`."""

    def _write_unsynced(self, kind: int, key: bytes, value: bytes) -> bool:
        """The fast path of a lone unsynced write; False if the general path is needed.

        Taken only when no group is in flight and nothing needs attention (errors, a
        full memtable, stalls, tracing): then the write holds the mutex throughout, which
        costs others nothing (an unsynced append takes about a microsecond) and saves a
        queue entry and a second lock round trip.
        """
        with self._mutex:
            sv = self._sv
            mem = sv.mem
            if (
                self._queue
                or self._closed
                or self._read_only
                or self._write_error is not None
                or self._bg_error is not None
                or self._trace is not None
                or mem.approx_bytes >= self._memtable_limit
                or len(sv.version.levels[0]) >= self._l0_slowdown
            ):
                return False
            wal = self._wal
            assert wal is not None
            seq = self._last_seq + 1
            try:
                size = wal.append_op(seq, kind, key, value)
            except OSError as e:
                self._write_error = disk_error(e, f"writing the WAL of {self.path}")
                raise self._write_error from e
            mem.add(seq, kind, key, value)
            self._last_seq = self._visible_seq = seq
            c = self._counters
            c.writes += 1
            c.write_ops += 1
            c.write_groups += 1
            c.wal_bytes_written += size
            c.user_bytes_written += size - ONE_OP_RECORD_BYTES  # the key and value bytes
            return True

    def _commit(self, w: Writer) -> None:
        """Join the write queue; lead a group commit or wait for the leader to do ours.

        Cost for a lone writer: two uncontended lock round trips, one `os.write`, one
        fsync if asked, and the memtable inserts. The checks that can only fail in rare
        states (closed, errors, a full memtable, stalls) hide behind one comparison each.
        """
        with self._mutex:
            queue = self._queue
            queue.append(w)
            if len(queue) > 1:
                self._waiting += 1
                while not w.done and queue[0] is not w:
                    self._write_cv.wait()
                self._waiting -= 1
                if w.done:
                    if w.error is not None:
                        raise w.error
                    return
            # This writer leads the next group.
            sv = self._sv
            if (
                self._closed
                or self._read_only
                or self._write_error is not None
                or self._bg_error is not None
                or w.switch
                or sv.mem.approx_bytes >= self._memtable_limit
                or len(sv.version.levels[0]) >= self._l0_slowdown
            ):
                try:
                    self._check_writable()
                    self._make_room(force_switch=w.switch)
                except BaseException:
                    queue.popleft()
                    if self._waiting:
                        self._write_cv.notify_all()
                    raise
                if w.switch:
                    queue.popleft()
                    w.done = True
                    if self._waiting:
                        self._write_cv.notify_all()
                    return
            group = take_group(queue, w) if len(queue) > 1 else [w]
            seq = self._last_seq + 1
            for member in group:
                member.seq = seq
                seq += member.count
            last = seq - 1
            self._last_seq = last
            wal = self._wal
            mem = self._sv.mem
        assert wal is not None
        error: Error | None = None
        tr = self._trace
        synced = False
        framed = b""
        try:
            if len(group) == 1:
                framed = wal.frame_batch(w.seq, w.count, w.body)
                synced = w.sync
            else:
                framed = b"".join([wal.frame_batch(m.seq, m.count, m.body) for m in group])
                synced = any(m.sync for m in group)
            wal.write(framed)
            if tr is not None:
                tr(
                    "wal.append",
                    file=filenames.wal_name(wal.number),
                    offset=wal.offset - len(framed),
                    bytes=len(framed),
                    records=len(group),
                    first_seq=group[0].seq,
                    last_seq=last,
                )
            if synced:
                wal.sync()
                if tr is not None:
                    tr("wal.fsync", file=filenames.wal_name(wal.number), durable_offset=wal.offset)
        except OSError as e:
            # Why no retry: after a failed fsync the kernel may have dropped the dirty
            # pages and will report success next time; a retried fsync proves nothing.
            error = disk_error(e, f"writing the WAL of {self.path}")
        if error is None and tr is None:
            for member in group:
                mem.add_many(
                    member.seq, member.keys, member.values, member.kinds, member.user_bytes
                )
        elif error is None:
            assert tr is not None  # the branch above took every untraced group
            add = mem.add
            for member in group:
                seq = member.seq
                kinds = member.kinds or bytes((KIND_PUT,)) * member.count
                for kind, key, value in zip(kinds, member.keys, member.values, strict=True):
                    add(seq, kind, key, value)
                    tr(
                        "memtable.insert",
                        seq=seq,
                        kind=kind,
                        key=key.hex(),
                        value=value.hex() if kind != KIND_DELETE else None,
                        memtable_entries=len(mem),
                        memtable_bytes=mem.approx_bytes,
                    )
                    seq += 1
        c = self._counters
        with self._mutex:
            if error is not None:
                self._write_error = error
            else:
                self._visible_seq = last
                c.write_groups += 1
                c.wal_bytes_written += len(framed)
                if synced:
                    c.wal_syncs += 1
            for member in group:
                queue.popleft()
                member.done = True
                member.error = error
                if error is None:
                    c.writes += 1
                    c.write_ops += member.count
                    c.user_bytes_written += member.user_bytes
            if self._waiting:
                self._write_cv.notify_all()
        if error is not None:
            raise error

    def _switch_memtable(self) -> None:
        """The active memtable becomes immutable and a new WAL starts (mutex held)."""
        old_wal = self._wal
        assert old_wal is not None
        number = self._versions.new_file_number()
        try:
            # Sync the old WAL in full first: recovery may then treat every WAL but the
            # newest as complete, so damage in one of them is corruption, not a torn tail.
            old_wal.sync()
            new_wal = WalWriter(
                self._fs, os.path.join(self.path, filenames.wal_name(number)), number
            )
            # The new WAL's directory entry must be durable before a synced write in it
            # is acknowledged, or a power loss could take the whole file away.
            self._fs.sync_dir(self.path)
        except OSError as e:
            self._write_error = disk_error(e, f"starting a new WAL in {self.path}")
            raise self._write_error from e
        old_wal.close()
        self._wal = new_wal
        sv = self._sv
        self._sv = make_super_version(Memtable(number), (sv.mem, *sv.imms), sv.version)
        if self._trace is not None:
            self._trace(
                "memtable.switch",
                new_wal=filenames.wal_name(number),
                immutable_entries=sv.mem.entry_count,
                immutable_memtables=len(sv.imms) + 1,
            )
        self._bg_cv.notify_all()
