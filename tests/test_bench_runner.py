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
