"""Describe the public API of a PersistentStore class as JSON-able data.

Imported by ``test_spec_conformance.py`` to describe wfstore's class, and run as a script
by the engine's side environment (hpcflow 0.2.0a190) to describe the engine's own
``hpcflow.sdk.persistence.base.PersistentStore``: ``python engine_api.py`` prints that
description as JSON. Only the standard library is used here, so both sides run the same
code.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

#: The engine class the description is taken from when run as a script.
ENGINE_CLASS = "hpcflow.sdk.persistence.base.PersistentStore"


def _param(p: inspect.Parameter) -> dict[str, Any]:
    return {
        "name": p.name,
        "kind": p.kind.name,
        "default": None if p.default is inspect.Parameter.empty else repr(p.default),
    }


def describe_member(cls: type, name: str) -> dict[str, Any]:
    """Kind (method, property, static or class method), abstractness and parameters
    (name, kind, default as ``repr``; ``self``/``cls`` left out) of member `name`."""
    raw = inspect.getattr_static(cls, name)
    if isinstance(raw, property):
        return {
            "kind": "property",
            "abstract": bool(getattr(raw, "__isabstractmethod__", False)),
            "params": None,
        }
    if isinstance(raw, staticmethod):
        kind = "staticmethod"
    elif isinstance(raw, classmethod):
        kind = "classmethod"
    elif callable(raw):
        kind = "method"
    else:
        return {"kind": "attribute", "abstract": False, "params": None}
    func = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw
    params = list(inspect.signature(func).parameters.values())
    if kind != "staticmethod" and params and params[0].name in ("self", "cls"):
        params = params[1:]
    return {
        "kind": kind,
        "abstract": bool(getattr(func, "__isabstractmethod__", False)),
        "params": [_param(p) for p in params],
    }


def describe_class(cls: type) -> dict[str, dict[str, Any]]:
    """:func:`describe_member` of every public member of `cls` (inherited ones too, but
    not those of ``object``)."""
    return {
        name: describe_member(cls, name)
        for name in sorted(dir(cls))
        if not name.startswith("_") and not hasattr(object, name)
    }


def main() -> None:
    import importlib

    import hpcflow.app  # noqa: F401  (initialises hpcflow; avoids its circular imports)

    module, _, name = ENGINE_CLASS.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    print(json.dumps(describe_class(cls)))


if __name__ == "__main__":
    main()
