"""Introspection: where, explain_get, explain_scan, the tombstone map, the sst dump and
the stats definitions, checked against what the store actually does."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

import lsmkv
from lsmkv.core.trace import TraceRecorder
from lsmkv.introspect.dump import dump_sstable
from lsmkv.introspect.stats_text import DEFINITIONS, definitions_markdown, stat_paths

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _quiet(path: Path, **options: Any) -> lsmkv.DB:
    # sync=False: these tests are about what the store reports, not durability.
    return lsmkv.open(path, background_compaction=False, sync=False, **options)


def test_where_follows_a_key_from_wal_to_compaction(tmp_path: Path) -> None:
    with _quiet(tmp_path / "db") as db:
        db.put(b"k", b"v1")
        records = db.where(b"k")
        assert [(r["source"], r["status"]) for r in records] == [
            ("memtable", "answer"),
            ("wal", "log"),
        ]
        assert records[0]["value"] == b"v1".hex() and records[0]["get_returns"]
        assert records[1]["file"].endswith(".log") and records[1]["offset"] == 0
        db.flush()
        db.put(b"k", b"v2")
        db.flush()
        db.delete(b"k")
        records = db.where(b"k")
        json.dumps(records)  # plain data
        kinds = [(r["source"], r["kind"], r["status"]) for r in records]
        assert kinds == [
            ("memtable", "delete", "answer"),
            ("wal", "delete", "log"),
            ("sstable", "put", "shadowed"),
            ("sstable", "put", "shadowed"),
        ]
        assert [r["value"] for r in records[2:]] == [b"v2".hex(), b"v1".hex()]
        assert all(r["level"] == 0 and r["shadowed_by"] == records[0]["seq"] for r in records[2:])
        assert not any(r["get_returns"] for r in records)
        db.compact()
        assert db.where(b"k") == []
        # The compaction's input files are gone from the directory, not only from the
        # manifest (the old values are physically deleted).
        live = {f"{r}" for r in os.listdir(tmp_path / "db") if r.endswith(".sst")}
        assert len(live) == sum(lv["files"] for lv in db.stats()["levels"])


def test_where_lists_covering_range_tombstones_and_snapshot_versions(tmp_path: Path) -> None:
    with _quiet(tmp_path / "db") as db:
        db.put(b"b", b"old")
        db.flush()
        snap = db.snapshot()
        db.delete_range(b"a", b"c")
        db.flush()
        db.compact()  # the snapshot keeps the old value alive through compaction
        records = db.where(b"b")
        assert [r["kind"] for r in records] == ["range_delete", "put"]
        assert records[0]["range"] == [b"a".hex(), b"c".hex()]
        assert records[0]["status"] == "answer" and records[1]["status"] == "shadowed"
        assert db.get(b"b") is None and snap.get(b"b") == b"old"
        snap.release()
        assert db.where(b"zz") == []


def test_where_on_a_read_only_open_shows_the_unflushed_wal(tmp_path: Path) -> None:
    with _quiet(tmp_path / "db") as db:
        db.put(b"x", b"1")
    with lsmkv.open(tmp_path / "db", read_only=True) as db:
        records = db.where(b"x")
        sources = sorted(r["source"] for r in records)
        assert sources == ["immutable_memtable", "wal"]
        assert next(r for r in records if r["status"] == "answer")["value"] == b"1".hex()


def test_explain_get_agrees_with_get(tmp_path: Path) -> None:
    with _quiet(tmp_path / "db") as db:
        for i in range(0, 40, 2):
            db.put(b"k%03d" % i, b"v%d" % i)
        db.flush()
        for i in range(1, 40, 2):
            db.put(b"k%03d" % i, b"w%d" % i)
        db.flush()
        db.delete(b"k004")
        db.put(b"k999", b"mem")
        # k010 is in the older table; the newer one covers its range, so the walk meets it
        # first and, no block being cached yet, asks its filter (which, being right
        # here, rules k010 out, or lets it through as a false positive).
        steps = db.explain_get(b"k010")["steps"]
        assert [s["source"] for s in steps] == ["memtable", "sstable", "sstable"]
        assert steps[1]["bloom"] in ("skip", "false_positive")
        assert steps[2]["result"] == "found" and steps[2]["bloom"] == "pass"
        assert not steps[2]["block"]["cached"]
        for key in (b"k004", b"k010", b"k011", b"k999", b"nope", b"k0105"):
            report = db.explain_get(key)
            json.dumps(report)
            value = db.get(key)
            assert report["found"] == (value is not None)
            assert report["value"] == (None if value is None else value.hex())
            assert report["sources_consulted"] == len(report["steps"])
        # Now every table's one block is cached: each is searched without its filter.
        steps = db.explain_get(b"k010")["steps"]
        assert [s["bloom"] for s in steps[1:]] == ["bypassed", "bypassed"]
        assert [s["result"] for s in steps[1:]] == ["absent", "found"]
        assert all(s["block"]["cached"] for s in steps[1:])
        deleted = db.explain_get(b"k004")
        assert deleted["steps"][-1]["result"] == "deleted" and len(deleted["steps"]) == 1


def test_traced_gets_are_counted_like_untraced_ones(tmp_path: Path) -> None:
    figures = []
    for trace in (None, TraceRecorder()):
        with _quiet(tmp_path / f"db{trace is None}", trace=trace) as db:
            for i in range(50):
                db.put(b"a%03d" % i, b"x")
            db.flush()
            for i in range(50):
                db.put(b"b%03d" % i, b"y")
            db.flush()
            for i in range(0, 100, 7):
                db.get(b"a%03d" % i)
                db.get(b"b%03d" % i)
            c = db.stats()["counters"]
            figures.append({k: c[k] for k in ("gets", "tables_probed", "bloom_skips")})
    assert figures[0] == figures[1]
    assert figures[0]["tables_probed"] > 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"start": b"k010", "end": b"k030"},
        {"prefix": b"k02"},
        {"reverse": True, "limit": 7},
        {"start": b"k030", "end": b"k010"},
        {"limit": 0},
    ],
)
def test_explain_scan_returns_what_scan_returns(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    with _quiet(tmp_path / "db") as db:
        for i in range(40):
            db.put(b"k%03d" % i, b"v")
        db.flush()
        for i in range(0, 40, 3):
            db.delete(b"k%03d" % i)
        db.delete_range(b"k020", b"k025")
        db.put(b"k001", b"newer")
        report = db.explain_scan(**kwargs)
        json.dumps(report)
        before = db.stats()["counters"]
        expected = [k.hex() for k, _ in db.scan(**kwargs)]
        after = db.stats()["counters"]
        assert report["keys"] == expected
        assert report["returned"] == len(expected)
        assert report["entries_read"] == sum(s["entries_read"] for s in report["sources"])
        # EXPLAIN reports exactly what the real scan stepped over.
        for field, counter in (
            ("tombstones_skipped", "tombstones_skipped"),
            ("range_deleted_skipped", "range_deleted_skipped"),
            ("shadowed_skipped", "shadowed_skipped"),
        ):
            assert report[field] == after[counter] - before[counter], field
    if not kwargs:
        # Whole range: 14 point tombstones, two of them (k021, k024) inside the newer
        # range tombstone [k020, k025): those two memtable tombstones are stepped over
        # as range-deleted; the table's 5 keys there are skipped by a seek, unvisited
        # (the tombstone is newer than the whole table). The table's versions of the
        # other 12 deleted keys and of k001 are shadowed by the memtable's newer entries.
        assert report["tombstones_skipped"] == 14 - 2
        assert report["range_deleted_skipped"] == 2
        assert report["shadowed_skipped"] == 12 + 1


def test_tombstone_map_names_dense_ranges(tmp_path: Path) -> None:
    with _quiet(tmp_path / "db") as db:
        for i in range(300):
            db.put(b"a%04d" % i, b"live")
            db.put(b"q%04d" % i, b"soon dead")
        db.flush()
        for i in range(300):
            db.delete(b"q%04d" % i)
        quiet = db.tombstone_map(buckets=8, threshold=1000)
        assert quiet["warnings"] == [] and quiet["tombstones"] == 300
        loud = db.tombstone_map(buckets=8, threshold=100)
        json.dumps(loud)
        [warning] = loud["warnings"]
        assert bytes.fromhex(warning["start"]) >= b"a0299"
        assert bytes.fromhex(warning["last"]) == b"q0299"
        assert warning["tombstones"] == 300 and "delete_range" in warning["remedy"]
        mem = next(layer for layer in loud["layers"] if layer["layer"] == "memtable")
        assert mem["tombstones"] == 300
        assert sum(t for _, t in mem["cells"]) == 300


def test_sst_dump_lists_what_the_table_holds(tmp_path: Path) -> None:
    with _quiet(tmp_path / "db", block_size_bytes=256) as db:
        for i in range(100):
            db.put(b"k%03d" % i, b"value %d" % i)
        db.delete(b"k050")
        db.flush()
    [name] = [n for n in os.listdir(tmp_path / "db") if n.endswith(".sst")]
    report = dump_sstable(tmp_path / "db" / name, entries=True)
    json.dumps(report)
    props = report["properties"]
    assert len(report["blocks"]) == props["data_blocks"] > 1
    assert sum(b["entries"] for b in report["blocks"]) == props["entries"] == 100
    assert props["point_deletes"] == 1
    deleted = [e for e in report["entries"] if e["kind"] == "delete"]
    assert [bytes.fromhex(e["key"]) for e in deleted] == [b"k050"]
    assert bytes.fromhex(report["entries"][0]["value"]) == b"value 0"
    assert len(dump_sstable(tmp_path / "db" / name, entries=True, limit=5)["entries"]) == 5


def test_every_stats_figure_has_a_definition_in_the_docs(tmp_path: Path) -> None:
    with _quiet(tmp_path / "db") as db:
        db.put(b"a", b"b")
        paths = stat_paths(db.stats())
    missing = [p for p in paths if p not in DEFINITIONS]
    assert missing == []
    text = (DOCS / "stats.md").read_text()
    assert definitions_markdown() in text, "docs/stats.md is out of date with stats_text.py"


def _keys(obj: Any) -> set[str]:
    if isinstance(obj, dict):
        return set(obj) | {k for v in obj.values() for k in _keys(v)}
    if isinstance(obj, list):
        return {k for v in obj for k in _keys(v)}
    return set()


def test_every_result_key_is_documented_in_trace_md(tmp_path: Path) -> None:
    rec = TraceRecorder()
    with _quiet(tmp_path / "db", trace=rec) as db:
        db.put(b"a", b"1")
        db.put(b"b", b"2")
        db.flush()
        db.delete(b"a")
        db.delete_range(b"b", b"c")
        db.get(b"a")
        db.get(b"b")
        db.compact()
        keys = _keys(db.where(b"a")) | _keys(db.explain_get(b"b")) | _keys(db.explain_scan())
        db.put(b"a", b"3")
        keys |= _keys(db.where(b"a")) | _keys(db.tombstone_map())
    events = {e["event"] for e in rec.events}
    keys |= _keys(rec.events)
    doc = (DOCS / "format" / "trace.md").read_text()
    documented = set(re.findall(r"`([a-z_.0-9]+)`", doc))
    assert sorted(events - documented) == []
    assert sorted(keys - documented) == []


def test_where_and_the_tombstone_map_leave_cache_and_counters_alone(tmp_path: Path) -> None:
    with _quiet(tmp_path / "db") as db:
        for i in range(50):
            db.put(b"k%02d" % i, b"v")
        db.flush()
        db.delete(b"k07")
        before = db.stats()["counters"]
        assert [r["status"] for r in db.where(b"k07")] == ["answer", "log", "shadowed"]
        db.tombstone_map()
        assert db.stats()["counters"] == before
        # So a get after where() still reads its block from disk, as it would have.
        assert db.explain_get(b"k08")["blocks_read"] == 1
