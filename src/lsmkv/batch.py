"""WriteBatch: several writes committed atomically, and the encoding they share with the WAL.

A batch is encoded once, as the payload of exactly one WAL record (docs/format/wal.md):

    +----------+---------+----------------------------------+
    | seq u64  | count   | op 1 | op 2 | ... | op count     |
    |          | u32     |                                  |
    +----------+---------+----------------------------------+
    op: kind u8 | key_len u32 | value_len u32 | key | value

`seq` is the sequence number of the first op; op i gets `seq + i`. A delete has an
empty value; a range delete stores its start as the key and its end as the value.
Because the whole batch is one checksummed record, a crash leaves all of it or none.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from itertools import chain, repeat

from .core.keys import (
    KIND_DELETE,
    KIND_PUT,
    KIND_RANGE_DELETE,
    MAX_KEY_BYTES,
    MAX_VALUE_BYTES,
    check_key,
    check_value,
)
from .errors import CorruptionError

OP = struct.Struct("<BII")
HEADER = struct.Struct("<QI")
Op = tuple[int, bytes, bytes]  # (kind, key, value)


def encode_op(kind: int, key: bytes, value: bytes) -> bytes:
    return OP.pack(kind, len(key), len(value)) + key + value


def decode_payload(payload: bytes, path: str = "", offset: int = 0) -> tuple[int, list[Op]]:
    """`(first_seq, ops)` of a batch payload; `CorruptionError` if it does not parse."""
    try:
        seq, count = HEADER.unpack_from(payload, 0)
        pos = HEADER.size
        ops: list[Op] = []
        for _ in range(count):
            kind, klen, vlen = OP.unpack_from(payload, pos)
            pos += OP.size
            key = payload[pos : pos + klen]
            pos += klen
            value = payload[pos : pos + vlen]
            pos += vlen
            if kind not in (KIND_PUT, KIND_DELETE, KIND_RANGE_DELETE) or pos > len(payload):
                raise ValueError
            ops.append((kind, key, value))
        if pos != len(payload):
            raise ValueError
    except (struct.error, ValueError):
        raise CorruptionError("batch record does not parse", path or None, offset) from None
    return seq, ops


class WriteBatch:
    """Writes applied atomically by `DB.write(batch)` (or `with db.batch() as b:`).

    Cost: building is pure memory work; committing is one WAL record and (with sync) one
    fsync for the whole batch, which is why batches are the fastest way to load data.

    The ops are kept as columns (keys, values, and the kinds of the few ops that are not
    puts), because the commit consumes them as columns: the WAL body is encoded and the
    memtable filled by C-level passes over them.

    >>> b = WriteBatch(); b.put(b"k", b"v"); b.delete(b"old"); len(b)
    2
    """

    __slots__ = ("_keys", "_others", "_values")

    def __init__(self) -> None:
        self._keys: list[bytes] = []
        self._values: list[bytes] = []
        # (index, kind) of each op that is not a put, in order: puts, by far the most
        # common op, then cost no bookkeeping at all.
        self._others: list[tuple[int, int]] = []

    def put(self, key: bytes, value: bytes) -> None:
        """Add a put. Cost: two type checks and two list appends (encoding and counting
        wait for the commit, where they run as C-level passes over the whole batch)."""
        if type(key) is not bytes or len(key) > MAX_KEY_BYTES:
            key = check_key(key)
        if type(value) is not bytes or len(value) > MAX_VALUE_BYTES:
            value = check_value(value)
        self._keys.append(key)
        self._values.append(value)

    def delete(self, key: bytes) -> None:
        self._add(KIND_DELETE, check_key(key), b"")

    def delete_range(self, start: bytes, end: bytes) -> None:
        """Delete every key in `[start, end)`; `start == end` deletes nothing.

        Raises:
            ValueError: `start > end` (an inverted range is a mistake, as in RocksDB).
        """
        start = check_key(start, "start")
        end = check_key(end, "end")
        if start > end:
            raise ValueError(f"delete_range: start {start!r} is after end {end!r}")
        if start < end:
            self._add(KIND_RANGE_DELETE, start, end)

    def _add(self, kind: int, key: bytes, value: bytes) -> None:
        self._others.append((len(self._keys), kind))
        self._keys.append(key)
        self._values.append(value)

    def clear(self) -> None:
        self._keys.clear()
        self._values.clear()
        self._others.clear()

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    @property
    def ops(self) -> list[Op]:
        """The ops as `(kind, key, value)` tuples, in order (built on each call)."""
        kinds = self.kinds() or bytes((KIND_PUT,)) * len(self._keys)
        return list(zip(kinds, self._keys, self._values, strict=True))

    @property
    def keys(self) -> list[bytes]:
        """The ops' keys in order (a range deletion's start), the batch's own list."""
        return self._keys

    @property
    def values(self) -> list[bytes]:
        """The ops' values in order (b"" for a delete, a range deletion's end)."""
        return self._values

    def kinds(self) -> bytes | None:
        """The ops' kinds in order, or None when every op is a put (the usual batch).
        Cost: a Python step per op that is not a put, nothing per put."""
        if not self._others:
            return None
        kinds = bytearray((KIND_PUT,)) * len(self._keys)
        for i, kind in self._others:
            kinds[i] = kind
        return bytes(kinds)

    def body(self) -> bytes:
        """The encoded ops (the payload without its seq/count header). Cost: C-level
        passes over the ops, no Python step per op: one join of header, key, value,
        header, ... where the op headers are one constant when every op is a put and
        all keys have one length and all values one (fixed-width records), else packed
        by a `map`."""
        keys, values = self._keys, self._values
        n = len(keys)
        if not n:
            return b""
        klens = list(map(len, keys))
        vlens = list(map(len, values))
        kinds = self.kinds()
        if kinds is None and klens.count(klens[0]) == n and vlens.count(vlens[0]) == n:
            headers: Iterable[bytes] = repeat(OP.pack(KIND_PUT, klens[0], vlens[0]), n)
        else:
            headers = map(OP.pack, kinds or repeat(KIND_PUT, n), klens, vlens)
        return b"".join(chain.from_iterable(zip(headers, keys, values, strict=True)))

    @property
    def user_bytes(self) -> int:
        """Key and value bytes of the ops. Cost: two C-level passes."""
        return sum(map(len, self._keys)) + sum(map(len, self._values))
