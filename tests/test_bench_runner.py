"""The comparison runner (:mod:`wfstore.tools.bench`, ``wfstore bench``,
``benches/compare.py``): which durability each wfstore variant's worker gets, whatever
the caller's environment says; where the engine's stores run; what it reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from wfstore.common.durability import DURABILITIES
from wfstore.tools.bench import report, runner, workload

REPO = Path(__file__).resolve().parent.parent


def test_variant_names_split_into_engine_kind_and_durability() -> None:
    assert workload.split_variant("hpcflow-zarr") == ("hpcflow", "zarr", None)
    assert workload.split_variant("wfstore-json") == ("wfstore", "json", None)
    assert workload.split_variant("wfstore-zarr@full") == ("wfstore", "zarr", "full")


def test_workers_get_the_variants_durability_not_the_callers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WFSTORE_DURABILITY", "full")
    cmd, env = runner._python_for("wfstore-zarr", None)
    assert "WFSTORE_DURABILITY" not in env  # the default is what the targets measure
    assert cmd == [sys.executable, "-m", "wfstore.tools.bench.workload"]
    _, env = runner._python_for("wfstore-zarr@normal", None)
    assert env["WFSTORE_DURABILITY"] == "normal"
    engine = str(tmp_path / "python")
    cmd, env = runner._python_for("hpcflow-zarr", engine)
    assert "WFSTORE_DURABILITY" not in env
    # the engine's Python runs the workload file by its path: it needs no wfstore
    assert cmd[0] == engine and Path(cmd[1]) == Path(workload.__file__).resolve()


def test_the_engines_python_is_found_without_a_path_outside_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(runner.HPCFLOW_PYTHON_ENV, raising=False)
    monkeypatch.setattr(runner, "hpcflow_importable", lambda: False)
    assert runner.find_hpcflow_python() is None
    monkeypatch.setattr(runner, "hpcflow_importable", lambda: True)
    assert runner.find_hpcflow_python() == sys.executable
    monkeypatch.setenv(runner.HPCFLOW_PYTHON_ENV, str(tmp_path / "env"))
    assert runner.find_hpcflow_python() == str(tmp_path / "env")
    assert runner.find_hpcflow_python(str(tmp_path / "given")) == str(tmp_path / "given")


def test_without_hpcflow_the_comparison_is_refused_not_guessed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(runner.HPCFLOW_PYTHON_ENV, raising=False)
    monkeypatch.setattr(runner, "hpcflow_importable", lambda: False)
    with pytest.raises(SystemExit):
        runner.main(["--runs", "10", "--no-readme"])
    assert "--wfstore-only" in capsys.readouterr().err


def test_a_bad_durability_variant_is_refused() -> None:
    with pytest.raises(SystemExit):
        runner.main(["--durabilities", "fast", "--wfstore-only", "--no-readme"])


def test_a_small_run_reports_the_durability_variant_apart(tmp_path: Path) -> None:
    assert "full" in DURABILITIES
    out = tmp_path / "compare.json"
    args = ["--runs", "50", "--wfstore-only", "--no-json", "--no-readme", "--out", str(out)]
    args += ["--generations", "a190"]
    assert runner.main([*args, "--durabilities", "full", "--tmp", str(tmp_path)]) == 0
    data = json.loads(out.read_text())
    assert {(r["variant"], r["durability"]) for r in data["results"]} == {
        ("wfstore-zarr", "normal"),
        ("wfstore-zarr@full", "full"),
    }
    # every phase of the workload is reported
    default = next(r for r in data["results"] if r["variant"] == "wfstore-zarr")
    assert set(default["phases"]) == {k for k, _, _ in workload.PHASES}
    text = report.render_report(data)
    head, _, section = text.partition('with `durability="full"`')
    assert section, text
    section = section.split("**Targets**")[0]
    # its one-commit phases only, and the targets come from the default variant
    assert "set run start" in section and "cold open" not in section
    assert "Zarr store, 50 runs**" in head


def test_the_readme_table_is_rewritten_between_its_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.README_START}\nold\n{report.README_END}\noutro\n")
    report.update_readme(readme, "new table\n")
    assert readme.read_text() == (
        f"intro\n{report.README_START}\nnew table\n{report.README_END}\noutro\n"
    )
    assert report.README_START == "<!-- bench:start -->"
    assert report.README_END == "<!-- bench:end -->"


def test_benches_compare_is_the_packaged_runner_with_the_trees_defaults(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, str(REPO / "benches" / "compare.py"), "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "python benches/compare.py" in res.stdout and "benchmarks.md" in res.stdout


def test_the_unzip_floor_copies_the_tree_and_is_reported(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "x").write_bytes(b"1")
    (tree / "a" / "y").write_bytes(b"22")
    (tree / "a" / "b" / "z").write_bytes(b"333")
    out = tmp_path / "out"
    out.mkdir()
    floor = workload.time_tree_floor(tree, out, tries=2)
    assert (floor["files"], floor["folders"]) == (3, 3)
    assert floor["seconds"] > 0
    for k in range(2):
        copy = out / f"floor-tree-{k}"
        assert (copy / "a" / "b" / "z").read_bytes() == b"333"
        assert sorted(p.name for p in copy.rglob("*")) == ["a", "b", "x", "y", "z"]

    # in the report and, when unzip is the slowest phase, in the target's figures
    def res(variant: str, unzip_s: float) -> dict:
        t = 100.0 if variant.startswith("hpcflow") else 1.0  # other phases 100x
        phases = {k: {"seconds": t, "per_call_s": t} for k, _, _ in workload.PHASES}
        phases["unzip"] = {"seconds": unzip_s, "per_call_s": unzip_s}
        return {"variant": variant, "runs": 10_000, "phases": phases, "tree_floor": floor}

    results = [res("hpcflow-zarr", 0.005), res("wfstore-zarr", 0.0015)]
    targets = report.check_targets(results, {})
    every = next(t for t in targets if t[0].startswith("every phase"))
    assert every[1] is False and "3 files and 3 folders" in every[2], every
    assert "budget being 500 us" in every[2], every


def test_the_03_workload_runs_both_stores_and_reports_them_side_by_side(
    tmp_path: Path, side_python_v03: Path
) -> None:
    """hpcflow 0.3.0's own Zarr store (in its side environment) and wfstore's 0.3 Zarr
    store through 0.3's API, in one run: every phase of the 0.3 workload is reported
    for both (rechunk for wfstore's alone: 0.3.0 has none), with the ratio in the
    same report as the a190 tables."""
    out = tmp_path / "compare.json"
    argv = ["--runs", "20", "--generations", "0.3", "--no-readme", "--out", str(out)]
    argv += ["--hpcflow03-python", str(side_python_v03), "--tmp", str(tmp_path)]
    assert runner.main(argv) == 0
    data = json.loads(out.read_text())
    by_variant = {r["variant"]: r for r in data["results"]}
    assert set(by_variant) == {"hpcflow03-zarr", "wfstore03-zarr"}
    keys = [k for k, _, _ in workload.PHASES_V03]
    assert list(by_variant["wfstore03-zarr"]["phases"]) == keys
    assert list(by_variant["hpcflow03-zarr"]["phases"]) == [k for k in keys if k != "rechunk_runs"]
    for r in by_variant.values():
        assert r["runs"] == 20 and r["parameters"] == 12
        # the one-commit phases made one commit per run (per element for outputs)
        assert [r["phases"][k]["calls"] for k in ("start", "end", "set_outputs")] == [20, 20, 4]
    text = report.render_report(data)
    _, _, section = text.partition("**hpcflow 0.3 Zarr store, 20 runs**")
    table = section.split("**Targets**")[0]
    row = next(line for line in table.splitlines() if line.startswith("| set run end"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1].endswith("/call") and cells[2].endswith("/call")  # both measured
    assert cells[3].endswith("x")  # and their ratio


def test_the_03_workload_without_the_engine_times_wfstore_alone(tmp_path: Path) -> None:
    out = tmp_path / "compare.json"
    argv = ["--runs", "10", "--generations", "0.3", "--wfstore-only", "--no-readme"]
    assert runner.main([*argv, "--out", str(out), "--tmp", str(tmp_path)]) == 0
    (res,) = json.loads(out.read_text())["results"]
    assert res["variant"] == "wfstore03-zarr" and res["generation"] == "0.3"
    with pytest.raises(SystemExit):
        runner.main(["--generations", "0.4", "--wfstore-only", "--no-readme"])


def test_03_variants_run_in_the_03_engines_python(tmp_path: Path) -> None:
    a190, v03 = str(tmp_path / "a190"), str(tmp_path / "v03")
    assert runner._python_for("hpcflow03-zarr", a190, v03)[0][0] == v03
    assert runner._python_for("hpcflow-zarr", a190, v03)[0][0] == a190
    assert runner._python_for("wfstore03-zarr", a190, v03)[0][0] == sys.executable
    assert report.engine_variant("wfstore03-zarr") == "hpcflow03-zarr"
    assert report.engine_variant("wfstore-zarr@full") == "hpcflow-zarr"


def test_the_a190_targets_are_not_reported_for_the_03_workload_alone() -> None:
    phases = {k: {"seconds": 1.0, "per_call_s": 1.0} for k, _, _ in workload.PHASES_V03}
    res = {"variant": "wfstore03-zarr", "runs": 10_000, "phases": phases}
    assert report.check_targets([res], {}) == []
    a190 = {"variant": "wfstore-zarr", "runs": 10_000, "phases": phases}
    assert report.check_targets([res, a190], {})  # (not measured: no hpcflow-zarr)
