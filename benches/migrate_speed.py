"""Migration speed (issue 23, point 4): an hpcflow-new2 0.2.0a190 workflow of N runs
(the engine runner's ``sequence`` workload: two tasks, N/2 elements each, submitted)
migrated by ``wfstore.migrate``, against hpcflow 0.3.0 making the same workflow from its
template with its own store. One run of each, each in a fresh process of its own engine
environment; interpreter start-up and imports are not timed.

Usage::

    python benches/migrate_speed.py --runs 100000 \\
        --a190-python .venv-hpcflow/bin/python --v03-python .venv-hpcflow03/bin/python

prints one JSON object: the seconds of each step and the ratio.
``MIGRATE_SPEED_SUBMIT=0`` makes the source without its submission;
``MIGRATE_SPEED_A190_OWN=1`` with a190's own store instead of wfstore registered;
``MIGRATE_SPEED_TASKS=K``: a chain of K tasks of N/K elements (both engines' make
steps grow faster than the elements of a task: 2 tasks of 50,000 need over 20 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()


def _make(hf: Any, n_runs: int, path: Path) -> Any:
    """The ``sequence`` workload: a chain of ``MIGRATE_SPEED_TASKS`` tasks (default 2,
    as the engine runner's), ``p<i>`` in and ``p<i+1>`` out, N/tasks elements each."""
    from hpcflow.sdk.core.test_utils import make_workflow

    n_tasks = int(os.environ.get("MIGRATE_SPEED_TASKS", "2"))
    spec = [({f"p{i}": None}, (f"p{i + 1}",), f"t{i}") for i in range(1, n_tasks + 1)]
    return make_workflow(
        spec,
        path=path,
        local_sequences={0: [("inputs.p1", max(1, n_runs // n_tasks), 0)]},
        name="sequence",
        overwrite=True,
    )


def _engine(workdir: Path, register: bool) -> Any:
    if register:
        import wfstore.hpcflow as wfh

        wfh.register()
    import hpcflow.app as hf

    envs = workdir / "envs.yaml"
    envs.write_text("- name: env_1\n")
    (workdir / "config").mkdir(exist_ok=True)
    hf.load_config(config_dir=workdir / "config", warn=False)
    hf.config.environment_sources = [str(envs)]
    return hf


def step(name: str, workdir: Path, n_runs: int) -> float:
    """One timed step in this process; returns its seconds."""
    if name == "make_a190":  # the source: a190's layout (wfstore's engine layout, faster)
        hf = _engine(workdir, register=os.environ.get("MIGRATE_SPEED_A190_OWN") != "1")
        t0 = time.perf_counter()
        wk = _make(hf, n_runs, workdir)
        if os.environ.get("MIGRATE_SPEED_SUBMIT", "1") != "0":
            wk.add_submission()
        return time.perf_counter() - t0
    if name == "migrate":
        import wfstore.tools.migrate as m

        src = next(p for p in workdir.iterdir() if p.is_dir() and p.name.startswith("sequence"))
        t0 = time.perf_counter()
        m.migrate(src, workdir / "migrated")
        return time.perf_counter() - t0
    if name == "make_v03":  # 0.3.0 making the same workflow, its own store
        hf = _engine(workdir, register=False)
        t0 = time.perf_counter()
        _make(hf, n_runs, workdir / "v03")
        return time.perf_counter() - t0
    raise SystemExit(f"unknown step {name!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--a190-python", required=True)
    ap.add_argument("--v03-python", required=True)
    ap.add_argument("--step", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:
        print(json.dumps(step(args.step, Path(args.workdir), args.runs)))
        return
    out: dict[str, Any] = {"runs": args.runs}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "v03").mkdir()
        for name, python in (
            ("make_a190", args.a190_python),
            ("migrate", args.a190_python),
            ("make_v03", args.v03_python),
        ):
            wd = work / "v03" if name == "make_v03" else work
            proc = subprocess.run(
                [
                    python,
                    str(HERE),
                    "--step",
                    name,
                    "--workdir",
                    str(wd),
                    "--runs",
                    str(args.runs),
                    "--a190-python",
                    args.a190_python,
                    "--v03-python",
                    args.v03_python,
                ],
                capture_output=True,
                text=True,
            )
            if proc.returncode:
                sys.exit(f"step {name} failed:\n{proc.stderr[-3000:]}")
            out[name + "_s"] = round(float(proc.stdout.strip().splitlines()[-1]), 2)
    out["migrate_over_make_v03"] = round(out["migrate_s"] / out["make_v03_s"], 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
