"""Shared fixtures for the persistence tests."""

from __future__ import annotations

import hashlib
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
# The engine-written fixture stores, kept in the repository (tests/data/README.md). The
# engine's side environment is the `side_python` fixture of tests/conftest.py.
FIXTURES_DIR = REPO_ROOT / "tests" / "data" / "hpcflow-0.2.0a190"

sys.path.insert(0, str(HERE))  # for `store_dump`, `backends`

from backends import BACKENDS, Backend  # noqa: E402
from sshd_server import SSHServer, running_sshd  # noqa: E402
from wfstore.common.names import CHANGE_MARKER_NAME, LEGACY_SPARE_PREFIX  # noqa: E402
from wfstore.persistence.readcache import without_group_marker  # noqa: E402


def tree_digest(path: Path) -> dict[str, str]:
    """Map of relative file path to content digest, for every file under `path` but
    spare files (``.wfstore-spare-*``: no content of the store, left out of archives)
    and the change marker (readers' bookkeeping, advanced by failed writes too: its
    file, or its slot in the root ``.zgroup``)."""
    return {
        str(p.relative_to(path)): hashlib.sha256(without_group_marker(p.read_bytes())).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
        and not p.name.startswith(LEGACY_SPARE_PREFIX)
        and p.name != CHANGE_MARKER_NAME
    }


def json_fixture_names() -> list[str]:
    """Names of the JSON stores among the engine-written fixtures (raises when the
    fixture folder is missing: collection fails rather than skipping)."""
    return sorted(p.name for p in FIXTURES_DIR.iterdir() if (p / "metadata.json").is_file())


@pytest.fixture
def fixtures_dir() -> Path:
    """The engine-written fixture stores (part of the repository: missing ones fail)."""
    if not FIXTURES_DIR.is_dir():
        pytest.fail(f"the engine fixture stores are missing at {FIXTURES_DIR}")
    return FIXTURES_DIR


@pytest.fixture
def copy_store(tmp_path: Path):
    """Copy a fixture store into tmp_path and return the copy's path."""

    def _copy(src: Path) -> Path:
        dst = tmp_path / src.name
        shutil.copytree(src, dst)
        for p in dst.rglob("*"):  # fixtures are read-only; copies must be writable
            p.chmod(p.stat().st_mode | 0o200)
        dst.chmod(dst.stat().st_mode | 0o200)
        return dst

    return _copy


def zarr_fixture_names() -> list[str]:
    """Names of the Zarr store folders among the engine-written fixtures."""
    return sorted(p.name for p in FIXTURES_DIR.iterdir() if (p / ".zgroup").is_file())


def zip_fixture_names() -> list[str]:
    """Names (without ``.zip``) of the zipped Zarr stores among the fixtures."""
    return sorted(p.stem for p in FIXTURES_DIR.iterdir() if p.suffix == ".zip")


@pytest.fixture
def copy_file(tmp_path: Path):
    """Copy a fixture file into tmp_path and return the copy's path."""

    def _copy(src: Path) -> Path:
        dst = tmp_path / src.name
        shutil.copyfile(src, dst)
        return dst

    return _copy


# --- file-system backends: the store suite runs on each ------------------------------


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """An sshd on 127.0.0.1 for the SFTP tests (see ``sshd_server.py``)."""
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture(scope="session")
def sftp_fs(sshd: SSHServer) -> Iterator[AbstractFileSystem]:
    """One SFTP connection to the test sshd, shared by the tests of a session."""
    fs = sshd.fs()
    try:
        yield fs
    finally:
        fs.client.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each file system of :data:`BACKENDS`, with a fresh folder on it."""
    if request.param == "local":
        yield Backend("local", LocalFileSystem(), str(tmp_path / "fs"))
        return
    if request.param == "sftp":
        sftp = request.getfixturevalue("sftp_fs")
        sftp.makedirs(str(tmp_path / "fs"), exist_ok=True)
        yield Backend("sftp", sftp, str(tmp_path / "fs"))
        return
    fs = fsspec.filesystem(request.param)
    root = f"/wfstore-test-{uuid.uuid4().hex}"
    try:
        yield Backend(request.param, fs, root)
    finally:
        if fs.exists(root):
            fs.rm(root, recursive=True)


@pytest.fixture
def json_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the JSON store files written from now on, one per write, in the
    order written."""
    from wfstore.persistence.resources import JSONFileStoreResource

    written: list[str] = []
    orig = JSONFileStoreResource._write_payloads

    def spy(fs: AbstractFileSystem, writes: Any) -> None:
        written.extend(res.filename for res, _ in writes)
        orig(fs, writes)

    monkeypatch.setattr(JSONFileStoreResource, "_write_payloads", staticmethod(spy))
    return written
