"""The ``wfstore`` console command: every subcommand in-process (click's CliRunner) and
as a real subprocess (``python -m wfstore.cli``), on copies of the engine-written
fixture stores."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import wfstore
from click.testing import CliRunner
from wfstore import cli as cli_mod
from wfstore.cli import cli

REPO = Path(__file__).resolve().parents[1]
SUBCOMMANDS = ["demo", "inspect", "verify", "repair", "rechunk", "zip", "unzip", "convert", "bench"]


def run(*args: Any) -> Any:
    """Invoke the command in-process."""
    return _runner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _runner() -> CliRunner:
    # click < 8.2 mixes stderr into the output unless told not to
    if "mix_stderr" in inspect.signature(CliRunner).parameters:
        return CliRunner(mix_stderr=False)
    return CliRunner()


def run_proc(*args: Any, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``python -m wfstore.cli ARGS`` as a real subprocess."""
    env = dict(os.environ)
    # the wfstore being tested (a source tree on PYTHONPATH, or installed)
    where = str(Path(wfstore.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (where, env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "wfstore.cli", *[str(a) for a in args]],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
        check=False,
    )


def runs_of(path: Path) -> list[dict[str, Any]]:
    """Every run of the store at `path`, as plain dicts (comparable across kinds)."""
    store = wfstore.open(path)
    return [dataclasses.asdict(r) for r in store.get_EARs(range(store._get_num_total_EARs()))]


# --- help and errors ----------------------------------------------------------------------


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_help_has_example(sub: str) -> None:
    res = run(sub, "--help")
    assert res.exit_code == 0
    assert "Example" in res.output and f"wfstore {sub}" in res.output


def test_errors_are_one_line(tmp_path: Path) -> None:
    res = run("inspect", tmp_path / "missing")
    assert res.exit_code == cli_mod.EXIT_ERROR
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("error: ")
    assert str(tmp_path / "missing") in res.stderr and "Traceback" not in res.stderr
    res = run("convert", tmp_path / "a", tmp_path / "b", "--to", "hdf5")
    assert res.exit_code == 2 and "hdf5" in res.stderr


# --- inspect ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["test_loop_termination_multi_el0", "wk_seq_json", "wk_seq_zarr_zip.zip"]
)
def test_inspect(fixture_copy: Any, name: str) -> None:
    path = fixture_copy(name)
    want = wfstore.info(path)
    res = run("inspect", path, "--json")
    assert res.exit_code == 0
    assert json.loads(res.output) == json.loads(json.dumps(want, default=str))
    res = run("inspect", path)
    assert res.exit_code == 0
    r = want["counts"]["runs"]
    assert f"{r['total']} ({r['pending']} pending" in res.output
    assert want["name"] in res.output
    if want["kind"] != "json":
        assert "metadata/runs" in res.output  # the arrays table


# --- verify ----------------------------------------------------------------------------------


def test_verify(fixture_copy: Any) -> None:
    path = fixture_copy("wk_seq_zarr")
    res = run("verify", path)
    assert res.exit_code == 0 and res.output.startswith("ok: ")
    chunk = path / "metadata" / "runs" / "2"
    chunk.write_bytes(chunk.read_bytes()[:5])
    (path / "metadata" / "iters" / ".zattrs").write_text("{")
    res = run("verify", path)
    assert res.exit_code == cli_mod.EXIT_DAMAGED
    assert "metadata/runs" in res.output and "metadata/iters" in res.output
    res = run("verify", "--json", path)
    assert res.exit_code == 1
    bad = {(b["array"], b["key"]) for b in json.loads(res.output)["bad"]}
    assert bad == {("metadata/runs", "2"), ("metadata/iters", ".zattrs")}


def test_verify_notes_what_interrupted_writes_left(tmp_path: Path) -> None:
    """Traces of writes cut short are notes, not damage: verify still says ok, changes
    nothing, and the next writer's open clears what it can."""
    path = tmp_path / "wk"
    store = wfstore.create(path)
    store.add_set_parameter({"a": 1}, {"type": "t"})
    res = run("verify", path)
    assert res.exit_code == 0 and "note:" not in res.stderr
    assert wfstore.verify(path).notes == []
    # a parameter append cut short (sources grown, base not), a commit journal, a
    # temporary file, a rechunk's folder
    from wfstore import _core

    _core.ObjectArray.open(_core.Store.local(path), "parameters/sources").append([{"x": 1}])
    (path / ".wfstore-journal.4000000000.0").write_text('{"ops": []}')
    (path / "metadata" / "runs" / ".wfstore-tmp-0-1-2-3").write_bytes(b"old")
    (path / "metadata" / "runs.rechunk-old").mkdir()
    (path / "metadata" / "runs.rechunk-old" / ".zgroup").write_text("{}")
    before = sorted((str(p), p.read_bytes()) for p in path.rglob("*") if p.is_file())
    report = wfstore.verify(path)
    assert report.ok and len(report.notes) == 4, report.notes
    joined = "\n".join(report.notes)
    for what in (".wfstore-journal.4000000000.0", "1 temporary file", "1 row(s) more",
                 "runs.rechunk-old"):
        assert what in joined, (what, joined)
    res = run("verify", path)
    assert res.exit_code == 0 and res.output.startswith("ok: ")
    assert res.stderr.count("note: ") == 4
    assert json.loads(run("verify", "--json", path).output)["notes"] == report.notes
    after = sorted((str(p), p.read_bytes()) for p in path.rglob("*") if p.is_file())
    assert after == before  # verify writes nothing
    # a writer's open finishes the journal and trims the sources
    wfstore.open(path).core_store  # noqa: B018
    notes = wfstore.verify(path).notes
    assert len(notes) == 2 and "temporary" in notes[0] and "rechunk" in notes[1], notes


def test_repair(tmp_path: Path) -> None:
    """`wfstore repair` clears what verify notes: a dry run first (nothing changed),
    young temporaries kept until --min-age allows, then nothing left to note."""
    path = tmp_path / "wk"
    store = wfstore.create(path)
    store.add_set_parameter({"a": 1}, {"type": "t"})
    res = run("repair", path)
    assert res.exit_code == 0 and "nothing to repair" in res.output
    stray = path / "metadata" / "runs" / ".wfstore-tmp-0-1-2-3"
    stray.write_bytes(b"old")
    (path / "metadata" / "runs.rechunk-tmp").mkdir()  # empty: a rechunk killed at once
    assert "runs.rechunk-tmp" in wfstore.verify(path).notes[-1]
    res = run("repair", "--dry-run", path)
    assert res.exit_code == 0 and "dry run" in res.stderr
    assert "kept: 1 temporary file(s) younger than min_age" in res.output, res.output
    res = run("repair", "--dry-run", "--min-age", 0, path)
    assert "would remove 1 temporary file(s)" in res.output and stray.exists()
    assert "would clear the leftovers of an interrupted rechunk" in res.output
    res = run("repair", "--json", "--min-age", "0", path)
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.output)
    assert doc["clean"] and len(doc["done"]) == 2 and not doc["dry_run"], doc
    assert not stray.exists() and wfstore.verify(path).notes == []
    assert run("verify", path).stderr == ""
    # errors: one line, exit status 2, nothing changed
    res = run("repair", "--min-age", "-5", path)
    assert res.exit_code == cli_mod.EXIT_ERROR and "min_age must be" in res.stderr
    res = run("repair", tmp_path / "missing")
    assert res.exit_code == cli_mod.EXIT_ERROR and "missing" in res.stderr
    zipped = tmp_path / "wk.zip"
    from wfstore import _core

    _core.zip_dir(path, zipped)
    res = run("repair", zipped)
    assert res.exit_code == cli_mod.EXIT_ERROR and "read-only" in res.stderr


# --- rechunk, zip, unzip, convert --------------------------------------------------------------


def test_rechunk(fixture_copy: Any) -> None:
    path = fixture_copy("test_loop_termination_multi_el0")
    before = runs_of(path)
    res = run("rechunk", path, "--runs", "--chunk-size", 5)
    assert res.exit_code == 0, res.stderr
    assert "chunk size 1 -> 5" in res.output
    meta = json.loads((path / "metadata" / "runs" / ".zarray").read_text())
    assert meta["chunks"] == [5]
    assert (path / "metadata" / "runs.bak").is_dir()
    assert not (path / "parameters" / "base.bak").exists()
    assert runs_of(path) == before
    res = run("rechunk", path, "--params", "--no-backup")
    assert res.exit_code == 0
    assert not (path / "parameters" / "base.bak").exists()
    meta = json.loads((path / "parameters" / "base" / ".zarray").read_text())
    assert meta["chunks"] == [meta["shape"][0]]
    res = run("rechunk", fixture_copy("wk_seq_json"))
    assert res.exit_code == 2 and "Zarr store" in res.stderr


def test_zip_unzip(fixture_copy: Any, tmp_path: Path) -> None:
    path = fixture_copy("test_loop_termination_multi_el0")
    assert run("rechunk", path, "--runs").exit_code == 0
    res = run("zip", path)
    archive = path.with_suffix(".zip")
    assert res.exit_code == 0 and res.output.strip() == str(archive)
    names = zipfile.ZipFile(archive).namelist()
    assert not any("runs.bak" in n for n in names)
    assert run("verify", archive).exit_code == 0
    assert runs_of(archive) == runs_of(path)
    res = run("zip", path)
    assert res.exit_code == 2 and "already exists" in res.stderr
    out = tmp_path / "with_backups.zip"
    assert run("zip", path, "-o", out, "--include-backups").exit_code == 0
    assert any(n.startswith("metadata/runs.bak/") for n in zipfile.ZipFile(out).namelist())
    res = run("unzip", archive, tmp_path / "restored")
    assert res.exit_code == 0
    assert runs_of(tmp_path / "restored") == runs_of(path)
    res = run("unzip", archive, tmp_path / "restored")  # a folder: <name> inside it
    assert res.exit_code == 0
    assert res.output.strip() == str(tmp_path / "restored" / wfstore.open(path).get_name())
    res = run("unzip", path)
    assert res.exit_code == 2 and "zip store" in res.stderr
    # default OUT is the archive's name without .zip, never a folder inside a store
    res = run("unzip", archive)
    assert res.exit_code == 2 and "exists" in res.stderr
    shutil.rmtree(path)
    res = run("unzip", archive)
    assert res.exit_code == 0 and res.output.strip() == str(path)
    assert runs_of(path) == runs_of(archive)


def test_paths_printed_as_they_are(fixture_copy: Any, tmp_path: Path) -> None:
    odd = tmp_path / "[bold]wk.v1"
    shutil.copytree(fixture_copy("wk_seq_zarr"), odd)
    res = run("zip", odd)
    assert res.exit_code == 0 and res.output.strip() == str(tmp_path / "[bold]wk.v1.zip")
    res = run("verify", tmp_path / "[bold]wk.v1.zip")
    assert res.exit_code == 0 and "[bold]wk.v1.zip" in res.output


def test_convert(fixture_copy: Any, tmp_path: Path) -> None:
    src = fixture_copy("wk_seq_zarr_zip.zip")
    res = run("convert", src, tmp_path / "as_json", "--to", "json")
    assert res.exit_code == 0
    assert wfstore.detect_kind(tmp_path / "as_json") == "json"
    assert runs_of(tmp_path / "as_json") == runs_of(src)
    res = run("convert", tmp_path / "as_json", tmp_path / "as_zarr", "--to", "zarr")
    assert res.exit_code == 0 and runs_of(tmp_path / "as_zarr") == runs_of(src)
    res = run("convert", tmp_path / "as_json", tmp_path / "as_zarr", "--to", "zarr")
    assert res.exit_code == 2 and "as_zarr" in res.stderr


# --- demo and bench ----------------------------------------------------------------------------


def test_demo(tmp_path: Path) -> None:
    path = tmp_path / "demo_wk"
    res = run("demo", path, "--runs", 250, "--workers", 2, "--batch", 9)
    assert res.exit_code == 0, res.stderr
    assert "nothing lost" in res.output and "none bad" in res.output
    info = wfstore.info(path.with_suffix(".zip"))
    from wfstore.tools.demo import expected_state

    want = {s: 0 for s in wfstore.tools.inspect.RUN_STATES}
    for i in range(250):
        want[expected_state(i)] += 1
    assert info["counts"]["runs"] == {"total": 250, **want}
    assert want["failed"] and want["skipped"]  # the demo exercises every end state
    assert info["counts"]["parameters"]["unset"] == want["skipped"]
    res = run("demo", path)
    assert res.exit_code == 2 and "demo_wk" in res.stderr


def test_durability_option(
    fixture_copy: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--durability`` reaches the stores of the command and of its workers; a bad
    one, given or in the environment, is a one-line error before anything is done."""
    from wfstore.common.durability import ENV_VAR

    monkeypatch.setenv(ENV_VAR, "normal")  # restored after the test
    path = tmp_path / "demo_wk"
    res = run("--durability", "full", "demo", path, "--runs", 100, "--workers", 2)
    assert res.exit_code == 0, res.stderr
    assert "nothing lost" in res.output and "durability full" in res.output
    assert os.environ[ENV_VAR] == "full"
    res = run("--durability", "fast", "inspect", path.with_suffix(".zip"))
    assert res.exit_code == 2 and "'fast'" in res.stderr and "'normal'" in res.stderr
    monkeypatch.setenv(ENV_VAR, "fast")
    store = fixture_copy("wk_seq_json")
    def files() -> list[tuple[str, bytes]]:
        return sorted((str(p), p.read_bytes()) for p in Path(store).rglob("*") if p.is_file())

    before = files()
    res = run("convert", store, tmp_path / "converted", "--to", "zarr")
    assert res.exit_code == cli_mod.EXIT_ERROR
    assert res.stderr.count("\n") == 1 and ENV_VAR in res.stderr
    assert not (tmp_path / "converted").exists()
    assert files() == before


def test_bench_builtin() -> None:
    res = run("bench", "--runs", 20, "--builtin")
    assert res.exit_code == 0, res.stderr
    for op in ("write runs", "mark runs", "read all runs", "rechunk runs", "zip", "verify"):
        assert op in res.output


def test_bench_runs_the_packaged_comparison(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from wfstore.cli import bench as bench_cmd
    from wfstore.tools.bench import runner

    seen: list[list[str]] = []
    monkeypatch.setattr(bench_cmd, "run_comparison", lambda argv: seen.append(argv) or 0)
    monkeypatch.delenv(runner.HPCFLOW_PYTHON_ENV, raising=False)
    monkeypatch.delenv(runner.HPCFLOW03_PYTHON_ENV, raising=False)
    # no hpcflow here: wfstore alone, and says so
    monkeypatch.setattr(runner, "hpcflow_importable", lambda: False)
    res = run("bench", "--runs", 7)
    assert res.exit_code == 0 and "timing wfstore alone" in res.stderr
    assert run("bench", "--runs", 9, "--wfstore-only").exit_code == 0
    # an engine Python from the environment, or given
    engine = tmp_path / "python"
    monkeypatch.setenv(runner.HPCFLOW_PYTHON_ENV, str(engine))
    assert run("bench", "--runs", 5).exit_code == 0
    other = str(tmp_path / "other")
    assert run("bench", "--runs", 5, "--hpcflow-python", other).exit_code == 0
    # results go to a temporary file, never into the source tree's benches/results
    outs = [argv[argv.index("--out") + 1] for argv in seen]
    assert all(not str(Path(o)).startswith(str(REPO)) for o in outs), outs
    # hpcflow 0.3.0's Python, given or from the environment, for the 0.3 workload
    engine03 = str(tmp_path / "python03")
    assert run("bench", "--runs", 5, "--hpcflow03-python", engine03).exit_code == 0
    monkeypatch.setenv(runner.HPCFLOW03_PYTHON_ENV, engine03)
    assert run("bench", "--runs", 5, "--generations", "0.3").exit_code == 0
    # without a190's engine but with 0.3.0's: the 0.3 workload only, and says so
    monkeypatch.delenv(runner.HPCFLOW_PYTHON_ENV)
    res = run("bench", "--runs", 5)
    assert res.exit_code == 0 and "the 0.3 workload only" in res.stderr
    both = ["--generations", "a190,0.3"]
    five = ["--runs", "5", "--json-runs", "5", "--no-readme"]
    assert [[a for i, a in enumerate(v) if a != "--out" and v[i - 1] != "--out"] for v in seen] == [
        ["--runs", "7", "--json-runs", "7", "--no-readme", *both, "--wfstore-only"],
        ["--runs", "9", "--json-runs", "9", "--no-readme", *both, "--wfstore-only"],
        ["--runs", "5", "--json-runs", "5", "--no-readme", "--hpcflow-python", str(engine), *both],
        ["--runs", "5", "--json-runs", "5", "--no-readme", "--hpcflow-python", other, *both],
        [*five, "--hpcflow-python", str(engine), "--hpcflow03-python", engine03, *both],
        [*five, "--hpcflow03-python", engine03, "--generations", "0.3"],
        [*five, "--hpcflow03-python", engine03, "--generations", "0.3"],
    ]
    # the figures kept where asked, the JSON stores at 1000 runs at most
    seen.clear()
    assert run("bench", "--runs", 5000, "--out", tmp_path / "fig.json").exit_code == 0
    assert seen[0][seen[0].index("--out") + 1] == str(tmp_path / "fig.json")
    assert seen[0][seen[0].index("--json-runs") + 1] == "1000"


def test_no_progress_when_quiet() -> None:
    assert cli_mod.UI(quiet=True).show_progress is False


# --- real subprocesses ---------------------------------------------------------------------


def test_every_subcommand_as_a_subprocess(fixture_copy: Any, tmp_path: Path) -> None:
    zarr = fixture_copy("test_loop_termination_multi_el0")
    res = run_proc("inspect", zarr, "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["counts"]["runs"]["skipped"] == 2
    assert run_proc("verify", zarr, cwd=tmp_path).returncode == 0
    res = run_proc("rechunk", zarr, "--runs", cwd=tmp_path)
    assert res.returncode == 0 and "chunk size 1 -> 12" in res.stdout
    res = run_proc("zip", zarr, "-o", tmp_path / "a.zip", cwd=tmp_path)
    assert res.returncode == 0 and Path(res.stdout.strip()) == tmp_path / "a.zip"
    assert run_proc("unzip", tmp_path / "a.zip", tmp_path / "b", cwd=tmp_path).returncode == 0
    res = run_proc("convert", tmp_path / "b", tmp_path / "c", "--to", "json", cwd=tmp_path)
    assert res.returncode == 0
    assert runs_of(tmp_path / "c") == runs_of(zarr)
    res = run_proc("demo", "--runs", 40, "--workers", 2, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "nothing lost" in res.stdout
    assert "━" not in res.stderr  # no progress bars when stderr is not a terminal
    res = run_proc("bench", "--runs", 10, "--builtin", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    chunk = tmp_path / "b" / "metadata" / "runs" / "0"
    chunk.write_bytes(b"junk")
    res = run_proc("verify", tmp_path / "b", cwd=tmp_path)
    assert res.returncode == 1 and "metadata/runs" in res.stdout
    res = run_proc("inspect", tmp_path / "nowhere", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
    assert "Traceback" not in res.stderr


def test_python_m_wfstore_cli_demo(tmp_path: Path) -> None:
    res = run_proc("demo", "--runs", 15, "--workers", 1, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "nothing lost" in res.stdout


def test_console_script(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "wfstore"
    if not exe.is_file():
        found = shutil.which("wfstore")
        if found is None:
            pytest.skip("the wfstore console script is not installed (pip install .)")
        exe = Path(found)
    env = dict(os.environ)
    res = subprocess.run(
        [str(exe), "verify", "--help"], capture_output=True, text=True, env=env, check=False
    )
    assert res.returncode == 0 and "wfstore verify" in res.stdout
