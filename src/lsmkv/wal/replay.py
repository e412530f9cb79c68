"""Reading a WAL back after a crash: the batches it holds, with torn tails told from damage.

Replay hands back `(first_seq, ops)` payloads; recovery (engine/recovery.py) decides
what to do with them. See docs/format/wal.md for the rules.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from ..batch import Op, decode_payload
from ..core import filenames
from ..errors import CorruptionError
from ..record import ReadResult, payload_at, read_records
from ..storage.fs import FileSystem


@dataclass
class WalContents:
    path: str
    batches: list[tuple[int, int, list[Op]]]  # (offset, first_seq, ops); [] if not decoded
    result: ReadResult
    data: bytes = b""  # the file, kept when the batches are decoded lazily

    @property
    def batch_count(self) -> int:
        return len(self.batches) if not self.data else len(self.result.offsets)


def read_wal(
    fs: FileSystem, path: str, *, fully_synced: bool, mode: str, decode: bool = True
) -> WalContents:
    """Every intact batch of one WAL file, in order.

    With `decode=False` the batches are left as record payloads and `iter_ops` decodes
    them one at a time (what recovery does): a replay then never holds every op of
    the file as Python objects at once, only the memtable it builds (at 200k puts this
    halved the peak memory of an open).

    Raises:
        CorruptionError: damage that `mode` does not tolerate, naming file and offset
        (with `decode=False`, a payload that does not parse raises from `iter_ops`).
    """
    data = fs.read_file(path)
    result = read_records(data, path, fully_synced=fully_synced, mode=mode, payloads=decode)
    if not decode:
        return WalContents(path, [], result, data)
    batches = []
    for offset, payload in result.records:
        seq, ops = decode_payload(payload, path, offset)
        batches.append((offset, seq, ops))
    return WalContents(path, batches, result)


def iter_ops(contents: WalContents) -> Iterator[tuple[int, int, bytes, bytes]]:
    """`(seq, kind, key, value)` for every op of every batch, in log order.

    Raises:
        CorruptionError: a record (of contents read with `decode=False`) does not parse.
    """
    if not contents.data:
        for _offset, seq, ops in contents.batches:
            for i, (kind, key, value) in enumerate(ops):
                yield seq + i, kind, key, value
        return
    path, data = contents.path, contents.data
    for offset in contents.result.offsets:
        seq, ops = decode_payload(payload_at(data, offset), path, offset)
        for i, (kind, key, value) in enumerate(ops):
            yield seq + i, kind, key, value


def check_sealed_wals(
    sealed: dict[int, int], logs: list[int], dirname: str, fs: FileSystem, mode: str
) -> None:
    """Every WAL a clean close sealed (manifest `sealed_wals`) is there at its exact size.

    Skipped in the salvage modes (`point_in_time`, `skip_any_corrupted`), which take
    what is there. Raises:
        CorruptionError: a sealed WAL is missing, shorter or longer (file named).
    """
    if mode not in ("strict", "absolute_consistency"):
        return
    for number, size in sorted(sealed.items()):
        path = os.path.join(dirname, filenames.wal_name(number))
        if number not in logs:
            raise CorruptionError(f"sealed WAL of {size} bytes is missing", path)
        actual = fs.size(path)
        if actual != size:
            raise CorruptionError(
                f"sealed at {size} bytes by the last clean close, but now {actual} bytes",
                path,
                min(size, actual),
            )
