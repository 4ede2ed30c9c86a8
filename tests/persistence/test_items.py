"""Store item encodings (JSON objects and the Zarr row layout of hpcflow 0.2.0a190)."""

from __future__ import annotations

from datetime import datetime, timezone

from wfstore.persistence import (
    JsonStoreElementIter,
    StoreParameter,
    ZarrStoreEAR,
    ZarrStoreElement,
    ZarrStoreElementIter,
)

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
