"""`lsmkv.repair(path)`: salvage what is intact of a damaged store into a consistent one.

The last resort when `open()` refuses a store with `CorruptionError`: it keeps every
entry it can still prove intact and reports the rest (the idea of LevelDB's RepairDB).

1. Which files to read: if the manifest is readable, its live tables and the WALs it
   has not marked as flushed; if not, every table and WAL in the directory (then old
   tables that compaction had already replaced may bring back superseded versions:
   the report says so).
2. Tables: every data block whose checksum holds is kept; a damaged block is lost, and
   the report names the file, the offset and the key range the index says it held. A
   table whose footer or index is damaged is lost whole.
3. WALs: replayed in `skip_any_corrupted` mode: each intact record is kept, damaged
   bytes are skipped and reported.
4. Everything kept (with its original sequence numbers, so the newest surviving version
   of a key still wins) is written to one new level-0 table, a new empty WAL and a new
   manifest naming them; CURRENT is switched to it; only then are the old files moved
   into `lost/` inside the store (nothing is deleted). A crash at any point leaves either
   the old store or the repaired one.

A key whose newest version was in a lost block may read as an older surviving version
(or as absent): the report lists the key ranges of everything lost.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

from ..batch import decode_payload
from ..core import filenames
from ..core.keys import KIND_RANGE_DELETE, Entry
from ..errors import CorruptionError, DiskError, NotFoundError
from ..manifest.edit import FileMeta, VersionEdit
from ..manifest.versionset import VersionSet
from ..options import Options
from ..rangedel import RangeTombstone
from ..record import read_records
from ..sstable.reader import TableReader
from ..sstable.writer import TableSettings, TableWriter
from ..storage.fs import FileSystem, OSFileSystem
from ..wal.replay import check_sealed_wals

LOST_DIR = filenames.LOST_DIR


@dataclass
class RepairReport:
    """What `repair` kept and what it could not. `lost` is empty when nothing was."""

    path: str
    tables_read: int = 0
    wals_read: int = 0
    entries_salvaged: int = 0
    range_tombstones_salvaged: int = 0
    lost: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)  # old files, now in lost/
    new_files: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every byte of every file read was intact."""
        return not self.lost

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "complete": self.complete,
            "tables_read": self.tables_read,
            "wals_read": self.wals_read,
            "entries_salvaged": self.entries_salvaged,
            "range_tombstones_salvaged": self.range_tombstones_salvaged,
            "lost": list(self.lost),
            "notes": list(self.notes),
            "moved": list(self.moved),
            "new_files": list(self.new_files),
        }


def repair(path: str | os.PathLike[str], *, fs: FileSystem | None = None) -> RepairReport:
    """Rebuild the store at `path` from whatever is intact; return what was kept and lost.

    The store must not be open (the lock is taken). Cost: reads every table and WAL
    once and writes everything kept once. Durability: the new table, WAL, manifest and
    CURRENT are fsync'd (and the directory) before the old files are moved to `lost/`.

    Raises:
        LockError: the store is open.
        NotFoundError: no directory at `path`.
        DiskError: an I/O error (the store is left as it was, or repaired).

    >>> db.close()
    >>> lsmkv.repair(db.path).complete
    True
    """
    fs = fs if fs is not None else OSFileSystem()
    path = os.fspath(path)
    if not fs.is_dir(path):
        raise NotFoundError(f"{path}: no store directory here")
    lock = fs.lock(os.path.join(path, filenames.LOCK))
    try:
        return _repair(fs, path)
    except OSError as e:
        raise DiskError.from_os(e, f"repairing {path}") from e
    finally:
        lock.release()


def _repair(fs: FileSystem, path: str) -> RepairReport:
    report = RepairReport(path)
    names = fs.listdir(path)
    parsed = {n: p for n in names if (p := filenames.parse(n)) is not None}
    numbers = [num for _, num in parsed.values()]
    tables = sorted(num for kind, num in parsed.values() if kind == "sst")
    logs = sorted(num for kind, num in parsed.values() if kind == "log")
    num_levels = Options().num_levels
    old = VersionSet(fs, path, num_levels)
    try:
        if filenames.CURRENT not in names:
            raise CorruptionError("CURRENT is missing", os.path.join(path, filenames.CURRENT))
        old.recover()
        # The checks open() makes: a manifest that fails them has lost edits.
        if old.log_number and old.log_number not in logs:
            raise CorruptionError("its current WAL is missing: it may have lost edits")
        check_sealed_wals(old.sealed_wals, logs, path, fs, "strict")
    except CorruptionError as e:
        old = VersionSet(fs, path, num_levels)
        report.lost.append(f"manifest unusable ({e}): every table and WAL was read")
        report.notes.append(
            "without a manifest, tables already replaced by compaction are read too: "
            "they may bring back versions that had been superseded"
        )
    else:
        live = old.current.file_numbers()
        for num in sorted(live - set(tables)):
            report.lost.append(f"{filenames.table_name(num)}: named by the manifest, missing")
        tables = [n for n in tables if n in live]
        logs = [n for n in logs if n >= old.log_number]
    entries: dict[tuple[bytes, int], Entry] = {}
    tombstones: set[RangeTombstone] = set()
    for number in tables:
        _salvage_table(fs, path, number, entries, tombstones, report)
    for number in logs:
        _salvage_wal(fs, path, number, entries, tombstones, report)
    report.entries_salvaged = len(entries)
    report.range_tombstones_salvaged = len(tombstones)
    last_seq = max(
        [old.last_seq] + [-neg for _, neg in entries] + [seq for _, _, seq in tombstones]
    )
    # The new files get numbers above every old one, so nothing old is overwritten.
    new = VersionSet(fs, path, num_levels)
    for number in numbers:
        new.mark_file_number_used(number)
    edit = VersionEdit(last_seq=last_seq)
    if entries or tombstones:
        number = new.new_file_number()
        meta = _write_table(fs, path, number, entries, tombstones)
        edit.added.append((0, meta))
        report.new_files.append(filenames.table_name(number))
    wal_number = new.new_file_number()
    fs.create(os.path.join(path, filenames.wal_name(wal_number))).close()
    report.new_files.append(filenames.wal_name(wal_number))
    fs.sync_dir(path)
    edit.log_number = wal_number
    new.log_and_apply(edit)  # writes a new manifest and switches CURRENT to it
    report.new_files.append(filenames.manifest_name(new.manifest_number))
    new.close()
    lost_dir = os.path.join(path, LOST_DIR)
    fs.mkdir(lost_dir)
    for name in sorted(parsed):
        fs.rename(os.path.join(path, name), os.path.join(lost_dir, name))
        report.moved.append(name)
    fs.sync_dir(lost_dir)
    fs.sync_dir(path)
    return report


def _salvage_table(
    fs: FileSystem,
    path: str,
    number: int,
    entries: dict[tuple[bytes, int], Entry],
    tombstones: set[RangeTombstone],
    report: RepairReport,
) -> None:
    name = filenames.table_name(number)
    table_path = os.path.join(path, name)
    try:
        reader = TableReader(fs, table_path, number)
    except CorruptionError as e:
        report.lost.append(f"{name}: lost whole ({e})")
        return
    report.tables_read += 1
    try:
        for start, end, seq in reader.range_tombstones():
            tombstones.add((start, end, seq))
        previous = b""
        for i, handle in enumerate(reader.handles):
            last_key = reader.index_keys[i]
            try:
                block = reader.read_data_block(i)
                for entry in block.entries():
                    if entry[2] != KIND_RANGE_DELETE:
                        entries[(entry[0], entry[1])] = entry
            except (CorruptionError, ValueError, struct.error) as e:
                report.lost.append(
                    f"{table_path} at offset {handle.offset}: data block lost (keys after "
                    f"{previous!r} up to {last_key!r}; {type(e).__name__})"
                )
            previous = last_key
    finally:
        reader.close()


def _salvage_wal(
    fs: FileSystem,
    path: str,
    number: int,
    entries: dict[tuple[bytes, int], Entry],
    tombstones: set[RangeTombstone],
    report: RepairReport,
) -> None:
    name = filenames.wal_name(number)
    wal_path = os.path.join(path, name)
    data = fs.read_file(wal_path)
    result = read_records(data, wal_path, fully_synced=True, mode="skip_any_corrupted")
    report.wals_read += 1
    if result.damaged_offsets:
        report.lost.append(
            f"{wal_path}: {result.dropped_tail_bytes} damaged bytes skipped (first at offset "
            f"{result.damaged_offsets[0]}); the writes they held are lost"
        )
    for offset, payload in result.records:
        try:
            seq, ops = decode_payload(payload, wal_path, offset)
        except CorruptionError as e:
            report.lost.append(str(e))
            continue
        for i, (kind, key, value) in enumerate(ops):
            if kind == KIND_RANGE_DELETE:
                tombstones.add((key, value, seq + i))
            else:
                entries[(key, -(seq + i))] = (key, -(seq + i), kind, value)


def _write_table(
    fs: FileSystem,
    path: str,
    number: int,
    entries: dict[tuple[bytes, int], Entry],
    tombstones: set[RangeTombstone],
) -> FileMeta:
    writer = TableWriter(
        fs, os.path.join(path, filenames.table_name(number)), TableSettings(), number
    )
    try:
        for key in sorted(entries):
            writer.add(entries[key])
        for start, end, seq in sorted(tombstones):
            writer.add_range_tombstone(start, end, seq)
        props, size = writer.finish()
    except BaseException:
        writer.abandon()
        raise
    return FileMeta.of_table(number, size, props)
