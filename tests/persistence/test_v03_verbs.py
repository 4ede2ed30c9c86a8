"""wfstore's whole-store verbs on hpcflow 0.3.0 stores: verify (naming damaged run files
and parameter files), repair, rechunk, zip, unzip and consolidation, checked against what
0.3.0's own classes read (in the 0.3.0 side environment) where the store changes."""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import wfstore
from click.testing import CliRunner
from store_dump import normalise
from v03_helpers import (
    engine_dump,
    finish_runs,
    make_submitted,
    output_params,
    run_value,
    without_run_files,
)
from wfstore.cli import app
from wfstore.persistence.v03 import consolidate as cons
from wfstore.persistence.v03 import layout

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "data" / "hpcflow-0.3.0"
ZARR_FIXTURES = sorted(
    p.name for p in FIXTURES.iterdir() if p.is_dir() and (p / "metadata").is_dir()
)
ZIP_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.zip"))
N_RUNS = 32


def _copy(name: str, dst: Path) -> Path:
    out = dst / name
    shutil.copytree(FIXTURES / name, out)
    return out


def _cli(*args: str) -> Any:
    return CliRunner().invoke(app.cli, list(args), catch_exceptions=False)


def _files(root: Path, folder: str) -> list[str]:
    base = root / folder
    return sorted(str(p.relative_to(root)) for p in base.rglob("*") if p.is_file())


# --- verify ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ZARR_FIXTURES + ZIP_FIXTURES)
def test_verify_engine_stores_ok(name: str) -> None:
    """Every store hpcflow 0.3.0 wrote verifies clean (run_sub_dat and run_dirs, of
    structured dtypes, were once reported), its run files, parameter files and NPZ
    archives decoded."""
    report = wfstore.verify(FIXTURES / name)
    assert report.ok, report.bad
    if name in ZARR_FIXTURES:
        on_disk = [
            p
            for d in (layout.RUN_FILES_DIR, layout.PARAM_FILES_DIR, layout.ARRAY_OUTPUTS_DIR)
            for p in (FIXTURES / name / d).rglob("*")
            if p.is_file()
        ]
        assert report.files == len(on_disk) > 0


def test_verify_names_damaged_run_and_parameter_files(tmp_path: Path) -> None:
    """A damaged run file, parameter file and NPZ archive are each reported by folder
    and name, and reading them through the store raises CorruptFileError naming the
    file."""
    wk = _copy("wk_array_outputs_zarr", tmp_path)
    assert wfstore.verify(wk).ok
    run_file = wk / "metadata/run_multi/0/0/0"
    param_file = wk / "parameters/base_multi/0/0/1"
    npz = sorted((wk / "parameters/array_outputs/p2").rglob("*.npz.zst"))[0]
    run_file.write_bytes(b"\xc1not msgpack")
    param_file.write_bytes(layout.PARAM_FILE_MAGIC + b"not zstd")
    npz.write_bytes(b"not an archive")
    report = wfstore.verify(wk)
    found = {b.location for b in report.bad}
    assert found == {
        "metadata/run_multi/0/0/0",
        "parameters/base_multi/0/0/1",
        str(npz.relative_to(wk)),
    }
    res = _cli("verify", str(wk))
    assert res.exit_code == 1 and "run_multi/0/0" in res.output
    store = wfstore.open(wk)
    with pytest.raises(wfstore.CorruptFileError) as err:
        store.get_EARs([0])
    assert err.value.path == "metadata/run_multi/0/0/0"


def _blosc(data: bytes) -> bytes:
    """`data` compressed as hpcflow 0.3.0's numeric chunks are (Blosc lz4, shuffle)."""
    return wfstore._core.compress(
        data,
        {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0},
        typesize=1,
    )


def test_verify_names_damaged_numeric_chunks(tmp_path: Path) -> None:
    """Numeric arrays are checked through the core's NumericArray: a run_sub_dat chunk
    (a structured dtype) that does not decompress, one that decompresses to a row too
    few, and a js_* chunk (an N-d integer array, nested keys) of the wrong size are each
    named by array and key, and nothing else is."""
    wk = _copy("wk_seq_zarr", tmp_path)
    assert wfstore.verify(wk).ok
    sub_dat = wk / "metadata/run_sub_dat/0"
    run_ids = wk / "metadata/submissions/0/js_run_IDs/0/0/0"
    task_acts = wk / "metadata/submissions/0/js_task_acts/0/0"
    sub_dat.write_bytes(b"not blosc")
    run_ids.write_bytes(_blosc(bytes(4 * 4 - 1)))  # one byte short of 4 <i4 items
    report = wfstore.verify(wk)
    assert {b.location for b in report.bad} == {
        "metadata/run_sub_dat/0",
        "metadata/submissions/0/js_run_IDs/0/0/0",
    }
    reasons = {b.location: b.reason for b in report.bad}
    assert "decodes to 15 bytes, expected 16" in reasons["metadata/submissions/0/js_run_IDs/0/0/0"]
    # a run_sub_dat chunk of whole records but one record short of its 200,000 rows
    sub_dat.write_bytes(_blosc(bytes(11 * 199_999)))
    task_acts.write_bytes(_blosc(bytes(8 * 3 + 8)))
    report = wfstore.verify(wk)
    assert {b.location: b.reason for b in report.bad} == {
        "metadata/run_sub_dat/0": "decodes to 2199989 bytes, expected 2200000",
        "metadata/submissions/0/js_task_acts/0/0": "decodes to 32 bytes, expected 24",
        "metadata/submissions/0/js_run_IDs/0/0/0": "decodes to 15 bytes, expected 16",
    }
    assert report.arrays > 0 and report.chunks >= 3
    res = _cli("verify", str(wk))
    assert res.exit_code == 1 and "run_sub_dat" in res.output and "js_task_acts" in res.output


def test_verify_names_a_damaged_deflated_numeric_chunk_once(tmp_path: Path) -> None:
    """A zip archive whose deflated numeric chunk is damaged (the store itself cannot
    give it): the entry is named once, by its CRC-32 check, and the array's other
    chunks are still checked (each decoded on its own), nothing else named."""
    src = FIXTURES / "wk_seq_zarr"
    archive = tmp_path / "wk.zip"
    bad_entry = "metadata/submissions/0/js_task_acts/0/0"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                zf.write(p, str(p.relative_to(src)))
    assert wfstore.verify(archive).ok
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(bad_entry)
    raw = bytearray(archive.read_bytes())
    head = info.header_offset  # local header: name and extra lengths at 26 and 28
    name_len = int.from_bytes(raw[head + 26 : head + 28], "little")
    extra_len = int.from_bytes(raw[head + 28 : head + 30], "little")
    start = head + 30 + name_len + extra_len
    for i in range(start, start + info.compress_size):
        raw[i] ^= 0x5A
    archive.write_bytes(bytes(raw))
    report = wfstore.verify(archive)
    assert [b.location for b in report.bad] == [bad_entry]
    assert "archive entry unreadable" in report.bad[0].reason


@pytest.mark.parametrize(
    ("dtype", "fill"),
    [
        ([["submission_idx", "|u1"], ["commands_file_ID", "<u3"]], "//////////////8="),
        ([["submission_idx", "|u1"], ["submission_idx", "<u4"]], "//////////////8="),
        ([["submission_idx", "|u1"], ["commands_file_ID", "<u4"]], "AAAA"),
        ([["submission_idx", "|u1"], ["commands_file_ID", "<u4"]], 0),
    ],
    ids=["bad-field-dtype", "duplicate-field", "short-fill", "number-fill"],
)
def test_verify_names_a_damaged_record_zarray(tmp_path: Path, dtype: Any, fill: Any) -> None:
    """A run_sub_dat ``.zarray`` whose structured dtype or base64 fill value the core
    refuses is damage: the ``.zarray`` is named, and the chunk no reader can read with
    it."""
    wk = _copy("wk_seq_zarr", tmp_path)
    zarray = wk / "metadata/run_sub_dat/.zarray"
    doc = json.loads(zarray.read_text())
    doc["dtype"], doc["fill_value"] = dtype, fill
    zarray.write_text(json.dumps(doc))
    report = wfstore.verify(wk)
    assert {b.location for b in report.bad} == {
        "metadata/run_sub_dat/.zarray",
        "metadata/run_sub_dat/0",
    }
    assert not report.notes


def test_verify_notes_numeric_arrays_wfstore_does_not_read(tmp_path: Path) -> None:
    """A numeric array of a dtype numpy reads but the core does not (strings, written by
    zarr-python; a record with a sub-array field) is no damage: verify notes it and
    checks its chunks decompress, naming each one that does not."""
    zarr = pytest.importorskip("zarr")
    wk = _copy("wk_seq_zarr", tmp_path)
    zarr.open_array(
        str(wk / "parameters/arrays/arr_0"), mode="w", shape=(4,), chunks=(2,), dtype="<U3"
    )[:] = ["a", "bc", "def", ""]
    # a structured dtype numpy reads (a sub-array field) but wfstore does not
    zarray = wk / "metadata/run_sub_dat/.zarray"
    doc = json.loads(zarray.read_text())
    doc["dtype"] = [["submission_idx", "|u1"], ["commands_file_ID", "<u4", [2]]]
    zarray.write_text(json.dumps(doc))
    report = wfstore.verify(wk)
    assert report.ok, report.bad
    noted = " ".join(report.notes)
    assert "parameters/arrays/arr_0" in noted and "metadata/run_sub_dat" in noted
    assert "decompress only" in noted and "sub-array" in noted
    (wk / "parameters/arrays/arr_0/1").write_bytes(b"not blosc")
    (wk / "metadata/run_sub_dat/0").write_bytes(b"not blosc either")
    assert sorted(b.location for b in wfstore.verify(wk).bad) == [
        "metadata/run_sub_dat/0",
        "parameters/arrays/arr_0/1",
    ]


# --- repair ------------------------------------------------------------------------------


def test_repair_clears_engine_partials(tmp_path: Path) -> None:
    """0.3.0's temporary files of writes cut short are noted by verify and removed by
    repair once old enough; the store's own files stay."""
    wk = _copy("wk_seq_zarr", tmp_path)
    before = _files(wk, "metadata/run_multi")
    tmp = wk / "metadata/run_multi/0/0/0.0123abcd.partial"
    tmp.write_bytes(b"half")
    assert any(".partial" in n for n in wfstore.verify(wk).notes)
    assert wfstore.repair(wk).kept  # too young
    assert tmp.exists()
    old = time.time() - 7200
    os.utime(tmp, (old, old))
    dry = wfstore.repair(wk, dry_run=True)
    assert tmp.exists() and any("would remove 1 temporary" in d for d in dry.done)
    done = wfstore.repair(wk)
    assert not tmp.exists() and done.clean
    assert _files(wk, "metadata/run_multi") == before
    assert wfstore.verify(wk).ok


# --- consolidation --------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_store(tmp_path_factory: pytest.TempPathFactory, side_python_v03: Path) -> Path:
    """A 0.3.0-made store of 32 runs, each in its own run file, all finished through
    wfstore (run 5 skipped)."""
    path = make_submitted(side_python_v03, tmp_path_factory.mktemp("sub") / "made", N_RUNS)
    finish_runs(path, list(range(N_RUNS)), skip=(5,))
    return path


def _wfstore_view(path: Path) -> dict[str, Any]:
    store = wfstore.open(path)
    runs = store.get_EARs(range(N_RUNS))
    params = store.get_parameters(range(store._get_num_total_parameters()))
    return {
        "runs": [
            (r.start_time, r.end_time, r.skip, r.exit_code, r.success, r.run_hostname)
            for r in runs
        ],
        "params": [p.data for p in params],
    }


def test_consolidate_read_by_the_engine(
    tmp_path: Path, finished_store: Path, side_python_v03: Path
) -> None:
    """A finished submission's 32 run files and 32 parameter files become 4 + 4 (10
    runs per file); 0.3.0's own classes and wfstore read every value as before; a
    second run does nothing."""
    orig = tmp_path / "orig"
    shutil.copytree(finished_store, orig)
    cons_path = tmp_path / "cons"
    shutil.copytree(finished_store, cons_path)
    before = _wfstore_view(orig)
    assert len(_files(orig, "metadata/run_multi")) == N_RUNS
    res = _cli("consolidate", str(cons_path), "--runs-per-file", "10", "--json")
    assert res.exit_code == 0, res.output
    (rep,) = json.loads(res.output)
    assert rep["runs"] == N_RUNS and not rep["already"]
    # 32 run files, 31 output files (run 5 skipped), the non-output file
    assert rep["files_before"] == 2 * N_RUNS and rep["files_after"] == 4 + 4 + 1
    assert len(_files(cons_path, "metadata/run_multi")) == 4
    # the folder the old run files were in is gone (parameter file 0 keeps its own)
    assert rep["folders_removed"] == 1 and _empty_folders(cons_path) == []
    assert not (cons_path / "metadata/run_multi/0/0").exists()
    assert _wfstore_view(cons_path) == before
    store = wfstore.open(cons_path)
    runs = store.get_EARs(range(N_RUNS))
    assert [(r.run_file_ID, r.run_file_idx) for r in runs[:11]] == [
        (rep["run_file_ids"][0], i) for i in range(10)
    ] + [(rep["run_file_ids"][1], 0)]
    outs = output_params(store, [0, 31])
    assert store.get_parameters([outs[31]])[0].data == run_value(31)
    dumps = engine_dump(side_python_v03, orig, cons_path)
    assert without_run_files(dumps["cons"]) == without_run_files(dumps["orig"])
    assert wfstore.verify(cons_path).ok
    again = wfstore.open(cons_path).consolidate_runs(runs_per_file=10)
    assert again[0]["already"] and again[0]["removed"] == 0


def _empty_folders(root: Path) -> list[str]:
    return [
        d.relative_to(root).as_posix()
        for top in ("metadata/run_multi", "parameters/base_multi")
        for d in (root / top).rglob("*")
        if d.is_dir() and not any(d.iterdir())
    ]


@pytest.mark.parametrize("finish", ["again", "repair"])
def test_consolidation_killed_before_a_folder_went(
    tmp_path: Path, finished_store: Path, finish: str
) -> None:
    """Stopped after the last old file went but before its emptied folder did: every
    value reads the same; running it again (or repair) removes the empty folder."""
    path = tmp_path / "wk"
    shutil.copytree(finished_store, path)
    before = _wfstore_view(path)
    n_old = 2 * N_RUNS - 1  # 32 run files, 31 output files (run 5 skipped)

    def stop(stage: str, n: int) -> None:
        if stage == "removed" and n == n_old - 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cons.consolidate_submission(wfstore.open(path), 0, 10, hook=stop)
    assert _empty_folders(path) == ["metadata/run_multi/0/0"]
    assert _wfstore_view(path) == before
    if finish == "again":
        (rep,) = wfstore.open(path).consolidate_runs(runs_per_file=10)
        assert rep["already"] and rep["removed"] == 0 and rep["folders_removed"] == 1
    else:
        done = wfstore.repair(path).done
        assert any("empty run/parameter-file folder" in d for d in done), done
    assert _empty_folders(path) == []
    assert _wfstore_view(path) == before
    assert wfstore.verify(path).ok


def test_consolidate_refusals(tmp_path: Path, side_python_v03: Path) -> None:
    """Refused, changing nothing: a submission with runs not finished (naming them),
    NPZ shard archives of the submission's array outputs, a zip archive, an a190 or
    JSON store."""
    path = make_submitted(side_python_v03, tmp_path / "made", 4)
    finish_runs(path, [0, 1, 2])
    files = _files(path, "metadata/run_multi")
    with pytest.raises(wfstore.SubmissionNotFinishedError, match=r"1 run\(s\).*\(3\)"):
        wfstore.open(path).consolidate_runs([0])
    assert wfstore.consolidate(path) == []  # no finished submission
    assert _files(path, "metadata/run_multi") == files
    npz = _copy("wk_array_outputs_zarr", tmp_path)
    with pytest.raises(wfstore.UnsupportedStoreOperationError, match="consolidate_array_outputs"):
        wfstore.open(npz).consolidate_runs()
    with pytest.raises(wfstore.ReadOnlyStoreError):
        wfstore.open(FIXTURES / "wk_seq_zarr_zip.zip").consolidate_runs()
    res = CliRunner().invoke(app.cli, ["consolidate", str(FIXTURES / "wk_seq_json")])
    assert res.exit_code == 2 and "0.3 Zarr store folder" in res.output


def test_cut_short_consolidation_reads_and_is_finished(
    tmp_path: Path, finished_store: Path
) -> None:
    """Stopped after the rows moved but before old files went: every value reads the
    same, verify is clean, repair (or another run) removes the old files."""
    path = tmp_path / "wk"
    shutil.copytree(finished_store, path)
    before = _wfstore_view(path)

    def stop(stage: str, n: int) -> None:
        if stage == "removed" and n == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cons.consolidate_submission(wfstore.open(path), 0, 10, hook=stop)
    assert _wfstore_view(path) == before
    assert len(cons.unreferenced_files(wfstore.open(path))) > 0
    assert any("no run points at" in n for n in wfstore.verify(path).notes)
    rep = wfstore.repair(path)
    assert any("no run points at" in d for d in rep.done)
    assert cons.unreferenced_files(wfstore.open(path)) == []
    assert len(_files(path, "metadata/run_multi")) == 4
    assert _wfstore_view(path) == before


# --- rechunk, zip, unzip -------------------------------------------------------------


def test_rechunk_zip_unzip_read_by_the_engine(
    tmp_path: Path, finished_store: Path, side_python_v03: Path
) -> None:
    """rechunk (run_metadata and sources, backups kept), zip and unzip of 0.3.0 stores:
    0.3.0's own classes read the results as the originals (engine fixtures zipped by
    wfstore, NPZ array outputs among them, as the fixture folders)."""
    rech = tmp_path / "rech"
    shutil.copytree(finished_store, rech)
    res = _cli("rechunk", str(rech), "--chunk-size", "7")
    assert res.exit_code == 0, res.output
    assert "metadata/run_metadata: 32 rows" in res.output
    assert (rech / "metadata/run_metadata.bak").is_dir()
    assert (rech / "parameters/sources.bak").is_dir()
    meta = json.loads((rech / "metadata/run_metadata/.zarray").read_text())
    assert meta["chunks"] == [7] and meta["dimension_separator"] == "/"
    # the structured arrays indexed by run ID go with run_metadata (0.3.0 reads them
    # by coordinate selection, whatever their chunks; run_dirs holds fill values only
    # here, so no chunk of it is written, as 0.3.0 writes none)
    for name in ("run_sub_dat", "run_dirs"):
        assert f"metadata/{name}: 32 rows" in res.output
        meta = json.loads((rech / f"metadata/{name}/.zarray").read_text())
        assert meta["chunks"] == [7] and meta["dimension_separator"] == "/", name
        assert isinstance(meta["dtype"], list) and (rech / f"metadata/{name}.bak").is_dir()
    assert sorted(p.name for p in (rech / "metadata/run_sub_dat").iterdir()) == [
        ".zarray", "0", "1", "2", "3", "4"
    ]
    zipped = tmp_path / "zipped.zip"
    res = _cli("zip", str(rech), "-o", str(zipped))
    assert res.exit_code == 0, res.output
    res = _cli("unzip", str(zipped), str(tmp_path / "unzipped"))
    assert res.exit_code == 0, res.output
    own = {}
    for name in ("wk_seq_zarr", "wk_array_outputs_zarr"):
        src = _copy(name, tmp_path)
        own[f"{name}.zip"] = Path(wfstore.open(src).zip(str(tmp_path / f"{name}.zip")))
    for p in (rech, zipped, tmp_path / "unzipped", *own.values()):
        assert wfstore.verify(p).ok
    dumps = engine_dump(
        side_python_v03, finished_store, rech, zipped, tmp_path / "unzipped", *own.values()
    )

    def without_kind(d: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = normalise(d)
        out.pop("kind")
        return out

    ref = without_kind(dumps[finished_store.name])
    for name in ("rech", "zipped.zip", "unzipped"):
        assert without_kind(dumps[name]) == ref, name
    for name in own:  # the engine's fixtures, zipped by wfstore: as the folders read
        folder = json.loads((FIXTURES / f"{name[:-4]}.expected.json").read_text())
        assert without_kind(dumps[name]) == without_kind(folder), name


def test_json_store_verify_and_inspect(tmp_path: Path) -> None:
    """A 0.3.0 JSON store: inspect names the generation; verify checks runs.json too."""
    wk = _copy("wk_seq_json", tmp_path)
    info = wfstore.info(wk)
    assert (info["kind"], info["generation"]) == ("json", "0.3.0")
    assert wfstore.info(FIXTURES / "wk_seq_zarr_zip.zip")["generation"] == "0.3.0"
    assert wfstore.verify(wk).ok
    (wk / "runs.json").write_text("[1, 2")
    bad = wfstore.verify(wk).bad
    assert [(b.key, b.reason.split(":")[0]) for b in bad] == [("runs.json", "invalid JSON")]


@pytest.mark.parametrize("left", [".rechunk-old", ".rechunk-tmp"])
def test_open_puts_back_an_array_a_killed_rechunk_left_missing(tmp_path: Path, left: str) -> None:
    """A rechunk killed between the two renames of its swap leaves run_metadata missing
    (the old array moved aside, or the new one complete beside it): opening the store
    puts it back and every run reads."""
    from wfstore.common.names import RECHUNK_COMPLETE_MARKER

    wk = _copy("wk_seq_zarr", tmp_path)
    want = [r.end_time for r in wfstore.open(wk).get_EARs(range(4))]
    arr = wk / "metadata/run_metadata"
    aside = wk / f"metadata/run_metadata{left}"
    arr.rename(aside)
    if left == ".rechunk-tmp":  # the new array, complete
        (aside / RECHUNK_COMPLETE_MARKER).write_bytes(b"")
    assert [r.end_time for r in wfstore.open(wk).get_EARs(range(4))] == want
    assert arr.is_dir() and not aside.exists()


def test_consolidate_with_consolidated_array_outputs(
    tmp_path: Path, side_python_v03: Path
) -> None:
    """Array outputs 0.3.0 merged into ``consolidated.npz.zst`` are found by run ID, so
    the runs may move to other run files: after consolidation (4 runs of 2 run files in
    one) 0.3.0 reads every value, masked numpy outputs included, as before."""
    orig = tmp_path / "orig"
    _cli("unzip", str(FIXTURES / "wk_array_outputs_consolidated_zip.zip"), str(orig))
    cons_path = tmp_path / "cons"
    shutil.copytree(orig, cons_path)
    (rep,) = wfstore.consolidate(cons_path)
    assert rep["runs"] == 4 and len(_files(cons_path, "metadata/run_multi")) == 1
    dumps = engine_dump(side_python_v03, orig, cons_path)
    assert without_run_files(dumps["cons"]) == without_run_files(dumps["orig"])
    assert {r["run_file_ID"] for r in dumps["cons"]["runs"]} == set(rep["run_file_ids"])
