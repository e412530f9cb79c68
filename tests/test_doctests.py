"""Every `>>>` example in the package's docstrings runs, so the examples cannot rot
(style.md item 18). Examples may use `db`, an open store in a fresh directory, and
`lsmkv`; each module gets its own store."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import lsmkv

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(lsmkv.__path__, "lsmkv.")
    # Tools whose optional extras may be absent are imported lazily by the CLI.
    if not info.name.startswith(("lsmkv.viz", "lsmkv.bench", "lsmkv.__main__"))
    and not info.name.endswith(".__main__")
)


def _examples(module_name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(module_name)
    return [t for t in doctest.DocTestFinder().find(module) if t.examples]


def test_there_are_examples() -> None:
    assert sum(len(_examples(m)) for m in MODULES) >= 3


@pytest.mark.parametrize("module_name", [m for m in MODULES if _examples(m)])
def test_docstring_examples_run(module_name: str, tmp_path: Path) -> None:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for i, test in enumerate(_examples(module_name)):
        with lsmkv.open(tmp_path / f"db{i}") as db:
            test.globs.update({"db": db, "lsmkv": lsmkv})
            runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {module_name}"
