"""The column memtable read beside its writer: a reader at a published seq sees exactly
the writes up to that seq (iter_latest, get, latest_columns), whatever the writer is
doing meanwhile (add and add_many, new keys and overwrites, deletes)."""

from __future__ import annotations

import random
import sys
import threading

from lsmkv.core.keys import KIND_DELETE, KIND_PUT
from lsmkv.memtable import Memtable


def _expected(
    log: list[tuple[int, int, bytes, bytes]], upto: int
) -> dict[bytes, tuple[int, int, bytes]]:
    state: dict[bytes, tuple[int, int, bytes]] = {}
    for seq, kind, key, value in log[:upto]:
        state[key] = (seq, kind, value)
    return state


def _op(rng: random.Random, seq: int) -> tuple[int, bytes, bytes]:
    if rng.random() < 0.2:
        return KIND_DELETE, b"9%d" % rng.randint(0, 40), b""
    return KIND_PUT, b"%d" % rng.randint(0, 400), b"v%d" % seq


def test_readers_see_exactly_the_published_writes() -> None:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        mem = Memtable(1)
        log: list[tuple[int, int, bytes, bytes]] = []
        published = [0]
        stop = threading.Event()
        errors: list[str] = []

        def writer() -> None:
            rng = random.Random(7)
            seq = 1
            while seq < 6000:
                if rng.random() < 0.5:
                    n = rng.randint(1, 8)
                    ops = [_op(rng, seq + i) for i in range(n)]
                    kinds = bytes(op[0] for op in ops)
                    mem.add_many(
                        seq,
                        [op[1] for op in ops],
                        [op[2] for op in ops],
                        None if kinds.count(KIND_PUT) == n else kinds,
                    )
                    for i, (kind, key, value) in enumerate(ops):
                        log.append((seq + i, kind, key, value))
                    seq += n
                else:
                    kind, key, value = _op(rng, seq)
                    mem.add(seq, kind, key, value)
                    log.append((seq, kind, key, value))
                    seq += 1
                published[0] = seq - 1
            stop.set()

        def reader() -> None:
            rng = random.Random(threading.get_ident())
            while not stop.is_set() and not errors:
                upto = published[0]
                got_iter = list(mem.iter_latest(upto))
                # Deletes touch only keys from b"9": below it the chunks are clean.
                cols = mem.latest_columns(upto, None, b"9", rng.random() < 0.5)
                chunks: list | None = []
                while not cols.done:
                    chunk = cols.take(rng.randint(1, 50))
                    if chunk is None:
                        chunks = None
                        break
                    chunks.append(chunk)
                want = _expected(log, upto)
                want_iter = [(k, -s, kind, v) for k, (s, kind, v) in sorted(want.items())]
                if got_iter != want_iter:
                    errors.append(f"iter_latest at {upto}: differs")
                if chunks is not None:
                    pairs = sorted(p for ks, vs in chunks for p in zip(ks, vs, strict=True))
                    want_pairs = [(k, v) for k, (s, kind, v) in sorted(want.items()) if k < b"9"]
                    if pairs != want_pairs:
                        errors.append(f"latest_columns at {upto}: differs")
                for key in (b"%d" % rng.randint(0, 400) for _ in range(20)):
                    e = mem.get(key, upto)
                    w = want.get(key)
                    if (e is None) != (w is None) or (
                        w is not None and e != (key, -w[0], w[1], w[2])
                    ):
                        errors.append(f"get {key!r} at {upto}: {e} != {w}")

        threads = [threading.Thread(target=writer)] + [
            threading.Thread(target=reader) for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[:5]
        mem.check()
    finally:
        sys.setswitchinterval(old)
