"""The package-level API: store_cls_from_str, create, open, verify, convert, info.

Every fixture store is used through a copy (the fixtures are never touched)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
import wfstore
from conftest import FIXTURES_DIR, json_fixture_names, tree_digest, zarr_fixture_names
from store_dump import dump_store, normalise
from wfstore import _core
from wfstore.common.errors import (
    ParameterEncodeError,
    StoreError,
    StoreExistsError,
    StoreNotFoundError,
    UnknownStoreKindError,
    UnsupportedStoreOperationError,
)

ALL_FIXTURES = [
    *zarr_fixture_names(),
    *json_fixture_names(),
    *sorted(p.name for p in FIXTURES_DIR.glob("*.zip")),
]
KIND_OF = {
    **dict.fromkeys(zarr_fixture_names(), "zarr"),
    **dict.fromkeys(json_fixture_names(), "json"),
    **{p.name: "zip" for p in FIXTURES_DIR.glob("*.zip")},
}


# --- store_cls_from_str ----------------------------------------------------------------


def test_store_cls_from_str() -> None:
    assert wfstore.store_cls_from_str("json") is wfstore.JSONPersistentStore
    assert wfstore.store_cls_from_str("zarr") is wfstore.ZarrPersistentStore
    assert wfstore.store_cls_from_str("zip") is wfstore.ZarrZipPersistentStore
    with pytest.raises(UnknownStoreKindError) as exc:
        wfstore.store_cls_from_str("hdf5")
    msg = str(exc.value)
    assert "'hdf5'" in msg and all(repr(k) in msg for k in ("json", "zarr", "zip"))
    assert isinstance(exc.value, ValueError)


# --- create and open ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["zarr", "json"])
def test_create_then_open(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "my_wk"
    store = wfstore.create(path, kind=kind)
    assert type(store) is wfstore.store_cls_from_str(kind)
    assert store.get_name() == "my_wk"
    assert store.get_creation_info()["app_info"]["name"] == "wfstore"
    t = store.add_task(0, {"insert_ID": 0, "element_sets": [], "schema": ["s"]})
    p = store.add_set_parameter({"a": [1, 2]}, {"type": "local_input"})
    again = wfstore.open(path)
    assert type(again) is type(store)
    assert [task.id_ for task in again.get_tasks()] == [t]
    assert again.get_parameters([p])[0].data == {"a": [1, 2]}
    assert wfstore.detect_kind(path) == kind


def test_create_options(tmp_path: Path) -> None:
    store = wfstore.create(tmp_path / "wk", name="other", compressor="zstd")
    assert store.get_name() == "other"
    meta = json.loads((tmp_path / "wk" / "metadata" / "runs" / ".zarray").read_text())
    assert meta["compressor"]["id"] == "zstd"
    (tmp_path / "empty").mkdir()
    assert wfstore.create(tmp_path / "empty", kind="json").get_name() == "empty"


def test_create_refuses_existing(tmp_path: Path) -> None:
    path = tmp_path / "wk"
    path.mkdir()
    (path / "keep.txt").write_text("mine")
    before = tree_digest(path)
    with pytest.raises(StoreExistsError) as exc:
        wfstore.create(path)
    assert str(path) in str(exc.value) and isinstance(exc.value, FileExistsError)
    assert tree_digest(path) == before
    a_file = tmp_path / "f"
    a_file.write_text("x")
    with pytest.raises(StoreExistsError):
        wfstore.create(a_file, kind="json")
    with pytest.raises(UnsupportedStoreOperationError):
        wfstore.create(tmp_path / "z", kind="zip")
    with pytest.raises(UnknownStoreKindError):
        wfstore.create(tmp_path / "z", kind="nope")
    assert not (tmp_path / "z").exists()


def test_create_bad_option_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        wfstore.create(tmp_path / "wk", compressor="lzma")
    assert not (tmp_path / "wk").exists()


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_open_detects_every_fixture(fixture_copy: Any, name: str) -> None:
    path = fixture_copy(name)
    store = wfstore.open(path)
    assert type(store) is wfstore.store_cls_from_str(KIND_OF[name])
    expected = json.loads((FIXTURES_DIR / f"{Path(name).stem}.expected.json").read_text())
    assert store.get_name() == expected["name"]


def test_star_import_keeps_builtin_open() -> None:
    ns: dict[str, Any] = {}
    exec("from wfstore import *", ns)
    assert "open" not in ns and "verify" in ns and "create" in ns
    assert wfstore.open is wfstore.tools.stores.open


def test_open_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(StoreNotFoundError, match=r"missing.*does not exist"):
        wfstore.open(missing)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "x.txt").write_text("x")
    with pytest.raises(StoreNotFoundError, match="folder"):
        wfstore.open(folder)
    not_zip = tmp_path / "notes.zip"
    not_zip.write_text("plain text")
    with pytest.raises(StoreNotFoundError, match="not a zip archive"):
        wfstore.open(not_zip)
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(StoreNotFoundError, match="no Zarr store"):
        wfstore.open(other_zip)
    group = tmp_path / "group"
    group.mkdir()
    (group / ".zgroup").write_text('{"zarr_format": 2}')
    (group / ".zattrs").write_text("{}")
    with pytest.raises(StoreNotFoundError, match="not a workflow store"):
        wfstore.open(group)
    # FileNotFoundError, so callers can catch the built-in
    with pytest.raises(FileNotFoundError):
        wfstore.open(missing)


# --- verify --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_verify_sound_fixtures(fixture_copy: Any, name: str) -> None:
    path = fixture_copy(name)
    before = tree_digest(path) if path.is_dir() else path.read_bytes()
    report = wfstore.verify(path)
    assert report.ok, report.bad
    assert report.kind == KIND_OF[name]
    if report.kind != "json":
        assert report.arrays >= 6 and report.chunks > 0
    else:
        assert report.documents == 3
    assert (tree_digest(path) if path.is_dir() else path.read_bytes()) == before


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_verify_lists_exactly_the_damaged_keys(fixture_copy: Any) -> None:
    root = fixture_copy("wk_arrays_zarr")
    blosc = json.loads((root / "metadata/runs/.zarray").read_text())["compressor"]
    _truncate(root / "metadata/runs/1")  # truncated blosc frame
    _flip(root / "metadata/tasks/2", 12)  # bit flip in the blosc header (cbytes)
    # a sound blosc frame whose msgpack holds 2 rows in a chunk of 1: wrong size
    (root / "parameters/base/3").write_bytes(_core.encode_object_chunk([1, 2], blosc))
    # a frame that is not msgpack at all
    (root / "parameters/base/4").write_bytes(_core.compress(b"\xc1\xc1\xc1", blosc))
    _truncate(root / "parameters/arrays/param_2/arr_0/0.0")  # numeric, truncated
    # numeric chunk decompressing to too few bytes
    arr5 = json.loads((root / "parameters/arrays/param_5/arr_0/.zarray").read_text())
    (root / "parameters/arrays/param_5/arr_0/0").write_bytes(
        _core.compress(b"\x00" * 3, arr5["compressor"])
    )
    (root / "metadata/iters/.zattrs").write_text("{broken")
    (root / "parameters/arrays/param_8/arr_1/.zarray").write_text('{"a":')
    (root / "parameters/.zgroup").write_text("[1, 2]")
    report = wfstore.verify(root)
    got = {(b.array, b.key) for b in report.bad}
    assert got == {
        ("metadata/runs", "1"),
        ("metadata/tasks", "2"),
        ("parameters/base", "3"),
        ("parameters/base", "4"),
        ("parameters/arrays/param_2/arr_0", "0.0"),
        ("parameters/arrays/param_5/arr_0", "0"),
        ("metadata/iters", ".zattrs"),
        ("parameters/arrays/param_8/arr_1", ".zarray"),
        # no reader can read the chunks of an array whose .zarray is damaged
        ("parameters/arrays/param_8/arr_1", "0"),
        ("parameters", ".zgroup"),
    }
    assert len(report.bad) == len(got)
    reasons = {(b.array, b.key): b.reason for b in report.bad}
    assert "holds 2 items, expected 1" in reasons[("parameters/base", "3")]
    assert "expected" in reasons[("parameters/arrays/param_5/arr_0", "0")]
    assert "invalid JSON" in reasons[("metadata/iters", ".zattrs")]
    assert "not a JSON object" in reasons[("parameters", ".zgroup")]
    assert ".zarray is damaged" in reasons[("parameters/arrays/param_8/arr_1", "0")]
    assert report.to_dict()["ok"] is False


def test_verify_zstd_store(tmp_path: Path) -> None:
    path = tmp_path / "wk"
    store = wfstore.create(path, compressor="zstd", param_chunk_size=2)
    for i in range(6):
        store.add_set_parameter({"i": i}, {"type": "local_input"}, save=False)
    store.save()
    assert wfstore.verify(path).ok
    _truncate(path / "parameters" / "base" / "1")  # a truncated zstd frame
    (path / "parameters" / "base" / "2").write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 9)
    report = wfstore.verify(path)
    assert {(b.array, b.key) for b in report.bad} == {
        ("parameters/base", "1"),
        ("parameters/base", "2"),
    }
    assert all("zstd" in b.reason.lower() for b in report.bad), report.bad


def test_verify_zip_crc_and_chunks(fixture_copy: Any, tmp_path: Path) -> None:
    archive = fixture_copy("wk_seq_zarr_zip.zip")
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("metadata/runs/2")
        assert info.compress_type == zipfile.ZIP_STORED
        header_len = 30 + len(info.filename.encode()) + len(info.extra)
        offset = info.header_offset + header_len + info.file_size - 1
    _flip(archive, offset)  # last byte of the entry's data: CRC mismatch
    report = wfstore.verify(archive)
    assert [(b.array, b.key) for b in report.bad] == [("metadata/runs", "2")]
    assert "CRC" in report.bad[0].reason or "unreadable" in report.bad[0].reason


def test_verify_zip_of_damaged_store(fixture_copy: Any, tmp_path: Path) -> None:
    root = fixture_copy("wk_seq_zarr")
    _truncate(root / "metadata/runs/0")
    out = tmp_path / "damaged.zip"
    _core.zip_dir(root, out)
    report = wfstore.verify(out)
    assert [(b.array, b.key) for b in report.bad] == [("metadata/runs", "0")]


def test_verify_json_store(fixture_copy: Any) -> None:
    root = fixture_copy("wk_seq_json")
    (root / "parameters.json").write_text('{"data": ')
    (root / "submissions.json").write_text("{}")
    report = wfstore.verify(root)
    assert {(b.key, b.reason.split(":")[0]) for b in report.bad} == {
        ("parameters.json", "invalid JSON"),
        ("submissions.json", "not a JSON list"),
    }


# --- convert ---------------------------------------------------------------------------------


def _dump(store: Any) -> Any:
    return normalise(dump_store(store, "any"))


CONVERTIBLE = [n for n in ALL_FIXTURES if n != "wk_arrays_zarr"]


@pytest.mark.parametrize("name", CONVERTIBLE)
def test_convert_keeps_content(fixture_copy: Any, tmp_path: Path, name: str) -> None:
    src = fixture_copy(name)
    want = _dump(wfstore.open(src))
    for to in ("json", "zarr"):
        dst = tmp_path / f"out_{to}"
        new = wfstore.convert(src, dst, to)
        assert new._name == to
        got = _dump(wfstore.open(dst))
        assert got == want
        assert wfstore.verify(dst).ok
        if src.is_dir() and (src / "artifacts").is_dir():
            assert tree_digest(dst / "artifacts") == tree_digest(src / "artifacts")


def test_convert_numpy_arrays(fixture_copy: Any, tmp_path: Path) -> None:
    src = fixture_copy("wk_arrays_zarr")
    new = wfstore.convert(src, tmp_path / "copy", "zarr")
    assert _dump(new) == _dump(wfstore.open(src))
    with pytest.raises(ParameterEncodeError):
        wfstore.convert(src, tmp_path / "as_json", "json")
    assert not (tmp_path / "as_json").exists()


def test_convert_errors(fixture_copy: Any, tmp_path: Path) -> None:
    src = fixture_copy("wk_seq_json")
    with pytest.raises(UnknownStoreKindError):
        wfstore.convert(src, tmp_path / "x", "zip")
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "f").write_text("x")
    with pytest.raises(StoreExistsError):
        wfstore.convert(src, taken, "zarr")
    assert [p.name for p in taken.iterdir()] == ["f"]
    with pytest.raises(StoreNotFoundError):
        wfstore.convert(tmp_path / "none", tmp_path / "y", "zarr")


# --- info ------------------------------------------------------------------------------------


def _expected_state(run: dict[str, Any]) -> str:
    if run["skip"]:
        return "skipped"
    if run["end_time"] is not None:
        return "succeeded" if run["success"] else "failed"
    return "running" if run["start_time"] is not None else "pending"


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_info_counts(fixture_copy: Any, name: str) -> None:
    path = fixture_copy(name)
    exp = json.loads((FIXTURES_DIR / f"{Path(name).stem}.expected.json").read_text())
    got = wfstore.info(path)
    assert got["kind"] == KIND_OF[name] and got["name"] == exp["name"]
    counts = got["counts"]
    assert counts["tasks"] == len(exp["tasks"])
    assert counts["loops"] == len(exp["loops"])
    assert counts["submissions"] == len(exp["submissions"])
    assert counts["elements"] == exp["counts"]["elements"]
    assert counts["iterations"] == exp["counts"]["iters"]
    states = {s: 0 for s in wfstore.tools.inspect.RUN_STATES}
    for run in exp["runs"]:
        states[_expected_state(run)] += 1
    assert counts["runs"] == {"total": exp["counts"]["runs"], **states}
    n_set = sum(1 for p in exp["parameters"] if p["is_set"])
    assert counts["parameters"] == {
        "total": exp["counts"]["params"],
        "set": n_set,
        "unset": exp["counts"]["params"] - n_set,
    }
    if got["kind"] != "json":
        runs = next(a for a in got["arrays"] if a["path"] == "metadata/runs")
        assert runs["dtype"] == "|O" and runs["shape"] == [exp["counts"]["runs"]]
    assert got["files"]["count"] > 0 and got["files"]["bytes"] > 0
    json.dumps(got)  # JSON-able


# --- the engine reads converted stores -----------------------------------------------------


@pytest.mark.parametrize(("name", "to"), [("wk_seq_json", "zarr"), ("wk_seq_zarr", "json")])
def test_engine_reads_converted_store(
    fixture_copy: Any, tmp_path: Path, side_python: Path, name: str, to: str
) -> None:
    import subprocess

    from test_zarr_engine_roundtrip import _engine

    here = Path(__file__).resolve().parent  # (not conftest.HERE: other folders have one)

    dst = tmp_path / "converted"
    wfstore.convert(fixture_copy(name), dst, to)
    if to == "zarr":
        engine = json.loads(_engine(side_python, "read", str(dst), "zarr"))
    else:
        proc = subprocess.run(
            [str(side_python), str(here / "engine_side.py"), "read", str(dst)],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        engine = json.loads(proc.stdout)
    expected = json.loads((FIXTURES_DIR / f"{name}.expected.json").read_text())
    engine.pop("kind")
    expected.pop("kind")
    assert normalise(engine) == normalise(expected)


#: Run by the side venv: a one-task workflow made, submitted (run locally) and read
#: back by hpcflow with wfstore's store classes, after ``wfstore.use_in_hpcflow()``.
HPCFLOW_WORKFLOW = """
import sys
import hpcflow.app as hf
import wfstore

replaced = wfstore.use_in_hpcflow()
assert sorted(replaced) == ["json", "zarr", "zip"], replaced
s1 = hf.TaskSchema(
    objective="t1",
    inputs=[hf.SchemaInput("p1")],
    outputs=[hf.SchemaOutput("p2")],
    actions=[hf.Action(commands=[hf.Command(
        "echo $((<<parameter:p1>> + 100))", stdout="<<parameter:p2>>")])],
)
wk = hf.Workflow.from_template_data(
    template_name="w", tasks=[hf.Task(schema=s1, inputs={"p1": 101})],
    path=sys.argv[1], store=sys.argv[2],
)
wk.submit(wait=True, add_to_known=False, status=False)
wk = hf.Workflow(wk.path)
print(type(wk._store).__module__, wk.tasks[0].elements[0].outputs.p2.value)
"""


def test_hpcflow_runs_a_workflow_on_wfstore(tmp_path: Path, side_python: Path) -> None:
    import os
    import subprocess

    # only the wfstore package on the side venv's path (not the site-packages of this
    # venv it may be installed in, whose numpy would shadow the engine's)
    only = tmp_path / "pkg"
    only.mkdir()
    (only / "wfstore").symlink_to(Path(wfstore.__file__).resolve().parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(only)
    proc = subprocess.run(
        [str(side_python), "-c", HPCFLOW_WORKFLOW, str(tmp_path), "zarr"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    module, value = proc.stdout.strip().splitlines()[-1].split()
    assert module.startswith("wfstore.") and value == "201"
    wk_dirs = [p for p in tmp_path.iterdir() if p.is_dir() and p != only]
    assert len(wk_dirs) == 1
    assert wfstore.verify(wk_dirs[0]).ok
    assert wfstore.info(wk_dirs[0])["counts"]["runs"]["succeeded"] == 1
