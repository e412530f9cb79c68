"""The worked hex examples of docs/format/*.md, regenerated from the real code.

Each function builds one small file with the engine's own writers and returns its bytes;
`tests/unit/test_format_docs.py` compares the hex dump in the doc with a fresh one, so a
format change that forgets its page fails the suite. `LSMKV_REGEN_DOCS=1 pytest
tests/unit/test_format_docs.py` rewrites the dumps after a deliberate format change.
"""

from __future__ import annotations

import os
import tempfile

from lsmkv.batch import OP, encode_op
from lsmkv.core.keys import KIND_DELETE, KIND_PUT
from lsmkv.engine.commit import BATCH_HEADER
from lsmkv.manifest.edit import FileMeta, VersionEdit
from lsmkv.manifest.versionset import VersionSet
from lsmkv.record import RecordWriter
from lsmkv.sstable.writer import TableSettings, TableWriter
from lsmkv.storage.fs import OSFileSystem


def hexdump(data: bytes) -> str:
    """`offset  16 hex bytes  |ascii|` lines, as `xxd`-style tools print them."""
    lines = []
    for pos in range(0, len(data), 16):
        chunk = data[pos : pos + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{pos:04x}  {hexes:<47}  |{text}|")
    return "\n".join(lines)


def wal_example() -> bytes:
    """Two records: `put(b"apple", b"red")` at seq 1 (then fsync'd), and a batch of
    `delete(b"fig")` + `put(b"kiwi", b"")` at seqs 2 and 3."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "000001.log")
        fs = OSFileSystem()
        writer = RecordWriter(fs.create(path))
        writer.append(BATCH_HEADER.pack(1, 1) + encode_op(KIND_PUT, b"apple", b"red"))
        writer.sync()
        body = encode_op(KIND_DELETE, b"fig", b"") + encode_op(KIND_PUT, b"kiwi", b"")
        writer.append(BATCH_HEADER.pack(2, 2) + body)
        writer.close()
        assert OP.size == 9
        return fs.read_file(path)


def sstable_example() -> bytes:
    """A table of three entries: apple#3 PUT "red", apple#1 PUT "green", fig#2 DELETE;
    bloom filter at 10 bits per key, no compression."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "000005.sst")
        fs = OSFileSystem()
        writer = TableWriter(fs, path, TableSettings(block_size_bytes=4096), 5)
        writer.add((b"apple", -3, KIND_PUT, b"red"))
        writer.add((b"apple", -1, KIND_PUT, b"green"))
        writer.add((b"fig", -2, KIND_DELETE, b""))
        writer.finish()
        return fs.read_file(path)


def manifest_example() -> tuple[bytes, bytes]:
    """(MANIFEST-000001, CURRENT) of a new store, then the edit of its first flush:
    WAL 2 held seqs 1..3, WAL 3 took over, and table 4 (level 0) holds what WAL 2 held."""
    with tempfile.TemporaryDirectory() as tmp:
        fs = OSFileSystem()
        versions = VersionSet(fs, tmp, num_levels=7)
        versions.install_new_manifest()
        versions.new_file_number()  # 2: the first WAL
        next_wal = versions.new_file_number()  # 3
        number = versions.new_file_number()  # 4
        table = FileMeta(number, 521, b"apple", b"fig", 1, 3, entries=3, point_deletes=1)
        versions.log_and_apply(VersionEdit(log_number=next_wal, last_seq=3, added=[(0, table)]))
        versions.close()
        return (
            fs.read_file(os.path.join(tmp, "MANIFEST-000001")),
            fs.read_file(os.path.join(tmp, "CURRENT")),
        )


EXAMPLES = {
    "wal": wal_example,
    "sstable": sstable_example,
    "manifest": lambda: manifest_example()[0],
}
