"""wfstore.repair: what interrupted writes left is finished or removed, under the store
lock, and nothing else is touched; a dry run changes nothing; young temporaries, and
those a live commit journal names, stay."""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

import pytest
import wfstore
from wfstore import _core

LONG_AGO = time.time() - 2 * 3600  # older than the default min_age (1 h)


def _age(path: Path) -> None:
    os.utime(path, (LONG_AGO, LONG_AGO))


def _snapshot(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


def _zarr_store(path: Path) -> wfstore.ZarrPersistentStore:
    store = wfstore.create(path)
    for i in range(3):
        store.add_set_parameter({"a": i}, {"type": "t"})
    return store  # type: ignore[return-value]


def _params(path: Path) -> list[object]:
    store = wfstore.open(path)
    n = store._get_num_total_parameters()
    return [p.data for p in store.get_parameters(list(range(n)))]


def _traces(path: Path) -> dict[str, Path]:
    """Leave every kind of trace an interrupted write can leave, as a crashed writer
    would (an append of parameter sources without its base, a commit journal of a dead
    process with a temporary file holding its new value, a stray temporary file, a
    rechunk's old folder)."""
    _core.ObjectArray.open(_core.Store.local(path), "parameters/sources").append([{"x": 1}])
    attrs = path / "parameters" / "base" / ".zattrs"
    new_value = path / "parameters" / "base" / ".wfstore-tmp-.zattrs-4000000000-0-1"
    new_value.write_text('{"repaired": true}')
    journal = path / ".wfstore-journal.4000000000.0"
    journal.write_text(
        json.dumps(
            {
                "pid": 4000000000,
                "ops": [["rename", str(new_value.relative_to(path)), str(attrs.relative_to(path))]],
            }
        )
    )
    stray = path / "metadata" / "runs" / ".wfstore-tmp-0-4000000000-1-2"
    stray.write_bytes(b"half a chunk")
    old = path / "metadata" / "runs.rechunk-old"
    old.mkdir()
    (old / ".zgroup").write_text("{}")
    return {"attrs": attrs, "journal": journal, "stray": stray, "old": old}


def test_repair_finishes_and_removes_each_trace(tmp_path: Path) -> None:
    path = tmp_path / "wk"
    _zarr_store(path)
    params = _params(path)
    assert wfstore.repair(path).done == [] and wfstore.repair(path).clean
    t = _traces(path)
    assert len(wfstore.verify(path).notes) == 4

    # a dry run says what it would do and changes nothing
    before = _snapshot(path)
    dry = wfstore.repair(path, dry_run=True)
    assert _snapshot(path) == before
    assert dry.dry_run and len(dry.done) == 2, dry.done
    assert ".wfstore-journal.4000000000.0" in dry.done[0] and "would" in dry.done[0]
    assert "would drop 1 row(s) of parameters/sources" in dry.done[1]
    assert any("younger than min_age" in k for k in dry.kept), dry.kept

    # the journal is finished (its temporary renamed into place), the sources trimmed;
    # the young temporary file and rechunk folder stay
    report = wfstore.repair(path)
    assert report.done == [
        "finished 1 interrupted commit(s) from their journals",
        "dropped 1 row(s) of parameters/sources beyond parameters/base (a parameter "
        "append cut short)",
    ]
    assert not report.clean and len(report.kept) == 2, report.kept
    assert json.loads(t["attrs"].read_text()) == {"repaired": True}
    assert not t["journal"].exists() and t["stray"].exists() and t["old"].exists()
    assert len(_core.ObjectArray.open(_core.Store.local(path), "parameters/sources")) == 3

    # once an hour old, they go
    _age(t["stray"])
    _age(t["old"])
    report = wfstore.repair(path)
    assert report.clean and len(report.done) == 2, report
    assert "metadata/runs.rechunk-old" in report.done[0]
    assert "removed 1 temporary file(s)" in report.done[1]
    assert not t["stray"].exists() and not t["old"].exists()
    assert wfstore.verify(path).ok and wfstore.verify(path).notes == []
    assert _params(path) == params
    again = wfstore.repair(path, min_age=0)
    assert again.done == [] and again.kept == []


def test_min_age_zero_removes_young_temporaries(tmp_path: Path) -> None:
    path = tmp_path / "wk"
    _zarr_store(path)
    stray = path / "parameters" / "base" / ".wfstore-tmp-0-1-2-3"
    stray.write_bytes(b"x")
    folder = path / "metadata" / ".wfstore-tmp-half-folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "f").write_bytes(b"y")
    assert not wfstore.repair(path).clean
    report = wfstore.repair(path, min_age=0)
    assert report.clean and "removed 2 temporary file(s)" in report.done[0]
    assert not stray.exists() and not folder.exists()


def test_a_journal_under_the_lock_is_finished_and_an_unreadable_one_set_aside(
    tmp_path: Path,
) -> None:
    """Repair holds the store lock, which a journaled commit holds while its journal
    exists: a journal it sees is a dead writer's even when its pid names a live
    process (here this one: a reused pid), and is finished. An unreadable journal (what
    a power cut leaves of one written without a flush: a live writer's always parses)
    is set aside under a temporary name, and cleared with the other temporary files."""
    path = tmp_path / "wk"
    _zarr_store(path)
    tmp = path / "metadata" / ".wfstore-tmp-.zattrs-live"
    tmp.write_text("{}")
    other = path / "metadata" / ".wfstore-tmp-other"
    other.write_text("{}")
    journal = path / f".wfstore-journal.{os.getpid()}.7"
    op = ["rename", "metadata/.wfstore-tmp-.zattrs-live", "metadata/.zattrs"]
    journal.write_text(json.dumps({"pid": os.getpid(), "ops": [op]}))
    report = wfstore.repair(path, min_age=0)
    assert not journal.exists() and not tmp.exists() and not other.exists()
    assert (path / "metadata" / ".zattrs").read_text() == "{}"
    assert any("finished 1 interrupted commit" in d for d in report.done), report.done
    # an unreadable journal: set aside, then removed with the temporary files
    journal.write_text("{not json")
    other.write_text("{}")
    report = wfstore.repair(path, min_age=0)
    assert not journal.exists() and not other.exists(), report
    assert not [n for n in os.listdir(path) if n.startswith(".wfstore-")], os.listdir(path)
    assert wfstore.verify(path).ok


def test_an_array_a_rechunk_left_missing_is_put_back_at_once(tmp_path: Path) -> None:
    """A crash between the swap's renames leaves the array missing (readers would find
    no runs): repair puts it back whatever its age."""
    path = tmp_path / "wk"
    _zarr_store(path)
    base = path / "parameters" / "base"
    before = _params(path)
    base.rename(path / "parameters" / "base.rechunk-old")
    report = wfstore.repair(path)
    assert report.clean and "put back the array" in report.done[0], report
    assert base.is_dir() and _params(path) == before


def test_json_store_temporaries(tmp_path: Path) -> None:
    path = tmp_path / "wk"
    store = wfstore.create(path, kind="json")
    store.add_set_parameter({"a": 1}, {"type": "t"})
    # a JSON store's own writes use the common prefix (and leave nothing behind)
    assert not [p for p in path.iterdir() if p.name.startswith(".wfstore")]
    docs = {n: (path / n).read_bytes() for n in wfstore.tools.stores.JSON_STORE_FILES}
    old = path / ".wfstore-tmp-abc.tmp"
    old.write_bytes(b"{")
    young = path / ".wfstore-tmp-def.tmp"
    young.write_bytes(b"{")
    _age(old)
    assert "1 temporary" not in " ".join(wfstore.verify(path).notes)
    assert "2 temporary file(s)" in wfstore.verify(path).notes[0]
    report = wfstore.repair(path)
    assert report.kind == "json" and not old.exists() and young.exists()
    assert "removed 1 temporary file(s)" in report.done[0]
    assert "1 temporary file(s) younger than min_age" in report.kept[0]
    assert {n: (path / n).read_bytes() for n in docs} == docs


def test_bad_arguments(tmp_path: Path) -> None:
    path = tmp_path / "wk"
    _zarr_store(path)
    before = _snapshot(path)
    for bad in (-1, math.nan, math.inf, "soon", None):
        with pytest.raises(wfstore.InvalidArgumentError, match="min_age"):
            wfstore.repair(path, min_age=bad)  # type: ignore[arg-type]
    with pytest.raises(wfstore.StoreNotFoundError, match="nowhere"):
        wfstore.repair(tmp_path / "nowhere")
    shutil.make_archive(str(tmp_path / "arch"), "zip", path)
    with pytest.raises(wfstore.UnsupportedStoreOperationError, match="read-only"):
        wfstore.repair(tmp_path / "arch.zip")
    assert _snapshot(path) == before


def test_repair_waits_for_the_writers_lock(tmp_path: Path) -> None:
    """A writer holding the store lock (a commit or rechunk at work) is waited for:
    nothing is removed until it lets go."""
    import threading

    from wfstore.persistence.zarr.transactions import store_lock_at

    path = tmp_path / "wk"
    _zarr_store(path)
    stray = path / "metadata" / ".wfstore-tmp-stray"
    stray.write_bytes(b"x")
    _age(stray)
    writer = store_lock_at(path)
    writer.acquire()
    reports: list[wfstore.RepairReport] = []
    t = threading.Thread(target=lambda: reports.append(wfstore.repair(path)))
    t.start()
    try:
        time.sleep(0.5)
        assert t.is_alive() and stray.exists() and not reports
    finally:
        writer.release()
    t.join(30)
    assert reports and reports[0].clean and not stray.exists()


def test_spare_files_of_older_versions_are_reported_and_removed(tmp_path: Path) -> None:
    """Older versions kept spare files (``.wfstore-spare-*``, old chunk values) in array
    folders; verify notes them (never as damage), repair removes them whatever their
    age, and the store's data is unchanged."""
    path = tmp_path / "wk"
    _zarr_store(path)
    params = _params(path)
    spares = [
        path / "parameters" / "base" / ".wfstore-spare-0",
        path / "metadata" / "runs" / ".wfstore-spare-1",
    ]
    for p in spares:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"an old value of some chunk")
    report = wfstore.verify(path)
    assert report.ok, report
    assert [n for n in report.notes if "2 spare file(s) (.wfstore-spare-...)" in n], report.notes
    before = _snapshot(path)
    dry = wfstore.repair(path, dry_run=True)
    assert _snapshot(path) == before
    assert any("would remove 2 spare file(s)" in d for d in dry.done), dry.done
    done = wfstore.repair(path)  # young files go too: nothing writes spares any more
    assert done.clean and any("removed 2 spare file(s)" in d for d in done.done), done.done
    assert not any(p.exists() for p in spares)
    assert wfstore.verify(path).notes == []
    assert _params(path) == params


def test_chunk_files_past_an_arrays_end_are_removed_once_old(tmp_path: Path) -> None:
    """An append writes its chunks wholly past the array's recorded end in place,
    before the new length: a writer killed meanwhile leaves one cut short there. No
    reader reads it; verify names it as damage beyond the shape; repair removes it once
    `min_age` old (a dry run says so and changes nothing), and nothing else."""
    path = tmp_path / "wk"
    _zarr_store(path)  # parameters 0-2 in chunk 0 (100 rows per chunk)
    params = _params(path)
    base = path / "parameters" / "base"
    left = base / "1"
    left.write_bytes((base / "0").read_bytes()[:5])  # cut short
    whole = base / "3"
    shutil.copyfile(base / "0", whole)  # a whole chunk whose length was never written
    bad = wfstore.verify(path).bad
    assert [(b.array, b.key) for b in bad] == [("parameters/base", "1")], bad
    assert "beyond" in bad[0].reason
    young = wfstore.repair(path)
    assert any("2 chunk file(s) past their array's end younger" in k for k in young.kept)
    assert left.exists() and whole.exists()
    _age(left)
    _age(whole)
    before = _snapshot(path)
    dry = wfstore.repair(path, dry_run=True)
    assert _snapshot(path) == before
    assert any("would remove 2 chunk file(s) past" in d for d in dry.done), dry.done
    report = wfstore.repair(path)
    assert report.clean and any(
        "removed 2 chunk file(s) past their array's end (an append cut short)" in d
        and "parameters/base/1" in d
        for d in report.done
    ), report
    assert not left.exists() and not whole.exists()
    assert wfstore.verify(path).ok and _params(path) == params
    store = wfstore.open(path)
    for i in range(3, 120):  # into chunk 1
        store.add_set_parameter({"a": i}, {"type": "t"}, save=False)
    store.save()
    assert _params(path) == params + [{"a": i} for i in range(3, 120)]
    assert wfstore.verify(path).ok
