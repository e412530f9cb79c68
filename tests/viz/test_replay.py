"""The replay's state derivation (lsmkv.viz.replay), checked against the engine itself:
the frames folded from a real trace must agree with the trace's own figures and with
`stats()` at the end. No browser here; tests/browser drives the page."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from lsmkv.viz import load_trace, main
from lsmkv.viz.replay import MAX_DRAWN_ENTRIES, derive, encode_frames, show
from lsmkv.viz.scenarios import Recording, record


@cache
def recorded(name: str) -> Recording:
    return record(name)


def frames_of(name: str) -> list[dict[str, Any]]:
    return derive(recorded(name).events)


def final_levels(frames: list[dict[str, Any]]) -> list[tuple[int, int, int]]:
    return [(lv["files"], lv["entries"], lv["tombstones"]) for lv in frames[-1]["state"]["levels"]]


def stats_levels(stats: dict[str, Any]) -> list[tuple[int, int, int]]:
    return [
        (lv["files"], lv["entries"], lv["tombstones"] + lv["range_tombstones"])
        for lv in stats["levels"]
    ]


@pytest.mark.parametrize("name", ["explainer", "queue", "bulk"])
def test_final_state_matches_the_store(name: str) -> None:
    rec = recorded(name)
    frames = derive(rec.events[: rec.stats_at])
    assert final_levels(frames) == stats_levels(rec.stats)
    totals = frames[-1]["state"]["totals"]
    assert totals["tables"] == sum(lv["files"] for lv in rec.stats["levels"])
    assert totals["memtable_entries"] == rec.stats["memtable"]["entries"]
    assert totals["immutable_memtables"] == rec.stats["immutable_memtables"]


@pytest.mark.parametrize("name", ["explainer", "queue"])
def test_every_step_agrees_with_its_event(name: str) -> None:
    events = recorded(name).events
    frames = frames_of(name)
    seen = {f["event"] for f in frames}
    engine = [i for i, e in enumerate(events) if e["event"] != "viz.call"]
    assert set(engine) <= seen, "every engine event gets at least one step"
    for f in frames:
        if f["event"] < 0:
            continue
        e, state = events[f["event"]], f["state"]
        assert f["caption"].strip()
        if e["event"] == "memtable.insert":
            assert state["mem"]["count"] == e["memtable_entries"]
            assert state["mem"]["bytes"] == e["memtable_bytes"]
        elif e["event"] == "wal.fsync":
            assert state["wal"]["durable"] == e["durable_offset"]
        elif e["event"] == "wal.append":
            assert state["wal"]["bytes"] == e["offset"] + e["bytes"]
        elif e["event"] == "compaction.end":
            out_level = state["levels"][e["output_level"]]
            assert out_level["tombstones"] == sum(o["tombstones"] for o in e["outputs"])
            assert {t["file"] for t in out_level["tables"]} >= {o["file"] for o in e["outputs"]}
        elif e["event"] == "get" and state["read"]["done"]:
            assert state["read"]["probed"] == e["tables_probed"]
            assert len(state["read"]["steps"]) == len(e["steps"])


def test_a_read_is_animated_step_by_step() -> None:
    events = recorded("explainer").events
    frames = frames_of("explainer")
    for index, e in enumerate(events):
        if e["event"] != "get":
            continue
        walk = [f for f in frames if f["event"] == index]
        # An opening frame, one per source consulted, and the summary.
        assert len(walk) == len(e["steps"]) + 2
        for n, f in enumerate(walk[1:-1], 1):
            assert len(f["state"]["read"]["steps"]) == n
            assert not f["state"]["read"]["done"]
        bloom_skips = [s for s in e["steps"] if s.get("bloom") == "skip"]
        verdicts = [s["verdict"] for s in walk[-1]["state"]["read"]["steps"]]
        assert verdicts.count("bloom") == len(bloom_skips)


def test_the_explainer_tells_its_story() -> None:
    """Writes, a delete that shadows a value on disk, two reads, a compaction that drops
    the tombstone: each visible in the frames."""
    events = recorded("explainer").events
    frames = frames_of("explainer")
    names = [e["event"] for e in events]
    assert names.count("get") == 2 and names.count("compaction.end") == 1
    delete = next(
        f for f in frames if f["name"] == "memtable.insert" and events[f["event"]]["kind"] == 0
    )
    assert "shadows the older value" in delete["caption"]
    shadowed = [
        k
        for lv in delete["state"]["levels"]
        for t in lv["tables"]
        for k in t["keys"]
        if k["key"] == "apple"
    ]
    assert shadowed and all(k["shadowed"] for k in shadowed)
    end = next(f for f in frames if f["name"] == "compaction.end")
    assert end["state"]["totals"]["sst_tombstones"] == 0
    assert any(k["kind"] == "delete" and k["key"] == "apple" for k in end["state"]["dropped"])
    e = events[end["event"]]
    assert end["state"]["totals"]["tombstones_dropped"] == e["tombstones_dropped"] >= 1


def test_large_layers_are_drawn_as_counts() -> None:
    events: list[dict[str, Any]] = []
    for seq in range(1, 3 * MAX_DRAWN_ENTRIES):
        events.append(
            {
                "event": "memtable.insert",
                "seq": seq,
                "kind": 1,
                "key": b"k%04d" % seq,
                "value": "",
                "memtable_entries": seq,
                "memtable_bytes": 300 * seq,
            }
        )
        events[-1]["key"] = events[-1]["key"].hex()
    frames = derive(events)
    assert frames[MAX_DRAWN_ENTRIES]["state"]["mem"]["items"] is not None
    last = frames[-1]["state"]["mem"]
    assert last["items"] is None and last["count"] == 3 * MAX_DRAWN_ENTRIES - 1


def test_unknown_tables_become_placeholders() -> None:
    """A trace that starts on a store with tables already in it still replays."""
    events = [
        {
            "event": "compaction.begin",
            "reason": "level_size",
            "level": 1,
            "output_level": 2,
            "inputs": [
                {"level": 1, "file": "000007.sst", "size": 10, "entries": 5, "tombstones": 2}
            ],
        },
        {
            "event": "compaction.end",
            "output_level": 2,
            "outputs": [{"file": "000009.sst", "size": 8, "entries": 3, "tombstones": 0}],
            "tombstones_dropped": 2,
        },
    ]
    frames = derive(events)
    assert frames[1]["state"]["levels"][1]["files"] == 1
    assert frames[2]["state"]["levels"][1]["files"] == 0
    assert frames[2]["state"]["levels"][2]["tables"][0]["file"] == "000009.sst"


def test_deltas_rebuild_every_state() -> None:
    frames = frames_of("queue")
    encoded = encode_frames(frames)
    state: dict[str, Any] = {}
    for f, enc in zip(frames, encoded, strict=True):
        state = {**state, **enc["state"]}
        assert json.dumps(state, sort_keys=True) == json.dumps(f["state"], sort_keys=True)
    assert sum(len(e["state"]) for e in encoded) < sum(len(f["state"]) for f in frames)


def test_show_keys() -> None:
    assert show(b"apple".hex()) == "apple"
    assert show(b"\x00\x01".hex()) == "0x0001"
    assert show((b"x" * 40).hex(), 10) == "xxxxxxxxx…"


def test_cli_writes_a_self_contained_page(tmp_path: Path) -> None:
    page, trace = tmp_path / "page.html", tmp_path / "trace.jsonl"
    assert main(["--out", str(page), "--save-trace", str(trace)]) == 0
    html = page.read_text()
    assert "<script src" not in html and "<link" not in html
    assert "http://" not in html and "https://" not in html
    events = load_trace(str(trace))
    assert any(e["event"] == "compaction.end" for e in events)
    # The saved trace replays into the same page.
    again = tmp_path / "again.html"
    assert main(["--trace", str(trace), "--out", str(again)]) == 0
    assert again.read_text().count('"caption"') == html.count('"caption"')
    assert main(["--scenario", "nope"]) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"no": 1}\n')
    assert main(["--trace", str(bad), "--out", str(tmp_path / "x.html")]) == 2


def test_range_deletes_batches_and_a_reopen(tmp_path: Path) -> None:
    """A trace spanning two sessions of one store, with a range tombstone and a batch."""
    import lsmkv

    events: list[dict[str, Any]] = []
    with lsmkv.open(tmp_path / "db", trace=events.append, background_compaction=False) as db:
        for i in range(10):
            db.put(b"k%02d" % i, b"v")
        db.flush()
        db.delete_range(b"k02", b"k06")
        with db.batch() as b:
            b.put(b"x", b"1")
            b.delete(b"k08")
        assert db.get(b"k03") is None
    with lsmkv.open(tmp_path / "db", trace=events.append, background_compaction=False) as db:
        db.compact()
        stats = db.stats()
    frames = derive(events)
    recovery = next(f for f in frames if f["name"] == "recovery.wal_replayed")
    assert recovery["state"]["mem"]["count"] == 0  # memory did not survive the close
    range_insert = next(
        f for f in frames if f["name"] == "memtable.insert" and "range tombstone" in f["caption"]
    )
    assert any(it["kind"] == "range_delete" for it in range_insert["state"]["mem"]["items"])
    table_keys = {
        k["key"]: k["shadowed"]
        for lv in range_insert["state"]["levels"]
        for t in lv["tables"]
        for k in t["keys"]
    }
    assert [key for key, hidden in sorted(table_keys.items()) if hidden] == [
        "k02",
        "k03",
        "k04",
        "k05",
    ]
    assert final_levels(frames) == stats_levels(stats)
