"""wfstore builds hpcflow 0.3 Zarr stores through the store API (without the engine):
``write_empty_workflow`` lays out 0.3.0's arrays; tasks, elements, iterations, runs,
parameters, loops and a submission are committed in one transaction each save and read
back as given; a commit that fails writes nothing and leaves the changes pending; the
jobscript-block dependencies are encoded as 0.3.0's ``js_deps`` records (property test
against the reader's decoder). The engine's own round trip (build, submit, read by
0.3.0's own classes) is tests/engine/test_v03_engine_build.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fsspec.implementations.local import LocalFileSystem
from hypothesis import given, settings
from hypothesis import strategies as st
from wfstore.persistence.readcache import group_marker_offset, marker_counter, marker_in_group
from wfstore.persistence.v03 import (
    V03JSONPersistentStore,
    V03PersistentStore,
    V03ZarrPersistentStore,
    layout,
)
from wfstore.persistence.v03.blocks import encode_block_dependencies
from wfstore.persistence.v03.zarr_store import decode_block_dependencies

TS = "%Y-%m-%d %H:%M:%S.%f"


KINDS: dict[str, type[V03PersistentStore]] = {
    "zarr": V03ZarrPersistentStore,
    "json": V03JSONPersistentStore,
}


def _new_store(path: Path, kind: str = "zarr") -> Any:
    KINDS[kind].write_empty_workflow(
        None,
        template_js={"tasks": [], "loops": [], "name": "wk"},
        template_components_js={},
        wk_path=str(path),
        fs=LocalFileSystem(),
        name="wk",
        replaced_wk=None,
        ts_fmt=TS,
        ts_name_fmt="%Y-%m-%d_%H%M%S",
        creation_info={"app_info": {}, "create_time": "t", "id": "x"},
    )
    return KINDS[kind](None, None, path)


def _zarray(path: Path, arr: str) -> dict[str, Any]:
    return json.loads((path / arr / ".zarray").read_text())


def test_empty_workflow_has_03_layout(tmp_path: Path) -> None:
    path = tmp_path / "wk"
    store = _new_store(path)
    for arr, chunk in (
        (layout.TASKS_ARR, 100),
        (layout.ELEMS_ARR, 100_000),
        (layout.ITERS_ARR, 100_000),
        (layout.RUN_META_ARR, 200_000),
        (layout.RUN_SUB_DAT_ARR, 200_000),
        (layout.RUN_DIRS_ARR, 100_000),
        (layout.PARAM_SOURCES_ARR, 100_000),
    ):
        meta = _zarray(path, arr)
        assert meta["chunks"] == [chunk] and meta["shape"] == [0], arr
        # 0.3.0's metadata group is a nested directory store; its sources array is not
        sep = "." if arr.startswith("parameters/") else "/"
        assert meta["dimension_separator"] == sep, arr
    assert json.loads((path / layout.PARAM_SOURCES_ARR / ".zattrs").read_text()) == {
        "num_non_output_params": 0
    }
    sub_dat = _zarray(path, layout.RUN_SUB_DAT_ARR)
    assert sub_dat["dtype"] == [
        ["submission_idx", "|u1"],
        ["commands_file_ID", "<u4"],
        ["run_file_ID", "<u2"],
        ["run_file_idx", "<u4"],
    ]
    assert sub_dat["fill_value"] == "//////////////8="  # all ones, as 0.3.0 writes it
    assert store.get_tasks() == [] and store._get_num_total_EARs() == 0


def _build(store: V03ZarrPersistentStore) -> dict[str, Any]:
    """One task of two elements, one iteration each, one run per iteration, their
    parameters (inputs set, outputs unset), a submission of one jobscript; saved."""
    out: dict[str, Any] = {}
    with store.batch_update():
        t = store.add_task(0, {"name": "t1", "element_sets": []}, 1, save=False)
        p_in = [
            store.add_set_parameter(v, {"type": "local_input", "task_insert_ID": 0}, save=False)
            for v in (1, {"x": (2, 3)})
        ]
        p_out = [
            store.add_unset_parameter({"type": "EAR_output", "output_idx": 0}, save=False)
            for _ in range(2)
        ]
        elems = store.add_elements(t, 0, [{"inputs.p1": 0}, {"inputs.p1": 1}], [{}, {}], False)
        iters = store.add_element_iterations(
            elems,
            [{"inputs.p1": p_in[i], "outputs.p2": p_out[i]} for i in range(2)],
            [["inputs.p1", "outputs.p2"]] * 2,
            t,
            0,
            save=False,
        )
        runs = [
            store.add_EAR(
                it, 0, [0], {"inputs.p1": p_in[i], "outputs.p2": p_out[i]}, t, i, 0, save=False
            )
            for i, it in enumerate(iters)
        ]
        for i, r in enumerate(runs):
            store.update_param_source({p_out[i]: {"EAR_ID": r}}, save=False)
    out.update(task=t, elems=elems, iters=iters, runs=runs, p_in=p_in, p_out=p_out)
    return out


@pytest.mark.parametrize("kind", ["zarr", "json"])
def test_build_reads_back(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "wk"
    b = _build(_new_store(path, kind))
    store = KINDS[kind](None, None, path)  # a fresh object: from disk
    (task,) = store.get_tasks()
    assert task.element_IDs == b["elems"]
    elems = store.get_elements(b["elems"])
    assert [e.iteration_IDs for e in elems] == [[i] for i in b["iters"]]
    its = store.get_element_iterations(b["iters"])
    assert [it.EAR_IDs for it in its] == [{0: [r]} for r in b["runs"]]
    runs = store.get_EARs(b["runs"])
    assert [r.data_idx["inputs.p1"] for r in runs] == b["p_in"]
    assert all(r.submission_idx is None and r.skip == 0 for r in runs)
    params = store.get_parameters(b["p_in"])
    assert [p.data for p in params] == [1, {"x": (2, 3)}]
    srcs = store.get_parameter_sources([*b["p_in"], *b["p_out"]])
    assert [s.get("EAR_ID") for s in srcs[2:]] == b["runs"]
    assert store.get_parameter_set_statuses(b["p_out"]) == [False, False]
    if kind == "zarr":  # (0.3.0's JSON sources have no non_output_idx)
        assert [s.get("non_output_idx") for s in srcs] == [0, 1, None, None]
        attrs = json.loads((path / layout.PARAM_SOURCES_ARR / ".zattrs").read_text())
        assert attrs == {"num_non_output_params": 2}


@pytest.mark.parametrize("kind", ["zarr", "json"])
def test_submission_data_run_dirs_and_outputs(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "wk"
    b = _build(_new_store(path, kind))
    store = KINDS[kind](None, None, path)
    sub = {
        "index": 0,
        "at_submit_metadata": {"submission_parts": {}},
        "jobscripts": [
            {
                "index": 0,
                "blocks": [
                    {
                        "index": 0,
                        "EAR_ID": [b["runs"]],
                        "task_elements": {0: list(b["elems"])},
                        "task_actions": [[0, 0, 0]],
                        "dependencies": {},
                    }
                ],
            }
        ],
    }
    with store.batch_update():
        store.add_submission(0, sub, save=False)
        for i, r in enumerate(b["runs"]):
            store.set_run_submission_data(r, None, 0, 0, i, save=False)
        dirs = np.array([(0, i, 0, 0, 0, 1, 1) for i in range(2)], dtype=layout.RUN_DIRS_DTYPE)
        store.set_run_dirs(dirs, np.array(b["runs"]), save=False)
        store.update_at_submit_metadata(0, {"2026-01-01 00:00:00.0": [0]}, save=False)
        store.set_jobscript_metadata(0, 0, submit_cmdline=["bash", "x"], process_ID=7, shell_idx=0)
        # pending submission data shows in get_EARs before the commit
        assert [r.run_file_idx for r in store.get_EARs(b["runs"])] == [0, 1]
    store.set_multi_run_starts(b["runs"], [None, None], 1234)
    store.set_parameter_values({b["p_out"][0]: 101, b["p_out"][1]: [102]})
    store = KINDS[kind](None, None, path)
    runs = store.get_EARs(b["runs"])
    sub_dat = [(r.submission_idx, r.commands_file_ID, r.run_file_ID, r.run_file_idx) for r in runs]
    assert sub_dat == [(0, None, 0, 0), (0, None, 0, 1)]
    assert all(r.port_number == 1234 and r.start_time is not None for r in runs)
    assert store.get_dirs_array().tolist() == dirs.tolist()
    assert [p.data for p in store.get_parameters(b["p_out"])] == [101, [102]]
    (sub_read,) = store.get_submissions().values()
    js_doc = sub_read["jobscripts"][0]
    given = (sub_read.get("at_submit_metadata"), js_doc.get("at_submit_metadata"))
    if kind == "zarr":  # (kept apart from the document: the getters read them)
        given = (None, None)
    assert store.get_submission_at_submit_metadata(0, given[0]) == {
        "submission_parts": {"2026-01-01 00:00:00.0": [0]}
    }
    md = store.get_jobscript_at_submit_metadata(0, 0, given[1])
    assert md["submit_cmdline"] == ["bash", "x"] and md["process_ID"] == 7
    blk = js_doc["blocks"][0]
    assert sub_read["jobscripts"][0]["shell_idx"] == 0
    if kind == "json":  # kept in the document, passed back in by the engine
        assert blk["EAR_ID"] == [b["runs"]] and blk["task_elements"] == {0: b["elems"]}
        return
    assert blk["EAR_ID"] is None  # moved to the submission group, as 0.3.0 does
    assert store.get_jobscript_block_run_ID_array(0, 0, 0, None).tolist() == [b["runs"]]
    assert store.get_jobscript_block_task_elements_map(0, 0, 0, None) == {0: b["elems"]}
    assert store.get_jobscript_block_task_actions_array(0, 0, 0, None).tolist() == [[0, 0, 0]]
    assert store.get_jobscript_block_dependencies(0, 0, 0, None) == {}


@pytest.mark.parametrize("kind", ["zarr", "json"])
def test_failed_commit_writes_nothing_and_stays_pending(
    tmp_path: Path, monkeypatch, kind: str
) -> None:
    path = tmp_path / "wk"
    store = _new_store(path, kind)
    before = {p: p.read_bytes() for p in path.rglob("*") if p.is_file() and "wfstore" not in p.name}

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr(KINDS[kind], "_update_iter_data_indices", boom)
    with pytest.raises(RuntimeError, match="injected"):
        with store.batch_update():
            t = store.add_task(0, {"name": "t1", "element_sets": []}, 1, save=False)
            store.add_elements(t, 0, [{}], [{}], save=False)
            store.update_iter_data_indices({0: {"inputs.p1": 0}})
    after = {p: p.read_bytes() for p in path.rglob("*") if p.is_file() and "wfstore" not in p.name}
    assert after == before
    fresh = KINDS[kind](None, None, path)
    assert fresh.get_tasks() == []


_ints = st.integers(0, 2**31 - 1)
_deps = st.dictionaries(
    st.tuples(st.integers(0, 50), st.integers(0, 5)),
    st.fixed_dictionaries(
        {
            "js_element_mapping": st.dictionaries(_ints, st.lists(_ints, max_size=4), max_size=4),
            "is_array": st.booleans(),
        }
    ),
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 5), _deps), max_size=5))
def test_block_dependencies_encode_as_the_reader_decodes(blocks: list[Any]) -> None:
    flat: list[int] = []
    expected: dict[Any, Any] = {}
    for js, blk, deps in blocks:
        flat += encode_block_dependencies(js, blk, deps)
        expected[(js, blk)] = deps
    assert decode_block_dependencies(flat) == expected


def test_array_outputs_match_the_engine(tmp_path: Path, side_python_v03: Path) -> None:
    """Numpy arrays in run outputs: wfstore writes them to 0.3.0's NPZ archives, the
    same files (byte for byte) as 0.3.0's own store writes for the same calls on a copy
    of the same store, and both stores read the same through 0.3.0's classes and
    wfstore's."""
    import os
    import shutil
    import subprocess
    import sys

    import wfstore

    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    from store_dump import dump_store, normalise
    from v03_engine_write import apply_arrays

    fixture = here.parent / "data" / "hpcflow-0.3.0" / "wk_seq_zarr"
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    shutil.copytree(fixture, ours)
    shutil.copytree(fixture, theirs)
    apply_arrays(wfstore.open(ours))
    env = {**os.environ, "HOME": str(tmp_path)}
    for args in (
        [str(here / "v03_engine_write.py"), "--arrays", str(theirs)],
        [str(here.parent / "data" / "make_fixtures.py"), "--dump", str(ours), str(theirs)],
    ):
        proc = subprocess.run(
            [str(side_python_v03), *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
    dumps = json.loads(proc.stdout)
    assert normalise(dumps["ours"]) == normalise(dumps["theirs"])
    found = (ours / layout.ARRAY_OUTPUTS_DIR).rglob("*.zst")
    archives = sorted(p.relative_to(ours).as_posix() for p in found)
    assert archives == [
        "parameters/array_outputs/p2.a/0/0.npz.zst",
        "parameters/array_outputs/p2/0/0.npz.zst",
    ]
    for rel in archives:
        assert (ours / rel).read_bytes() == (theirs / rel).read_bytes(), rel
    mine = normalise(dump_store(wfstore.open(ours), "zarr", "0.3.0"))
    assert mine == normalise(dump_store(wfstore.open(theirs), "zarr", "0.3.0"))
    values = wfstore.open(ours).get_parameters([6, 8, 9])
    assert values[0].data.tolist() == [0, 1, 2, 3]
    assert values[1].data.tolist() == list(range(6))
    assert values[2].data.tolist() == list(range(10, 0, -1))


@pytest.mark.parametrize("kind", ["zarr", "json"])
def test_data_indices_and_loops(tmp_path: Path, kind: str) -> None:
    """``update_iter_data_indices`` / ``update_run_data_indices`` (committed by the next
    save, as 0.3.0's) merge into the rows; ``add_loop`` keeps ``output_parameters``."""
    path = tmp_path / "wk"
    store = _new_store(path, kind)
    b = _build(store)
    store.update_iter_data_indices({b["iters"][0]: {"inputs.p9": 42}})
    store.update_run_data_indices({b["runs"][1]: {"outputs.p9": 43}})
    assert store.has_pending
    store.add_loop(
        {"name": "lp", "tasks": [0], "num_iterations": 2},
        {"p1": {"input_task": 0, "output_tasks": [0]}},
        {"p2": 0},
        [],
        {(): 1},
        b["iters"],
    )
    fresh = KINDS[kind](None, None, path)
    it = fresh.get_element_iterations([b["iters"][0]])[0]
    assert it.data_idx["inputs.p9"] == 42 and it.data_idx["inputs.p1"] == b["p_in"][0]
    assert it.loop_idx == {"lp": 0}
    run = fresh.get_EARs([b["runs"][1]])[0]
    assert run.data_idx["outputs.p9"] == 43 and run.data_idx["inputs.p1"] == b["p_in"][1]
    (loop,) = fresh.get_loops().values()
    assert loop["output_parameters"] == {"p2": 0}
    assert loop["num_added_iterations"] == [[[], 1]]


def test_new_store_keeps_marker_and_lock_in_its_root_group(tmp_path: Path) -> None:
    """A store wfstore creates has no files beyond 0.3.0's: the change marker is in
    its root .zgroup (still a Zarr group document, as zarr-python reads it) and the
    store lock is taken on that file."""
    zarr = pytest.importorskip("zarr")
    path = tmp_path / "wk"
    store = _new_store(path)
    with store.batch_update():
        store.add_task(0, {"name": "t1", "element_sets": []}, 1, save=False)
    assert store.store_lock.path == path / ".zgroup"
    assert not [p for p in path.rglob("*") if p.name.startswith(".wfstore")]
    doc = (path / ".zgroup").read_bytes()
    counter = marker_counter(marker_in_group(doc, group_marker_offset(doc)))
    assert counter >= 2  # advanced by the commit (dirty, then clean)
    assert zarr.open_group(str(path), mode="r").attrs["tasks"]


def test_root_attributes_written_compact(tmp_path: Path) -> None:
    """The root attributes (0.3.0's template, with integers beyond 64 bits kept) are
    compact JSON with sorted keys, read by zarr-python as written; array metadata
    stays as zarr writes it."""
    zarr = pytest.importorskip("zarr")
    path = tmp_path / "wk"
    store = _new_store(path)
    with store.batch_update():
        store.add_task(0, {"name": "t1", "seed": 2**100, "element_sets": []}, 1, save=False)
    doc = (path / ".zattrs").read_bytes()
    attrs = json.loads(doc)
    assert attrs["template"]["tasks"][0]["seed"] == 2**100
    assert doc == json.dumps(attrs, sort_keys=True, separators=(",", ":")).encode()
    assert zarr.open_group(str(path), mode="r").attrs.asdict() == attrs
    assert (path / "metadata" / "elements" / ".zarray").read_text().startswith('{\n    "')
