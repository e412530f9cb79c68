"""`lsmkv bench`: run the workloads against every installed engine, side by side.

For each workload the engines run one after another (the first engine rotates from
workload to workload), each job in a process of its own (worker.py) and each engine in
a directory of its own, so the machine's noise falls on all engines alike and the
ratios stay meaningful even when the absolute figures wander.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

from .engines import ENGINE_ORDER, ENGINES, available
from .report import render_table, summarise
from .workloads import DEFAULT_ORDER, MUTATING, WORKLOADS

_PACKAGES = {"lsmkv": "lsmkv", "rocksdb": "rocksdict", "leveldb": "plyvel", "sqlite": None}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lsmkv bench",
        description="db_bench-style workloads against lsmkv and the installed peers "
        "(rocksdict, plyvel, sqlite3), side by side in one run.",
    )
    p.add_argument("--num", type=int, default=1_000_000, help="keys written by a fill")
    p.add_argument(
        "--reads", type=int, default=None, help="operations of the read workloads (default: num)"
    )
    p.add_argument("--value-size", type=int, default=100, help="value bytes (keys are 16)")
    p.add_argument("--threads", type=int, default=1, help="reader threads in readwhilewriting")
    p.add_argument(
        "--engines",
        default=",".join(ENGINE_ORDER),
        help="comma-separated engines among lsmkv,rocksdb,leveldb,sqlite "
        "(those not installed are skipped)",
    )
    p.add_argument(
        "--benchmarks", default=",".join(DEFAULT_ORDER), help="comma-separated workloads"
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--dir", default=None, help="where the stores go (default: a temp dir)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per job")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _plan(benchmarks: list[str]) -> list[str]:
    """The workloads in run order: fills first, then reads, then what changes the base."""
    fills = [b for b in benchmarks if WORKLOADS[b][1] == "fresh" or b == "fillrandom"]
    reads = [b for b in benchmarks if WORKLOADS[b][1] == "base" and b != "fillrandom"]
    reads.sort(key=lambda b: MUTATING.index(b) + 1 if b in MUTATING else 0)
    return fills + reads


def _version(engine: str) -> str:
    package = _PACKAGES[engine]
    if package is None:
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.done = 0
        self.enabled = enabled and sys.stderr.isatty()
        self.t0 = time.monotonic()

    def show(self, what: str) -> None:
        if not self.enabled:
            return
        width = 30
        filled = width * self.done // max(1, self.total)
        elapsed = time.monotonic() - self.t0
        bar = "#" * filled + "-" * (width - filled)
        line = f"\r[{bar}] {self.done}/{self.total} {elapsed:6.0f}s  {what}"
        sys.stderr.write(line[:120].ljust(120))
        sys.stderr.flush()

    def step(self, what: str) -> None:
        self.done += 1
        self.show(what)

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 120 + "\r")
            sys.stderr.flush()


def _run_job(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "lsmkv.bench.worker", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"engine": spec["engine"], "workload": spec["workload"], "error": "timed out"}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return {"engine": spec["engine"], "workload": spec["workload"], "error": tail}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    wanted = [e.strip() for e in args.engines.split(",") if e.strip()]
    for e in wanted:
        if e not in ENGINES:
            raise SystemExit(f"lsmkv bench: unknown engine {e!r} (known: {', '.join(ENGINES)})")
    engines = [e for e in wanted if available(e)]
    skipped = [e for e in wanted if e not in engines]
    benchmarks = [b.strip() for b in args.benchmarks.split(",") if b.strip()]
    for b in benchmarks:
        if b not in WORKLOADS:
            known = ", ".join(WORKLOADS)
            raise SystemExit(f"lsmkv bench: unknown benchmark {b!r} (known: {known})")
    plan = _plan(benchmarks)
    needs_base = any(WORKLOADS[b][1] == "base" for b in plan)
    setup = needs_base and "fillrandom" not in plan
    reads = args.num if args.reads is None else args.reads
    base_spec = {"num": args.num, "reads": reads, "value_size": args.value_size}
    base_spec["threads"] = args.threads
    root = args.dir or tempfile.mkdtemp(prefix="lsmkv-bench-")
    os.makedirs(root, exist_ok=True)
    jobs = len(plan) * len(engines) + (len(engines) if setup else 0)
    progress = Progress(jobs, not args.no_progress)
    results: list[dict[str, Any]] = []
    t0 = time.monotonic()
    try:
        if setup:
            for engine in engines:
                progress.show(f"fillrandom (setup) {engine}")
                spec = {**base_spec, "engine": engine, "workload": "fillrandom"}
                spec["path"] = os.path.join(root, f"{engine}-base")
                r = _run_job(spec, args.timeout)
                r["setup"] = True
                results.append(r)
                progress.step(f"fillrandom (setup) {engine}")
        for n, workload in enumerate(plan):
            turn = engines[n % len(engines) :] + engines[: n % len(engines)] if engines else []
            for engine in turn:
                progress.show(f"{workload} {engine}")
                fresh = WORKLOADS[workload][1] == "fresh"
                path = os.path.join(root, f"{engine}-{workload}" if fresh else f"{engine}-base")
                spec = {**base_spec, "engine": engine, "workload": workload, "path": path}
                results.append(_run_job(spec, args.timeout))
                if fresh:
                    shutil.rmtree(path, ignore_errors=True)
                progress.step(f"{workload} {engine}")
    finally:
        progress.close()
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)
    return {
        "config": {
            "num": args.num,
            "reads": reads,
            "key_size": 16,
            "value_size": args.value_size,
            "threads": args.threads,
            "benchmarks": plan,
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "seconds": round(time.monotonic() - t0, 1),
        },
        "engines": {
            e: {
                "binding": ENGINES[e].binding,
                "version": _version(e),
                "settings": ENGINES[e].settings,
            }
            for e in engines
        },
        "skipped_engines": skipped,
        "results": [r for r in results if not r.get("setup")],
        "setup": [r for r in results if r.get("setup")],
        "summary": summarise(results, engines),
    }


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.num < 1 or (args.reads is not None and args.reads < 1) or args.value_size < 0:
        print("lsmkv bench: --num and --reads must be >= 1, --value-size >= 0", file=sys.stderr)
        return 2
    report = run(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_table(report))
    failed = [r for r in report["results"] + report["setup"] if "error" in r]
    return 1 if failed else 0
