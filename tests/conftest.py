"""Shared, generic fixtures for the core tests: fixture paths only."""

from __future__ import annotations

from pathlib import Path

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
