"""Shared, generic fixtures: the engine-written fixture stores (``tests/data``) and the
engines' side environments (hpcflow-new2 0.2.0a190, hpcflow 0.3.0), for every test
folder."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import fsspec
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class EngineGeneration:
    """Where one engine generation's fixtures and side environment are."""

    #: the engine's version, as the fixtures folder names it
    version: str
    #: the side environment scripts/test.sh makes for it, in the repository
    venv: Path
    #: the variable that points tests at another such environment's Python
    env_var: str
    #: what to install into a new virtual environment to make one by hand
    pip_args: str

    @property
    def fixtures_root(self) -> Path:
        """The stores this engine wrote (``tests/data/README.md`` lists them;
        ``tests/data/make_fixtures.py`` wrote them)."""
        return REPO_ROOT / "tests" / "data" / f"hpcflow-{self.version}"


#: The engine generations wfstore serves, by version.
ENGINES: dict[str, EngineGeneration] = {
    "0.2.0a190": EngineGeneration(
        "0.2.0a190",
        REPO_ROOT / ".venv-hpcflow",
        "WFSTORE_HPCFLOW_PYTHON",
        "hpcflow-new2==0.2.0a190 zarr==2.17.2 'numcodecs<0.13' pytest",
    ),
    "0.3.0": EngineGeneration(
        "0.3.0",
        REPO_ROOT / ".venv-hpcflow03",
        "WFSTORE_HPCFLOW03_PYTHON",
        "'hpcflow[test]==0.3.0' zarr==2.17.2 pytest-xdist",
    ),
}
#: Root of the hpcflow 0.2.0a190 fixture stores, kept in the repository.
FIXTURES_ROOT = ENGINES["0.2.0a190"].fixtures_root
#: The side environment scripts/test.sh makes for hpcflow-new2 0.2.0a190.
REPO_HPCFLOW_VENV = ENGINES["0.2.0a190"].venv


def hpcflow_python(version: str = "0.2.0a190") -> Path | None:
    """The Python of the side environment of the engine `version` (see :data:`ENGINES`):
    its ``env_var`` if set, else the repository's environment; None when that
    interpreter does not exist."""
    engine = ENGINES[version]
    env = os.environ.get(engine.env_var)
    if env:
        path = Path(env)
    elif sys.platform == "win32":
        path = engine.venv / "Scripts" / "python.exe"
    else:
        path = engine.venv / "bin" / "python"
    return path if path.is_file() else None


def require_hpcflow_python(version: str = "0.2.0a190") -> Path:
    """:func:`hpcflow_python`, or skip the calling test (fail it under ``CI``, where
    scripts/test.sh makes the environment)."""
    python = hpcflow_python(version)
    if python is not None:
        return python
    engine = ENGINES[version]
    where = os.environ.get(engine.env_var) or str(engine.venv)
    name = engine.venv.name
    msg = (
        f"no side environment of hpcflow {version} at {where}: run scripts/test.sh, or "
        f"make one with `python3 -m venv {name} && {name}/bin/pip install "
        f"{engine.pip_args}`, or set {engine.env_var} to such an environment's python"
    )
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but there is {msg}")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def side_python() -> Path:
    """The hpcflow-new2 0.2.0a190 side environment's Python (see
    :func:`require_hpcflow_python`)."""
    return require_hpcflow_python()


@pytest.fixture(scope="session")
def side_python_v03() -> Path:
    """The hpcflow 0.3.0 side environment's Python (see :func:`require_hpcflow_python`)."""
    return require_hpcflow_python("0.3.0")


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
