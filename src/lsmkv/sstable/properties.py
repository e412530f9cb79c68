"""The properties block: facts about a table, as a UTF-8 JSON object.

Why JSON: the block is read once per table open, never on a hot path, and a JSON object
can gain fields without a format version bump (readers ignore fields they do not
know). Byte strings (keys) are stored as lowercase hex. Fields are listed in
docs/format/sstable.md; none of them may ever change meaning.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields


@dataclass
class TableProperties:
    entries: int = 0  # point entries: puts + point deletes
    puts: int = 0
    point_deletes: int = 0
    range_deletes: int = 0  # range tombstone fragments (one per fragment and seq)
    data_blocks: int = 0
    data_bytes: int = 0  # stored size of all data blocks, trailers included
    raw_key_bytes: int = 0
    raw_value_bytes: int = 0
    smallest_key: bytes = b""  # smallest user key, range tombstone starts included
    largest_key: bytes = b""  # largest user key, range tombstone ends included
    smallest_seq: int = 0
    largest_seq: int = 0
    compression: str = "none"
    # The densest window of point deletes (DTC, compaction.md): max deletes in any run of
    # `deletion_window` consecutive entries.
    deletion_window: int = 0
    max_deletes_in_window: int = 0
    created_by: str = "lsmkv"
    # The table's own file number (0: unknown, tables written before it was recorded).
    # A reader checks it against the name it opened, so a misplaced, copied or swapped
    # table file is CorruptionError instead of another table's data served silently.
    file_number: int = 0

    def encode(self) -> bytes:
        data = asdict(self)
        for name in ("smallest_key", "largest_key"):
            data[name] = getattr(self, name).hex()
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()

    @staticmethod
    def decode(payload: bytes) -> TableProperties:
        raw = json.loads(payload.decode())
        if not isinstance(raw, dict):
            raise ValueError("properties block is not a JSON object")
        known = {f.name for f in fields(TableProperties)}
        values = {k: v for k, v in raw.items() if k in known}
        for name in ("smallest_key", "largest_key"):
            if name in values:
                values[name] = bytes.fromhex(values[name])
        return TableProperties(**values)
