"""`lsmkv bench`: db_bench-style workloads, lsmkv side by side with RocksDB (rocksdict),
LevelDB (plyvel) and SQLite in one run (docs/performance.md explains every figure).

A tool beside the engine: it uses only the public API, and the engine never imports it.
"""

from __future__ import annotations

import importlib
import sys


def main(argv: list[str] | None = None) -> int:
    """Run `lsmkv bench ARGS`; returns the exit status.

    `lsmkv bench queue ...` belongs to the durable-queue benchmark (lsmkv.bench.queue).
    """
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] == "queue":
        # Imported only when asked for: it may need extras (matplotlib) the rest does not.
        queue = importlib.import_module("lsmkv.bench.queue")
        status: int = queue.main(args[1:])
        return status
    from .runner import main as run_main

    return run_main(args)


__all__ = ["main"]
