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

from bisect import bisect_left, bisect_right
from itertools import compress
from typing import Any
from zlib import crc32

from ..core import filenames
from ..core.counters import Counters
from ..core.keys import KIND_NAMES, KIND_RANGE_DELETE, Entry
from ..manifest.edit import FileMeta
from ..rangedel import EMPTY, Fragments
from ..sstable.bloom import bloom_hash
from ..sstable.reader import TableReader
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
    key: one bloom probe (hash computed once) and, if it passes, one block search
    (a cache dict lookup, or a pread of the block on a miss). O(L0 files + levels)
    table checks in the worst case.
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
    # Everything below runs once per table a get considers, so it is written out here
    # rather than called. Per table, the reader (from the table cache's dict), then:
    # - a *hot* table (at least half its blocks cached: TableReader.hot_from): one
    #   bisect of its index for the block that would hold the key; if that block is
    #   cached, it is searched at once (counted as a bloom bypass). In C the filter is
    #   the cheap test; here a probe (a hash, a mask, a 512-bit AND, each likely a CPU
    #   cache miss) costs more than a `bytes.find` in a cached block, which also
    #   answers exactly;
    # - otherwise the filter is asked first (BloomFilter.may_contain_hash, inlined),
    #   and the index is bisected only if it passes: for a table whose blocks are
    #   mostly not cached, a bisect first would be paid by every table the filter rules
    #   out, for a rare bypass. The key's hash and pattern mask are computed when a first
    #   filter needs them, and again only for a filter with another pattern table.
    # The tables: every L0 file, newest first, then in each non-empty deeper level the
    # (at most one: no range tombstones here) file from one bisect of the level's
    # largest keys (Version.candidates, inlined; a smallest key above `key` ends it).
    pats = None
    h = m = 0
    version = sv.version
    readers = tables.readers
    level = 0
    files = version.levels[0]
    deeper = iter(version.deep_levels)
    while True:
        for f in files:
            if key < f.smallest or key > f.largest:
                if level:
                    break
                c.key_range_skips += 1
                continue
            reader = readers.get(f.number) or tables.get(f.number)
            bloom = reader.bloom
            i = -1
            if bloom is not None:
                if reader.cached_blocks >= reader.hot_from:
                    i = bisect_left(reader.index_keys, key)
                    if reader.slots[i] is not None:
                        c.bloom_bypassed += 1
                        bloom = None  # (no filter verdict: no false positive to count)
                if bloom is not None:
                    if bloom.patterns is not pats:
                        pats = bloom.patterns
                        h = crc32(key)
                        m = pats[h & 1023] >> (h >> 23)
                    # One AND of 512-bit ints: nonzero if a bit of the key is unset.
                    if bloom.holes[h % bloom.nblocks] & m:
                        c.bloom_skips += 1
                        continue
            if i < 0:
                i = bisect_left(reader.index_keys, key)
            c.tables_probed += 1
            c.per_level_probes[level] += 1
            found = reader.search(i, key, read_seq)
            if found is not None:
                return found
            if bloom is not None:
                c.bloom_false_positives += 1
        step = next(deeper, None)
        if step is None:
            return None
        level, files, largest = step
        i = bisect_left(largest, key)
        files = files[i : i + 2]


def multi_lookup(
    sv: SuperVersion, keys: list[bytes], read_seq: int, tables: TableCache, c: Counters
) -> dict[bytes, Entry]:
    """The answering record of each distinct key in `keys`, as `lookup` would find it
    (keys with no record are left out): the batch form behind `multi_get`.

    The walk is turned around: table by table (newest first, as `lookup` goes) over the
    sorted keys still unanswered, rather than key by key over the tables. A table
    sees only the keys in its key range (two bisects), each key's bloom hash is
    computed once for all tables, the per-table work (the reader, its filter) is done
    once per batch, and keys falling in the same data block find it in the cache one
    after the other. Counters count what was done, as `lookup` counts it: once per
    distinct key, so a duplicated key is looked up (and counted) once.

    Cost: O(n log n) to sort n keys, then per table meeting the keys' range two
    bisects, and per key it may hold one bloom probe and maybe one block search.
    """
    if sv.frozen_range_dels or sv.mem.range_tombstones:
        # Rare: range tombstones anywhere. Key by key, through the path that honours them.
        answers: dict[bytes, Entry] = {}
        for key in set(keys):
            entry = _lookup_with_ranges(sv, key, read_seq, tables, c)
            if entry is not None:
                answers[key] = entry
        return answers
    answers = {}
    pending: list[bytes] = []
    mem = sv.mem
    index = mem.index
    imms = sv.imms
    for key in set(keys):
        found: Entry | None = None
        if key in index:
            found = mem.get(key, read_seq)
        if found is None:
            for imm in imms:
                found = imm.get(key, read_seq)
                if found is not None:
                    break
        if found is None:
            pending.append(key)
        else:
            answers[key] = found
    c.memtable_hits += len(answers)
    if not pending:
        return answers
    pending.sort()
    hashes = list(map(crc32, pending))
    version = sv.version
    level = -1
    for files in version.levels:
        level += 1
        if not files or not pending:
            continue
        lo = 0
        n = len(pending)
        for f in files:
            if level:
                # Disjoint and sorted: a file's keys follow the previous file's. (A
                # user key may end one file and start the next; bisect_left on the
                # smallest key lets the next file see it again, as `candidates` does.)
                lo = bisect_left(pending, f.smallest, lo)
            else:
                lo = bisect_left(pending, f.smallest)
            hi = bisect_right(pending, f.largest, lo)
            if not level:
                c.key_range_skips += n - (hi - lo)
            if lo == hi:
                continue
            reader = tables.readers.get(f.number) or tables.get(f.number)
            answered = _probe_many(reader, pending, hashes, lo, hi, read_seq, answers, c, level)
            if answered and not level:
                # An L0 table answered some keys: the next L0 tables (and their
                # key-range counts) see only the keys still unanswered.
                pending, hashes = _unanswered(pending, hashes, answers)
                n = len(pending)
                if not n:
                    break
        if level:
            pending, hashes = _unanswered(pending, hashes, answers)
    return answers


def _unanswered(
    keys: list[bytes], hashes: list[int], answers: dict[bytes, Entry]
) -> tuple[list[bytes], list[int]]:
    """The keys not in `answers`, and their hashes (in C, by itertools.compress)."""
    keep = [k not in answers for k in keys]
    return list(compress(keys, keep)), list(compress(hashes, keep))


def _probe_many(
    reader: TableReader,
    keys: list[bytes],
    hashes: list[int],
    lo: int,
    hi: int,
    read_seq: int,
    answers: dict[bytes, Entry],
    c: Counters,
    level: int,
) -> bool:
    """Look up keys[lo:hi] (sorted, none answered yet but maybe the first: see below)
    in one table, adding what it answers to `answers`; True if it answered any. Each
    key is decided as `lookup` decides it (in a hot table a cached block is searched at
    once; otherwise the filter is asked first), and counted the same way."""
    if level and keys[lo] in answers:
        # The user key that ended the previous file of this level and starts this one,
        # answered there. (No other key here can be answered: memtable and L0 answers
        # left `keys` before this level, and the previous files of this level end
        # at or before this file's smallest key.)
        lo += 1
        if lo == hi:
            return False
    bloom = reader.bloom
    index_keys, slots, search = reader.index_keys, reader.slots, reader.search
    i = 0
    probed = skipped = bypassed = found_here = 0
    if bloom is None:
        for key in keys[lo:hi]:
            i = bisect_left(index_keys, key, i)  # (keys ascend: so do their blocks)
            found = search(i, key, read_seq)
            if found is not None:
                answers[key] = found
                found_here += 1
        probed = hi - lo
    else:
        holes, nblocks, pats = bloom.holes, bloom.nblocks, bloom.patterns
        false_positives = 0
        for key, h in zip(keys[lo:hi], hashes[lo:hi], strict=True):
            # (`hot` is read per key: the keys before this one may have made it hot.)
            hot = reader.cached_blocks >= reader.hot_from
            if hot:
                i = bisect_left(index_keys, key, i)
            checked = not hot or slots[i] is None
            if not checked:
                bypassed += 1
            elif holes[h % nblocks] & pats[h & 1023] >> (h >> 23):
                skipped += 1
                continue
            elif not hot:
                i = bisect_left(index_keys, key, i)
            found = search(i, key, read_seq)
            if found is not None:
                answers[key] = found
                found_here += 1
            elif checked:
                false_positives += 1
        probed = hi - lo - skipped
        c.bloom_skips += skipped
        c.bloom_bypassed += bypassed
        c.bloom_false_positives += false_positives
    c.tables_probed += probed
    c.per_level_probes[level] += probed
    return found_here > 0


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
    h = bloom_hash(key)
    for level, f in _table_order(sv, key):
        if key < f.smallest or key > f.largest:
            c.key_range_skips += 1
            continue
        reader = tables.get(f.number)
        if reader.fragments:
            covering = max(covering, reader.fragments.covering_seq(key, read_seq))
        i = bisect_left(reader.index_keys, key)
        bloom = reader.bloom
        hot = reader.cached_blocks >= reader.hot_from
        checked = bloom is not None and not (hot and reader.slots[i] is not None)  # as lookup
        if bloom is not None and not checked:
            c.bloom_bypassed += 1
        if bloom is not None and checked and not bloom.may_contain_hash(h):
            c.bloom_skips += 1
            if covering:
                return _range_answer(key, covering)
            continue
        c.tables_probed += 1
        c.per_level_probes[level] += 1
        found = reader.search(i, key, read_seq)
        if found is not None:
            return found if -found[1] > covering else _range_answer(key, covering)
        if checked:
            c.bloom_false_positives += 1
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
        h = bloom_hash(key)
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
            # The same decision as lookup's: in a hot table (at least half its blocks
            # cached) a cached block is searched without asking the filter
            # ("bypassed"); otherwise the filter is asked first.
            i = bisect_left(reader.index_keys, key)
            cached = reader.block_cached(i)
            bloom = reader.bloom
            hot = reader.cached_blocks >= reader.hot_from
            checked = bloom is not None and not (hot and cached)
            if bloom is not None and checked and not bloom.may_contain_hash(h):
                step["bloom"] = "skip"
                step["result"] = "skipped" if not covering else "deleted"
                if covering:
                    answer = _range_answer(key, covering)
                    break
                continue
            if bloom is None:
                step["bloom"] = "none"
            else:
                step["bloom"] = "pass" if checked else "bypassed"
            probed += 1
            if i < len(reader.index_keys):
                step["block"] = {"index": i, "offset": reader.handles[i].offset, "cached": cached}
                blocks_cached += cached
                blocks_read += not cached
            entry = reader.search(i, key, read_seq)
            if entry is None and checked:
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
