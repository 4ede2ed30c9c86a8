"""Hostile archives (issue 6, point 5), through the core (`_core.unzip`, `Store.zip`) and
the zip store (`ZarrZipPersistentStore.unzip`): entries with `..`, absolute paths,
drive letters, backslashes, links, duplicate names, declared sizes far beyond the data
(zip bombs), encrypted entries, truncated archives and more than 65,535 entries. Each
is refused with a clear `ZipArchiveError`/`UnsafeArchiveError` (or handled), and
nothing is written outside the destination - nothing at all when refused."""

from __future__ import annotations

import stat
import struct
import warnings
import zipfile
from pathlib import Path

import pytest
from rel_helpers import open_store
from wfstore import _core
from wfstore.common.errors import StoreError, UnsafeArchiveError, ZipArchiveError
from wfstore.persistence import ZarrZipPersistentStore


def _zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]], **kw) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(path, "w", **kw) as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return path


def _patch_sizes(data: bytes, name: bytes, size: int) -> bytes:
    """Set the declared uncompressed size of entry `name` in its local and central
    headers."""
    out = bytearray(data)
    patched = 0
    for sig, size_at, len_at, name_at in ((b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46)):
        i = out.find(sig)
        while i != -1:
            (n,) = struct.unpack_from("<H", out, i + len_at)
            if bytes(out[i + name_at : i + name_at + n]) == name:
                struct.pack_into("<I", out, i + size_at, size)
                patched += 1
            i = out.find(sig, i + 1)
    assert patched == 2
    return bytes(out)


def _only(tmp_path: Path, *names: str) -> None:
    """Nothing but `names` in tmp_path."""
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


def _refused(tmp_path: Path, archive: Path, exc: type[Exception] = UnsafeArchiveError) -> str:
    dest = tmp_path / "out" / "wk"
    with pytest.raises(exc) as info:
        _core.unzip(archive, dest)
    assert not dest.exists()
    if (tmp_path / "out").exists():  # at most the (empty) parent of the destination
        (tmp_path / "out").rmdir()
    # through the zip store too
    with pytest.raises(exc):
        ZarrZipPersistentStore(None, None, archive).unzip(str(tmp_path / "out2"))
    assert not (tmp_path / "out2").exists()
    return str(info.value)


@pytest.mark.parametrize(
    "name",
    [
        "../evil",
        "a/../../evil",
        "/etc/evil",
        "//server/share/evil",
        "C:/evil",
        "c:evil",
        "..\\evil",
        "a\\..\\..\\evil",
        "./../evil",
    ],
)
def test_escaping_names_are_refused(tmp_path: Path, name: str) -> None:
    arc = _zip(tmp_path / "a.zip", [(".zgroup", b"{}"), (zipfile.ZipInfo(name), b"evil")])
    msg = _refused(tmp_path, arc)
    assert "evil" in msg
    _only(tmp_path, "a.zip")
    assert not Path("/etc/evil").exists()


def _link(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def test_links_are_refused(tmp_path: Path) -> None:
    # a link, then a file written "through" it
    arc = _zip(
        tmp_path / "a.zip", [(_link("d", str(tmp_path)), str(tmp_path).encode()), ("d/x", b"1")]
    )
    assert "link" in _refused(tmp_path, arc)
    arc = _zip(tmp_path / "b.zip", [(_link("f", "/etc/passwd"), b"/etc/passwd")])
    _refused(tmp_path, arc)
    _only(tmp_path, "a.zip", "b.zip")


@pytest.mark.parametrize(
    "names",
    [("x", "x"), ("x", "./x"), ("a/b", "a//b"), ("a", "a/b"), ("a/b", "a")],
)
def test_duplicates_and_file_folder_clashes_are_refused(
    tmp_path: Path, names: tuple[str, str]
) -> None:
    arc = _zip(tmp_path / "a.zip", [(names[0], b"first"), (names[1], b"second")])
    msg = _refused(tmp_path, arc)
    assert "duplicate" in msg or "more than once" in msg or "both a file and a folder" in msg


def test_declared_sizes_beyond_the_data(tmp_path: Path) -> None:
    # a deflated entry declaring 4 GiB - 1 from 1 KiB of data (zip bomb by header)
    raw = _zip(tmp_path / "t.zip", [("bomb", b"a" * 1000)], compression=zipfile.ZIP_DEFLATED)
    (tmp_path / "a.zip").write_bytes(_patch_sizes(raw.read_bytes(), b"bomb", 2**32 - 1))
    raw.unlink()
    assert "zip bomb" in _refused(tmp_path, tmp_path / "a.zip")
    # a deflated entry inflating to far more than it declares
    raw = _zip(tmp_path / "t.zip", [("lie", b"0" * 300_000)], compression=zipfile.ZIP_DEFLATED)
    (tmp_path / "b.zip").write_bytes(_patch_sizes(raw.read_bytes(), b"lie", 10))
    raw.unlink()
    assert "declared" in _refused(tmp_path, tmp_path / "b.zip")
    # a stored entry whose declared size is not its stored size
    raw = _zip(tmp_path / "t.zip", [("s", b"abcdef")])
    (tmp_path / "c.zip").write_bytes(_patch_sizes(raw.read_bytes(), b"s", 1 << 20))
    raw.unlink()
    _refused(tmp_path, tmp_path / "c.zip", ZipArchiveError)
    # reading such entries in place is refused too
    for name, key in (("a.zip", "bomb"), ("b.zip", "lie")):
        with pytest.raises(ZipArchiveError):
            _core.Store.zip(tmp_path / name).get(key)
    _only(tmp_path, "a.zip", "b.zip", "c.zip")


def test_real_deflate_bomb_is_refused(tmp_path: Path) -> None:
    """20 MiB of zeros deflate ~1000:1; beyond the accepted ratio, refused before any
    byte is written."""
    arc = _zip(tmp_path / "a.zip", [("zeros", bytes(20 << 20))], compression=zipfile.ZIP_DEFLATED)
    assert arc.stat().st_size < 64 << 10
    assert "zip bomb" in _refused(tmp_path, arc)


def test_encrypted_truncated_and_misdirected_archives(tmp_path: Path) -> None:
    good = _zip(tmp_path / "g.zip", [(".zgroup", b"{}"), ("k", b"v" * 100)]).read_bytes()
    # encrypted flag set on every header
    enc = bytearray(good)
    for sig, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = enc.find(sig)
        while i != -1:
            enc[i + at] |= 1
            i = enc.find(sig, i + 1)
    (tmp_path / "enc.zip").write_bytes(bytes(enc))
    _refused(tmp_path, tmp_path / "enc.zip", ZipArchiveError)
    # cut in the middle of the central directory, or the data
    for n, cut in enumerate((len(good) - 30, len(good) // 2, 10)):
        p = tmp_path / f"cut{n}.zip"
        p.write_bytes(good[:cut])
        _refused(tmp_path, p, StoreError)
        with pytest.raises(StoreError):
            _core.Store.zip(p)
    # central directory offset pointing past the end of the file
    bad = bytearray(good)
    eocd = bad.rfind(b"PK\x05\x06")
    struct.pack_into("<I", bad, eocd + 16, len(good) * 10)
    (tmp_path / "off.zip").write_bytes(bytes(bad))
    _refused(tmp_path, tmp_path / "off.zip", StoreError)


def test_more_than_65535_entries(tmp_path: Path) -> None:
    """An archive of 70,000 entries (ZIP64 end of central directory), written by
    Python's zipfile, read in place. (Unzipping it and zipping the folder back is in
    scripts/stress_zip64.py, with a ZIP64 round trip of more than 4 GiB.)"""
    n = 70_000
    arc = tmp_path / "many.zip"
    with zipfile.ZipFile(arc, "w") as zf:
        for i in range(n):
            zf.writestr(f"c/{i % 97}/{i}", str(i))
    store = _core.Store.zip(arc)
    assert store.get("c/5/68875") == b"68875"
    assert store.get("c/96/69936") == b"69936"
    assert len(store.list_dir("c")) == 97
    assert len(store.list_dir("c/0")) == len(range(0, n, 97))


def test_store_archive_round_trip_is_not_affected(wk: Path, tmp_path: Path) -> None:
    """The checks refuse nothing that wfstore itself writes."""
    arc = open_store(wk).zip(str(tmp_path / "wk.zip"))
    out = ZarrZipPersistentStore(None, None, arc).unzip(str(tmp_path / "copy"))
    assert open_store(Path(out)).get_EARs(range(5)) == open_store(wk).get_EARs(range(5))
