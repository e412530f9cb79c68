"""rangedel.py: fragmenting overlapping range tombstones and looking keys up in them."""

from __future__ import annotations

from lsmkv.rangedel import EMPTY, Fragments


def test_the_docstring_example() -> None:
    f = Fragments([(b"b", b"f", 9), (b"d", b"h", 5)])
    f.check()
    assert list(zip(f.starts, f.ends, f.seqs, strict=True)) == [
        (b"b", b"d", (9,)),
        (b"d", b"f", (9, 5)),
        (b"f", b"h", (5,)),
    ]
    assert list(f.tombstones()) == [
        (b"b", b"d", 9),
        (b"d", b"f", 9),
        (b"d", b"f", 5),
        (b"f", b"h", 5),
    ]


def test_covering_seq_respects_bounds_and_read_point() -> None:
    f = Fragments([(b"b", b"f", 9), (b"d", b"h", 5)])
    assert f.covering_seq(b"a", 100) == 0
    assert f.covering_seq(b"b", 100) == 9  # start is inclusive
    assert f.covering_seq(b"e", 100) == 9
    assert f.covering_seq(b"e", 8) == 5  # a reader at 8 does not see the seq-9 tombstone
    assert f.covering_seq(b"e", 4) == 0
    assert f.covering_seq(b"h", 100) == 0  # end is exclusive
    assert f.span_at(b"g") == 2 and f.span_at(b"z") == -1


def test_empty_and_inverted_ranges_are_ignored() -> None:
    assert not Fragments([(b"b", b"b", 3), (b"c", b"a", 4)])
    assert not EMPTY and len(EMPTY) == 0


def test_visible_drops_newer_tombstones() -> None:
    f = Fragments([(b"a", b"c", 2), (b"b", b"d", 7)])
    v = f.visible(5)
    # Fragment boundaries stay where they were cut; only the seq-7 parts are gone.
    assert list(v.tombstones()) == [(b"a", b"b", 2), (b"b", b"c", 2)]
    assert v.covering_seq(b"c", 100) == 0


def test_many_overlapping_tombstones() -> None:
    tombs = [(bytes([i]), bytes([i + 10]), i + 1) for i in range(0, 200, 3)]
    f = Fragments(tombs)
    f.check()
    for key in (bytes([k]) for k in range(256)):
        expected = max((s for a, b, s in tombs if a <= key < b), default=0)
        assert f.covering_seq(key, 10**9) == expected


def _brute_uncovered(
    f: Fragments, floor: int, lo: bytes, hi: bytes, keys: list[bytes]
) -> list[bytes]:
    return [k for k in keys if lo <= k < hi and f.covering_seq(k, 10**9) <= floor]


def test_uncovered_parts_skip_only_spans_newer_than_the_source() -> None:
    f = Fragments([(b"b", b"d", 9), (b"d", b"f", 4), (b"h", b"k", 12)])
    # A source whose newest entry is seq 5: the seq-9 and seq-12 spans hide all of it.
    assert f.uncovered(5, None, None) == [(None, b"b"), (b"d", b"h"), (b"k", None)]
    # Seq 10: only the seq-12 span hides it.
    assert f.uncovered(10, b"a", b"z") == [(b"a", b"h"), (b"k", b"z")]
    # Nothing newer than seq 20: read everything.
    assert f.uncovered(20, b"a", b"z") == [(b"a", b"z")]
    # Bounds inside a covered span.
    assert f.uncovered(5, b"bb", b"c") == []
    assert f.uncovered(5, b"c", b"e") == [(b"d", b"e")]


def test_uncovered_agrees_with_point_lookups() -> None:
    import random

    rng = random.Random(7)
    keys = [bytes([a, b]) for a in range(97, 110) for b in range(97, 110)]
    for _ in range(200):
        tombs = []
        for _ in range(rng.randrange(0, 6)):
            a, b = sorted(rng.sample(keys, 2))
            tombs.append((a, b, rng.randrange(1, 20)))
        f = Fragments(tombs)
        floor = rng.randrange(0, 20)
        lo, hi = sorted(rng.sample(keys, 2))
        parts = f.uncovered(floor, lo, hi)
        read = [
            k for k in keys if any((a is None or a <= k) and (b is None or k < b) for a, b in parts)
        ]
        # Every key a source at `floor` could still show is read; no part leaves [lo, hi).
        assert set(_brute_uncovered(f, floor, lo, hi, keys)) <= set(read)
        assert all(lo <= k < hi for k in read)
        # And nothing hidden from such a source is read.
        assert all(f.covering_seq(k, 10**9) <= floor for k in read)
