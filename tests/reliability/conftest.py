"""Fixtures of the reliability tests (issue 6); helpers are in rel_helpers.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from rel_helpers import make_store


@pytest.fixture(scope="session")
def _template_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "wk"
    make_store(path)
    return path


@pytest.fixture
def wk(tmp_path: Path, _template_store: Path) -> Path:
    """The folder of a committed scenario store (a fresh copy for each test)."""
    path = tmp_path / "wk"
    shutil.copytree(_template_store, path)
    return path
