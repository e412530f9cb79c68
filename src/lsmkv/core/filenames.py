"""The names of a store's files. One counter numbers WALs, SSTables and manifests alike.

000007.log        a write-ahead log
000009.sst        an SSTable
MANIFEST-000003   the version-edit log
CURRENT           names the live manifest (replaced atomically by rename)
LOCK              held with flock while the store is open for writing
lost/             the old files lsmkv.repair() replaced (never read by the engine)
"""

from __future__ import annotations

import re
from typing import Final

CURRENT: Final = "CURRENT"
LOCK: Final = "LOCK"
TEMP_SUFFIX: Final = ".tmp"
LOST_DIR: Final = "lost"  # where lsmkv.repair() moves the files it replaced

_PATTERN = re.compile(r"^(?:(\d{6,})\.(log|sst)|MANIFEST-(\d{6,}))$")


def wal_name(number: int) -> str:
    return f"{number:06d}.log"


def table_name(number: int) -> str:
    return f"{number:06d}.sst"


def manifest_name(number: int) -> str:
    return f"MANIFEST-{number:06d}"


def parse(name: str) -> tuple[str, int] | None:
    """`("log" | "sst" | "manifest", number)` for a store file name, else `None`."""
    m = _PATTERN.match(name)
    if m is None:
        return None
    if m.group(3) is not None:
        return "manifest", int(m.group(3))
    return m.group(2), int(m.group(1))
