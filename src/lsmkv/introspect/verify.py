"""`lsmkv.verify(path)`: check every checksum of every live file of a closed store.

Reads the store without opening it for writing (nothing on disk changes): CURRENT and
every record of the manifest, every block of every live SSTable (meta blocks and footer
included), every WAL record and batch, that each file the manifest names exists with its
recorded size and key range, and which files are orphans. Every problem found goes in
the report; nothing stops at the first.

What counts as a problem (`report.problems`): any checksum or format failure in a table,
the manifest (its last record included: the engine seals every edit, so a damaged last
record means damage, or a crash in the middle of a manifest write, which `open()` would
undo), CURRENT, or a WAL record that some later record vouches for (docs/format/wal.md).
A damaged record at the very end of the newest WAL that nothing vouches for is a torn
tail (a crash mid-write), listed in `report.torn_tails` but not a problem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..core import filenames
from ..errors import CorruptionError, DiskError
from ..manifest.versionset import VersionSet
from ..record import read_records
from ..sstable.reader import TableReader
from ..storage.fs import FileSystem, OSFileSystem
from ..wal.replay import check_sealed_wals, read_wal


@dataclass
class VerifyReport:
    """The outcome of `verify`. `ok` is True exactly when `problems` is empty."""

    path: str
    problems: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    torn_tails: list[str] = field(default_factory=list)
    tables_checked: int = 0
    wals_checked: int = 0
    bytes_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "ok": self.ok,
            "problems": list(self.problems),
            "orphans": list(self.orphans),
            "torn_tails": list(self.torn_tails),
            "tables_checked": self.tables_checked,
            "wals_checked": self.wals_checked,
            "bytes_checked": self.bytes_checked,
        }


def verify(path: str | os.PathLike[str], *, fs: FileSystem | None = None) -> VerifyReport:
    """Check a store's files. Never raises for damage: every problem goes in the report.

    Cost: reads every live byte once (plus a byte-by-byte scan after a damaged WAL or
    manifest record). Durability: read-only; it takes the store's lock while it reads,
    because files change under a store open for writing (a store open read-only is fine).

    Raises:
        LockError: the store is open for writing, here or in another process.

    >>> db.close()
    >>> report = lsmkv.verify(db.path)
    >>> report.ok, report.problems
    (True, [])
    """
    fs = fs if fs is not None else OSFileSystem()
    path = os.fspath(path)
    report = VerifyReport(path)
    try:
        _verify(fs, path, report)
    except (OSError, DiskError) as e:
        report.problems.append(f"{path}: an I/O error stopped the check: {e}")
    return report


def _verify(fs: FileSystem, path: str, report: VerifyReport) -> None:
    if not fs.is_dir(path):
        report.problems.append(f"{path}: no store directory here")
        return
    names = fs.listdir(path)
    if filenames.CURRENT not in names:
        report.problems.append(f"{path}: CURRENT is missing: not an lsmkv store, or damaged")
        return
    # Held while checking: a writer's flush or compaction would otherwise make files
    # appear and vanish under the check (false orphans, false missing tables).
    lock = fs.lock(os.path.join(path, filenames.LOCK))
    try:
        _verify_locked(fs, path, names, report)
    finally:
        lock.release()


def _verify_locked(fs: FileSystem, path: str, names: list[str], report: VerifyReport) -> None:
    versions = VersionSet(fs, path, 64)
    try:
        versions.recover()
    except CorruptionError as e:
        report.problems.append(str(e))
        return
    except OSError as e:
        report.problems.append(f"{path}: cannot read the manifest: {e}")
        return
    manifest_name = filenames.manifest_name(versions.manifest_number)
    manifest_path = os.path.join(path, manifest_name)
    data = fs.read_file(manifest_path)
    result = read_records(data, manifest_path, fully_synced=False, mode="strict")
    for offset in result.damaged_offsets:
        # recover() tolerated it as a torn tail; every acted-upon edit is sealed, so this
        # is damage or an interrupted manifest write (which open() would undo).
        report.problems.append(
            f"{manifest_path} at offset {offset}: damaged last record ({len(data) - offset} "
            f"bytes; damage, or a crash in the middle of a manifest write)"
        )
    report.bytes_checked += len(data)
    live = {f.number: f for _, f in versions.current.files()}
    for number, meta in sorted(live.items()):
        _check_table(fs, path, names, number, meta.size, (meta.smallest, meta.largest), report)
    logs = sorted(
        num
        for kind, num in filter(None, map(filenames.parse, names))
        if kind == "log" and num >= versions.log_number
    )
    if versions.log_number and versions.log_number not in logs:
        report.problems.append(
            f"{os.path.join(path, filenames.wal_name(versions.log_number))}: the manifest's "
            "current WAL is missing (deleted, or the manifest lost its later edits)"
        )
    for number, size in sorted(versions.sealed_wals.items()):
        try:
            check_sealed_wals({number: size}, logs, path, fs, "strict")
        except CorruptionError as e:
            report.problems.append(str(e))
    for i, number in enumerate(logs):
        wal_path = os.path.join(path, filenames.wal_name(number))
        newest = i == len(logs) - 1 and number not in versions.sealed_wals
        try:
            contents = read_wal(fs, wal_path, fully_synced=not newest, mode="strict")
        except CorruptionError as e:
            report.problems.append(str(e))
            continue
        if contents.result.damaged_offsets:
            report.torn_tails.append(
                f"{wal_path} at offset {contents.result.damaged_offsets[0]}: torn tail of "
                f"{contents.result.dropped_tail_bytes} bytes (never acknowledged as durable)"
            )
        report.wals_checked += 1
        report.bytes_checked += contents.result.valid_end
    for name in names:
        parsed = filenames.parse(name)
        if parsed is None:
            if name not in (filenames.CURRENT, filenames.LOCK, filenames.LOST_DIR):
                report.orphans.append(name)
            continue
        kind, number = parsed
        if (
            (kind == "sst" and number not in live)
            or (kind == "log" and number < versions.log_number)
            or (kind == "manifest" and number != versions.manifest_number)
        ):
            report.orphans.append(name)


def _check_table(
    fs: FileSystem,
    path: str,
    names: list[str],
    number: int,
    size: int,
    key_range: tuple[bytes, bytes],
    report: VerifyReport,
) -> None:
    name = filenames.table_name(number)
    table_path = os.path.join(path, name)
    if name not in names:
        report.problems.append(f"{table_path}: named by the manifest but missing")
        return
    actual = fs.size(table_path)
    if actual != size:
        report.problems.append(f"{table_path}: size {actual} but the manifest recorded {size}")
    try:
        reader = TableReader(fs, table_path, number)
    except CorruptionError as e:
        report.problems.append(str(e))
        return
    try:
        report.problems.extend(reader.check())
        props = reader.props
        if (props.smallest_key, props.largest_key) != key_range:
            report.problems.append(f"{table_path}: key range differs from the manifest")
    finally:
        reader.close()
    report.tables_checked += 1
    report.bytes_checked += actual
