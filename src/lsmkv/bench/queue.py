"""`lsmkv bench queue`: the tombstone cliff of a queue table, and its cures, measured.

Three runs on fresh stores, each pushing the same N items and then consuming them:

- **naive**: `NaiveQueue`: every pop scans from the lowest item key and deletes the
  item with one point tombstone; no compaction is asked for.
- **naive + compact()**: the same, with a manual `db.compact()` at 10%, 50% and 90%
  popped (just before that stage is measured).
- **recipe**: `lsmkv.recipes.Queue`: head remembered, lower-bounded scans reading
  `read_ahead` items ahead, range deletes every `ack_every` pops.

At each stage (0%, 10%, ..., 90% popped) the bench times head scans (the search for
the first live item: the naive `peek`; for the recipe, the lower-bounded scan its pops
run when their read-ahead is empty, limited to one item) and reads the store's
counters around each one to get the deleted entries stepped over per scan. The
recipe's every pop is timed too, per 10% window.

Between two stages the naive runs issue exactly the deletes their pops would issue
(`delete(item_key)` in order) without timing the scan in front of each: scanning from
the start for each of N pops is quadratic (about N**2 / 2 entry steps in total, 5e11
for N = 1,000,000), and the store reaches the same state either way. The sampled pops
at each stage are real naive pops (scan + delete).

With rocksdict installed, the naive queue also runs on RocksDB (default options), and
at 90% popped RocksDB's `compact_range()` is tried with default options and then with
a forced bottom-level rewrite.

The deletion-triggered compaction of lsmkv is switched off in the naive runs
(`deletion_trigger=0`), to show the data structure as it is; docs/queue.md explains
what it changes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lsmkv
from lsmkv.recipes import NaiveQueue, Queue

TABLE_STAGES = (0, 10, 50, 90)
COMPACT_STAGES = (10, 50, 90)
NAME = b"q"


# ---------------------------------------------------------------- measuring
def _skipped(db: lsmkv.DB) -> int:
    """Entries iterators stepped over because they were deleted (point or range)."""
    c = db.stats()["counters"]
    return int(c["tombstones_skipped"]) + int(c["range_deleted_skipped"])


def _summary(
    latencies_ns: list[int], skipped: list[int], cpu_ns: list[int] | None = None
) -> dict[str, Any]:
    """Median and p99 of wall-clock latencies (and of CPU time, which leaves out the
    time the OS ran other processes: on a shared machine that dominates the p99)."""
    lat = sorted(latencies_ns)
    out = {
        "samples": len(lat),
        "median_us": statistics.median(lat) / 1000 if lat else None,
        "p99_us": _percentile(lat, 0.99) / 1000 if lat else None,
        "skipped_per_scan": statistics.mean(skipped) if skipped else None,
    }
    if cpu_ns:
        cpu = sorted(cpu_ns)
        out["cpu_median_us"] = statistics.median(cpu) / 1000
        out["cpu_p99_us"] = _percentile(cpu, 0.99) / 1000
    return out


def _percentile(sorted_values: list[int], q: float) -> float:
    """Nearest-rank percentile (with few samples, p99 is the maximum)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), int(q * len(sorted_values) + 0.999999)))
    return float(sorted_values[rank - 1])


def _sample(
    db: lsmkv.DB, scan: Callable[[], object], samples: int, budget_s: float
) -> tuple[list[int], list[int], list[int]]:
    """Time up to `samples` head scans, stopping after `budget_s` (at least 3 scans)."""
    lat: list[int] = []
    cpu: list[int] = []
    skipped: list[int] = []
    deadline = time.perf_counter() + budget_s
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    while len(lat) < samples and (len(lat) < 3 or time.perf_counter() < deadline):
        before = _skipped(db)
        c0 = cpu_clock()
        t0 = clock()
        scan()
        lat.append(clock() - t0)
        cpu.append(cpu_clock() - c0)
        skipped.append(_skipped(db) - before)
    return lat, skipped, cpu


def _settle(db: lsmkv.DB) -> float:
    """Wait until background flushes and compactions are done, so that the pops are
    timed on a quiet store; return the seconds waited."""
    t0 = time.monotonic()
    db.wait_for_compaction(timeout=900)
    return time.monotonic() - t0


def _value(i: int, size: int) -> bytes:
    return (b"%d:" % i).ljust(size, b"v")


def _push_all(push_many: Callable[[list[bytes]], int], n: int, size: int) -> float:
    t0 = time.perf_counter()
    for lo in range(0, n, 1000):
        push_many([_value(i, size) for i in range(lo, min(n, lo + 1000))])
    return time.perf_counter() - t0


# ----------------------------------------------------------------- the runs
def run_naive(
    path: Path, args: argparse.Namespace, compact_at: tuple[int, ...], dtc: bool = False
) -> dict[str, Any]:
    """A naive queue: push N, then pop through the stages (see the module docstring).
    `dtc`: keep lsmkv's deletion-triggered compaction and scan hints on (the defaults)."""
    n = args.items
    stages: dict[int, Any] = {}
    compactions: dict[int, float] = {}
    off: dict[str, Any] = {} if dtc else {"deletion_trigger": 0, "scan_tombstone_hint": 0}
    label = "naive+dtc" if dtc else "naive+compact" if compact_at else "naive"
    with lsmkv.open(path, sync=False, **off) as db:
        q = NaiveQueue(db, NAME)
        push_s = _push_all(lambda vs: q.push_many(vs), n, args.value_bytes)
        settle_s = _settle(db)
        head = 0  # items below this have been deleted

        def pop() -> None:
            nonlocal head
            found = q.peek_item()
            assert found is not None and found[0] == q.item_key(head), "FIFO order broken"
            db.delete(found[0])
            head += 1

        for stage in args.stages:
            target = n * stage // 100
            while head < target:  # the deletes the untimed pops would have issued
                db.delete(q.item_key(head))
                head += 1
            if stage in compact_at:
                t0 = time.perf_counter()
                db.compact()
                compactions[stage] = time.perf_counter() - t0
            lat, skipped, cpu = _sample(db, lambda: q.peek_item(), args.samples, args.budget)
            stages[stage] = _summary(lat, skipped, cpu)
            pop()  # one real naive pop (scan + delete), so the stage moves on honestly
            _progress(f"{label} {stage}%", stages[stage])
    return {
        "push_seconds": push_s,
        "settle_seconds": settle_s,
        "stages": stages,
        "compaction_seconds": compactions,
    }


def run_recipe(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The recipe: push N, pop all N (every pop timed), sampling head scans at stages."""
    n = args.items
    stages: dict[int, Any] = {}
    pop_ns: list[int] = []
    with lsmkv.open(path, sync=False) as db:
        q = Queue(db, NAME, ack_every=args.ack_every, read_ahead=args.read_ahead)
        end = q.key_range()[1]

        def head_scan() -> None:
            # What a pop runs when its read-ahead is empty, limited to one item.
            for _ in db.scan(q.item_key(q.head), end, limit=1):
                break

        push_s = _push_all(q.push_many, n, args.value_bytes)
        settle_s = _settle(db)
        stage_at = {n * s // 100: s for s in args.stages}
        clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
        pop_cpu_ns: list[int] = []
        t_pops = time.perf_counter()
        for i in range(n):
            stage = stage_at.get(i)
            if stage is not None:
                lat, skipped, cpu = _sample(db, head_scan, args.samples, args.budget)
                stages[stage] = _summary(lat, skipped, cpu)
                _progress(f"recipe {stage}%", stages[stage])
            c0 = cpu_clock()
            t0 = clock()
            value = q.pop()
            pop_ns.append(clock() - t0)
            pop_cpu_ns.append(cpu_clock() - c0)
            if value is None or not value.startswith(b"%d:" % i):
                raise AssertionError(f"recipe pop {i} returned {value!r}: FIFO order broken")
        q.ack()
        pops_s = time.perf_counter() - t_pops
    windows = []
    for w in range(10):
        part = sorted(pop_ns[n * w // 10 : n * (w + 1) // 10])
        cpu = sorted(pop_cpu_ns[n * w // 10 : n * (w + 1) // 10])
        windows.append(
            {
                "popped_pct": f"{w * 10}-{w * 10 + 10}",
                "median_us": statistics.median(part) / 1000 if part else None,
                "p99_us": _percentile(part, 0.99) / 1000 if part else None,
                "p999_us": _percentile(part, 0.999) / 1000 if part else None,
                "max_us": part[-1] / 1000 if part else None,
                "cpu_median_us": statistics.median(cpu) / 1000 if cpu else None,
                "cpu_p99_us": _percentile(cpu, 0.99) / 1000 if cpu else None,
            }
        )
    return {
        "push_seconds": push_s,
        "settle_seconds": settle_s,
        "pop_seconds": pops_s,
        "stages": stages,
        "pops": windows,
    }


def run_rocksdb(path: Path, args: argparse.Namespace) -> dict[str, Any] | None:
    """The naive queue on RocksDB through rocksdict, or None when it is not installed."""
    try:
        import rocksdict
    except ImportError:
        return None
    n = args.items
    keys = [NAME + b"\x00i" + i.to_bytes(8, "big") for i in range(n)]
    lo, hi = NAME + b"\x00i", NAME + b"\x00j"
    opts = rocksdict.Options(raw_mode=True)
    wo = rocksdict.WriteOptions()
    wo.sync = False
    db = rocksdict.Rdict(str(path), options=opts)
    db.set_write_options(wo)
    stages: dict[int, Any] = {}
    try:
        for start in range(0, n, 1000):
            wb = rocksdict.WriteBatch(raw_mode=True)
            for i in range(start, min(n, start + 1000)):
                wb.put(keys[i], _value(i, args.value_bytes))
            db.write(wb)

        def head_scan() -> None:
            it = db.iter()
            it.seek(lo)
            if it.valid() and it.key() < hi:
                it.value()

        def sample() -> dict[str, Any]:
            lat: list[int] = []
            deadline = time.perf_counter() + args.budget
            while len(lat) < args.samples and (len(lat) < 3 or time.perf_counter() < deadline):
                t0 = time.perf_counter_ns()
                head_scan()
                lat.append(time.perf_counter_ns() - t0)
            return _summary(lat, [])

        head = 0
        for stage in args.stages:
            while head < n * stage // 100:
                db.delete(keys[head])
                head += 1
            stages[stage] = sample()
            _progress(f"rocksdb {stage}%", stages[stage])
        # The two manual compactions, at the last stage.
        db.compact_range(None, None)
        after_default = sample()
        files_default = _rocks_files(db)
        _progress("rocksdb after compact_range()", after_default)
        force = rocksdict.CompactOptions()
        force.set_bottommost_level_compaction(rocksdict.BottommostLevelCompaction.force())
        db.compact_range(None, None, force)
        after_force = sample()
        _progress("rocksdb after forced bottom-level compaction", after_force)
        return {
            "version": getattr(rocksdict, "__version__", "?"),
            "stages": stages,
            "after_compact_range_default": after_default,
            "files_after_default": files_default,
            "after_compact_range_force_bottommost": after_force,
            "files_after_force": _rocks_files(db),
        }
    finally:
        db.close()


def _rocks_files(db: Any) -> list[dict[str, Any]]:
    return [
        {
            "level": f.get("level"),
            "entries": f.get("num_entries"),
            "deletions": f.get("num_deletions"),
        }
        for f in db.live_files()
    ]


# ------------------------------------------------------------------ output
def _progress(what: str, s: dict[str, Any]) -> None:
    print(
        f"  {what:<46} median {_us(s['median_us'])}  p99 {_us(s['p99_us'])}"
        f"  ({s['samples']} scans)",
        file=sys.stderr,
        flush=True,
    )


def _us(v: float | None) -> str:
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v / 1000:,.1f} ms"
    return f"{v:,.1f} µs"


def _cell(s: dict[str, Any] | None) -> str:
    if s is None:
        return "-"
    return f"{_us(s['median_us'])} / {_us(s['p99_us'])}"


def _skip_cell(s: dict[str, Any] | None) -> str:
    if s is None or s["skipped_per_scan"] is None:
        return "-"
    return f"{s['skipped_per_scan']:,.0f}"


def verdicts(result: dict[str, Any]) -> dict[str, Any]:
    """The bar of issue 6, computed from the measured figures (None: run skipped)."""
    naive = result["naive"]["stages"]
    comp = result["naive_compact"]["stages"]
    out: dict[str, Any] = {
        "recipe_ok": None,
        "recipe_cpu_ok": None,
        "cliff_reproduced": None,
        "compact_cures": None,
    }
    for clock in ("", "cpu_"):
        p99 = [w[clock + "p99_us"] for w in result["recipe"]["pops"]]
        if not p99:
            continue
        out[f"recipe_pop_{clock}p99_worst_us"] = max(p99)
        out[f"recipe_pop_{clock}p99_fresh_us"] = p99[0]
        out[f"recipe_pop_{clock}p99_worst_over_fresh"] = max(p99) / p99[0]
        out[f"recipe_{clock}ok"] = max(p99) <= 100 and max(p99) / p99[0] <= 2
    if naive:
        last = max(naive)
        out["last_stage"] = last
        out["naive_cliff_ratio_at_last_stage"] = naive[last]["median_us"] / naive[0]["median_us"]
        out["cliff_reproduced"] = out["naive_cliff_ratio_at_last_stage"] >= 100
    if naive and comp:
        cured = max(comp[s]["median_us"] for s in COMPACT_STAGES if s in comp)
        out["naive_after_compact_over_fresh_worst"] = cured / naive[0]["median_us"]
        out["compact_cures"] = out["naive_after_compact_over_fresh_worst"] <= 2
    return out


def print_report(result: dict[str, Any]) -> None:
    n = result["items"]
    print(f"\nlsmkv bench queue: {n:,} items of {result['value_bytes']} bytes")
    columns = [
        ("naive", result["naive"]["stages"]),
        ("naive + compact()*", result["naive_compact"]["stages"]),
        ("naive + DTC", result.get("naive_dtc", {}).get("stages", {})),
        ("recipe", result["recipe"]["stages"]),
    ]
    if result.get("rocksdb"):
        columns.append(("RocksDB naive", result["rocksdb"]["stages"]))
    columns = [(label, stages) for label, stages in columns if stages]
    print("\nhead-scan latency, median / p99 (wall clock)\n")
    print(f"{'popped':>7}" + "".join(f"  {label:>22}" for label, _ in columns))
    for stage in result["stages"]:
        print(f"{stage:>6}%" + "".join(f"  {_cell(st.get(stage)):>22}" for _, st in columns))
    print("\ndeleted entries stepped over per head scan (stats() counters)\n")
    print(f"{'popped':>7}" + "".join(f"  {label:>22}" for label, _ in columns))
    for stage in result["stages"]:
        print(f"{stage:>6}%" + "".join(f"  {_skip_cell(st.get(stage)):>22}" for _, st in columns))
    print(f"  * compact() called just before the {COMPACT_STAGES} % stages were measured")
    print("  DTC: lsmkv's deletion-triggered compaction and scan hints on (the defaults)")
    for stage, secs in result["naive_compact"]["compaction_seconds"].items():
        print(f"    compact() at {stage}%: {secs:.1f} s")
    print("\nrecipe pop latency per window of pops (every pop timed):")
    for w in result["recipe"]["pops"]:
        print(
            f"  {w['popped_pct']:>6}%  median {_us(w['median_us'])}  p99 {_us(w['p99_us'])}"
            f"  p99.9 {_us(w['p999_us'])}  max {_us(w['max_us'])}"
            f"   CPU time: median {_us(w['cpu_median_us'])}"
            f"  p99 {_us(w['cpu_p99_us'])}"
        )
    rocks = result.get("rocksdb")
    if rocks:
        print("\nRocksDB at the last stage:")
        rows = [
            ("before compaction", rocks["stages"][max(rocks["stages"])], None),
            ("after compact_range() (defaults)", rocks["after_compact_range_default"], "default"),
            (
                "after compact_range(bottommost=force)",
                rocks["after_compact_range_force_bottommost"],
                "force",
            ),
        ]
        for label, cell, files in rows:
            print(f"  {label:<40} {_cell(cell)}")
            if files is not None:
                print(f"    live files: {rocks['files_after_' + files]}")
    v = result["verdicts"]
    print("\nthe bar (issue 6):")
    for clock, what in (("", "wall clock"), ("cpu_", "CPU time")):
        if v[f"recipe_{clock}ok"] is None:
            continue
        print(
            f"  recipe pop p99 ({what}): worst window {_us(v[f'recipe_pop_{clock}p99_worst_us'])},"
            f" fresh {_us(v[f'recipe_pop_{clock}p99_fresh_us'])}"
            f" ({v[f'recipe_pop_{clock}p99_worst_over_fresh']:.2f}x)"
            f"  -> {'met' if v[f'recipe_{clock}ok'] else 'NOT met'} (<= 100 µs and <= 2x fresh)"
        )
    if v["cliff_reproduced"] is not None:
        print(
            f"  naive head scan at {v['last_stage']}% popped: "
            f"{v['naive_cliff_ratio_at_last_stage']:,.0f}x fresh"
            f"  -> {'reproduced' if v['cliff_reproduced'] else 'NOT reproduced'} (>= 100x)"
        )
    if v["compact_cures"] is not None:
        print(
            f"  after compact(): worst {v['naive_after_compact_over_fresh_worst']:.2f}x the"
            f" fresh naive scan  -> {'cured' if v['compact_cures'] else 'NOT cured'} (<= 2x)"
        )


def plot(result: dict[str, Any], out: Path) -> bool:
    """Write the PNG; False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    series = [
        ("naive", result["naive"]["stages"], "tab:red", "o-"),
        ("naive + compact() at 10/50/90%", result["naive_compact"]["stages"], "tab:orange", "s--"),
        ("recipe (lsmkv.recipes.Queue)", result["recipe"]["stages"], "tab:green", "^-"),
    ]
    if result.get("naive_dtc"):
        series.append(
            (
                "naive + deletion-triggered compaction",
                result["naive_dtc"]["stages"],
                "tab:blue",
                "x-.",
            )
        )
    if result.get("rocksdb"):
        series.append(("naive on RocksDB", result["rocksdb"]["stages"], "tab:purple", "d:"))
    for label, stages, color, style in series:
        xs = sorted(stages)
        ax1.plot(xs, [stages[x]["median_us"] for x in xs], style, color=color, label=label)
        skips = [stages[x]["skipped_per_scan"] for x in xs]
        if all(s is not None for s in skips):
            ax2.plot(xs, [max(s, 0.5) for s in skips], style, color=color, label=label)
    ax1.set_yscale("log")
    ax1.set_xlabel("% of items popped")
    ax1.set_ylabel("head-scan latency, median (µs, log)")
    ax1.set_title(f"Finding the head of a queue of {result['items']:,} items")
    ax1.legend(fontsize=8)
    ax1.grid(True, which="both", alpha=0.3)
    ax2.set_yscale("log")
    ax2.set_xlabel("% of items popped")
    ax2.set_ylabel("deleted entries stepped over per head scan (log; 0 drawn at 0.5)")
    ax2.set_title("Tombstones skipped per scan (lsmkv counters)")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True


# -------------------------------------------------------------------- main
def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="lsmkv bench queue", description=__doc__.split("\n")[0])
    p.add_argument("--items", type=int, default=1_000_000, help="items pushed then popped")
    p.add_argument("--value-bytes", type=int, default=100)
    p.add_argument("--ack-every", type=int, default=256, help="recipe: pops per range delete")
    p.add_argument("--read-ahead", type=int, default=256, help="recipe: items fetched per scan")
    p.add_argument(
        "--stages", default="0,10,20,30,40,50,60,70,80,90", help="%% popped where scans are timed"
    )
    p.add_argument("--samples", type=int, default=300, help="timed head scans per stage (max)")
    p.add_argument(
        "--budget", type=float, default=3.0, help="seconds of timed scans per stage (min 3 scans)"
    )
    p.add_argument("--dir", type=Path, default=None, help="where the stores go (default: temp)")
    p.add_argument("--plot", type=Path, default=Path("queue-bench.png"), help="PNG to write")
    p.add_argument("--json", type=Path, default=None, help="write every figure as JSON here")
    p.add_argument("--no-rocksdb", action="store_true", help="skip RocksDB even if installed")
    p.add_argument(
        "--runs",
        default="recipe,naive,compact,dtc,rocksdb",
        help="which runs, comma-separated (the bar needs recipe, naive and compact)",
    )
    args = p.parse_args(argv)
    args.runs = set(args.runs.split(","))
    args.stages = sorted({int(s) for s in args.stages.split(",")} | set(TABLE_STAGES))
    if args.items < 100:
        p.error("--items must be at least 100")
    return args


def main(argv: list[str]) -> int:
    """Run the queue benchmark; return the exit status (0 even if the bar is missed:
    the verdicts are printed, a benchmark does not fail)."""
    args = parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="lsmkv-bench-queue-", dir=args.dir))
    try:
        t0 = time.perf_counter()
        result: dict[str, Any] = {
            "items": args.items,
            "value_bytes": args.value_bytes,
            "ack_every": args.ack_every,
            "read_ahead": args.read_ahead,
            "stages": args.stages,
            "load_average_at_start": os.getloadavg(),
            "cpus": os.cpu_count(),
        }
        print(f"pushing and popping {args.items:,} items in each run ...", file=sys.stderr)
        empty: dict[str, Any] = {"stages": {}, "pops": [], "compaction_seconds": {}}
        result["recipe"] = result["naive"] = result["naive_compact"] = empty
        if "recipe" in args.runs:
            result["recipe"] = run_recipe(base / "recipe", args)
        if "naive" in args.runs:
            result["naive"] = run_naive(base / "naive", args, ())
        if "compact" in args.runs:
            result["naive_compact"] = run_naive(base / "naive-compact", args, COMPACT_STAGES)
        if "dtc" in args.runs:
            result["naive_dtc"] = run_naive(base / "naive-dtc", args, (), dtc=True)
        if "rocksdb" in args.runs and not args.no_rocksdb:
            result["rocksdb"] = run_rocksdb(base / "rocksdb", args)
        result["seconds"] = time.perf_counter() - t0
        result["load_average_at_end"] = os.getloadavg()
        result["verdicts"] = verdicts(result)
        print_report(result)
        if args.json is not None:
            args.json.write_text(json.dumps(result, indent=1))
        if plot(result, args.plot):
            print(f"\nplot written to {args.plot}")
        else:
            print("\n(matplotlib not installed: no plot; pip install -r requirements-bench.txt)")
        print(
            f"total {result['seconds']:.0f} s on {result['cpus']} CPUs; load average (1 min)"
            f" {result['load_average_at_start'][0]:.1f} at start,"
            f" {result['load_average_at_end'][0]:.1f} at end"
        )
        return 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
