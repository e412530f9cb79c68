"""The workloads, under db_bench's names, each a function of an open engine.

Keys are 16 bytes (`b"%016d" % i`, i in [0, num)); values are `value_size` random bytes
(one of 1,024 distinct values, so every engine stores the same incompressible data).
"Random" order is a fixed permutation of [0, num) (i -> (a*i + c) mod num with a prime
to num), so each random workload touches every key once, in the same order for every
engine, and costs no memory. A missing key is a real key with "." appended (17 bytes,
as db_bench's readmissing does): it sorts right after that key, inside every table's
key range, so only a bloom filter (not a key-range check) can rule it out.

Only the calls into the engine are timed: keys and values are built in chunks of
`CHUNK` outside the timed loops, as db_bench builds keys outside its measurements.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .engines import Engine

CHUNK = 10_000
BATCH_SIZE = 1_000  # puts per batch in fillbatch (db_bench's entries_per_batch default)
MULTI_GET_SIZE = 100  # keys per multi_get in multireadrandom
SEEK_NEXTS = 10  # entries read after each seek in seekrandom (db_bench's seek_nexts)


@dataclass
class Context:
    num: int  # keys in the key space (and in the store after a fill)
    reads: int  # operations of the read workloads
    value_size: int
    threads: int
    seed: int = 301

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        self.values = [rng.randbytes(self.value_size) for _ in range(1024)]

    def permutation(self, salt: int) -> Callable[[int], int]:
        """A bijection on [0, num): i -> (a*i + c) mod num."""
        n = max(1, self.num)
        rng = random.Random(self.seed * 1_000_003 + salt)
        a = rng.randrange(n // 3 + 1, n) if n > 2 else 1
        while math.gcd(a, n) != 1:
            a += 1
        c = rng.randrange(n)
        return lambda i: (a * i + c) % n


def key_of(i: int) -> bytes:
    return b"%016d" % i


def missing_key_of(i: int) -> bytes:
    return b"%016d." % i


@dataclass
class Result:
    ops: int
    seconds: float


def _chunks(ops: int) -> list[range]:
    return [range(s, min(ops, s + CHUNK)) for s in range(0, ops, CHUNK)]


def _fill(engine: Engine, ctx: Context, order: Callable[[int], int] | None, sync: bool) -> Result:
    put = engine.put_fn(sync)
    values = ctx.values
    ops = ctx.num
    total = 0.0
    for part in _chunks(ops):
        keys = [key_of(order(i) if order else i) for i in part]
        vals = [values[i & 1023] for i in part]
        t0 = time.perf_counter()
        for k, v in zip(keys, vals, strict=True):
            put(k, v)
        total += time.perf_counter() - t0
    return Result(ops, total)


def fillseq(engine: Engine, ctx: Context) -> Result:
    return _fill(engine, ctx, None, False)


def fillrandom(engine: Engine, ctx: Context) -> Result:
    return _fill(engine, ctx, ctx.permutation(1), False)


def overwrite(engine: Engine, ctx: Context) -> Result:
    return _fill(engine, ctx, ctx.permutation(2), False)


def fillbatch(engine: Engine, ctx: Context) -> Result:
    values = ctx.values
    total = 0.0
    for part in _chunks(ctx.num):
        pairs = [(key_of(i), values[i & 1023]) for i in part]
        batches = [pairs[s : s + BATCH_SIZE] for s in range(0, len(pairs), BATCH_SIZE)]
        write = engine.write_batch
        t0 = time.perf_counter()
        for batch in batches:
            write(batch)
        total += time.perf_counter() - t0
    return Result(ctx.num, total)


def sync_ops(ctx: Context) -> int:
    """fsync'd puts in the fillsync workloads: num/100 (at least 64), since each
    costs a disk flush (~0.3 ms here) rather than microseconds."""
    return max(64, ctx.num // 100)


def _fillsync_threads(engine: Engine, ctx: Context, threads: int) -> Result:
    ops = sync_ops(ctx)
    per = [ops // threads + (1 if t < ops % threads else 0) for t in range(threads)]
    order = ctx.permutation(3)
    values = ctx.values
    keys = [[key_of(order(t + threads * i)) for i in range(per[t])] for t in range(threads)]
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def run(t: int) -> None:
        put = engine.put_fn(True)
        barrier.wait()
        try:
            for i, k in enumerate(keys[t]):
                put(k, values[i & 1023])
        except BaseException as e:
            errors.append(e)

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    t0 = time.perf_counter()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return Result(ops, seconds)


def fillsync(engine: Engine, ctx: Context) -> Result:
    return _fillsync_threads(engine, ctx, 1)


def fillsync4(engine: Engine, ctx: Context) -> Result:
    return _fillsync_threads(engine, ctx, 4)


def fillsync8(engine: Engine, ctx: Context) -> Result:
    return _fillsync_threads(engine, ctx, 8)


def _read(engine: Engine, ctx: Context, make_key: Callable[[int], bytes], salt: int) -> Result:
    get = engine.get_fn()
    order = ctx.permutation(salt)
    ops = ctx.reads
    total = 0.0
    found = 0
    for part in _chunks(ops):
        keys = [make_key(order(i % ctx.num)) for i in part]
        t0 = time.perf_counter()
        for k in keys:
            if get(k) is not None:
                found += 1
        total += time.perf_counter() - t0
    _expect(found, ops if make_key is key_of else 0, "found")
    return Result(ops, total)


def _expect(got: int, want: int, what: str) -> None:
    # A benchmark that silently measures the wrong thing is worse than none: a read
    # workload that does not find what the fill wrote fails loudly.
    if got != want:
        raise RuntimeError(f"workload check failed: {what} {got}, expected {want}")


def readrandom(engine: Engine, ctx: Context) -> Result:
    return _read(engine, ctx, key_of, 4)


def readmissing(engine: Engine, ctx: Context) -> Result:
    return _read(engine, ctx, missing_key_of, 5)


def _readscan(engine: Engine, ctx: Context, reverse: bool) -> Result:
    t0 = time.perf_counter()
    n = 0
    for _ in engine.scan(reverse):
        n += 1
    seconds = time.perf_counter() - t0
    _expect(n, ctx.num, "entries scanned")
    return Result(n, seconds)


def readseq(engine: Engine, ctx: Context) -> Result:
    return _readscan(engine, ctx, False)


def readreverse(engine: Engine, ctx: Context) -> Result:
    return _readscan(engine, ctx, True)


def seek_ops(ctx: Context) -> int:
    """Seeks in seekrandom: reads/10 (each reads SEEK_NEXTS + 1 entries)."""
    return max(1, ctx.reads // 10)


def seekrandom(engine: Engine, ctx: Context) -> Result:
    seek = engine.seek
    order = ctx.permutation(6)
    ops = seek_ops(ctx)
    total = 0.0
    got = 0
    for part in _chunks(ops):
        keys = [key_of(order(i % ctx.num)) for i in part]
        t0 = time.perf_counter()
        for k in keys:
            got += seek(k, SEEK_NEXTS + 1)
        total += time.perf_counter() - t0
    if got < ops:  # every seek lands on an existing key, so reads at least one entry
        raise RuntimeError(f"workload check failed: {got} entries from {ops} seeks")
    return Result(ops, total)


def multireadrandom(engine: Engine, ctx: Context) -> Result:
    multi_get = engine.multi_get
    order = ctx.permutation(7)
    ops = ctx.reads
    total = 0.0
    found = 0
    for part in _chunks(ops):
        keys = [key_of(order(i % ctx.num)) for i in part]
        groups = [keys[s : s + MULTI_GET_SIZE] for s in range(0, len(keys), MULTI_GET_SIZE)]
        t0 = time.perf_counter()
        for g in groups:
            for v in multi_get(g):
                if v is not None:
                    found += 1
        total += time.perf_counter() - t0
    _expect(found, ops, "found")
    return Result(ops, total)


def deleterandom(engine: Engine, ctx: Context) -> Result:
    delete = engine.delete_fn()
    order = ctx.permutation(8)
    total = 0.0
    for part in _chunks(ctx.num):
        keys = [key_of(order(i)) for i in part]
        t0 = time.perf_counter()
        for k in keys:
            delete(k)
        total += time.perf_counter() - t0
    return Result(ctx.num, total)


def readwhilewriting(engine: Engine, ctx: Context) -> Result:
    """`threads` readers do readrandom while one writer overwrites random keys without
    pause; the figure is the readers' throughput (as db_bench reports it)."""
    stop = threading.Event()
    errors: list[BaseException] = []
    values = ctx.values
    order = ctx.permutation(9)
    writes = [0]

    def writer() -> None:
        put = engine.put_fn(False)
        i = 0
        try:
            while not stop.is_set():
                for j in range(i, i + 100):
                    put(key_of(order(j % ctx.num)), values[j & 1023])
                i += 100
        except BaseException as e:
            errors.append(e)
        writes[0] = i

    threads = max(1, ctx.threads)
    per = max(1, ctx.reads // threads)
    barrier = threading.Barrier(threads + 1)
    times = [0.0] * threads

    def reader(t: int) -> None:
        get = engine.get_fn()
        rorder = ctx.permutation(10 + t)
        barrier.wait()
        try:
            for part in _chunks(per):
                keys = [key_of(rorder(i % ctx.num)) for i in part]
                t0 = time.perf_counter()
                for k in keys:
                    get(k)
                times[t] += time.perf_counter() - t0
        except BaseException as e:
            errors.append(e)

    w = threading.Thread(target=writer)
    readers = [threading.Thread(target=reader, args=(t,)) for t in range(threads)]
    w.start()
    for r in readers:
        r.start()
    barrier.wait()
    for r in readers:
        r.join()
    stop.set()
    w.join()
    if errors:
        raise errors[0]
    # Readers run side by side: the run took as long as the slowest of them.
    return Result(per * threads, max(times))


Workload = Callable[[Engine, Context], Result]

# name -> (function, store it runs on). "fresh": an empty store of its own;
# "base": the store fillrandom built (reads and updates run on it, in this order).
WORKLOADS: dict[str, tuple[Workload, str]] = {
    "fillseq": (fillseq, "fresh"),
    "fillrandom": (fillrandom, "base"),
    "fillbatch": (fillbatch, "fresh"),
    "fillsync": (fillsync, "fresh"),
    "fillsync4": (fillsync4, "fresh"),
    "fillsync8": (fillsync8, "fresh"),
    "readrandom": (readrandom, "base"),
    "readmissing": (readmissing, "base"),
    "readseq": (readseq, "base"),
    "readreverse": (readreverse, "base"),
    "seekrandom": (seekrandom, "base"),
    "multireadrandom": (multireadrandom, "base"),
    "readwhilewriting": (readwhilewriting, "base"),
    "overwrite": (overwrite, "base"),
    "deleterandom": (deleterandom, "base"),
}
DEFAULT_ORDER = tuple(WORKLOADS)
# Workloads that change the base store: run after every read-only one.
MUTATING = ("readwhilewriting", "overwrite", "deleterandom")
# What one "op" is, where it is not one call of the named verb.
OP_NOTES = {
    "fillbatch": f"one put inside a batch of {BATCH_SIZE}",
    "multireadrandom": f"one key of a multi_get of {MULTI_GET_SIZE}",
    "seekrandom": f"one seek + {SEEK_NEXTS} nexts",
    "readseq": "one entry",
    "readreverse": "one entry",
    "fillsync4": "one fsync'd put, 4 threads",
    "fillsync8": "one fsync'd put, 8 threads",
    "readwhilewriting": "one get, while 1 thread writes",
}


def dir_bytes(path: str) -> int:
    """Bytes of every file under `path` (apparent sizes)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total
