"""``wfstore.hpcflow.register()``: hpcflow 0.2.0a190 keeps its workflows through wfstore.

The engine runs in its own virtual environment (the ``side_python`` fixture of
``tests/conftest.py``: ``WFSTORE_HPCFLOW_PYTHON`` or the repository's ``.venv-hpcflow``),
which must be able to import this wfstore: either it is
installed there (``scripts/test.sh`` installs the wheel) or wfstore is imported here
from a source tree, which is then put on the engine's ``PYTHONPATH``. One engine process
runs the whole scenario (:data:`SCENARIO`) and prints what it saw as JSON; the tests
check it. The engine's full suite runs through wfstore in ``scripts/engine_suite.sh``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import wfstore

#: Run by the engine's Python with a scratch folder as argv[1].
SCENARIO = r'''
import json, sys
from pathlib import Path

out = {}
import os
import wfstore, wfstore.hpcflow as wfh
durability_env_before = os.environ.get("WFSTORE_DURABILITY")
out["hpcflow_imported_before_register"] = any(
    m == "hpcflow" or m.startswith("hpcflow.") for m in sys.modules
)
wfh.register()
wfh.register()  # a second call changes nothing
out["registered"] = wfh.is_registered()

import zarr
from hpcflow.app import app as hf
from hpcflow.sdk.core import errors as eng_errors
from hpcflow.sdk.core.test_utils import make_test_data_YAML_workflow
from hpcflow.sdk.persistence import store_cls_from_str

tmp = Path(sys.argv[1])
hf.load_config(config_dir=tmp / "config")
import logging

class Sources(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.paths = set()

    def emit(self, record):
        self.paths.add(record.pathname)

sources = Sources()
hf.persistence_logger.addHandler(sources)
hf.persistence_logger.setLevel(logging.DEBUG)
out["store_cls"] = {f: store_cls_from_str(f).__module__ for f in ("zarr", "json", "zip")}
out["invocation"] = list(hf.run_time_info.invocation_command)

wks = {}
for store in ("zarr", "json"):
    (tmp / store).mkdir()
    wk = make_test_data_YAML_workflow("workflow_1.yaml", path=tmp / store, store=store)
    wks[store] = wk
    out[f"{store}_store"] = type(wk._store).__module__
    out[f"{store}_uses_wfstore"] = wfh.uses_wfstore(wk)
    out[f"{store}_p1"] = wk.tasks[0].elements[0].get("inputs.p1")

# a real submission: the job script runs the engine's CLI in new processes, which
# must keep the workflow through wfstore too
wk = wks["zarr"]
wk.submit(wait=True, add_to_known=False, status=False)
out["js_invocation_has_wfstore"] = "wfstore.hpcflow" in "".join(
    p.read_text() for p in Path(wk.path).rglob("js_*.sh")
)
reloaded = hf.Workflow(wk.path)
out["p2_after_submit"] = reloaded.tasks[0].elements[0].outputs.p2.value
run = reloaded.get_EARs_from_IDs([0])[0]
out["run"] = {
    "snapshot_start": run.snapshot_start is not None,
    "start_before_end": run.start_time is not None and run.start_time <= run.end_time,
}
out["wfstore_logs_to_engine_logger"] = any("wfstore" in p for p in sources.paths)

try:
    wk._store.get_EARs([10**6])
except eng_errors.MissingStoreEARError as exc:
    out["missing_EAR"] = [type(exc).__name__, isinstance(exc, wfstore.MissingStoreEARError)]

# rechunk with a backup: the backup is a zarr-python array like the engine's
wk.rechunk_runs(backup=True, status=False, chunk_size=None)
arr = wk._store._get_EARs_arr()
bak = zarr.open(str((Path(wk.path) / arr.path).with_suffix(".bak")))
out["rechunk"] = {
    "chunks": list(arr.chunks), "shape": list(arr.shape), "bak_chunks": list(bak.chunks),
    "rows_equal": bool((arr[:] == bak[:]).all()),
    "attrs_equal": arr.attrs.asdict() == bak.attrs.asdict(),
}
ret = wk._store.rechunk_parameter_base(backup=False, status=False)  # as the engine's: the array
out["rechunk_return"] = [ret.path, ret.chunks == ret.shape, ret.report["rows"] == ret.shape[0]]
out["params_after_rechunk"] = len(hf.Workflow(wk.path).get_all_parameters())

zip_path = wk.zip(path=str(tmp))
wz = hf.Workflow(zip_path)
out["zip_store"] = type(wz._store).__module__
out["zip_url_is_archive"] = wz.url == zip_path
out["zip_p2"] = wz.tasks[0].elements[0].outputs.p2.value
try:
    wz.zip(path=str(tmp / "again.zip"))
except ValueError as exc:
    out["zip_of_zip"] = str(exc)
unzipped = wz.unzip(path=str(tmp / "unzipped"))
out["unzipped_p2"] = hf.Workflow(unzipped).tasks[0].elements[0].outputs.p2.value

# wfstore's own layout, asked for: the engine's jobs update runs of shared chunks;
# with "full" durability (every file flushed), in the jobs too
wfh.register(run_chunk_size=100, param_chunk_size=100, durability="full")
(tmp / "chunked").mkdir()
wkc = make_test_data_YAML_workflow("workflow_1.yaml", path=tmp / "chunked", store="zarr")
wkc.submit(wait=True, add_to_known=False, status=False)
rc = hf.Workflow(wkc.path)
out["chunked"] = {
    "chunks": [
        zarr.open(str(Path(wkc.path) / a)).chunks[0] for a in ("metadata/runs", "parameters/base")
    ],
    "p2": rc.tasks[0].elements[0].outputs.p2.value,
    "all_ended": all(r.end_time is not None for r in rc.get_all_EARs()),
    "same_p2_as_engine_layout": rc.tasks[0].elements[0].outputs.p2.value == out["p2_after_submit"],
    "durability": [
        rc._store.durability, os.environ.get("WFSTORE_DURABILITY"),
        sorted({c.default_durability for c in wfh.store_classes().values()}),
    ],
}
wfh.register(run_chunk_size=1, param_chunk_size=1, durability="normal")

wfh.unregister()
out["after_unregister"] = {
    "store_cls": {f: store_cls_from_str(f).__module__ for f in ("zarr", "json", "zip")},
    "invocation": list(hf.run_time_info.invocation_command),
    "registered": wfh.is_registered(),
    "durability_restored": [
        os.environ.get("WFSTORE_DURABILITY") == durability_env_before,
        sorted({str(c.default_durability) for c in wfh.store_classes().values()}),
    ],
}
# the engine's own stores read what wfstore wrote
for name, path in (("zarr", wk.path), ("json", wks["json"].path), ("unzipped", unzipped)):
    eng_wk = hf.Workflow(path)
    out[f"engine_reads_{name}"] = [
        type(eng_wk._store).__module__, eng_wk.tasks[0].elements[0].get("inputs.p1")
    ]
out["engine_reads_zip_p2"] = hf.Workflow(zip_path).tasks[0].elements[0].outputs.p2.value
print("SCENARIO-RESULT " + json.dumps(out))
'''


def _engine_env(engine_python: Path) -> dict[str, str]:
    """Environment for the engine's Python, making this wfstore importable there: a
    source tree is put on ``PYTHONPATH``; an installed wfstore must be installed in the
    engine's environment too."""
    env = dict(os.environ)
    here = Path(wfstore.__file__).resolve().parent.parent
    if here.name not in ("site-packages", "dist-packages"):
        env["PYTHONPATH"] = str(here)
        return env
    env.pop("PYTHONPATH", None)
    found = subprocess.run(
        [str(engine_python), "-c", "import wfstore"], capture_output=True, env=env
    )
    if found.returncode != 0:
        pytest.skip(
            f"wfstore is not installed in the engine environment ({engine_python}); "
            "install the wheel there (scripts/test.sh does)"
        )
    return env


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, side_python: Path) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("engine")
    env = _engine_env(side_python)
    # job scripts run `python`; it must be the engine environment's
    env["PATH"] = f"{side_python.parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(
        [str(side_python), "-c", SCENARIO, str(tmp)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("SCENARIO-RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-6000:]
    return json.loads(lines[-1].removeprefix("SCENARIO-RESULT "))


def test_nothing_of_hpcflow_is_imported_until_register(scenario: dict[str, Any]) -> None:
    assert scenario["hpcflow_imported_before_register"] is False
    assert scenario["registered"] is True


def test_engine_finds_wfstore_stores_for_every_format(scenario: dict[str, Any]) -> None:
    assert scenario["store_cls"] == dict.fromkeys(("zarr", "json", "zip"), "wfstore.hpcflow")
    for store in ("zarr", "json"):
        assert scenario[f"{store}_store"] == "wfstore.hpcflow"
        assert scenario[f"{store}_uses_wfstore"] is True
        assert scenario[f"{store}_p1"] == 101


def test_submitted_job_scripts_run_the_engine_through_wfstore(scenario: dict[str, Any]) -> None:
    assert scenario["invocation"][1:3] == ["-m", "wfstore.hpcflow"]
    assert scenario["invocation"][3].endswith("cli.py")
    assert scenario["js_invocation_has_wfstore"] is True
    # the command's output was parsed and stored by the job script's engine processes
    assert scenario["p2_after_submit"] == "201"
    # run-directory snapshots come from the engine's app, timestamps in its format
    assert scenario["run"] == {"snapshot_start": True, "start_before_end": True}


def test_stores_log_to_the_engines_persistence_logger(scenario: dict[str, Any]) -> None:
    assert scenario["wfstore_logs_to_engine_logger"] is True


def test_missing_items_raise_the_engine_error_class(scenario: dict[str, Any]) -> None:
    assert scenario["missing_EAR"] == ["MissingStoreEARError", True]


def test_engine_jobs_work_with_wfstores_chunked_layout(scenario: dict[str, Any]) -> None:
    """... and with ``durability="full"`` given to ``register()``: its stores, and
    (through the environment) its jobs' stores, flush every file."""
    assert scenario["chunked"] == {
        "chunks": [100, 100],
        "p2": scenario["p2_after_submit"],
        "all_ended": True,
        "same_p2_as_engine_layout": True,
        "durability": ["full", "full", ["full"]],
    }


def test_register_refuses_a_bad_durability(monkeypatch: pytest.MonkeyPatch) -> None:
    import wfstore.hpcflow as wfh

    monkeypatch.delenv("WFSTORE_DURABILITY", raising=False)
    with pytest.raises(wfstore.InvalidArgumentError, match="durability must be one of"):
        wfh.register(durability="off")  # type: ignore[arg-type]
    assert not wfh.is_registered() and "WFSTORE_DURABILITY" not in os.environ


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "3"])
def test_register_refuses_bad_chunk_sizes(bad: Any) -> None:
    import wfstore.hpcflow as wfh

    with pytest.raises(wfstore.InvalidArgumentError, match="run_chunk_size"):
        wfh.register(run_chunk_size=bad)
    with pytest.raises(wfstore.InvalidArgumentError, match="param_chunk_size"):
        wfh.register(param_chunk_size=bad)
    assert not wfh.is_registered()


def test_rechunk_backup_answers_like_the_engines_zarr_arrays(scenario: dict[str, Any]) -> None:
    rc = scenario["rechunk"]
    assert rc["chunks"] == rc["shape"]  # one chunk
    assert rc["bak_chunks"] == [1]  # the engine's layout, as register() makes it
    assert rc["rows_equal"] is True
    assert rc["attrs_equal"] is True
    assert scenario["params_after_rechunk"] > 0
    assert scenario["rechunk_return"] == ["parameters/base", True, True]


def test_zip_and_unzip_through_the_engine(scenario: dict[str, Any]) -> None:
    assert scenario["zip_store"] == "wfstore.hpcflow"
    assert scenario["zip_url_is_archive"] is True
    assert scenario["zip_p2"] == "201"
    assert scenario["zip_of_zip"] == "Already a zip store!"
    assert scenario["unzipped_p2"] == "201"


def test_unregister_gives_the_engine_its_stores_back(scenario: dict[str, Any]) -> None:
    after = scenario["after_unregister"]
    assert after["registered"] is False
    assert set(after["store_cls"].values()) <= {
        "hpcflow.sdk.persistence.zarr",
        "hpcflow.sdk.persistence.json",
    }
    assert "wfstore.hpcflow" not in after["invocation"]
    # register(durability=...) set WFSTORE_DURABILITY for the jobs; unregister puts it back
    assert after["durability_restored"] == [True, ["None"]]
    for name in ("zarr", "json", "unzipped"):
        module, p1 = scenario[f"engine_reads_{name}"]
        assert module.startswith("hpcflow.sdk.persistence.")
        assert p1 == 101
    assert scenario["engine_reads_zip_p2"] == "201"
