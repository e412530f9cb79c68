"""SuperVersion: everything a reader needs, swapped in as one object.

A read takes `db._sv` once and then walks `mem`, `imms` and `version` from it, so it
never sees half of a memtable switch or a flush (the idea and the name are RocksDB's).
Writers replace the whole object under the DB mutex; readers take no lock at all.
"""

from __future__ import annotations

from typing import NamedTuple

from ..manifest.version import Version
from ..memtable import Memtable


class SuperVersion(NamedTuple):
    mem: Memtable  # the memtable receiving writes
    imms: tuple[Memtable, ...]  # immutable memtables waiting for flush, newest first
    version: Version
    # True when some immutable memtable or table holds range tombstones (the active
    # memtable is checked directly, since it can gain one at any time).
    frozen_range_dels: bool


def make_super_version(mem: Memtable, imms: tuple[Memtable, ...], version: Version) -> SuperVersion:
    has = any(m.range_tombstones for m in imms) or any(f.range_deletes for _, f in version.files())
    return SuperVersion(mem, imms, version, has)
