"""`db.where(key)`: every version of a key still physically present, newest first.

It answers "a DELETE just ran: is the data gone from disk?" with evidence. It looks in
every place a version can live: the live WAL files (read back through the FileSystem,
exactly as recovery would), the memtable and the immutable memtables, and every live
SSTable, including the range tombstones that cover the key. It then marks the record a
get would return (`status: "answer"`), the older versions that record hides
(`"shadowed"`) and the WAL copies of writes whose readable copy is listed (`"log"`).

The schema of each record is in docs/format/trace.md ("where"). All values are plain
JSON data; keys and values are lowercase hex.
"""

from __future__ import annotations

import os
from typing import Any

from ..core import filenames
from ..core.counters import Counters
from ..core.keys import KIND_BY_NAME, KIND_NAMES, KIND_PUT, KIND_RANGE_DELETE, Entry
from ..engine.read import walk
from ..engine.state import SuperVersion
from ..engine.tables import TableCache
from ..errors import CorruptionError
from ..sstable.cache import BlockCache
from ..sstable.reader import TableReader
from ..storage.fs import FileSystem
from ..wal.replay import read_wal

# Order of sources among records with the same sequence number: the copy a reader uses
# first, then its WAL copy, then (during a flush) the table it is being written to.
_SOURCE_RANK = {"memtable": 0, "immutable_memtable": 1, "wal": 2, "sstable": 3}


def where(
    sv: SuperVersion,
    fs: FileSystem,
    path: str,
    log_number: int,
    key: bytes,
    read_seq: int,
) -> list[dict[str, Any]]:
    """Every record of `key` present in the store, newest first (see the module doc).

    Cost: reads every live WAL file in full, one dict lookup per memtable and, for
    each live SSTable whose key range holds the key, an open of the table and the data
    blocks holding the key's versions (no bloom filter: it would hide nothing but cost),
    then the walk of a get. Tables are read through a table cache of its own, so the
    store's block cache and the counters of stats() are untouched: looking does not
    change what it looks at.
    """
    records: list[dict[str, Any]] = []
    records.extend(_from_wals(fs, path, log_number, key))
    mems = [("memtable", sv.mem, None)] + [
        ("immutable_memtable", m, i) for i, m in enumerate(sv.imms)
    ]
    for source, mem, index in mems:
        extra: dict[str, Any] = {} if index is None else {"index": index}
        for entry in mem.versions(key):
            records.append({"source": source, **extra, **_entry(entry)})
        for start, end, seq in mem.range_tombstones:
            if start <= key < end:
                records.append({"source": source, **extra, **_range(start, end, seq)})
    # `sv` names every table read below, so compaction cannot delete one meanwhile.
    tables = TableCache(fs, path, BlockCache(_PRIVATE_CACHE_BYTES), Counters())
    try:
        for level, meta in sv.version.files():
            if not meta.smallest <= key <= meta.largest:
                continue
            name = filenames.table_name(meta.number)
            reader = tables.get(meta.number)
            for entry in reader.iter_entries(key, key + b"\x00"):
                records.append({"source": "sstable", "level": level, "file": name, **_entry(entry)})
            fragments = reader.fragments
            span = fragments.span_at(key) if fragments else -1
            if span >= 0:
                start, end = fragments.starts[span], fragments.ends[span]
                for seq in fragments.seqs[span]:
                    records.append(
                        {
                            "source": "sstable",
                            "level": level,
                            "file": name,
                            **_range(start, end, seq),
                        }
                    )
        records.sort(key=lambda r: (-r["seq"], _SOURCE_RANK[r["source"]]))
        answer, _report = walk(sv, key, read_seq, tables)
    finally:
        tables.close()
    _mark(records, answer, read_seq)
    return records


# Enough for the few blocks one key's versions span.
_PRIVATE_CACHE_BYTES = 1 << 20


def private_reader(fs: FileSystem, path: str, number: int) -> TableReader:
    """A reader of table `number` outside the store's table cache and block cache.

    The caller holds a Version naming the table, so compaction cannot delete it
    meanwhile. Cost: one open and the table's meta blocks (footer, index, filter).
    """
    name = os.path.join(path, filenames.table_name(number))
    return TableReader(fs, name, number, BlockCache(1), Counters())


def _from_wals(fs: FileSystem, path: str, log_number: int, key: bytes) -> list[dict[str, Any]]:
    """The records of `key` in every WAL not yet flushed (the ones recovery would replay)."""
    found: list[dict[str, Any]] = []
    names = fs.listdir(path)
    logs = sorted(
        number
        for kind, number in filter(None, map(filenames.parse, names))
        if kind == "log" and number >= log_number
    )
    for number in logs:
        name = filenames.wal_name(number)
        try:
            # point_in_time never raises for damage: it stops at it, as a reader of a
            # file still being appended to must (its tail may be half written).
            contents = read_wal(
                fs, os.path.join(path, name), fully_synced=False, mode="point_in_time"
            )
        except (OSError, CorruptionError):
            continue  # deleted by a flush meanwhile, or unreadable: verify reports it
        for offset, first_seq, ops in contents.batches:
            for i, (kind, op_key, value) in enumerate(ops):
                record: dict[str, Any] | None = None
                if kind == KIND_RANGE_DELETE:
                    if op_key <= key < value:
                        record = _range(op_key, value, first_seq + i)
                elif op_key == key:
                    record = _entry((op_key, -(first_seq + i), kind, value))
                if record is not None:
                    found.append({"source": "wal", "file": name, "offset": offset, **record})
    return found


def _entry(entry: Entry) -> dict[str, Any]:
    _key, neg_seq, kind, value = entry
    record: dict[str, Any] = {"seq": -neg_seq, "kind": KIND_NAMES[kind].lower()}
    record["value"] = value.hex() if kind == KIND_PUT else None
    return record


def _range(start: bytes, end: bytes, seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "kind": KIND_NAMES[KIND_RANGE_DELETE].lower(),
        "value": None,
        "range": [start.hex(), end.hex()],
    }


def _mark(records: list[dict[str, Any]], answer: Entry | None, read_seq: int) -> None:
    """Set `status` and `get_returns` on every record.

    The answer is the record with the answer's seq and kind in the first layer that
    holds it; records older than it are shadowed (a tombstone or a newer value hides
    them); WAL copies are marked "log" (a reader never reads the WAL: recovery does).
    """
    answer_seq = -answer[1] if answer is not None else 0
    answer_kind = answer[2] if answer is not None else -1
    taken = False
    for r in records:
        seq = r["seq"]
        kind = KIND_BY_NAME[r["kind"].upper()]
        if seq > read_seq:
            status = "pending"  # written after the read point (still being committed)
        elif r["source"] == "wal":
            status = "log"
        elif not taken and seq == answer_seq and kind == answer_kind:
            status = "answer"
            taken = True
        elif seq < answer_seq or (seq == answer_seq and taken):
            status = "shadowed"
        else:
            # Newer than the answer yet not it: only a range tombstone that does not
            # cover this key at read time could be here; keep it visible, unmarked.
            status = "present"
        r["status"] = status
        r["get_returns"] = status == "answer" and kind == KIND_PUT
        if status == "shadowed" and answer is not None:
            r["shadowed_by"] = answer_seq
