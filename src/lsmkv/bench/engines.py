"""Engine adapters: one small class per store, all with the same verbs.

Each adapter opens its store with the settings that make the comparison fair, stated
in `settings` (printed under the table): writes not synced except in the fillsync
workloads, a 10 bits/key bloom filter wherever the engine has one, no compression
(the values are random bytes, which do not compress anyway; compressing them would
only spend CPU). The verbs return the engine's own bound methods where the engine's
API already matches, so the timed loops pay no adapter call on top of the binding.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any

Put = Callable[[bytes, bytes], Any]
Get = Callable[[bytes], bytes | None]
Delete = Callable[[bytes], Any]

ENGINE_ORDER = ("lsmkv", "rocksdb", "leveldb", "sqlite")


class Engine:
    """The verbs every workload uses. Subclasses open the store in `__init__`."""

    name = ""
    binding = ""
    settings = ""

    def __init__(self, path: str) -> None:
        raise NotImplementedError

    def put_fn(self, sync: bool = False) -> Put:
        raise NotImplementedError

    def get_fn(self) -> Get:
        raise NotImplementedError

    def delete_fn(self) -> Delete:
        raise NotImplementedError

    def write_batch(self, pairs: list[tuple[bytes, bytes]]) -> None:
        raise NotImplementedError

    def multi_get(self, keys: list[bytes]) -> list[bytes | None]:
        get = self.get_fn()
        return [get(k) for k in keys]

    def scan(self, reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        raise NotImplementedError

    def helper_pids(self) -> list[int]:
        """Processes the engine runs besides the caller's, whose memory counts in the
        job's peak RSS (worker.py). Asked just before `close`."""
        return []

    def seek(self, key: bytes, count: int) -> int:
        """Position at the first key >= `key`, read up to `count` entries; how many."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _DirectEngine(Engine):
    """An engine whose store object already has the verbs: `db.put(k, v, sync=...)`,
    `db.get`, `db.delete`, `db.close`. The bound methods are handed out as they are, so
    the timed loops pay no adapter call."""

    db: Any

    def put_fn(self, sync: bool = False) -> Put:
        put: Put = self.db.put
        if not sync:
            return put
        put_sync = self.db.put
        return lambda k, v: put_sync(k, v, sync=True)

    def get_fn(self) -> Get:
        get: Get = self.db.get
        return get

    def delete_fn(self) -> Delete:
        delete: Delete = self.db.delete
        return delete

    def close(self) -> None:
        self.db.close()


class LsmkvEngine(_DirectEngine):
    name = "lsmkv"
    binding = "lsmkv (pure Python)"
    settings = "sync=False (fillsync: sync=True per put); bloom 10 bits/key; no compression"

    def __init__(self, path: str) -> None:
        import lsmkv

        self.db: lsmkv.DB = lsmkv.open(path, sync=False, bloom_bits_per_key=10, compression="none")

    def write_batch(self, pairs: list[tuple[bytes, bytes]]) -> None:
        with self.db.batch() as b:
            put = b.put
            for k, v in pairs:
                put(k, v)

    def multi_get(self, keys: list[bytes]) -> list[bytes | None]:
        return self.db.multi_get(keys)

    def helper_pids(self) -> list[int]:
        pids: list[int] = self.db.stats()["compaction"]["worker_pids"]
        return pids

    def scan(self, reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        return self.db.scan(reverse=reverse)

    def seek(self, key: bytes, count: int) -> int:
        n = 0
        for _ in self.db.scan(start=key, limit=count):
            n += 1
        return n


class RocksEngine(_DirectEngine):
    name = "rocksdb"
    binding = "rocksdict"
    settings = (
        "raw_mode; WAL on, sync=False (fillsync: WriteOptions.sync); "
        "bloom 10 bits/key (block-based table); no compression"
    )

    def __init__(self, path: str) -> None:
        import rocksdict

        opts = rocksdict.Options(raw_mode=True)
        opts.create_if_missing(True)
        opts.set_compression_type(rocksdict.DBCompressionType.none())
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(10, False)
        opts.set_block_based_table_factory(table)
        self._rocksdict = rocksdict
        self.db: Any = rocksdict.Rdict(path, opts)
        self._sync_opt = rocksdict.WriteOptions()
        self._sync_opt.sync = True

    def put_fn(self, sync: bool = False) -> Put:
        if not sync:
            put: Put = self.db.put
            return put
        put_opt, opt = self.db.put, self._sync_opt
        return lambda k, v: put_opt(k, v, opt)

    def write_batch(self, pairs: list[tuple[bytes, bytes]]) -> None:
        wb = self._rocksdict.WriteBatch(raw_mode=True)
        put = wb.put
        for k, v in pairs:
            put(k, v)
        self.db.write(wb)

    def multi_get(self, keys: list[bytes]) -> list[bytes | None]:
        result: list[bytes | None] = self.db.get(keys)
        return result

    def scan(self, reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        return iter(self.db.items(backwards=reverse))

    def seek(self, key: bytes, count: int) -> int:
        it = self.db.iter()
        it.seek(key)
        n = 0
        while n < count and it.valid():
            it.key()
            it.value()
            it.next()
            n += 1
        return n


class LevelEngine(_DirectEngine):
    name = "leveldb"
    binding = "plyvel"
    settings = "sync=False (fillsync: sync=True per put); bloom 10 bits/key; no compression"

    def __init__(self, path: str) -> None:
        import plyvel

        self.db: Any = plyvel.DB(
            path, create_if_missing=True, bloom_filter_bits=10, compression=None
        )

    def write_batch(self, pairs: list[tuple[bytes, bytes]]) -> None:
        with self.db.write_batch() as wb:
            put = wb.put
            for k, v in pairs:
                put(k, v)

    def scan(self, reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        return iter(self.db.iterator(reverse=reverse))

    def seek(self, key: bytes, count: int) -> int:
        n = 0
        with self.db.iterator() as it:
            it.seek(key)
            for _ in it:
                n += 1
                if n >= count:
                    break
        return n


class SqliteEngine(Engine):
    """SQLite as a key-value table: `WITHOUT ROWID`, so the B-tree is keyed by `k`.

    Each put is its own transaction (autocommit), as each put of the other engines is
    its own atomic write; WAL journal mode; `synchronous=OFF` except for fillsync
    (`FULL`: an fsync per commit). One connection per thread.
    """

    name = "sqlite"
    binding = "sqlite3 (stdlib)"
    settings = (
        "WITHOUT ROWID table; journal_mode=WAL; synchronous=OFF (fillsync: FULL); "
        "autocommit per put; no bloom filter (B-tree)"
    )

    def __init__(self, path: str) -> None:
        import os

        os.makedirs(path, exist_ok=True)
        self._file = os.path.join(path, "kv.sqlite")
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        conn = self._conn()
        conn.execute("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self._file, isolation_level=None, check_same_thread=False, timeout=60.0
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def put_fn(self, sync: bool = False) -> Put:
        conn = self._conn()
        conn.execute(f"PRAGMA synchronous={'FULL' if sync else 'OFF'}")
        execute = conn.execute
        sql = "INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)"
        return lambda k, v: execute(sql, (k, v))

    def get_fn(self) -> Get:
        execute = self._conn().execute
        sql = "SELECT v FROM kv WHERE k = ?"

        def get(k: bytes) -> bytes | None:
            row = execute(sql, (k,)).fetchone()
            return None if row is None else bytes(row[0])

        return get

    def delete_fn(self) -> Delete:
        execute = self._conn().execute
        sql = "DELETE FROM kv WHERE k = ?"
        return lambda k: execute(sql, (k,))

    def write_batch(self, pairs: list[tuple[bytes, bytes]]) -> None:
        conn = self._conn()
        conn.execute("BEGIN")
        conn.executemany("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", pairs)
        conn.execute("COMMIT")

    def multi_get(self, keys: list[bytes]) -> list[bytes | None]:
        marks = ",".join("?" * len(keys))
        rows = self._conn().execute(f"SELECT k, v FROM kv WHERE k IN ({marks})", keys)
        found = dict(rows.fetchall())
        return [found.get(k) for k in keys]

    def scan(self, reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        order = "DESC" if reverse else "ASC"
        return iter(self._conn().execute(f"SELECT k, v FROM kv ORDER BY k {order}"))

    def seek(self, key: bytes, count: int) -> int:
        rows = self._conn().execute(
            "SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT ?", (key, count)
        )
        return len(rows.fetchall())

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


ENGINES: dict[str, type[Engine]] = {
    "lsmkv": LsmkvEngine,
    "rocksdb": RocksEngine,
    "leveldb": LevelEngine,
    "sqlite": SqliteEngine,
}

# The Python module each engine needs; an engine whose module is missing is skipped.
_MODULES = {"lsmkv": "lsmkv", "rocksdb": "rocksdict", "leveldb": "plyvel", "sqlite": "sqlite3"}


def available(name: str) -> bool:
    """True if the binding of engine `name` can be imported here."""
    return importlib.util.find_spec(_MODULES[name]) is not None
