"""pytest plugin: run hpcflow's own test suite with its workflows kept by wfstore.

Use: ``pytest -p wfstore_engine_plugin ...`` (with this folder on ``PYTHONPATH``), from
the engine's ``hpcflow/tests`` folder. Importing the plugin calls
:func:`wfstore.hpcflow.register` before anything else (before the engine's conftest
imports the engine's app). The session fails at start if the engine's store lookup does
not give wfstore's classes; any use of the engine's own store classes afterwards fails
the test that made it.
"""

from __future__ import annotations

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


def pytest_configure(config: pytest.Config) -> None:
    for cls in wfh.engine_store_classes().values():
        _forbid(cls)


def pytest_sessionstart(session: pytest.Session) -> None:
    problems = _check_registered()
    if problems:
        raise pytest.UsageError(
            "wfstore is not registered as the engine's store: " + "; ".join(problems)
        )


def pytest_report_header(config: pytest.Config) -> str:
    import wfstore

    return f"wfstore {wfstore.__version__} registered as hpcflow's store ({wfstore.__file__})"
