"""Tools for testing code that uses lsmkv (and for lsmkv's own tests).

    >>> import errno
    >>> from lsmkv.testing import FaultFS, MemFS
    >>> fs = FaultFS(MemFS())            # or FaultFS() over the real disk
    >>> db = lsmkv.open("/db", fs=fs)
    >>> fs.inject("fsync", errno.EIO)    # the next fsync fails
    >>> db.put(b"k", b"v")
    Traceback (most recent call last):
    lsmkv.errors.DiskError: ...
    >>> fs.clear()
    >>> fs.power_loss()                  # drop everything not made durable
    >>> db = lsmkv.open("/db", fs=fs)
    >>> db.close()

See `lsmkv.storage.faultfs` for the power-loss modes and docs/durability.md for what
the store guarantees under each.
"""

from .storage.faultfs import MODES, OPERATIONS, FaultFS
from .storage.memfs import MemFS

__all__ = ["MODES", "OPERATIONS", "FaultFS", "MemFS"]
