"""Model-based test: random operation sequences against a dict model, under several
option presets that must all agree (style.md item 8).

Tiny memtables, blocks and level targets make many SSTables and levels appear within
a few hundred operations, so flush, compaction, range tombstones and snapshots are all
exercised. Every read is checked against the model, including reads from snapshots
taken earlier; every structure's `check()` runs after each step.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
)

import lsmkv
from lsmkv.core.trace import TraceRecorder

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(
        memtable_bytes=2048,
        block_size_bytes=128,
        level1_bytes=8192,
        level_size_multiplier=2,
        target_file_bytes=2048,
        level0_compaction_trigger=2,
        level0_slowdown_trigger=3,
        level0_stop_trigger=6,
    ),
    "tiny_zlib_no_bloom": dict(
        memtable_bytes=4096,
        block_size_bytes=256,
        compression="zlib",
        bloom_bits_per_key=0,
        level1_bytes=16384,
        target_file_bytes=4096,
        level0_compaction_trigger=3,
    ),
    "manual_compaction_only": dict(
        memtable_bytes=3000,
        block_size_bytes=200,
        background_compaction=False,
        level0_stop_trigger=1000,
        level0_slowdown_trigger=1000,
    ),
    "traced": dict(memtable_bytes=2048, block_size_bytes=128, level1_bytes=8192),
}
# The same tiny store with several compaction threads (max_background_compactions):
# whatever runs at once, every read must agree with the model.
PRESETS["tiny_2_threads"] = dict(PRESETS["tiny"], max_background_compactions=2)
PRESETS["tiny_3_threads"] = dict(PRESETS["tiny"], max_background_compactions=3)

KEYS = st.binary(min_size=0, max_size=3).map(lambda b: b"k" + b)
VALUES = st.binary(min_size=0, max_size=40)

Model = dict[bytes, bytes]
Snap = tuple[lsmkv.Snapshot, Model, int]


def model_scan(
    model: Model, start: bytes | None, end: bytes | None, prefix: bytes | None, reverse: bool
) -> list[tuple[bytes, bytes]]:
    items = sorted(
        (k, v)
        for k, v in model.items()
        if (start is None or k >= start)
        and (end is None or k < end)
        and (prefix is None or k.startswith(prefix))
    )
    return items[::-1] if reverse else items


class StoreMachine(RuleBasedStateMachine):
    preset = "tiny"
    snapshots = Bundle("snapshots")

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="lsmkv-model-")
        self.path = os.path.join(self.dir, "db")
        self.options = dict(PRESETS[self.preset])
        if self.preset == "traced":
            self.options["trace"] = TraceRecorder()
        self.db = lsmkv.open(self.path, sync=False, **self.options)
        self.model: Model = {}
        self.generation = 0  # bumped by reopen: older snapshots belong to a closed store

    def teardown(self) -> None:
        self.db.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ----------------------------------------------------------------- writes
    @rule(key=KEYS, value=VALUES)
    def put(self, key: bytes, value: bytes) -> None:
        self.db.put(key, value)
        self.model[key] = value

    @rule(key=KEYS)
    def delete(self, key: bytes) -> None:
        self.db.delete(key)
        self.model.pop(key, None)

    @rule(a=KEYS, b=KEYS)
    def delete_range(self, a: bytes, b: bytes) -> None:
        start, end = min(a, b), max(a, b)
        self.db.delete_range(start, end)
        for k in [k for k in self.model if start <= k < end]:
            del self.model[k]

    @rule(ops=st.lists(st.tuples(st.sampled_from("pdr"), KEYS, VALUES), max_size=8))
    def batch(self, ops: list[tuple[str, bytes, bytes]]) -> None:
        with self.db.batch() as b:
            for op, key, value in ops:
                if op == "p":
                    b.put(key, value)
                    self.model[key] = value
                elif op == "d":
                    b.delete(key)
                    self.model.pop(key, None)
                else:
                    end = b"k" + value[:2]
                    key, end = min(key, end), max(key, end)
                    b.delete_range(key, end)
                    for k in [k for k in self.model if key <= k < end]:
                        del self.model[k]

    # ------------------------------------------------------------------ reads
    @rule(key=KEYS)
    def get(self, key: bytes) -> None:
        assert self.db.get(key) == self.model.get(key)

    @rule(keys=st.lists(KEYS, max_size=5))
    def multi_get(self, keys: list[bytes]) -> None:
        assert self.db.multi_get(keys) == [self.model.get(k) for k in keys]

    @rule(
        start=st.none() | KEYS,
        end=st.none() | KEYS,
        prefix=st.none() | st.binary(max_size=2).map(lambda b: b"k" + b),
        reverse=st.booleans(),
        limit=st.none() | st.integers(0, 5),
    )
    def scan(
        self,
        start: bytes | None,
        end: bytes | None,
        prefix: bytes | None,
        reverse: bool,
        limit: int | None,
    ) -> None:
        got = list(self.db.scan(start, end, prefix=prefix, reverse=reverse, limit=limit))
        want = model_scan(self.model, start, end, prefix, reverse)
        assert got == (want if limit is None else want[:limit])

    @rule()
    def iterator_is_a_snapshot(self) -> None:
        it = self.db.scan()
        before = sorted(self.model.items())
        victim = min(self.model, default=b"k")
        self.db.put(b"k-new-during-iteration", b"x")
        self.db.delete(victim)
        assert list(it) == before
        self.model[b"k-new-during-iteration"] = b"x"
        self.model.pop(victim, None)

    # -------------------------------------------------------------- snapshots
    @rule(target=snapshots)
    def take_snapshot(self) -> Snap:
        return self.db.snapshot(), dict(self.model), self.generation

    @rule(snap=snapshots, key=KEYS)
    def snapshot_get(self, snap: Snap, key: bytes) -> None:
        snapshot, frozen, generation = snap
        if generation != self.generation:
            with pytest.raises(lsmkv.ClosedError):
                snapshot.get(key)
            return
        assert snapshot.get(key) == frozen.get(key)

    @rule(snap=snapshots, reverse=st.booleans())
    def snapshot_scan(self, snap: Snap, reverse: bool) -> None:
        snapshot, frozen, generation = snap
        if generation == self.generation:
            got = list(snapshot.scan(reverse=reverse))
            assert got == model_scan(frozen, None, None, None, reverse)

    @rule(snap=consumes(snapshots))
    def release_snapshot(self, snap: Snap) -> None:
        snap[0].release()

    # ------------------------------------------------------------ maintenance
    @rule()
    def flush(self) -> None:
        self.db.flush()

    @rule(a=st.none() | KEYS, b=st.none() | KEYS)
    def compact(self, a: bytes | None, b: bytes | None) -> None:
        if a is not None and b is not None and a > b:
            a, b = b, a
        self.db.compact(a, b)

    @rule()
    def reopen(self) -> None:
        self.db.close()
        self.db = lsmkv.open(self.path, sync=False, **self.options)
        self.generation += 1

    # ------------------------------------------------------------- invariants
    @invariant()
    def structures_are_sound(self) -> None:
        sv = self.db._sv
        sv.mem.check()
        for imm in sv.imms:
            imm.check()
        sv.version.check()
        assert self.db.stats()["background_error"] is None

    @invariant()
    def full_scan_matches(self) -> None:
        assert list(self.db.scan()) == sorted(self.model.items())


def _make_test(preset: str, share: float = 1.0) -> Any:
    """The Hypothesis test of `preset`, with `share` of the usual number of examples."""
    machine = type(f"StoreMachine_{preset}", (StoreMachine,), {"preset": preset})
    examples = int(os.environ.get("LSMKV_MODEL_EXAMPLES", "25"))
    machine.TestCase.settings = settings(
        max_examples=max(1, int(examples * share)),
        stateful_step_count=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    return machine.TestCase


TestTiny = _make_test("tiny")
# Half the examples each: together they cost about one more preset in CI time.
TestTiny2Threads = _make_test("tiny_2_threads", 0.5)
TestTiny3Threads = _make_test("tiny_3_threads", 0.5)
TestTinyZlibNoBloom = _make_test("tiny_zlib_no_bloom")
TestManualCompactionOnly = _make_test("manual_compaction_only")
TestTraced = _make_test("traced")
