"""Concurrent writers on one Zarr store (the store lock they rely on is tested in
test_lock.py).

Several processes (8, as the engine's jobs would be) update one store at once, one
commit per call: run starts and ends, output parameter values and sources (rows that
share chunks), and jobscript metadata in the root attributes (a read-modify-write of
one shared document). Afterwards every update must be there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fsspec.implementations.local import LocalFileSystem
from store_dump import empty_workflow_kwargs
from wfstore.common.errors import ConcurrentModificationError
from wfstore.common.names import CHANGE_MARKER_NAME, LINK_LOCK_NAME, LOCK_NAME
from wfstore.persistence import ZarrPersistentStore
from wfstore.storage.lock import ENV_VAR

HERE = Path(__file__).resolve().parent
#: 8 job processes in CI; scripts/stress_concurrency.sh sets more of both
WORKERS = int(os.environ.get("WFSTORE_STRESS_WORKERS", "8"))
RUNS_PER_WORKER = int(os.environ.get("WFSTORE_STRESS_RUNS_PER_WORKER", "6"))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(HERE), *[p for p in sys.path if p and "wfstore" in p], env.get("PYTHONPATH", "")]
    )
    return env


def _build(path: Path, n_runs: int) -> ZarrPersistentStore:
    fs = LocalFileSystem()
    ZarrPersistentStore.write_empty_workflow(None, **empty_workflow_kwargs(str(path), fs))
    store = ZarrPersistentStore(None, None, path, fs)
    store.run_dir_snapshot = lambda: None
    with store.batch_update():
        t = store.add_task(0, {"insert_ID": 0, "element_sets": [], "schema": ["s"]})
        for r in range(n_runs):
            p_in = store.add_set_parameter(r, {"type": "UNSET-FOR-TEST"}, save=False)
            p_out = store.add_unset_parameter({"type": "EAR_output", "run": r}, save=False)
            e = store.add_element(t, 0, {}, {}, save=False)
            data_idx = {"inputs.p1": p_in, "outputs.p2": p_out}
            it = store.add_element_iteration(e, data_idx, list(data_idx), save=False)
            assert store.add_EAR(it, 0, [0], data_idx, save=False) == r
            store.set_EARs_initialised(it, save=False)
        store.add_submission(
            0,
            {
                "submission_parts": {},
                "JS_parallelism": None,
                "jobscripts": [{"task_elements": {0: [r]}, "EAR_ID": [[r]]} for r in range(n_runs)],
            },
        )
    return store


@pytest.mark.parametrize(
    ("lock_protocol", "durability"),
    [("fcntl", "normal"), ("link", "normal"), ("fcntl", "full")],
)
def test_concurrent_writers_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lock_protocol: str, durability: str
) -> None:
    """Job processes update one store at once and no update is lost, with either lock
    protocol, and with every file flushed (``"full"`` durability)."""
    monkeypatch.setenv(ENV_VAR, lock_protocol)  # for this process and the workers
    monkeypatch.setenv("WFSTORE_DURABILITY", durability)
    path = tmp_path / "wk"
    n_runs = WORKERS * RUNS_PER_WORKER
    _build(path, n_runs)
    procs = []
    for w in range(WORKERS):
        runs = [r for r in range(n_runs) if r % WORKERS == w]
        procs.append(
            subprocess.Popen(
                [sys.executable, str(HERE / "concurrency_worker.py"), str(path), str(w)]
                + [str(r) for r in runs],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=_env(),
            )
        )
    acked: set[int] = set()
    for p in procs:
        out, err = p.communicate(timeout=240 + 2 * n_runs)
        assert p.returncode == 0, err
        acked.update(int(line.split()[1]) for line in out.splitlines() if line.startswith("ACK"))
    assert acked == set(range(n_runs))

    store = ZarrPersistentStore(None, None, path)
    runs = store.get_EARs(range(n_runs))
    n_params = store._get_num_total_parameters()
    sources = store.get_parameter_sources(range(n_params))
    params = store.get_parameters(range(n_params))
    out_of = {s["run"]: i for i, s in enumerate(sources) if s.get("type") == "EAR_output"}
    jobscripts = store.get_submissions()[0]["jobscripts"]
    lost = []
    for r, run in enumerate(runs):
        w = r % WORKERS
        if (
            run.submission_idx != 0
            or run.start_time is None
            or run.end_time is None
            or run.exit_code != w
            or run.success is not (r % 2 == 0)
        ):
            lost.append(("run", r, run))
        p = out_of[r]
        if params[p].data != {"worker": w, "run": r, "v": [r] * 3}:
            lost.append(("parameter", p, params[p].data))
        if sources[p].get("EAR_ID") != r:
            lost.append(("source", p, sources[p]))
        if jobscripts[r].get("process_ID") != 10_000 + r:
            lost.append(("jobscript", r, jobscripts[r]))
    assert lost == [], f"{len(lost)} of {4 * n_runs} updates lost, e.g. {lost[:3]}"
    print(f"concurrent writers: {WORKERS} processes, {4 * n_runs} updates, 0 lost")
    # no lock ticket, link lock or broken lock is left, and no lock file or marker
    # file at all: the record lock is on the root .zgroup, which holds the marker
    left = [n for n in os.listdir(path) if n.startswith((LOCK_NAME, LINK_LOCK_NAME))]
    assert left == []
    assert not (path / CHANGE_MARKER_NAME).exists()


def test_concurrent_appends_conflict_clearly(tmp_path: Path) -> None:
    """IDs are given out when items are added: a process that adds items after another
    process appended its own gets a clear error at commit, and nothing is overwritten."""
    path = tmp_path / "wk"
    _build(path, 2)
    a = ZarrPersistentStore(None, None, path)
    b = ZarrPersistentStore(None, None, path)
    pa = a.add_unset_parameter({"type": "a"}, save=False)
    pb = b.add_unset_parameter({"type": "b"}, save=False)
    assert pa == pb
    a.save()
    with pytest.raises(ConcurrentModificationError, match="parameters/base"):
        b.save()
    fresh = ZarrPersistentStore(None, None, path)
    assert fresh.get_parameter_sources([pa])[0] == {"type": "a"}
    assert fresh._get_num_total_parameters() == pa + 1
