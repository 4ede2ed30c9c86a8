"""Shared, generic fixtures for the core tests: fixture paths only."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import fsspec
import pytest

#: Root of the engine-written (hpcflow 0.2.0a190) fixture stores.
FIXTURES_ROOT = (
    Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "hpcflow-0.2.0a190"
)


@pytest.fixture(scope="session")
def fixtures_root() -> Path:
    """The engine-written fixture stores; skips when they are not present."""
    if not FIXTURES_ROOT.is_dir():
        pytest.skip(f"fixture stores not found at {FIXTURES_ROOT}")
    return FIXTURES_ROOT


# Every JSON store commit made by the tests (and by the processes they start) checks its
# incremental encoding against a full one, so a change made without its mark fails.
os.environ["WFSTORE_VERIFY_JSON_ENCODING"] = "1"


@pytest.fixture(autouse=True)
def _verify_json_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    from wfstore.persistence.resources import JSONFileStoreResource

    monkeypatch.setattr(JSONFileStoreResource, "verify_encoding", True)


def pytest_configure(config: pytest.Config) -> None:
    """Under CI the engine's fixture stores must be there: a run that skipped every
    compatibility test would pass without testing what matters."""
    if os.environ.get("CI") and not FIXTURES_ROOT.is_dir():
        raise pytest.UsageError(
            f"CI is set but the engine fixture stores are missing at {FIXTURES_ROOT}"
        )


@pytest.fixture
def fixture_copy(tmp_path: Path) -> Callable[[str], Path]:
    """Make a writable copy of the fixture store (folder or archive) `name` under
    tmp_path and return its path (the fixtures themselves are never written)."""

    def _copy(name: str) -> Path:
        src = FIXTURES_ROOT / name
        if not src.exists():
            pytest.skip(f"fixture {src} is missing")
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
