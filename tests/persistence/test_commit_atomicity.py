"""Zarr commits are all or nothing: a commit that fails part-way writes nothing, and
a writer killed at any moment leaves every acknowledged commit whole and nothing of
the commit it was making but whole files."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import tree_digest
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.local import LocalFileSystem
from store_dump import empty_workflow_kwargs
from wfstore import _core
from wfstore.persistence import ZarrPersistentStore
from wfstore.persistence.readcache import DIRTY
from wfstore.persistence.zarr.transactions import _appends_in_order

HERE = Path(__file__).resolve().parent


def _store(path: Path) -> ZarrPersistentStore:
    fs = LocalFileSystem()
    ZarrPersistentStore.write_empty_workflow(None, **empty_workflow_kwargs(str(path), fs))
    store = ZarrPersistentStore(None, None, path, fs)
    store.run_dir_snapshot = lambda: None
    store.add_task(0, {"insert_ID": 0, "element_sets": [], "schema": ["s"]})
    store.add_loop(
        {"name": "L", "num_iterations": 1, "tasks": [0]},
        iterable_parameters={},
        parents=[],
        num_added_iterations={(0,): 1},
        iter_IDs=[],
    )
    return store


def _no_temporaries(path: Path) -> list[str]:
    return [
        str(p.relative_to(path))
        for p in path.rglob("*")
        if p.name.startswith((".wfstore-tmp-", ".wfstore-journal."))
    ]


def test_failed_commit_writes_nothing_and_can_be_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "wk"
    store = _store(path)
    before = tree_digest(path)
    p = store.add_set_parameter({"a": 1}, {"type": "t"}, save=False)
    e = store.add_element(0, 0, {}, {}, save=False)
    it = store.add_element_iteration(e, {"inputs.p": p}, ["inputs.p"], save=False)
    r = store.add_EAR(it, 0, [0], {"inputs.p": p}, save=False)
    store.set_EAR_start(r, save=False)
    store.add_submission(0, {"jobscripts": [], "submission_parts": {}}, save=False)
    store.update_loop_num_iters(0, {(0,): 2}, save=False)

    # the last step of the commit fails, after elements, runs and parameters were
    # written (staged) and the root attributes changed:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "_update_loop_num_iters", broken)
    with pytest.raises(OSError, match="No space"):
        store.save()
    assert store.has_pending
    assert tree_digest(path) == before, "a failed commit changed files"
    assert _no_temporaries(path) == []
    assert not store.core_store.in_transaction

    monkeypatch.undo()
    store.save()  # the same pending changes commit cleanly now
    assert store.get_loops()[0]["num_added_iterations"] == [[[0], 2]]
    fresh = ZarrPersistentStore(None, None, path)
    assert fresh.get_EARs([r])[0].start_time is not None
    assert fresh.get_parameters([p])[0].data == {"a": 1}
    assert len(fresh.get_submissions()) == 1
    assert _no_temporaries(path) == []


def test_a_commit_whose_dirty_marker_fails_writes_nothing_and_can_be_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change marker is made dirty before a commit's files change; if that write
    fails (a full disk), nothing is applied, the transaction is closed and the same
    changes commit at the next save (the transaction was left open: every later save
    of the store object raised "a transaction is already open")."""
    path = tmp_path / "wk"
    store = _store(path)
    before = tree_digest(path)
    p = store.add_set_parameter({"a": 1}, {"type": "t"}, save=False)
    real = ZarrPersistentStore._write_change_marker

    def failing(self: ZarrPersistentStore, state: bytes, *args: object) -> bytes:
        if state == DIRTY:
            raise OSError(28, "No space left on device")
        return real(self, state, *args)

    monkeypatch.setattr(ZarrPersistentStore, "_write_change_marker", failing)
    with pytest.raises(OSError, match="No space"):
        store.save()
    assert store.has_pending and not store.core_store.in_transaction
    assert tree_digest(path) == before, "a failed commit changed files"
    monkeypatch.undo()
    store.save()
    assert ZarrPersistentStore(None, None, path).get_parameters([p])[0].data == {"a": 1}


def test_commit_applies_through_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "wk"
    store = _store(path)
    store.add_set_parameter({"x": 1}, {"type": "t"}, save=False)
    store.add_element(0, 0, {}, {})
    report = store.last_commit_report
    assert report is not None and report["written"] > 1 and report["journaled"]
    p = store.add_unset_parameter({"type": "u"})
    store.set_parameter_value(p, 5)
    # a single-row update is one atomic rename: no journal needed
    assert store.last_commit_report == {"written": 1, "deleted": 0, "journaled": False}
    assert ZarrPersistentStore(None, None, path).get_parameters([p])[0].data == 5


def test_one_run_update_is_written_without_a_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job's start or end (one run's fields: one chunk replaced atomically) skips the
    commit transaction; several updates in one commit still take it; a one-run commit
    that fails keeps the update pending, and the next save writes it."""
    path = tmp_path / "wk"
    store = _store(path)
    p = store.add_set_parameter({"a": 1}, {"type": "t"}, save=False)
    e = store.add_element(0, 0, {}, {}, save=False)
    it = store.add_element_iteration(e, {"inputs.p": p}, ["inputs.p"], save=False)
    runs = [store.add_EAR(it, a, [0], {"inputs.p": p}, save=False) for a in range(2)]
    store.save()
    begins: list[object] = []
    real_txn = store._commit_transaction

    def counting(kinds=()):  # type: ignore[no-untyped-def]
        begins.append(kinds)
        return real_txn(kinds)

    monkeypatch.setattr(store, "_commit_transaction", counting)
    store.set_EAR_start(runs[0])
    store.set_EAR_submission_index(runs[1], 3)
    store.set_EAR_end(runs[0], 0, True)
    assert begins == []
    store.set_EAR_start(runs[1], save=False)
    store.set_EAR_end(runs[1], 1, False, save=False)
    store.save()
    assert begins == [["set_EAR_starts", "set_EAR_ends"]]

    real_patch = store._patch_runs
    calls = {"n": 0}

    def failing_once(patches):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("disk gone")
        real_patch(patches)

    monkeypatch.setattr(store, "_patch_runs", failing_once)
    with pytest.raises(OSError, match="disk gone"):
        store.set_EAR_skip(runs[0])
    assert list(store._pending.set_EAR_skips) == [runs[0]]
    store.save()
    assert not store._pending
    fresh = ZarrPersistentStore(None, None, path).get_EARs(runs)
    assert [r.skip for r in fresh] == [True, False]
    assert [r.submission_idx for r in fresh] == [None, 3]
    assert [(r.exit_code, r.success) for r in fresh] == [(0, True), (1, False)]
    assert fresh[0].start_time is not None and fresh[1].end_time is not None


def test_a_parameter_set_elsewhere_after_the_check_is_dropped_not_stuck(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process sets a parameter between this store's already-set check and its
    commit: the commit raises ParameterAlreadySetError and writes nothing; the refused
    value leaves the pending changes (it can never be written), the rest stays pending
    and the next save writes it."""
    from wfstore.common.errors import ParameterAlreadySetError

    path = tmp_path / "wk"
    store = _store(path)
    p = store.add_unset_parameter({"type": "out"})
    q = store.add_unset_parameter({"type": "out"})
    other = ZarrPersistentStore(None, None, path)
    other.set_parameter_value(p, "theirs")
    before = tree_digest(path)
    monkeypatch.setattr(store, "_is_param_set", lambda param_id: False)  # checked earlier
    store.set_parameter_value(q, "mine", save=False)
    with pytest.raises(ParameterAlreadySetError, match=str(p)):
        store.set_parameter_value(p, "mine")
    assert tree_digest(path) == before
    assert list(store._pending.set_parameters) == [q]
    store.save()
    assert not store._pending
    fresh = ZarrPersistentStore(None, None, path).get_parameters([p, q])
    assert [x.data for x in fresh] == ["theirs", "mine"]


def test_setting_a_parameter_this_store_appended_unset_reads_nothing_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job adds an output parameter and sets it: the early already-set check needs no
    read for a parameter this store object appended unset; if another process set it
    meanwhile, the commit (which reads the row under the lock) refuses it."""
    from wfstore.common.errors import ParameterAlreadySetError

    path = tmp_path / "wk"
    store = _store(path)
    p, q = (store.add_unset_parameter({"type": "out"}) for _ in range(2))
    opened: list[str] = []
    real_array = store._array

    def counting(array_path, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(array_path)
        return real_array(array_path, *args, **kwargs)

    monkeypatch.setattr(store, "_array", counting)
    store.set_parameter_value(p, 1)
    assert opened == ["parameters/base"]  # the commit's read under the lock only
    # set already (by this object): refused at once, reading the row
    with pytest.raises(ParameterAlreadySetError):
        store.set_parameter_value(p, 2)
    # set by another process since this object appended it
    ZarrPersistentStore(None, None, path).set_parameter_value(q, "theirs")
    with pytest.raises(ParameterAlreadySetError, match=str(q)):
        store.set_parameter_value(q, "mine")
    assert not store._pending
    assert [x.data for x in store.get_parameters([p, q])] == [1, "theirs"]


def test_a_refused_value_holding_arrays_leaves_none_of_them(tmp_path: Path) -> None:
    """The commit encodes a value (writing its numpy arrays) before it finds the row set
    by another process: the transaction undoes those writes."""
    from wfstore.common.errors import ParameterAlreadySetError

    path = tmp_path / "wk"
    store = _store(path)
    q = store.add_unset_parameter({"type": "out"})
    ZarrPersistentStore(None, None, path).set_parameter_value(q, "theirs")
    before = tree_digest(path)
    with pytest.raises(ParameterAlreadySetError, match=str(q)):
        store.set_parameter_value(q, {"a": np.arange(5.0), "b": 1})
    assert tree_digest(path) == before
    assert not (path / "parameters" / "arrays" / f"param_{q}").exists()
    assert store.get_parameters([q])[0].data == "theirs"


def _param_arrays(path: Path) -> tuple[_core.ObjectArray, _core.ObjectArray]:
    core = _core.Store.local(path)
    return (
        _core.ObjectArray.open(core, "parameters/base"),
        _core.ObjectArray.open(core, "parameters/sources"),
    )


def test_parameter_appends_commit_in_order_without_a_journal(tmp_path: Path) -> None:
    """New parameters alone are appended without a journal (their rows are invisible
    until the base array's shape, renamed last, grows); anything else in the commit,
    or a numpy value (arrays of its own), takes the journal."""
    path = tmp_path / "wk"
    store = _store(path)
    p0 = store.add_unset_parameter({"type": "u"})
    # the sources chunk and both shapes (the base chunk of an unset row is empty: it
    # has no file, and none is deleted)
    assert store.last_commit_report == {"written": 3, "deleted": 0, "journaled": False}
    p1 = store.add_set_parameter({"x": 1}, {"type": "t"})
    assert store.last_commit_report["journaled"] is False  # type: ignore[index]
    store.add_set_parameter(np.arange(3), {"type": "t"})
    assert store.last_commit_report["journaled"] is True  # type: ignore[index]
    # a new parameter together with a value set on an existing one: rows that are
    # visible change, so the commit is journaled
    store.add_set_parameter(2, {"type": "t"}, save=False)
    store.set_parameter_value(p0, 5)
    assert store.last_commit_report["journaled"] is True  # type: ignore[index]
    assert _no_temporaries(path) == []
    fresh = ZarrPersistentStore(None, None, path)
    assert [q.data for q in fresh.get_parameters([p0, p1])] == [5, {"x": 1}]
    np.testing.assert_array_equal(fresh.get_parameters([2])[0].data, np.arange(3))


@pytest.mark.parametrize(
    ("kinds", "keys", "in_order"),
    [
        (
            {"add_parameters"},
            ["parameters/sources/0", "parameters/sources/.zarray", "parameters/base/.zarray"],
            True,
        ),
        ({"add_parameters"}, ["parameters/base/3", "parameters/base/.zarray"], True),
        # the base shape, which makes the rows visible, must come last
        ({"add_parameters"}, ["parameters/base/.zarray", "parameters/sources/.zarray"], False),
        ({"add_parameters"}, ["parameters/base/0"], False),
        ({"add_parameters"}, ["parameters/base/.zattrs", "parameters/base/.zarray"], False),
        (
            {"add_parameters"},
            ["parameters/arrays/param_1/arr_0/0", "parameters/base/.zarray"],
            False,
        ),
        ({"add_parameters"}, [], False),
        (
            {"add_parameters", "set_parameters"},
            ["parameters/base/0", "parameters/base/.zarray"],
            False,
        ),
        ({"add_EARs"}, ["parameters/base/.zarray"], False),
    ],
)
def test_which_commits_go_in_order(kinds: set[str], keys: list[str], in_order: bool) -> None:
    assert _appends_in_order(kinds, lambda: keys) is in_order


def test_an_append_stopped_before_the_base_array_grew_is_dropped(tmp_path: Path) -> None:
    """The state a crash between the two shape renames of an unjournaled parameter
    append leaves: the sources array one row longer than the base array. Readers see
    the base array's parameters; the next append trims the stray source and writes
    its own in its place."""
    path = tmp_path / "wk"
    store = _store(path)
    store.add_set_parameter({"x": 1}, {"type": "t"})
    _, sources = _param_arrays(path)
    sources.append([{"type": "stray"}])
    # a store opened through another file system (no lock to tell a crashed append
    # from a live one) leaves it to the next append
    fresh = ZarrPersistentStore(None, None, "wk", DirFileSystem(str(tmp_path)))
    assert fresh._get_num_total_parameters() == 1
    assert fresh.get_parameter_sources([0]) == [{"type": "t"}]
    assert len(_param_arrays(path)[1]) == 2
    p = fresh.add_unset_parameter({"type": "next"})
    assert p == 1
    base, sources = _param_arrays(path)
    assert (len(base), len(sources)) == (2, 2)
    again = ZarrPersistentStore(None, None, path)
    assert again.get_parameter_sources([0, 1]) == [{"type": "t"}, {"type": "next"}]
    assert again.get_parameters([1])[0].is_set is False


def test_opening_a_local_store_drops_what_a_cut_off_append_left(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """On the local file system the next store to open it trims the longer sources
    array (under the store lock: a live append holds it until its last rename), so
    the engine's own store class, which appends sources at their own length, finds
    the arrays aligned."""
    path = tmp_path / "wk"
    store = _store(path)
    store.add_set_parameter({"x": 1}, {"type": "t"})
    _param_arrays(path)[1].append([{"type": "stray"}, {"type": "stray"}])
    fresh = ZarrPersistentStore(None, None, path)
    assert fresh.get_parameter_sources([0]) == [{"type": "t"}]
    base, sources = _param_arrays(path)
    assert (len(base), len(sources)) == (1, 1)
    assert "dropped 2 parameter source(s)" in caplog.text
    caplog.clear()
    ZarrPersistentStore(None, None, path).get_parameter_sources([0])
    assert "dropped" not in caplog.text


CRASHES = 12


def _run_writer_and_kill_it(
    path: Path, rng: random.Random, *args: str, durability: str = "normal"
) -> set[int]:
    """Run ``commit_writer.py`` on `path` (with `args`, its stores of the given
    durability), SIGKILL it after 0.6-1.4 s, and return the batch numbers it
    acknowledged."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env["WFSTORE_DURABILITY"] = durability
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "commit_writer.py"), str(path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    time.sleep(0.6 + rng.random() * 0.8)
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err
    return {int(line.split()[1]) for line in out.splitlines() if line.startswith("ACK")}


def test_writer_killed_at_random_moments(tmp_path: Path) -> None:
    """SIGKILL a committing writer again and again: the store always opens, every
    acknowledged batch is whole, and the next writer carries on from a consistent
    state. Half-applied commits are finished from their journal on open."""
    path = tmp_path / "wk"
    _store(path)
    rng = random.Random(7)
    acked: set[int] = set()
    for _ in range(CRASHES):
        acked |= _run_writer_and_kill_it(path, rng)

        store = ZarrPersistentStore(None, None, path)  # opening recovers journals
        n_elems = store._get_num_total_elements()
        n_iters = store._get_num_total_elem_iters()
        n_runs = store._get_num_total_EARs()
        n_params = store._get_num_total_parameters()
        # every commit is whole: the counts agree with each other ...
        assert (n_iters, n_runs, n_params) == (n_elems, 3 * n_elems, n_elems), (
            n_elems,
            n_iters,
            n_runs,
            n_params,
        )
        # ... and every acknowledged batch is there, whole
        assert acked <= set(range(n_elems))
        runs = store.get_EARs(range(n_runs))
        assert all(r.start_time is not None and r.success is True for r in runs)
        params = store.get_parameters(range(n_params))
        assert [q.data["batch"] for q in params] == list(range(n_elems))
        loops = store.get_loops()
        assert loops[0]["num_added_iterations"] == [[[0], n_elems]] or n_elems == 0
        assert store.get_tasks()[0].element_IDs == list(range(n_elems))
    assert len(acked) >= CRASHES, f"only {len(acked)} commits acknowledged"
    assert _no_temporaries(path) == [] or all(
        "tmp" in t for t in _no_temporaries(path)
    )  # a killed writer may leave a temporary file, never a journal
    _core.recover_journals(path)


@pytest.mark.parametrize("durability", ["normal", "full"])
def test_output_writer_killed_at_random_moments(tmp_path: Path, durability: str) -> None:
    """SIGKILL a writer that adds and sets parameters (the additions committed without
    a journal): every acknowledged parameter is there and set, every parameter there
    has its own source, the sources array is never shorter than the base array, and
    the next writer carries on, whatever the durability."""
    path = tmp_path / "wk"
    _store(path)
    rng = random.Random(11)
    acked: set[int] = set()
    for _ in range(CRASHES // 2):
        acked |= _run_writer_and_kill_it(path, rng, "params", durability=durability)

        base, sources = _param_arrays(path)
        assert len(sources) >= len(base)
        store = ZarrPersistentStore(None, None, path)
        n = store._get_num_total_parameters()
        assert acked <= set(range(n))
        assert store.get_parameter_sources(range(n)) == [{"type": "out", "n": i} for i in range(n)]
        # a parameter is set as written, or was added by a writer killed before it set
        # it (never acknowledged)
        for q in store.get_parameters(range(n)):
            assert (q.is_set and q.data == {"n": q.id_}) or (not q.is_set and q.id_ not in acked)
    assert len(acked) >= CRASHES // 2, f"only {len(acked)} outputs acknowledged"
    store = ZarrPersistentStore(None, None, path)
    store.add_unset_parameter({"type": "out", "n": n})
    base, sources = _param_arrays(path)
    assert len(base) == len(sources) == n + 1
    assert not [t for t in _no_temporaries(path) if "journal" in t]
