"""The read path: a point lookup walks the layers newest to oldest and stops at the
first record for the key.

Each layer answers a lookup in one of three ways (as LevelDB's memtable does): *found*
(a put), *deleted* (a point tombstone, or a range tombstone newer than any version
here), or *absent* (keep walking). The first answer that is not "absent" is the
answer: older layers can only hold older versions.

Two implementations share that loop. `lookup` is the hot one: no tracing, counters
only, and a fast path when no range tombstone exists anywhere. `walk` records every
step (layers, key-range and bloom verdicts, blocks, the answering record) for
`explain_get` and traced gets; the model tests check that the two always agree.
"""

from __future__ import annotations

from typing import Any

from ..core import filenames
from ..core.counters import Counters
from ..core.keys import KIND_NAMES, KIND_RANGE_DELETE, Entry
from ..manifest.edit import FileMeta
from ..rangedel import EMPTY, Fragments
from ..sstable.bloom import bloom_hash
from .state import SuperVersion
from .tables import TableCache


def _table_order(sv: SuperVersion, key: bytes) -> list[tuple[int, FileMeta]]:
    """The tables that may hold `key`, newest first: L0 by age, then one per level."""
    version = sv.version
    order = [(0, f) for f in version.levels[0]]
    for level in range(1, version.num_levels):
        if version.levels[level]:
            order.extend((level, f) for f in version.candidates(level, key))
    return order


def lookup(
    sv: SuperVersion, key: bytes, read_seq: int, tables: TableCache, c: Counters
) -> Entry | None:
    """The record that answers a get of `key` at `read_seq`: a put or a delete entry
    (a range deletion answers as `(key, -seq, KIND_RANGE_DELETE, b"")`), or None.

    Cost: a dict lookup per memtable, then for each table whose key range holds the
    key: one bloom probe (hash computed once) and, if it passes, one cached block
    search. O(L0 files + levels) table checks in the worst case.
    """
    mem = sv.mem
    if sv.frozen_range_dels or mem.range_tombstones:
        return _lookup_with_ranges(sv, key, read_seq, tables, c)
    if key in mem.index:
        entry = mem.get(key, read_seq)
        if entry is not None:
            c.memtable_hits += 1
            return entry
    for imm in sv.imms:
        found = imm.get(key, read_seq)
        if found is not None:
            c.memtable_hits += 1
            return found
    hashes = None
    version = sv.version
    levels = version.levels
    for level in range(len(levels)):
        files = levels[level]
        if not files:
            continue
        for f in version.candidates(level, key) if level else files:
            if key < f.smallest or key > f.largest:
                c.key_range_skips += 1
                continue
            reader = tables.get(f.number)
            bloom = reader.bloom
            if bloom is not None:
                if hashes is None:
                    hashes = bloom_hash(key)
                # BloomFilter.may_contain_hash, inlined: this runs for every table a
                # get checks, and a miss usually stops at the first or second bit.
                h, step = hashes
                bits, nbits = bloom._bits, bloom._nbits
                for _ in range(bloom._k):
                    pos = h % nbits
                    if not bits[pos >> 3] & (1 << (pos & 7)):
                        break
                    h += step
                else:
                    h = -1
                if h != -1:
                    c.bloom_skips += 1
                    continue
            c.tables_probed += 1
            c.per_level_probes[level] += 1
            found = reader.get(key, read_seq)
            if found is not None:
                return found
            if bloom is not None:
                c.bloom_false_positives += 1
    return None


def _lookup_with_ranges(
    sv: SuperVersion, key: bytes, read_seq: int, tables: TableCache, c: Counters
) -> Entry | None:
    """`lookup` when range tombstones exist: same walk, also tracking the newest range
    tombstone covering the key. A version is the answer only if it is newer than it."""
    covering = 0
    for mem in (sv.mem, *sv.imms):
        covering = max(covering, mem.fragments.covering_seq(key, read_seq))
        entry = mem.get(key, read_seq)
        if entry is not None:
            c.memtable_hits += 1
            return entry if -entry[1] > covering else _range_answer(key, covering)
        if covering:
            return _range_answer(key, covering)
    hashes = bloom_hash(key)
    for level, f in _table_order(sv, key):
        if key < f.smallest or key > f.largest:
            c.key_range_skips += 1
            continue
        reader = tables.get(f.number)
        if reader.fragments:
            covering = max(covering, reader.fragments.covering_seq(key, read_seq))
        if reader.bloom is not None and not reader.bloom.may_contain_hash(hashes):
            c.bloom_skips += 1
            if covering:
                return _range_answer(key, covering)
            continue
        c.tables_probed += 1
        c.per_level_probes[level] += 1
        found = reader.get(key, read_seq)
        if found is not None:
            return found if -found[1] > covering else _range_answer(key, covering)
        if covering:
            return _range_answer(key, covering)
    return None


def _range_answer(key: bytes, seq: int) -> Entry:
    return (key, -seq, KIND_RANGE_DELETE, b"")


def walk(
    sv: SuperVersion, key: bytes, read_seq: int, tables: TableCache
) -> tuple[Entry | None, dict[str, Any]]:
    """`lookup`, recording every step as plain data (the explain of one get).

    Returns `(answer, report)`; the report's schema is in docs/format/trace.md.
    """
    steps: list[dict[str, Any]] = []
    covering = 0
    answer: Entry | None = None
    blocks_read = 0
    blocks_cached = 0
    probed = 0
    sources = [("memtable", sv.mem)] + [
        (f"immutable memtable {i}", m) for i, m in enumerate(sv.imms)
    ]
    for name, mem in sources:
        step: dict[str, Any] = {"source": "memtable", "name": name, "entries": len(mem)}
        t = mem.fragments.covering_seq(key, read_seq) if mem.range_tombstones else 0
        if t:
            step["range_tombstone_seq"] = t
        covering = max(covering, t)
        entry = mem.get(key, read_seq)
        answer = _decide(entry, covering, key)
        step["result"] = _verdict(answer)
        if entry is not None:
            step["record"] = _record(entry)
        steps.append(step)
        if answer is not None:
            break
    if answer is None:
        hashes = bloom_hash(key)
        for level, f in _table_order(sv, key):
            step = {"source": "sstable", "level": level, "file": filenames.table_name(f.number)}
            steps.append(step)
            if key < f.smallest or key > f.largest:
                step["result"] = "skipped"
                step["why"] = "key outside the table's key range"
                continue
            reader = tables.get(f.number)
            t = reader.fragments.covering_seq(key, read_seq) if reader.fragments else 0
            if t:
                step["range_tombstone_seq"] = t
            covering = max(covering, t)
            if reader.bloom is not None and not reader.bloom.may_contain_hash(hashes):
                step["bloom"] = "skip"
                step["result"] = "skipped" if not covering else "deleted"
                if covering:
                    answer = _range_answer(key, covering)
                    break
                continue
            step["bloom"] = "pass" if reader.bloom is not None else "none"
            probed += 1
            i = _block_index(reader.index_keys, key)
            if i is not None:
                cached = reader.block_cached(i)
                step["block"] = {"index": i, "offset": reader.handles[i].offset, "cached": cached}
                blocks_cached += cached
                blocks_read += not cached
            entry = reader.get(key, read_seq)
            if entry is None and reader.bloom is not None:
                step["bloom"] = "false_positive"
            answer = _decide(entry, covering, key)
            step["result"] = _verdict(answer)
            if entry is not None:
                step["record"] = _record(entry)
            if answer is not None:
                break
    report: dict[str, Any] = {
        "key": key.hex(),
        "read_seq": read_seq,
        "steps": steps,
        "answer": None if answer is None else _record(answer),
        "found": answer is not None and answer[2] == 1,
        "sources_consulted": len(steps),
        "tables_probed": probed,
        "blocks_read": blocks_read,
        "blocks_cached": blocks_cached,
        "read_amplification": probed,
    }
    return answer, report


def _block_index(index_keys: list[bytes], key: bytes) -> int | None:
    from bisect import bisect_left

    i = bisect_left(index_keys, key)
    return i if i < len(index_keys) else None


def _decide(entry: Entry | None, covering: int, key: bytes) -> Entry | None:
    if entry is not None:
        return entry if -entry[1] > covering else _range_answer(key, covering)
    return _range_answer(key, covering) if covering else None


def _verdict(answer: Entry | None) -> str:
    if answer is None:
        return "absent"
    return "found" if answer[2] == 1 else "deleted"


def _record(entry: Entry) -> dict[str, Any]:
    key, neg_seq, kind, value = entry
    record: dict[str, Any] = {"key": key.hex(), "seq": -neg_seq, "kind": KIND_NAMES[kind].lower()}
    if kind == 1:
        record["value"] = value.hex()
    return record


def visible_fragments(
    fragments: list[Fragments], read_seq: int, lo: bytes | None, hi: bytes | None
) -> Fragments:
    """The range tombstones of several sources that a scan of [lo, hi) at `read_seq`
    must honour, fragmented together."""
    tombs = []
    for frags in fragments:
        if not frags:
            continue
        # Only the fragments overlapping [lo, hi), found by bisection: the cost must not
        # grow with the range tombstones a bounded scan never reaches (docs/queue.md).
        for start, end, seq in frags.overlapping(lo, hi):
            if seq <= read_seq:
                tombs.append((start, end, seq))
    if not tombs:
        return EMPTY
    return Fragments(tombs)
