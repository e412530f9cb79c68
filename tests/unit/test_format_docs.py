"""Each docs/format page's worked hex example is regenerated from the real writers and
compared with the page, so a format change cannot forget its documentation.

`LSMKV_REGEN_DOCS=1` rewrites the examples in place (after a deliberate format change).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from tests.format_examples import EXAMPLES, hexdump

DOCS = Path(__file__).resolve().parents[2] / "docs" / "format"
_BLOCK = re.compile(r"(<!-- example: (\w+) -->\n```\n)(.*?)(\n```)", re.S)


@pytest.mark.parametrize("page", ["wal.md", "sstable.md", "manifest.md"])
def test_worked_example_matches_the_code(page: str) -> None:
    path = DOCS / page
    text = path.read_text()
    blocks = _BLOCK.findall(text)
    assert blocks, f"{page} has no '<!-- example: NAME -->' hex block"
    fresh = text
    for head, name, body, tail in blocks:
        expected = hexdump(EXAMPLES[name]())
        if os.environ.get("LSMKV_REGEN_DOCS"):
            fresh = fresh.replace(head + body + tail, head + expected + tail)
            continue
        assert body == expected, f"{page}: example {name!r} no longer matches the format"
    if fresh != text:
        path.write_text(fresh)


def test_hexdump_layout() -> None:
    assert hexdump(b"AB\x00") == "0000  41 42 00" + " " * 39 + "  |AB.|"
