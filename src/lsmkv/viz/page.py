"""Rendering the replay page: ONE self-contained HTML file, styles, script and trace
inline, that needs no network (its Content-Security-Policy forbids any fetch).

The template (page.html), style (viz.css) and script (viz.js) ship as package data. The
frames from replay.py are embedded as JSON; above `GZIP_ABOVE_BYTES` they are embedded
gzip-compressed (base64), which the browser inflates with `DecompressionStream`, so a
trace of a few thousand operations stays a page of a few hundred kilobytes.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
from importlib import resources
from typing import Any

from .replay import CALL_EVENT, derive, encode_frames

GZIP_ABOVE_BYTES = 1 << 20


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def render(
    events: list[dict[str, Any]],
    title: str,
    source: str,
) -> str:
    """The page replaying `events`; `source` says where they came from (one line).

    Cost: O(events) to derive the frames, plus their JSON.
    """
    frames = derive(events)
    engine_events = sum(1 for e in events if e.get("event") != CALL_EVENT)
    payload = {
        "title": title,
        "source": source,
        "events": engine_events,
        "frames": encode_frames(frames),
        # A story of a few dozen steps reads at one step a second; a long trace needs more.
        "speed": 1 if len(frames) <= 200 else 30,
    }
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    if len(data) > GZIP_ABOVE_BYTES:
        data_type = "application/gzip-base64"
        data = base64.b64encode(gzip.compress(data.encode("utf-8"), 6)).decode("ascii")
    else:
        data_type = "application/json"
        # Inside <script>, only "</" could end the element early; "<\/" is the same JSON.
        data = data.replace("</", "<\\/")
    subtitle = (
        f"{source}: {engine_events} engine events replayed in {len(frames) - 1} steps "
        "on the real engine's trace."
    )
    page = _asset("page.html")
    page = page.replace("/*STYLE*/", _asset("viz.css"))
    page = page.replace("/*SCRIPT*/", _asset("viz.js"))
    page = page.replace("{{TITLE}}", html.escape(title))
    page = page.replace("{{SUBTITLE}}", html.escape(subtitle))
    page = page.replace("{{DATA_TYPE}}", data_type)
    return page.replace("{{DATA}}", data)
