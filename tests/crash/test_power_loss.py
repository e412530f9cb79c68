"""Power loss: hundreds of crash images of a running store, in three modes, recovered and
checked; crashes during recovery; a second crash after a recovery.

A crash image is taken (FaultFS.crash_image) just before a random file operation of the
running store, from whichever thread does it: the writer (WAL appends and fsyncs, memtable
switches) or the background thread (flush, compaction, manifest updates, deletions). Each
image must recover to the state after some prefix of the ops that includes every op
acknowledged with sync=True before the image, and must pass verify.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

import lsmkv
from lsmkv.testing import FaultFS, MemFS

from .workload import (
    SMALL_STORE,
    Op,
    Workload,
    apply_op,
    campaign_scales,
    matching_prefix,
    read_all,
)

PATH = "/db"


class Campaign:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def check_image(
        self, image: MemFS, ops: list[Op], lo: int, hi: int, keys: int, what: str
    ) -> tuple[int, dict[bytes, bytes]]:
        """Recover `image`; its content must equal the model after n ops, lo <= n <= hi."""
        db = lsmkv.open(PATH, fs=image, **SMALL_STORE)
        try:
            found = read_all(db, keys)
        finally:
            db.close()
        n = matching_prefix(found, ops, lo, hi)
        if n is None:
            self.counts["mismatches"] += 1
            raise AssertionError(
                f"{what}: recovered state is not the state after any prefix of ops "
                f"[{lo}, {hi}] ({len(found)} keys)"
            )
        report = lsmkv.verify(PATH, fs=image)
        assert report.ok, f"{what}: verify after recovery: {report.problems}"
        return n, found


def run_workload(seed: int, mode: str, n_ops: int, campaign: Campaign) -> None:
    rng = random.Random(seed * 7919 + 1)
    fs = FaultFS(MemFS(), seed=seed)
    w = Workload(seed)
    phase = {"flush": 0, "compaction": 0}

    def listener(event: dict[str, Any]) -> None:
        name = event["event"] if "event" in event else event.get("type", "")
        for p in phase:
            if name == f"{p}.begin":
                phase[p] += 1
            elif name == f"{p}.end":
                phase[p] -= 1

    images: list[tuple[MemFS, int, int, str]] = []
    started = [0]

    def hook(op: str, path: str) -> None:
        if rng.random() < 0.025:
            lo = w.synced_floor
            image = fs.crash_image(mode, seed=rng.randrange(1 << 30))
            where = (
                "manifest"
                if "MANIFEST" in path or "CURRENT" in path
                else "compaction"
                if phase["compaction"] > 0
                else "flush"
                if phase["flush"] > 0
                else "wal"
                if path.endswith(".log")
                else op
            )
            images.append((image, lo, started[0], where))

    db = lsmkv.open(PATH, fs=fs, listeners=[listener], **SMALL_STORE)
    fs.hook = hook
    for i in range(n_ops):
        op, sync = w.next_op()
        started[0] = i + 1
        apply_op(db, op, sync)
        w.ack(i)
        if rng.random() < 0.01:
            db.flush()
    fs.hook = None
    db.close()
    for image, lo, hi, where in images:
        campaign.counts["images"] += 1
        campaign.counts[f"mode:{mode}"] += 1
        campaign.counts[f"during:{where}"] += 1
        campaign.check_image(image, w.ops, lo, hi, w.keys, f"seed {seed} {mode} {where}")
    # Crash during recovery, then recover again; and a second crash after a recovery
    # plus new writes.
    for image, lo, hi, _ in images[:: max(1, len(images) // 12)]:
        crash_during_recovery(image, w, lo, hi, mode, rng, campaign)
        double_crash(image, w, lo, hi, mode, rng, campaign)


def crash_during_recovery(
    image: MemFS, w: Workload, lo: int, hi: int, mode: str, rng: random.Random, c: Campaign
) -> None:
    fs = FaultFS(image.clone())
    second: list[MemFS] = []
    target = rng.randint(1, 25)
    seen = [0]

    def hook(op: str, path: str) -> None:
        seen[0] += 1
        if seen[0] == target:
            second.append(fs.crash_image(mode, seed=rng.randrange(1 << 30)))

    fs.hook = hook
    db = lsmkv.open(PATH, fs=fs, **SMALL_STORE)
    fs.hook = None
    db.close()
    if not second:
        return  # recovery did fewer operations than the chosen point
    c.counts["crashes_during_recovery"] += 1
    c.check_image(second[0], w.ops, lo, hi, w.keys, f"crash during recovery ({mode})")


def double_crash(
    image: MemFS, w: Workload, lo: int, hi: int, mode: str, rng: random.Random, c: Campaign
) -> None:
    fs = FaultFS(image.clone(), seed=rng.randrange(1 << 30))
    db = lsmkv.open(PATH, fs=fs, **SMALL_STORE)
    found = read_all(db, w.keys)
    n = matching_prefix(found, w.ops, lo, hi)
    assert n is not None
    # New ops after the first recovery: the model continues from the recovered prefix.
    ops = list(w.ops[:n])
    extra = Workload(rng.randrange(1 << 30), keys=w.keys)
    floor = len(ops)
    for _ in range(rng.randint(1, 30)):
        op, sync = extra.next_op()
        ops.append(op)
        apply_op(db, op, sync)
        if sync:
            floor = len(ops)
    fs.power_loss(mode, seed=rng.randrange(1 << 30))
    with pytest.raises(lsmkv.Error):
        db.get(b"key00000")
    c.counts["double_crashes"] += 1
    assert isinstance(fs.inner, MemFS)
    c.check_image(fs.inner, ops, floor, len(ops), w.keys, f"double crash ({mode})")


def run_campaign(scale: int) -> Counter[str]:
    """At least 2 * scale workloads per mode, and more until the mode has 100 * scale
    crash images: how many images a workload yields depends on how many file operations
    the background threads happened to do, so a fixed number of seeds would make the
    campaign's size (which the test asserts) a matter of timing."""
    campaign = Campaign()
    for mode in ("drop", "subset", "garbage"):
        s = 0
        while s < 2 * scale or (campaign.counts[f"mode:{mode}"] < 100 * scale and s < 6 * scale):
            run_workload(1000 * s + len(mode), mode, 500, campaign)
            s += 1
    return campaign.counts


@campaign_scales
def test_power_loss_campaign(scale: int) -> None:
    counts = run_campaign(scale)
    print(dict(counts))
    assert counts["mismatches"] == 0
    assert counts["images"] >= 300 * scale
    for mode in ("drop", "subset", "garbage"):
        assert counts[f"mode:{mode}"] >= 80 * scale, mode
    assert counts["during:flush"] >= 10 * scale
    assert counts["during:compaction"] >= 10 * scale
    assert counts["during:manifest"] >= 5 * scale
    assert counts["crashes_during_recovery"] >= 30 * scale
    assert counts["double_crashes"] >= 30 * scale
