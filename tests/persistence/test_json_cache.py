"""The JSON store's cached documents and incremental commits: what is cached stays
what the files hold, a commit writes everything it changed (and only once), and a
failed commit changes neither the files nor what the store reads."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from backends import Backend
from fsspec.implementations.local import LocalFileSystem
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_dump import empty_workflow_kwargs
from wfstore.common.errors import StoreResourceError
from wfstore.persistence import JSONPersistentStore, resources
from wfstore.persistence.resources import JSONFileStoreResource


def _new(path: Path | str, fs: Any = None) -> JSONPersistentStore:
    fs = fs if fs is not None else LocalFileSystem()
    JSONPersistentStore.write_empty_workflow(None, **empty_workflow_kwargs(str(path), fs))
    return JSONPersistentStore(None, None, path, fs)


def _populate(store: JSONPersistentStore, n_runs: int = 3) -> list[int]:
    """One task, element and iteration with `n_runs` runs and a parameter each."""
    t = store.add_task(0, {"element_sets": []}, save=False)
    e = store.add_element(t, 0, {}, {}, save=False)
    it = store.add_element_iteration(e, {}, [], save=False)
    runs = []
    for i in range(n_runs):
        p = store.add_set_parameter({"v": i}, {"type": "local_input"}, save=False)
        runs.append(store.add_EAR(it, 0, [0], {"inputs.p": p}, save=False))
    store.save()
    return runs


def _file(store: JSONPersistentStore, name: str) -> Any:
    return json.loads(store.fs.cat_file(f"{str(store.path).rstrip('/')}/{name}"))


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the JSON resources parsed from now on, one per parse."""
    seen: list[str] = []
    orig = JSONFileStoreResource._parse

    def spy(self: JSONFileStoreResource, raw: bytes) -> Any:
        seen.append(self.name)
        return orig(self, raw)

    monkeypatch.setattr(JSONFileStoreResource, "_parse", spy)
    return seen


def test_unchanged_documents_are_parsed_once(tmp_path: Path, parses: list[str]) -> None:
    store = _new(tmp_path / "wk")
    runs = _populate(store, 5)
    # the build was encoded from objects: each document is parsed once, on first use
    store.get_EARs(runs)
    store.get_parameters([0])
    del parses[:]
    for r in runs:
        store.set_EAR_submission_index(r, 0)
        store.set_EAR_start(r)
        store.set_EAR_end(r, 0, True)
    p = store.add_unset_parameter({"type": "EAR_output"})
    store.set_parameter_value(p, [1, 2])
    assert store.get_EARs(runs)[-1].exit_code == 0
    assert store.get_parameters([p])[0].data == [1, 2]
    assert parses == []  # every commit and read used the cached documents
    fresh = JSONPersistentStore(None, None, store.path)
    assert [r.exit_code for r in fresh.get_EARs(runs)] == [0] * 5
    assert fresh.get_parameters([p])[0].data == [1, 2]


def test_cache_follows_changes_made_by_another_writer(backend: Backend) -> None:
    a = _new(backend.path("wk"), backend.fs)
    runs = _populate(a)
    assert a.get_EARs([runs[0]])[0].submission_idx is None
    b = JSONPersistentStore(None, None, a.path, backend.fs)
    b.set_EAR_submission_index(runs[0], 7)
    b.set_parameter_value(b.add_unset_parameter({"type": "EAR_output"}), "b's value")
    a.EAR_cache.clear()
    assert a.get_EARs([runs[0]])[0].submission_idx == 7  # a reads b's change
    a.set_EAR_submission_index(runs[1], 8)  # a's commit keeps b's change
    p = a.add_unset_parameter({"type": "EAR_output"})
    assert p == 4  # numbered after b's parameter
    a.set_parameter_value(p, "a's value")
    md = _file(a, "metadata.json")
    assert [r["submission_idx"] for r in md["runs"]] == [7, 8, None]
    data = _file(a, "parameters.json")["data"]
    assert [data[k]["data"] for k in ("3", "4")] == ["b's value", "a's value"]


def test_cache_follows_a_same_size_rewrite_in_place(tmp_path: Path) -> None:
    """A writer that rewrites the file in place, at once and to the same size (as
    hpcflow's own JSON store does: no new inode, maybe the same mtime) is seen."""
    store = _new(tmp_path / "wk")
    runs = _populate(store)
    meta = tmp_path / "wk" / "metadata.json"
    raw = meta.read_bytes()
    assert raw.count(b'"action_idx":0') == 3
    changed = raw.replace(b'"action_idx":0', b'"action_idx":9', 1)
    with open(meta, "r+b") as fh:  # same inode, same size
        fh.write(changed)
    assert len(meta.read_bytes()) == len(raw)
    store.EAR_cache.clear()
    assert store.get_EARs([runs[0]])[0].action_idx == 9
    store.set_EAR_start(runs[2])
    assert [r["action_idx"] for r in _file(store, "metadata.json")["runs"]] == [9, 0, 0]


def test_failed_commit_leaves_files_and_cache_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _new(tmp_path / "wk")
    runs = _populate(store)
    folder = tmp_path / "wk"
    before = {f: (folder / f).read_bytes() for f in ("metadata.json", "parameters.json")}
    # a commit changing both documents; writing the second temporary file fails:
    store.set_EAR_start(runs[0], save=False)
    p = store.add_set_parameter({"new": True}, {"type": "local_input"}, save=False)
    # (the core's write fails for the second file: its folder is a file)
    real_write = resources._core.write_files_atomic
    calls: list[list[str]] = []

    def second_fails(files: list[tuple[str, bytes]], durability: Any = None) -> None:
        calls.append([os.path.basename(path) for path, _ in files])
        bad = [
            (
                path
                if i == 0
                else os.path.join(folder, "metadata.json", "x", os.path.basename(path)),
                b,
            )
            for i, (path, b) in enumerate(files)
        ]
        real_write(bad, durability)

    monkeypatch.setattr(resources._core, "write_files_atomic", second_fails)
    with pytest.raises(OSError, match=r"metadata\.json"):
        store.save()
    monkeypatch.undo()
    assert [sorted(c) for c in calls] == [["metadata.json", "parameters.json"]]
    assert {f: (folder / f).read_bytes() for f in before} == before
    assert sorted(os.listdir(folder)) == ["metadata.json", "parameters.json", "submissions.json"]
    # the store reads what the files hold; the changes are still pending:
    assert store.has_pending
    with store.using_resource("metadata", "read") as md:
        assert md["runs"][runs[0]]["start_time"] is None
    store.save()  # and the commit can be retried
    assert not store.has_pending
    fresh = JSONPersistentStore(None, None, folder)
    assert fresh.get_EARs([runs[0]])[0].start_time is not None
    assert fresh.get_parameters([p])[0].data == {"new": True}


def test_failed_write_is_not_remembered_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _new(tmp_path / "wk")
    runs = _populate(store)
    before = (tmp_path / "wk" / "metadata.json").read_bytes()

    def fail(fs: Any, writes: Any) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(JSONFileStoreResource, "_write_payloads", staticmethod(fail))
    with pytest.raises(OSError, match="I/O error"):
        store.set_EAR_submission_index(runs[1], 3)
    monkeypatch.undo()
    assert (tmp_path / "wk" / "metadata.json").read_bytes() == before
    assert store.has_pending
    with store.using_resource("metadata", "read") as md:
        assert md["runs"][runs[1]]["submission_idx"] is None
    store.save()  # the retried commit writes the change (not taken as already written)
    assert _file(store, "metadata.json")["runs"][runs[1]]["submission_idx"] == 3


def test_a_change_made_without_its_mark_is_caught(tmp_path: Path) -> None:
    """With ``verify_encoding`` (on in the tests), an incremental commit that would
    miss a change raises instead of writing a file without it."""
    store = _new(tmp_path / "wk")
    runs = _populate(store)
    store.set_EAR_skip(runs[0])  # an incremental commit: per-item encodings exist
    before = (tmp_path / "wk" / "metadata.json").read_bytes()
    store._committing = True  # as inside a commit, whose writers mark their changes
    try:
        with (
            pytest.raises(StoreResourceError, match="without marking"),
            store._edit("metadata", ("runs", runs[0])) as md,
        ):
            md["runs"][runs[1]]["skip"] = True  # marked run 0, changed run 1
    finally:
        store._committing = False
    assert (tmp_path / "wk" / "metadata.json").read_bytes() == before
    store.EAR_cache.clear()
    assert [r.skip for r in store.get_EARs(runs)] == [True, False, False]


def test_values_handed_out_or_taken_in_are_not_shared_with_the_cache(
    tmp_path: Path,
) -> None:
    store = _new(tmp_path / "wk")
    runs = _populate(store)
    iterable = {"p": {"input_task": 0}}
    store.add_loop(
        {"name": "L", "num_iterations": 1, "tasks": [0]},
        iterable_parameters=iterable,
        parents=["outer"],
        num_added_iterations={(0,): 1},
        iter_IDs=[],
    )
    iterable["p"]["input_task"] = "changed by the caller after the commit"
    store.add_template_components({"parameters": {"p": {"k": (1, 2)}}})
    # what readers get can be changed freely:
    store.get_loops()[0]["parents"].append("x")
    store.get_template()["tasks"].append("x")
    store.get_template_components()["parameters"]["p"]["k"] = None
    store.get_EARs([runs[0]])[0].data_idx["inputs.q"] = 99
    with store.using_resource("metadata", "read") as md:
        md["name"] = "changed by a reader"
    fresh = JSONPersistentStore(None, None, store.path)
    for s in (store, fresh):
        s.EAR_cache.clear()
        loop = s.get_loops()[0]
        assert loop["parents"] == ["outer"]
        assert loop["iterable_parameters"] == {"p": {"input_task": 0}}
        assert s.get_template()["tasks"] == _file(store, "metadata.json")["template"]["tasks"]
        assert s.get_template_components()["parameters"]["p"] == {"k": [1, 2]}
        assert s.get_EARs([runs[0]])[0].data_idx == {"inputs.p": 0}
        assert s.get_name() == "wk_rt"
    # the cache holds what the file holds (lists for tuples), so commits agree:
    store.set_EAR_skip(runs[2])
    assert _file(store, "metadata.json")["template_components"]["parameters"]["p"] == {"k": [1, 2]}


def test_cached_load_trusts_the_cache_until_it_ends(tmp_path: Path) -> None:
    a = _new(tmp_path / "wk")
    runs = _populate(a)
    b = JSONPersistentStore(None, None, a.path)
    with a.cached_load():
        a.get_EARs(runs)
        a.get_parameters([0])
        b.set_EAR_submission_index(runs[0], 5)
        b.set_parameter_value(b.add_unset_parameter({"type": "EAR_output"}), 1)
        a.EAR_cache.clear()
        assert a.get_EARs([runs[0]])[0].submission_idx is None  # the metadata as loaded
        assert a.get_parameters([3])[0].data == 1  # other documents are checked
    a.EAR_cache.clear()
    assert a.get_EARs([runs[0]])[0].submission_idx == 5


def test_incremental_commits_write_what_a_full_encoding_writes(tmp_path: Path) -> None:
    """The files after many small commits are byte for byte the compact encoding of
    their documents, and read back as written."""
    store = _new(tmp_path / "wk")
    runs = _populate(store, 6)
    store.set_EAR_submission_index(runs[3], 1)
    store.set_EAR_start(runs[0])
    store.set_EAR_end(runs[0], 1, False)
    store.set_EAR_skip(runs[5])
    p = store.add_unset_parameter({"type": "EAR_output"})
    store.set_parameter_value(p, {"t": (1, {2, 3})})
    store.update_param_source({p: {"EAR_ID": runs[0]}})
    for name in ("metadata.json", "parameters.json"):
        raw = (tmp_path / "wk" / name).read_bytes()
        assert raw == json.dumps(json.loads(raw), separators=(",", ":")).encode()
    fresh = JSONPersistentStore(None, None, store.path)
    got = fresh.get_EARs(runs)
    assert [r.submission_idx for r in got] == [None, None, None, 1, None, None]
    assert (got[0].exit_code, got[0].success, got[5].skip) == (1, False, True)
    param = fresh.get_parameters([p])[0]
    assert param.data == {"t": (1, {2, 3})}
    assert param.source == {"EAR_ID": runs[0], "type": "EAR_output"}


@pytest.mark.parametrize(
    "value",
    [
        {"a": 1, "b": [1.5, "x", None, {"c": []}]},
        [1, [2, [3]]],
        "text",
        2.5,
        None,
        (1, "x"),
        {"t": (1, 2), "s": {3}},
    ],
    ids=["dict", "list", "str", "float", "none", "tuple", "nested-tuple-set"],
)
def test_parameters_read_back_as_the_general_decoder_reads_them(tmp_path: Path, value: Any) -> None:
    """The store's quick decoding of plain JSON values gives what
    ``StoreParameter.decode`` gives, and a copy that callers may change."""
    from wfstore.persistence.items import StoreParameter

    store = _new(tmp_path / "wk")
    p = store.add_set_parameter(value, {"type": "local_input"})
    stored = _file(store, "parameters.json")
    expected = StoreParameter.decode(
        id_=p, data=stored["data"][str(p)], source=stored["sources"][str(p)]
    )
    for reader in (store, JSONPersistentStore(None, None, store.path)):
        got = reader.get_parameters([p])[0]
        assert got == expected and got.data == value
        if isinstance(got.data, (dict, list)):
            got.data.clear()  # a caller changing what it got
        got.source["type"] = "changed"
        reader.parameter_cache.clear()
        again = reader.get_parameters([p])[0]
        assert again.data == value and again.source == {"type": "local_input"}


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),  # which of two store objects on one folder
        st.sampled_from(["sub_idx", "skip", "add_param", "set_param", "source", "indent"]),
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=_OPS)
def test_interleaved_writers_lose_nothing(
    tmp_path_factory: pytest.TempPathFactory, ops: Any
) -> None:
    """Two store objects (as two processes would) take turns committing single
    changes, while the files are also rewritten indented (as hpcflow writes them):
    every change is in the files, and each store reads all of them."""
    folder = tmp_path_factory.mktemp("wk") / "wk"
    stores = {"a": _new(folder)}
    runs = _populate(stores["a"], 6)
    stores["b"] = JSONPersistentStore(None, None, folder)
    sub_idx: dict[int, int | None] = dict.fromkeys(runs)
    skips: set[int] = set()
    values: dict[int, Any] = {i: {"v": i} for i in range(6)}
    unset: list[int] = []
    sources: dict[int, dict[str, Any]] = {i: {"type": "local_input"} for i in range(6)}
    for who, op, n in ops:
        s = stores[who]
        if op == "sub_idx":
            s.set_EAR_submission_index(runs[n], n + 10)
            sub_idx[runs[n]] = n + 10
        elif op == "skip":
            s.set_EAR_skip(runs[n])
            skips.add(runs[n])
        elif op == "add_param":
            p = s.add_unset_parameter({"type": "EAR_output"})
            assert p == len(values) + len(unset)
            unset.append(p)
            sources[p] = {"type": "EAR_output"}
        elif op == "set_param" and unset:
            p = unset.pop(n % len(unset))
            s.set_parameter_value(p, [who, n])
            values[p] = [who, n]
        elif op == "source":
            s.update_param_source({n: {"EAR_ID": n}})
            sources[n] = {**sources[n], "EAR_ID": n}
        elif op == "indent":
            for name in ("metadata.json", "parameters.json"):
                doc = json.loads((folder / name).read_text())
                (folder / name).write_text(json.dumps(doc, indent=2))
    for s in (*stores.values(), JSONPersistentStore(None, None, folder)):
        got = s.get_EARs(runs)
        assert {r.id_: r.submission_idx for r in got} == sub_idx
        assert {r.id_ for r in got if r.skip} == skips
        params = s.get_parameters(range(len(values) + len(unset)))
        assert {p.id_: p.data for p in params if p.is_set} == values
        assert {p.id_ for p in params if not p.is_set} == set(unset)
        assert {p.id_: p.source for p in params} == sources


@pytest.fixture
def encodes(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many values and whole documents the JSON resources encode from now on."""
    from wfstore.persistence import resources

    counts = {"values": 0, "documents": 0}
    enc, whole = resources._ENC, JSONFileStoreResource._encode_whole

    def count_enc(obj: Any) -> str:
        counts["values"] += 1
        return enc(obj)

    def count_whole(self: JSONFileStoreResource, data: Any) -> bytes:
        counts["documents"] += 1
        return whole(self, data)

    monkeypatch.setattr(resources, "_ENC", count_enc)
    monkeypatch.setattr(JSONFileStoreResource, "_encode_whole", count_whole)
    return counts


def test_a_first_commit_encodes_only_what_it_changed(
    tmp_path: Path, encodes: dict[str, int]
) -> None:
    """A store object that reads the files and commits once (a job recording a run's
    start) takes the unchanged entries' encodings from the files' bytes."""
    store = _new(tmp_path / "wk")
    runs = _populate(store, 40)
    encodes.update(values=0, documents=0)
    job = JSONPersistentStore(None, None, store.path)
    job.set_EAR_start(runs[7])
    assert encodes["documents"] == 0
    assert encodes["values"] < 10, encodes  # the run, not the 40 runs and 40 parameters
    p = job.add_unset_parameter({"type": "EAR_output"})
    job.set_parameter_value(p, {"x": [1, 2]})
    assert encodes["documents"] == 0
    # (`verify_encoding` is on in the tests: each payload was also checked against a
    # full encoding of its document)
    fresh = JSONPersistentStore(None, None, store.path)
    got = fresh.get_EARs(runs)
    assert got[7].start_time is not None
    assert [r.start_time for i, r in enumerate(got) if i != 7] == [None] * 39
    assert fresh.get_parameters([p])[0].data == {"x": [1, 2]}
    assert fresh.get_parameters([0])[0].data == {"v": 0}


@pytest.mark.parametrize(
    "rewrite",
    [
        lambda doc: json.dumps(doc, indent=2),  # as the engine writes it
        lambda doc: json.dumps({**doc, "name": "wk-\u00e9"}, ensure_ascii=False),
    ],
    ids=["indented", "non-ascii"],
)
def test_files_in_another_form_are_encoded_whole_on_first_commit(
    tmp_path: Path, encodes: dict[str, int], rewrite: Any
) -> None:
    store = _new(tmp_path / "wk")
    runs = _populate(store, 5)
    meta = tmp_path / "wk" / "metadata.json"
    meta.write_text(rewrite(json.loads(meta.read_bytes())), encoding="utf-8")
    encodes.update(values=0, documents=0)
    job = JSONPersistentStore(None, None, store.path)
    job.set_EAR_start(runs[2])
    assert encodes["documents"] == 1
    raw = meta.read_bytes()
    assert raw == json.dumps(json.loads(raw), separators=(",", ":")).encode()
    fresh = JSONPersistentStore(None, None, store.path)
    assert [r.start_time is not None for r in fresh.get_EARs(runs)] == [
        False,
        False,
        True,
        False,
        False,
    ]
