"""The engine's one event hook: plain-data events for listeners, the demo and the replay.

An event is a `dict` with at least `"event"` (a dotted name such as `"wal.append"`) and
`"t"` (seconds since the tracer was made, a float). The schema of every event is in
`docs/format/trace.md`. When nobody listens the engine holds `None` instead of a tracer,
so a disabled trace costs one `if` on each path that could emit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

Event = dict[str, Any]
Listener = Callable[[Event], None]


class Tracer:
    """Fans one event out to every listener, stamping it with a time."""

    __slots__ = ("_listeners", "_t0")

    def __init__(self, listeners: Iterable[Listener]) -> None:
        self._listeners = tuple(listeners)
        self._t0 = time.monotonic()

    def __call__(self, event: str, **fields: Any) -> None:
        record: Event = {"event": event, "t": round(time.monotonic() - self._t0, 6), **fields}
        for listener in self._listeners:
            listener(record)


def make_tracer(listeners: Iterable[Listener | None]) -> Tracer | None:
    """A tracer over the given listeners, or `None` (tracing off) when there are none."""
    present = [listener for listener in listeners if listener is not None]
    return Tracer(present) if present else None


class TraceRecorder:
    """A listener that keeps every event in a list: `open(path, trace=rec)`; `rec.events`."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)
