"""Migrated workflows opened by hpcflow 0.3.0 itself (issue 23, point 1), for every
a190 fixture (Zarr, JSON, zip): 0.3.0's ``Workflow`` shows what hpcflow-new2 0.2.0a190's
shows from the source (tasks, elements, iterations, loops, runs with their states,
times, exit codes, success, submission indices and skips, parameter values including
numpy and masked arrays, tuples, sets and parameter-value objects, submissions and the
jobscripts' standard streams), and 0.3.0 goes on with them (a loop iteration added, a
task added and submitted).

The migrations run here, in the test process, where no engine is installed: wfstore
alone writes the 0.3.0 stores. Each engine runs in its side environment
(``side_python``, ``side_python_v03``), the same view script in both
(``engine_workflow_view.py``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import wfstore
from wfstore.common.names import MIGRATION_KEPT_DIR, MIGRATION_REPORT_NAME
from wfstore.tools.migrate import migrate
from wfstore.tools.migrate.plan import plan_migration

HERE = Path(__file__).resolve().parent
A190 = HERE.parent / "data" / "hpcflow-0.2.0a190"
FIXTURES = sorted(p.name for p in A190.iterdir() if not p.name.endswith(".json"))


def _digest(root: Path) -> dict[str, str]:
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {
        str(p.relative_to(root.parent)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files
    }


def _run(python: Path, script: str, *args: str | Path) -> str:
    proc = subprocess.run(
        [str(python), str(HERE / script), *map(str, args)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def migrated(
    tmp_path_factory: pytest.TempPathFactory, side_python: Path, side_python_v03: Path
) -> dict[str, Any]:
    """Every fixture copied, migrated, and seen by both engines."""
    root = tmp_path_factory.mktemp("migrated")
    pairs: list[tuple[Path, Path]] = []
    for name in FIXTURES:
        (root / name).mkdir()
        src = root / name / name
        if (A190 / name).is_dir():
            shutil.copytree(A190 / name, src)
        else:
            shutil.copy2(A190 / name, src)
        dst = root / name / ("migrated.zip" if name.endswith(".zip") else "migrated")
        pairs.append((src, dst))
    before = {name: _digest(src) for name, (src, _) in zip(FIXTURES, pairs)}
    reports = {name: migrate(src, dst) for name, (src, dst) in zip(FIXTURES, pairs)}
    a190 = json.loads(_run(side_python, "engine_workflow_view.py", *[s for s, _ in pairs]))
    v03 = json.loads(_run(side_python_v03, "engine_workflow_view.py", *[d for _, d in pairs]))
    return {
        name: {
            "src": src,
            "dst": dst,
            "before": before[name],
            "a190": a190[str(src)],
            "v03": v03[str(dst)],
            "report": reports[name],
        }
        for name, (src, dst) in zip(FIXTURES, pairs)
    }


@pytest.mark.parametrize("name", FIXTURES)
def test_v03_shows_what_a190_showed(name: str, migrated: dict[str, Any]) -> None:
    case = migrated[name]
    a, b = case["a190"], case["v03"]
    for key in ("name", "num_EARs", "loops", "submissions"):
        assert b[key] == a[key], key
    for ta, tb in zip(a["tasks"], b["tasks"], strict=True):
        for ea, eb in zip(ta["elements"], tb["elements"], strict=True):
            for ia, ib in zip(ea["iterations"], eb["iterations"], strict=True):
                assert ib["runs"] == ia["runs"], (ta["name"], ea["index"], ia["index"])
                assert ib["data"] == ia["data"], (ta["name"], ea["index"], ia["index"])
            assert eb == ea
        assert tb == ta
    assert b == a


def test_no_engine_in_the_migrating_process(migrated: dict[str, Any]) -> None:
    """The migrations above imported neither engine: wfstore alone wrote the stores."""
    assert not any(m == "hpcflow" or m.startswith("hpcflow.") for m in sys.modules)


def test_views_cover_what_must_be_carried(migrated: dict[str, Any]) -> None:
    """The comparison above is not vacuous: the a190 views hold finished, failed and
    skipped runs, loops, several submissions' jobscripts with output, and every kind of
    value the issue names."""
    text = json.dumps([c["a190"] for c in migrated.values()])
    runs = [
        r
        for c in migrated.values()
        for t in c["a190"]["tasks"]
        for e in t["elements"]
        for i in e["iterations"]
        for r in i["runs"]
    ]
    assert {r["status"] for r in runs} >= {"success", "error", "skipped"}
    assert any(r["exit_code"] not in (0, None) for r in runs)
    assert all(r["start_time"] for r in runs if r["status"] == "success")
    assert any(c["a190"]["loops"] for c in migrated.values())
    assert any(
        js["stdout"]
        for c in migrated.values()
        for s in c["a190"]["submissions"]
        for js in s["jobscripts"]
    )
    for tag in ("__ndarray__", "__masked__", "__tuple__", "__set__", "__object__"):
        assert tag in text, tag


#: Fixtures without run snapshots (never run).
NO_SNAPSHOTS = {"wk_arrays_zarr"}


@pytest.mark.parametrize("name", FIXTURES)
def test_migrated_store(name: str, migrated: dict[str, Any]) -> None:
    """SRC unchanged; skip reasons and run-file assignment as planned; the report and
    the files kept aside in DST."""
    case = migrated[name]
    src, dst = case["src"], case["dst"]
    assert _digest(src) == case["before"]
    plan = plan_migration(src)
    store = wfstore.open(dst)
    assert wfstore.detect_generation(dst) == "0.3.0"
    runs = store.get_EARs(range(len(plan.runs))) if plan.runs else []
    for want, got in zip(plan.runs, runs, strict=True):
        assert (got.skip, got.submission_idx, got.run_file_ID, got.run_file_idx) == (
            want.skip,
            want.submission_idx,
            want.run_file_ID,
            want.run_file_idx,
        )
        assert (got.start_time, got.end_time, got.exit_code) == (
            want.start_time,
            want.end_time,
            want.exit_code,
        )
        assert (got.snapshot_start, got.snapshot_end, got.run_hostname) == (
            want.snapshot_start,
            want.snapshot_end,
            want.run_hostname,
        )
    assert any(r.snapshot_start for r in plan.runs) or name in NO_SNAPSHOTS
    report = json.loads(store.get_binary_file(MIGRATION_REPORT_NAME))
    assert report["counts"] == plan.report.counts
    assert [i["what"] for i in report["inferred"]] == [i.what for i in plan.report.inferred]
    for item in plan.report.kept_aside:
        if item.what == "file":
            assert store.get_binary_file(item.value) == _source_bytes(src, item.field)
            assert item.value.startswith(MIGRATION_KEPT_DIR)


def test_verify_finds_nothing_an_engine_made_store_lacks(migrated: dict[str, Any]) -> None:
    """``wfstore verify`` on each migrated Zarr store reports nothing it does not also
    report on a store hpcflow 0.3.0 made itself (this build's verify does not yet read
    0.3.0's structured arrays, ``run_sub_dat`` and ``run_dirs``: it flags those on both)."""
    native = HERE.parent / "data" / "hpcflow-0.3.0" / "wk_seq_zarr"
    allowed = {(b.array, b.key) for b in wfstore.verify(native).bad}
    for name, case in migrated.items():
        if name.endswith(".zip"):
            continue
        bad = {(b.array, b.key) for b in wfstore.verify(case["dst"]).bad}
        assert bad <= allowed, name


def _source_bytes(src: Path, rel: str) -> bytes:
    if src.is_dir():
        return (src / rel).read_bytes()
    import zipfile

    with zipfile.ZipFile(src) as zf:
        return zf.read(rel)


@pytest.mark.parametrize("name", ["test_loop_termination_multi_el0", "wk_seq_json"])
def test_v03_goes_on(
    name: str, migrated: dict[str, Any], side_python_v03: Path, tmp_path: Path
) -> None:
    """0.3.0 adds a loop iteration (where there is a loop) and a task, submits it and
    runs it, on a copy of the migrated workflow."""
    wf = tmp_path / "wf"
    shutil.copytree(migrated[name]["dst"], wf)
    (tmp_path / "config").mkdir()
    out = json.loads(
        _run(side_python_v03, "engine_v03_go_on.py", wf, tmp_path / "config").splitlines()[-1]
    )
    for before, after in out["loops"]:
        assert after == [before[0] + 1]
    assert out["new_output"] == 42 and out["new_run_status"] == "success"
    assert out["new_run_submission"] == len(migrated[name]["a190"]["submissions"])
    assert out["runs_after"] > out["runs_before"]


def test_speed_runner_smoke(side_python: Path, side_python_v03: Path) -> None:
    """``benches/migrate_speed.py`` runs its three steps end to end (a tiny workflow; the
    figures are in docs/migration.md)."""
    bench = HERE.parent.parent / "benches" / "migrate_speed.py"
    proc = subprocess.run(
        [
            str(side_python),
            str(bench),
            "--runs",
            "20",
            "--a190-python",
            str(side_python),
            "--v03-python",
            str(side_python_v03),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["runs"] == 20
    assert set(out) == {"runs", "make_a190_s", "migrate_s", "make_v03_s", "migrate_over_make_v03"}


def test_array_outputs(tmp_path: Path, side_python: Path, side_python_v03: Path) -> None:
    """Runs whose outputs are numpy arrays (made by a190 at test time): an output of one
    dtype and number of dimensions goes into 0.3.0's NPZ archives; one whose arrays
    differ (a masked array, int arrays of 1 and 2 dimensions) is disabled for NPZ in its
    task and kept as plain arrays, reported; 0.3.0 shows every value as a190 did."""
    run_dir = tmp_path / "run"  # a190 snapshots the working folder at each run start
    run_dir.mkdir()
    (tmp_path / "config").mkdir()
    proc = subprocess.run(
        [
            str(side_python),
            str(HERE / "engine_a190_array_outputs.py"),
            str(tmp_path),
            str(tmp_path / "config"),
        ],
        capture_output=True,
        text=True,
        cwd=run_dir,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    src = Path(proc.stdout.splitlines()[-1])
    dst = tmp_path / "migrated"
    report = migrate(src, dst)
    disabled = [(i.what, i.value) for i in report.inferred if i.field == "disable_array_outputs"]
    assert disabled == [("task 1", "p3")]
    assert (dst / "parameters" / "array_outputs" / "p2" / "0" / "0.npz.zst").is_file()
    assert not (dst / "parameters" / "array_outputs" / "p3").exists()
    a = json.loads(_run(side_python, "engine_workflow_view.py", src))[str(src)]
    b = json.loads(_run(side_python_v03, "engine_workflow_view.py", dst))[str(dst)]
    text = json.dumps(a)
    assert "__masked__" in text and "int32" in text and "float64" in text
    assert b == a


def test_output_slots_are_v03s(migrated: dict[str, Any], side_python_v03: Path) -> None:
    """Every run's outputs in the migrated Zarr stores take the slots 0.3.0's own
    ``TaskSchema.get_output_indices`` gives its action: the same slot for an action
    with one output; the same set of slots for an action with several, whose order
    0.3.0 itself takes from a Python set of names (it differs between processes with
    the string hash seed, so no one order is 0.3.0's). Some action has several."""
    paths = [str(c["dst"]) for c in migrated.values() if wfstore.detect_kind(c["dst"]) != "json"]
    got = json.loads(_run(side_python_v03, "engine_v03_output_slots.py", *paths))
    several = False
    for path in paths:
        per_run: dict[int, list[tuple[Any, Any]]] = {}
        for run_id, _key, stored, want in got[path]:
            assert want is not None and stored is not None, (path, run_id)
            per_run.setdefault(run_id, []).append((stored, want))
        for run_id, pairs in per_run.items():
            stored, want = zip(*pairs)
            assert sorted(stored) == sorted(want), (path, run_id)
            if len(pairs) == 1:
                assert stored == want, (path, run_id)
            several = several or len(pairs) > 1
    assert several


@pytest.mark.parametrize("store", ["zarr", "json"])
def test_file_parameters(
    tmp_path: Path, side_python: Path, side_python_v03: Path, store: str
) -> None:
    """File parameters (made by a190 at test time): a given input file (under
    ``artifacts/input_files/``), input files an input-file generator made and output
    files a run wrote (under ``artifacts/tasks/``, set on the runs' ends). 0.3.0's
    ``Workflow`` hands out the same file references as a190's did, naming files with
    the same contents; 0.3.0 parses the rewritten output-file parsers without a
    deprecation warning (a190's ``save_files`` is gone from them); ``wfstore verify``
    finds nothing it does not find on a store 0.3.0 made."""
    (tmp_path / "config").mkdir()
    (tmp_path / "cwd").mkdir()
    proc = subprocess.run(
        [
            str(side_python),
            str(HERE / "engine_a190_files.py"),
            str(tmp_path),
            str(tmp_path / "config"),
            store,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path / "cwd",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    src = Path(proc.stdout.splitlines()[-1])
    before = _digest(src)
    dst = tmp_path / "migrated"
    report = migrate(src, dst)
    assert report.refusals == []
    assert _digest(src) == before
    a = json.loads(_run(side_python, "engine_workflow_view.py", src))[str(src)]
    v03 = subprocess.run(
        [str(side_python_v03), str(HERE / "engine_workflow_view.py"), str(dst)],
        capture_output=True,
        text=True,
    )
    assert v03.returncode == 0, v03.stderr[-3000:]
    assert "save_files" not in v03.stderr
    b = json.loads(v03.stdout)[str(dst)]
    files = {
        (key, v["file"]["path"], v["text"])
        for t in a["tasks"]
        for el in t["elements"]
        for it in el["iterations"]
        for key, v in it["data"].items()
        if key.startswith(("input_files.", "output_files."))
    }
    assert len(files) == 6 and all(text for _, _, text in files)
    assert (
        "input_files.my_in",
        "artifacts/input_files/0/my_in.txt",
        "a given input file\n",
    ) in files
    assert (
        "output_files.my_out",
        "artifacts/tasks/t_0/e_1/my_out.txt",
        "written by run 4\n",
    ) in files
    assert b == a
    if store == "zarr":
        native = HERE.parent / "data" / "hpcflow-0.3.0" / "wk_seq_zarr"
        allowed = {(x.array, x.key) for x in wfstore.verify(native).bad}
        assert {(x.array, x.key) for x in wfstore.verify(dst).bad} <= allowed
