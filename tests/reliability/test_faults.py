"""Injected I/O errors at run time: every (operation x errno) pair, in every phase.

Each scenario arms one fault (EIO or ENOSPC on one operation kind, after a random number
of operations, once or until cleared), runs a workload of writes, flushes, compactions
and reopens, and checks the rules of shared/api.md:

- every error reaching the caller is an `lsmkv.Error` (never a bare OSError);
- after a failed write, the store refuses writes until reopened, and reads still work;
- a failed flush/compaction shows in stats()["background_error"] and fails the next write;
- once the fault is cleared and the store reopened, every acknowledged write is there
  (after a power loss instead: every write acknowledged with sync=True).
"""

from __future__ import annotations

import errno
import random
import threading
from collections import Counter

import pytest

import lsmkv
from crash.workload import (
    SMALL_STORE,
    Workload,
    apply_op,
    campaign_scales,
    key_of,
    matching_prefix,
    read_all,
)
from lsmkv.testing import OPERATIONS, FaultFS, MemFS

PATH = "/db"
ERRNOS = (errno.EIO, errno.ENOSPC)
# How many operations of each kind a round does, roughly: the fault fires within them.
MAX_AFTER = {
    "open": 25,
    "read": 40,
    "write": 80,
    "fsync": 50,
    "rename": 3,
    "remove": 8,
    "mkdir": 1,
    "listdir": 4,
}


class Tally:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.pairs: set[tuple[str, int]] = set()
        self.phases: Counter[str] = Counter()


def scenario(seed: int, op: str, err: int, tally: Tally) -> None:
    rng = random.Random(seed)
    fs = FaultFS(MemFS(), seed=seed)
    w = Workload(seed, keys=60)
    state = {"action": "open"}
    fired: list[str] = []

    def on_fault(o: str, e: int, path: str) -> None:
        if "MANIFEST" in path or "CURRENT" in path:
            phase = "manifest"
        elif state["action"] == "open":
            phase = "open"
        elif threading.current_thread().name.startswith("lsmkv-flush"):
            phase = "flush"
        elif threading.current_thread().name.startswith("lsmkv-compaction"):
            phase = "compaction"
        elif state["action"] in ("flush", "compact"):
            phase = "flush" if state["action"] == "flush" else "compaction"
        else:
            phase = "write"
        fired.append(phase)
        tally.pairs.add((o, e))
        tally.phases[phase] += 1

    fs.on_fault = on_fault
    # One to three compaction threads, so faults also hit jobs running side by side.
    opts = dict(SMALL_STORE, max_background_compactions=1 + seed % 3)
    db: lsmkv.DB | None = None
    started = 0
    for _round in range(3):
        sticky = rng.random() < 0.3
        fired.clear()
        if db is None and (op == "mkdir" or rng.random() < 0.3):
            # Armed before the open: the fault hits creation or recovery.
            fs.inject(op, err, after=rng.randrange(0, 1 + MAX_AFTER[op] // 4), times=1)
        failed = False
        try:
            if db is None:
                state["action"] = "open"
                db = lsmkv.open(PATH, fs=fs, **opts)
            if not fired:
                fs.inject(
                    op, err, after=rng.randrange(0, MAX_AFTER[op]), times=None if sticky else 1
                )
            for _ in range(rng.randint(30, 90)):
                r = rng.random()
                if r < 0.04:
                    state["action"] = "flush"
                    db.flush()
                elif r < 0.06:
                    state["action"] = "compact"
                    db.compact()
                elif r < 0.08:
                    state["action"] = "read"
                    read_all(db, w.keys)
                elif r < 0.1:
                    state["action"] = "open"
                    db.close()
                    db = None
                    db = lsmkv.open(PATH, fs=fs, **opts)
                else:
                    state["action"] = "write"
                    o, sync = w.next_op()
                    started = len(w.ops)
                    apply_op(db, o, sync)
                    w.ack(len(w.ops) - 1)
        except lsmkv.Error as e:
            # Anything else (a bare OSError, an assertion) fails the test right here.
            tally.counts["errors_raised"] += 1
            if isinstance(e, lsmkv.DiskError):
                assert e.errno in ERRNOS, e
            failed = True
        if failed and db is not None and refuses_writes(db, tally) and sticky:
            # Keep trying while the fault persists: more errors must not make it worse.
            for _ in range(3):
                with pytest.raises(lsmkv.Error):
                    db.put(b"after", b"failure")
                tally.counts["errors_raised"] += 1
        fs.clear()
        power = rng.random() < 0.3
        if db is not None:
            if power:
                fs.power_loss("drop", seed=seed)
            else:
                db.close()
        lo = w.synced_floor if power else w.acked
        state["action"] = "open"
        db = lsmkv.open(PATH, fs=fs, **SMALL_STORE)
        found = read_all(db, w.keys)
        db.close()
        db = None
        n = matching_prefix(found, w.ops, lo, started)
        assert n is not None, (
            f"after {op}/{errno.errorcode[err]} (fired in {fired}), the reopened store is "
            f"not the state after any prefix in [{lo}, {started}]"
        )
        # What is in the store now is the truth the next round builds on.
        del w.ops[n:]
        del w.syncs[n:]
        w.acked = w.synced_floor = started = n
        report = lsmkv.verify(PATH, fs=fs)
        assert report.ok, report.problems
        tally.counts["rounds"] += 1
        if fired:
            tally.counts["rounds_with_fault"] += 1
        tally.counts["faults"] += len(fired)


def refuses_writes(db: lsmkv.DB, tally: Tally) -> bool:
    """After an error the store is either fine (a failed read) or refuses writes."""
    stats = db.stats()
    if stats["write_error"] is None and stats["background_error"] is None:
        return False
    if stats["background_error"] is not None:
        tally.counts["background_errors_reported"] += 1
    with pytest.raises(lsmkv.Error):
        db.put(b"refused", b"x")
    tally.counts["writes_refused"] += 1
    # Reads still work (unless the injected fault is on reads themselves).
    try:
        db.get(key_of(0))
        tally.counts["reads_after_error"] += 1
    except lsmkv.Error:
        pass
    return True


def run_faults(scale: int) -> Tally:
    tally = Tally()
    seed = 0
    for _ in range(3 * scale):
        for op in OPERATIONS:
            for err in ERRNOS:
                for _ in range(3):
                    seed += 1
                    scenario(seed, op, err, tally)
    return tally


@campaign_scales
def test_injected_faults(scale: int) -> None:
    tally = run_faults(scale)
    print(dict(tally.counts), dict(tally.phases))
    assert tally.counts["faults"] >= 300 * scale
    assert tally.pairs == {(op, err) for op in OPERATIONS for err in ERRNOS}
    for phase in ("write", "flush", "compaction", "manifest", "open"):
        assert tally.phases[phase] >= 3 * scale, phase
    assert tally.counts["writes_refused"] >= 20 * scale
    # A store that refuses writes still serves reads (docs/durability.md).
    assert tally.counts["reads_after_error"] >= 50 * scale
    assert tally.counts["background_errors_reported"] >= 5 * scale
