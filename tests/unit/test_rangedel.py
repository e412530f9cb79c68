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
