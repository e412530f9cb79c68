"""kill -9 loop: a child process writes, flushes and compacts; the parent kills it with
SIGKILL at chosen points (inside a flush, a compaction, a recovery, or after a random
number of acknowledged writes), reopens the store and checks it.

A process crash loses nothing the operating system was given: every acknowledged write
(sync or not) must be there, and the op in flight is all there or not at all. Children
are forked (the test process has lsmkv imported already), which makes a kill round cost
milliseconds instead of an interpreter start.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import lsmkv

from .workload import (
    SMALL_STORE,
    Op,
    Workload,
    apply_op,
    campaign_scales,
    model_apply,
    read_all,
)

# Kill points inside background work (the child stops in the trace hook; the parent
# sees the line and kills it there).
IN_WORK = ("flush.begin", "flush.end", "compaction.begin", "compaction.end", "file.created")
ON_OPEN = ("recovery.wal_replayed",)
ON_WRITE = ("memtable.switch", "wal.fsync")


def child(path: str, seed: int, plan: tuple[str, int], n_ops: int, wfd: int) -> None:
    """The forked child: open (recover), then write; stop and wait at the planned event."""

    def emit(line: str) -> None:
        os.write(wfd, line.encode())

    seen: Counter[str] = Counter()
    event, nth = plan

    def listener(ev: dict[str, Any]) -> None:
        name = ev["event"]
        seen[name] += 1
        if name == event and seen[name] == nth:
            emit(f"K {name}\n")
            time.sleep(60)  # the parent kills us here

    db = lsmkv.open(path, listeners=[listener], **SMALL_STORE)
    emit("O\n")
    w = Workload(seed)
    for i in range(n_ops):
        op, sync = w.next_op()
        emit(f"S {i}\n")
        apply_op(db, op, sync)
        emit(f"A {i}\n")
        if i % 25 == 24:
            db.flush()
    emit("D\n")
    time.sleep(60)


def run_round(
    path: str, seed: int, plan: tuple[str, int], kill_after: int, n_ops: int
) -> dict[str, Any]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            os.close(r)
            child(path, seed, plan, n_ops, w)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    started = acked = 0
    killed_at = "end"
    with os.fdopen(r, "rb") as pipe:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = pipe.readline().decode()
            if not line:
                killed_at = "child exited"
                break
            tag, _, rest = line.strip().partition(" ")
            if tag == "S":
                started = int(rest) + 1
            elif tag == "A":
                acked = int(rest) + 1
                if acked == kill_after:
                    killed_at = "random"
                    break
            elif tag == "K":
                killed_at = rest
                break
            elif tag == "D":
                break
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        # The child ran on until the signal landed: count what else it started or
        # finished (an ack seen only now still counts: it was acknowledged).
        for line in pipe.read().decode().splitlines():
            tag, _, rest = line.partition(" ")
            if tag == "S":
                started = int(rest) + 1
            elif tag == "A":
                acked = int(rest) + 1
    assert killed_at != "child exited", "the child died by itself (an exception?)"
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    return {"started": started, "acked": acked, "killed_at": killed_at}


def match_from(
    base: dict[bytes, bytes], ops: list[Op], found: dict[bytes, bytes], lo: int, hi: int
) -> int | None:
    state = dict(base)
    for op in ops[:lo]:
        model_apply(state, op)
    n = lo
    while True:
        if state == found:
            return n
        if n >= hi:
            return None
        model_apply(state, ops[n])
        n += 1


def kill_loop(tmp: Path, rounds: int) -> Counter[str]:
    path = str(tmp / "db")
    rng = random.Random(99)
    counts: Counter[str] = Counter()
    truth: dict[bytes, bytes] = {}
    lsmkv.open(path, **SMALL_STORE).close()
    for rnd in range(rounds):
        seed = 1000 + rnd
        r = rng.random()
        n_ops = 120
        if r < 0.12:
            plan = (rng.choice(ON_OPEN), 1)
        elif r < 0.55:
            plan = (rng.choice(IN_WORK), rng.randint(1, 4))
        elif r < 0.7:
            plan = (rng.choice(ON_WRITE), rng.randint(1, 30))
        else:
            plan = ("none", 0)
        kill_after = rng.randint(1, n_ops) if plan[0] == "none" else -1
        result = run_round(path, seed, plan, kill_after, n_ops)
        where = result["killed_at"]
        counts["kills"] += 1
        if where in IN_WORK:
            counts["kills_in_flush_or_compaction"] += 1
        elif where in ON_OPEN:
            counts["kills_in_recovery"] += 1
        counts[f"killed_at:{where}"] += 1
        counts["acked_writes"] += result["acked"]
        # Check: every acknowledged write is there; the one in flight all or nothing.
        w = Workload(seed)
        ops = [w.next_op()[0] for _ in range(result["started"])]
        with lsmkv.open(path, **SMALL_STORE) as db:
            found = read_all(db, w.keys)
        n = match_from(truth, ops, found, result["acked"], result["started"])
        if n is None:
            counts["mismatches"] += 1
            raise AssertionError(
                f"round {rnd} (killed at {where}): the store is not the state after "
                f"{result['acked']}..{result['started']} ops of the round"
            )
        truth = found
        if rnd % 10 == 9:
            report = lsmkv.verify(path)
            assert report.ok, report.problems
            counts["verified"] += 1
    return counts


@campaign_scales
@pytest.mark.timeout(900)
def test_kill9_loop(tmp_path: Path, scale: int) -> None:
    counts = kill_loop(tmp_path, 60 * scale)
    print(dict(counts))
    assert counts["mismatches"] == 0
    assert counts["kills"] >= 50 * scale
    assert counts["kills_in_flush_or_compaction"] >= 10 * scale
    assert counts["kills_in_recovery"] >= 5 * scale
    assert counts["acked_writes"] >= 2000 * scale
