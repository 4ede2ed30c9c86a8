"""pytest plugin: run hpcflow's own test suite with its workflows kept by wfstore.

Use: ``pytest -p wfstore_engine_plugin ...`` (with this folder on ``PYTHONPATH``), from
the engine's ``hpcflow/tests`` folder. Importing the plugin calls
:func:`wfstore.hpcflow.register` before anything else (before the engine's conftest
imports the engine's app). The session fails at start if the engine's store lookup does
not give wfstore's classes; any use of the engine's own store classes afterwards fails
the test that made it.

With ``WFSTORE_ENGINE_STORE_USE=FOLDER`` each test's use of wfstore's stores in the
pytest process (stores opened and empty workflows written, by kind) is written to
``FOLDER/<worker>.json`` (node ID -> kind -> count), to tell the tests that use the
store from those that never reach it (how ``scripts/engine_suite.sh``'s selections
were chosen).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wfstore.hpcflow as wfh

wfh.register()


def _forbid(cls: type) -> None:
    """Make the engine's own store class `cls` unusable: creating a store with it (or
    writing an empty workflow) raises, naming the class."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(
            f"the engine used its own store class {cls.__module__}.{cls.__qualname__} "
            "although wfstore is registered"
        )

    cls.__init__ = refuse  # type: ignore[misc]
    cls.write_empty_workflow = classmethod(refuse)  # type: ignore[attr-defined]


def _check_registered() -> list[str]:
    """Problems with the registration, as messages (empty if none)."""
    from hpcflow.app import app
    from hpcflow.sdk.persistence import store_cls_from_str

    problems = []
    ours = wfh.store_classes()
    for fmt in ours:  # (with hpcflow 0.3.x: zarr and zip; the engine keeps json)
        got = store_cls_from_str(fmt)
        if got is not ours[fmt]:
            problems.append(f"store_cls_from_str({fmt!r}) gives {got!r}, not wfstore's")
    invoc = app.run_time_info.invocation_command
    if "wfstore.hpcflow" not in invoc:
        problems.append(f"job scripts would run {invoc!r}, without wfstore")
    return problems


#: Stores opened and written per test (``WFSTORE_ENGINE_STORE_USE``): node ID -> counts.
_USE: dict[str, Counter[str]] = {}
_CURRENT: list[str] = []


_DEPTH: list[int] = [0]


def _record_use(cls: type, kind: str) -> None:
    """Count each store of `cls` opened (``open:KIND``, KIND the kind of the class
    opened) and each empty workflow it writes (``create:KIND``) under the running
    test. `cls` may inherit both members (the engine's adapter classes do): they are
    wrapped on `cls` itself, and a base's ``__init__`` called by a subclass's is not
    counted again."""
    init = cls.__init__
    create = cls.write_empty_workflow.__func__  # type: ignore[attr-defined]

    def counted_init(self: Any, *args: Any, **kwargs: Any) -> None:
        if _CURRENT and _DEPTH[0] == 0:
            name = getattr(type(self), "_name", kind)
            _USE.setdefault(_CURRENT[-1], Counter())[f"open:{name}"] += 1
        _DEPTH[0] += 1
        try:
            init(self, *args, **kwargs)
        finally:
            _DEPTH[0] -= 1

    def counted_create(klass: type, *args: Any, **kwargs: Any) -> Any:
        if _CURRENT:
            _USE.setdefault(_CURRENT[-1], Counter())[f"create:{kind}"] += 1
        return create(klass, *args, **kwargs)

    cls.__init__ = counted_init  # type: ignore[misc]
    cls.write_empty_workflow = classmethod(counted_create)  # type: ignore[attr-defined]


def pytest_configure(config: pytest.Config) -> None:
    for cls in wfh.engine_store_classes().values():
        _forbid(cls)
    if os.environ.get("WFSTORE_ENGINE_STORE_USE"):
        for kind, cls in wfh.store_classes().items():
            _record_use(cls, kind)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Any) -> Iterator[None]:
    _CURRENT.append(item.nodeid)
    try:
        yield
    finally:
        _CURRENT.pop()


def pytest_sessionfinish(session: pytest.Session) -> None:
    folder = os.environ.get("WFSTORE_ENGINE_STORE_USE")
    if not folder:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    Path(folder).mkdir(parents=True, exist_ok=True)
    out = {nid: dict(counts) for nid, counts in sorted(_USE.items())}
    (Path(folder) / f"{worker}.json").write_text(json.dumps(out, indent=1) + "\n")


def pytest_sessionstart(session: pytest.Session) -> None:
    problems = _check_registered()
    if problems:
        raise pytest.UsageError(
            "wfstore is not registered as the engine's store: " + "; ".join(problems)
        )


def pytest_report_header(config: pytest.Config) -> str:
    import wfstore

    return f"wfstore {wfstore.__version__} registered as hpcflow's store ({wfstore.__file__})"
