"""The one-op WAL fast path must frame exactly the bytes the general path frames."""

from __future__ import annotations

import os

import pytest

from lsmkv.batch import OP
from lsmkv.engine.commit import BATCH_HEADER
from lsmkv.storage.fs import OSFileSystem
from lsmkv.wal.writer import WalWriter


@pytest.mark.parametrize(
    ("kind", "key", "value"),
    [(1, b"apple", b"red"), (0, b"gone", b""), (1, b"", b""), (1, b"k" * 300, b"v" * 5000)],
)
def test_frame_op_matches_frame(tmp_path: str, kind: int, key: bytes, value: bytes) -> None:
    wal = WalWriter(OSFileSystem(), os.path.join(str(tmp_path), "000001.log"), 1)
    try:
        for synced in (0, 4096, 1 << 40):
            wal.synced_offset = synced
            general = wal.frame(
                BATCH_HEADER.pack(77, 1) + OP.pack(kind, len(key), len(value)) + key + value
            )
            assert wal.frame_op(77, kind, key, value) == general
    finally:
        wal.close()
