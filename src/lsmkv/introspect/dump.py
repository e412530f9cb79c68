"""`lsmkv sst FILE`: one SSTable laid out as plain data (RocksDB's sst_dump, ours).

Properties, the footer's block handles, the data blocks (offset, size, entry count,
first and last key), the bloom filter, the range tombstones and, on request, every
entry. Works on any table file, live or not, with no store open. Every block read is
checksum-verified; a damaged one raises `CorruptionError` naming file and offset.

Schema: docs/format/trace.md ("sst").
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from ..core import filenames
from ..core.keys import KIND_NAMES, KIND_PUT
from ..sstable.format import TRAILER_SIZE
from ..sstable.reader import TableReader
from ..storage.fs import FileSystem, OSFileSystem


def dump_sstable(
    path: str | os.PathLike[str],
    *,
    entries: bool = False,
    limit: int | None = None,
    fs: FileSystem | None = None,
) -> dict[str, Any]:
    """Describe the SSTable at `path`; with `entries`, list its entries (up to `limit`).

    Cost: opening the table (footer, index, filter and meta blocks); each data block is
    read once for its first key and count (all of them: O(file size)).

    Raises:
        CorruptionError: the file is not an SSTable or a block fails its checksum.
        OSError: the file cannot be read.
    """
    fs = fs if fs is not None else OSFileSystem()
    path = os.fspath(path)
    parsed = filenames.parse(os.path.basename(path))
    number = parsed[1] if parsed is not None and parsed[0] == "sst" else 0
    reader = TableReader(fs, path, number)
    try:
        props = asdict(reader.props)
        props["smallest_key"] = reader.props.smallest_key.hex()
        props["largest_key"] = reader.props.largest_key.hex()
        footer = reader.footer
        blocks: list[dict[str, Any]] = []
        listed: list[dict[str, Any]] = []
        for i, handle in enumerate(reader.handles):
            block = reader.block(i)
            blocks.append(
                {
                    "index": i,
                    "offset": handle.offset,
                    "size": handle.size + TRAILER_SIZE,
                    "entries": block.count,
                    "first_key": block.key_at(0).hex() if block.count else None,
                    "last_key": reader.index_keys[i].hex(),
                }
            )
            if entries and (limit is None or len(listed) < limit):
                for key, neg_seq, kind, value in block.entries():
                    if limit is not None and len(listed) >= limit:
                        break
                    listed.append(
                        {
                            "key": key.hex(),
                            "seq": -neg_seq,
                            "kind": KIND_NAMES.get(kind, str(kind)).lower(),
                            "value": value.hex() if kind == KIND_PUT else None,
                            "block": i,
                        }
                    )
        bloom = reader.bloom
        report: dict[str, Any] = {
            "file": path,
            "size": reader.file_size,
            "format_version": footer.format_version,
            "properties": props,
            "meta_blocks": {
                name: {"offset": h.offset, "size": h.size + TRAILER_SIZE if h.size else 0}
                for name, h in (
                    ("index", footer.index_block),
                    ("filter", footer.filter_block),
                    ("range_del", footer.range_del_block),
                    ("properties", footer.properties_block),
                )
            },
            "blocks": blocks,
            "bloom": None
            if bloom is None
            else {
                "bytes": footer.filter_block.size,
                "probes": bloom.k,
                "bits": bloom.nbits,
                "blocks": bloom.nblocks,
            },
            "range_tombstones": [
                {"start": s.hex(), "end": e.hex(), "seq": seq}
                for s, e, seq in reader.range_tombstones()
            ],
        }
        if entries:
            report["entries"] = listed
        return report
    finally:
        reader.close()
