"""Property tests of the value encoders and decoders (issue 6, point 6, Python side),
with hypothesis:

* parameter values (nested dicts, lists, tuples, sets, numpy and masked arrays) round
  trip through the JSON encoding and through a real Zarr store;
* what a store cannot hold is refused when added (``ParameterEncodeError``), never at
  commit, and leaves nothing pending;
* garbage rows (any msgpack value) in the run, element, iteration and parameter arrays,
  and garbage chunk bytes, give a ``StoreError`` or a value - never another exception.

Examples per test: ``WFSTORE_HYPOTHESIS_EXAMPLES`` (default 60; scripts/fuzz.sh raises it).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from rel_helpers import make_store, open_store
from wfstore import _core
from wfstore.common.errors import ParameterEncodeError, StoreError
from wfstore.persistence import StoreParameter

EXAMPLES = int(os.environ.get("WFSTORE_HYPOTHESIS_EXAMPLES", "60"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

ints64 = st.integers(min_value=-(2**63), max_value=2**64 - 1)
floats = st.floats(allow_nan=False)
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
scalars = st.none() | st.booleans() | ints64 | floats | text
hashables = st.none() | st.booleans() | ints64 | floats | text


def containers(children: st.SearchStrategy) -> st.SearchStrategy:
    return (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.tuples(children)
        | st.dictionaries(text, children, max_size=4)
        | st.frozensets(hashables, max_size=4).map(set)
    )


values = st.recursive(scalars, containers, max_leaves=20)


def _eq(a: Any, b: Any) -> bool:
    """Equality where types matter (tuple vs list, set vs list) and arrays compare by
    dtype, shape, values and mask."""
    if isinstance(a, np.ma.MaskedArray):
        return (
            isinstance(b, np.ma.MaskedArray)
            and a.dtype == b.dtype
            and np.array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b))
            and np.array_equal(a.data, b.data, equal_nan=a.dtype.kind in "fc")
        )
    if isinstance(a, np.ndarray):
        return (
            type(b) is np.ndarray
            and a.dtype == b.dtype
            and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
        )
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_eq(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


@SETTINGS
@given(value=values)
def test_json_encoding_round_trip(value: Any) -> None:
    param = StoreParameter(0, False, True, value, None, {})
    encoded = json.loads(json.dumps(param.encode()))
    assert _eq(StoreParameter.decode(0, encoded, {}).data, value)


@SETTINGS
@given(value=values)
def test_msgpack_row_round_trip(value: Any) -> None:
    """The encoded value through the core's msgpack chunk codec (what a Zarr store
    writes), with every compressor."""
    param = StoreParameter(0, False, True, value, None, {})
    for comp in (None, "blosc", "zstd"):
        chunk = _core.encode_object_chunk([param.encode()], comp)
        (row,) = _core.decode_object_chunk(chunk, comp)
        assert _eq(StoreParameter.decode(0, row, {}).data, value)


numeric_arrays = hnp.arrays(
    dtype=st.sampled_from(["<i4", "<i8", "<u2", "<f4", "<f8", "|b1", "<c16", ">f8", "|i1"]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
)


@st.composite
def masked_arrays(draw: st.DrawFn) -> np.ma.MaskedArray:
    data = draw(numeric_arrays)
    mask = draw(hnp.arrays(dtype=bool, shape=data.shape))
    return np.ma.MaskedArray(data, mask=mask)


array_values = st.recursive(
    scalars | numeric_arrays | masked_arrays(),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(text, c, max_size=3) | st.tuples(c, c),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def zarr_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hyp") / "wk"
    make_store(path)
    return path


@SETTINGS
@given(value=array_values)
def test_zarr_store_round_trip(zarr_store: Path, value: Any) -> None:
    store = open_store(zarr_store)
    pid = store.add_set_parameter(value, {"type": "hyp"})
    got = open_store(zarr_store).get_parameters([pid])[0].data
    expected = value
    # as the engine stores them: numpy scalars inside values come back as Python ones
    assert _eq(got, expected), (got, expected)


unstorable = st.one_of(
    st.integers(min_value=2**64, max_value=2**80),
    st.integers(min_value=-(2**80), max_value=-(2**63) - 1),
    st.builds(object),
    st.binary(min_size=1, max_size=5),
    st.text(st.characters(whitelist_categories=("Cs",)), min_size=1, max_size=3),
    hnp.arrays(dtype="<U3", shape=(2,)),
)


@SETTINGS
@given(bad=unstorable, where=st.sampled_from(["top", "list", "dict", "tuple"]))
def test_unstorable_values_refused_when_added(zarr_store: Path, bad: Any, where: str) -> None:
    value = {"top": bad, "list": [1, bad], "dict": {"k": {"j": bad}}, "tuple": (bad, 2)}[where]
    store = open_store(zarr_store)
    n = store._get_num_total_parameters()
    with pytest.raises(ParameterEncodeError):
        store.add_set_parameter(value, {})
    assert not store.has_pending
    assert open_store(zarr_store)._get_num_total_parameters() == n


msgpack_values = st.recursive(
    st.none() | st.booleans() | ints64 | st.floats() | text | st.binary(max_size=8),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(text, c, max_size=4),
    max_leaves=12,
)


@SETTINGS
@given(row=msgpack_values, target=st.sampled_from(["runs", "elements", "iters", "base"]))
def test_garbage_rows_give_store_errors(zarr_store: Path, row: Any, target: str) -> None:
    arr_path = {
        "runs": "metadata/runs",
        "elements": "metadata/elements",
        "iters": "metadata/iters",
        "base": "parameters/base",
    }[target]
    core = _core.Store.local(zarr_store)
    arr = _core.ObjectArray.open(core, arr_path)
    (old,) = arr.get([1])
    arr.set([1], [row])
    try:
        store = open_store(zarr_store)
        getter = {
            "runs": store.get_EARs,
            "elements": store.get_elements,
            "iters": store.get_element_iterations,
            "base": store.get_parameters,
        }[target]
        try:
            getter([1])
        except StoreError:
            pass
        # the other rows are unaffected
        getter([0])
    finally:
        arr.set([1], [old])


@SETTINGS
@given(data=st.binary(max_size=200), comp=st.sampled_from([None, "blosc", "zstd"]))
def test_garbage_chunks_give_store_errors(data: bytes, comp: str | None) -> None:
    try:
        items = _core.decode_object_chunk(data, comp)
    except StoreError:
        return
    assert isinstance(items, list)
