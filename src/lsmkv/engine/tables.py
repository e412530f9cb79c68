"""The table cache: one open TableReader per live SSTable, opened on first use."""

from __future__ import annotations

import os
import threading

from ..core import filenames
from ..core.counters import Counters
from ..errors import DiskError
from ..sstable.cache import BlockCache
from ..sstable.reader import TableReader
from ..storage.fs import FileSystem


class TableCache:
    def __init__(
        self, fs: FileSystem, dirname: str, block_cache: BlockCache, counters: Counters
    ) -> None:
        self._fs = fs
        self._dir = dirname
        self.block_cache = block_cache
        self._counters = counters
        # Open readers by table number. read.lookup reads this dict directly (a miss
        # falls back to `get`, which opens the table under the lock).
        self.readers: dict[int, TableReader] = {}
        self._readers = self.readers
        self._lock = threading.Lock()

    def get(self, number: int) -> TableReader:
        """The reader of table `number`. Cost: one dict lookup once it is open."""
        reader = self._readers.get(number)
        if reader is not None:
            return reader
        with self._lock:
            reader = self._readers.get(number)
            if reader is None:
                path = os.path.join(self._dir, filenames.table_name(number))
                try:
                    reader = TableReader(self._fs, path, number, self.block_cache, self._counters)
                except OSError as e:
                    # Readers see lsmkv errors only, never a bare OSError.
                    raise DiskError.from_os(e, f"opening {path}") from e
                self._readers[number] = reader
            return reader

    def evict(self, number: int) -> None:
        with self._lock:
            reader = self._readers.pop(number, None)
        if reader is not None:
            reader.close()
        self.block_cache.evict_file(number)

    def close(self) -> None:
        with self._lock:
            readers = list(self._readers.values())
            self._readers.clear()
        for reader in readers:
            reader.close()
