"""The runner: every phase of every variant, each in a new process; the results
document; the command line."""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __doc__ as _pkg_doc
from .common import ENTRY, HERE, PHASE_KEYS, VARIANTS, VARIANTS_03, WORKLOADS
from .report import finish_report
from .worker import job_main, phase_main, probe_main


def run_chain(
    variant: str,
    workload: str,
    n_runs: int,
    tmp_root: Path,
    *,
    wrap: bool,
    procs: int,
    array_size: int,
    job_runs: int | None = None,
    python: str | None = None,
    phase_keys: Sequence[str] = PHASE_KEYS,
) -> dict[str, Any]:
    """Every phase of one variant on one new workflow, each in a new process (of
    `python`, by default this one). A phase the store cannot do is recorded in
    ``skipped`` with the reason, not in ``phases``."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{variant}-{workload}-{n_runs}-", dir=tmp_root))
    phases: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    env = dict(os.environ)
    env.pop("WFSTORE_DURABILITY", None)  # the default durability is what is measured
    for key in phase_keys:
        result = workdir / f"{key}.json"
        spec = {
            "variant": variant,
            "workload": workload,
            "runs": n_runs,
            "phase": key,
            "workdir": str(workdir),
            "result": str(result),
            "wrap": wrap,
            "procs": procs,
            "array_size": array_size,
            "job_runs": job_runs,
        }
        cmd = [python or sys.executable, str(ENTRY), "phase", json.dumps(spec)]
        proc = subprocess.run(
            cmd, env=env, cwd=workdir, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise SystemExit(
                f"error: {variant} / {workload} / {n_runs} runs: phase {key} failed "
                f"(exit {proc.returncode}):\n{proc.stderr[-4000:]}"
            )
        got = json.loads(result.read_text())
        if "skipped" in got:
            skipped[key] = got["skipped"]
        else:
            phases[key] = got
    state = json.loads((workdir / "state.json").read_text())
    out = {
        "variant": variant,
        "workload": workload,
        "runs": state["runs"],
        "elements": state["elements"],
        "phases": phases,
        "workdir": str(workdir),
    }
    if skipped:
        out["skipped_phases"] = skipped
    return out


#: Phases that need another one to have run before them on the same workflow.
PHASE_NEEDS = {"jobs": "submission", "read_zip": "zip"}


def phases_to_run(asked: Sequence[str]) -> list[str]:
    """`asked` with what it needs (make always; a submission before jobs; the zip before
    reading it), in the order the phases run."""
    unknown = [k for k in asked if k not in PHASE_KEYS]
    if unknown:
        raise SystemExit(
            f"error: unknown phase {unknown[0]!r} (one of {', '.join(PHASE_KEYS)})"
        )
    want = {"make", *asked}
    want |= {PHASE_NEEDS[k] for k in asked if k in PHASE_NEEDS}
    return [k for k in PHASE_KEYS if k in want]


def probe(variant: str, python: str | None, tmp_root: Path) -> dict[str, Any]:
    """Whether `variant` runs under `python` (see ``worker.probe_main``)."""
    if python is None:
        return {
            "ok": False,
            "reason": "no hpcflow 0.3.0 Python given (--hpcflow03-python, or "
            "WFSTORE_HPCFLOW03_PYTHON)",
        }
    workdir = Path(tempfile.mkdtemp(prefix=f"probe-{variant}-", dir=tmp_root))
    spec = json.dumps({"variant": variant, "workdir": str(workdir)})
    proc = subprocess.run(
        [python, str(ENTRY), "probe", spec], capture_output=True, text=True, check=False
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"ok": False, "reason": f"{python} failed: {proc.stderr.strip()[-300:]}"}
    return dict(json.loads(lines[-1]))


def merge_share(timed: dict[str, Any], wrapped: dict[str, Any]) -> dict[str, Any]:
    """The timed chain's figures with the store's share from the wrapped chain."""
    for key, ph in timed["phases"].items():
        w = wrapped["phases"].get(key)
        if not w or w.get("store_seconds") is None:
            continue
        if key == "jobs":
            for k in ("store_seconds", "store_calls", "store_share"):
                ph[k] = w.get(k)
            # the store's share of the wrapped job processes' time, applied to the timed
            # ones' (as for the other phases); what the wrapped run measured is kept
            ph["store_per_run_wrapped_s"] = w.get("store_per_run_s")
            if w.get("store_share") is not None:
                ph["store_per_run_s"] = w["store_share"] * ph["busy_seconds"] / ph["runs"]
        else:
            ph["store_seconds"] = w["store_seconds"]
            ph["store_calls"] = w["store_calls"]
            ph["store_share"] = w["store_seconds"] / w["seconds"] if w["seconds"] else None
        ph["wrapped_seconds"] = w["seconds"]
    return timed


def _with_inline_share(res: dict[str, Any]) -> dict[str, Any]:
    for key, ph in res["phases"].items():
        if key != "jobs" and ph.get("store_seconds") is not None and ph["seconds"]:
            ph["store_share"] = ph["store_seconds"] / ph["seconds"]
    return res


def _engine_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("hpcflow", "zarr", "numpy", "wfstore"):
        try:
            from importlib.metadata import version

            dist = {"hpcflow": "hpcflow-new2"}.get(name, name)
            out[name] = version(dist)
        except Exception:  # reported as missing
            out[name] = "-"
    return out


def hpcflow_importable() -> bool:
    return importlib.util.find_spec("hpcflow") is not None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["phase"]:
        return phase_main(json.loads(argv[1]))
    if argv[:1] == ["job"]:
        return job_main(json.loads(argv[1]))
    if argv[:1] == ["probe"]:
        return probe_main(json.loads(argv[1]))
    if argv[:1] == ["report"]:
        ap = argparse.ArgumentParser(prog="engine.py report")
        ap.add_argument("results", type=Path)
        ap.add_argument("--readme", type=Path, default=None)
        ap.add_argument("--plot", type=Path, default=None)
        a = ap.parse_args(argv[1:])
        data = json.loads(a.results.read_text())
        finish_report(data, a.readme, a.plot)
        return 0
    ap = argparse.ArgumentParser(
        prog="python benches/engine.py", description=(_pkg_doc or "").split("\n\n")[0]
    )
    ap.add_argument("--runs", type=int, default=10_000, help="runs per workflow (10,000)")
    ap.add_argument("--scale", action="store_true", help="100,000 runs as well")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    ap.add_argument("--procs", type=int, default=2, help="job processes (2)")
    ap.add_argument(
        "--job-runs",
        type=int,
        default=None,
        help="runs done in the jobs phase (default: all; its figure is per run)",
    )
    ap.add_argument(
        "--phases",
        default=",".join(PHASE_KEYS),
        help="comma-separated phases (default: all; make, and what a phase needs, always run)",
    )
    ap.add_argument("--array-size", type=int, default=1000, help="float64 values per array")
    ap.add_argument(
        "--hpcflow03-python",
        default=os.environ.get("WFSTORE_HPCFLOW03_PYTHON") or None,
        help="a Python with hpcflow 0.3.0 and wfstore, for the 0.3 variants "
        "(default: $WFSTORE_HPCFLOW03_PYTHON; without one they are skipped)",
    )
    ap.add_argument(
        "--share",
        choices=("separate", "inline", "off"),
        default="separate",
        help="how the store's share is measured (see the module doc)",
    )
    ap.add_argument("--out", type=Path, default=HERE / "results" / "engine.json")
    ap.add_argument("--plot", type=Path, default=HERE / "results" / "engine_time.png")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--readme", type=Path, default=None, help="rewrite its bench block")
    ap.add_argument("--tmp", type=Path, default=None, help="folder for the workflows (kept)")
    ap.add_argument("--keep", action="store_true", help="keep the workflows")
    a = ap.parse_args(argv)
    if a.hpcflow03_python:  # (the phases run in other folders)
        a.hpcflow03_python = os.path.abspath(a.hpcflow03_python)
    if not hpcflow_importable():
        raise SystemExit(
            "error: hpcflow is not importable here: run this with the engine's Python "
            "(hpcflow-new2 0.2.0a190, zarr 2.17.2, wfstore installed)"
        )
    workloads = [w for w in a.workloads.split(",") if w]
    variants = [v for v in a.variants.split(",") if v]
    for w in workloads:
        if w not in WORKLOADS:
            raise SystemExit(f"error: unknown workload {w!r} (one of {', '.join(WORKLOADS)})")
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"error: unknown variant {v!r} (one of {', '.join(VARIANTS)})")
    phase_keys = phases_to_run([k for k in a.phases.split(",") if k])
    sizes = [a.runs] + ([100_000] if a.scale and a.runs != 100_000 else [])
    if a.tmp:
        a.tmp.mkdir(parents=True, exist_ok=True)
    tmp_ctx: Any = (
        contextlib.nullcontext(str(a.tmp))
        if a.tmp
        else contextlib.nullcontext(tempfile.mkdtemp(prefix="engine-bench-"))
        if a.keep
        else tempfile.TemporaryDirectory(prefix="engine-bench-")
    )
    results: list[dict[str, Any]] = []
    versions03: dict[str, str] = {}
    t_all = time.perf_counter()
    with tmp_ctx as tmp_name:
        tmp_root = Path(tmp_name)
        runnable: dict[str, str | None] = {}  # variant -> why it is skipped (None: runs)
        for v in variants:
            if v in VARIANTS_03:
                got = probe(v, a.hpcflow03_python, tmp_root)
                runnable[v] = None if got.get("ok") else str(got.get("reason"))
                versions03.update(got.get("versions") or {})
                if runnable[v]:
                    print(f"-- {v}: skipped: {runnable[v]}", file=sys.stderr, flush=True)
            else:
                runnable[v] = None
        for n in sizes:
            for w in workloads:
                for v in variants:
                    if runnable[v] is not None:
                        results.append(
                            {
                                "variant": v,
                                "workload": w,
                                "runs": n,
                                "phases": {},
                                "skipped": runnable[v],
                            }
                        )
                        continue
                    print(f"-- {v} / {w} / {n:,} runs ...", file=sys.stderr, flush=True)
                    t0 = time.perf_counter()
                    kw: dict[str, Any] = {
                        "procs": a.procs,
                        "array_size": a.array_size,
                        "job_runs": a.job_runs,
                        "phase_keys": phase_keys,
                    }
                    if v in VARIANTS_03:
                        kw["python"] = a.hpcflow03_python
                    res = run_chain(v, w, n, tmp_root, wrap=a.share == "inline", **kw)
                    if a.share == "separate":
                        wrapped = run_chain(v, w, n, tmp_root, wrap=True, **kw)
                        res = merge_share(res, wrapped)
                    elif a.share == "inline":
                        res = _with_inline_share(res)
                    res["share_method"] = a.share
                    results.append(res)
                    print(f"   done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        if a.tmp or a.keep:
            print(f"workflows kept in {tmp_root}", file=sys.stderr)
    data = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs)",
        "command": "python benches/engine.py " + " ".join(argv),
        "versions": _engine_versions(),
        "versions_03": versions03,
        "procs": a.procs,
        "job_runs": a.job_runs,
        "array_size": a.array_size,
        "share_method": a.share,
        "total_seconds": time.perf_counter() - t_all,
        "results": results,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"results: {a.out}", file=sys.stderr)
    finish_report(data, a.readme, None if a.no_plot else a.plot)
    return 0
