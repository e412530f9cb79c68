"""One benchmark job in a process of its own: open an engine, run one workload, close.

A process per job gives every engine and workload a clean peak RSS and a clean count
of bytes written (`wchar` of /proc/self/io, which sums every thread's write calls,
background compaction included, and those of child processes once they are reaped:
lsmkv's flush and compaction workers, which the store reaps at close).

Peak RSS is `ru_maxrss` of this process plus, for an engine that runs helper
processes (lsmkv's flush and compaction workers), the sum of their peaks: each one's
VmHWM (its own high-water mark; `ru_maxrss` of a child would also count the parent's
pages at the moment it was forked), read every 20 ms while the engine closes, and
last just before it exits. The sum is an upper bound, as if they all peaked at once.

The runner starts `python -m lsmkv.bench.worker SPEC` and reads one JSON object from
its stdout.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from typing import Any

from .engines import ENGINES
from .workloads import WORKLOADS, Context, dir_bytes


def written_bytes() -> int | None:
    """Bytes this process has passed to write calls so far (None where unknown)."""
    try:
        with open("/proc/self/io") as f:
            for line in f:
                if line.startswith("wchar:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def high_water_mark(pid: int) -> int | None:
    """Peak resident bytes of process `pid` so far (VmHWM), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class HelperPeaks:
    """Watches helper processes until `stop`, keeping each one's last VmHWM seen."""

    def __init__(self, pids: list[int]) -> None:
        self._peaks = {pid: 0 for pid in pids}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._read()
        self._thread.start()

    def _read(self) -> None:
        for pid in self._peaks:
            hwm = high_water_mark(pid)
            if hwm is not None:
                self._peaks[pid] = max(self._peaks[pid], hwm)

    def _watch(self) -> None:
        while not self._done.wait(0.02):
            self._read()

    def stop(self) -> int:
        """The sum of the helpers' peaks."""
        self._done.set()
        self._thread.join()
        return sum(self._peaks.values())


def run_job(spec: dict[str, Any]) -> dict[str, Any]:
    ctx = Context(
        num=spec["num"], reads=spec["reads"], value_size=spec["value_size"], threads=spec["threads"]
    )
    func, _store = WORKLOADS[spec["workload"]]
    path = spec["path"]
    w0 = written_bytes()
    t_open = time.perf_counter()
    engine = ENGINES[spec["engine"]](path)
    open_seconds = time.perf_counter() - t_open
    try:
        result = func(engine, ctx)
    finally:
        helpers = engine.helper_pids()
        watch = HelperPeaks(helpers)
        engine.close()
        helper_peak = watch.stop()
    w1 = written_bytes()
    own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    user_bytes = result.ops * (16 + ctx.value_size)
    out: dict[str, Any] = {
        "engine": spec["engine"],
        "workload": spec["workload"],
        "ops": result.ops,
        "seconds": result.seconds,
        "us_per_op": result.seconds * 1e6 / result.ops if result.ops else 0.0,
        "ops_per_sec": result.ops / result.seconds if result.seconds else 0.0,
        "peak_rss_bytes": own_peak + helper_peak,
        "helper_processes": len(helpers),
        "helper_peak_rss_bytes": helper_peak,
        "disk_bytes": dir_bytes(path),
        "open_seconds": open_seconds,
        "bytes_written": None if w0 is None or w1 is None else w1 - w0,
        "write_amplification": None,
    }
    if spec["workload"].startswith("fill") and out["bytes_written"] is not None and user_bytes:
        out["write_amplification"] = out["bytes_written"] / user_bytes
    return out


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    print(json.dumps(run_job(spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
