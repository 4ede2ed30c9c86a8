"""Store item encodings (JSON objects and the Zarr row layout of hpcflow 0.2.0a190)."""

from __future__ import annotations

import copy
import pickle
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wfstore.persistence import (
    JsonStoreElementIter,
    StoreParameter,
    ZarrStoreEAR,
    ZarrStoreElement,
    ZarrStoreElementIter,
)
from wfstore.persistence.items import IDList, ZarrStoreTask

TS = "%Y-%m-%d %H:%M:%S.%f"


def test_zarr_element_row_and_lookup_attrs() -> None:
    attrs: dict = {"seq_idx": ["inputs.p0"], "src_idx": []}
    elem = ZarrStoreElement(
        id_=3,
        is_pending=True,
        index=1,
        es_idx=0,
        seq_idx={"inputs.p1": 2},
        src_idx={"inputs.p1": 0},
        task_ID=0,
        iteration_IDs=[4, 5],
    )
    row = elem.encode(attrs)
    assert row == [3, 1, 0, [[1, 2]], [[0, 0]], 0, [4, 5]]
    assert attrs == {"seq_idx": ["inputs.p0", "inputs.p1"], "src_idx": ["inputs.p1"]}
    back = ZarrStoreElement.decode(row, attrs)
    assert back.seq_idx == {"inputs.p1": 2} and back.is_pending is False


def test_zarr_iter_row() -> None:
    attrs: dict = {"loops": [], "schema_parameters": [], "parameter_paths": []}
    it = ZarrStoreElementIter(
        id_=0,
        is_pending=False,
        element_ID=2,
        EARs_initialised=True,
        EAR_IDs={0: [1, 2]},
        data_idx={"inputs.p1": 7},
        schema_parameters=["inputs.p1"],
        loop_idx={"L": 1},
    )
    row = it.encode(attrs)
    assert row == [0, 2, 1, [[0, [1, 2]]], [[0, 7]], [0], [[0, 1]]]
    assert ZarrStoreElementIter.decode(row, attrs) == it
    no_runs = ZarrStoreElementIter.decode([1, 2, 0, None, [], [], []], attrs)
    assert no_runs.EAR_IDs is None and no_runs.EARs_initialised is False


def test_zarr_run_row_and_timestamps() -> None:
    attrs: dict = {"parameter_paths": []}
    start = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=timezone.utc)
    run = ZarrStoreEAR(
        id_=9,
        is_pending=False,
        elem_iter_ID=1,
        action_idx=2,
        commands_idx=[0, 1],
        data_idx={"outputs.p2": 4},
        submission_idx=0,
        skip=False,
        success=True,
        start_time=start,
        exit_code=0,
        metadata={},
        run_hostname="h",
    )
    row = run.encode(TS, attrs)
    assert row == [
        9,
        1,
        2,
        [[0, 4]],
        0,
        False,
        True,
        "2026-01-02 03:04:05.600000",
        None,
        None,
        None,
        0,
        {},
        "h",
        [0, 1],
    ]
    back = ZarrStoreEAR.decode(row, TS, attrs)
    assert back.start_time == start and back.start_time.tzinfo is not None
    assert back.end_time is None and back.commands_idx == [0, 1]


def test_json_iter_keys() -> None:
    it = JsonStoreElementIter.decode(
        {
            "id_": 0,
            "element_ID": 0,
            "EARs_initialised": False,
            "EAR_IDs": {"1": [3]},
            "data_idx": {},
            "schema_parameters": [],
            "loop_idx": {},
        },
    )
    assert it.EAR_IDs == {1: [3]}
    assert it.append_EAR_IDs({1: [4], 0: [5]}).EAR_IDs == {1: [3, 4], 0: [5]}
    assert it.EAR_IDs == {1: [3]}  # copies, not mutation
    assert it.encode()["EAR_IDs"] == {"1": [3]}


def test_parameter_decode_copies_unless_fresh() -> None:
    row = {"data": {"a": [1, 2], "t": [3, 4]}, "type_lookup": {"tuples": [["t"]]}}
    copied = StoreParameter.decode(0, row, {"type": "x"})
    assert copied.data == {"a": [1, 2], "t": (3, 4)}
    copied.data["a"].append(9)
    assert row["data"]["a"] == [1, 2]  # the (possibly cached) row is untouched
    # rows read just for this call are used as they are (no deep copy)
    fresh = StoreParameter.decode(1, row, {"type": "x"}, fresh=True)
    assert fresh.data == {"a": [1, 2], "t": (3, 4)}
    assert fresh.data["a"] is row["data"]["a"]


# --- a task's element IDs: list.index as a lookup ----------------------------------

_OPS = st.one_of(
    st.tuples(st.just("append"), st.integers(0, 20)),
    st.tuples(st.just("insert"), st.integers(-5, 25), st.integers(0, 20)),
    st.tuples(st.just("setitem"), st.integers(0, 30), st.integers(0, 20)),
    st.tuples(st.just("delitem"), st.integers(0, 30)),
    st.tuples(st.just("extend"), st.lists(st.integers(0, 20), max_size=4)),
    st.tuples(st.just("iadd"), st.lists(st.integers(0, 20), max_size=4)),
    st.tuples(st.just("imul"), st.integers(0, 2)),
    st.tuples(st.just("remove"), st.integers(0, 20)),
    st.tuples(st.just("pop"), st.integers(0, 30)),
    st.tuples(st.just("sort"), st.booleans()),
    st.tuples(st.just("reverse")),
    st.tuples(st.just("clear")),
    st.tuples(st.just("slice"), st.integers(0, 5), st.lists(st.integers(0, 20), max_size=3)),
)


def _apply(lst: list, op: tuple) -> None:
    kind = op[0]
    if kind == "append":
        lst.append(op[1])
    elif kind == "insert":
        lst.insert(op[1], op[2])
    elif kind == "setitem" and op[1] < len(lst):
        lst[op[1]] = op[2]
    elif kind == "delitem" and op[1] < len(lst):
        del lst[op[1]]
    elif kind == "extend":
        lst.extend(op[1])
    elif kind == "iadd":
        lst += op[1]
    elif kind == "imul":
        lst *= op[1]
    elif kind == "remove" and op[1] in lst:
        lst.remove(op[1])
    elif kind == "pop" and op[1] < len(lst):
        lst.pop(op[1])
    elif kind == "sort":
        lst.sort(reverse=op[1])
    elif kind == "reverse":
        lst.reverse()
    elif kind == "clear":
        lst.clear()
    elif kind == "slice":
        lst[op[1] : op[1] + 2] = op[2]


@settings(max_examples=300, deadline=None)
@given(
    start=st.lists(st.integers(0, 20), max_size=30),
    steps=st.lists(st.tuples(_OPS, st.lists(st.integers(-1, 22), max_size=4)), max_size=12),
)
def test_id_list_index_answers_as_list_index(start: list[int], steps: list) -> None:
    """After any changes, IDList.index gives list.index's answer (the first position;
    ValueError when absent), for every value asked, between changes too."""
    ids, ref = IDList(start), list(start)

    def check(values: list[int]) -> None:
        for v in values:
            try:
                want: int | None = ref.index(v)
            except ValueError:
                want = None
            if want is None:
                with pytest.raises(ValueError):
                    ids.index(v)
            else:
                assert ids.index(v) == want
        assert list(ids) == ref

    for op, asked in steps:
        check(asked)
        _apply(ids, op)
        _apply(ref, op)
        assert isinstance(ids, IDList)
    check(list(range(-1, 22)))


@settings(max_examples=300, deadline=None)
@given(
    start=st.lists(st.integers(0, 20), max_size=30),
    steps=st.lists(
        st.tuples(
            st.integers(0, 5),  # which list
            st.one_of(_OPS, st.tuples(st.just("copy"))),
            st.lists(st.integers(-1, 22), max_size=4),
        ),
        max_size=14,
    ),
)
def test_id_list_copies_share_positions_until_one_changes(start: list[int], steps: list) -> None:
    """Copies made by IDList.copy (of the original or of copies, before or after
    positions were built) answer as list.index on their own content whatever is
    changed in any of them, in any order."""
    lists, refs = [IDList(start)], [list(start)]
    for which, op, asked in steps:
        i = which % len(lists)
        for lst, ref in zip(lists, refs):  # some positions built before the change
            for v in asked:
                if v in ref:
                    assert lst.index(v) == ref.index(v)
                else:
                    with pytest.raises(ValueError):
                        lst.index(v)
        if op[0] == "copy":
            lists.append(lists[i].copy())
            refs.append(list(refs[i]))
            assert type(lists[-1]) is IDList and lists[-1] is not lists[i]
        else:
            _apply(lists[i], op)
            _apply(refs[i], op)
    for lst, ref in zip(lists, refs):
        assert list(lst) == ref
        for v in range(-1, 22):
            if v in ref:
                assert lst.index(v) == ref.index(v)
            else:
                with pytest.raises(ValueError):
                    lst.index(v)


def test_id_list_adding_nothing_keeps_positions() -> None:
    """Adding nothing (the engine's ``element_IDs += pending`` after every commit, with
    nothing pending) keeps the positions built: the next index is a lookup."""
    a = IDList([7, 8, 9])
    assert a.index(9) == 2
    built = a._box[0]
    a += []
    a.extend(iter(()))
    assert a._box[0] is built and a.index(8) == 1
    a += (10,)
    assert a.index(10) == 3 and a._box[0] is not built


def test_id_list_copy_builds_positions_once() -> None:
    """A copy reuses the positions its original built (and the other way round)."""
    a = IDList([7, 8, 9])
    b = a.copy()
    assert b.index(9) == 2
    box = b._box
    assert box[0] == {7: 0, 8: 1, 9: 2}
    c = a.copy()
    assert c._box is box and a.index(7) == 0
    c.append(1)  # c changed: it stops sharing; the others keep the built positions
    assert c.index(1) == 3 and c._box is not box and a._box is box


def test_task_element_ids_are_id_lists_through_copies() -> None:
    task = ZarrStoreTask.decode({"id_": 0, "index": 0, "element_IDs": [5, 3, 9]})
    assert isinstance(task.element_IDs, IDList)
    assert task.element_IDs.index(9) == 2
    more = task.append_element_IDs([7])
    assert isinstance(more.element_IDs, IDList)
    assert more.element_IDs.index(7) == 3
    assert task.element_IDs == [5, 3, 9]  # the original is not changed
    assert ZarrStoreTask(1, 0, False, [4, 4]).element_IDs.index(4) == 0
    assert pickle.loads(pickle.dumps(more)).element_IDs.index(7) == 3
    assert copy.deepcopy(more).element_IDs == [5, 3, 9, 7]
