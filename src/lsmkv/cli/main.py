"""Entry point of the `lsmkv` command (a placeholder until the CLI lands)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    print("lsmkv: command line not built yet", args, file=sys.stderr)
    return 2
