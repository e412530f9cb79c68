"""The run-at-a-time merge and user filter (the scan fast path) against the simple
entry-at-a-time definitions: same entries, same order, same counts."""

from __future__ import annotations

from itertools import chain

from hypothesis import given, settings
from hypothesis import strategies as st

from lsmkv.iterators.merging import merge_runs
from lsmkv.iterators.user import ScanTally, user_entries, user_runs
from lsmkv.rangedel import EMPTY

Entry = tuple[bytes, int, int, bytes]

# Each source: distinct (key, seq) pairs; seqs are unique across sources, as in a store.
sources_st = st.lists(
    st.lists(st.tuples(st.binary(max_size=2), st.sampled_from([0, 1, 1])), max_size=120),
    max_size=5,
)


def _build(raw: list[list[tuple[bytes, int]]]) -> list[list[Entry]]:
    seq = 0
    out = []
    for source in raw:
        entries = []
        for key, kind in source:
            seq += 1
            entries.append((key, -seq, kind, b"v%d" % seq))
        out.append(sorted(entries))
    return out


def _streams(sources: list[list[Entry]], reverse: bool) -> list[object]:
    return [iter(s[::-1] if reverse else s) for s in sources]


@settings(max_examples=300, deadline=None)
@given(sources_st, st.booleans(), st.sampled_from([None, 0, 1, 2, 5, 40]))
def test_runs_agree_with_entry_at_a_time(
    raw: list[list[tuple[bytes, int]]], reverse: bool, limit: int | None
) -> None:
    sources = _build(raw)
    expected = sorted(chain.from_iterable(sources), reverse=reverse)
    merged = list(chain.from_iterable(merge_runs(_streams(sources, reverse), reverse)))  # type: ignore[arg-type]
    assert merged == expected

    fast, slow = ScanTally(), ScanTally()
    runs = merge_runs(_streams(sources, reverse), reverse)  # type: ignore[arg-type]
    got = list(chain.from_iterable(user_runs(runs, reverse, fast, limit)))
    want = list(user_entries(iter(expected), EMPTY, 1 << 40, reverse, slow, limit))
    assert got == want
    if limit is None:
        assert fast == slow
