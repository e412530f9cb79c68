"""A self-checking random workload and the model it is checked against.

Every value names its key and the op that wrote it and carries a checksum, so a wrong,
torn or misplaced value is recognised on sight. Ops are numbered; the model replays any
prefix of them, which is what every crash check compares a recovered store with:
"the state after some prefix of the acknowledged writes that includes every synced one".
"""

from __future__ import annotations

import os
import random
import zlib
from dataclasses import dataclass, field
from typing import Any

import pytest

import lsmkv

# The 10x campaign (make stress) sets LSMKV_STRESS=full.
FULL = os.environ.get("LSMKV_STRESS") == "full"

# Every campaign runs at two scales: `ci` (1x, in every suite run) and `full` (10x, slow,
# only with LSMKV_STRESS=full, i.e. `make stress`). Decorate a test taking `scale`.
campaign_scales = pytest.mark.parametrize(
    "scale",
    [
        pytest.param(1, id="ci"),
        pytest.param(
            10,
            id="full",
            marks=[
                pytest.mark.slow,
                pytest.mark.skipif(not FULL, reason="LSMKV_STRESS=full runs the 10x campaign"),
            ],
        ),
    ],
)

# Options that make a small workload reach flushes and compactions often.
SMALL_STORE: dict[str, Any] = {
    "memtable_bytes": 6 * 1024,
    "block_size_bytes": 512,
    "target_file_bytes": 4 * 1024,
    "level0_compaction_trigger": 2,
    "level1_bytes": 16 * 1024,
    "level_size_multiplier": 4,
}


def key_of(i: int) -> bytes:
    return b"key%05d" % i


def make_value(key: bytes, op_id: int, pad: int = 0) -> bytes:
    body = b"%s|op=%d|%s" % (key, op_id, b"x" * pad)
    return body + b"|%08x" % zlib.crc32(body)


def check_value(key: bytes, value: bytes) -> int:
    """The op id carried by a value; AssertionError if it is not a value of `key`."""
    body, _, crc = value.rpartition(b"|")
    assert crc == b"%08x" % zlib.crc32(body), f"value of {key!r} fails its checksum: {value!r}"
    vkey, _, rest = body.partition(b"|op=")
    assert vkey == key, f"value of {key!r} belongs to {vkey!r}"
    return int(rest.partition(b"|")[0])


# An op: ("put", key, value) | ("delete", key) | ("range", start, end) | ("batch", [ops])
Op = tuple[Any, ...]


@dataclass
class Workload:
    """Generates ops, applies them to a store, and remembers what was acknowledged."""

    seed: int
    keys: int = 120
    ops: list[Op] = field(default_factory=list)
    syncs: list[bool] = field(default_factory=list)
    acked: int = 0  # ops acknowledged so far (they are ops[:acked])
    synced_floor: int = 0  # every op before this index is durable (a synced ack)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def next_op(self) -> tuple[Op, bool]:
        rng = self.rng
        op_id = len(self.ops)
        r = rng.random()
        k = key_of(rng.randrange(self.keys))
        op: Op
        if r < 0.55:
            op = ("put", k, make_value(k, op_id, rng.randrange(0, 80)))
        elif r < 0.7:
            op = ("delete", k)
        elif r < 0.73:
            a, b = sorted(rng.sample(range(self.keys), 2))
            op = ("range", key_of(a), key_of(b))
        else:
            sub: list[Op] = []
            for _ in range(rng.randint(2, 6)):
                kk = key_of(rng.randrange(self.keys))
                if rng.random() < 0.75:
                    sub.append(("put", kk, make_value(kk, op_id, rng.randrange(0, 40))))
                else:
                    sub.append(("delete", kk))
            op = ("batch", sub)
        sync = rng.random() < 0.3
        self.ops.append(op)
        self.syncs.append(sync)
        return op, sync

    def ack(self, index: int) -> None:
        """Op `index` returned successfully."""
        self.acked = max(self.acked, index + 1)
        if self.syncs[index]:
            self.synced_floor = max(self.synced_floor, index + 1)


def apply_op(db: lsmkv.DB, op: Op, sync: bool) -> None:
    kind = op[0]
    if kind == "put":
        db.put(op[1], op[2], sync=sync)
    elif kind == "delete":
        db.delete(op[1], sync=sync)
    elif kind == "range":
        db.delete_range(op[1], op[2], sync=sync)
    else:
        b = lsmkv.WriteBatch()
        for sub in op[1]:
            if sub[0] == "put":
                b.put(sub[1], sub[2])
            else:
                b.delete(sub[1])
        db.write(b, sync=sync)


def model_apply(state: dict[bytes, bytes], op: Op) -> None:
    kind = op[0]
    if kind == "put":
        state[op[1]] = op[2]
    elif kind == "delete":
        state.pop(op[1], None)
    elif kind == "range":
        for k in [k for k in state if op[1] <= k < op[2]]:
            del state[k]
    else:
        for sub in op[1]:
            model_apply(state, sub)


def model_at(ops: list[Op], n: int) -> dict[bytes, bytes]:
    state: dict[bytes, bytes] = {}
    for op in ops[:n]:
        model_apply(state, op)
    return state


def matching_prefix(found: dict[bytes, bytes], ops: list[Op], lo: int, hi: int) -> int | None:
    """The smallest n in [lo, hi] whose model state equals `found`, or None."""
    state = model_at(ops, lo)
    n = lo
    while True:
        if state == found:
            return n
        if n >= hi or n >= len(ops):
            return None
        model_apply(state, ops[n])
        n += 1


def read_all(db: lsmkv.DB, keys: int) -> dict[bytes, bytes]:
    """The store's content by scan, cross-checked key by key with get (two read paths)."""
    found = dict(db.scan())
    for k, v in found.items():
        check_value(k, v)
    for i in range(keys):
        k = key_of(i)
        assert db.get(k) == found.get(k), f"get and scan disagree on {k!r}"
    return found
