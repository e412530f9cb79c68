"""lsmkv: a log-structured merge-tree key-value store in pure Python that explains itself.

    >>> import lsmkv, tempfile
    >>> with lsmkv.open(tempfile.mkdtemp()) as db:
    ...     db.put(b"apple", b"red")
    ...     db.get(b"apple")
    b'red'

The public surface is exactly shared/api.md: `open`, `DB`, `WriteBatch`, `Snapshot`,
`verify`, `repair` and the errors (fault injection for tests: lsmkv.testing). Tools
(CLI, bench, viz) live beside the engine, not inside it.
"""

from .batch import WriteBatch
from .db import DB, Snapshot, open
from .errors import (
    ClosedError,
    CorruptionError,
    DiskError,
    Error,
    LockError,
    NotFoundError,
    ReadOnlyError,
)
from .introspect.repair import RepairReport, repair
from .introspect.verify import VerifyReport, verify
from .options import Options

__version__ = "0.1.0"

__all__ = [
    "DB",
    "ClosedError",
    "CorruptionError",
    "DiskError",
    "Error",
    "LockError",
    "NotFoundError",
    "Options",
    "ReadOnlyError",
    "RepairReport",
    "Snapshot",
    "VerifyReport",
    "WriteBatch",
    "__version__",
    "open",
    "repair",
    "verify",
]
