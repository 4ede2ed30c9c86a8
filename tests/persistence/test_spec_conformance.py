"""wfstore's PersistentStore has every public member of hpcflow 0.2.0a190's own
``hpcflow.sdk.persistence.base.PersistentStore``, introspected in the engine's side
environment, with the same kind (method, property, static or class method), the same
abstractness and the same parameters (names, kinds and defaults), and every concrete store
implements every abstract member."""

from __future__ import annotations

import inspect
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import wfstore
from engine_api import describe_class

ENGINE_API_SCRIPT = Path(__file__).resolve().parent / "engine_api.py"


@pytest.fixture(scope="module")
def engine_api(side_python: Path) -> dict[str, dict[str, Any]]:
    """The engine's PersistentStore, described by its own environment's Python."""
    proc = subprocess.run(
        [str(side_python), str(ENGINE_API_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


def test_engine_api_described(engine_api: dict[str, dict[str, Any]]) -> None:
    """The description holds the engine's API (a comparison with nothing cannot fail)."""
    assert len(engine_api) > 70
    assert engine_api["add_EAR"]["params"][-1] == {
        "name": "save",
        "kind": "POSITIONAL_OR_KEYWORD",
        "default": "True",
    }
    assert engine_api["zip"]["abstract"] and engine_api["zip"]["kind"] == "method"
    assert engine_api["EAR_cache"]["kind"] == "property"
    assert engine_api["write_empty_workflow"]["kind"] == "classmethod"
    assert engine_api["prepare_test_store_from_spec"]["kind"] == "staticmethod"


def test_every_engine_member_matches(engine_api: dict[str, dict[str, Any]]) -> None:
    ours = describe_class(wfstore.PersistentStore)
    missing = sorted(set(engine_api) - set(ours))
    assert not missing, f"PersistentStore lacks {missing}"
    differ = {
        name: {"engine": want, "wfstore": ours[name]}
        for name, want in engine_api.items()
        if ours[name] != want
    }
    assert not differ, json.dumps(differ, indent=1)


@pytest.mark.parametrize("kind", ["json", "zarr", "zip"])
def test_concrete_stores_implement_every_abstract_member(kind: str) -> None:
    cls = wfstore.store_cls_from_str(kind)
    assert issubclass(cls, wfstore.PersistentStore)
    assert not inspect.isabstract(cls), getattr(cls, "__abstractmethods__", None)
