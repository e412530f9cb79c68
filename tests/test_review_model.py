"""Review model test: a single writer with background flush and compaction threads,
and a reader thread checking snapshot gets, multi_gets and scans (forward, reverse,
with limits) against a dict model of each snapshot's point in time. Keys mix widths
(including the empty key and keys that are prefixes of others) or share one width
from a tiny alphabet (the `bytes.find` block search); long scans reach the clean
path's read-ahead. Iterators opened before flushes and compactions are read after."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest

import lsmkv

ALPHABET = b"ab\x00"
STEPS = 1000


def _key(rng: random.Random, fixed: Any) -> bytes:
    if fixed == "wide":
        return b"%04d" % rng.randint(0, 2999)
    n = 3 if fixed else rng.randint(0, 4)
    return bytes(rng.choice(ALPHABET) for _ in range(n))


def _value(rng: random.Random, fixed: bool) -> bytes:
    if fixed:
        return b"v%03d" % rng.randint(0, 999)
    return b"x" * rng.randint(0, 3)


def _expected(model: dict[bytes, bytes], start: Any, end: Any, reverse: bool, limit: Any) -> list:
    items = sorted(
        (k, v)
        for k, v in model.items()
        if (start is None or k >= start) and (end is None or k < end)
    )
    if reverse:
        items.reverse()
    return items if limit is None else items[:limit]


@pytest.mark.parametrize("seed", range(6))
def test_model_with_background_threads(tmp_path: Any, seed: int) -> None:
    rng = random.Random(seed)
    fixed: Any = [True, False, "wide"][seed % 3]
    db = lsmkv.open(
        tmp_path / "db",
        memtable_bytes=3000,
        block_size_bytes=128,
        level1_bytes=8192,
        level_size_multiplier=2,
        target_file_bytes=2048,
        level0_compaction_trigger=2,
        max_background_compactions=2,
        block_cache_bytes=[4000, 32 << 20][seed // 3 % 2],
        sync=False,
    )
    model: dict[bytes, bytes] = {}
    snaps: list[tuple[Any, dict[bytes, bytes]]] = []
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[str] = []

    def check(snap: Any, state: dict[bytes, bytes], r: random.Random) -> None:
        start = _key(r, fixed) if r.random() < 0.5 else None
        end = _key(r, fixed) if r.random() < 0.5 else None
        reverse = r.random() < 0.5
        limit = r.choice([None, None, 1, 2, 5, 70, 300])
        got = list(snap.scan(start=start, end=end, reverse=reverse, limit=limit))
        want = _expected(state, start, end, reverse, limit)
        if start is not None and end is not None and start >= end:
            want = []
        if got != want:
            errors.append(
                f"scan {start!r} {end!r} rev={reverse} lim={limit}: {got[:8]} != {want[:8]}"
            )
        keys = [_key(r, fixed) for _ in range(r.randint(1, 12))]
        mg = snap.multi_get(keys)
        if mg != [state.get(k) for k in keys]:
            errors.append(f"multi_get {keys!r}: {mg} != {[state.get(k) for k in keys]}")
        for k in keys[:3]:
            if snap.get(k) != state.get(k):
                errors.append(f"get {k!r}: {snap.get(k)!r} != {state.get(k)!r}")

    def reader() -> None:
        r = random.Random(seed + 1000)
        while not stop.is_set() and not errors:
            with lock:
                if not snaps:
                    continue
                snap, state = r.choice(snaps)
            try:
                check(snap, state, r)
                time.sleep(0.001)  # leave the writer and background threads room
            except Exception as e:  # a crash in the reader is a failure too
                errors.append(f"reader raised {e!r}")

    t = threading.Thread(target=reader)
    t.start()
    held: list[tuple[Any, list]] = []
    try:
        for step in range(STEPS):
            if errors:
                break
            op = rng.random()
            if op < 0.6:
                k, v = _key(rng, fixed), _value(rng, fixed)
                db.put(k, v)
                model[k] = v
            elif op < 0.75:
                k = _key(rng, fixed)
                db.delete(k)
                model.pop(k, None)
            elif op < 0.78:
                a, b = sorted((_key(rng, fixed), _key(rng, fixed)))
                if a < b:
                    db.delete_range(a, b)
                    for k in [k for k in model if a <= k < b]:
                        del model[k]
            elif op < 0.8:
                with lock:
                    snaps.append((db.snapshot(), dict(model)))
            elif op < 0.81:
                reverse = rng.random() < 0.5
                held.append((db.scan(reverse=reverse), _expected(model, None, None, reverse, None)))
            elif op < 0.812:
                db.flush()
            elif op < 0.813:
                db.compact()
            if step % 50 == 0:
                with lock:
                    snap_state = (db.snapshot(), dict(model))
                check(snap_state[0], snap_state[1], rng)
                snap_state[0].release()
        for it, want in held:
            got = list(it)
            if got != want:
                errors.append(f"held iterator: {got[:8]} != {want[:8]}")
    finally:
        stop.set()
        t.join()
        with lock:
            for s, _ in snaps:
                s.release()
        db.close()
    assert not errors, errors[:5]
