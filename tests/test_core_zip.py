"""Zip I/O of the core through Python: archives written by wfstore open with Python's
zipfile, fsspec's ZipFileSystem and zarr-python; archives are read in place; unsafe
archives are refused without writing anything outside the destination."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import fsspec
import numpy as np
import pytest
import wfstore
from wfstore import NumericArray, ObjectArray, Store, _core

zarr = pytest.importorskip("zarr")


def _make_store(root: Path) -> list:
    store = Store.local(root)
    store.create_group("", attrs={"name": "wk"})
    store.create_group("metadata")
    rows = [{"i": i, "s": "x" * (i % 7)} for i in range(25)]
    ObjectArray.create(store, "metadata/runs", chunk_size=4).append(rows)
    runs_bak = ObjectArray.create(store, "metadata/runs.bak", chunk_size=1)
    runs_bak.append(rows[:3])
    NumericArray.create(store, "parameters/arrays/p/arr_0", np.arange(6.0).reshape(2, 3))
    (root / "execute").mkdir()
    (root / "execute" / "job.sh").write_text("echo hi\n")
    return rows


def test_archive_opens_with_zipfile_fsspec_and_zarr(tmp_path: Path) -> None:
    src = tmp_path / "wk"
    rows = _make_store(src)
    dst = tmp_path / "wk.zip"
    seen: list[tuple[int, int]] = []
    rep = _core.zip_dir(
        src, dst, exclude=["execute", "runs.bak"], progress=lambda d, t: seen.append((d, t))
    )
    assert seen and seen[-1][0] == seen[-1][1] == rep["entries"]

    with zipfile.ZipFile(dst) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
    assert "metadata/runs/.zarray" in names and ".zattrs" in names
    assert not any(n.startswith("execute") or "runs.bak" in n for n in names)
    assert rep["entries"] == len(names)

    fs = fsspec.filesystem("zip", fo=str(dst))
    assert fs.cat_file("metadata/runs/.zarray") == (src / "metadata/runs/.zarray").read_bytes()

    zs = zarr.storage.ZipStore(str(dst), mode="r")
    assert list(zarr.open_array(zs, path="metadata/runs", mode="r")[:]) == rows
    np.testing.assert_array_equal(
        zarr.open_array(zs, path="parameters/arrays/p/arr_0", mode="r")[:],
        np.arange(6.0).reshape(2, 3),
    )

    # Read in place through the core, and refuse writes.
    store = Store.zip(dst)
    assert store.read_only
    arr = ObjectArray.open(store, "metadata/runs")
    assert arr.get([24, 0, 13]) == [rows[24], rows[0], rows[13]]
    with pytest.raises(wfstore.ReadOnlyStoreError):
        arr.set([0], [1])
    with pytest.raises(wfstore.ReadOnlyStoreError):
        store.set("x", b"1")
    assert store.get("metadata/runs/.zarray") == (src / "metadata/runs/.zarray").read_bytes()
    assert store.get("no/such/key") is None


def test_unzip_round_trip_and_refusals(tmp_path: Path) -> None:
    src = tmp_path / "wk"
    rows = _make_store(src)
    dst = tmp_path / "wk.zip"
    _core.zip_dir(src, dst)
    with pytest.raises(wfstore.ZipArchiveError, match="exists"):
        _core.zip_dir(src, dst)
    out = tmp_path / "out"
    rep = _core.unzip(dst, out)
    assert rep["entries"] > 0
    assert ObjectArray.open(Store.local(out), "metadata/runs").get_range() == rows
    with pytest.raises(wfstore.ZipArchiveError):
        _core.unzip(dst, out)  # destination exists


@pytest.mark.parametrize(
    "entry",
    ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"],
)
def test_unsafe_entries_refused(tmp_path: Path, entry: str) -> None:
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr(zipfile.ZipInfo(entry), "evil")
    dest = tmp_path / "sub" / "dest"
    with pytest.raises(wfstore.UnsafeArchiveError) as exc:
        _core.unzip(bad, dest)
    assert "evil" in str(exc.value)
    assert not dest.exists()
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "sub" / "evil.txt").exists()
    # Nothing but the archive (and at most an empty parent of dest) remains.
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert left in (["bad.zip"], ["bad.zip", "sub"]), left


def test_symlink_entry_refused(tmp_path: Path) -> None:
    bad = tmp_path / "link.zip"
    info = zipfile.ZipInfo("link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(wfstore.UnsafeArchiveError):
        _core.unzip(bad, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_corrupt_archive_is_a_store_error(tmp_path: Path) -> None:
    bad = tmp_path / "junk.zip"
    bad.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(wfstore.StoreError):
        Store.zip(bad)
    with pytest.raises(wfstore.StoreError):
        _core.unzip(bad, tmp_path / "d")
    assert not (tmp_path / "d").exists()
