"""Version edits: the changes the manifest records, one checksummed record each.

A manifest (docs/format/manifest.md) is a record file (record.py) whose payloads are
version edits, each a UTF-8 JSON object. The first record of every manifest is a full
snapshot (every live file) so a manifest can be read alone; later records are deltas.
Why JSON: edits are written once per flush or compaction (never on the write path), the
manifest stays readable with a text tool, and new fields can be added without a
version bump. Keys are lowercase hex.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..sstable.properties import TableProperties


@dataclass(frozen=True)
class FileMeta:
    """One live SSTable as the manifest records it. Immutable."""

    number: int
    size: int
    smallest: bytes  # smallest user key (range tombstone starts included)
    largest: bytes  # largest user key (range tombstone ends included)
    smallest_seq: int
    largest_seq: int
    entries: int = 0
    point_deletes: int = 0
    range_deletes: int = 0
    max_deletes_in_window: int = 0

    @staticmethod
    def of_table(number: int, size: int, props: TableProperties) -> FileMeta:
        """The manifest's record of a table just written, from its properties block."""
        return FileMeta(
            number=number,
            size=size,
            smallest=props.smallest_key,
            largest=props.largest_key,
            smallest_seq=props.smallest_seq,
            largest_seq=props.largest_seq,
            entries=props.entries,
            point_deletes=props.point_deletes,
            range_deletes=props.range_deletes,
            max_deletes_in_window=props.max_deletes_in_window,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "size": self.size,
            "smallest": self.smallest.hex(),
            "largest": self.largest.hex(),
            "smallest_seq": self.smallest_seq,
            "largest_seq": self.largest_seq,
            "entries": self.entries,
            "point_deletes": self.point_deletes,
            "range_deletes": self.range_deletes,
            "max_deletes_in_window": self.max_deletes_in_window,
        }

    @staticmethod
    def from_json(raw: dict[str, Any]) -> FileMeta:
        return FileMeta(
            number=int(raw["number"]),
            size=int(raw["size"]),
            smallest=bytes.fromhex(raw["smallest"]),
            largest=bytes.fromhex(raw["largest"]),
            smallest_seq=int(raw["smallest_seq"]),
            largest_seq=int(raw["largest_seq"]),
            entries=int(raw.get("entries", 0)),
            point_deletes=int(raw.get("point_deletes", 0)),
            range_deletes=int(raw.get("range_deletes", 0)),
            max_deletes_in_window=int(raw.get("max_deletes_in_window", 0)),
        )


@dataclass
class VersionEdit:
    """A change to the version set. Fields left `None` are unchanged by the edit."""

    log_number: int | None = None  # WALs numbered below this are fully flushed
    next_file_number: int | None = None
    last_seq: int | None = None
    added: list[tuple[int, FileMeta]] = field(default_factory=list)  # (level, file)
    removed: list[tuple[int, int]] = field(default_factory=list)  # (level, number)
    compact_pointers: list[tuple[int, bytes]] = field(default_factory=list)
    snapshot: bool = False  # this record lists every live file (first record of a manifest)
    # (wal number, size) of WALs a clean close sealed: recovery then knows each one's
    # exact length, so a WAL cut short, extended or deleted is corruption, not a torn
    # tail (the idea of RocksDB's track_and_verify_wals_in_manifest).
    sealed_wals: list[tuple[int, int]] = field(default_factory=list)

    def encode(self) -> bytes:
        data: dict[str, Any] = {}
        if self.snapshot:
            data["snapshot"] = True
        for name in ("log_number", "next_file_number", "last_seq"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.added:
            data["add"] = [{"level": lvl, **f.to_json()} for lvl, f in self.added]
        if self.removed:
            data["remove"] = [[lvl, num] for lvl, num in self.removed]
        if self.compact_pointers:
            data["compact_pointers"] = [[lvl, key.hex()] for lvl, key in self.compact_pointers]
        if self.sealed_wals:
            data["sealed_wals"] = [[num, size] for num, size in self.sealed_wals]
        return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()

    @staticmethod
    def decode(payload: bytes) -> VersionEdit:
        """Parse an edit; `ValueError` (or KeyError/TypeError) if it is malformed."""
        raw = json.loads(payload.decode())
        if not isinstance(raw, dict):
            raise ValueError("version edit is not a JSON object")
        edit = VersionEdit(snapshot=bool(raw.get("snapshot", False)))
        for name in ("log_number", "next_file_number", "last_seq"):
            if name in raw:
                setattr(edit, name, int(raw[name]))
        for item in raw.get("add", []):
            edit.added.append((int(item["level"]), FileMeta.from_json(item)))
        for lvl, num in raw.get("remove", []):
            edit.removed.append((int(lvl), int(num)))
        for lvl, key in raw.get("compact_pointers", []):
            edit.compact_pointers.append((int(lvl), bytes.fromhex(key)))
        for num, size in raw.get("sealed_wals", []):
            edit.sealed_wals.append((int(num), int(size)))
        return edit
