"""wfstore builds and runs hpcflow 0.3.0 workflows: with ``wfstore.hpcflow.register()``
in the 0.3.0 side environment (``side_python_v03``), the engine creates a Zarr store
(or a JSON store) through wfstore's 0.3 classes, submits it with the direct scheduler
(the job scripts run ``python -m wfstore.hpcflow``, so the jobs write through wfstore
too) and waits;
then 0.3.0's own classes (wfstore not registered) read the store exactly as wfstore's
classes read it, and the outputs are the task's (p2 = p1 + 100).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "persistence"))

from store_dump import normalise  # noqa: E402
from test_hpcflow_adapter import _engine_env  # noqa: E402
from wfstore.persistence.readcache import GROUP_MARKER_KEY  # noqa: E402

SIDE = HERE / "v03_build_side.py"


def _side(python: Path, *args: str, cwd: Path) -> dict:
    env = _engine_env(python)
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(
        [str(python), str(SIDE), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("kind", ["zarr", "json"])
def test_engine_builds_submits_and_reads_back_through_wfstore(
    side_python_v03: Path, tmp_path: Path, kind: str
) -> None:
    made = _side(side_python_v03, "make", str(tmp_path), kind, cwd=tmp_path)
    cls = "ZarrPersistentStore" if kind == "zarr" else "JSONPersistentStore"
    assert made["store_class"] == f"wfstore.hpcflow.{cls}"
    # counted by the making process right after its own commits (runs, iterations,
    # elements, tasks), and the submission it added
    assert made["counts_after_make"] == [4, 4, 4, 1]
    assert made["submissions_after_submit"] == 1
    assert any("wfstore.hpcflow" in s for s in made["scripts"])
    path = made["path"]
    own = _side(side_python_v03, "dump", path, cwd=tmp_path)
    ours = _side(side_python_v03, "dump", path, "--wfstore", cwd=tmp_path)
    # (times compared as instants: wfstore reads them as UTC, 0.3.0 as naive UTC)
    assert normalise(own) == normalise(ours)
    p1, p2 = {}, {}
    runs = own["runs"]
    assert len(runs) == 4
    assert all(r["success"] is True and r["exit_code"] == 0 for r in runs)
    assert all(r["run_file_ID"] is not None for r in runs)
    params = {p["id_"]: p for p in own["parameters"]}
    for run in runs:
        p1[run["id_"]] = params[run["data_idx"]["inputs.p1"]]["data"]
        p2[run["id_"]] = params[run["data_idx"]["outputs.p2"]]["data"]
    assert sorted(p1.values()) == [1, 2, 3, 4]
    assert all(int(p2[i]) == p1[i] + 100 for i in p1)  # (parsed from stdout: a string)


def test_making_process_counts_what_it_made(side_python_v03: Path, tmp_path: Path) -> None:
    """The process that made a workflow through wfstore counts its runs, iterations,
    elements and tasks right after its own commits, before any getter (its decoded
    metadata must not come from before those commits)."""
    (tmp_path / "c").mkdir()
    counts = _side(side_python_v03, "counts", str(tmp_path / "c"), cwd=tmp_path)
    assert counts == [10, 10, 10, 2]


def test_layout_matches_the_engines(side_python_v03: Path, tmp_path: Path) -> None:
    """The same workflow made and run by 0.3.0's own Zarr store and through wfstore: the
    same files (none more: wfstore's lock and change marker are in the root
    ``.zgroup``), every ``.zarray`` and ``.zgroup`` byte for byte but the root one
    (the same document with the marker's key), and the ``tasks`` chunk too."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ours = Path(_side(side_python_v03, "make", str(tmp_path / "a"), "zarr", cwd=tmp_path)["path"])
    theirs = Path(
        _side(side_python_v03, "make", str(tmp_path / "b"), "zarr", "--own", cwd=tmp_path)["path"]
    )

    def files(root: Path) -> set[str]:
        skip = ("artifacts/", "execute/")
        return {
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and not p.relative_to(root).as_posix().startswith(skip)
        }

    assert files(ours) == files(theirs)
    root_ours = json.loads((ours / ".zgroup").read_bytes())
    assert set(root_ours) == {"zarr_format", GROUP_MARKER_KEY}
    root_theirs = json.loads((theirs / ".zgroup").read_bytes())
    assert {"zarr_format": root_ours["zarr_format"]} == root_theirs
    for rel in sorted(files(ours) - {".zgroup"}):
        if rel.endswith((".zarray", ".zgroup")) or rel == "metadata/tasks/0":
            assert (ours / rel).read_bytes() == (theirs / rel).read_bytes(), rel
