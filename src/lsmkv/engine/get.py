"""The store's side of point reads that are not the plain `DB.get`: reads at a
snapshot's sequence number, `multi_get`, and traced gets.

read.py holds the lookup itself (pure functions over a SuperVersion, testable alone);
this module adds what needs the store: its counters, its tracer, the open check.
`DB.get` keeps its own copy of the untraced path in db.py on purpose: it is the
hottest call of the API, and a delegation would cost it one more Python call.
"""

from __future__ import annotations

from typing import TypeVar

from ..core.keys import KIND_PUT, MAX_KEY_BYTES, check_key
from . import read as read_path
from .base import EngineBase

T = TypeVar("T")


class GetMixin(EngineBase):
    """`DB._get_at`, `DB._traced_get` and `DB._multi_get_at`."""

    def _get_at(self, key: bytes, seq: int, default: T | None) -> bytes | T | None:
        key = check_key(key)
        self._check_open()
        if self._trace is not None:
            return self._traced_get(key, seq, default)
        c = self._counters
        c.gets += 1
        entry = read_path.lookup(self._sv, key, seq, self._tables, c)
        if entry is not None and entry[2] == KIND_PUT:
            c.gets_found += 1
            result: bytes = entry[3]
            return result
        return default

    def _traced_get(self, key: bytes, seq: int, default: T | None) -> bytes | T | None:
        self._counters.gets += 1
        entry, report = read_path.walk(self._sv, key, seq, self._tables)
        c = self._counters
        # A traced get counts what it did like an untraced one, so stats() agrees.
        for step in report["steps"]:
            bloom = step.get("bloom")
            if step["source"] == "memtable":
                # A hit is a record found there, as `lookup` counts it; a memtable
                # range tombstone that covers the key ends the walk without one.
                c.memtable_hits += "record" in step
            elif bloom == "skip":
                c.bloom_skips += 1
            elif "why" in step:
                c.key_range_skips += 1
            else:
                c.tables_probed += 1
                c.per_level_probes[step["level"]] += 1
                c.bloom_false_positives += bloom == "false_positive"
                c.bloom_bypassed += bloom == "bypassed"
        assert self._trace is not None
        self._trace("get", **report)
        if entry is not None and entry[2] == KIND_PUT:
            self._counters.gets_found += 1
            found: bytes = entry[3]
            return found
        return default

    def _multi_get_at(self, keys: list[bytes], seq: int) -> list[bytes | None]:
        """The values of `keys` at `seq`, in their order (duplicates answered each time).

        Cost: one pass to check the keys (in C when they are all plain bytes), then
        read.multi_lookup over the distinct keys, then one dict lookup per key.
        """
        if not keys:
            return []
        if set(map(type, keys)) != {bytes} or max(map(len, keys)) > MAX_KEY_BYTES:
            keys = [check_key(k) for k in keys]
        c = self._counters
        c.gets += len(keys)
        answers = read_path.multi_lookup(self._sv, keys, seq, self._tables, c)
        out: list[bytes | None] = []
        found = 0
        for key in keys:
            entry = answers.get(key)
            if entry is not None and entry[2] == KIND_PUT:
                found += 1
                out.append(entry[3])
            else:
                out.append(None)
        c.gets_found += found
        return out
