"""record.py: the checksummed framing of WAL and manifest, and how readers treat damage."""

from __future__ import annotations

import pytest

from lsmkv.errors import CorruptionError
from lsmkv.record import HEADER_SIZE, encode_record, read_records


def _file(payloads: list[bytes], synced_after: int) -> tuple[bytes, list[int]]:
    """Records framed as the writer frames them; the first `synced_after` were fsync'd
    before the later ones were framed. Returns (bytes, record offsets)."""
    data = b""
    offsets = []
    synced = 0
    for i, p in enumerate(payloads):
        if i == synced_after:
            synced = len(data)
        offsets.append(len(data))
        data += encode_record(p, synced)
    return data, offsets


def test_round_trip() -> None:
    payloads = [b"a", b"", b"x" * 1000, bytes(range(256))]
    data, offsets = _file(payloads, 2)
    result = read_records(data, "f", fully_synced=True)
    # The empty record is a seal: it vouches for the records before it and is not
    # handed to the reader.
    assert [p for _, p in result.records] == [p for p in payloads if p]
    assert [o for o, _ in result.records] == [
        o for o, p in zip(offsets, payloads, strict=True) if p
    ]
    assert result.valid_end == len(data) and result.dropped_tail_bytes == 0


@pytest.mark.parametrize("cut", [1, HEADER_SIZE, HEADER_SIZE + 3])
def test_torn_tail_is_dropped(cut: int) -> None:
    data, offsets = _file([b"one", b"two", b"three"], 3)
    torn = data[:-cut]
    result = read_records(torn, "f", fully_synced=False)
    assert [p for _, p in result.records] == [b"one", b"two"]
    assert result.dropped_tail_bytes == len(torn) - offsets[2]


def test_torn_tail_in_a_fully_synced_file_is_corruption() -> None:
    data, offsets = _file([b"one", b"two"], 2)
    with pytest.raises(CorruptionError, match=f"f at offset {offsets[1]}"):
        read_records(data[:-1], "f", fully_synced=True)


def test_damage_to_synced_bytes_is_corruption() -> None:
    # Record 2 was synced before record 3 was framed: 3 vouches for 2.
    data, offsets = _file([b"one", b"two", b"three"], 2)
    damaged = bytearray(data)
    damaged[offsets[1] + HEADER_SIZE] ^= 0x01
    with pytest.raises(CorruptionError, match="says bytes up to"):
        read_records(bytes(damaged), "f", fully_synced=False)


def test_damage_to_unsynced_bytes_is_a_torn_tail() -> None:
    # Nothing vouches for records 2 and 3 (never synced): a crash mid-write explains it.
    data, offsets = _file([b"one", b"two", b"three"], 1)
    damaged = bytearray(data)
    damaged[offsets[1] + HEADER_SIZE] ^= 0x01
    result = read_records(bytes(damaged), "f", fully_synced=False)
    assert [p for _, p in result.records] == [b"one"]


def test_recovery_modes() -> None:
    data, offsets = _file([b"one", b"two", b"three"], 2)
    damaged = bytearray(data)
    damaged[offsets[1] + HEADER_SIZE] ^= 0x01
    bad = bytes(damaged)
    with pytest.raises(CorruptionError, match="absolute_consistency"):
        read_records(bad, "f", fully_synced=False, mode="absolute_consistency")
    pit = read_records(bad, "f", fully_synced=False, mode="point_in_time")
    assert [p for _, p in pit.records] == [b"one"] and pit.stopped_early
    skip = read_records(bad, "f", fully_synced=False, mode="skip_any_corrupted")
    assert [p for _, p in skip.records] == [b"one", b"three"]
    assert skip.dropped_tail_bytes == offsets[2] - offsets[1]


def test_every_single_byte_flip_is_caught() -> None:
    data, _ = _file([b"alpha", b"beta", b"gamma"], 3)
    for pos in range(len(data)):
        damaged = bytearray(data)
        damaged[pos] ^= 0x40
        with pytest.raises(CorruptionError):
            read_records(bytes(damaged), "f", fully_synced=True)
