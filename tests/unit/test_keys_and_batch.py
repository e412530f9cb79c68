"""core/keys.py (entry kinds, trailers, checks) and batch.py (the WAL payload)."""

from __future__ import annotations

import pytest

from lsmkv.batch import HEADER, WriteBatch, decode_payload
from lsmkv.core import filenames
from lsmkv.core.keys import (
    KIND_DELETE,
    KIND_PUT,
    KIND_RANGE_DELETE,
    MAX_KEY_BYTES,
    MAX_SEQ,
    check_key,
    check_value,
    format_key,
    pack_trailer,
    unpack_trailer,
)
from lsmkv.errors import CorruptionError


def test_kind_numbers_are_frozen() -> None:
    # Stored on disk: these numbers must never change meaning.
    assert (KIND_DELETE, KIND_PUT, KIND_RANGE_DELETE) == (0, 1, 2)


@pytest.mark.parametrize("seq", [0, 1, 255, 1 << 40, MAX_SEQ])
@pytest.mark.parametrize("kind", [KIND_DELETE, KIND_PUT, KIND_RANGE_DELETE])
def test_trailer_round_trip(seq: int, kind: int) -> None:
    trailer = pack_trailer(seq, kind)
    assert trailer < 1 << 64
    assert unpack_trailer(trailer) == (seq, kind)


def test_internal_order_is_tuple_order() -> None:
    # (key, -seq): key ascending, newest version first.
    entries = [(b"b", -1), (b"a", -1), (b"a", -9), (b"", -3)]
    assert sorted(entries) == [(b"", -3), (b"a", -9), (b"a", -1), (b"b", -1)]


def test_format_key() -> None:
    assert format_key(b"apple", 7, KIND_PUT) == "b'apple'#7,PUT"
    assert format_key(b"x", 2, KIND_RANGE_DELETE) == "b'x'#2,RANGE_DELETE"


def test_checks_name_what_is_wrong() -> None:
    assert check_key(bytearray(b"k")) == b"k"
    assert check_value(memoryview(b"v")) == b"v"
    with pytest.raises(TypeError, match=r"start must be bytes-like.*got str"):
        check_key("k", "start")
    with pytest.raises(ValueError, match="limit is"):
        check_key(b"x" * (MAX_KEY_BYTES + 1))
    with pytest.raises(TypeError, match=r"value must be bytes-like.*got int"):
        check_value(5)


def test_batch_payload_round_trip() -> None:
    b = WriteBatch()
    b.put(b"k1", b"v1")
    b.delete(b"k2")
    b.delete_range(b"a", b"m")
    b.delete_range(b"q", b"q")  # empty range: nothing recorded
    with pytest.raises(ValueError, match="after end"):
        b.delete_range(b"z", b"a")
    assert len(b) == 3
    payload = HEADER.pack(41, len(b)) + b.body()
    seq, ops = decode_payload(payload)
    assert seq == 41
    assert ops == [(KIND_PUT, b"k1", b"v1"), (KIND_DELETE, b"k2", b""), (2, b"a", b"m")]
    assert b.user_bytes == 4 + 2 + 2


@pytest.mark.parametrize("cut", [1, 5, 13, 20])
def test_batch_payload_damage_is_corruption(cut: int) -> None:
    b = WriteBatch()
    b.put(b"key", b"value")
    payload = HEADER.pack(1, 1) + b.body()
    with pytest.raises(CorruptionError, match=r"000001\.log at offset 7"):
        decode_payload(payload[:-cut], "000001.log", 7)
    with pytest.raises(CorruptionError):
        decode_payload(payload + b"\x00", "x", 0)  # trailing bytes


def test_unknown_kind_is_corruption() -> None:
    payload = bytearray(HEADER.pack(1, 1) + WriteBatch().body())
    payload += bytes([7]) + (0).to_bytes(4, "little") * 2
    with pytest.raises(CorruptionError):
        decode_payload(bytes(payload))


def test_filenames_parse() -> None:
    assert filenames.parse(filenames.wal_name(7)) == ("log", 7)
    assert filenames.parse(filenames.table_name(1234567)) == ("sst", 1234567)
    assert filenames.parse(filenames.manifest_name(3)) == ("manifest", 3)
    for other in ("CURRENT", "LOCK", "CURRENT.tmp", "12.log", "000001.sst.tmp", "x"):
        assert filenames.parse(other) is None
