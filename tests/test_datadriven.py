"""Data-driven cases (style.md item 7): each `tests/data/*.txt` file is a list of cases

    command arg=value ...
    input lines (optional)
    ----
    expected output lines

separated by blank lines; `#` starts a comment line. A command is a method of the
file's handler below that turns (args, input lines) into output lines, so a
compaction-picking or range-tombstone case reads as a table. A failure names the file,
line, wanted and got output.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lsmkv.compaction import picker
from lsmkv.compaction.accounting import estimate_live_bytes
from lsmkv.compaction.job import GrandparentLimit
from lsmkv.manifest.edit import FileMeta
from lsmkv.manifest.version import Version
from lsmkv.options import make_options
from lsmkv.rangedel import Fragments

DATA = Path(__file__).parent / "data"
Case = tuple[int, str, dict[str, str], list[str], list[str]]


def parse(text: str) -> list[Case]:
    cases: list[Case] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if not line or line.startswith("#"):
            i += 1
            continue
        start = i
        command, *words = line.split()
        args = dict(w.split("=", 1) if "=" in w else (w, "") for w in words)
        i += 1
        inputs: list[str] = []
        while lines[i].strip() != "----":
            inputs.append(lines[i].strip())
            i += 1
        i += 1
        expected: list[str] = []
        while i < len(lines) and lines[i].strip():
            expected.append(lines[i].rstrip())
            i += 1
        cases.append((start, command, args, inputs, expected))
    return cases


# ------------------------------------------------------------------ compaction picking
def _file(level: int, spec: str) -> tuple[int, FileMeta]:
    """`5 c-e 100 dels=3 window=3 seq=1-9`: number, key range, size, then extras."""
    number, span, size, *extras = spec.split()
    lo, hi = span.split("-")
    extra = dict(e.split("=") for e in extras)
    seq_lo, seq_hi = (int(x) for x in extra.get("seq", "1-1").split("-"))
    meta = FileMeta(
        number=int(number),
        size=int(size),
        smallest=lo.encode(),
        largest=hi.encode(),
        smallest_seq=seq_lo,
        largest_seq=seq_hi,
        entries=int(extra.get("entries", "100")),
        point_deletes=int(extra.get("dels", "0")),
        max_deletes_in_window=int(extra.get("window", extra.get("dels", "0"))),
    )
    return level, meta


class Picking:
    def __init__(self) -> None:
        self.version = Version.empty(4)
        self.pointers: dict[int, bytes] = {}
        self.exhausted: dict[int, int] = {}
        self.running: list[picker.Compaction] = []  # as the engine's running compactions

    def define(self, args: dict[str, str], lines: list[str]) -> list[str]:
        """Lines `L<n>: <file>; <file>; ...` (see `_file`)."""
        levels: list[list[FileMeta]] = [[] for _ in range(int(args.get("levels", "4")))]
        for line in lines:
            head, _, rest = line.partition(":")
            level = int(head.strip()[1:])
            for spec in filter(None, (s.strip() for s in rest.split(";"))):
                levels[level].append(_file(level, spec)[1])
        self.version = Version(levels)
        self.version.check()
        self.pointers = {}
        self.exhausted = {}
        self.running = []
        return [
            f"L{n}: {' '.join(str(f.number) for f in fs)}"
            for n, fs in enumerate(self.version.levels)
            if fs
        ]

    def _options(self, args: dict[str, str]) -> Any:
        known = {k: int(v) for k, v in args.items() if k not in ("horizon", "pointer", "lo", "hi")}
        return make_options({"num_levels": self.version.num_levels, **known})

    def _pick(self, args: dict[str, str]) -> picker.Compaction | None:
        if "pointer" in args:
            level, key = args["pointer"].split(":")
            self.pointers[int(level)] = key.encode()
        horizon = int(args["horizon"]) if "horizon" in args else None
        busy = picker.Busy.of(self.running)
        return picker.pick(
            self.version, self._options(args), self.pointers, self.exhausted, horizon, busy
        )

    def pick(self, args: dict[str, str], lines: list[str]) -> list[str]:
        """The picker's choice, clear of the compactions `run` started (if any)."""
        c = self._pick(args)
        if c is None:
            return ["none"]
        gp = " ".join(str(f.number) for f in c.grandparents) or "-"
        return [c.describe(), f"grandparents: {gp}"]

    def run(self, args: dict[str, str], lines: list[str]) -> list[str]:
        """Pick, and hold the pick as running (its files being compacted), as a
        compaction thread does; `finish` ends every running one."""
        c = self._pick(args)
        if c is None:
            return ["none"]
        self.running.append(c)
        return [f"running: {c.describe()}"]

    def finish(self, args: dict[str, str], lines: list[str]) -> list[str]:
        self.running = []
        return ["ok"]

    def exhaust(self, args: dict[str, str], lines: list[str]) -> list[str]:
        """Record `file=N horizon=S`, as the engine does after a bottom DTC rewrite."""
        self.exhausted[int(args["file"])] = int(args["horizon"])
        return ["ok"]

    def scores(self, args: dict[str, str], lines: list[str]) -> list[str]:
        opts = self._options(args)
        scores = picker.level_scores(self.version, opts)
        return [
            " ".join(f"L{n}={s:.2f}" for n, s in enumerate(scores)),
            f"pending={picker.pending_compaction_bytes(self.version, opts)}",
            f"live_estimate={estimate_live_bytes(self.version)}",
        ]

    def manual(self, args: dict[str, str], lines: list[str]) -> list[str]:
        lo = args["lo"].encode() if "lo" in args else None
        hi = args["hi"].encode() if "hi" in args else None
        out = []
        for level in picker.manual_steps(self.version, lo, hi):
            c = picker.manual_compaction(self.version, level, lo, hi)
            out.append(c.describe() if c is not None else f"L{level}: nothing")
        return out

    def cut(self, args: dict[str, str], lines: list[str]) -> list[str]:
        """Where outputs are cut for the grandparent limit: input is the output's keys."""
        grandparents = list(self.version.levels[int(args["level"])])
        limit = GrandparentLimit(grandparents, int(args["max"]))
        outputs: list[list[str]] = [[]]
        for key in " ".join(lines).split():
            if outputs[-1] and limit.should_cut_before(key.encode()):
                limit.reset()
                outputs.append([])
            elif not outputs[-1]:
                limit.should_cut_before(key.encode())
            outputs[-1].append(key)
        return [" ".join(o) for o in outputs]


# ------------------------------------------------------------------ range tombstones
class RangeDels:
    def __init__(self) -> None:
        self.fragments = Fragments(())

    def fragment(self, args: dict[str, str], lines: list[str]) -> list[str]:
        """Input: tombstones `start-end#seq`, any number per line."""
        tombs = []
        for spec in " ".join(lines).split():
            span, seq = spec.split("#")
            start, end = span.split("-")
            tombs.append((start.encode(), end.encode(), int(seq)))
        self.fragments = Fragments(tombs)
        self.fragments.check()
        return [
            f"[{s.decode()}, {e.decode()}) {{{', '.join(map(str, seqs))}}}"
            for s, e, seqs in zip(
                self.fragments.starts, self.fragments.ends, self.fragments.seqs, strict=True
            )
        ] or ["(none)"]

    def covering(self, args: dict[str, str], lines: list[str]) -> list[str]:
        """`covering seq=S` with keys as input: the covering tombstone seq of each."""
        seq = int(args["seq"])
        return [
            f"{k}: {self.fragments.covering_seq(k.encode(), seq)}" for k in " ".join(lines).split()
        ]

    def visible(self, args: dict[str, str], lines: list[str]) -> list[str]:
        self.fragments = self.fragments.visible(int(args["seq"]))
        return self.fragment(
            {}, [f"{s.decode()}-{e.decode()}#{q}" for s, e, q in self.fragments.tombstones()]
        )


HANDLERS: dict[str, Callable[[], Any]] = {
    "compaction_pick.txt": Picking,
    "rangedel_fragments.txt": RangeDels,
}


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_data_file(name: str) -> None:
    path = DATA / name
    text = path.read_text()
    handler = HANDLERS[name]()
    failures = []
    cases = parse(text)
    assert cases, f"{name} holds no case: the parser or the file is broken"
    for line_no, command, args, inputs, expected in cases:
        got = getattr(handler, command)(args, inputs)
        if got != expected:
            failures.append(f"{name}:{line_no + 1}: {command}\n  want {expected}\n  got  {got}")
    assert not failures, "\n".join(failures)
