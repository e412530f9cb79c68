"""manifest/: version edits, Versions and the VersionSet's durable log of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from lsmkv.errors import CorruptionError
from lsmkv.manifest.edit import FileMeta, VersionEdit
from lsmkv.manifest.version import Version
from lsmkv.manifest.versionset import VersionSet
from lsmkv.record import HEADER_SIZE
from lsmkv.storage.fs import OSFileSystem


def _meta(number: int, lo: bytes, hi: bytes, seq: int = 1) -> FileMeta:
    return FileMeta(number, 100, lo, hi, seq, seq, entries=3, point_deletes=1)


def test_edit_round_trip() -> None:
    edit = VersionEdit(
        log_number=4,
        next_file_number=9,
        last_seq=77,
        added=[(0, _meta(5, b"a", b"\xff\x00"))],
        removed=[(1, 3)],
        compact_pointers=[(2, b"m")],
        snapshot=True,
    )
    assert VersionEdit.decode(edit.encode()) == edit


def test_version_queries_and_check() -> None:
    v = Version.empty(4).apply(
        VersionEdit(
            added=[
                (0, _meta(10, b"a", b"z", seq=5)),
                (0, _meta(11, b"c", b"d", seq=9)),
                (1, _meta(3, b"m", b"p")),
                (1, _meta(2, b"a", b"f")),
                (2, _meta(4, b"a", b"z")),
            ]
        )
    )
    v.check()
    assert [f.number for f in v.levels[0]] == [11, 10]  # newest first
    assert [f.number for f in v.levels[1]] == [2, 3]  # by key
    assert [f.number for f in v.candidates(1, b"n")] == [3]
    assert v.candidates(1, b"h") == []
    assert [f.number for f in v.overlapping(1, b"e", b"m")] == [2, 3]
    assert not v.bottommost_for(1, b"b", b"c") and v.bottommost_for(2, b"b", b"c")
    v2 = v.apply(VersionEdit(removed=[(0, 10), (1, 2)]))
    assert v2.file_numbers() == {11, 3, 4} and v.file_numbers() == {10, 11, 2, 3, 4}
    bad = Version.empty(3).apply(
        VersionEdit(added=[(1, _meta(1, b"a", b"k")), (1, _meta(2, b"j", b"z"))])
    )
    with pytest.raises(AssertionError, match="overlap"):
        bad.check()


def test_versionset_recovers_what_it_logged(tmp_path: Path) -> None:
    fs = OSFileSystem()
    vs = VersionSet(fs, str(tmp_path), 7)
    vs.install_new_manifest()
    n1, n2 = vs.new_file_number(), vs.new_file_number()
    vs.log_and_apply(VersionEdit(log_number=n1, last_seq=5, added=[(0, _meta(n2, b"a", b"k"))]))
    vs.log_and_apply(
        VersionEdit(
            last_seq=9,
            added=[(1, _meta(vs.new_file_number(), b"a", b"k"))],
            removed=[(0, n2)],
            compact_pointers=[(1, b"k")],
        )
    )
    vs.close()
    again = VersionSet(fs, str(tmp_path), 7)
    again.recover()
    assert again.current.file_numbers() == vs.current.file_numbers()
    assert (again.log_number, again.last_seq) == (n1, 9)
    assert again.compact_pointers == {1: b"k"}
    assert again.next_file_number >= vs.next_file_number
    again.close()


def test_torn_last_edit_is_dropped_but_damage_is_not(tmp_path: Path) -> None:
    fs = OSFileSystem()
    vs = VersionSet(fs, str(tmp_path), 7)
    vs.install_new_manifest()
    vs.log_and_apply(VersionEdit(last_seq=3, added=[(0, _meta(7, b"a", b"b"))]))
    vs.log_and_apply(VersionEdit(last_seq=4, added=[(0, _meta(8, b"c", b"d"))]))
    vs.close()
    manifest = tmp_path / "MANIFEST-000001"
    data = manifest.read_bytes()
    # The last edit's fsync never returned: it is torn, and the seal after it
    # (record.py) was never written.
    manifest.write_bytes(data[: -(HEADER_SIZE + 5)])
    torn = VersionSet(fs, str(tmp_path), 7)
    torn.recover()
    assert torn.current.file_numbers() == {7}
    damaged = bytearray(data)
    damaged[30] ^= 1  # inside the first (snapshot) record, vouched for by later ones
    manifest.write_bytes(bytes(damaged))
    with pytest.raises(CorruptionError, match="MANIFEST-000001"):
        VersionSet(fs, str(tmp_path), 7).recover()


def test_current_must_name_a_manifest(tmp_path: Path) -> None:
    fs = OSFileSystem()
    VersionSet(fs, str(tmp_path), 7).install_new_manifest()
    (tmp_path / "CURRENT").write_bytes(b"garbage")
    with pytest.raises(CorruptionError, match="CURRENT"):
        VersionSet(fs, str(tmp_path), 7).recover()
    (tmp_path / "CURRENT").write_bytes(b"MANIFEST-000042\n")
    with pytest.raises(CorruptionError, match="missing"):
        VersionSet(fs, str(tmp_path), 7).recover()
