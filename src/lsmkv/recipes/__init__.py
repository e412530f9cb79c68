"""Recipes: patterns built on lsmkv's public API only, written the way we advise users to.

`Queue` is the worked example of docs/queue.md: a durable FIFO queue that stays fast
however many items have passed through it. `NaiveQueue` is the way *not* to do it, kept
for the benchmark and the docs.
"""

from .queue import NaiveQueue, Queue

__all__ = ["NaiveQueue", "Queue"]
