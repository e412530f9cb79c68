"""Scenarios: short programs run on a real store with tracing on, for the replay page.

Each scenario opens a fresh store in a temporary directory with `trace=` a recorder,
runs its calls, and returns the events. Before each call it adds a `viz.call` marker
(not an engine event) naming the call, which the page shows above the caption.

- `explainer` (the default): several writes, two flushes, a delete, two reads and a
  compaction, as in the explainer that inspired lsmkv.
- `queue`: a durable FIFO queue on an LSM store: enqueue, then dequeue by reading the
  head and deleting it; tombstones pile up at the head until compaction drops them.
- `bulk`: a few thousand random writes, deletes and reads with background compaction,
  to show the replay of a real workload (layers drawn as counts when they grow large).
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import lsmkv

from .replay import CALL_EVENT


@dataclass
class Recording:
    """The events of one scenario run, and the store's `stats()` when it ended."""

    name: str
    title: str
    events: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    stats_at: int = 0  # how many events were recorded when `stats` was taken

    def engine_events(self) -> list[dict[str, Any]]:
        """The events the engine emitted (the scenario's call markers left out)."""
        return [e for e in self.events if e.get("event") != CALL_EVENT]


class _Traced:
    """The store under a scenario, writing a call marker before each call it makes."""

    def __init__(self, db: lsmkv.DB, events: list[dict[str, Any]]) -> None:
        self.db = db
        self.events = events

    def note(self, call: str) -> None:
        self.events.append({"event": CALL_EVENT, "call": call})

    def put(self, key: bytes, value: bytes, sync: bool = True) -> None:
        self.note(f"db.put({key!r}, {value!r}{'' if sync else ', sync=False'})")
        self.db.put(key, value, sync=sync)

    def delete(self, key: bytes, sync: bool = True) -> None:
        self.note(f"db.delete({key!r}{'' if sync else ', sync=False'})")
        self.db.delete(key, sync=sync)

    def get(self, key: bytes) -> bytes | None:
        self.note(f"db.get({key!r})")
        return self.db.get(key)

    def flush(self) -> None:
        self.note("db.flush()")
        self.db.flush()

    def compact(self) -> None:
        self.note("db.compact()")
        self.db.compact()


def _explainer(db: _Traced) -> None:
    db.put(b"apple", b"red")
    db.put(b"banana", b"yellow")
    db.put(b"cherry", b"dark red")
    db.flush()
    db.put(b"banana", b"green")
    db.delete(b"apple")  # the tombstone shadows 'red', which is on disk in the first table
    db.put(b"date", b"brown")
    db.flush()
    db.put(b"fig", b"purple")
    # cherry first: the newer table's block is not cached yet, so its bloom filter is
    # asked (and rules cherry out); after a read has cached it, a get searches the
    # cached block without the filter (read.lookup).
    db.get(b"cherry")
    db.get(b"apple")
    db.compact()


def _queue(db: _Traced) -> None:
    head = 0
    tail = 0
    for _ in range(4):
        for _ in range(3):
            tail += 1
            db.put(b"q/%04d" % tail, b"job %d" % tail)
        for _ in range(2):
            # Dequeue: find the head with a scan (it steps over the tombstones of earlier
            # dequeues), read it, delete it.
            db.note("db.scan(prefix=b'q/', limit=1)")
            found = next(iter(db.db.scan(prefix=b"q/", limit=1)), None)
            if found is None:
                break
            db.get(found[0])
            db.delete(found[0])
            head += 1
    db.get(b"q/0001")
    db.compact()
    db.get(b"q/0001")


def _bulk(db: _Traced) -> None:
    rng = random.Random(8)
    db.note("3,000 random puts, deletes and gets (sync=False) with background compaction")
    for n in range(3000):
        key = b"user:%04d" % rng.randrange(600)
        roll = rng.random()
        if roll < 0.70:
            db.db.put(key, b"v%d" % n, sync=False)
        elif roll < 0.85:
            db.db.delete(key, sync=False)
        else:
            db.db.get(key)
    db.compact()


@dataclass(frozen=True)
class Scenario:
    title: str
    run: Callable[[_Traced], None]
    options: dict[str, Any]


SCENARIOS: dict[str, Scenario] = {
    "explainer": Scenario(
        "Writes, a delete, two reads and a compaction",
        _explainer,
        # Flushes and the compaction happen where the program asks, so the story reads
        # the same on every run.
        {"background_compaction": False},
    ),
    "queue": Scenario(
        "A durable queue: tombstones pile up at the head",
        _queue,
        {"memtable_bytes": 1800, "background_compaction": False},
    ),
    "bulk": Scenario(
        "3,000 random operations with background compaction",
        _bulk,
        {
            "memtable_bytes": 24 * 1024,
            "level0_compaction_trigger": 4,
            "level1_bytes": 16 * 1024,
            "target_file_bytes": 2 * 1024,
        },
    ),
}


def record(name: str) -> Recording:
    """Run scenario `name` on a fresh store in a temporary directory, tracing it.

    Raises KeyError for an unknown name. Cost: the scenario's own work (the explainer
    takes a few milliseconds; `bulk` about a second).
    """
    scenario = SCENARIOS[name]
    rec = Recording(name=name, title=scenario.title)
    with (
        tempfile.TemporaryDirectory(prefix="lsmkv-viz-") as path,
        lsmkv.open(path, trace=rec.events.append, **scenario.options) as db,
    ):
        scenario.run(_Traced(db, rec.events))
        rec.stats_at = len(rec.events)
        rec.stats = db.stats()
    return rec
