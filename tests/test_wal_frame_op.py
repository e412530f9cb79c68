"""The one-op WAL fast path must write exactly the bytes the general path frames."""

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
def test_append_op_writes_what_frame_frames(
    tmp_path: str, kind: int, key: bytes, value: bytes
) -> None:
    path = os.path.join(str(tmp_path), "000001.log")
    wal = WalWriter(OSFileSystem(), path, 1)
    expected = b""
    try:
        for synced in (0, 4096, 1 << 40):
            wal.synced_offset = synced
            general = wal.frame(
                BATCH_HEADER.pack(77, 1) + OP.pack(kind, len(key), len(value)) + key + value
            )
            expected += general
            assert wal.append_op(77, kind, key, value) == len(general)
            assert wal.offset == len(expected)
    finally:
        wal.close()
    with open(path, "rb") as f:
        assert f.read() == expected


@pytest.mark.parametrize("body", [b"", b"x", bytes(range(256)) * 600])
def test_frame_batch_is_frame_of_header_and_body(tmp_path: str, body: bytes) -> None:
    wal = WalWriter(OSFileSystem(), os.path.join(str(tmp_path), "000001.log"), 1)
    try:
        for synced in (0, 4096, 1 << 40):
            wal.synced_offset = synced
            for seq, count in ((1, 0), (77, 3), (1 << 60, 1000)):
                want = wal.frame(BATCH_HEADER.pack(seq, count) + body)
                assert wal.frame_batch(seq, count, body) == want
    finally:
        wal.close()
