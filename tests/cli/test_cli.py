"""The command line, run as the real program in a subprocess (`python -m lsmkv`).

Each subprocess costs about a third of a second to start, so each test groups several
checks of one story (a round trip, a delete and its compaction, bad input).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import lsmkv
from lsmkv.cli.main import main


def run(*args: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lsmkv", *map(str, args)],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout


def test_round_trip_delete_where_compact_verify(tmp_path: Path) -> None:
    db = tmp_path / "db"
    assert run("put", db, "apple", "red").returncode == 0
    assert run("put", db, "--hex", "00ff", "c3a9").returncode == 0  # raw bytes
    get = run("get", db, "apple")
    assert (get.returncode, get.stdout) == (0, "red\n")
    get = run("get", db, "--hex", "00ff")
    assert (get.returncode, get.stdout) == (0, "c3a9\n")
    scan = run("scan", db, "--hex")
    assert scan.stdout.splitlines() == ["00ff\tc3a9", f"{b'apple'.hex()}\t{b'red'.hex()}"]

    assert run("delete", db, "apple").returncode == 0
    get = run("get", db, "apple")
    assert get.returncode == 1 and get.stdout == "" and "not found" in get.stderr
    no_traceback(get)

    # The delete wrote a tombstone; the old value is still on disk, shadowed by it.
    where = json.loads(run("where", db, "apple", "--json").stdout)
    statuses = [(r["source"], r["kind"], r["status"]) for r in where]
    assert ("sstable", "put", "shadowed") in statuses
    assert next(r for r in where if r["status"] == "answer")["kind"] == "delete"
    old = next(r for r in where if r["kind"] == "put")
    assert bytes.fromhex(old["value"]) == b"red"
    assert (db / old["file"]).exists()
    text = run("where", db, "apple").stdout
    assert "red" in text and "shadowed by seq" in text and "get returns nothing" in text

    explain = run("explain", db, "apple")
    assert explain.returncode == 0 and "DELETED" in explain.stdout

    compact = run("compact", db)
    assert (
        compact.returncode == 0 and "dropped 1 tombstone and 1 shadowed version" in compact.stdout
    )
    where = json.loads(run("where", db, "apple", "--json").stdout)
    assert where == []
    assert not (db / old["file"]).exists()
    assert "No version of apple is present" in run("where", db, "apple").stdout

    stats = run("stats", db)
    assert stats.returncode == 0 and "write amplification" in stats.stdout
    figures = json.loads(run("stats", db, "--json").stdout)
    assert sum(lv["entries"] for lv in figures["levels"]) == 1

    verify = run("verify", db)
    assert verify.returncode == 0 and "ok" in verify.stdout
    [table] = sorted(db.glob("*.sst"))
    dump = run("sst", table, "--entries", "--hex")
    assert dump.returncode == 0 and "00ff" in dump.stdout and "c3a9" in dump.stdout

    # A corrupted copy: flip one byte inside the data block of the table.
    bad = tmp_path / "bad"
    shutil.copytree(db, bad)
    data = bytearray((bad / table.name).read_bytes())
    data[2] ^= 0xFF
    (bad / table.name).write_bytes(bytes(data))
    verify = run("verify", bad)
    assert verify.returncode == 3
    assert "checksum" in verify.stdout and table.name in verify.stdout
    assert len(verify.stderr.strip().splitlines()) == 1 and "damaged" in verify.stderr
    no_traceback(verify)
    get = run("get", bad, "--hex", "00ff")
    assert get.returncode == 3 and "CorruptionError" in get.stderr and table.name in get.stderr
    assert len(get.stderr.strip().splitlines()) == 1
    no_traceback(get)


def test_bad_input_gives_one_line_and_the_documented_status(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    cases = [
        (["get", missing, "k"], 1, "no store here"),
        (["where", missing, "k"], 1, "no store here"),
        (["verify", missing], 1, "no store here"),
        (["put", tmp_path / "db", "--hex", "zz", "v"], 2, "not valid hex"),
        (["frobnicate"], 2, "No such command"),
        (["scan", tmp_path, "--limit", "many"], 2, "--limit"),
    ]
    for args, status, message in cases:
        proc = run(*args)
        assert proc.returncode == status, (args, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, (args, proc.stderr)
        no_traceback(proc)
    assert not missing.exists()  # reading never creates a store
    assert not (tmp_path / "db").exists()  # nothing written after bad hex


def test_the_demo_reports_each_step_from_the_engine(tmp_path: Path) -> None:
    store = tmp_path / "tour"
    proc = run("demo", "--dir", store)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    no_traceback(proc)
    steps = re.findall(r"^== Step (\d) of (\d): (.*) ==$", out, re.M)
    assert [int(s[0]) for s in steps] == list(range(1, 8))
    sections = re.split(r"^== Step \d of \d: .* ==$", out, flags=re.M)[1:]
    opening, writes, flush, more, delete, reads, compaction = sections
    assert (
        "CURRENT" in opening
        and "MANIFEST-" in opening
        and re.search(r"^WAL +\d+\.log", opening, re.M)
    )

    # Writes: each put appended to the WAL, fsync'd, then inserted, in that order.
    for seq in (1, 2, 3):
        lines = [ln.split()[0] for ln in writes.splitlines() if f"(seq {seq})" in ln]
        assert lines == ["wal.append"]
        assert re.search(rf"memtable.insert +seq {seq} PUT", writes)
    order = [ln.split()[0] for ln in writes.splitlines() if ln.startswith("  ")]
    assert order[:3] == ["wal.append", "wal.fsync", "memtable.insert"]
    assert re.search(r"^memtable +3 ", writes, re.M)

    # Flush: one table in level 0 holding the three entries; the old WAL removed.
    created = re.search(r"file.created +(\d+\.sst): 3 entries, (\d+) bytes \(flush\)", flush)
    assert created is not None
    first_table, first_size = created.group(1), int(created.group(2))
    assert re.search(rf"^L0 +{first_table} +3 +{first_size} B", flush, re.M)
    assert re.search(r"file.deleted +\d+\.log removed", flush)
    assert re.search(r"^L0 +\d+\.sst, \d+\.sst +6 ", more, re.M)

    # Delete: a tombstone in the memtable, and the old value still in the first table.
    assert re.search(r"memtable.insert +seq 7 DELETE cherry", delete)
    assert re.search(rf"L0 {first_table} +2 +put +dark red +shadowed by seq 7", delete)

    # Reads: the first stops at the memtable; the second walks the tables, one bloom skip.
    first, second = reads.split("db.get('elderberry')")
    assert "returned None (not found): 1 layer consulted, 0 tables searched" in first
    assert "bloom filter: key certainly absent, table skipped" in second
    assert "returned 'black': 3 layers consulted, 1 table searched, 1 skipped" in second
    assert "1 block read from disk, 0 found in the block cache" in second

    # Compaction: three inputs, one output, the tombstone and the old value dropped.
    assert re.search(r"dropped 1 tombstone and 1 shadowed version", compaction)
    assert "No version of cherry is present" in compaction
    assert "SSTables in the store: 2 before, 1 after." in compaction
    final = re.search(r"^L1 +(\d+\.sst) +(\d+) +(\d+) B", compaction, re.M)
    assert final is not None
    output, entries, size = final.group(1), int(final.group(2)), int(final.group(3))
    reclaimed = re.search(r"\((\d+) bytes\) and wrote 1 \((\d+) bytes\): (\d+) bytes", compaction)
    assert reclaimed is not None
    assert int(reclaimed.group(1)) - int(reclaimed.group(2)) == int(reclaimed.group(3))

    # The figures printed are the store's: check them against the store left behind.
    assert sorted(p.name for p in store.glob("*.sst")) == [output]
    assert (store / output).stat().st_size == size == int(reclaimed.group(2))
    with lsmkv.open(store, read_only=True) as db:
        s = db.stats()
        assert s["levels"][1]["entries"] == entries == 5
        assert db.get(b"cherry") is None and db.get(b"elderberry") == b"black"
        assert db.where(b"cherry") == []


def test_stats_warns_about_tombstone_heavy_ranges(tmp_path: Path) -> None:
    with lsmkv.open(tmp_path / "db", sync=False, background_compaction=False) as db:
        for i in range(200):
            db.put(b"user:%04d" % i, b"x")
        for i in range(1200):
            db.put(b"queue:%05d" % i, b"job")
        db.flush()
        for i in range(1150):
            db.delete(b"queue:%05d" % i)
        db.flush()
    plain = run("stats", tmp_path / "db")
    assert plain.returncode == 0
    assert "warning: keys queue:00000 .. " in plain.stdout and "delete_range" in plain.stdout
    heat = run("stats", tmp_path / "db", "--tombstones", "--buckets", "16")
    strips = re.findall(r"^(L\d) +\|(.{16})\| (\d+) tombstones", heat.stdout, re.M)
    assert [(level, int(n)) for level, _, n in strips] == [("L0", 1150)]
    # queue:* sorts first: half of its entries are tombstones (':'); user:* has none ('-').
    strip = strips[0][1]
    assert strip[0] == ":" and strip[-1] == "-"
    explained = run("stats", "--explain")
    assert explained.returncode == 0
    assert "write_amplification" in explained.stdout and "stalls.condition" in explained.stdout


def test_bench_and_viz_pass_their_arguments_through(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[list[str]] = []
    fake = types.ModuleType("lsmkv.bench")
    fake.main = lambda argv: seen.append(argv) or 5  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lsmkv.bench", fake)
    assert main(["bench", "--quick", "queue", "--help"]) == 5
    assert seen == [["--quick", "queue", "--help"]]
    monkeypatch.setitem(sys.modules, "lsmkv.viz", None)  # as if the module were missing
    assert main(["viz", "replay"]) == 2
    assert "lsmkv.viz is missing" in capsys.readouterr().err


def test_demo_step_mode_pauses_between_steps(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n" * 10))
    assert main(["demo", "--step"]) == 0
    out = capsys.readouterr().out
    assert out.count("press Enter for the next step") == 6  # between 7 steps
    assert out.index("Step 7 of 7") > out.rindex("press Enter")
