"""Shared, generic fixtures: the engine-written fixture stores (``tests/data``) and the
engine's side environment (hpcflow 0.2.0a190), for every test folder."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import fsspec
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Root of the engine-written (hpcflow 0.2.0a190) fixture stores, kept in the repository
#: (``tests/data/README.md`` lists them; ``tests/data/make_fixtures.py`` wrote them).
FIXTURES_ROOT = REPO_ROOT / "tests" / "data" / "hpcflow-0.2.0a190"
#: The side environment scripts/test.sh makes for the engine (hpcflow-new2 0.2.0a190).
REPO_HPCFLOW_VENV = REPO_ROOT / ".venv-hpcflow"


def hpcflow_python() -> Path | None:
    """The Python of the engine's side environment (hpcflow-new2==0.2.0a190, zarr 2.17.2,
    numcodecs<0.13): ``$WFSTORE_HPCFLOW_PYTHON`` if set, else the repository's
    ``.venv-hpcflow``; None when that interpreter does not exist."""
    env = os.environ.get("WFSTORE_HPCFLOW_PYTHON")
    if env:
        path = Path(env)
    elif sys.platform == "win32":
        path = REPO_HPCFLOW_VENV / "Scripts" / "python.exe"
    else:
        path = REPO_HPCFLOW_VENV / "bin" / "python"
    return path if path.is_file() else None


def require_hpcflow_python() -> Path:
    """:func:`hpcflow_python`, or skip the calling test (fail it under ``CI``, where
    scripts/test.sh makes the environment)."""
    python = hpcflow_python()
    if python is not None:
        return python
    where = os.environ.get("WFSTORE_HPCFLOW_PYTHON") or str(REPO_HPCFLOW_VENV)
    msg = (
        f"no engine side environment at {where}: run scripts/test.sh, or make one with "
        "`python3 -m venv .venv-hpcflow && .venv-hpcflow/bin/pip install "
        "hpcflow-new2==0.2.0a190 zarr==2.17.2 'numcodecs<0.13'`, or set "
        "WFSTORE_HPCFLOW_PYTHON to such an environment's python"
    )
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but there is {msg}")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def side_python() -> Path:
    """The engine side environment's Python (see :func:`require_hpcflow_python`)."""
    return require_hpcflow_python()


@pytest.fixture(scope="session")
def fixtures_root() -> Path:
    """The engine-written fixture stores (part of the repository: missing ones fail)."""
    if not FIXTURES_ROOT.is_dir():
        pytest.fail(f"the engine fixture stores are missing at {FIXTURES_ROOT}")
    return FIXTURES_ROOT


# Every JSON store commit made by the tests (and by the processes they start) checks its
# incremental encoding against a full one, so a change made without its mark fails.
os.environ["WFSTORE_VERIFY_JSON_ENCODING"] = "1"


@pytest.fixture(autouse=True)
def _verify_json_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    from wfstore.persistence.resources import JSONFileStoreResource

    monkeypatch.setattr(JSONFileStoreResource, "verify_encoding", True)


@pytest.fixture
def fixture_copy(tmp_path: Path) -> Callable[[str], Path]:
    """Make a writable copy of the fixture store (folder or archive) `name` under
    tmp_path and return its path (the fixtures themselves are never written)."""

    def _copy(name: str) -> Path:
        src = FIXTURES_ROOT / name
        if not src.exists():
            pytest.fail(f"fixture {src} is missing")
        dst = tmp_path / name
        if src.is_dir():
            shutil.copytree(src, dst)
            for p in [dst, *dst.rglob("*")]:
                p.chmod(p.stat().st_mode | 0o200)
        else:
            shutil.copyfile(src, dst)
        return dst

    return _copy


@pytest.fixture
def mem() -> Iterator[tuple[object, str]]:
    """fsspec's memory file system and a fresh folder on it (removed afterwards)."""
    fs = fsspec.filesystem("memory")
    root = f"/wfstore-test-{uuid.uuid4().hex}"
    try:
        yield fs, root
    finally:
        if fs.exists(root):
            fs.rm(root, recursive=True)
