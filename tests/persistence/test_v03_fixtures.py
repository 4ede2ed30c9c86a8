"""The hpcflow 0.3.0 fixture stores (``tests/data/hpcflow-0.3.0``): complete, their
``.expected.json`` well formed, and what hpcflow 0.3.0's own classes read from each store
today equal to its ``.expected.json`` (in the 0.3.0 side environment, ``side_python_v03``
in tests/conftest.py; skipped without it, failed under CI).

wfstore does not read these stores yet (issue 21): these tests pin the ground truth the
0.3 store layer must reproduce.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from store_dump import normalise  # noqa: E402

#: ``EngineGeneration.fixtures_root`` of hpcflow 0.3.0 (tests/conftest.py).
FIXTURES = HERE.parent / "data" / "hpcflow-0.3.0"
MAKE_FIXTURES = HERE.parent / "data" / "make_fixtures.py"


def _make_fixtures() -> ModuleType:
    """``tests/data/make_fixtures.py`` as a module (its fixture tables; it imports
    neither the engine nor wfstore at module level)."""
    spec = importlib.util.spec_from_file_location("make_fixtures", MAKE_FIXTURES)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MF = _make_fixtures()
#: Every fixture the script makes for hpcflow 0.3.0, by name.
NAMES = sorted([*MF.ENGINE_TESTS["0.3.0"], *MF.OWN_WORKFLOWS["0.3.0"]])


def _store_path(name: str) -> Path:
    """The fixture's store: a folder, or ``NAME.zip``."""
    folder = FIXTURES / name
    return folder if folder.is_dir() else FIXTURES / f"{name}.zip"


def _expected(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.expected.json").read_text())


def test_fixtures_are_complete() -> None:
    """Each fixture has its store (of a kind the engine reads) and its expected values;
    nothing else is in the folder, and no store keeps the engine's ``execute/`` folder
    or the Python scripts it generates (``make_fixtures.copy_store``)."""
    if not FIXTURES.is_dir():
        pytest.fail(f"the hpcflow 0.3.0 fixture stores are missing at {FIXTURES}")
    wanted: set[str] = set()
    for name in NAMES:
        store = _store_path(name)
        assert MF.store_kind(store) is not None, f"{name}: no engine store at {store}"
        assert not (store / "execute").exists(), f"{name}: keeps execute/"
        assert not list(store.glob("artifacts/**/*.py")), f"{name}: keeps engine scripts"
        assert (FIXTURES / f"{name}.expected.json").is_file(), f"{name}: no expected.json"
        wanted |= {store.name, f"{name}.expected.json"}
    assert sorted(p.name for p in FIXTURES.iterdir()) == sorted(wanted)


def test_fixtures_cover_the_issue_list() -> None:
    """Between them the fixtures hold what the 0.3 layer must read: the three store
    kinds, submissions with jobscripts, loops, groups, skips, failures, run and
    parameter files, numpy inputs (Zarr arrays) and array outputs (NPZ shards and a
    consolidated archive)."""
    kinds = {MF.store_kind(_store_path(n)) for n in NAMES}
    assert kinds == {"zarr", "json", "zip"}
    runs = [r for n in NAMES for r in _expected(n)["runs"]]
    assert any(r["skip"] for r in runs) and any(r["exit_code"] == 98 for r in runs)
    assert any(r["run_file_ID"] not in (None, 0) for r in runs)
    assert any(_expected(n)["loops"] for n in NAMES)
    outputs = FIXTURES / "wk_array_outputs_zarr" / "parameters" / "array_outputs"
    assert sorted(p.relative_to(outputs).as_posix() for p in outputs.rglob("*.npz.zst")) == [
        "p2.__mask__/0/0.npz.zst",
        "p2.__mask__/0/1.npz.zst",
        "p2/0/0.npz.zst",
        "p2/0/1.npz.zst",
    ]
    base_multi = FIXTURES / "wk_seq_zarr" / "parameters" / "base_multi" / "0" / "0"
    assert (base_multi / "0").read_bytes().startswith(b"HPCFZ1")


@pytest.mark.parametrize("name", NAMES)
def test_expected_values_are_well_formed(name: str) -> None:
    """Each ``.expected.json`` parses, names its store's kind, and holds one entry per
    ID of every kind of item, with the 0.3 getters' answers."""
    exp = _expected(name)
    assert exp["kind"] == MF.store_kind(_store_path(name))
    counts = exp["counts"]
    for key, count in (("elements", "elements"), ("iters", "iters"), ("runs", "runs")):
        assert [i["id_"] for i in exp[key]] == list(range(counts[count]))
    assert len(exp["runs_skipped"]) == counts["runs"]
    assert [p["id_"] for p in exp["parameters"]] == list(range(counts["params"]))
    assert len(exp["parameter_sources"]) == len(exp["parameter_set"]) == counts["params"]
    assert len(exp["iter_dicts"]) == counts["iters"]
    assert exp["run_dirs"]["__ndarray__"]["shape"] == [counts["runs"]]
    assert sorted(exp["submissions_at_submit"]) == sorted(exp["submissions"])
    for run in exp["runs"]:  # the StoreEAR fields hpcflow 0.3 added
        for field in ("commands_file_ID", "run_file_ID", "run_file_idx", "port_number"):
            assert field in run


@pytest.fixture(scope="module")
def engine_reads(tmp_path_factory: pytest.TempPathFactory, side_python_v03: Path) -> Any:
    """What hpcflow 0.3.0's own classes read from a copy of every fixture, by store file
    name, through ``make_fixtures.py --dump`` (the code that wrote the expected values),
    in one process of the side environment."""
    work = tmp_path_factory.mktemp("v03")
    copies = []
    for name in NAMES:
        src = _store_path(name)
        dst = work / src.name
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)
        copies.append(str(dst))
    proc = subprocess.run(
        [str(side_python_v03), str(MAKE_FIXTURES), "--dump", *copies],
        capture_output=True,
        text=True,
        cwd=work,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("name", NAMES)
def test_engine_reads_fixture_as_expected(name: str, engine_reads: dict[str, Any]) -> None:
    """hpcflow 0.3.0's own classes read from each fixture exactly its
    ``.expected.json``."""
    assert normalise(engine_reads[_store_path(name).name]) == normalise(_expected(name))
