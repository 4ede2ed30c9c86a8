"""wfstore writes hpcflow 0.3.0's execution-time files (run files and parameter files)
of stores 0.3.0 made, as 0.3.0 writes them.

The encoders against ``msgpack`` and the format (docs/hpcflow-0.3-format.md §1.4,
§1.6); the store's ``write_run_fields`` / ``write_output_values`` on copies of the
engine-written fixtures, read back by wfstore; and, in the 0.3.0 side environment
(``side_python_v03``), the same writes made by 0.3.0's own store on a second copy: the
run files are byte for byte the same, the parameter files decode the same, and 0.3.0's
own classes read the two copies identically (and as wfstore reads them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
import wfstore
from hypothesis import given, settings
from hypothesis import strategies as st
from store_dump import dump_store, normalise
from wfstore import _core
from wfstore.common.errors import CorruptFileError, ReadOnlyStoreError
from wfstore.common.names import CHANGE_MARKER_NAME, LOCK_NAME
from wfstore.persistence.v03 import V03ZarrPersistentStore, layout, writes
from wfstore.persistence.v03.files import decode_param_file, decode_run_file

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
FIXTURES = HERE.parent / "data" / "hpcflow-0.3.0"
MAKE_FIXTURES = HERE.parent / "data" / "make_fixtures.py"
ENGINE_WRITE = HERE / "v03_engine_write.py"


def _copy(name: str, dst: Path) -> Path:
    src = FIXTURES / name
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copyfile(FIXTURES / f"{name}.zip", dst)
    return dst


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# --- encoders --------------------------------------------------------------------------

VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    127,
    128,
    -33,
    2**16,
    2**32 + 5,
    -(2**40),
    2**64 - 1,
    1.5,
    -0.0,
    1e300,
    "",
    "x" * 31,
    "y" * 32,
    "é∑" * 40_000,
    b"",
    b"\x00\xff" * 200,
    [],
    [None, [1, [2, [3]]]],
    {"a": 1, "b": [1.25, "c"], "": {}},
    {str(i): i for i in range(20)},
    list(range(70_000)),
]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from([0, 1, 7, 254, 255, 65534, 65535, 2**32 - 2, 2**32 - 1]),
        min_size=4,
        max_size=4,
    ),
    st.booleans(),
)
def test_run_sub_dat_tuple_reads_all_ones_as_unset(values: list[int], reorder: bool) -> None:
    """Each field of a ``run_sub_dat`` row as an int, all ones (its type's maximum)
    as None, whatever the fields' order in the dtype."""
    from wfstore.persistence.v03.zarr_writes import RUN_SUB_DAT_DTYPE

    fields = [(n, RUN_SUB_DAT_DTYPE.fields[n][0]) for n in layout.RUN_SUB_DAT_FIELDS]
    dtype = np.dtype(fields[::-1] if reorder else fields)
    row = np.zeros(1, dtype=dtype)
    want = []
    for (name, ftype), v in zip(fields, values):
        top = int(np.iinfo(ftype).max)
        row[name] = min(v, top)
        want.append(None if min(v, top) == top else min(v, top))
    assert layout.run_sub_dat_tuple(row[0]) == tuple(want)


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_encode_msgpack_is_msgpack_packb(value: Any) -> None:
    """The core encodes one value exactly as ``msgpack.packb`` (0.3.0's encoder) does."""
    assert writes.encode_msgpack(value) == msgpack.packb(value)


def test_param_file_format() -> None:
    """``HPCFZ1``, then one zstd frame that records its content size, of the msgpack
    list of entries; wfstore's reader and plain msgpack read it back."""
    entries = [{"0": {"data": [1, 2.5, "x"], "type_lookup": {}}}, {}, {"3": None, "1": 0}]
    raw = writes.encode_param_file(entries)
    assert raw.startswith(b"HPCFZ1")
    frame = raw[len(b"HPCFZ1") :]
    assert frame[:4] == b"\x28\xb5\x2f\xfd"  # zstd frame magic
    descriptor = frame[4]
    assert descriptor >> 6 or descriptor & 0x20, "frame content size not recorded"
    assert msgpack.unpackb(_core.decompress(frame, "zstd")) == entries
    assert decode_param_file(raw, "k") == entries


def test_run_file_format() -> None:
    entries: list[Any] = [None, [0, True, "t0", None, None, None, 0, "h", 5]]
    raw = writes.encode_run_file(entries)
    assert raw == msgpack.packb(entries)
    assert decode_run_file(raw, "k") == entries


def test_run_fields_by_position() -> None:
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    dt = datetime(2026, 12, 5, 9, 0, 1, 250)
    out = writes.run_fields(
        {"start_time": dt, "skip": None, "exit_code": 3, "port_number": 8}, fmt
    )
    assert out == {2: "2026-12-05 09:00:01.000250", 0: 0, 6: 3, 8: 8}
    with pytest.raises(KeyError, match="metadata"):
        writes.run_fields({"metadata": {}}, fmt)


def test_apply_run_updates() -> None:
    """Padding with None, new entries as skip 0 and the rest None, only the given
    fields replaced; the input is left alone."""
    old: list[Any] = [[1, False, "s", "e", None, None, 1, "h", 7]]
    new = writes.apply_run_updates(old, {0: {6: 0}, 3: {2: "t"}})
    assert new == [
        [1, False, "s", "e", None, None, 0, "h", 7],
        None,
        None,
        [0, None, "t", None, None, None, None, None, None],
    ]
    assert old == [[1, False, "s", "e", None, None, 1, "h", 7]]
    assert writes.apply_run_updates(old, {}) == old


def test_apply_param_updates() -> None:
    old = [{"0": 1}]
    new = writes.apply_param_updates(old, {(0, 1): "a", (2, 0): None})
    assert new == [{"0": 1, "1": "a"}, {}, {"0": None}]
    assert old == [{"0": 1}]


# --- on stores 0.3.0 made --------------------------------------------------------------

#: Writes to wk_seq_zarr (4 submitted runs in run file 0; outputs 6-9 of runs 0-3).
SPEC: dict[str, Any] = {
    "runs": {
        "0": {"end_time": "2026-12-05T10:11:12.131415", "exit_code": 3, "success": False},
        "1": {"start_time": "2026-12-05T10:00:00", "run_hostname": "node7", "port_number": 9},
        "3": {"skip": 2, "snapshot_end": {"files": ["a", "b"]}},
    },
    "outputs": {
        "6": {"data": {"x": [1, 2.5, "three"]}, "type_lookup": {}},
        "8": None,
        "9": {"data": [4, 5], "type_lookup": {"tuples": [[]]}},
    },
}


def _wfstore_write(path: Path, spec: dict[str, Any]) -> V03ZarrPersistentStore:
    store = wfstore.open(path)
    assert isinstance(store, V03ZarrPersistentStore)
    store.write_run_fields(
        {
            int(r): {
                k: datetime.fromisoformat(v) if k.endswith("_time") else v
                for k, v in fields.items()
            }
            for r, fields in spec["runs"].items()
        }
    )
    assert store.write_output_values({int(k): v for k, v in spec["outputs"].items()}) == []
    return store


def test_writes_read_back(tmp_path: Path) -> None:
    """What ``write_run_fields`` / ``write_output_values`` write reads back, through the
    store that wrote it (its caches dropped) and a new one; nothing else changes; only
    the run file and the outputs' parameter file are rewritten, no temporary file is
    left."""
    path = _copy("wk_seq_zarr", tmp_path / "wk")
    before = _files(path)
    expected = json.loads((FIXTURES / "wk_seq_zarr.expected.json").read_text())
    store = wfstore.open(path)
    store.get_EARs([0, 1, 2, 3])  # into the item caches...
    store.get_parameters([6, 7, 8, 9])
    with store.cache_ctx():
        _wfstore_write(path, SPEC)
    for reader in (store, wfstore.open(path)):
        runs = reader.get_EARs([0, 1, 2, 3])
        assert runs[0].end_time == datetime(2026, 12, 5, 10, 11, 12, 131415, timezone.utc)
        assert (runs[0].exit_code, runs[0].success) == (3, False)
        assert runs[1].start_time == datetime(2026, 12, 5, 10, 0, 0, tzinfo=timezone.utc)
        assert (runs[1].run_hostname, runs[1].port_number) == ("node7", 9)
        assert reader.get_EAR_skipped(3) == 2
        assert runs[3].snapshot_end == {"files": ["a", "b"]}
        assert runs[2].to_dict() == reader.get_EARs([2])[0].to_dict()
        assert normalise(dump_store(reader, "zarr", "0.3.0")["runs"][2]) == normalise(
            expected["runs"][2]
        )
        params = reader.get_parameters([6, 7, 8, 9])
        assert params[0].data == {"x": [1, 2.5, "three"]}
        assert params[1].data == "102"  # untouched
        assert reader.get_parameter_set_statuses([6, 7, 8, 9]) == [True, True, False, True]
        assert params[3].data == (4, 5)
    after = _files(path)
    changed = sorted(k for k in after if before.get(k) != after[k])
    # (and wfstore's lock file and change marker: the writes are write sessions)
    assert changed == sorted(
        [CHANGE_MARKER_NAME, LOCK_NAME, layout.run_file_key(0, 0), layout.param_file_key(0, 1)]
    )
    assert set(after) == set(before) | {CHANGE_MARKER_NAME, LOCK_NAME}
    assert not [k for k in after if _core.TMP_PREFIX in k]


def test_write_refusals(tmp_path: Path) -> None:
    """A non-output parameter, an unsubmitted run and a zipped store are refused before
    anything is written; a damaged run file is named and left as it is."""
    path = _copy("wk_seq_zarr", tmp_path / "wk")
    before = _files(path)
    store = wfstore.open(path)
    with pytest.raises(ValueError, match="not a run output"):
        store.write_output_values({6: None, 2: {"data": 1, "type_lookup": {}}})
    assert _files(path) == before

    key = layout.run_file_key(0, 0)
    (path / key).write_bytes(b"\xc1")
    with pytest.raises(CorruptFileError, match=key):
        store.write_run_fields({0: {"exit_code": 1}})
    assert (path / key).read_bytes() == b"\xc1"

    unsubmitted = wfstore.open(_copy("wk_arrays_zarr", tmp_path / "arrays"))
    with pytest.raises(ValueError, match="not submitted"):
        unsubmitted.write_run_fields({0: {"exit_code": 1}})

    zipped = wfstore.open(_copy("wk_seq_zarr_zip", tmp_path / "wk.zip"))
    with pytest.raises(ReadOnlyStoreError):
        zipped.write_run_fields({0: {"exit_code": 1}})
    with pytest.raises(ReadOnlyStoreError):
        zipped.write_output_values({6: None})


def test_full_durability_flushes_file_and_folder(tmp_path: Path, monkeypatch) -> None:
    """With ``"full"`` durability a run-file write flushes the file and its folder (as
    0.3.0's ``atomic_write``); the store's writer is opened with that durability."""
    path = _copy("wk_seq_zarr", tmp_path / "wk")
    store = wfstore.open(path, durability="full")
    assert store._file_writer().durability == "full"
    store.write_run_fields({0: {"exit_code": 5}})
    assert wfstore.open(path).get_EARs([0])[0].exit_code == 5


def test_engine_writes_the_same(tmp_path: Path, side_python_v03: Path) -> None:
    """The same writes made by 0.3.0's own store on a second copy: the run files are the
    same bytes, the parameter files the same entries, and 0.3.0's own classes (and
    wfstore) read the two copies identically."""
    ours = _copy("wk_seq_zarr", tmp_path / "ours")
    theirs = _copy("wk_seq_zarr", tmp_path / "theirs")
    _wfstore_write(ours, SPEC)
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(SPEC))
    env = {**os.environ, "HOME": str(tmp_path)}
    proc = subprocess.run(
        [str(side_python_v03), str(ENGINE_WRITE), str(theirs), str(spec_file)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]

    run_key = layout.run_file_key(0, 0)
    assert (ours / run_key).read_bytes() == (theirs / run_key).read_bytes()
    param_key = layout.param_file_key(0, 1)
    ours_p, theirs_p = (ours / param_key).read_bytes(), (theirs / param_key).read_bytes()
    assert ours_p[:6] == theirs_p[:6] == b"HPCFZ1"
    assert decode_param_file(ours_p, param_key) == decode_param_file(theirs_p, param_key)

    proc = subprocess.run(
        [str(side_python_v03), str(MAKE_FIXTURES), "--dump", str(ours), str(theirs)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    dumps = json.loads(proc.stdout)
    engine_ours, engine_theirs = normalise(dumps["ours"]), normalise(dumps["theirs"])
    assert engine_ours == engine_theirs
    expected = normalise(json.loads((FIXTURES / "wk_seq_zarr.expected.json").read_text()))
    assert engine_ours != expected  # the writes show
    for path in (ours, theirs):
        assert normalise(dump_store(wfstore.open(path), "zarr", "0.3.0")) == engine_ours


# --- the 0.3.0 store API's execution-time members ---------------------------------------


def _strip_times(dump: dict[str, Any]) -> dict[str, Any]:
    """A store dump without the run start and end times (taken at the call)."""
    out = json.loads(json.dumps(dump))
    for key in ("runs", "iter_dicts", "elements"):
        _drop_times(out.get(key))
    return out


def _drop_times(obj: Any) -> None:
    if isinstance(obj, dict):
        for k in ("start_time", "end_time"):
            if k in obj:
                obj[k] = "<time>" if obj[k] is not None else None
        for v in obj.values():
            _drop_times(v)
    elif isinstance(obj, list):
        for v in obj:
            _drop_times(v)


def test_api_writes_show_pending_and_commit(tmp_path: Path) -> None:
    """The members queue; ``get_EARs`` shows queued changes (a pending skip as True);
    ``save()`` writes them; a failed batch writes nothing."""
    path = _copy("wk_seq_zarr", tmp_path / "wk")
    before = _files(path)
    store = wfstore.open(path)
    store.set_EAR_skip({3: 2}, save=False)
    dt = store.set_multi_run_starts([0], [None], 77, save=False)
    assert store.has_pending
    run0, run3 = store.get_EARs([0, 3])
    assert (run0.start_time, run0.port_number, run3.skip) == (dt, 77, True)
    assert _files(path) == before
    store.save()
    assert not store.has_pending
    again = wfstore.open(path)
    assert again.get_EAR_skipped(3) == 2
    assert again.get_EARs([0])[0].port_number == 77
    written = _files(path)
    with pytest.raises(RuntimeError, match="boom"), store.batch_update():
        store.set_EAR_end(0, 1, False, False)
        raise RuntimeError("boom")
    assert not store.has_pending
    assert _files(path) == written
    with pytest.raises(wfstore.StoreError):  # an input is not a run output
        store.set_parameter_values({2: 5})
    with pytest.raises(wfstore.StoreError):  # already set (0.3.0 refuses too)
        store.set_parameter_values({7: 5})
    assert not store.has_pending


@pytest.mark.parametrize("name", ["wk_seq_zarr", "wk_seq_json"])
def test_api_writes_match_the_engine(name: str, tmp_path: Path, side_python_v03: Path) -> None:
    """The same calls on wfstore's store and on 0.3.0's own: 0.3.0's classes read the
    two copies the same (times aside, which are taken at the call), and wfstore reads
    both as 0.3.0 does."""
    from v03_engine_write import apply_api

    kind = "json" if name.endswith("json") else "zarr"
    ours = _copy(name, tmp_path / "ours")
    theirs = _copy(name, tmp_path / "theirs")
    t0 = datetime.now(timezone.utc)
    apply_api(wfstore.open(ours))
    env = {**os.environ, "HOME": str(tmp_path)}
    proc = subprocess.run(
        [str(side_python_v03), str(ENGINE_WRITE), "--api", str(theirs)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    proc = subprocess.run(
        [str(side_python_v03), str(MAKE_FIXTURES), "--dump", str(ours), str(theirs)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    dumps = json.loads(proc.stdout)
    engine_ours = normalise(_strip_times(dumps["ours"]))
    assert engine_ours == normalise(_strip_times(dumps["theirs"]))
    for path in (ours, theirs):
        mine = dump_store(wfstore.open(path), kind, "0.3.0")
        assert normalise(_strip_times(mine)) == engine_ours
    runs = wfstore.open(ours).get_EARs([0, 1, 2, 3])
    for run in runs:
        assert run.end_time is not None and t0 <= run.end_time
    assert [r.exit_code for r in runs] == [7, 0, 1, 9]
    assert [r.skip for r in runs] == [0, 4, 0, 2]
    params = wfstore.open(ours).get_parameters([6, 9])
    assert params[0].data == {"a": (1, 2.5), "b": [{"c": {3}}, "d"], "e": None}
    assert not params[1].is_set
