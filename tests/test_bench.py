"""Smoke test of `lsmkv bench` at a tiny N with whatever engines are installed (sqlite3
always): every workload runs on every engine and every column is produced. Speed is
never asserted here (CI is noisy); speed is what the benchmark itself reports."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import pytest

from lsmkv.bench import main
from lsmkv.bench.engines import ENGINE_ORDER, available
from lsmkv.bench.report import render_table
from lsmkv.bench.workloads import WORKLOADS

NUM = 300


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run of every workload, shared by the tests below (about 60 short jobs)."""
    stores = tmp_path_factory.mktemp("bench")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        status = main(["--num", str(NUM), "--json", "--no-progress", "--dir", str(stores)])
    assert status == 0, buf.getvalue()[-2000:]
    result: dict[str, Any] = json.loads(buf.getvalue())
    return result


def test_every_workload_runs_on_every_installed_engine(report: dict[str, Any]) -> None:
    engines = [e for e in ENGINE_ORDER if available(e)]
    assert "sqlite" in engines and "lsmkv" in engines
    assert list(report["engines"]) == engines
    seen = {(r["engine"], r["workload"]) for r in report["results"]}
    assert seen == {(e, w) for e in engines for w in WORKLOADS}
    assert not [r for r in report["results"] if "error" in r]


def test_every_column_is_produced(report: dict[str, Any]) -> None:
    has_rocks = "rocksdb" in report["engines"]
    for r in report["results"]:
        assert r["ops"] > 0 and r["seconds"] > 0
        assert r["us_per_op"] > 0 and r["ops_per_sec"] > 0
        assert r["peak_rss_bytes"] > 0
        assert r["disk_bytes"] > 0
        assert (r["vs_rocksdb"] is not None) == has_rocks
        if r["workload"].startswith("fill"):
            # Every fill writes at least its WAL, so amplification is at least ~1.
            assert r["write_amplification"] is not None and r["write_amplification"] > 0.5
    for figures in report["summary"].values():
        assert figures["peak_rss_bytes"] > 0
        assert figures["disk_bytes_after_fillrandom"] > 0
        assert figures["write_amplification_after_fillrandom"] > 0.5


def test_op_counts_follow_num(report: dict[str, Any]) -> None:
    ops = {(r["engine"], r["workload"]): r["ops"] for r in report["results"]}
    assert ops[("lsmkv", "fillrandom")] == NUM
    assert ops[("lsmkv", "readseq")] == NUM  # every key written by the fill is scanned
    assert ops[("lsmkv", "multireadrandom")] == NUM


def test_the_table_names_every_column(report: dict[str, Any]) -> None:
    text = render_table(report)
    for column in ("µs/op", "ops/s", "vs rocksdb", "peak RSS MiB", "disk MiB", "write amp"):
        assert column in text
    for workload in WORKLOADS:
        assert workload in text


def test_unknown_benchmark_is_refused() -> None:
    with pytest.raises(SystemExit):
        main(["--num", "10", "--benchmarks", "nosuchthing", "--no-progress"])
