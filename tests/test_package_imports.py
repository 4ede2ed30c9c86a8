"""What importing wfstore loads: the tools (whole-store operations) only when one is
used, so that a process keeping workflows through the engine (a job, a reader) carries
only the store modules; the public names unchanged (``wfstore.<name>``, ``__all__``,
``dir(wfstore)``, ``from wfstore import *``).

Each check runs in a new interpreter, where nothing was imported before it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import wfstore

#: The names ``wfstore`` gets from the tools, with the module each comes from.
TOOL_NAMES = {
    "BadChunk": "wfstore.tools.verify",
    "RepairReport": "wfstore.tools.repair",
    "VerifyReport": "wfstore.tools.verify",
    "consolidate": "wfstore.tools.consolidate",
    "convert": "wfstore.tools.convert",
    "create": "wfstore.tools.stores",
    "detect_generation": "wfstore.tools.stores",
    "detect_kind": "wfstore.tools.stores",
    "info": "wfstore.tools.inspect",
    "migrate": "wfstore.tools.migrate",
    "open": "wfstore.tools.stores",
    "repair": "wfstore.tools.repair",
    "store_cls_from_str": "wfstore.tools.stores",
    "verify": "wfstore.tools.verify",
}


def _run(python: Path | str, code: str, env: dict[str, str] | None = None) -> dict:
    proc = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


PLAIN = r"""
import json, sys
import wfstore
out = {"tools_after_import": sorted(m for m in sys.modules if m.startswith("wfstore.tools"))}
out["dir_before_use"] = sorted(dir(wfstore))
names = json.loads(sys.argv[1])
out["modules"] = {n: getattr(wfstore, n).__module__ for n in names}
out["tools_attr"] = wfstore.tools.__name__
out["dir_after_use"] = sorted(dir(wfstore))
ns = {}
exec("from wfstore import *", ns)
out["star"] = sorted(k for k in ns if k != "__builtins__")
out["all"] = sorted(wfstore.__all__)
try:
    wfstore.no_such_name
    out["missing"] = None
except AttributeError as exc:
    out["missing"] = str(exc)
print(json.dumps(out))
"""


def test_tools_are_imported_on_first_use_under_the_same_names() -> None:
    code = PLAIN.replace("json.loads(sys.argv[1])", json.dumps(sorted(TOOL_NAMES)))
    out = _run(sys.executable, code)
    assert out["tools_after_import"] == []
    assert out["modules"] == TOOL_NAMES
    # every name is listed before and after first use, nothing more after it
    assert set(TOOL_NAMES) <= set(out["dir_before_use"])
    assert out["dir_after_use"] == out["dir_before_use"]
    assert "tools" in out["dir_before_use"] and out["tools_attr"] == "wfstore.tools"
    assert set(wfstore.__all__) <= set(out["dir_before_use"])
    # `from wfstore import *` gives __all__ (open left out: it would shadow open())
    assert out["star"] == out["all"] and "open" not in out["all"]
    assert set(TOOL_NAMES) - {"open"} <= set(out["all"])
    assert out["missing"] == "module 'wfstore' has no attribute 'no_such_name'"


ENGINE = r"""
import json, sys
import wfstore.hpcflow as wfh
wfh.register()
from hpcflow.sdk.persistence import store_cls_from_str
classes = [store_cls_from_str(f).__name__ for f in ("zarr", "json", "zip")]
loaded = sorted(m for m in sys.modules if m.startswith("wfstore"))
import wfstore
out = {
    "generation": wfh.engine_generation(),
    "classes": classes,
    "loaded": loaded,
    "migrate": wfstore.migrate.__module__,
    "migrate_loaded_after": "wfstore.tools.migrate" in sys.modules,
}
print(json.dumps(out))
"""


def _engine_run(python: Path) -> dict:
    """:data:`ENGINE` run by an engine environment's `python`, with this wfstore: from
    this source tree if it is imported from one, else as installed there."""
    env = dict(os.environ)
    here = Path(wfstore.__file__).resolve().parent.parent
    if here.name in ("site-packages", "dist-packages"):
        env.pop("PYTHONPATH", None)
    else:
        env["PYTHONPATH"] = str(here)
    found = subprocess.run([str(python), "-c", "import wfstore"], capture_output=True, env=env)
    if found.returncode != 0:
        pytest.skip(f"wfstore is not installed in the engine environment ({python})")
    return _run(python, ENGINE, env)


def test_registered_a190_engine_loads_no_tools_and_no_other_generation(
    side_python: Path,
) -> None:
    """With hpcflow-new2 0.2.0a190 registered (as in a job process), neither the tools
    nor hpcflow 0.3's store modules are loaded; the tools still work when asked for."""
    out = _engine_run(side_python)
    assert out["generation"] == "0.2.0a190"
    assert out["classes"] == [
        "ZarrPersistentStore",
        "JSONPersistentStore",
        "ZarrZipPersistentStore",
    ]
    assert "wfstore.persistence.zarr.store" in out["loaded"]
    assert [m for m in out["loaded"] if m.startswith("wfstore.tools")] == []
    assert [m for m in out["loaded"] if m.startswith("wfstore.persistence.v03")] == []
    assert out["migrate"] == "wfstore.tools.migrate" and out["migrate_loaded_after"] is True


def test_registered_03_engine_loads_its_generation_and_no_tools(side_python_v03: Path) -> None:
    out = _engine_run(side_python_v03)
    assert out["generation"] == "0.3.0"
    assert "wfstore.persistence.v03.zarr_store" in out["loaded"]
    assert [m for m in out["loaded"] if m.startswith("wfstore.tools")] == []
    assert out["migrate"] == "wfstore.tools.migrate"


@pytest.mark.parametrize("name", sorted(TOOL_NAMES))
def test_each_tool_name_is_the_tools_own_object(name: str) -> None:
    import importlib

    assert getattr(wfstore, name) is getattr(importlib.import_module(TOOL_NAMES[name]), name)
