"""The architecture, enforced (style.md item 15).

1. Imports point down only: each engine module may import only modules of a lower or
   equal layer, so data flows one way (API -> DB -> engine -> parts -> storage).
2. The engine never touches files itself: no `open()` and no `os` file call outside
   `storage/`, so every file operation can be faulted by `lsmkv.testing.FaultFS`.
3. Tools (cli, bench, viz, recipes) sit beside the engine: the engine never imports them.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "lsmkv"

# Layer of each top-level part of the package, bottom first. A module may import from
# its own layer or any lower one.
LAYERS: dict[str, int] = {
    "errors": 0,
    "core": 1,
    "storage": 2,
    "options": 3,
    "record": 4,
    "batch": 4,
    "rangedel": 4,
    "memtable": 5,
    "wal": 5,
    "sstable": 5,
    "manifest": 5,
    "iterators": 6,
    "compaction": 7,
    "engine": 8,
    "introspect": 9,
    "db": 10,
    "testing": 11,
    "__init__": 12,
}
# `__main__` is `python -m lsmkv`, the command line's entry point: a tool too.
TOOLS = {"cli", "bench", "viz", "recipes", "__main__"}
# `os` functions that touch files; `os.path` string helpers are fine.
FILE_CALLS = {
    "open",
    "remove",
    "unlink",
    "rename",
    "replace",
    "listdir",
    "scandir",
    "mkdir",
    "makedirs",
    "rmdir",
    "fsync",
    "fdatasync",
    "write",
    "read",
    "pread",
    "pwrite",
    "stat",
    "truncate",
    "ftruncate",
}
FILE_MODULES = {"shutil", "tempfile", "io", "pathlib", "fcntl", "mmap"}


def _part(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _imported_parts(path: Path, tree: ast.Module) -> set[str]:
    """Top-level parts of lsmkv that a module imports (relative or absolute)."""
    parts: set[str] = set()
    depth = len(path.relative_to(PACKAGE).parts) - 1  # 0 for lsmkv/x.py
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                up = node.level - 1
                if up > depth:
                    continue
                base = list(path.relative_to(PACKAGE).parts[: depth - up])
                target = base + (node.module.split(".") if node.module else [])
                if target:
                    parts.add(target[0])
                else:  # `from . import x` at the package root
                    parts.update(alias.name for alias in node.names)
            elif node.module and node.module.split(".")[0] == "lsmkv":
                names = node.module.split(".")
                if len(names) > 1:
                    parts.add(names[1])
                else:
                    parts.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names = alias.name.split(".")
                if names[0] == "lsmkv" and len(names) > 1:
                    parts.add(names[1])
    return parts


def test_every_part_has_a_layer() -> None:
    for path in _modules():
        part = _part(path)
        assert part in LAYERS or part in TOOLS, f"{path}: add '{part}' to LAYERS or TOOLS"


def test_imports_point_down() -> None:
    problems = []
    for path in _modules():
        part = _part(path)
        if part in TOOLS:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for imported in _imported_parts(path, tree):
            if imported in TOOLS:
                problems.append(f"{path.name}: the engine imports the tool '{imported}'")
            elif imported in LAYERS and LAYERS[imported] > LAYERS[part]:
                problems.append(f"{path.relative_to(PACKAGE)} ({part}) imports {imported} (up)")
    assert not problems, "\n".join(problems)


def test_no_file_io_outside_storage() -> None:
    problems = []
    for path in _modules():
        part = _part(path)
        if part in TOOLS or part in {"storage", "testing"}:
            continue
        tree = ast.parse(path.read_text(), str(path))
        where = path.relative_to(PACKAGE)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id == "open":
                    problems.append(f"{where}:{node.lineno}: open()")
                if (
                    isinstance(func, ast.Attribute)
                    and isinstance(func.value, ast.Name)
                    and func.value.id == "os"
                    and func.attr in FILE_CALLS
                ):
                    problems.append(f"{where}:{node.lineno}: os.{func.attr}()")
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                for name in names:
                    if name.split(".")[0] in FILE_MODULES:
                        problems.append(f"{where}:{node.lineno}: imports {name}")
    assert not problems, "file I/O must go through storage/:\n" + "\n".join(problems)


def test_each_engine_method_is_defined_once() -> None:
    """`DB` inherits one mixin per engine concept (engine/base.py). If two of them, or a
    mixin and `DB`, defined the same method, the order of `DB`'s bases would silently
    decide which one runs; so every method has exactly one home."""
    from lsmkv.db import DB

    owners: dict[str, list[str]] = {}
    for cls in DB.__mro__:
        if cls is object:
            continue
        for name, value in vars(cls).items():
            if callable(value) and not (name.startswith("__") and name.endswith("__")):
                owners.setdefault(name, []).append(cls.__name__)
    twice = {name: classes for name, classes in owners.items() if len(classes) > 1}
    assert not twice, f"methods defined in more than one engine part: {twice}"
    assert {"_commit", "_recover", "_next_compaction", "_scan_at", "_stats"} <= owners.keys()
