"""`lsmkv.verify(path)`: check every checksum of every live file of a closed store.

Reads the store without opening it for writing (nothing on disk changes): CURRENT and
the manifest, every block of every live SSTable, every WAL record, that each file the
manifest names exists with its recorded size, and which files are orphans.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..core import filenames
from ..errors import CorruptionError
from ..manifest.versionset import VersionSet
from ..sstable.reader import TableReader
from ..storage.fs import FileSystem, OSFileSystem
from ..wal.replay import read_wal


@dataclass
class VerifyReport:
    """The outcome of `verify`. `ok` is True exactly when `problems` is empty."""

    path: str
    problems: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
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
            "tables_checked": self.tables_checked,
            "wals_checked": self.wals_checked,
            "bytes_checked": self.bytes_checked,
        }


def verify(path: str | os.PathLike[str], *, fs: FileSystem | None = None) -> VerifyReport:
    """Check a store's files. Never raises for damage: every problem goes in the report.

    Cost: reads every live byte once.
    """
    fs = fs if fs is not None else OSFileSystem()
    path = os.fspath(path)
    report = VerifyReport(path)
    if not fs.is_dir(path):
        report.problems.append(f"{path}: no store directory here")
        return report
    names = fs.listdir(path)
    if filenames.CURRENT not in names:
        report.problems.append(f"{path}: CURRENT is missing: not an lsmkv store, or damaged")
        return report
    versions = VersionSet(fs, path, 64)
    try:
        versions.recover()
    except CorruptionError as e:
        report.problems.append(str(e))
        return report
    except OSError as e:
        report.problems.append(f"{path}: cannot read the manifest: {e}")
        return report
    live = {f.number: f for _, f in versions.current.files()}
    for number, meta in sorted(live.items()):
        name = filenames.table_name(number)
        table_path = os.path.join(path, name)
        if name not in names:
            report.problems.append(f"{table_path}: named by the manifest but missing")
            continue
        size = fs.size(table_path)
        if size != meta.size:
            report.problems.append(
                f"{table_path}: size {size} but the manifest recorded {meta.size}"
            )
        try:
            reader = TableReader(fs, table_path, number)
        except CorruptionError as e:
            report.problems.append(str(e))
            continue
        try:
            report.problems.extend(reader.check())
            props = reader.props
            if (props.smallest_key, props.largest_key) != (meta.smallest, meta.largest):
                report.problems.append(f"{table_path}: key range differs from the manifest")
        finally:
            reader.close()
        report.tables_checked += 1
        report.bytes_checked += size
    logs = sorted(
        num
        for kind, num in filter(None, map(filenames.parse, names))
        if kind == "log" and num >= versions.log_number
    )
    for i, number in enumerate(logs):
        wal_path = os.path.join(path, filenames.wal_name(number))
        try:
            contents = read_wal(fs, wal_path, fully_synced=i < len(logs) - 1, mode="strict")
        except CorruptionError as e:
            report.problems.append(str(e))
            continue
        report.wals_checked += 1
        report.bytes_checked += contents.result.valid_end
    for name in names:
        parsed = filenames.parse(name)
        if parsed is None:
            if name not in (filenames.CURRENT, filenames.LOCK):
                report.orphans.append(name)
            continue
        kind, number = parsed
        if (
            (kind == "sst" and number not in live)
            or (kind == "log" and number < versions.log_number)
            or (kind == "manifest" and number != versions.manifest_number)
        ):
            report.orphans.append(name)
    return report
