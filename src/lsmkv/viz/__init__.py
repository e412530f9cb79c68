"""`lsmkv viz`: a browser page that replays the real engine, step by step.

    lsmkv viz [--scenario NAME | --trace FILE] [--out page.html] [--serve] [--port N]
              [--save-trace FILE]

Records a scenario (scenarios.py) through the engine's trace, or reads a recorded trace
(JSON Lines, one event per line, or one JSON array), derives the state of every layer
after each step (replay.py) and writes ONE self-contained HTML page (page.py). With
`--serve` the page is also served on 127.0.0.1 until interrupted.

Exit status: 0 on success, 2 for bad usage (unknown scenario, unreadable trace).
"""

from __future__ import annotations

import argparse
import http.server
import json
import sys
from pathlib import Path
from typing import Any

from .page import render
from .scenarios import SCENARIOS, record

__all__ = ["load_trace", "main"]


def load_trace(path: str) -> list[dict[str, Any]]:
    """The events of a trace file: a JSON array of event objects, or JSON Lines.

    Raises ValueError when the file holds neither.
    """
    text = Path(path).read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        events = json.loads(stripped)
    else:
        events = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not isinstance(events, list) or not all(
        isinstance(e, dict) and "event" in e for e in events
    ):
        raise ValueError(f"{path}: not a trace (expected event objects with an 'event' field)")
    return events


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lsmkv viz",
        description="Write a self-contained HTML page that replays the real engine step by "
        "step: WAL, memtable, SSTables per level, reads, flushes and compactions.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        default=None,
        help="record this scenario on a fresh store (default: explainer)",
    )
    src.add_argument("--trace", metavar="FILE", help="replay a recorded trace (JSON Lines)")
    p.add_argument(
        "--out", metavar="PAGE", help="where to write the page (default: lsmkv-viz.html)"
    )
    p.add_argument(
        "--save-trace",
        metavar="FILE",
        help="also write the recorded events as JSON Lines (replay later with --trace)",
    )
    p.add_argument("--serve", action="store_true", help="serve the page on 127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="port for --serve (default: any free)")
    return p


def _serve(page: bytes, port: int) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in ("/", "/index.html"):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the terminal for the URL

    with http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler) as server:
        print(f"serving the replay at http://127.0.0.1:{server.server_port}/ (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


def main(argv: list[str] | None = None) -> int:
    """Run `lsmkv viz` with `argv` (without the program name); returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as e:
        return int(e.code or 0)
    if args.trace:
        try:
            events = load_trace(args.trace)
        except (OSError, ValueError) as e:
            print(f"lsmkv viz: {e}", file=sys.stderr)
            return 2
        title, source = Path(args.trace).name, f"trace {args.trace}"
    else:
        name = args.scenario or "explainer"
        recording = record(name)
        events, title = recording.events, recording.title
        source = f"scenario {name!r}"
        if args.save_trace:
            with open(args.save_trace, "w", encoding="utf-8") as f:
                f.writelines(json.dumps(e, separators=(",", ":")) + "\n" for e in events)
    page = render(events, title, source)
    out = args.out or (None if args.serve else "lsmkv-viz.html")
    if out:
        Path(out).write_text(page, encoding="utf-8")
        print(f"wrote {out} ({len(page.encode()) // 1024} KiB, {source})")
    if args.serve:
        _serve(page.encode("utf-8"), args.port)
    return 0
