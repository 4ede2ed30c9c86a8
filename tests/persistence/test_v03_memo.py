"""The 0.3 Zarr store's decoded files (run files, parameter files, NPZ archives,
chunks, metadata) are validated by the store's change marker, as the a190 read cache
is (not by stat stamps, which an NFS client may serve from its attribute cache for up
to a minute): a reader sees another process's commit at its next read operation, and
with nothing written, repeated reads decode nothing again (decodes counted).

Process A is this test; process B (a subprocess) writes through wfstore's 0.3 store.
A's stat stamps are made useless ("nothing ever changed", as stale NFS attributes
say), so only the marker can tell A that B wrote.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import wfstore
from v03_helpers import finish_runs, make_submitted, output_params, run_value
from wfstore.common.names import CHANGE_MARKER_NAME
from wfstore.persistence.readcache import DIRTY, marker_counter
from wfstore.persistence.v03 import writes

HERE = Path(__file__).resolve().parent
N_RUNS = 6


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, side_python_v03: Path) -> Path:
    """A 0.3.0-made store of 6 runs (each its own run file), run 0 finished through
    wfstore (which leaves the change marker)."""
    path = make_submitted(side_python_v03, tmp_path_factory.mktemp("memo") / "made", N_RUNS)
    finish_runs(path, [0])
    return path


@pytest.fixture
def wk(tmp_path: Path, made: Path) -> Path:
    dst = tmp_path / "wk"
    shutil.copytree(made, dst)
    return dst


def _in_b(path: Path, code: str) -> None:
    """Run `code` in another process (``store`` is wfstore's store of `path`)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(HERE), *[p for p in sys.path if p and "wfstore" in p], env.get("PYTHONPATH", "")]
    )
    prog = "import wfstore, numpy as np\nfrom v03_helpers import *\n"
    prog += f"store = wfstore.open({str(path)!r})\n" + textwrap.dedent(code)
    res = subprocess.run(
        [sys.executable, "-c", prog], capture_output=True, text=True, env=env, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]


def _stale_stat_reader(path: Path) -> Any:
    """Store A, its stat stamps saying that nothing ever changes."""
    store = wfstore.open(path)
    store._memo_base = lambda key: "unchanged"
    return store


def _decodes(store: Any) -> dict[str, int]:
    return {
        "run_files": store._run_files.decodes,
        "param_files": store._param_files.decodes,
        "chunks": store._chunks.decodes,
        "archives": store._archives.decodes,
    }


def _record(store: Any, run: int, out: int) -> None:
    """Record `run`'s start, its output `out` and its end, one commit each, as a job
    does."""
    store.set_EAR_start(run, None, None)
    store.save()
    store.set_parameter_value(out, run_value(run))
    store.save()
    store.set_EAR_end(run, 0, True, False)
    store.save()


def _read_all(store: Any, outs: dict[int, int]) -> tuple[list[Any], list[Any]]:
    runs = [store.get_EARs([r])[0] for r in range(N_RUNS)]
    params = [store.get_parameters([outs[r]])[0].data for r in range(N_RUNS)]
    return [(r.start_time, r.end_time, r.exit_code) for r in runs], params


def test_other_process_run_end_and_output_seen_at_next_read(wk: Path) -> None:
    """B records run 1's start, output and end: A's next reads show them; before and
    after, reading everything again decodes nothing again."""
    assert (wk / CHANGE_MARKER_NAME).is_file()
    a = _stale_stat_reader(wk)
    outs = output_params(a, list(range(N_RUNS)))
    runs, params = _read_all(a, outs)
    assert runs[1][1] is None and params[1] is None
    assert runs[0][2] == 0 and params[0] == run_value(0)
    first = _decodes(a)
    reads = a._rcache.marker_reads
    for _ in range(3):
        assert _read_all(a, outs) == (runs, params)
    assert _decodes(a) == first  # nothing written: nothing decoded again
    assert a._rcache.marker_reads > reads  # (the marker was read at each operation)
    _in_b(wk, "finish_runs(store.path, [1])")
    runs2, params2 = _read_all(a, outs)
    assert runs2[1][1] is not None and runs2[1][2] == 1
    assert params2[1] == run_value(1)
    assert runs2[0] == runs[0] and runs2[2:] == runs[2:] and params2[2:] == params[2:]
    # B's commits named their files: only run 1's run file and output file were
    # decoded again (its run file read for the start, and again after the end)
    after = _decodes(a)
    assert after["run_files"] - first["run_files"] == 1
    assert after["param_files"] - first["param_files"] == 1
    assert after["chunks"] == first["chunks"]
    for _ in range(2):
        assert _read_all(a, outs) == (runs2, params2)
    assert _decodes(a) == after


def test_a_read_during_another_write_keeps_what_it_does_not_change(wk: Path) -> None:
    """While another store object records run 1's start (the marker dirty, naming run
    1's run file), a reader decodes nothing again (a dirty marker that named no keys
    made it forget everything); once the write is done, it sees the start, decoding
    that file alone."""
    a = _stale_stat_reader(wk)
    outs = output_params(a, list(range(N_RUNS)))
    before = _read_all(a, outs)
    first = _decodes(a)
    b = wfstore.open(wk)
    session = b._write_session
    seen: dict[str, Any] = {}

    @contextlib.contextmanager
    def spy(keys: list[str] | None = None, planned: bool = False) -> Iterator[None]:
        with session(keys, planned):
            if planned and "keys" not in seen:  # dirty, no file changed yet
                seen["keys"] = list(keys or ())
                seen["read"] = _read_all(a, outs)
                seen["decodes"] = _decodes(a)
            yield

    b._write_session = spy
    b.set_EAR_start(1, None, None)
    b.save()
    assert len(seen["keys"]) == 1 and seen["read"] == before
    assert seen["decodes"] == first  # (run 1's run file was not decoded before)
    runs, _ = _read_all(a, outs)
    assert runs[1][0] is not None and runs[0] == before[0][0]
    assert _decodes(a) == {**first, "run_files": first["run_files"] + 1}


def test_a_writer_dying_without_naming_its_keys_leaves_nothing_trusted(wk: Path) -> None:
    """A writer that made the marker dirty without naming what it changes, then died:
    every read operation decodes afresh (nothing decoded before or meanwhile is
    trusted, as the read cache sets its own aside); the next commit cannot name what
    the dead writer changed, so after it everything is decoded once more, then kept."""
    a = _stale_stat_reader(wk)
    outs = output_params(a, list(range(N_RUNS)))
    before = _read_all(a, outs)
    b = wfstore.open(wk)
    value = b._read_change_marker()
    b._write_change_marker(DIRTY, marker_counter(value) + 1)  # (then "died")
    counts = [_decodes(a)]
    for _ in range(2):
        assert _read_all(a, outs) == before
        counts.append(_decodes(a))
    for old, new in zip(counts, counts[1:]):
        assert new["run_files"] > old["run_files"] and new["chunks"] > old["chunks"]
    _in_b(wk, "finish_runs(store.path, [1])")
    runs, _ = _read_all(a, outs)
    assert runs[1][2] == 1 and runs[0] == before[0][0]
    after = _decodes(a)
    assert after["chunks"] > counts[-1]["chunks"]
    assert _read_all(a, outs)[0] == runs and _decodes(a) == after


def test_other_process_numpy_output_seen(wk: Path) -> None:
    """B records a numpy output of run 2 (an NPZ archive): A's next read shows it."""
    a = _stale_stat_reader(wk)
    outs = output_params(a, list(range(N_RUNS)))
    assert a.get_parameters([outs[2]])[0].data is None
    _in_b(
        wk,
        """
        outs = output_params(store, [2])
        store.set_EAR_start(2, None, None)
        store.save()
        store.set_parameter_values({outs[2]: np.arange(6.0).reshape(2, 3)})
        store.set_EAR_end(2, 0, True, False)
        store.save()
        """,
    )
    got = a.get_parameters([outs[2]])[0].data
    assert isinstance(got, np.ndarray) and np.array_equal(got, np.arange(6.0).reshape(2, 3))
    assert a.get_EARs([2])[0].end_time is not None


def test_other_process_rechunk_and_consolidation_seen(wk: Path) -> None:
    """B rechunks (sources and the run arrays) and then consolidates: A reads every
    value as before each time (its memos of the old chunks and files forgotten)."""
    _in_b(wk, "finish_runs(store.path, list(range(1, 6)))")
    a = _stale_stat_reader(wk)
    outs = output_params(a, list(range(N_RUNS)))
    before = _read_all(a, outs)
    _in_b(
        wk,
        """
        store.rechunk_parameter_base(chunk_size=2, backup=False, status=False)
        store.rechunk_runs(chunk_size=4, backup=False, status=False)
        """,
    )
    assert json.loads((wk / "parameters/sources/.zarray").read_text())["chunks"] == [2]
    assert json.loads((wk / "metadata/run_sub_dat/.zarray").read_text())["chunks"] == [4]
    assert _read_all(a, outs) == before
    _in_b(wk, "store.consolidate_runs(runs_per_file=4)")
    assert len(list((wk / "metadata/run_multi/0").rglob("*"))) < N_RUNS
    assert _read_all(a, outs) == before


def test_store_without_marker_falls_back_to_stat(wk: Path) -> None:
    """A store no wfstore writer marked (0.3.0's own): decoded files are validated by
    stat stamps; a replaced run file is read anew, an unchanged one is not."""
    (wk / CHANGE_MARKER_NAME).unlink()
    a = wfstore.open(wk)
    outs = output_params(a, list(range(N_RUNS)))
    first = _read_all(a, outs)
    n = _decodes(a)
    assert _read_all(a, outs) == first and _decodes(a) == n
    assert a._memo_mode == "base"


def test_store_without_marker_sees_changes_that_stat_would_miss(
    wk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a marker (every write by 0.3.0's own classes), a decoded file is
    validated by the attributes of the file opened (close-to-open on NFS), not by
    ``stat``, which an NFS client may answer from its attribute cache: with every
    ``stat`` of this process answered from such a cache, a run file another process
    replaced is still read anew at the next read."""
    _in_b(wk, "store.set_EAR_start(1, None, None)\nstore.save()")  # run 1's run file
    (wk / CHANGE_MARKER_NAME).unlink()
    a = wfstore.open(wk)
    outs = output_params(a, list(range(N_RUNS)))
    runs, _ = _read_all(a, outs)
    assert runs[1][0] is not None and runs[1][2] is None
    cached: dict[Any, os.stat_result] = {}
    real_stat = os.stat

    def attribute_cache(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        key = (os.fspath(path), args, tuple(sorted(kwargs.items())))
        if key not in cached:
            cached[key] = real_stat(path, *args, **kwargs)
        return cached[key]

    monkeypatch.setattr(os, "stat", attribute_cache)
    _read_all(a, outs)  # every file's attributes now cached
    _in_b(wk, "finish_runs(store.path, [1])")
    (wk / CHANGE_MARKER_NAME).unlink()  # as if 0.3.0's own classes had written
    runs2, params2 = _read_all(a, outs)
    assert runs2[1][2] == 1 and params2[1] == run_value(1)
    assert runs2[2:] == runs[2:]


def test_own_commits_decode_no_shared_chunk_again(wk: Path) -> None:
    """A job records its runs' starts, outputs and ends through its own store object,
    reading between the commits as the engine does: the shared chunks its commits read
    (parameter sources, run_sub_dat, ...) are decoded once, not again per commit (a
    commit bypasses only what it staged); what it wrote reads back at once."""
    a = wfstore.open(wk)
    outs = output_params(a, list(range(N_RUNS)))

    def record(r: int) -> None:
        a.set_EAR_start(r, None, None)
        a.save()
        assert a.get_EARs([r])[0].start_time is not None
        a.set_parameter_value(outs[r], run_value(r))  # (as the engine's save_parameter)
        a.save()
        a.set_EAR_end(r, r % 5, r % 2 == 0, False)
        a.save()

    record(1)
    chunks = a._chunks.decodes
    for r in (2, 3, 4):
        record(r)
    assert a._chunks.decodes == chunks  # nothing shared decoded again
    runs, params = _read_all(a, outs)
    assert [r[2] for r in runs[1:5]] == [1, 2, 3, 4]
    assert params[1:5] == [run_value(r) for r in (1, 2, 3, 4)]
    # and another process reads the same
    b = wfstore.open(wk)
    assert _read_all(b, outs) == (runs, params)


def test_array_attributes_and_run_sub_dat_layout_kept_across_a_jobs_commits(
    wk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every decode of a run, element or iteration needs its array's attributes
    (lookup lists), and every commit of a run's fields reads ``run_sub_dat``: both are
    kept while valid (a job read them again at every call and commit: 15 files per
    run), forgotten when a commit names them; the run folders are one read operation
    (one marker read)."""
    from wfstore.persistence.v03 import zarr_store

    a = wfstore.open(wk)
    outs = output_params(a, list(range(N_RUNS)))
    a.get_elements([0])
    a.get_element_iterations([0])
    paths = ("metadata/run_metadata", "metadata/elements", "metadata/iters")
    held = [a._array_attrs(p) for p in paths]
    assert all(isinstance(h, dict) and h for h in held)
    readers: list[str] = []

    class Counting(zarr_store._StructReader):  # type: ignore[misc,name-defined]
        def __init__(self, path: str, *args: Any) -> None:
            readers.append(path)
            super().__init__(path, *args)

    monkeypatch.setattr(zarr_store, "_StructReader", Counting)
    metas = 0
    for r in (1, 2, 3):
        _record(a, r, outs[r])
        assert a.get_EARs([r])[0].end_time is not None
        if r == 1:  # (the first commit reads what no read had read yet)
            metas, readers[:] = a._metas.decodes, []
    assert a._metas.decodes == metas and readers == []
    assert all(a._array_attrs(p) is h for p, h in zip(paths, held))
    a._forget_memos(["metadata/elements/.zattrs"])  # (as a commit naming them)
    assert a._array_attrs("metadata/elements") is not held[1]
    reads = a._rcache.marker_reads
    a.get_dirs_array()
    assert a._rcache.marker_reads == reads + 1


def test_a_run_file_written_by_this_object_is_kept_as_written(wk: Path) -> None:
    """A job's run start or end rewrites its run file; the next read takes the file as
    it was written (no decode), unless another commit came between (then it is read
    again, and shows both)."""
    a = wfstore.open(wk)
    a.get_EARs([1, 2, 3])
    a.set_EAR_start(1, None, None)
    a.save()
    decodes = a._run_files.decodes
    assert a.get_EARs([1])[0].start_time is not None
    assert a._run_files.decodes == decodes
    a.set_EAR_end(1, 0, True, False)
    a.save()
    assert a.get_EARs([1])[0].exit_code == 0
    assert a._run_files.decodes == decodes
    # another process's commit to the same file after this one's: what was kept is
    # not used
    a.set_EAR_start(2, None, None)
    a.save()
    _in_b(wk, "store.set_EAR_end(2, 4, False, False)\nstore.save()")
    got = a.get_EARs([2])[0]
    assert got.start_time is not None and got.exit_code == 4
    assert a._run_files.decodes == decodes + 1
    # another process's commit to another file: what was kept is used
    a.get_EARs([5])
    a.set_EAR_start(4, None, None)
    a.save()
    _in_b(wk, "store.set_EAR_end(5, 6, False, False)\nstore.save()")
    decodes = a._run_files.decodes
    assert a.get_EARs([4])[0].start_time is not None
    assert a._run_files.decodes == decodes
    assert a.get_EARs([5])[0].exit_code == 6
    assert wfstore.open(wk).get_EARs([1])[0].exit_code == 0


def test_a_parameter_file_written_by_this_object_is_kept_as_written(
    wk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job's output value goes into its run's parameter file inside the commit's
    transaction; the next read takes the file as it was written (no decode), and
    another process's commit to another file leaves it kept. A commit that fails
    after staging a file keeps nothing of it (a later commit of this object must not
    make the staged file look written)."""
    a = wfstore.open(wk)
    outs = output_params(a, [1, 2, 3, 4])
    a.get_parameters(list(outs.values()))
    a.set_parameter_value(outs[1], run_value(1))
    a.save()
    decodes = a._param_files.decodes
    assert a.get_parameters([outs[1]])[0].data == run_value(1)
    assert a._param_files.decodes == decodes
    _in_b(wk, f"store.set_parameter_value({outs[2]}, run_value(2))\nstore.save()")
    got = a.get_parameters([outs[1], outs[2]])
    assert [p.data for p in got] == [run_value(1), run_value(2)]
    assert a._param_files.decodes == decodes + 1  # run 2's file only

    # a commit of two files whose second write fails after the first was staged
    staged: list[int] = []
    real = writes.update_param_file

    def second_fails(store: Any, sub_idx: int, number: int, *args: Any) -> Any:
        staged.append(number)
        if len(staged) == 2:
            raise OSError(28, "No space left on device")
        return real(store, sub_idx, number, *args)

    monkeypatch.setattr(writes, "update_param_file", second_fails)
    a.set_parameter_value(outs[3], run_value(3), save=False)
    a.set_parameter_value(outs[4], run_value(4), save=False)
    with pytest.raises(OSError, match="No space"):
        a.save()
    monkeypatch.undo()
    assert len(staged) == 2
    a._pending.reset()
    a.set_EAR_start(5, None, None)  # (this object's next commit)
    a.save()
    assert not a.get_parameters([outs[3]])[0].is_set
    assert not wfstore.open(wk).get_parameters([outs[3]])[0].is_set


def test_a_jobs_file_update_takes_the_file_from_the_memo_under_the_lock(
    wk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's start, end or output value rewrites a file under the store lock; when
    the change marker read under the lock shows no commit since the memos were last
    validated, the file's entries come from the memo (no read, no decode); when
    another process committed in between, the file is read again and both changes
    are kept."""
    decoded: list[str] = []
    for name in ("decode_run_file", "decode_param_file"):
        real = getattr(writes, name)

        def counting(raw: bytes, key: str, real: Any = real) -> Any:
            decoded.append(key)
            return real(raw, key)

        monkeypatch.setattr(writes, name, counting)
    a = wfstore.open(wk)
    outs = output_params(a, [1, 2])
    a.get_parameters([outs[1], outs[2]])
    a.set_EAR_start(1, None, None)
    a.set_parameter_value(outs[1], run_value(1))
    a.set_EAR_end(1, 0, True, False)
    a.set_EAR_start(2, None, None)
    assert decoded == []
    # another process's commit to run 2's file (held by the memo as this object
    # wrote it) after this object's check of the marker and before it takes the lock
    real_writer = type(a)._file_writer

    def commit_between(self: Any) -> Any:
        monkeypatch.setattr(type(a), "_file_writer", real_writer)
        _in_b(wk, "store.set_EAR_skip({2: 3})\nstore.save()")
        return real_writer(self)

    monkeypatch.setattr(type(a), "_file_writer", commit_between)
    a.set_EAR_end(2, 5, False, False)
    assert len(decoded) == 1
    b = wfstore.open(wk)
    run1, run2 = b.get_EARs([1, 2])
    assert run1.start_time is not None and run1.exit_code == 0
    assert run2.start_time is not None and run2.exit_code == 5 and run2.skip == 3
    assert b.get_parameters([outs[1]])[0].data == run_value(1)


def test_a_tasks_elements_are_one_read_operation(wk: Path) -> None:
    """``get_task_elements`` and ``get_element_iteration_dicts`` read the marker once
    each (not once per kind of item they read)."""
    a = wfstore.open(wk)
    reads = a._rcache.marker_reads
    elems = list(a.get_task_elements(0, [0, 1]))
    assert [e["id_"] for e in elems] == [0, 1] and elems[0]["iterations"][0]["EARs"]
    assert a._rcache.marker_reads == reads + 1
    a.get_element_iteration_dicts([0, 1])
    assert a._rcache.marker_reads == reads + 2


@pytest.fixture(scope="module")
def made_shared(tmp_path_factory: pytest.TempPathFactory, side_python_v03: Path) -> Path:
    """A 0.3.0-made store of 6 runs of one jobscript that is not an array (one run
    file and one output parameter file for all), run 0 finished through wfstore."""
    out = tmp_path_factory.mktemp("memo") / "shared"
    path = make_submitted(side_python_v03, out, N_RUNS, shared=True)
    finish_runs(path, [0])
    return path


def test_outputs_to_a_shared_parameter_file_decode_it_once(
    made_shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job's runs share their jobscript's parameter file, which each output rewrites
    inside its commit's transaction: the file is decoded at the first output only, then
    taken from the memo under the lock while no other process commits (without, every
    output decoded the whole file again, as it grows). When another process commits to
    that file after this one's check of the marker and before it takes the lock, the
    file is read again under the lock, and every value is kept."""
    wk = tmp_path / "wk"
    shutil.copytree(made_shared, wk)
    decoded: list[str] = []
    real = writes.decode_param_file

    def counting(raw: bytes, key: str) -> Any:
        decoded.append(key)
        return real(raw, key)

    monkeypatch.setattr(writes, "decode_param_file", counting)
    a = wfstore.open(wk)
    runs = list(range(1, N_RUNS))
    assert len({r.run_file_ID for r in a.get_EARs(runs)}) == 1  # (one file for all)
    outs = output_params(a, runs)

    def decodes() -> int:  # (by the memo, for a read; by the writer, for a rewrite)
        return a._param_files.decodes + len(decoded)

    for r in (1, 2, 3):
        _record(a, r, outs[r])
    assert decodes() == 1  # (run 0's output, written by another object, read once)
    real_writer = type(a)._file_writer

    def commit_between(self: Any) -> Any:  # (in run 5's output commit only)
        if a._in_txn:
            monkeypatch.setattr(type(a), "_file_writer", real_writer)
            _in_b(wk, f"store.set_parameter_value({outs[4]}, run_value(4))\nstore.save()")
        return real_writer(self)

    monkeypatch.setattr(type(a), "_file_writer", commit_between)
    _record(a, 5, outs[5])
    assert type(a)._file_writer is real_writer  # (B committed in between)
    assert decodes() == 2
    b = wfstore.open(wk)
    got = b.get_parameters([output_params(b, [0])[0], *outs.values()])
    assert [p.data for p in got] == [run_value(r) for r in range(N_RUNS)]


def test_an_output_without_arrays_looks_up_no_run(
    wk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a run output's numpy arrays go is worked out from its run (through the
    engine's run objects, when there is a workflow) only when the value has arrays:
    a job's plain values do not pay for it."""
    from wfstore.persistence.v03.zarr_writes import V03ZarrWrites

    a = wfstore.open(wk)
    outs = output_params(a, [1, 2])
    looked: list[int] = []
    real = V03ZarrWrites._array_output_target

    def counting(self: Any, param_id: int, source: Any) -> Any:
        looked.append(param_id)
        return real(self, param_id, source)

    monkeypatch.setattr(V03ZarrWrites, "_array_output_target", counting)
    a.set_parameter_value(outs[1], run_value(1))
    a.save()
    assert looked == []
    a.set_parameter_value(outs[2], {"x": np.arange(3.0), "y": np.ones(2)})
    a.save()
    assert looked == [outs[2]]
    got = wfstore.open(wk).get_parameters([outs[1], outs[2]])
    assert got[0].data == run_value(1)
    assert np.array_equal(got[1].data["x"], np.arange(3.0))


def test_tasks_decoded_once_while_nothing_changes(
    wk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine asks for the tasks at most calls: they are decoded (root attributes
    and the tasks array) once, not per call, and again after a commit that names the
    tasks array or the root attributes."""
    a = _stale_stat_reader(wk)
    calls: list[list[int]] = []
    orig = type(a)._decode_tasks

    def counting(self: Any, ids: list[int]) -> Any:
        calls.append(list(ids))
        return orig(self, ids)

    monkeypatch.setattr(type(a), "_decode_tasks", counting)
    first = a.get_tasks()
    for _ in range(3):
        assert [t.element_IDs for t in a.get_tasks()] == [t.element_IDs for t in first]
    assert len(calls) == 1
    _in_b(wk, "finish_runs(store.path, [2])")  # (no task changed: kept)
    a.get_tasks()
    assert len(calls) == 1
    a._forget_memos([".zattrs"])  # (as a commit naming the root attributes)
    a.get_tasks()
    assert len(calls) == 2
    # a task handed out has a list of its own (the engine adds to the lists it holds)
    mine = a.get_tasks()[0]
    mine.element_IDs += [10**6]
    assert 10**6 not in a.get_tasks()[0].element_IDs
    assert len(calls) == 2
