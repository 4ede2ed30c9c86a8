"""What runs in the worker processes: the engine set up, a workload's workflow made,
one phase timed, and the job processes of the jobs phase."""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .common import (
    ENGINE_VARIANTS,
    ENTRY,
    LOOP_ITERATIONS,
    OWN_CHUNK,
    count_files,
    engine_zip_closer,
    peak_rss_mib,
    reset_peak_rss,
)
from .storetime import StoreTimer


def setup_engine(variant: str, workdir: Path) -> Any:
    """The engine's app, with wfstore registered for the wfstore variants and the
    engine's configuration (an environment named as the engine's test schemas name
    theirs: ``env_1`` in 0.2.0a190, ``env1`` in 0.3.0) in `workdir`."""
    if variant not in ENGINE_VARIANTS:
        import wfstore.hpcflow as wfh

        if variant == "wfstore-own":
            wfh.register(run_chunk_size=OWN_CHUNK, param_chunk_size=OWN_CHUNK)
        else:
            wfh.register()
    from hpcflow.app import app as hf

    envs = workdir / "envs.yaml"
    if not envs.exists():
        envs.write_text("- name: env_1\n- name: env1\n")
    (workdir / "config").mkdir(exist_ok=True)
    sources = [str(envs)]
    param = inspect.signature(hf.load_config).parameters.get("overrides")
    if param is not None and param.kind is not param.VAR_KEYWORD:  # hpcflow 0.3
        hf.load_config(
            config_dir=workdir / "config", warn=False, overrides={"environment_sources": sources}
        )
    else:
        hf.load_config(config_dir=workdir / "config", warn=False, environment_sources=sources)
    return hf


def probe_main(spec: dict[str, Any]) -> int:
    """Whether `spec["variant"]` can run under this Python: prints a JSON line with
    ``ok``, the versions, and the reason if not (e.g. ``register()`` refusing the
    engine generation)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, Any] = {"ok": True, "versions": {}}
    for name, dist in (("hpcflow", "hpcflow"), ("hpcflow", "hpcflow-new2"), ("zarr", "zarr")):
        with contextlib.suppress(PackageNotFoundError):
            out["versions"].setdefault(name, version(dist))
    with contextlib.suppress(PackageNotFoundError):
        out["versions"]["wfstore"] = version("wfstore")
    try:
        setup_engine(spec["variant"], Path(spec["workdir"]))
    except Exception as exc:  # reported: the variant is skipped, saying why
        out.update(ok=False, reason=f"{type(exc).__name__}: {exc}")
    print(json.dumps(out), flush=True)
    return 0


def store_classes() -> list[type]:
    """The classes the engine now uses for Zarr workflows and zip archives."""
    from hpcflow.sdk.persistence import store_cls_from_str

    return [store_cls_from_str("zarr"), store_cls_from_str("zip")]


def make_workflow(hf: Any, workload: str, n_runs: int, path: Path, array_size: int) -> Any:
    from hpcflow.sdk.core.test_utils import make_schemas
    from hpcflow.sdk.core.test_utils import make_workflow as make_test_workflow

    if workload == "sequence":
        return make_test_workflow(
            [({"p1": None}, ("p2",), "t1"), ({"p2": None}, ("p3",), "t2")],
            path=path,
            local_sequences={0: [("inputs.p1", max(1, n_runs // 2), 0)]},
            name=workload,
            overwrite=True,
        )
    if workload == "loop":
        return make_test_workflow(
            [({"p1": None}, ("p1",), "t1")],
            path=path,
            local_sequences={0: [("inputs.p1", max(1, n_runs // LOOP_ITERATIONS), 0)]},
            loops=[hf.Loop(tasks=[0], num_iterations=LOOP_ITERATIONS)],
            name=workload,
            overwrite=True,
        )
    if workload == "arrays":
        import numpy as np

        s1, s2 = make_schemas(({"p1": None}, ("p2",), "t1"), ({"p2": None}, ("p3",), "t2"))
        values = [np.arange(array_size, dtype=float) + j for j in range(max(1, n_runs // 2))]
        tasks = [
            hf.Task(schema=s1, sequences=[hf.ValueSequence("inputs.p1", values=values)]),
            hf.Task(schema=s2),
        ]
        return hf.Workflow.from_template(
            hf.WorkflowTemplate(name=workload, tasks=tasks),
            path=path,
            name=workload,
            overwrite=True,
        )
    raise SystemExit(f"error: unknown workload {workload!r}")


def _materialise(value: Any) -> Any:
    """Array parameters may come back as lazy arrays (zarr): read their data."""
    if hasattr(value, "shape") and hasattr(value, "__getitem__"):
        import numpy as np

        return np.asarray(value)
    return value


def read_everything(wk: Any) -> tuple[int, int]:
    """Every run, and every element iteration's inputs and outputs: (runs, values)."""
    runs = wk.get_all_EARs()
    n_values = 0
    for task in wk.tasks:
        inputs = sorted(task.template.all_schema_input_types)
        outputs = sorted(task.template.all_schema_output_types)
        paths = [f"inputs.{i}" for i in inputs] + [f"outputs.{o}" for o in outputs]
        for el in task.elements[:]:
            for it in el.iterations:
                for p in paths:
                    _materialise(it.get(p))
                    n_values += 1
    return len(runs), n_values


def job_plan(wk: Any, sub: Any) -> list[list[Any]]:
    """[element key, run ID, jobscript index, action index, output name, block index]
    of every run of the submission, element by element as a job array runs them (the
    action index within the jobscript in 0.2.0a190, within its block in 0.3.0, whose
    jobscripts are made of blocks; the block index None in 0.2.0a190)."""
    rows: list[list[Any]] = []
    for js in sub.jobscripts:
        blocks = getattr(js, "blocks", None)
        parts = [(b.index, b.EAR_ID) for b in blocks] if blocks else [(None, js.EAR_ID)]
        for blk_idx, ids in parts:
            for e in range(ids.shape[1]):
                for a in range(ids.shape[0]):
                    run_id = int(ids[a, e])
                    if run_id >= 0:
                        key = f"{js.index}:{blk_idx or 0}:{e}"
                        rows.append([key, run_id, int(js.index), a, None, blk_idx])
    runs = wk.get_EARs_from_IDs([r[1] for r in rows])
    for row, run in zip(rows, runs):
        outs = sorted(k for k in run.data_idx if k.startswith("outputs."))
        row[4] = outs[0] if outs else None
    return rows


def output_value(workload: str, run_id: int, array_size: int) -> Any:
    if workload == "arrays":
        import numpy as np

        return np.full(array_size, float(run_id))
    return run_id


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """What the engine prints (the listing, rechunk's timings) goes to devnull."""
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        yield


def phase_main(spec: dict[str, Any]) -> int:
    """One phase of one variant's chain, in this (fresh) process; figures to
    ``spec["result"]``, what later phases need to ``<workdir>/state.json``."""
    workdir = Path(spec["workdir"])
    variant, workload, phase = spec["variant"], spec["workload"], spec["phase"]
    state_file = workdir / "state.json"
    state: dict[str, Any] = json.loads(state_file.read_text()) if state_file.exists() else {}
    hf = setup_engine(variant, workdir)
    import numpy  # noqa: F401  (imported before the timer starts)

    timer: StoreTimer | None = None
    if spec["wrap"]:
        timer = StoreTimer()
        timer.wrap_classes(store_classes())
    closer = engine_zip_closer() if phase == "zip" else (lambda: None)
    figures: dict[str, Any] = {}

    def measure(fn: Callable[[], Any]) -> Any:
        os.sync()  # what earlier phases wrote is on disk: not billed to this one
        reset_peak_rss()
        if timer:
            timer.reset()
        t0 = time.perf_counter()
        out = fn()
        figures["seconds"] = time.perf_counter() - t0
        figures["peak_rss_mib"] = peak_rss_mib()
        if timer:
            figures["store_seconds"] = timer.seconds
            figures["store_calls"] = timer.calls
        return out

    if phase == "make":
        wk = measure(
            lambda: make_workflow(hf, workload, spec["runs"], workdir / "wf", spec["array_size"])
        )
        state.update(path=str(wk.path), runs=int(wk.num_EARs))
        state["elements"] = int(sum(t.num_elements for t in wk.tasks))
    elif phase == "read":
        n_runs, n_values = measure(lambda: read_everything(hf.Workflow(state["path"])))
        assert n_runs == state["runs"], (n_runs, state["runs"])
        figures["values_read"] = n_values
    elif phase == "show":
        wk = hf.Workflow(state["path"])
        with quiet():
            measure(wk.show_all_EAR_statuses)
    elif phase == "submission":
        wk = hf.Workflow(state["path"])
        sub = measure(wk.add_submission)
        plan = job_plan(wk, sub)
        assert len(plan) == state["runs"], (len(plan), state["runs"])
        (workdir / "plan.json").write_text(json.dumps(plan))
    elif phase == "jobs":
        figures.update(run_jobs(spec, state))
    elif phase == "zip":
        wk = hf.Workflow(state["path"])
        zip_dir = workdir / "zip"
        zip_dir.mkdir(exist_ok=True)
        with quiet():
            state["zip"] = measure(lambda: (wk.zip(path=str(zip_dir)), closer())[0])
    elif phase == "read_zip":

        def read_zip() -> int:
            return len(hf.Workflow(state["zip"]).get_all_EARs())

        assert measure(read_zip) == state["runs"]
    elif phase == "rechunk":
        wk = hf.Workflow(state["path"])
        try:
            with quiet():
                measure(lambda: wk.rechunk(backup=True, status=False))
        except NotImplementedError as exc:  # hpcflow 0.3.0's own store
            figures.clear()
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            figures["skipped"] = f"the store cannot rechunk ({why})"
    else:
        raise SystemExit(f"error: unknown phase {phase!r}")
    where = state.get("zip") if phase in ("zip", "read_zip") else state["path"]
    figures["files"] = count_files(Path(where))
    # (the engine's own variants run without wfstore in memory: their RSS is the baseline)
    figures["wfstore_loaded"] = "wfstore" in sys.modules
    state_file.write_text(json.dumps(state))
    Path(spec["result"]).write_text(json.dumps(figures))
    return 0


def run_jobs(spec: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """The jobs phase: P job processes started and made ready (imports, configuration)
    untimed, then released together; the phase lasts until the last one ends."""
    workdir = Path(spec["workdir"])
    procs = max(1, int(spec["procs"]))
    plan = json.loads((workdir / "plan.json").read_text())
    if spec.get("job_runs"):  # the first runs only, element by element (--job-runs)
        plan = plan[: spec["job_runs"]]
    elements = sorted({row[0] for row in plan}, key=lambda k: tuple(map(int, k.split(":"))))
    owner = {key: i % procs for i, key in enumerate(elements)}
    jobs = []
    for p in range(procs):
        rows = [row for row in plan if owner[row[0]] == p]
        share = workdir / f"job-{p}.json"
        share.write_text(json.dumps(rows))
        job_spec = {**spec, "share": str(share), "result": str(workdir / f"job-{p}-result.json")}
        # the engine snapshots the working folder at each run's start: a job runs in a
        # run folder of its own, as a job script's commands do
        run_dir = workdir / f"job-{p}-run-dir"
        run_dir.mkdir(exist_ok=True)
        jobs.append(
            subprocess.Popen(
                [sys.executable, str(ENTRY), "job", json.dumps(job_spec)],
                cwd=run_dir,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    for job in jobs:  # each says "ready" once its imports and configuration are done
        assert job.stdout is not None
        line = job.stdout.readline()
        if line.strip() != "ready":
            for j in jobs:
                j.kill()
            raise SystemExit(f"error: a job process did not start: {line!r}")
    os.sync()
    # CLOCK_MONOTONIC is one clock for every process of the machine: the phase ends
    # when the last job has done its last run (their exits are not timed)
    t0 = time.monotonic()
    for job in jobs:
        assert job.stdin is not None
        job.stdin.write("go\n")
        job.stdin.flush()
    codes = [job.wait() for job in jobs]
    with_exits = time.monotonic() - t0
    if any(codes):
        raise SystemExit(f"error: job processes failed: exit codes {codes}")
    results = [json.loads((workdir / f"job-{p}-result.json").read_text()) for p in range(procs)]
    n_runs = sum(r["runs"] for r in results)
    assert n_runs == len(plan), (n_runs, len(plan))
    busy = sum(r["open_seconds"] + r["loop_seconds"] for r in results)
    out: dict[str, Any] = {
        "seconds": max(r["end_monotonic"] for r in results) - t0,
        "seconds_with_exits": with_exits,
        "procs": procs,
        "runs": n_runs,
        "peak_rss_mib": max(r["peak_rss_mib"] for r in results),
        "busy_seconds": busy,
        "open_seconds": sum(r["open_seconds"] for r in results),
        "per_run_s": sum(r["loop_seconds"] for r in results) / n_runs,
        "jobs": results,
    }
    if spec["wrap"]:
        store = sum(r["store_seconds"] for r in results)
        out["store_seconds"] = store
        out["store_calls"] = sum(r["store_calls"] for r in results)
        # the share of the processes' busy time, not of the phase's wall time
        out["store_share"] = store / busy if busy else None
        out["store_per_run_s"] = store / n_runs
    return out


def job_main(spec: dict[str, Any]) -> int:
    """One job process of the jobs phase: open the workflow, then per run of its share
    set the start, save its output and set the end, as a job script's commands do."""
    workdir = Path(spec["workdir"])
    state = json.loads((workdir / "state.json").read_text())
    rows = json.loads(Path(spec["share"]).read_text())
    hf = setup_engine(spec["variant"], workdir)
    import numpy  # noqa: F401

    timer: StoreTimer | None = None
    if spec["wrap"]:
        timer = StoreTimer()
        timer.wrap_classes(store_classes())
    peak_rss_mib()  # the measuring helpers loaded before the start
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1
    reset_peak_rss()
    if timer:
        timer.reset()
    t0 = time.perf_counter()
    wk = hf.Workflow(state["path"])
    t1 = time.perf_counter()
    gen03 = "port_number" in inspect.signature(wk.set_EAR_start).parameters
    for _, run_id, js_idx, act_idx, output, blk_idx in rows:
        if gen03:  # hpcflow 0.3.0: as its job scripts call it (no run folder, no port)
            wk.set_EAR_start(run_id, None, None)
        else:
            wk.set_EAR_start(run_id)
        if output is not None:
            value = output_value(spec["workload"], run_id, spec["array_size"])
            wk.save_parameter(output, value, run_id)
        if gen03:
            run = wk.get_EARs_from_IDs([run_id])[0]
            wk.set_EAR_end((js_idx, blk_idx, act_idx), run, 0)
        else:
            wk.set_EAR_end(js_idx, act_idx, run_id, 0)
    t2 = time.perf_counter()
    t_end = time.monotonic()
    res = {
        "runs": len(rows),
        "open_seconds": t1 - t0,
        "loop_seconds": t2 - t1,
        "end_monotonic": t_end,
        "peak_rss_mib": peak_rss_mib(),
        "store_seconds": timer.seconds if timer else None,
        "store_calls": timer.calls if timer else None,
    }
    Path(spec["result"]).write_text(json.dumps(res))
    return 0


def worker_main(argv: list[str]) -> int:
    """A worker or job process (``engine.py phase|job|probe SPEC``); run before the
    runner's modules are imported, so that the engine's own variants run without
    wfstore loaded."""
    spec = json.loads(argv[1])
    entry = {"phase": phase_main, "job": job_main, "probe": probe_main}[argv[0]]
    return entry(spec)
