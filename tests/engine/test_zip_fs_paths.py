"""The file system wfstore's zip store gives the engine (``_InArchivePaths``): the
engine's ``ZipFileSystem``, with paths below the archive's own path (which the engine
forms from the store's ``path``) taken as paths inside the archive."""

from __future__ import annotations

import zipfile
from pathlib import Path

from fsspec.implementations.zip import ZipFileSystem
from wfstore.integrations.hpcflow import _InArchivePaths


def test_paths_below_the_archive_are_inside_it(tmp_path: Path) -> None:
    archive = tmp_path / "wk.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("parameters/array_outputs/p1/0/6.npz.zst", b"x")
        zf.writestr("parameters/array_outputs/p2/consolidated.npz.zst", b"yz")
    fs = _InArchivePaths(ZipFileSystem(fo=str(archive), mode="r"), str(archive))
    root = Path(archive) / "parameters" / "array_outputs"
    assert fs.protocol == "zip" and fs.of.path == str(archive)
    assert fs.exists(root.as_posix())
    assert fs.exists(root / "p1" / "0" / "6.npz.zst")
    assert not fs.exists((root / "p3").as_posix())
    assert fs.glob(f"{root.as_posix()}/*/*/*.npz.zst") == [
        "parameters/array_outputs/p1/0/6.npz.zst"
    ]
    with fs.open(f"{root.as_posix()}/p2/consolidated.npz.zst", "rb") as fh:
        assert fh.read() == b"yz"
    # paths inside the archive (0.3.0's own zip store's) are left as they are:
    assert fs.cat("parameters/array_outputs/p1/0/6.npz.zst") == b"x"
    # a path elsewhere is not taken as inside the archive:
    assert not fs.exists(f"{tmp_path.as_posix()}/other.zip/parameters")
