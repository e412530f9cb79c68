"""The `lsmkv` command (and `python -m lsmkv`): the contract of shared/api.md, "Command line".

Keys and values are UTF-8 text unless `--hex` is given. Exit status: 0 success, 1 not
found (a key, or a store), 2 bad usage, 3 a store error (corruption, a disk error, a
lock held). An error is one line on standard error, never a traceback.

Commands that only read (get, scan, where, explain, stats) open the store read-only:
they take no lock, change nothing on disk, and so show the store exactly as it was
left, unflushed WAL included.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from .. import errors
from ..db import DB
from ..db import open as open_store
from ..introspect.dump import dump_sstable
from ..introspect.repair import LOST_DIR
from ..introspect.repair import repair as repair_store
from ..introspect.stats_text import DEFINITIONS, DERIVED
from ..introspect.verify import verify as verify_store
from .render import Out, err, esc, human_bytes, plural, show_bytes, show_hex
from .views import (
    render_explain_get,
    render_explain_scan,
    render_stats,
    render_tombstone_map,
    render_tombstone_warnings,
    render_where,
)

# Typer carries its own copy of click; its exception classes are reached through the one
# it exports (BadParameter), not imported from a private module.
_UsageError: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)
_ClickException: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)

app = typer.Typer(
    name="lsmkv",
    help="lsmkv: a log-structured merge-tree key-value store that explains itself.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

DbArg = Annotated[Path, typer.Argument(help="The store's directory.", show_default=False)]
HexOpt = Annotated[bool, typer.Option("--hex", help="Keys and values are hex on input and output.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the engine's report as JSON.")]

# The bounds of a scan, shared by `scan` and `explain --scan` so their flags cannot drift.
StartOpt = Annotated[str | None, typer.Option(help="First key (inclusive).")]
EndOpt = Annotated[str | None, typer.Option(help="Stop before this key.")]
PrefixOpt = Annotated[str | None, typer.Option(help="Only keys with this prefix.")]
LimitOpt = Annotated[int | None, typer.Option(min=0, help="At most N keys.")]
ReverseOpt = Annotated[bool, typer.Option("--reverse", help="Descending order.")]


def _scan_bounds(
    start: str | None, end: str | None, prefix: str | None, hex_mode: bool
) -> tuple[bytes | None, bytes | None, bytes | None]:
    return (
        _optional_bytes(start, "--start", hex_mode),
        _optional_bytes(end, "--end", hex_mode),
        _optional_bytes(prefix, "--prefix", hex_mode),
    )


class _Exit(Exception):
    """Leave with `code` after printing `message` on stderr (one line)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _fail(code: int, message: str) -> NoReturn:
    raise _Exit(code, message)


def _bytes_arg(text: str, what: str, hex_mode: bool) -> bytes:
    if not hex_mode:
        return text.encode("utf-8", "surrogateescape")
    try:
        return bytes.fromhex(text)
    except ValueError:
        _fail(2, f"{what} {text!r} is not valid hex (use pairs of 0-9a-f, e.g. 6b6579)")


def _optional_bytes(text: str | None, what: str, hex_mode: bool) -> bytes | None:
    return None if text is None else _bytes_arg(text, what, hex_mode)


@contextmanager
def _store(path: Path, *, write: bool = False, create: bool = False) -> Iterator[DB]:
    """Open the store at `path`: read-only unless `write`; created only if `create`."""
    if not create and not path.is_dir():
        _fail(1, f"{path}: no store here")
    db = open_store(path, read_only=not write, create_if_missing=create)
    try:
        yield db
    finally:
        db.close()


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


# ------------------------------------------------------------------ data commands
@app.command()
def put(db: DbArg, key: str, value: str, hex_mode: HexOpt = False) -> None:
    """Store VALUE under KEY (durable when the command returns: WAL append + fsync)."""
    k = _bytes_arg(key, "key", hex_mode)
    v = _bytes_arg(value, "value", hex_mode)
    with _store(db, write=True, create=True) as store:
        store.put(k, v)


@app.command()
def get(db: DbArg, key: str, hex_mode: HexOpt = False) -> None:
    """Print the value of KEY (exit 1 if it is absent or deleted)."""
    k = _bytes_arg(key, "key", hex_mode)
    with _store(db) as store:
        value = store.get(k)
    if value is None:
        _fail(1, f"{key}: not found")
    _write_raw((value.hex().encode() if hex_mode else value) + b"\n")


def _write_raw(data: bytes) -> None:
    """Write bytes as they are (a value need not be valid UTF-8)."""
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


# A terminal shows at most this many pairs as a table; piped output has no limit.
TTY_SCAN_ROWS = 1000


@app.command()
def delete(db: DbArg, key: str, hex_mode: HexOpt = False) -> None:
    """Delete KEY (appends a tombstone; never an error if KEY is absent)."""
    k = _bytes_arg(key, "key", hex_mode)
    with _store(db, write=True) as store:
        store.delete(k)


@app.command()
def scan(
    db: DbArg,
    start: StartOpt = None,
    end: EndOpt = None,
    prefix: PrefixOpt = None,
    limit: LimitOpt = None,
    reverse: ReverseOpt = False,
    hex_mode: HexOpt = False,
) -> None:
    """Print KEY<TAB>VALUE lines in key order (a table on a terminal)."""
    lo, hi, p = _scan_bounds(start, end, prefix, hex_mode)
    out = Out()
    with _store(db) as store:
        pairs = store.scan(lo, hi, prefix=p, reverse=reverse, limit=limit)
        if out.tty:
            rows: list[list[str]] = []
            for k, v in pairs:
                if len(rows) == TTY_SCAN_ROWS:
                    out.table(["key", "value"], rows)
                    out.print(
                        f"the first {TTY_SCAN_ROWS} keys; pipe the output (or use --limit) "
                        "to see them all"
                    )
                    return
                rows.append([show_bytes(k, hex_mode), show_bytes(v, hex_mode)])
            out.table(["key", "value"], rows)
            out.print(plural(len(rows), "key"))
            return
        lines = []
        for k, v in pairs:
            if hex_mode:
                lines.append(b"%s\t%s\n" % (k.hex().encode(), v.hex().encode()))
            else:
                lines.append(b"%s\t%s\n" % (k, v))
            if len(lines) >= 1024:
                _write_raw(b"".join(lines))
                lines.clear()
        _write_raw(b"".join(lines))


# -------------------------------------------------------------- introspection
@app.command()
def where(db: DbArg, key: str, hex_mode: HexOpt = False, as_json: JsonOpt = False) -> None:
    """Every version of KEY still on disk or in memory, newest first.

    WAL records, memtable entries, each SSTable's entry (level, file, seq) and covering
    range tombstones; marks what a get returns and which versions are shadowed.
    """
    k = _bytes_arg(key, "key", hex_mode)
    with _store(db) as store:
        records = store.where(k)
    if as_json:
        _print_json(records)
        return
    render_where(Out(), show_bytes(k, hex_mode), records, hex_mode, replayed=True)


@app.command()
def explain(
    db: DbArg,
    key: Annotated[str | None, typer.Argument(show_default=False)] = None,
    scan_mode: Annotated[
        bool, typer.Option("--scan", help="Explain a scan (--start/--end/--prefix/--limit).")
    ] = False,
    start: StartOpt = None,
    end: EndOpt = None,
    prefix: PrefixOpt = None,
    limit: LimitOpt = None,
    reverse: ReverseOpt = False,
    hex_mode: HexOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """The walk of one get of KEY through the layers (or, with --scan, of one scan)."""
    out = Out()
    if scan_mode:
        lo, hi, p = _scan_bounds(start, end, prefix, hex_mode)
        with _store(db) as store:
            report = store.explain_scan(lo, hi, prefix=p, reverse=reverse, limit=limit)
        if as_json:
            _print_json(report)
        else:
            render_explain_scan(out, report, hex_mode)
        return
    if key is None:
        _fail(2, "explain needs a KEY (or --scan)")
    k = _bytes_arg(key, "key", hex_mode)
    with _store(db) as store:
        report = store.explain_get(k)
    if as_json:
        _print_json(report)
        return
    render_explain_get(out, show_bytes(k, hex_mode), report, hex_mode, replayed=True)


@app.command()
def stats(
    db: Annotated[Path | None, typer.Argument(show_default=False)] = None,
    tombstones: Annotated[
        bool,
        typer.Option("--tombstones", help="Draw tombstone density by key range and level."),
    ] = False,
    explain_figures: Annotated[
        bool, typer.Option("--explain", help="Define every figure stats reports.")
    ] = False,
    buckets: Annotated[int, typer.Option(min=1, help="Key ranges in the map.")] = 32,
    threshold: Annotated[
        int | None, typer.Option(min=1, help="Tombstones per scan that warrant a warning.")
    ] = None,
    hex_mode: HexOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Levels, sizes, tombstones, amplification, and tombstone warnings.

    Levels as a table (files, bytes, entries, tombstones, key range), memtable and WAL
    sizes, read/write/space amplification, and a warning with the remedy where a scan
    would step over too many tombstones.
    """
    out = Out()
    if explain_figures:
        rows = [[name, text] for name, text in {**DEFINITIONS, **DERIVED}.items()]
        out.table(["figure", "definition"], rows, title="stats: every figure")
        if db is None:
            return
    if db is None:
        _fail(2, "stats needs a store directory (or --explain alone)")
    with _store(db) as store:
        figures = store.stats()
        limit = threshold if threshold is not None else store.options.scan_tombstone_hint
        total_tombstones = sum(int(lv["tombstones"]) for lv in figures["levels"])
        total_tombstones += int(figures["memtable_entries"])  # upper bound for memtables
        # A warning needs more than `limit` tombstones somewhere, so the full map (which
        # reads every table) is only built when that is possible or when asked for.
        tmap = None
        if tombstones or (limit and total_tombstones > limit):
            tmap = store.tombstone_map(buckets=buckets, threshold=limit)
    if as_json:
        if tmap is not None:
            figures["tombstone_map"] = tmap
        _print_json(figures)
        return
    render_stats(out, figures, hex_mode)
    if tombstones and tmap is not None:
        render_tombstone_map(out, tmap, hex_mode)
    elif tmap is not None:
        render_tombstone_warnings(out, tmap, hex_mode)


# ---------------------------------------------------------------- maintenance
@app.command()
def compact(
    db: DbArg,
    start: Annotated[str | None, typer.Option(help="First key of the range.")] = None,
    end: Annotated[str | None, typer.Option(help="Last key of the range.")] = None,
    hex_mode: HexOpt = False,
) -> None:
    """Compact the store, or the tables overlapping [--start, --end].

    Drops shadowed versions and tombstones; shows progress on a terminal.
    """
    lo = _optional_bytes(start, "--start", hex_mode)
    hi = _optional_bytes(end, "--end", hex_mode)
    out = Out()
    done: list[dict[str, Any]] = []
    if not db.is_dir():
        _fail(1, f"{db}: no store here")
    status = None
    if out.tty:
        status = out.console.status("compacting ...")
        status.start()

    def listen(event: dict[str, Any]) -> None:
        if event["event"] == "compaction.end":
            done.append(event)
        if status is not None and event["event"] in ("compaction.begin", "flush.begin"):
            if event["event"] == "flush.begin":
                status.update(f"flushing the memtable ({event['entries']} entries) ...")
            else:
                files = len(event["inputs"])
                status.update(
                    f"compaction {len(done) + 1}: merging {files} files of L{event['level']} "
                    f"into L{event['output_level']} ..."
                )

    try:
        store = open_store(db, create_if_missing=False, trace=listen)
        try:
            before = store.stats()
            store.compact(lo, hi)
            after = store.stats()
        finally:
            store.close()
    finally:
        if status is not None:
            status.stop()
    read = sum(int(e["bytes_read"]) for e in done)
    written = sum(int(e["bytes_written"]) for e in done)
    dropped = sum(int(e["tombstones_dropped"]) for e in done)
    shadowed = sum(int(e["shadowed_dropped"]) for e in done)
    files_before = sum(int(lv["files"]) for lv in before["levels"])
    files_after = sum(int(lv["files"]) for lv in after["levels"])
    out.print(
        f"{plural(len(done), 'compaction')}: read {human_bytes(read)}, wrote "
        f"{human_bytes(written)}; dropped {plural(dropped, 'tombstone')} and "
        f"{plural(shadowed, 'shadowed version')}; files "
        f"{files_before} -> {files_after}"
    )


@app.command()
def verify(db: DbArg, as_json: JsonOpt = False) -> None:
    """Check every checksum of every live file (exit 3 on corruption)."""
    if not db.is_dir():
        _fail(1, f"{db}: no store here")
    report = verify_store(db)
    if as_json:
        _print_json(report.to_dict())
    else:
        out = Out()
        for problem in report.problems:
            out.plain(f"problem: {problem}")
        for orphan in report.orphans:
            out.plain(f"orphan (not used by the store): {orphan}")
        for tail in report.torn_tails:
            out.plain(f"torn tail (a crash mid-write; open() drops it): {tail}")
        out.print(
            f"checked {report.tables_checked} tables and {report.wals_checked} WALs, "
            f"{human_bytes(report.bytes_checked)}"
        )
    if not report.ok:
        _fail(3, f"{db}: {len(report.problems)} problem(s) found; the store is damaged")
    if not as_json:
        Out().print("ok: every checksum matches")


@app.command()
def repair(db: DbArg, as_json: JsonOpt = False) -> None:
    """Salvage what is intact of a damaged store into a consistent one (old files are
    moved to DB/lost/, never deleted); lists what was lost."""
    if not db.is_dir():
        _fail(1, f"{db}: no store here")
    report = repair_store(db)
    if as_json:
        _print_json(report.to_dict())
        return
    out = Out()
    for item in report.lost:
        out.plain(f"lost: {item}")
    for note in report.notes:
        out.plain(f"note: {note}")
    out.print(
        f"kept {plural(report.entries_salvaged, 'entry', 'entries')} and "
        f"{plural(report.range_tombstones_salvaged, 'range tombstone')} from "
        f"{plural(report.tables_read, 'table')} and {plural(report.wals_read, 'WAL')}; "
        f"moved {plural(len(report.moved), 'old file')} to {db / LOST_DIR}"
    )
    out.print("ok: nothing was lost" if report.complete else "done, with the losses above")


@app.command()
def sst(
    file: Annotated[Path, typer.Argument(help="An SSTable file (NNNNNN.sst).")],
    entries: Annotated[bool, typer.Option("--entries", help="List every entry.")] = False,
    limit: Annotated[int | None, typer.Option(min=0, help="At most N entries.")] = None,
    hex_mode: HexOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Dump one SSTable: properties, block layout, bloom filter, entries (--entries)."""
    if not file.is_file():
        _fail(1, f"{file}: no such file")
    report = dump_sstable(file, entries=entries, limit=limit)
    if as_json:
        _print_json(report)
        return
    out = Out()
    props = report["properties"]
    out.print(
        f"{esc(str(file))}: {human_bytes(report['size'])}, format version "
        f"{report['format_version']}, {props['entries']} entries ({props['puts']} puts, "
        f"{props['point_deletes']} deletes, {props['range_deletes']} range deletes), "
        f"seq {props['smallest_seq']}..{props['largest_seq']}, compression "
        f"{props['compression']}"
    )
    out.print(
        f"keys {esc(show_hex(props['smallest_key'], hex_mode))} .. "
        f"{esc(show_hex(props['largest_key'], hex_mode))}"
    )
    out.table(
        ["property", "value"],
        [[name, str(value)] for name, value in props.items()],
        title="Properties",
    )
    rows = [
        [
            str(b["index"]),
            str(b["offset"]),
            str(b["size"]),
            str(b["entries"]),
            show_hex(b["first_key"], hex_mode),
            show_hex(b["last_key"], hex_mode),
        ]
        for b in report["blocks"]
    ]
    meta = report["meta_blocks"]
    for name in ("range_del", "filter", "properties", "index"):
        if meta[name]["size"]:
            rows.append(["", str(meta[name]["offset"]), str(meta[name]["size"]), "", name, ""])
    rows.sort(key=lambda row: int(row[1]))
    out.table(
        ["block", "offset", "bytes", "entries", "first key", "last key"],
        rows,
        title="Blocks (data blocks numbered; meta blocks named)",
        right=["block", "offset", "bytes", "entries"],
    )
    bloom = report["bloom"]
    if bloom is not None:
        out.print(
            f"bloom filter: {bloom['bits']} bits in {bloom['blocks']} blocks of 512, "
            f"{bloom['probes']} probes per key, "
            f"{human_bytes(bloom['bytes'])}"
        )
    for t in report["range_tombstones"]:
        out.print(
            f"range tombstone [{esc(show_hex(t['start'], hex_mode))}, "
            f"{esc(show_hex(t['end'], hex_mode))}) seq {t['seq']}"
        )
    if entries:
        out.table(
            ["key", "seq", "kind", "value", "block"],
            [
                [
                    show_hex(e["key"], hex_mode),
                    str(e["seq"]),
                    e["kind"],
                    show_hex(e["value"], hex_mode) if e["value"] is not None else "",
                    str(e["block"]),
                ]
                for e in report["entries"]
            ],
            title="Entries",
            right=["seq", "block"],
        )


# ------------------------------------------------------------------ the tour
@app.command()
def demo(
    step: Annotated[bool, typer.Option("--step", help="Pause for Enter between steps.")] = False,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Run in this new directory and keep the store."),
    ] = None,
) -> None:
    """The guided tour: writes, a flush, a delete, two reads, a compaction.

    Runs on a fresh store in a temporary directory; every step is shown from the
    engine's own trace events.
    """
    from .demo import run_demo

    if directory is not None and directory.exists() and any(directory.iterdir()):
        _fail(2, f"{directory}: not empty; the demo needs a fresh directory")
    run_demo(Out(), step=step, directory=directory)


# -------------------------------------------------------- tools of other issues
_PASS_THROUGH = {
    "allow_extra_args": True,
    "ignore_unknown_options": True,
    "help_option_names": [],
}


def _delegate(name: str, args: list[str]) -> int:
    try:
        module = importlib.import_module(f"lsmkv.{name}")
    except ModuleNotFoundError as e:
        if e.name in (f"lsmkv.{name}", "lsmkv"):
            _fail(2, f"'lsmkv {name}' is not part of this build (module lsmkv.{name} is missing)")
        raise
    entry = getattr(module, "main", None)
    if entry is None:
        _fail(2, f"'lsmkv {name}' is not available (lsmkv.{name} has no main(argv))")
    return int(entry(list(args)) or 0)


@app.command(context_settings=_PASS_THROUGH, add_help_option=False)
def bench(ctx: typer.Context) -> None:
    """The benchmark suite, side by side with peers (arguments go to lsmkv.bench)."""
    raise typer.Exit(_delegate("bench", ctx.args))


@app.command(context_settings=_PASS_THROUGH, add_help_option=False)
def viz(ctx: typer.Context) -> None:
    """The visual replay in a browser page (arguments go to lsmkv.viz)."""
    raise typer.Exit(_delegate("viz", ctx.args))


# ---------------------------------------------------------------- entry point
def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (never raises, never a traceback)."""
    args = sys.argv[1:] if argv is None else list(argv)
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="lsmkv", standalone_mode=False)
    except _Exit as e:
        err(e.message)
        return e.code
    except _UsageError as e:
        ctx = getattr(e, "ctx", None)
        name = f"lsmkv {ctx.info_name}" if ctx is not None and ctx.parent is not None else "lsmkv"
        message = getattr(e, "format_message", lambda: "")()
        if type(e).__name__ == "NoArgsIsHelpError":  # bare `lsmkv`: the help is the message
            print(message, file=sys.stderr)
        else:
            err(f"{message} (see '{name} --help')")
        return 2
    except _ClickException as e:
        err(str(getattr(e, "message", e)))
        return int(getattr(e, "exit_code", 1))
    except typer.Abort:
        err("aborted")
        return 130
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except errors.NotFoundError as e:
        err(str(e))
        return 1
    except errors.Error as e:
        err(f"{type(e).__name__}: {e}")
        return 3
    except BrokenPipeError:
        # The reader went away (`lsmkv scan DB | head`): not an error of ours.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the flush at exit
        except OSError:
            pass
        return 0
    except OSError as e:
        err(f"{e.strerror or e}" + (f": {e.filename}" if e.filename else ""))
        return 3
    except (TypeError, ValueError) as e:
        err(str(e))
        return 2
    except Exception as e:  # never a traceback: one line, and the store error status
        err(f"internal error: {type(e).__name__}: {e}")
        return 3
    return result if isinstance(result, int) else 0
