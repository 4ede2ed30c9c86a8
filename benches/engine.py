"""Engine-level benchmark: real hpcflow 0.2.0a190 workflows driven through the engine,
on the engine's own Zarr store and on wfstore registered in its place, in one run.

Variants (each phase of each variant in a process of its own):

* ``hpcflow``: the engine's own Zarr store;
* ``wfstore-engine``: ``wfstore.hpcflow.register()``, the engine's layout (one run and
  one parameter per chunk file);
* ``wfstore-own``: ``register(run_chunk_size=100, param_chunk_size=100)``, wfstore's
  own layout.

Workloads (N runs, ``--runs``, 10,000 by default; ``--scale`` adds 100,000):

* ``sequence``: two tasks made with ``hpcflow.sdk.core.test_utils.make_workflow``: the
  first over a sequence of N/2 values of ``p1`` producing ``p2``, the second taking
  ``p2`` and producing ``p3`` (so every run has an output to save in the jobs phase);
* ``loop``: one task (``p1`` in, ``p1`` out) over N/20 values, repeated over 20
  iterations by an hpcflow ``Loop``;
* ``arrays``: as ``sequence`` with numpy arrays (``--array-size`` float64 values) as
  the inputs and the outputs.

Phases, in this order on one workflow, each timed inside a fresh process (interpreter
start-up, imports and the engine's configuration are not timed):

``make`` the workflow from its template; ``read``: open it, read every run
(``wk.get_all_EARs()``) and every element iteration's inputs and outputs (``get``);
``show``: ``wk.show_all_EAR_statuses()`` (printed to devnull); ``submission``:
``wk.add_submission()`` (nothing reaches a scheduler); ``jobs``: ``--procs`` processes
each open the workflow as a job script does (``app.Workflow(path)``) and, for their
share of the elements (element e goes to process e mod P, as a job array runs them),
call ``wk.set_EAR_start``, ``wk.save_parameter`` (the run's first output) and
``wk.set_EAR_end`` per run; ``zip`` (``wk.zip()``); ``read_zip``: open the archive and
read every run; ``rechunk`` (``wk.rechunk(backup=True, status=False)``).

Per phase: the wall time, the ratio against ``hpcflow``, the store's share of the time
(every method and property getter of the variant's store classes, their bases, and the
classes of the store's helper objects such as its pending changes, wrapped; only the
outermost calls counted), the peak RSS of the process (``VmHWM``, reset before the
phase), and the number of files in the store after it. The wrappers cost time, so by
default each variant's chain of phases runs twice (``--share separate``): once plain
for the times, RSS and files, once wrapped for the store's share; ``--share inline``
wraps the timed chain (faster, times inflated by the wrappers), ``--share off`` skips it.

Benchmark a release build of wfstore (``maturin build --release``; the test command's
wheel is unoptimised, and its Rust core several times slower).

Usage (with the engine's Python: hpcflow-new2 0.2.0a190, zarr 2.17.2, wfstore)::

    python benches/engine.py                                # 10k runs, every workload
    python benches/engine.py --runs 200 --workloads sequence --share inline   # smoke
    python benches/engine.py --scale                        # ... plus 100k runs
    python benches/engine.py report benches/results/engine.json  # tables + plot again

Only the standard library, numpy, hpcflow and wfstore are imported by the workers; the
report helpers (markdown and text tables, the README block, the measuring of RSS and
files) are the store-API runner's (``wfstore.tools.bench`` when installed, else
``benches/compare.py`` beside this file).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import functools
import importlib.util
import inspect
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

VARIANTS = ("hpcflow", "wfstore-engine", "wfstore-own")
#: wfstore's own layout: rows per chunk of the runs and of the parameter base.
OWN_CHUNK = 100
WORKLOADS = ("sequence", "loop", "arrays")
LOOP_ITERATIONS = 20
#: (key, label) in the order the phases run on one workflow.
PHASES: list[tuple[str, str]] = [
    ("make", "make"),
    ("read", "open + read runs, inputs, outputs"),
    ("show", "list every run's state (show)"),
    ("submission", "add a submission"),
    ("jobs", "jobs: start, save an output, end"),
    ("zip", "zip"),
    ("read_zip", "open the zip + read runs"),
    ("rechunk", "rechunk (with backup)"),
]
PHASE_LABELS = dict(PHASES)
PHASE_KEYS = [k for k, _ in PHASES]

# --- shared with the store-API runner -------------------------------------------------


@functools.cache
def _shared() -> tuple[ModuleType, ModuleType]:
    """(report helpers, measuring helpers) of the store-API runner: the packaged
    ``wfstore.tools.bench`` when this wfstore has it, else ``benches/compare.py``."""
    try:
        from wfstore.tools.bench import report, workload  # type: ignore[import-not-found]

        return report, workload
    except ImportError:
        pass
    spec = importlib.util.spec_from_file_location("_wfstore_bench_compare", HERE / "compare.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"error: cannot load {HERE / 'compare.py'}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod, mod


def fmt_s(seconds: float | None) -> str:
    return str(_shared()[0]._fmt_s(seconds))


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    return str(_shared()[0].markdown_table(header, rows))


def text_table(header: list[str], rows: list[list[str]]) -> str:
    return str(_shared()[0].text_table(header, rows))


def update_readme(readme: Path, block: str) -> None:
    _shared()[0].update_readme(readme, block)


def reset_peak_rss() -> bool:
    return bool(_shared()[1]._reset_peak_rss())


def peak_rss_mib() -> float:
    return float(_shared()[1]._peak_rss_mib())


def count_files(path: Path) -> int:
    return int(_shared()[1].count_files(path))


# --- the store's share of the time ----------------------------------------------------

#: Attributes never wrapped: object machinery, and finalisers (run whenever the
#: garbage collector runs, inside whatever code is then running).
_NOT_WRAPPED = frozenset(
    {
        "__new__",
        "__init_subclass__",
        "__class_getitem__",
        "__subclasshook__",
        "__getattribute__",
        "__setattr__",
        "__delattr__",
        "__del__",
        "__repr__",
        "__str__",
        "__hash__",
        "__eq__",
    }
)
#: Modules whose classes are store code: a helper object of the store (its pending
#: changes, caches, resources) whose class comes from one of them is wrapped too.
_STORE_MODULES = ("hpcflow.sdk.persistence", "wfstore")


class StoreTimer:
    """Time spent in the store: every method and property getter of the classes given
    (and of their bases) wrapped; a depth counter makes only the outermost call count,
    so a store method calling others is counted once."""

    def __init__(self) -> None:
        self.depth = 0
        self.seconds = 0.0
        self.calls = 0
        self._wrapped: set[type] = set()

    def reset(self) -> None:
        self.seconds = 0.0
        self.calls = 0

    def wrap_classes(self, classes: Iterable[type]) -> None:
        for cls in classes:
            for klass in cls.__mro__:
                if klass in self._wrapped or klass.__module__ in ("builtins", "abc", "typing"):
                    continue
                self._wrapped.add(klass)
                for name, attr in list(vars(klass).items()):
                    if name in _NOT_WRAPPED:
                        continue
                    new = self._wrapped_attr(attr, name)
                    if new is not None:
                        with contextlib.suppress(AttributeError, TypeError):
                            setattr(klass, name, new)

    def _wrapped_attr(self, attr: Any, name: str) -> Any:
        if isinstance(attr, staticmethod):
            return staticmethod(self._wrap(attr.__func__))
        if isinstance(attr, classmethod):
            return classmethod(self._wrap(attr.__func__))
        if isinstance(attr, property):
            if attr.fget is None:
                return None
            return property(self._wrap(attr.fget), attr.fset, attr.fdel, attr.__doc__)
        if isinstance(attr, functools.cached_property):
            new = functools.cached_property(self._wrap(attr.func))
            new.attrname = attr.attrname
            return new
        if inspect.isfunction(attr):
            wrapped = self._wrap(attr)
            if name == "__init__":
                return self._wrap_init(wrapped)
            return wrapped
        return None

    def _wrap_init(self, init: Callable[..., Any]) -> Callable[..., Any]:
        """After a store object is made, its helper objects' classes are wrapped too."""
        timer = self

        @functools.wraps(init)
        def __init__(obj: Any, *args: Any, **kwargs: Any) -> None:
            init(obj, *args, **kwargs)
            timer.wrap_classes(_helper_classes(obj))

        return __init__

    def _wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        timer = self

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if timer.depth:
                timer.depth += 1
                try:
                    return fn(*args, **kwargs)
                finally:
                    timer.depth -= 1
            timer.depth = 1
            t0 = time.perf_counter()
            try:
                out = fn(*args, **kwargs)
            finally:
                timer.depth = 0
                timer.seconds += time.perf_counter() - t0
                timer.calls += 1
            if isinstance(out, contextlib._GeneratorContextManager):
                return _TimedContext(out, timer)
            return out

        return wrapper


class _TimedContext:
    """A store context manager (``cached_load``, ``using_resource``) whose entering and
    leaving count as the store's time (its body is the caller's)."""

    def __init__(self, inner: Any, timer: StoreTimer) -> None:
        self._inner = inner
        self._timer = timer

    def _timed(self, fn: Callable[..., Any], *args: Any) -> Any:
        timer = self._timer
        if timer.depth:
            return fn(*args)
        timer.depth = 1
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            timer.depth = 0
            timer.seconds += time.perf_counter() - t0

    def __enter__(self) -> Any:
        return self._timed(self._inner.__enter__)

    def __exit__(self, *exc: Any) -> Any:
        return self._timed(self._inner.__exit__, *exc)


def _helper_classes(store: Any) -> list[type]:
    """Classes of the store object's attributes (and of the items of its dict and list
    attributes) that come from the store's own modules."""
    out: list[type] = []
    values: list[Any] = list(getattr(store, "__dict__", {}).values())
    for v in list(values):
        if isinstance(v, dict):
            values += list(v.values())
        elif isinstance(v, (list, tuple)):
            values += list(v)
    for v in values:
        cls = type(v)
        if cls.__module__.startswith(_STORE_MODULES) and cls not in out:
            out.append(cls)
    return out


# --- the engine, in each worker -------------------------------------------------------


def setup_engine(variant: str, workdir: Path) -> Any:
    """The engine's app, with wfstore registered for the wfstore variants and the
    engine's configuration (an ``env_1`` environment, which the test schemas use) in
    `workdir`."""
    if variant != "hpcflow":
        import wfstore.hpcflow as wfh

        if variant == "wfstore-own":
            wfh.register(run_chunk_size=OWN_CHUNK, param_chunk_size=OWN_CHUNK)
        else:
            wfh.register()
    from hpcflow.app import app as hf

    envs = workdir / "envs.yaml"
    if not envs.exists():
        envs.write_text("- name: env_1\n")
    (workdir / "config").mkdir(exist_ok=True)
    hf.load_config(config_dir=workdir / "config", warn=False, environment_sources=[str(envs)])
    return hf


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
    """[element key, run ID, jobscript index, jobscript action index, output name] of
    every run of the submission, element by element as a job array runs them."""
    rows: list[list[Any]] = []
    for js in sub.jobscripts:
        ids = js.EAR_ID
        for e in range(ids.shape[1]):
            for a in range(ids.shape[0]):
                run_id = int(ids[a, e])
                if run_id >= 0:
                    rows.append([f"{js.index}:{e}", run_id, int(js.index), a, None])
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


def _zip_closer() -> Callable[[], None]:
    """The engine's zip leaves its ``ZipFileSystem`` open (the archive gets its central
    directory only when closed): record those opened and close them in the phase."""
    try:
        from fsspec.implementations.zip import ZipFileSystem
    except ImportError:
        return lambda: None
    opened: list[Any] = []
    orig_init = ZipFileSystem.__init__

    def recording_init(self: Any, *args: Any, **kwargs: Any) -> None:
        orig_init(self, *args, **kwargs)
        opened.append(self)

    ZipFileSystem.__init__ = recording_init  # type: ignore[method-assign]

    def close() -> None:
        while opened:
            zfs = opened.pop()
            zf = getattr(zfs, "zip", None)
            if zf is not None and zf.fp is not None and zf.mode != "r":
                zfs.close()

    return close


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
    closer = _zip_closer() if phase == "zip" else (lambda: None)
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
        with quiet():
            measure(lambda: wk.rechunk(backup=True, status=False))
    else:
        raise SystemExit(f"error: unknown phase {phase!r}")
    where = state.get("zip") if phase in ("zip", "read_zip") else state["path"]
    figures["files"] = count_files(Path(where))
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
                [sys.executable, str(Path(__file__).resolve()), "job", json.dumps(job_spec)],
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
    for _, run_id, js_idx, js_act_idx, output in rows:
        wk.set_EAR_start(run_id)
        if output is not None:
            value = output_value(spec["workload"], run_id, spec["array_size"])
            wk.save_parameter(output, value, run_id)
        wk.set_EAR_end(js_idx, js_act_idx, run_id, 0)
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


# --- the runner -----------------------------------------------------------------------


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
) -> dict[str, Any]:
    """Every phase of one variant on one new workflow, each in a new process."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{variant}-{workload}-{n_runs}-", dir=tmp_root))
    phases: dict[str, Any] = {}
    env = dict(os.environ)
    env.pop("WFSTORE_DURABILITY", None)  # the default durability is what is measured
    for key in PHASE_KEYS:
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
        cmd = [sys.executable, str(Path(__file__).resolve()), "phase", json.dumps(spec)]
        proc = subprocess.run(
            cmd, env=env, cwd=workdir, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise SystemExit(
                f"error: {variant} / {workload} / {n_runs} runs: phase {key} failed "
                f"(exit {proc.returncode}):\n{proc.stderr[-4000:]}"
            )
        phases[key] = json.loads(result.read_text())
    state = json.loads((workdir / "state.json").read_text())
    return {
        "variant": variant,
        "workload": workload,
        "runs": state["runs"],
        "elements": state["elements"],
        "phases": phases,
        "workdir": str(workdir),
    }


def merge_share(timed: dict[str, Any], wrapped: dict[str, Any]) -> dict[str, Any]:
    """The timed chain's figures with the store's share from the wrapped chain."""
    for key, ph in timed["phases"].items():
        w = wrapped["phases"].get(key)
        if not w or w.get("store_seconds") is None:
            continue
        if key == "jobs":
            for k in ("store_seconds", "store_calls", "store_share", "store_per_run_s"):
                ph[k] = w.get(k)
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
        prog="python benches/engine.py", description=__doc__.split("\n\n")[0]
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
    ap.add_argument("--array-size", type=int, default=1000, help="float64 values per array")
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
    t_all = time.perf_counter()
    with tmp_ctx as tmp_name:
        tmp_root = Path(tmp_name)
        for n in sizes:
            for w in workloads:
                for v in variants:
                    print(f"-- {v} / {w} / {n:,} runs ...", file=sys.stderr, flush=True)
                    t0 = time.perf_counter()
                    kw = {"procs": a.procs, "array_size": a.array_size, "job_runs": a.job_runs}
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


# --- report (engine) ------------------------------------------------------------------


def _find(results: list[dict], variant: str, workload: str, runs: int) -> dict | None:
    for r in results:
        if (r["variant"], r["workload"], r["runs"]) == (variant, workload, runs):
            return r
    return None


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


TABLE_HEADER = ["phase", "variant", "time", "vs hpcflow", "store share", "peak RSS MiB", "files"]


def phase_rows(results: list[dict], workload: str, runs: int) -> list[list[str]]:
    base = _find(results, "hpcflow", workload, runs)
    rows = []
    for key in PHASE_KEYS:
        for v in VARIANTS:
            r = _find(results, v, workload, runs)
            ph = r["phases"].get(key) if r else None
            if ph is None:
                continue
            b = base["phases"].get(key) if base else None
            ratio = f"{b['seconds'] / ph['seconds']:.1f}x" if b and ph["seconds"] else "-"
            rows.append(
                [
                    PHASE_LABELS[key],
                    v,
                    fmt_s(ph["seconds"]),
                    ratio,
                    _pct(ph.get("store_share")),
                    f"{ph['peak_rss_mib']:.0f}",
                    f"{ph['files']:,}",
                ]
            )
    return rows


JOBS_HEADER = [
    "variant",
    "per run",
    "store per run",
    "store share",
    "store per run vs hpcflow",
    "opening (per process)",
]


def jobs_rows(results: list[dict], workload: str, runs: int) -> list[list[str]]:
    """The jobs phase per run: the time a process spends per run (timed run), and
    what of it is the store's (measured where the store's methods are wrapped)."""
    base = _find(results, "hpcflow", workload, runs)
    bj = base["phases"].get("jobs") if base else None
    rows = []
    for v in VARIANTS:
        r = _find(results, v, workload, runs)
        j = r["phases"].get("jobs") if r else None
        if not j:
            continue
        spr = j.get("store_per_run_s")
        ratio = "-"
        if bj and bj.get("store_per_run_s") and spr:
            ratio = f"{bj['store_per_run_s'] / spr:.1f}x"
        rows.append(
            [
                v,
                fmt_s(j["per_run_s"]),
                fmt_s(spr) if spr is not None else "-",
                _pct(j.get("store_share")),
                ratio,
                fmt_s(j["open_seconds"] / j["procs"]),
            ]
        )
    return rows


#: Issue 20's targets, on the sequence workload at 10,000 runs: minimum speed-up of a
#: phase per variant (open + read, make).
TARGET_RATIOS = {
    ("read", "wfstore-engine"): 9.0,
    ("read", "wfstore-own"): 9.0,
    ("make", "wfstore-engine"): 5.0,
    ("make", "wfstore-own"): 6.0,
}
TARGET_SHARE = 0.25
TARGET_JOBS_STORE = 5.0  # the engine's store cost per run over wfstore's
TARGET_RUNS, TARGET_SCALE_RUNS, TARGET_SCALE_SLACK = 10_000, 100_000, 0.20


def _ratio(results: list[dict], v: str, key: str, runs: int) -> float | None:
    base = _find(results, "hpcflow", "sequence", runs)
    r = _find(results, v, "sequence", runs)
    if not (base and r and key in base["phases"] and key in r["phases"]):
        return None
    return float(base["phases"][key]["seconds"] / r["phases"][key]["seconds"])


def check_targets(results: list[dict]) -> list[tuple[str, bool | None, str]]:
    """(what, met (None: not measured), figures) for each of issue 20's targets."""
    out: list[tuple[str, bool | None, str]] = []
    n = TARGET_RUNS
    base = _find(results, "hpcflow", "sequence", n)
    ours = [v for v in VARIANTS if v != "hpcflow"]
    where = f"sequence, {n:,} runs"
    for (key, v), want in TARGET_RATIOS.items():
        got = _ratio(results, v, key, n)
        what = f"{PHASE_LABELS[key]} >= {want:.0f}x ({v}, {where})"
        out.append((what, None if got is None else got >= want, _x(got)))
    for v in ours:
        r = _find(results, v, "sequence", n)
        shares = [
            (ph["store_share"], k)
            for k, ph in (r["phases"].items() if r else [])
            if ph.get("store_share") is not None
        ]
        what = f"store's share <= {TARGET_SHARE:.0%} in every phase ({v}, {where})"
        if not shares:
            out.append((what, None, "not measured"))
        else:
            worst = max(shares)
            fig = f"largest {worst[0]:.0%} ({PHASE_LABELS[worst[1]]})"
            out.append((what, worst[0] <= TARGET_SHARE, fig))
        what = f"peak RSS no more than the engine's store's in every phase ({v}, {where})"
        if not (r and base):
            out.append((what, None, "not measured"))
        else:
            over = [
                (ph["peak_rss_mib"] - base["phases"][k]["peak_rss_mib"], k)
                for k, ph in r["phases"].items()
                if k in base["phases"]
            ]
            worst_rss = max(over)
            fig = f"largest difference {worst_rss[0]:+.0f} MiB ({PHASE_LABELS[worst_rss[1]]})"
            out.append((what, worst_rss[0] <= 0, fig))
        bj = base["phases"].get("jobs") if base else None
        j = r["phases"].get("jobs") if r else None
        what = (
            f"jobs: store cost per run <= 1/{TARGET_JOBS_STORE:.0f} of the engine's store's ({v})"
        )
        if not (bj and j and bj.get("store_per_run_s") and j.get("store_per_run_s")):
            out.append((what, None, "not measured"))
        else:
            got = bj["store_per_run_s"] / j["store_per_run_s"]
            fig = f"{fmt_s(j['store_per_run_s'])} vs {fmt_s(bj['store_per_run_s'])} ({got:.1f}x)"
            out.append((what, got >= TARGET_JOBS_STORE, fig))
    big = TARGET_SCALE_RUNS
    for v in ours:
        pairs = [(k, _ratio(results, v, k, n), _ratio(results, v, k, big)) for k in PHASE_KEYS]
        pairs = [(k, lo, hi) for k, lo, hi in pairs if lo and hi]
        what = (
            f"at {big:,} runs every phase's ratio within {TARGET_SCALE_SLACK:.0%} of its "
            f"{n:,}-run ratio or better ({v})"
        )
        if not pairs:
            out.append((what, None, "not measured"))
            continue
        worst_k, worst_lo, worst_hi = min(pairs, key=lambda t: t[2] / t[1])
        fig = f"worst {PHASE_LABELS[worst_k]}: {worst_lo:.1f}x -> {worst_hi:.1f}x"
        out.append((what, worst_hi >= (1 - TARGET_SCALE_SLACK) * worst_lo, fig))
    return out


def _x(ratio: float | None) -> str:
    return "not measured" if ratio is None else f"{ratio:.1f}x"


def _status(ok: bool | None) -> str:
    return "met" if ok else ("NOT met" if ok is False else "not measured")


def _groups(results: list[dict]) -> list[tuple[str, int]]:
    seen = []
    for r in results:
        k = (r["workload"], r["runs"])
        if k not in seen:
            seen.append(k)
    order = {w: i for i, w in enumerate(WORKLOADS)}
    return sorted(seen, key=lambda k: (order.get(k[0], 99), k[1]))


def _title(data: dict, results: list[dict], workload: str, runs: int) -> str:
    r = next(x for x in results if (x["workload"], x["runs"]) == (workload, runs))
    return f"**{workload}, {runs:,} runs** ({r['elements']:,} elements)"


def render_report(data: dict) -> str:
    """The markdown report: per workload and size, every phase of every variant, and
    the jobs phase per run."""
    vers = data.get("versions", {})
    results = data["results"]
    parts = [
        f"Measured {data['date']} on {data['machine']} by `{data['command']}` (hpcflow-new2 "
        f"{vers.get('hpcflow', '-')}, zarr {vers.get('zarr', '-')}, wfstore "
        f"{vers.get('wfstore', '-')}, Python {vers.get('python', '-')}), each phase in a "
        f"process of its own, interpreter start-up and imports not timed; jobs: "
        f"{data['procs']} processes"
        + (f", the first {data['job_runs']:,} runs" if data.get("job_runs") else "")
        + f". Store share: {_share_note(data['share_method'])}"
    ]
    for workload, runs in _groups(results):
        parts.append(
            _title(data, results, workload, runs)
            + "\n\n"
            + markdown_table(TABLE_HEADER, phase_rows(results, workload, runs))
        )
        jr = jobs_rows(results, workload, runs)
        if jr:
            parts.append(
                f"*Jobs phase, {workload}, {runs:,} runs, per run* (set start, save an "
                "output, set end, in each of the job processes; the store's figures come "
                "from the run with the store's methods wrapped)\n\n"
                + markdown_table(JOBS_HEADER, jr)
            )
    lines = [f"* {_status(ok)}: {what}: {fig}" for what, ok, fig in check_targets(results)]
    parts.append("**Targets** (issue 20)\n\n" + "\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _share_note(method: str) -> str:
    return {
        "separate": "measured in a second run of each chain with every store method "
        "wrapped (outermost calls only); times from the unwrapped run.",
        "inline": "every store method wrapped in the timed run itself (times include "
        "the wrappers' cost).",
        "off": "not measured.",
    }.get(method, method)


def print_report(data: dict) -> None:
    results = data["results"]
    for workload, runs in _groups(results):
        r = next(x for x in results if (x["workload"], x["runs"]) == (workload, runs))
        print(f"\n{workload}, {runs:,} runs ({r['elements']:,} elements)")
        print(text_table(TABLE_HEADER, phase_rows(results, workload, runs)))
        jr = jobs_rows(results, workload, runs)
        if jr:
            print(f"\njobs phase, per run ({data['procs']} processes)")
            print(text_table(JOBS_HEADER, jr))
    print()
    for what, ok, fig in check_targets(results):
        print(f"[{_status(ok)}] {what}: {fig}")


def finish_report(data: dict, readme: Path | None, plot_path: Path | None) -> None:
    print_report(data)
    md = render_report(data)
    if plot_path is not None:
        series = time_series(data)
        if plot_lines(series, plot_path, "hpcflow 0.2.0a190 through the engine: time per phase"):
            print(f"plot: {plot_path}", file=sys.stderr)
            rel = os.path.relpath(plot_path, readme.parent if readme else Path.cwd())
            md += f"\n![time against the number of runs]({rel})\n"
    if readme is not None:
        update_readme(readme, md)
        print(f"updated {readme}", file=sys.stderr)


def time_series(data: dict) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """{phase label: {"variant (workload)": [(runs, seconds)]}} for the plot."""
    out: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for key in PHASE_KEYS:
        panel: dict[str, list[tuple[float, float]]] = {}
        for r in data["results"]:
            ph = r["phases"].get(key)
            if ph:
                name = f"{r['variant']} ({r['workload']})"
                panel.setdefault(name, []).append((r["runs"], ph["seconds"]))
        if panel:
            out[PHASE_LABELS[key]] = {k: sorted(v) for k, v in panel.items()}
    return out


# --- report (to share) ----------------------------------------------------------------
# Not specific to this runner: to move to wfstore.tools.bench.report at merge.


def plot_lines(
    panels: dict[str, dict[str, list[tuple[float, float]]]],
    out: Path,
    title: str,
    xlabel: str = "number of runs",
    ylabel: str = "time (s)",
) -> bool:
    """One log-log panel per key of `panels`, a line per series (colour: the series
    name's first word, e.g. the variant; line style: what follows it). False (and a
    message) if matplotlib is not importable."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not importable: no plot", file=sys.stderr)
        return False
    names = sorted({s for panel in panels.values() for s in panel})
    heads = sorted({n.split(" ")[0] for n in names})
    tails = sorted({n.partition(" ")[2] for n in names})
    styles = ["-", "--", ":", "-."]
    markers = ["o", "s", "^", "D"]
    cols = min(4, max(1, len(panels)))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows + 0.8), squeeze=False)
    for ax, (label, series) in zip(axes.flat, panels.items()):
        for name, points in sorted(series.items()):
            head, _, tail = name.partition(" ")
            i, j = heads.index(head), tails.index(tail)
            ax.plot(
                [p[0] for p in points],
                [p[1] for p in points],
                styles[j % len(styles)],
                marker=markers[j % len(markers)],
                color=f"C{i}",
                label=name,
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.06 + 0.02 * ((len(labels) - 1) // 3), 1, 0.97))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return True


if __name__ == "__main__":
    sys.exit(main())
