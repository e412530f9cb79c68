"""Turning job results into the summary and the text table of `lsmkv bench`."""

from __future__ import annotations

from typing import Any

from .workloads import OP_NOTES

REFERENCE = "rocksdb"  # every ratio is throughput relative to RocksDB's, same workload

COLUMNS = (
    "benchmark",
    "engine",
    "µs/op",
    "ops/s",
    "vs rocksdb",
    "peak RSS MiB",
    "disk MiB",
    "write amp",
)


def ratio_to_reference(results: list[dict[str, Any]]) -> None:
    """Add `vs_rocksdb` (this engine's ops/s over RocksDB's) to every result, in place."""
    reference = {
        r["workload"]: r["ops_per_sec"]
        for r in results
        if r["engine"] == REFERENCE and "error" not in r and r.get("ops_per_sec")
    }
    for r in results:
        ref = reference.get(r["workload"])
        r["vs_rocksdb"] = r["ops_per_sec"] / ref if ref and "error" not in r else None


def summarise(results: list[dict[str, Any]], engines: list[str]) -> dict[str, Any]:
    """Per engine: peak RSS over all its jobs, and bytes on disk and write
    amplification after fillrandom, each also as a ratio to RocksDB's."""
    ratio_to_reference(results)
    out: dict[str, Any] = {}
    for e in engines:
        mine = [r for r in results if r["engine"] == e and "error" not in r]
        fill = next((r for r in mine if r["workload"] == "fillrandom"), None)
        out[e] = {
            "peak_rss_bytes": max((r["peak_rss_bytes"] for r in mine), default=None),
            "disk_bytes_after_fillrandom": fill["disk_bytes"] if fill else None,
            "write_amplification_after_fillrandom": fill["write_amplification"] if fill else None,
        }
    ref = out.get(REFERENCE)
    for figures in out.values():
        for name in ("peak_rss_bytes", "disk_bytes_after_fillrandom"):
            mine_v, ref_v = figures[name], ref[name] if ref else None
            figures[f"{name}_vs_rocksdb"] = mine_v / ref_v if mine_v and ref_v else None
    return out


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _grid(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in pairs]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def render_table(report: dict[str, Any]) -> str:
    cfg = report["config"]
    lines = [
        f"lsmkv bench: num={cfg['num']:,} reads={cfg['reads']:,} key=16 B "
        f"value={cfg['value_size']} B threads={cfg['threads']}  "
        f"({cfg['implementation']} {cfg['python']}, {cfg['cpus']} CPUs, {cfg['seconds']} s)",
        "",
    ]
    rows: list[list[str]] = [list(COLUMNS)]
    for r in report["results"]:
        if "error" in r:
            error = "error: " + r["error"][:60]
            rows.append([r["workload"], r["engine"], error, "", "", "", "", ""])
            continue
        fill = r["workload"].startswith("fill")
        rows.append(
            [
                r["workload"],
                r["engine"],
                _fmt(r["us_per_op"], ".2f"),
                _fmt(r["ops_per_sec"], ",.0f"),
                _fmt(r["vs_rocksdb"], ".2f") + ("x" if r["vs_rocksdb"] is not None else ""),
                _fmt(r["peak_rss_bytes"] / 2**20, ".0f"),
                _fmt(r["disk_bytes"] / 2**20, ".1f") if fill else "",
                _fmt(r["write_amplification"], ".2f") if fill else "",
            ]
        )
    lines += _grid(rows)
    lines += ["", "Per engine (peak RSS over all its jobs; disk and write amp after fillrandom):"]
    srows = [["engine", "", "peak RSS MiB", "vs rocksdb", "disk MiB", "vs rocksdb", "write amp"]]
    for e, s in report["summary"].items():
        srows.append(
            [
                e,
                "",
                _fmt(s["peak_rss_bytes"] and s["peak_rss_bytes"] / 2**20, ".0f"),
                _fmt(s["peak_rss_bytes_vs_rocksdb"], ".2f"),
                _fmt(
                    s["disk_bytes_after_fillrandom"] and s["disk_bytes_after_fillrandom"] / 2**20,
                    ".1f",
                ),
                _fmt(s["disk_bytes_after_fillrandom_vs_rocksdb"], ".2f"),
                _fmt(s["write_amplification_after_fillrandom"], ".2f"),
            ]
        )
    lines += _grid(srows)
    lines += ["", "Engines and settings:"]
    for e, info in report["engines"].items():
        lines.append(f"  {e}: {info['binding']} {info['version']}: {info['settings']}")
    if report["skipped_engines"]:
        lines.append(f"  not installed, skipped: {', '.join(report['skipped_engines'])}")
    notes = [f"{w}: {n}" for w, n in OP_NOTES.items() if w in cfg["benchmarks"]]
    if notes:
        lines += ["", "One op is one call unless noted: " + "; ".join(notes) + "."]
    lines.append(
        "vs rocksdb: this engine's ops/s over RocksDB's in the same run (higher is better). "
        "write amp: bytes passed to write() during the fill and close, over user bytes "
        "(helper processes' writes included). peak RSS: the job's process plus the sum of "
        "its helper processes' peaks (lsmkv's flush and compaction workers)."
    )
    return "\n".join(lines)
