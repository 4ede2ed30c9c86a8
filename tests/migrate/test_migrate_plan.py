"""``wfstore migrate`` (hpcflow-new2 0.2.0a190 -> hpcflow 0.3.0): the mapping, the
pre-flight check, the report and the command, on every a190 fixture (Zarr, JSON, zip).

The rewritten templates are parsed by hpcflow 0.3.0 itself in its side environment
(``side_python_v03``); the migrated stores opened by 0.3.0 are compared with their
sources in ``test_migrate_engine.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import wfstore
from click.testing import CliRunner
from wfstore.cli import cli
from wfstore.common.errors import (
    MigrationRefusedError,
    MigrationUnavailableError,
    StoreExistsError,
    UnknownStoreKindError,
)
from wfstore.common.names import MIGRATION_KEPT_DIR, MIGRATION_REPORT_NAME
from wfstore.tools.migrate import migrate
from wfstore.tools.migrate.artifacts import target_path
from wfstore.tools.migrate.plan import plan_migration
from wfstore.tools.migrate.runs import SKIP_LOOP_TERMINATION, SKIP_NONE, id_ranges
from wfstore.tools.migrate.template import default_random_seed, rewrite_resources

HERE = Path(__file__).resolve().parent
A190 = HERE.parent / "data" / "hpcflow-0.2.0a190"
FIXTURES = sorted(p.name for p in A190.iterdir() if not p.name.endswith(".json"))


def _digest(root: Path) -> dict[str, str]:
    if root.is_file():
        return {root.name: hashlib.sha256(root.read_bytes()).hexdigest()}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _copy(name: str, tmp_path: Path) -> Path:
    src = A190 / name
    dst = tmp_path / name
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copy2(src, dst)
    return dst


def test_every_fixture_is_covered() -> None:
    kinds = {wfstore.detect_kind(A190 / n) for n in FIXTURES}
    assert kinds == {"zarr", "json", "zip"}


@pytest.mark.parametrize("name", FIXTURES)
def test_plan_carries_every_item(name: str) -> None:
    store = wfstore.open(A190 / name)
    plan = plan_migration(A190 / name)
    rep = plan.report
    assert rep.refusals == []
    n_runs = store._get_num_total_EARs()
    n_params = store._get_num_total_parameters()
    assert rep.counts["runs"] == n_runs == len(plan.runs)
    assert [r.id_ for r in plan.runs] == list(range(n_runs))
    assert [p.id_ for p in plan.parameters] == list(range(n_params))
    src_runs = store.get_EARs(range(n_runs)) if n_runs else []
    for old, new in zip(src_runs, plan.runs):
        # historical values carried as they are
        assert (new.start_time, new.end_time, new.exit_code, new.success) == (
            old.start_time,
            old.end_time,
            old.exit_code,
            old.success,
        )
        assert new.run_hostname == old.run_hostname
        assert new.snapshot_start == old.snapshot_start
        assert new.submission_idx == old.submission_idx
        assert (new.skip != SKIP_NONE) == bool(old.skip)
        assert (new.run_file_ID is None) == (old.submission_idx is None)
    # one run file per submission; run-file indices unique within it
    seen = [
        (r.submission_idx, r.run_file_ID, r.run_file_idx)
        for r in plan.runs
        if r.run_file_ID is not None
    ]
    assert len(seen) == len(set(seen))
    # parameters: outputs by output_idx, the rest numbered 0.. by non_output_idx
    non_out = [p.source["non_output_idx"] for p in plan.parameters if not p.is_output]
    assert non_out == list(range(len(non_out)))
    by_run = {r.id_: r for r in plan.runs}
    for p, old in zip(plan.parameters, store.get_parameters(range(n_params)) if n_params else []):
        assert p.is_output == (old.source.get("type") == "EAR_output")
        if p.is_output:
            assert "output_idx" in p.source and "non_output_idx" not in p.source
            assert by_run[p.output_of].data_idx  # the run names it
        assert p.is_set == old.is_set
        _assert_same_value(p.data, old.data)
    # the slots of one run's outputs are distinct
    for run in plan.runs:
        slots = [p.source["output_idx"] for p in plan.parameters if p.output_of == run.id_]
        assert len(slots) == len(set(slots))


def _assert_same_value(a: Any, b: Any) -> None:
    if isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
        if np.ma.isMaskedArray(b):
            np.testing.assert_array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b))
    else:
        assert type(a) is type(b) and a == b


def test_arrays_tuples_sets_carried() -> None:
    plan = plan_migration(A190 / "wk_arrays_zarr")
    kinds = {type(p.data) for p in plan.parameters}
    assert np.ndarray in kinds or np.ma.MaskedArray in kinds
    assert tuple in kinds or any(isinstance(p.data, dict) for p in plan.parameters)


def test_loop_skips_are_loop_termination() -> None:
    plan = plan_migration(A190 / "test_loop_termination_multi_el0")
    skipped = {r.id_: r.skip for r in plan.runs if r.skip}
    assert skipped == {10: SKIP_LOOP_TERMINATION, 11: SKIP_LOOP_TERMINATION}
    inferred = {i.what for i in plan.report.inferred if i.field == "skip_reason"}
    assert inferred == {"runs 10-11"}
    (loop,) = plan.loops
    assert loop.iterable_parameters == {"p1": {"input_task": 0, "output_tasks": [0]}}
    assert loop.output_parameters == {"p1": 0}
    assert loop.template["termination_task_insert_ID"] == 0


def test_template_rewrite_and_traps() -> None:
    plan = plan_migration(A190 / "test_loop_termination_multi_el0")
    tpl = plan.template
    for task in tpl["tasks"]:
        assert task["condition"] is None and task["disable_array_outputs"] == []
        for es in task["element_sets"]:
            assert "merge_envs" not in es and es["is_creation"] is False
    for schema in plan.template_components["task_schemas"].values():
        for act in schema["actions"]:
            assert "save_files" not in act and "script_data_files_use_opt" not in act
            assert act["program_data_in"] == {} and act["program_data_out"] == {}
    seed = tpl["resources"]["any"]["random_seed"]
    src = wfstore.open(A190 / "test_loop_termination_multi_el0")
    assert seed == default_random_seed(src.get_creation_info(), src.get_name())
    assert any(d.field == "resources.any.random_seed" for d in plan.report.defaults)
    # the source template is untouched by the rewrite
    assert "random_seed" not in src.get_template()["resources"]["any"]


def test_script_action_key_renamed() -> None:
    plan = plan_migration(A190 / "test_script_json_in_json_out0")
    (schema,) = plan.template_components["task_schemas"].values()
    assert schema["actions"][0]["data_files_use_opt"] is True


def test_resource_renames() -> None:
    got = rewrite_resources(
        {"any": {"max_array_items": 5, "num_cores": 2}, "main": {"max_array_items": 1}}
    )
    assert got == {"any": {"max_array_size": 5, "num_cores": 2}, "main": {"max_array_size": 1}}


def test_submissions_one_block_each_dependencies_rekeyed() -> None:
    plan = plan_migration(A190 / "test_input_source_labels_and_g0")
    src = wfstore.open(A190 / "test_input_source_labels_and_g0").get_submissions()[0]
    (sub,) = plan.submissions
    jss = sub.document["jobscripts"]
    assert len(jss) == len(src["jobscripts"]) == 2
    for js, old, md in zip(jss, src["jobscripts"], sub.js_at_submit):
        (block,) = js["blocks"]
        assert block["EAR_ID"] == old["EAR_ID"]
        assert block["task_actions"] == old["task_actions"]
        assert md == {
            k: old[k] for k in ("submit_cmdline", "scheduler_job_ID", "process_ID", "submit_time")
        }
        assert js["resources"]["combine_jobscript_std"] is False
        assert "max_array_items" not in js["resources"]
    assert jss[1]["blocks"][0]["dependencies"] == [
        [[0, 0], {"js_element_mapping": {0: [0, 1, 2, 3]}, "is_array": False}]
    ]
    assert sub.submission_parts == {k: list(v) for k, v in src["submission_parts"].items()}


def test_artifact_paths() -> None:
    assert (
        target_path("artifacts/submissions/0/js_1.sh")
        == "artifacts/submissions/0/jobscripts/js_1.sh"
    )
    assert (
        target_path("artifacts/submissions/2/js_0_stdout.log")
        == "artifacts/submissions/2/js_std/0/js_0_stdout.log"
    )
    assert (
        target_path("artifacts/submissions/0/js_3_EAR_IDs.txt")
        == "artifacts/submissions/0/js_run_ids/js_3_EAR_IDs.txt"
    )
    assert (
        target_path("artifacts/submissions/0/abort_EARs.txt")
        == f"{MIGRATION_KEPT_DIR}/artifacts/submissions/0/abort_EARs.txt"
    )
    assert target_path("artifacts/other.txt") == "artifacts/other.txt"


def _make_running(tmp_path: Path) -> Path:
    src = _copy("wk_seq_json", tmp_path)
    md = json.loads((src / "metadata.json").read_text())
    md["runs"][1]["end_time"] = None
    md["runs"][2]["start_time"] = None
    md["runs"][2]["end_time"] = None
    (src / "metadata.json").write_text(json.dumps(md))
    return src


def test_preflight_refuses_unfinished_runs(tmp_path: Path) -> None:
    src = _make_running(tmp_path)
    before = _digest(src)
    dst = tmp_path / "out"
    with pytest.raises(MigrationRefusedError) as err:
        migrate(src, dst)
    assert err.value.reasons[0].startswith("submission 0: 1 run(s) pending (runs 2)")
    assert err.value.reasons[1].startswith("submission 0: 1 run(s) running (runs 1)")
    assert not dst.exists()
    assert _digest(src) == before
    # --force: planned, the runs carried as they are and reported
    report = migrate(src, dst, force=True, dry_run=True)
    assert report.refusals == [] and report.forced
    assert {(i.field, i.value) for i in report.inferred if i.what == "submission 0"} == {
        ("runs running", "1"),
        ("runs pending", "2"),
    }
    assert not dst.exists()
    # and written: the running run keeps its start, the pending one has none
    migrate(src, dst, force=True)
    run1, run2 = wfstore.open(dst).get_EARs([1, 2])
    assert run1.start_time is not None and run1.end_time is None
    assert run2.start_time is None and run2.end_time is None
    assert json.loads((dst / MIGRATION_REPORT_NAME).read_text())["forced"] is True


@pytest.mark.parametrize("name", ["wk_seq_zarr", "wk_seq_json", "wk_seq_zarr_zip.zip"])
def test_migrate_writes_dst_of_the_same_kind(name: str, tmp_path: Path) -> None:
    """DST is a 0.3.0 store of SRC's kind, holding the report; SRC is unchanged and
    nothing else appears beside them."""
    src = _copy(name, tmp_path)
    before = _digest(src)
    dst = tmp_path / ("out.zip" if name.endswith(".zip") else "out")
    report = migrate(src, dst)
    assert report.refusals == []
    assert _digest(src) == before
    assert sorted(os.listdir(tmp_path)) == sorted([name, dst.name])
    assert wfstore.detect_kind(dst) == wfstore.detect_kind(src)
    assert wfstore.detect_generation(dst) == "0.3.0"
    stored = json.loads(wfstore.open(dst).get_binary_file(MIGRATION_REPORT_NAME))
    assert stored == json.loads(report.to_json())


def test_never_submitted_submission_is_not_active(tmp_path: Path) -> None:
    """A submission a190 made but never submitted (no jobscript submit time, job ID or
    process ID) has pending runs that no job will write: carried, and reported."""
    src = _copy("wk_seq_json", tmp_path)
    md = json.loads((src / "metadata.json").read_text())
    for run in md["runs"]:
        run.update(start_time=None, end_time=None, success=None, exit_code=None)
    (src / "metadata.json").write_text(json.dumps(md))
    subs = json.loads((src / "submissions.json").read_text())
    for js in subs[0]["jobscripts"]:
        js.update(submit_time=None, scheduler_job_ID=None, process_ID=None)
    (src / "submissions.json").write_text(json.dumps(subs))
    report = migrate(src, tmp_path / "out", dry_run=True)
    assert report.refusals == []
    assert ("submission 0", "submitted", False) in {
        (i.what, i.field, i.value) for i in report.inferred
    }
    # migrated, it has the folders 0.3.0 makes when it adds a submission (its submit()
    # writes the jobscript functions into js_funcs/)
    migrate(src, tmp_path / "written")
    for name in ("tmp", "app_std", "jobscripts", "js_std", "js_funcs", "js_run_ids", "scripts"):
        assert (tmp_path / "written" / "artifacts" / "submissions" / "0" / name).is_dir(), name
    # and with the jobscript submitted, the same runs are refused
    subs[0]["jobscripts"][0]["process_ID"] = 4242
    (src / "submissions.json").write_text(json.dumps(subs))
    with pytest.raises(MigrationRefusedError, match="4 run\\(s\\) pending \\(runs 0-3\\)"):
        migrate(src, tmp_path / "out", dry_run=True)


def _with_file_parameter(tmp_path: Path, ref: dict[str, Any]) -> Path:
    """wk_seq_json with its parameter 2 (an element's input) made a file parameter."""
    src = _copy("wk_seq_json", tmp_path)
    doc = json.loads((src / "parameters.json").read_text())
    doc["data"]["2"] = {"file": ref}
    (src / "parameters.json").write_text(json.dumps(doc))
    return src


def _migrated_param(dst: Path, param_id: int) -> Any:
    return json.loads((dst / "parameters.json").read_text())["data"][str(param_id)]


def test_file_parameter_carried(tmp_path: Path) -> None:
    """A file reference is carried as it is (a file outside the workflow folder, not
    stored: nothing to copy, nothing to report)."""
    ref = {"path": "a.txt", "store_contents": False}
    src = _with_file_parameter(tmp_path, ref)
    report = migrate(src, tmp_path / "out")
    assert _migrated_param(tmp_path / "out", 2) == {"file": ref}
    assert not [i for i in report.inferred if i.what.startswith("parameter")]


def test_file_parameter_of_a_moved_file(tmp_path: Path) -> None:
    """A stored file the migration keeps aside (a190's run folders): the reference
    follows the file, and is reported."""
    rel = "execute/task_0/e_0/r_0/out.txt"
    src = _with_file_parameter(tmp_path, {"path": rel, "store_contents": True})
    (src / rel).parent.mkdir(parents=True)
    (src / rel).write_text("contents\n")
    report = migrate(src, tmp_path / "out")
    moved = f"{MIGRATION_KEPT_DIR}/{rel}"
    assert _migrated_param(tmp_path / "out", 2) == {"file": {"path": moved, "store_contents": True}}
    assert (tmp_path / "out" / moved).read_text() == "contents\n"
    assert [(i.what, i.field, i.value) for i in report.inferred if i.field == "file.path"] == [
        ("parameter 2", "file.path", moved)
    ]


def test_file_parameter_of_a_missing_file(tmp_path: Path) -> None:
    """A stored file missing from SRC: the reference is carried as a190 recorded it,
    and reported."""
    ref = {"path": "artifacts/input_files/0/gone.txt", "store_contents": True}
    src = _with_file_parameter(tmp_path, ref)
    report = migrate(src, tmp_path / "out")
    assert _migrated_param(tmp_path / "out", 2) == {"file": ref}
    assert [(i.what, i.field) for i in report.inferred if i.field == "file"] == [
        ("parameters 2", "file")
    ]


def test_id_ranges() -> None:
    assert id_ranges([7, 1, 2, 3, 9, 10]) == "1-3, 7, 9-10"
    assert id_ranges([]) == ""


@pytest.mark.parametrize("name", ["wk_seq_zarr", "wk_seq_zarr_zip.zip"])
def test_interrupted_migration_leaves_nothing(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted after the store's items are written (before its run-time data): no
    DST, no temporary folder beside it; then the same migration succeeds."""
    import wfstore.tools.migrate.writer as writer

    def interrupt(plan: Any, store: Any) -> None:
        raise KeyboardInterrupt

    src = _copy(name, tmp_path)
    dst = tmp_path / ("out.zip" if name.endswith(".zip") else "out")
    monkeypatch.setattr(writer, "_write_run_time", interrupt)
    with pytest.raises(KeyboardInterrupt):
        migrate(src, dst)
    assert sorted(os.listdir(tmp_path)) == [name]
    monkeypatch.undo()
    report = migrate(src, dst)
    assert dst.exists() and report.refusals == []
    assert sorted(os.listdir(tmp_path)) == sorted([name, dst.name])
    assert wfstore.detect_generation(dst) == "0.3.0"


def test_refusals_of_arguments(tmp_path: Path) -> None:
    (tmp_path / "exists").mkdir()
    with pytest.raises(StoreExistsError):
        migrate(A190 / "wk_seq_json", tmp_path / "exists")
    with pytest.raises(UnknownStoreKindError):
        migrate(A190 / "wk_seq_json", tmp_path / "x", to="hpcflow-9")
    src = _copy("wk_seq_json", tmp_path)
    before = _digest(src)
    for inside in (src / "migrated", src / "artifacts" / "migrated"):
        with pytest.raises(wfstore.StorePathError, match="inside the source"):
            migrate(src, inside)
    assert _digest(src) == before
    with pytest.raises(MigrationUnavailableError):
        migrate(A190 / "wk_seq_json", tmp_path / "x", to="hpcflow-0.2.0a190")
    v03 = HERE.parent / "data" / "hpcflow-0.3.0" / "wk_seq_json"
    with pytest.raises(wfstore.MigrationError, match="not of hpcflow-new2"):
        migrate(v03, tmp_path / "x", dry_run=True)


def test_cli_dry_run_and_refusal(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(
        cli,
        [
            "migrate",
            str(A190 / "test_loop_termination_multi_el0"),
            str(tmp_path / "o"),
            "--to",
            "hpcflow-0.3",
            "--dry-run",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "runs 10-11: skip_reason = 2" in res.output
    assert "resources.any.random_seed" in res.output
    assert not (tmp_path / "o").exists()
    src = _make_running(tmp_path)
    res = runner.invoke(cli, ["migrate", str(src), str(tmp_path / "o"), "--to", "hpcflow-0.3"])
    assert res.exit_code == 2
    assert "submission 0: 1 run(s) running (runs 1)" in res.output
    assert not (tmp_path / "o").exists()


def test_cli_migrates(tmp_path: Path) -> None:
    src = _copy("test_loop_termination_multi_el0", tmp_path)
    res = CliRunner().invoke(cli, ["migrate", str(src), str(tmp_path / "o"), "--to", "hpcflow-0.3"])
    assert res.exit_code == 0, res.output
    assert str(tmp_path / "o") in res.output
    assert wfstore.detect_generation(tmp_path / "o") == "0.3.0"
    store = wfstore.open(tmp_path / "o")
    assert [r.skip for r in store.get_EARs([9, 10, 11])] == [
        0,
        SKIP_LOOP_TERMINATION,
        SKIP_LOOP_TERMINATION,
    ]
    report = json.loads((tmp_path / "o" / MIGRATION_REPORT_NAME).read_text())
    assert report["inferred"][0]["what"] == "runs 10-11"


def test_templates_parse_in_hpcflow_03(tmp_path: Path, side_python_v03: Path) -> None:
    """hpcflow 0.3.0 parses every rewritten template, with the traps right (element
    sets not creations, program data empty); a190's own template, unrewritten, is
    refused by 0.3.0 (its element sets' ``merge_envs``)."""
    cases: dict[str, Any] = {}
    for name in FIXTURES:
        plan = plan_migration(A190 / name)
        cases[name] = {"template": plan.template, "template_components": plan.template_components}
    raw = wfstore.open(A190 / "wk_seq_zarr")
    cases["raw"] = {
        "template": raw.get_template(),
        "template_components": raw.get_template_components(),
    }
    (tmp_path / "cases.json").write_text(json.dumps(cases, default=str))
    proc = subprocess.run(
        [str(side_python_v03), str(HERE / "engine_v03_template.py"), str(tmp_path / "cases.json")],
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(proc.stdout)
    for name in FIXTURES:
        assert got[name]["ok"], (name, got[name]["error"])
        assert got[name]["is_creation"] and not any(got[name]["is_creation"])
        assert all(pd == [{}, {}] for pd in got[name]["program_data"])
    assert not got["raw"]["ok"] and "merge_envs" in got["raw"]["error"]
