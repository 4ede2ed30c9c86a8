"""``wfstore.hpcflow.register()`` checks which engine generation is installed.

hpcflow-new2 0.2.0a190 gets wfstore's store classes (tests/engine/test_hpcflow_adapter.py).
hpcflow 0.3.x is recognised by its version and gets wfstore's 0.3 Zarr, zip and JSON
classes (and the job-script command). Checked with a stand-in
``hpcflow`` module here, and
with the real engines in their side environments (``side_python_v03``,
``side_python``), where this wfstore must be installed (scripts/test.sh installs it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest
import wfstore.hpcflow as wfh
from wfstore.common.errors import UnsupportedFeatureError

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_hpcflow_adapter import _engine_env


@pytest.fixture
def fake_hpcflow(monkeypatch: pytest.MonkeyPatch):
    """Installs a stand-in ``hpcflow`` package of a given version."""

    def install(version: str) -> None:
        module = types.ModuleType("hpcflow")
        module.__version__ = version  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "hpcflow", module)

    return install


@pytest.mark.parametrize(
    ("version", "generation"),
    [
        ("0.2.0a190", "0.2.0a190"),
        ("0.2.0a268", "0.2.0a190"),
        ("0.3.0", "0.3.0"),
        ("0.3.4", "0.3.0"),
    ],
)
def test_engine_generation_by_version(fake_hpcflow, version: str, generation: str) -> None:
    fake_hpcflow(version)
    assert wfh.engine_generation() == generation


@pytest.mark.parametrize("version", ["1.0.0", "0.1.9", ""])
def test_unknown_engine_version_is_refused(fake_hpcflow, version: str) -> None:
    fake_hpcflow(version)
    with pytest.raises(UnsupportedFeatureError, match=r"0\.2\.0a190 and hpcflow 0\.3\.x"):
        wfh.engine_generation()


#: Run by an engine's Python: what register() does there, as JSON.
PROBE = r"""
import json
import wfstore.hpcflow as wfh
from wfstore.common.errors import UnsupportedFeatureError
out = {"generation": wfh.engine_generation()}
if out["generation"] == "0.3.0":
    import hpcflow.app  # (initialises hpcflow; avoids its circular imports)
    from hpcflow.sdk.persistence import discovery
    from hpcflow.sdk.runtime import RunTimeInfo
    before = dict(discovery._ALL_STORE_CLS)
    inv = RunTimeInfo.__dict__["invocation_command"]
    try:
        wfh.register()
        out["error"] = None
    except UnsupportedFeatureError as exc:
        out["error"] = str(exc)
    out["registered"] = wfh.is_registered()
    out["classes_unchanged"] = dict(discovery._ALL_STORE_CLS) == before
    out["class_modules"] = sorted({c.__module__ for c in discovery._ALL_STORE_CLS.values()})
    out["invocation_unchanged"] = RunTimeInfo.__dict__["invocation_command"] is inv
print(json.dumps(out))
"""


def _probe(python: Path) -> dict:
    proc = subprocess.run(
        [str(python), "-c", PROBE],
        capture_output=True,
        text=True,
        env=_engine_env(python),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_real_hpcflow_03_gets_wfstores_03_classes(side_python_v03: Path) -> None:
    """With hpcflow 0.3.x, register() installs wfstore's 0.3 Zarr, zip and JSON
    classes and the job-script command that registers wfstore in each job."""
    out = _probe(side_python_v03)
    assert out["generation"] == "0.3.0"
    assert out["error"] is None
    assert out["registered"] is True
    assert out["classes_unchanged"] is False
    assert out["class_modules"] == ["wfstore.hpcflow"]
    assert out["invocation_unchanged"] is False


def test_real_hpcflow_a190_is_recognised(side_python: Path) -> None:
    assert _probe(side_python) == {"generation": "0.2.0a190"}
