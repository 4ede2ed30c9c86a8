"""wfstore's PersistentStore has every member of the engine's spec
(``shared/spec/PersistentStore-api.txt``), with the same kind (method, property,
static or class method, abstract or not), parameter names and defaults, and every
concrete store implements every abstract member."""

from __future__ import annotations

import ast
import inspect
import re
from typing import Any

import pytest
import wfstore
from conftest import REPO_ROOT

SPEC = REPO_ROOT.parent / "shared" / "spec" / "PersistentStore-api.txt"

_SIG = re.compile(
    r"^(?P<prefix>(?:abstract |static |classmethod |property )*)"
    r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:\((?P<params>.*)\))?(?:[^#]*)#$"
)


def _spec_members() -> dict[str, dict[str, Any]]:
    if not SPEC.is_file():
        pytest.skip(f"spec not found at {SPEC}")
    out: dict[str, dict[str, Any]] = {}
    for line in SPEC.read_text().splitlines()[3:]:
        m = _SIG.match(line.strip())
        if not m:
            continue
        prefix = m["prefix"].split()
        params: list[tuple[str, Any]] | None = None
        if m["params"] is not None:
            params = []
            for p in m["params"].split(","):
                p = p.strip()
                if not p or p == "*":
                    continue
                name, _, default = p.partition("=")
                name = name.split(":")[0].strip()
                params.append((name, ast.literal_eval(default) if default else inspect._empty))
        out[m["name"]] = {
            "abstract": "abstract" in prefix,
            "static": "static" in prefix,
            "classmethod": "classmethod" in prefix,
            "property": "property" in prefix,
            "params": params,
        }
    return out


MEMBERS = _spec_members() if SPEC.is_file() else {}


def test_spec_parsed() -> None:
    members = _spec_members()
    assert len(members) > 70
    assert members["add_EAR"]["params"][-1] == ("save", True)
    assert members["zip"]["abstract"] and members["EAR_cache"]["property"]


@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_member_matches_spec(name: str) -> None:
    spec = MEMBERS[name]
    cls = wfstore.PersistentStore
    assert hasattr(cls, name), f"PersistentStore lacks {name}"
    raw = inspect.getattr_static(cls, name)
    if spec["property"]:
        assert isinstance(raw, property), f"{name} should be a property"
        return
    if spec["static"]:
        assert isinstance(raw, staticmethod), f"{name} should be a staticmethod"
    if spec["classmethod"]:
        assert isinstance(raw, classmethod), f"{name} should be a classmethod"
    func = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw
    assert getattr(func, "__isabstractmethod__", False) == spec["abstract"], (
        f"{name}: abstract should be {spec['abstract']}"
    )
    if spec["params"] is None or name == "using_resource":
        return
    sig = inspect.signature(func)
    params = [
        (p.name, p.default)
        for p in sig.parameters.values()
        if p.name not in ("self", "cls") and p.kind is not p.VAR_KEYWORD
    ]
    want = [(n, d) for n, d in spec["params"] if not n.startswith("**")]
    assert params == want, f"{name}{sig} differs from the spec {want}"


@pytest.mark.parametrize("kind", ["json", "zarr", "zip"])
def test_concrete_stores_implement_every_abstract_member(kind: str) -> None:
    cls = wfstore.store_cls_from_str(kind)
    assert issubclass(cls, wfstore.PersistentStore)
    assert not inspect.isabstract(cls), getattr(cls, "__abstractmethods__", None)
