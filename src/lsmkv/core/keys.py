"""Internal keys: the one place that defines entry kinds, sequence numbers and their ordering.

Every write gets a sequence number, one higher than the write before it. An entry is
`(user_key, seq, kind, value)`. Entries sort by user key ascending, then by sequence
number *descending*, so the newest version of a key comes first. In memory the engine
carries entries as the tuple `(user_key, -seq, kind, value)`: Python's own tuple
ordering is then exactly the internal-key ordering, which lets `heapq.merge` and
`bisect` (both written in C) do the merging and searching without a key function.

On disk, `seq` and `kind` share one 64-bit trailer: `seq << 8 | kind`.

Text form (used in docs, traces and `lsmkv where`): `key#seq,KIND`, e.g. `b"apple"#7,PUT`.
"""

from __future__ import annotations

from typing import Final

# Entry kinds. These numbers are stored on disk (WAL, SSTable): never change their meaning.
KIND_DELETE: Final = 0
KIND_PUT: Final = 1
KIND_RANGE_DELETE: Final = 2

KIND_NAMES: Final = {KIND_DELETE: "DELETE", KIND_PUT: "PUT", KIND_RANGE_DELETE: "RANGE_DELETE"}
KIND_BY_NAME: Final = {name: kind for kind, name in KIND_NAMES.items()}

# Sequence numbers use 56 bits so that `seq << 8 | kind` fits a uint64.
MAX_SEQ: Final = (1 << 56) - 1

# An entry as carried through iterators: (user_key, -seq, kind, value).
Entry = tuple[bytes, int, int, bytes]


def pack_trailer(seq: int, kind: int) -> int:
    """The 64-bit on-disk trailer of an entry."""
    return (seq << 8) | kind


def unpack_trailer(trailer: int) -> tuple[int, int]:
    """`(seq, kind)` of an on-disk trailer."""
    return trailer >> 8, trailer & 0xFF


def format_key(key: bytes, seq: int, kind: int) -> str:
    """The `key#seq,KIND` text form of an internal key."""
    return f"{key!r}#{seq},{KIND_NAMES.get(kind, str(kind))}"


# Size limits (documented in docs/design.md). Larger keys or values raise ValueError
# before anything is written, so an oversized write can never leave a half-record behind.
MAX_KEY_BYTES: Final = 64 * 1024
MAX_VALUE_BYTES: Final = 64 * 1024 * 1024


def check_key(key: object, what: str = "key") -> bytes:
    """`key` as `bytes`, or `TypeError`/`ValueError` naming what was wrong.

    Cost: one type check for `bytes` (the common case); a copy for bytearray/memoryview.
    """
    if type(key) is bytes:
        if len(key) > MAX_KEY_BYTES:
            raise ValueError(f"{what} is {len(key)} bytes; the limit is {MAX_KEY_BYTES}")
        return key
    if isinstance(key, bytes | bytearray | memoryview):
        return check_key(bytes(key), what)
    raise TypeError(
        f"{what} must be bytes-like (bytes, bytearray or memoryview), got {type(key).__name__}"
    )


def check_value(value: object) -> bytes:
    """`value` as `bytes`, or `TypeError`/`ValueError` naming what was wrong."""
    if type(value) is bytes:
        if len(value) > MAX_VALUE_BYTES:
            raise ValueError(f"value is {len(value)} bytes; the limit is {MAX_VALUE_BYTES}")
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return check_value(bytes(value))
    raise TypeError(
        f"value must be bytes-like (bytes, bytearray or memoryview), got {type(value).__name__}"
    )
