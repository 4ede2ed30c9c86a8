"""The Zarr store's read cache (issue 20): chunks read and array metadata kept while
the store-wide change marker is unchanged, and correct while other processes write.
Chunk reads (``decodes``), metadata reads and marker reads are counted by the cache
itself; nothing here is timed."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
from collections import OrderedDict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import tree_digest
from fsspec.implementations.local import LocalFileSystem
from hypothesis import given, settings
from hypothesis import strategies as st
from store_dump import empty_workflow_kwargs
from wfstore import _core
from wfstore.common.errors import ParameterAlreadySetError
from wfstore.common.names import CHANGE_MARKER_NAME, LOCK_NAME
from wfstore.persistence import ZarrPersistentStore
from wfstore.persistence.items import IDList, ZarrStoreEAR
from wfstore.persistence.readcache import (
    CLEAN,
    DIRTY,
    HISTORY,
    LRUBytes,
    ReadCache,
    group_document,
    group_marker_offset,
    head_id,
    is_clean,
    marker_counter,
    marker_in_group,
    marker_value,
    parse_marker,
)

N_RUNS = 40
CHUNK = 10


def _make(path: Path, chunk: int = CHUNK) -> None:
    """A store of one task, one element, one iteration, N_RUNS runs (`chunk` rows per
    chunk of runs and parameters) and N_RUNS parameters."""
    kwargs = empty_workflow_kwargs(str(path), LocalFileSystem())
    ZarrPersistentStore.write_empty_workflow(
        None, **kwargs, run_chunk_size=chunk, param_chunk_size=chunk
    )
    store = ZarrPersistentStore(None, None, path)
    t = store.add_task(0, {"element_sets": []}, save=False)
    e = store.add_element(t, 0, {}, {}, save=False)
    it = store.add_element_iteration(e, {}, [], save=False)
    for i in range(N_RUNS):
        p = store.add_set_parameter({"v": i}, {"type": "x", "i": i}, save=False)
        store.add_EAR(it, 0, [i], {"inputs.p1": p}, save=False)
    store.save()


def _read_all(store: ZarrPersistentStore) -> list[Any]:
    """One-row reads of everything, as the engine makes them."""
    out: list[Any] = []
    for i in range(N_RUNS):
        out.append(store.get_EARs([i])[0])
        out.append(store.get_parameters([i])[0].data)
        out.append(store.get_parameter_sources([i])[0])
    out.append(store.get_element_iterations([0])[0])
    out.append(store.get_elements([0])[0])
    return out


def _marker(path: Path) -> bytes:
    """The store's change marker: in its root .zgroup (stores wfstore made)."""
    doc = (path / ".zgroup").read_bytes()
    at = group_marker_offset(doc)
    assert at is not None and not (path / CHANGE_MARKER_NAME).exists()
    return marker_in_group(doc, at)


# --- the LRU ----------------------------------------------------------------------------

_ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(0, 12), st.integers(0, 120)),
        st.tuples(st.just("get"), st.integers(0, 12), st.just(0)),
        st.tuples(st.just("pop"), st.integers(0, 12), st.just(0)),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(max_bytes=st.integers(0, 300), ops=_ops)
def test_lru_matches_a_model_and_stays_within_its_bound(
    max_bytes: int, ops: list[tuple[str, int, int]]
) -> None:
    """Against a model (an ordered dict, least recently used first): the same keys in
    the same order, the same values, sizes that add up to at most the bound."""
    lru = LRUBytes(max_bytes)
    model: OrderedDict[int, tuple[str, int]] = OrderedDict()
    for n, (op, key, size) in enumerate(ops):
        if op == "put":
            value = f"v{n}"
            lru.put(key, value, size)
            model.pop(key, None)
            if size <= max_bytes:
                while model and sum(s for _, s in model.values()) + size > max_bytes:
                    model.popitem(last=False)
                model[key] = (value, size)
        elif op == "get":
            got = lru.get(key)
            if key in model:
                model.move_to_end(key)
                assert got == model[key][0]
            else:
                assert got is None
        else:
            lru.pop(key)
            model.pop(key, None)
        assert lru.keys() == list(model)
        assert lru.total == sum(s for _, s in model.values()) <= max_bytes


def test_chunk_cache_keeps_within_its_byte_bound(tmp_path: Path) -> None:
    path = tmp_path / "wk"
    _make(path)
    store = ZarrPersistentStore(None, None, path)
    store.read_cache.chunks = LRUBytes(6000)  # a few chunks' worth (fixed)
    _read_all(store)
    chunks = store.read_cache.chunks
    assert 0 < chunks.total <= 6000
    assert len(chunks) < 2 * N_RUNS // CHUNK  # some were evicted


# --- reads that are lookups ---------------------------------------------------------------


def test_repeated_reads_with_nothing_written_do_not_decode_again(tmp_path: Path) -> None:
    path = tmp_path / "wk"
    _make(path)
    store = ZarrPersistentStore(None, None, path)
    rc = store.read_cache
    first = _read_all(store)
    decodes, meta = rc.decodes, rc.meta_reads
    # runs, parameters: N_RUNS / CHUNK chunks each, sources: one chunk (of 1000), the
    # iteration's and the element's: each chunk read once, not once per row read
    assert decodes == 2 * N_RUNS // CHUNK + 1 + 1 + 1
    assert meta <= 2 * 5  # .zarray and .zattrs of five arrays, once
    marker_reads = rc.marker_reads
    again = _read_all(store)
    assert again == first
    assert (rc.decodes, rc.meta_reads) == (decodes, meta)
    # one marker read per read operation (a getter call): 3 per run, 2 more
    assert rc.marker_reads - marker_reads == 3 * N_RUNS + 2


def test_cached_load_reads_the_marker_once(tmp_path: Path) -> None:
    path = tmp_path / "wk"
    _make(path)
    store = ZarrPersistentStore(None, None, path)
    rc = store.read_cache
    before = rc.marker_reads
    with store.cached_load():  # (its root attributes come from the cache: one read)
        _read_all(store)
        _read_all(store)
    assert rc.marker_reads - before == 1


def test_a_tasks_elements_are_read_in_one_operation_per_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``get_task_elements`` reads each batch's elements, iterations and runs in one
    read operation (one marker read, not one per kind of item), and none is held open
    while the caller consumes what it yields."""
    from wfstore.persistence import base

    path = tmp_path / "wk"
    _make(path)
    store = ZarrPersistentStore(None, None, path)
    rc = store.read_cache
    before = rc.marker_reads
    (elem,) = store.get_task_elements(0, [0])
    assert elem["iterations"][0]["EARs"][0][0]["id_"] == 0
    # (the task's element list is one operation, the batch another)
    assert rc.marker_reads - before == 2
    monkeypatch.setattr(base, "_ELEMENT_BATCH", 1)
    gen = store.get_task_elements(0)
    next(gen)
    assert rc.depth == 0  # (no operation open while the caller holds the generator)
    # the task's kept element list is read, not copied (a copy per call costs 1 ms at
    # 500,000 elements), and what a caller does to a task handed out does not reach it
    copies: list[int] = []
    real = IDList.copy

    def counting(self: IDList) -> IDList:
        copies.append(len(self))
        return real(self)

    monkeypatch.setattr(IDList, "copy", counting)
    assert [e["id_"] for e in store.get_task_elements(0, [0, -1])] == [0, 0]
    assert copies == []
    store.get_tasks()[0].element_IDs.append(99)
    assert [e["id_"] for e in store.get_task_elements(0)] == [0]


def test_handed_out_values_are_not_the_caches_own(tmp_path: Path) -> None:
    path = tmp_path / "wk"
    _make(path)
    store = ZarrPersistentStore(None, None, path)
    store.get_parameters([0])[0].data["v"] = "changed"
    store.get_parameter_sources([0])[0]["i"] = "changed"
    store.get_EARs([0])[0].commands_idx.append(99)
    assert store.get_parameters([0])[0].data == {"v": 0}
    assert store.get_parameter_sources([0])[0]["i"] == 0
    assert store.get_EARs([0])[0].commands_idx == [0]


def test_a_store_without_marker_keeps_nothing_across_operations(tmp_path: Path) -> None:
    """Stores written by the engine's own classes have no marker: every operation
    reads afresh (and sees everything written)."""
    path = tmp_path / "wk"
    _make(path)
    (path / ".zgroup").write_text('{\n    "zarr_format": 2\n}')  # as the engine writes it
    store = ZarrPersistentStore(None, None, path)
    rc = store.read_cache
    store.get_EARs([0])
    decodes = rc.decodes
    store.get_EARs([0])
    assert rc.decodes == decodes + 1
    # within one operation a chunk is still read once
    with store.cached_load():
        store.get_EARs([0, 1])  # (runs are built by the core at a chunk's first read)
        store.get_EARs([1])  # now read whole
        d = rc.decodes
        store.get_EARs([0])
        store.get_EARs([1])
        assert rc.decodes == d


# --- other processes' commits --------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import os, sys
    from wfstore.persistence import ZarrPersistentStore
    from wfstore.persistence.zarr.transactions import ZarrTransactions

    path, run, crash = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "crash"
    if crash:
        # die between the data's renames and the clean marker (as a killed process)
        orig = ZarrTransactions._write_change_marker

        def write(self, state, *args):
            if state == b"clean":
                os._exit(3)
            return orig(self, state, *args)

        ZarrTransactions._write_change_marker = write
    store = ZarrPersistentStore(None, None, path)
    store.set_EAR_start(run)
    store.set_EAR_end(run, 0, True)
    """
)


def _writer(path: Path, run: int, crash: bool = False) -> int:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-c", _WRITER, str(path), str(run), "crash" if crash else "ok"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if not crash:
        assert proc.returncode == 0, proc.stderr
    return proc.returncode


def test_another_process_commit_is_seen_at_the_next_read(tmp_path: Path) -> None:
    path = tmp_path / "wk"
    _make(path)
    reader = ZarrPersistentStore(None, None, path)
    rc = reader.read_cache
    assert reader.get_EARs([3])[0].end_time is None
    decodes = rc.decodes
    assert reader.get_EARs([4])[0].end_time is None  # same chunk: a lookup
    assert reader.get_EARs([5])[0].end_time is None
    assert rc.decodes == decodes
    _writer(path, 3)  # process B commits run 3's start and end
    run3, run4 = reader.get_EARs([3, 4])
    assert run3.end_time is not None and run3.success is True
    assert run4.end_time is None
    assert rc.decodes == decodes + 1  # the changed chunk was read again
    assert is_clean(_marker(path))
    # and nothing written since: lookups
    reader.get_EARs([3])
    reader.get_EARs([5])
    assert rc.decodes == decodes + 1


def test_the_marker_slot_is_decoded_once_per_value_it_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The marker is read at every operation, but its slot (base64, 6 KiB) is decoded
    only when its bytes differ from the last ones decoded: another process's commit is
    still seen at the next read."""
    import wfstore.persistence.zarr.transactions as tx

    decoded: list[bytes] = []

    def counting(doc: bytes, offset: int) -> bytes:
        value = marker_in_group(doc, offset)
        decoded.append(value)
        return value

    path = tmp_path / "wk"
    _make(path)
    monkeypatch.setattr(tx, "marker_in_group", counting)
    reader = ZarrPersistentStore(None, None, path)
    rc = reader.read_cache
    first = _read_all(reader)
    reads = rc.marker_reads
    assert _read_all(reader) == first
    assert rc.marker_reads - reads == 3 * N_RUNS + 2  # still read at every operation
    assert len(decoded) == 1 and decoded[0] == _marker(path)
    _writer(path, 3)  # process B commits run 3's start and end
    assert reader.get_EARs([3])[0].end_time is not None
    assert len(decoded) == 2 and decoded[1] == _marker(path) != decoded[0]
    reader.get_EARs([4])
    assert len(decoded) == 2


def test_a_writer_dying_before_the_clean_marker_leaves_no_stale_reader(tmp_path: Path) -> None:
    """A writer killed after its data are in place but before the marker's clean value:
    the marker stays dirty (written before the data changed), naming the key the write
    changes, which no reader trusts, so the reader that had cached the old chunk reads
    the new data, at every operation, until a commit makes the marker clean again; its
    other cached chunks stay lookups."""
    path = tmp_path / "wk"
    _make(path)
    reader = ZarrPersistentStore(None, None, path)
    rc = reader.read_cache
    assert reader.get_EARs([5])[0].start_time is None
    assert reader.get_EARs([13])[0].start_time is None
    assert _writer(path, 5, crash=True) == 3
    marker = _marker(path)
    assert marker.startswith(b"dirty ")
    assert parse_marker(marker)[1][-1][2] == ("metadata/runs/0",)  # type: ignore[index]
    assert reader.get_EARs([5])[0].start_time is not None  # the new data
    d = rc.decodes
    reader.get_EARs([5])
    assert rc.decodes == d + 1  # its chunk: nothing kept across operations
    reader.get_EARs([13])
    assert rc.decodes == d + 1  # another chunk: still a lookup
    _writer(path, 6)  # the next commit: clean again
    assert is_clean(_marker(path))
    reader.get_EARs([5, 6])
    reader.get_EARs([5, 6])
    d = rc.decodes
    assert reader.get_EARs([6])[0].end_time is not None
    assert rc.decodes == d  # cached again


def test_written_forgets_only_its_keys_when_no_other_writer_came_between() -> None:
    rc = ReadCache(lambda: None, max_bytes=10_000)
    v1, v2, v3 = (marker_value(CLEAN, n) for n in (1, 2, 3))
    rc.label = v1
    rc.chunks.put(("a", 0), "x", 1)
    rc.chunks.put(("a", 1), "y", 1)
    rc.meta["a"] = [None, None]
    rc.meta["b"] = [None, None]
    rc.written(v2, v1, ["a/0", "b/.zarray", "c/0.0", ".zattrs"])
    assert rc.chunks.keys() == [("a", 1)] and list(rc.meta) == ["a"] and rc.label == v2
    # the marker held another value than the cache's at the write's start: another
    # writer came between, everything is forgotten
    rc.written(v3, v1, ["a/0"])
    assert len(rc.chunks) == 0 and not rc.meta and rc.label == v3
    # keys not known: everything too
    rc.chunks.put(("a", 1), "y", 1)
    rc.written(marker_value(CLEAN, 5), v3, None)
    assert len(rc.chunks) == 0


def test_a_dirty_marker_parks_the_cache_until_a_clean_value_names_the_changes() -> None:
    """Read while another process's commit is under way (the marker dirty), the cache
    is not used, nor is what is read then kept; what was cached before is set aside,
    and taken back, less the keys the commits since changed, once a clean value's
    history names them all (else dropped: a writer died, keys not known)."""
    feed: list[bytes | None] = []
    rc = ReadCache(lambda: feed[-1], max_bytes=10_000)

    def clean(n: int, since: bytes, changed: list[str] | None) -> bytes:
        ident = head_id(parse_marker(since)[0])
        assert ident is not None
        return marker_value(CLEAN, n, [(ident[0], ident[1], ())], changed)

    def op() -> None:
        rc.begin()
        rc.ready()
        rc.end()

    v1 = marker_value(CLEAN, 2, [(0, b"0" * 16, ())], ["x/0"])
    feed.append(v1)
    op()
    rc.chunks.put(("a", 0), "a0", 1)
    rc.chunks.put(("a", 1), "a1", 1)
    rc.meta["b"] = [None, None]
    feed.append(marker_value(DIRTY, 3))
    op()  # parked: nothing cached is used now
    assert len(rc.chunks) == 0 and not rc.meta and rc.label is None
    rc.chunks.put(("a", 1), "read mid-commit", 1)
    op()  # still dirty: what was read meanwhile is not kept, the parked cache is
    assert len(rc.chunks) == 0 and rc.parked is not None
    rc.chunks.put(("a", 1), "read mid-commit", 1)
    feed.append(clean(4, v1, ["a/1", "b/.zarray"]))
    op()
    assert rc.chunks.keys() == [("a", 0)] and not rc.meta
    assert rc.label == parse_marker(feed[-1])[0] and rc.parked is None and rc.unparked == 1
    # an unreadable marker for a while (no commit): everything back
    feed.append(None)
    op()
    assert len(rc.chunks) == 0 and rc.parked is not None
    feed.append(feed[-2])
    op()
    assert rc.chunks.keys() == [("a", 0)] and rc.unparked == 2
    # a writer died (dirty), the next commit cannot name what it changed: all dropped
    v4 = feed[-1]
    assert v4 is not None
    feed.append(marker_value(DIRTY, 5))
    op()
    feed.append(marker_value(CLEAN, 8, [], None))
    op()
    assert len(rc.chunks) == 0 and rc.parked is None
    assert rc.label == parse_marker(feed[-1])[0]


def test_followers_forget_what_the_cache_forgets() -> None:
    """Data kept under the cache's rule by another holder (the 0.3 store's decoded
    files) are forgotten with the keys the cache forgets, and wholly when it forgets
    everything or sets its cache aside or takes it back (what was read while the
    marker was dirty is never kept)."""
    feed: list[bytes | None] = []
    rc = ReadCache(lambda: feed[-1], max_bytes=10_000)
    told: list[list[str] | None] = []
    rc.follow(lambda keys: told.append(None if keys is None else sorted(keys)))

    def op() -> None:
        rc.begin()
        rc.ready()
        rc.ready()  # (one reading per operation: followers told once)
        rc.end()

    v1 = marker_value(CLEAN, 2, [(0, b"0" * 16, ())], ["x/0"])
    ident = head_id(parse_marker(v1)[0])
    assert ident is not None
    feed.append(v1)
    op()
    assert told == [None]  # (nothing was valid before: everything forgotten)
    op()
    assert told == [None]  # (no commit since: nothing forgotten)
    v2 = marker_value(CLEAN, 4, [(ident[0], ident[1], ())], ["r/1", "p/0"])
    feed.append(v2)
    op()
    assert told == [None, ["p/0", "r/1"]]
    feed.append(marker_value(DIRTY, 5))
    op()  # parked
    assert told[-1] is None and rc.parked is not None
    told.clear()
    ident2 = head_id(parse_marker(v2)[0])
    assert ident2 is not None
    feed.append(marker_value(CLEAN, 6, [(ident2[0], ident2[1], ())], ["r/2"]))
    op()  # taken back: what followers read meanwhile is dropped, then r/2
    assert told == [None, ["r/2"]] and rc.parked is None
    told.clear()
    rc.written(marker_value(CLEAN, 8, [], None))  # (keys not known: everything)
    assert told == [None]


def test_a_read_during_another_commit_keeps_the_chunks_it_did_not_change(
    tmp_path: Path,
) -> None:
    """A reader reading while another store object's commit is under way reads afresh
    (the new data, not its cache's), and after that commit its cached chunks that the
    commit did not change are lookups again (the commit's own chunk is read again)."""
    path = tmp_path / "wk"
    _make(path)
    reader = ZarrPersistentStore(None, None, path)
    writer = ZarrPersistentStore(None, None, path)
    rc = reader.read_cache
    for i in (3, 4, 13, 14):  # chunks 0 and 1 of runs, each read whole
        assert reader.get_EARs([i])[0].start_time is None
    keys: list[str] = []
    with writer._write_session(keys):  # the marker dirty until the block ends
        writer.set_EAR_start(3)
        d = rc.decodes
        assert reader.get_EARs([3])[0].start_time is not None  # read afresh
        assert reader.get_EARs([13])[0].start_time is None
        assert rc.decodes > d and rc.parked is not None
    assert keys and all(not k.startswith("metadata/runs/1") for k in keys)
    d = rc.decodes
    assert reader.get_EARs([13])[0].start_time is None  # chunk 1: a lookup again
    assert rc.decodes == d and rc.unparked == 1 and rc.parked is None
    assert reader.get_EARs([3])[0].start_time is not None  # chunk 0: read again
    assert rc.decodes == d + 1


def test_a_dirty_marker_naming_its_keys_keeps_what_its_commit_does_not_change() -> None:
    """A commit under way whose dirty value names its keys (its history's last entry,
    its own): readers forget those keys at every reading until a clean value, and keep
    the rest under their label. A dirty value that does not name them (no entry of its
    own, keys not known, a history without the label) parks the cache as before."""
    feed: list[bytes | None] = []
    rc = ReadCache(lambda: feed[-1], max_bytes=10_000)

    def op() -> None:
        rc.begin()
        rc.ready()
        rc.end()

    v1 = marker_value(CLEAN, 2, [(0, b"0" * 16, ())], ["x/0"])
    label1 = parse_marker(v1)[0]
    history = parse_marker(v1)[1]
    assert history
    feed.append(v1)
    op()
    rc.chunks.put(("a", 0), "a0", 1)
    rc.chunks.put(("a", 1), "a1", 1)
    rc.meta["b"] = [None, None]
    rc.meta["c"] = [None, None]
    feed.append(marker_value(DIRTY, 3, history, ["a/1", "b/.zarray"]))
    op()
    assert rc.chunks.keys() == [("a", 0)] and list(rc.meta) == ["c"]
    assert rc.label == label1 and rc.parked is None
    rc.chunks.put(("a", 1), "read mid-commit", 1)
    op()  # still dirty: its keys are forgotten again, the rest kept
    assert rc.chunks.keys() == [("a", 0)] and list(rc.meta) == ["c"]
    rc.chunks.put(("a", 1), "read mid-commit", 1)
    feed.append(marker_value(CLEAN, 4, history, ["a/1", "b/.zarray"]))
    op()
    assert rc.chunks.keys() == [("a", 0)] and rc.label == parse_marker(feed[-1])[0]
    after = parse_marker(feed[-1])[1]
    assert after
    for dirty in (
        marker_value(DIRTY, 5, after),  # no entry of its own
        marker_value(DIRTY, 5, after, None),  # its keys not known
        marker_value(DIRTY, 5, history, ["a/1"]),  # the label not in its history
    ):
        feed.append(dirty)
        op()
        assert rc.parked is not None and len(rc.chunks) == 0
        feed.append(after and feed[-2])  # clean again, nothing changed: taken back
        op()
        assert rc.parked is None and rc.chunks.keys() == [("a", 0)]


_KEYS = [f"a/{i}" for i in range(4)]
_commits = st.lists(
    st.tuples(
        st.sets(st.sampled_from(_KEYS), min_size=1),  # the keys it writes
        st.booleans(),  # whether it names them in its dirty value
        st.booleans(),  # whether the writer dies before its clean value
        st.lists(st.booleans(), min_size=3, max_size=3),  # reads while it runs
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(commits=_commits)
def test_no_reading_of_the_marker_keeps_a_changed_chunk(
    commits: list[tuple[set[str], bool, bool, list[bool]]],
) -> None:
    """Writers commit as the store does (the marker dirty, with or without the keys,
    the keys' data changed in two steps, the marker clean unless the writer dies) and
    a reader reads every key at any point between: after each reading of the marker,
    whatever the cache holds is the data as they are now."""
    version = dict.fromkeys(_KEYS, 0)
    marker = [marker_value(CLEAN, 0)]
    rc = ReadCache(lambda: marker[0], max_bytes=10_000)

    def read() -> None:
        rc.begin()
        rc.ready()
        for key in _KEYS:
            arr, _, idx = key.partition("/")
            held = rc.chunks.get((arr, int(idx)))
            if held is None:
                rc.chunks.put((arr, int(idx)), version[key], 1)
            else:
                assert held == version[key], (key, held, version[key])
        rc.end()

    for keys, named, dies, reads in commits:
        before = marker[0]
        counter = marker_counter(before)
        history = ZarrPersistentStore._marker_history(before)
        if named and history is not None:
            marker[0] = marker_value(DIRTY, counter + 1, history, sorted(keys))
        else:
            marker[0] = marker_value(DIRTY, counter + 1)
        ordered = sorted(keys)
        for step, at_read in enumerate(reads):
            if at_read:
                read()
            for key in ordered[step::2] if step < 2 else ():  # the data, in two steps
                version[key] += 1
        if not dies:
            changed = sorted(keys) if history is not None else None
            marker[0] = marker_value(CLEAN, counter + 2, history or (), changed)
        read()


def test_a_read_during_another_transaction_keeps_what_it_does_not_change(
    tmp_path: Path,
) -> None:
    """While another store object's commit applies its transaction (the marker dirty,
    naming its keys), a reader's cached chunks and metadata that the commit does not
    change stay lookups, and the chunk it changes is read afresh; after the commit the
    reader sees the change."""
    path = tmp_path / "wk"
    _make(path)
    reader = ZarrPersistentStore(None, None, path)
    writer = ZarrPersistentStore(None, None, path)
    rc = reader.read_cache
    for i in (3, 13):  # chunks 0 and 1 of runs
        assert reader.get_EARs([i])[0].start_time is None
    name = reader.get_name()
    seen: dict[str, Any] = {}
    session = writer._write_session

    @contextlib.contextmanager
    def spy(keys: list[str] | None = None, planned: bool = False) -> Iterator[None]:
        with session(keys, planned):
            if planned:  # the marker is dirty, no file changed yet
                seen["keys"] = list(keys or ())
                d, m, n = rc.decodes, rc.meta_reads, rc.marker_reads
                seen["13"] = reader.get_EARs([13])[0].start_time
                seen["name"] = reader.get_name()
                seen["3"] = reader.get_EARs([3])[0].start_time
                seen["counts"] = (rc.decodes - d, rc.meta_reads - m, rc.marker_reads - n)
                seen["parked"] = rc.parked
            yield

    writer._write_session = spy  # type: ignore[method-assign]
    writer.set_EAR_start(3)
    assert seen["keys"] and all(k.startswith("metadata/runs/0") for k in seen["keys"])
    # chunk 1 and the root attributes: lookups; chunk 0 (the commit's): read again
    assert seen["counts"] == (1, 0, 3) and seen["parked"] is None
    assert seen["13"] is None and seen["name"] == name and seen["3"] is None
    d = rc.decodes
    assert reader.get_EARs([3])[0].start_time is not None  # the change, once clean
    assert reader.get_EARs([13])[0].start_time is None
    assert rc.decodes == d + 1


def test_root_attributes_read_again_are_parsed_again_only_if_changed(tmp_path: Path) -> None:
    """After more commits than the marker's history remembers, a reader forgets
    everything; its root attributes, read afresh, are parsed again only if their
    document changed (its bytes' digest), and a change of them is seen."""
    path = tmp_path / "wk"
    _make(path)
    reader = ZarrPersistentStore(None, None, path)
    rc = reader.read_cache
    name = reader.get_name()
    parsed = rc.meta[""][1]
    writer = ZarrPersistentStore(None, None, path)
    for i in range(HISTORY + 2):
        writer.set_EAR_start(i)
    inv, reads, hits = rc.invalidations, rc.meta_reads, rc.content_hits
    assert reader.get_name() == name
    assert (rc.invalidations, rc.meta_reads, rc.content_hits) == (inv + 1, reads + 1, hits + 1)
    assert rc.meta[""][1] is parsed  # not parsed again
    with writer.using_resource("attrs", "update") as attrs:
        attrs["name"] = "renamed"
    assert reader.get_name() == "renamed"
    assert rc.content_hits == hits + 1 and rc.meta[""][1] is not parsed


def test_own_commit_forgets_only_what_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store's own commit, with no other writer since its cache was last valid,
    forgets only the chunks (and metadata) it wrote: the other chunks stay lookups,
    a chunk of rows patched is kept as written (a job reads its run again next), and
    shows the change. The marker is read once per commit (under the lock) and once per
    read operation."""
    path = tmp_path / "wk"
    _make(path)
    store = ZarrPersistentStore(None, None, path)
    rc = store.read_cache
    for _ in range(2):  # (a chunk's second read takes it whole)
        store.get_EARs([3, 4, 25, 26])
    d, reads = rc.decodes, rc.marker_reads
    store.set_EAR_start(3)  # one commit: runs chunk 0 (and nothing of chunk 2)
    assert rc.partial_drops == 1
    # read at the commit's start, and once for the root attributes it reads before
    # (the timestamp format: a store without a workflow keeps it there)
    assert rc.marker_reads - reads == 2
    assert store.get_EARs([25])[0].start_time is None
    assert rc.decodes == d  # chunk 2 kept
    assert store.get_EARs([3])[0].start_time is not None
    assert rc.decodes == d  # chunk 0 kept as the commit wrote it
    # another store object's commit to the same chunk, then this one's (as two jobs'
    # commits interleave): its patch reads the chunk under the lock, and what it
    # keeps has both changes
    ZarrPersistentStore(None, None, path).set_EAR_start(4)
    store.set_EAR_start(5)
    d = rc.decodes
    got = store.get_EARs([3, 4, 5, 6])
    assert [r.start_time is not None for r in got] == [True, True, True, False]
    assert rc.decodes == d
    # a commit whose marker cannot be written keeps nothing it wrote
    real = ZarrPersistentStore._write_change_marker

    def failing(self: ZarrPersistentStore, state: bytes, *args: Any) -> bytes:
        if state == CLEAN:
            raise OSError("disk full")
        return real(self, state, *args)

    monkeypatch.setattr(ZarrPersistentStore, "_write_change_marker", failing)
    store.set_EAR_start(6)
    assert rc.label is None and not rc.chunks
    assert store.get_EARs([6])[0].start_time is not None


def test_a_commit_patches_the_chunk_from_the_cache_only_if_nothing_changed(
    tmp_path: Path,
) -> None:
    """A job's commit of a run's start or end (under the store lock) takes the run's
    chunk from the read cache when the marker read under the lock shows no commit
    since the cache was valid: the chunk file is not read (here it is damaged behind
    the store's back, and the commit still writes the right rows). After another
    store object's commit the chunk is read again, and both changes are kept."""
    path = tmp_path / "wk"
    _make(path)
    store = ZarrPersistentStore(None, None, path)
    store.get_EARs([3, 4])
    chunk_file = path / "metadata" / "runs" / "0"
    chunk_file.write_bytes(b"damaged")
    store.set_EAR_start(3)
    got = ZarrPersistentStore(None, None, path).get_EARs(list(range(CHUNK)))
    assert [r.start_time is not None for r in got] == [i == 3 for i in range(CHUNK)]
    # another store object's commit to the same chunk, between this one's
    ZarrPersistentStore(None, None, path).set_EAR_start(4)
    store.set_EAR_end(3, 0, True)
    got = ZarrPersistentStore(None, None, path).get_EARs([3, 4])
    assert got[0].end_time is not None and got[0].start_time is not None
    assert got[1].start_time is not None


def test_a_parameter_set_takes_its_chunk_from_the_cache_only_if_nothing_changed(
    tmp_path: Path,
) -> None:
    """A job's commit of an output value checks and sets its row under the store lock,
    taking the row's chunk from the read cache when nothing was committed since it
    was valid (the chunk file, damaged behind the store's back here, is not read);
    after another store object's commit the chunk is read again and both values are
    kept."""
    path = tmp_path / "wk"
    _make(path)
    maker = ZarrPersistentStore(None, None, path)
    p0 = maker.add_set_parameter({"x": 0}, {"type": "x"})  # (the chunk has a file)
    p1, p2 = (maker.add_unset_parameter({"type": "EAR_output"}) for _ in range(2))
    assert p0 // CHUNK == p1 // CHUNK == p2 // CHUNK
    store = ZarrPersistentStore(None, None, path)
    assert not store.get_parameters([p1])[0].is_set
    chunk_file = path / "parameters" / "base" / str(p1 // CHUNK)
    chunk_file.write_bytes(b"damaged")
    store.set_parameter_value(p1, {"x": 1})
    got = ZarrPersistentStore(None, None, path).get_parameters([p0, p1, p2])
    assert [p.data for p in got[:2]] == [{"x": 0}, {"x": 1}] and not got[2].is_set
    # another store object's commit to the same chunk, between this one's
    ZarrPersistentStore(None, None, path).set_parameter_value(p2, {"x": 2})
    with pytest.raises(ParameterAlreadySetError):
        store.set_parameter_value(p2, {"x": 3})
    got = ZarrPersistentStore(None, None, path).get_parameters([p1, p2])
    assert [p.data for p in got] == [{"x": 1}, {"x": 2}]


def test_a_parameter_set_in_a_transaction_is_kept_as_committed(tmp_path: Path) -> None:
    """The chunk a job's commit of an output value staged goes to the read cache as the
    commit wrote it: the next read of a row of it (the next run's input) reads no file
    (the chunk file, damaged behind the store's back, is not read) and decodes no chunk.
    What is kept is the chunk as staged last: a later write of the same chunk in the
    same transaction is in it. A transaction rolled back keeps nothing."""
    path = tmp_path / "wk"
    _make(path)
    maker = ZarrPersistentStore(None, None, path)
    p0 = maker.add_set_parameter({"x": 0}, {"type": "x"})  # (the chunk has a file)
    p1, p2, p3 = (maker.add_unset_parameter({"type": "EAR_output"}) for _ in range(3))
    assert p0 // CHUNK == p3 // CHUNK
    chunk_file = path / "parameters" / "base" / str(p1 // CHUNK)
    store = ZarrPersistentStore(None, None, path)
    rc = store.read_cache
    assert not store.get_parameters([p1])[0].is_set
    store.set_parameter_value(p1, {"x": 1})
    d = rc.decodes
    good = chunk_file.read_bytes()
    chunk_file.write_bytes(b"damaged")
    got = store.get_parameters([p0, p1, p2])
    assert [p.data for p in got[:2]] == [{"x": 0}, {"x": 1}] and not got[2].is_set
    assert rc.decodes == d
    chunk_file.write_bytes(good)
    # a second write of the chunk in the same transaction, after the value's set (a
    # row copied to p2 by the array itself): the chunk kept has it too
    with store._commit_transaction():
        store._set_parameter_values({p3: ({"x": 3}, False)})
        arr = store._array("parameters/base", write_empty_chunks=False)
        arr.set([p2], arr.get([p3]))
    d = rc.decodes
    got = store.get_parameters([p1, p2, p3])
    assert [p.data for p in got] == [{"x": 1}, {"x": 3}, {"x": 3}]
    assert rc.decodes == d
    fresh = ZarrPersistentStore(None, None, path).get_parameters([p1, p2, p3])
    assert [p.data for p in fresh] == [{"x": 1}, {"x": 3}, {"x": 3}]
    # a run's start committed with an output value (one transaction): both chunks kept
    store.get_EARs([3])
    store.set_EAR_start(3, save=False)
    p4 = maker.add_unset_parameter({"type": "EAR_output"})
    assert not store.get_parameters([p4])[0].is_set  # (and its source's chunk, changed)
    store.set_parameter_value(p4, {"x": 4})
    d = rc.decodes
    assert store.get_EARs([3])[0].start_time is not None
    assert store.get_parameters([p4])[0].data == {"x": 4}
    assert rc.decodes == d
    # a transaction rolled back: nothing of it is read or kept
    p5 = maker.add_unset_parameter({"type": "EAR_output"})
    store.get_parameters([p5])
    with pytest.raises(RuntimeError), store._commit_transaction():
        store._set_parameter_values({p5: ({"x": 5}, False)})
        raise RuntimeError("a later step fails")
    assert not store.get_parameters([p5])[0].is_set
    assert not ZarrPersistentStore(None, None, path).get_parameters([p5])[0].is_set


def test_a_commit_takes_the_array_layout_from_the_cache_only_if_nothing_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job's one-run commit (under the store lock) takes the runs array's layout
    from the read cache when the marker read under the lock shows no commit since the
    cache was valid, and reads ``.zarray`` again when another store object committed
    (here: rechunked the runs, after which the old layout would write the wrong
    chunk); what it writes is right either way."""
    path = tmp_path / "wk"
    _make(path)
    store = ZarrPersistentStore(None, None, path)
    opened: list[str] = []
    real = ZarrPersistentStore._array

    def counting(self: ZarrPersistentStore, p: str, *args: Any) -> Any:
        opened.append(p)
        return real(self, p, *args)

    monkeypatch.setattr(ZarrPersistentStore, "_array", counting)
    rc = store.read_cache
    store.get_EARs([3, 4])
    opened.clear()
    store.set_EAR_start(3)
    assert "metadata/runs" not in opened and rc.meta_hits == 1
    store.get_EARs([4])
    store.set_EAR_start(4)
    assert "metadata/runs" not in opened and rc.meta_hits == 2
    # another store object's commit of a run (a chunk, not the array's metadata)
    # between this store's last read and its commit, as jobs' commits interleave
    # while one waits for the lock (the store call reads first: its commit is called
    # here): the layout is still the cache's
    fields = ZarrStoreEAR.encode_fields(
        store.ts_fmt, start_time=datetime.now(), snapshot_start=None, run_hostname="h"
    )
    ZarrPersistentStore(None, None, path).set_EAR_start(26)
    opened.clear()  # (that store object's own)
    store._patch_rows("metadata/runs", {5: fields}, KeyError)
    assert "metadata/runs" not in opened and rc.meta_hits == 3
    ZarrPersistentStore(None, None, path).rechunk_runs(chunk_size=3, status=False)
    opened.clear()
    store.set_EAR_start(7)
    assert "metadata/runs" in opened and rc.meta_hits == 3
    # this store object's own rechunk: its next commit takes the new layout too
    store.get_EARs([8])
    store.rechunk_runs(chunk_size=7, status=False)
    store.set_EAR_start(8)
    fresh = ZarrPersistentStore(None, None, path)
    started = [r.start_time is not None for r in fresh.get_EARs(list(range(N_RUNS)))]
    assert [i for i, s in enumerate(started) if s] == [3, 4, 5, 7, 8, 26]
    assert fresh.read_cache.meta["metadata/runs"][0].chunk_size == 7


def test_a_parameter_set_takes_the_array_layout_from_the_cache_only_if_nothing_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job's commit of a parameter value (a transaction) takes the parameter array's
    layout from the read cache as a run's commit does, and reads ``.zarray`` when
    another store object appended parameters since, or when the same transaction
    staged an append first; every value lands."""
    path = tmp_path / "wk"
    _make(path)
    store = ZarrPersistentStore(None, None, path)
    opened: list[str] = []
    real = ZarrPersistentStore._array

    def counting(self: ZarrPersistentStore, p: str, *args: Any, **kw: Any) -> Any:
        opened.append(p)
        return real(self, p, *args, **kw)

    monkeypatch.setattr(ZarrPersistentStore, "_array", counting)
    unset = [store.add_unset_parameter({"type": "x"}) for _ in range(3)]
    other = ZarrPersistentStore(None, None, path)
    late = other.add_unset_parameter({"type": "x"})
    store.get_parameters([0])
    opened.clear()
    hits = store.read_cache.meta_hits
    store.set_parameter_value(unset[0], {"a": 1})
    assert "parameters/base" not in opened and store.read_cache.meta_hits == hits + 1
    other.add_unset_parameter({"type": "x"})  # another process appends: .zarray changes
    opened.clear()
    store.set_parameter_value(late, {"a": 2})
    assert "parameters/base" in opened
    with store.batch_update():  # an append staged before the set: not the cache's layout
        new = store.add_unset_parameter({"type": "x"})
        store.set_parameter_value(new, {"a": 3})
        store.set_parameter_value(unset[1], {"a": 4})
    got = ZarrPersistentStore(None, None, path).get_parameters([unset[0], late, new, unset[1]])
    assert [p.data for p in got] == [{"a": 1}, {"a": 2}, {"a": 3}, {"a": 4}]


def test_own_commit_after_another_process_commit_forgets_what_both_changed(
    tmp_path: Path,
) -> None:
    """When another process committed since this store's cache was last valid, the
    store's own commit forgets what the marker's history says the other commit changed
    and what it wrote itself, nothing else; every read after it shows the other
    process's changes."""
    path = tmp_path / "wk"
    _make(path)
    store = ZarrPersistentStore(None, None, path)
    rc = store.read_cache
    for _ in range(2):
        store.get_EARs([3, 15, 25])
    invalidations, drops = rc.invalidations, rc.partial_drops
    _writer(path, 26)  # process B: run 26 (chunk 2) started and ended
    store.set_EAR_start(3)
    assert rc.invalidations == invalidations and rc.partial_drops == drops + 1
    d = rc.decodes
    assert store.get_EARs([15])[0].start_time is None
    assert rc.decodes == d  # chunk 1: nobody wrote it, kept
    assert store.get_EARs([26])[0].end_time is not None
    assert store.get_EARs([3])[0].start_time is not None
    assert rc.decodes == d + 1  # chunk 2 read again (chunk 0 kept as written)


@pytest.mark.parametrize("one_row", [True, False])
def test_the_marker_is_dirty_while_data_files_change_and_clean_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_row: bool
) -> None:
    """The ordering the cache relies on: at the dirty write the data file still holds
    the old row; at the clean write it holds the new one (a job's one-row commit, and
    a commit of several changes through the transaction)."""
    from wfstore.persistence.zarr.transactions import ZarrTransactions

    path = tmp_path / "wk"
    _make(path, chunk=1)  # one run per chunk file: runs/7 is run 7's file
    chunk = path / "metadata" / "runs" / "7"
    events: list[tuple[bytes, bytes]] = []
    orig = ZarrTransactions._write_change_marker

    def record(self: Any, state: bytes, *args: Any) -> bytes:
        events.append((state, chunk.read_bytes()))
        return orig(self, state, *args)

    monkeypatch.setattr(ZarrTransactions, "_write_change_marker", record)
    before = chunk.read_bytes()
    store = ZarrPersistentStore(None, None, path)
    counter = marker_counter(_marker(path))
    if one_row:
        store.set_EAR_start(7)
    else:
        with store.batch_update():
            store.set_EAR_start(7)
            store.set_EAR_submission_index(8, 0)
    after = chunk.read_bytes()
    assert after != before
    assert events == [(b"dirty", before), (b"clean", after)]
    assert marker_counter(_marker(path)) == counter + 2


# --- pending changes: per-item work that does not grow with their number -------------------


class _CountingID(int):
    """An ID that counts the equality tests made with it (a scan of a list of N pending
    IDs makes N; a dict or set look-up at most one)."""

    eq_calls = 0

    def __eq__(self, other: object) -> bool:
        _CountingID.eq_calls += 1
        return int(self) == other

    __hash__ = int.__hash__


def _pending_store(path: Path, n: int) -> tuple[ZarrPersistentStore, list[int], list[int]]:
    kwargs = empty_workflow_kwargs(str(path), LocalFileSystem())
    ZarrPersistentStore.write_empty_workflow(None, **kwargs)
    store = ZarrPersistentStore(None, None, path)
    t = store.add_task(0, {"element_sets": []}, save=False)
    e = store.add_element(t, 0, {}, {}, save=False)
    iters = [store.add_element_iteration(e, {}, [], save=False) for _ in range(n)]
    runs = [store.add_EAR(iters[0], 0, [], {}, save=False) for _ in range(n)]
    store.save()
    for i in iters:
        store.set_EARs_initialised(i, save=False)
    for r in runs:
        store.set_EAR_skip(r, save=False)
    return store, iters, runs


def _eq_calls_of_lookups(store: ZarrPersistentStore, it: int, run: int) -> int:
    _CountingID.eq_calls = 0
    got_it = store.get_element_iterations([_CountingID(it)])[0]
    got_run = store.get_EARs([_CountingID(run)])[0]
    assert got_it.EARs_initialised and got_run.skip
    return _CountingID.eq_calls


def test_pending_lookups_do_not_grow_with_the_number_pending(tmp_path: Path) -> None:
    small, s_iters, s_runs = _pending_store(tmp_path / "small", 20)
    large, l_iters, l_runs = _pending_store(tmp_path / "large", 400)
    n_small = _eq_calls_of_lookups(small, s_iters[-1], s_runs[-1])
    n_large = _eq_calls_of_lookups(large, l_iters[-1], l_runs[-1])
    assert n_small == n_large <= 20
    counter = marker_counter(_marker(tmp_path / "large"))
    large.save()  # all of it in one commit: one write session, one transaction
    assert marker_counter(_marker(tmp_path / "large")) == counter + 2
    assert large._pending.set_EARs_initialised == {}
    assert all(r.skip for r in large.get_EARs(l_runs))


def test_a_rechunk_by_another_store_object_is_seen(tmp_path: Path) -> None:
    """Cached chunks and metadata of the old layout are dropped: the marker changed."""
    path = tmp_path / "wk"
    _make(path)
    reader = ZarrPersistentStore(None, None, path)
    first = [r.commands_idx for r in reader.get_EARs(list(range(N_RUNS)))]
    ZarrPersistentStore(None, None, path).rechunk_runs(chunk_size=3, status=False)
    rc = reader.read_cache
    d = rc.decodes
    assert [r.commands_idx for r in reader.get_EARs(list(range(N_RUNS)))] == first
    assert rc.decodes == d + -(-N_RUNS // 3)  # read again, in the new chunks


def test_a_tasks_element_list_is_built_once_while_its_array_is_unchanged(
    tmp_path: Path,
) -> None:
    """A job reads a task's whole element list at every engine call: the list (and its
    positions) is built once, kept apart from the chunk cache's bound, handed out as a
    copy, and built again only when the tasks array changes (here or elsewhere)."""
    path = tmp_path / "wk"
    _make(path)
    reader = ZarrPersistentStore(None, None, path)
    rc = reader.read_cache
    (task,) = reader.get_tasks()
    assert task.element_IDs == [0] and task.element_IDs.index(0) == 0
    assert rc.derivations == 1
    task.element_IDs.append(99)  # the engine adds to the list it was given
    reader.set_EAR_start(0)  # a commit that does not touch the tasks array
    rc.chunks.clear()  # (the chunk cache evicting everything)
    for _ in range(3):
        (again,) = reader.get_tasks()
        assert again.element_IDs == [0] and again.element_IDs is not task.element_IDs
        assert reader.get_tasks_by_IDs([0])[0].element_IDs.index(0) == 0
    assert rc.derivations == 1
    # another store object (as another process would) adds an element to the task
    ZarrPersistentStore(None, None, path).add_element(0, 0, {}, {}, save=True)
    (after,) = reader.get_tasks()
    assert after.element_IDs == [0, 1] and after.element_IDs.index(1) == 1
    assert rc.derivations == 2
    reader.add_element(0, 0, {}, {}, save=True)  # and this one
    assert reader.get_tasks()[0].element_IDs == [0, 1, 2]
    assert rc.derivations == 3


def test_a_chunk_is_read_once_and_every_row_handed_out_is_new(tmp_path: Path) -> None:
    """A chunk is read once (decompressed and split into rows) and kept as its rows'
    bytes: later reads of any of its rows are lookups, each decoding new objects, so
    that what a caller changes in what it got never reaches the next reader."""
    path = tmp_path / "wk"
    _make(path)
    store = ZarrPersistentStore(None, None, path)
    rc = store.read_cache
    assert store.get_parameters([12])[0].data == {"v": 12}
    chunk = rc.chunks.get(("parameters/base", 1))
    assert isinstance(chunk, _core.ObjectChunk) and len(chunk) == CHUNK
    d = rc.decodes
    got = store.get_parameters(list(range(10, 20)))
    assert [p.data for p in got] == [{"v": i} for i in range(10, 20)]
    assert rc.decodes == d
    got[2].data["v"] = "changed"
    store.get_parameter_sources([12])[0]["i"] = "changed"
    run = store.get_EARs([12])[0]
    run.metadata["changed"] = True
    run.data_idx["inputs.p1"] = -1
    d = rc.decodes
    assert store.get_parameters([12])[0].data == {"v": 12}
    assert store.get_parameter_sources([12])[0]["i"] == 12
    again = store.get_EARs([12])[0]
    assert again.metadata == {} and again.data_idx["inputs.p1"] == 12
    assert again is not run and rc.decodes == d


def _count_root_loads(store: ZarrPersistentStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The reads of `store`'s root attributes (each a parse, unless the document is
    unchanged: see the test of ``content_hits``)."""
    loads: list[int] = []
    orig = store._root_attrs_by_content

    def counting(rc: ReadCache) -> dict[str, Any]:
        loads.append(1)
        return orig(rc)

    monkeypatch.setattr(store, "_root_attrs_by_content", counting)
    return loads


def test_root_attributes_parsed_once_while_nothing_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The root attributes (a megabyte of JSON once a workflow of 10,000 runs has a
    submission) are parsed once while the marker is unchanged, and again after another
    store object (another process) committed: its change is seen."""
    path = tmp_path / "wk"
    _make(path)
    a = ZarrPersistentStore(None, None, path)
    name = ZarrPersistentStore(None, None, path).get_name()
    loads = _count_root_loads(a, monkeypatch)
    for _ in range(5):
        assert a.get_name() == name
        assert len(a.get_tasks()) == 1
    assert len(loads) == 1
    b = ZarrPersistentStore(None, None, path)
    b.add_task(1, {"element_sets": []})  # commits: the root attributes change
    assert len(a.get_tasks()) == 2
    assert len(loads) == 2
    assert len(a.get_tasks()) == 2 and len(loads) == 2


def test_an_update_of_cached_root_attributes_changes_a_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An update opened while a read use holds the cache's root attributes changes a
    copy: if it fails, the cache still holds what is on disk once the block ends; if it
    is written, the
    open read use sees it and so does every later read."""
    path = tmp_path / "wk"
    _make(path)
    store = ZarrPersistentStore(None, None, path)
    name = store.get_name()
    with store.cached_load():
        with pytest.raises(RuntimeError):
            with store.using_resource("attrs", "update") as attrs:
                attrs["name"] = "changed"
                raise RuntimeError("the update fails")
        # (inside the block the read use shares the failed update's data, as before)
    assert store.get_name() == name
    assert ZarrPersistentStore(None, None, path).get_name() == name
    with store.cached_load():
        with store.using_resource("attrs", "update") as attrs:
            attrs["name"] = "renamed"
        assert store.get_name() == "renamed"
    assert store.get_name() == "renamed"
    assert ZarrPersistentStore(None, None, path).get_name() == "renamed"


def test_handed_out_template_is_not_the_caches(tmp_path: Path) -> None:
    path = tmp_path / "wk"
    _make(path)
    store = ZarrPersistentStore(None, None, path)
    template = store.get_template()
    template["changed"] = True
    assert "changed" not in store.get_template()


# --- the marker's history: other writers' commits forget only what they changed -------


def test_another_process_commit_forgets_only_what_it_changed(tmp_path: Path) -> None:
    """Process B's commit is named in the marker's history: reader A forgets the chunks
    it changed (and shows the change), keeps the others as lookups; more commits than
    the history holds make A forget everything."""
    from wfstore.persistence.readcache import HISTORY

    path = tmp_path / "wk"
    _make(path)
    a = ZarrPersistentStore(None, None, path)
    rc = a.read_cache
    for _ in range(2):
        a.get_EARs([3, 15, 25])
    _writer(path, 26)  # B: run 26 (chunk 2)
    d, inv = rc.decodes, rc.invalidations
    assert a.get_EARs([15])[0].end_time is None
    assert a.get_EARs([3])[0].end_time is None
    assert rc.decodes == d and rc.narrowed == 1 and rc.invalidations == inv
    assert a.get_EARs([26])[0].end_time is not None
    assert rc.decodes == d + 1  # chunk 2 alone read again
    a.get_EARs([25])  # (chunk 2 now read whole)
    for run in range(HISTORY):  # B: more commits (two each) than the history holds
        _writer(path, 30 + run % 10)
    d = rc.decodes
    assert a.get_EARs([15])[0].end_time is None
    assert rc.invalidations == inv + 1 and rc.decodes == d + 1


def test_a_dead_writers_changes_are_never_narrowed_away(tmp_path: Path) -> None:
    """A writer killed before its clean marker changed chunk 0; the next writer
    commits chunk 2 only. A reader that cached chunk 0 before and did not read
    meanwhile must not keep it: the history cannot say what the dead writer changed,
    so the reader forgets everything."""
    path = tmp_path / "wk"
    _make(path)
    reader = ZarrPersistentStore(None, None, path)
    rc = reader.read_cache
    for _ in range(2):
        reader.get_EARs([5, 25])
    assert _writer(path, 5, crash=True) == 3  # chunk 0 changed, marker left dirty
    _writer(path, 26)  # chunk 2, clean again
    assert is_clean(_marker(path))
    inv = rc.invalidations
    assert reader.get_EARs([5])[0].start_time is not None
    assert rc.invalidations == inv + 1


_entry_keys = st.lists(st.sampled_from(["metadata/runs/0", "metadata/runs/1", ".zattrs"]))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.none(), _entry_keys), max_size=20),
    st.lists(st.one_of(st.none(), _entry_keys), max_size=20),
    st.integers(min_value=0, max_value=3000),
    st.booleans(),
)
def test_a_marker_read_while_rewritten_is_one_value_or_unreadable(
    hist_a: list[Any], hist_b: list[Any], cut: int, truncated: bool
) -> None:
    """The marker is rewritten in place: a reader may see value B's first bytes over
    value A's (before the file is truncated to B's length), or only B's first bytes.
    Whatever it sees parses as A, as B, or as unreadable (or, without history, a first
    line only, which names no commit): never a history that neither value held."""
    from wfstore.persistence.readcache import parse_marker

    def value(hist: list[Any]) -> bytes:
        if not hist:
            return marker_value(CLEAN, 100)  # (no history: a first line only)
        entries = [
            (2 * i + 2, b"%016x" % i, None if k is None else tuple(k)) for i, k in enumerate(hist)
        ]
        return marker_value(CLEAN, 100, entries[:-1], hist[-1])

    a, b = value(hist_a), value(hist_b)
    seen = b[:cut] if truncated else b[:cut] + a[cut:]
    head, entries = parse_marker(seen)
    if entries:
        assert (head, entries) in (parse_marker(a), parse_marker(b))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.none(), _entry_keys), max_size=20),
    st.lists(st.one_of(st.none(), _entry_keys), max_size=20),
    st.integers(min_value=0, max_value=7000),
)
def test_a_group_marker_read_while_rewritten_keeps_the_group_valid(
    hist_a: list[Any], hist_b: list[Any], cut: int
) -> None:
    """In the root .zgroup the marker's slot is rewritten in place and keeps its
    length: a reader that sees value B's first bytes over value A's reads a valid
    Zarr group document (as the engine's zarr-python reads it), and a marker that
    parses as A, as B, or as unreadable (or a first line only, naming no commit)."""
    from wfstore.persistence.readcache import GROUP_MARKER_LIMIT, parse_marker

    def value(hist: list[Any]) -> bytes:
        if not hist:
            return marker_value(CLEAN, 100)
        entries = [
            (2 * i + 2, b"%016x" % i, None if k is None else tuple(k)) for i, k in enumerate(hist)
        ]
        return marker_value(CLEAN, 100, entries[:-1], hist[-1], GROUP_MARKER_LIMIT)

    a, b = group_document(value(hist_a)), group_document(value(hist_b))
    assert len(a) == len(b)
    seen = b[:cut] + a[cut:]
    assert json.loads(seen)["zarr_format"] == 2
    at = group_marker_offset(seen)
    assert at is not None
    head, entries = parse_marker(marker_in_group(seen, at))
    if entries:
        pa, pb = (parse_marker(marker_in_group(d, at)) for d in (a, b))
        assert (head, entries) in (pa, pb)


def test_marker_value_fits_its_limit() -> None:
    """A history too long for the slot loses its oldest commits first, then the keys
    of the value's own commit; the value always fits."""
    from wfstore.persistence.readcache import GROUP_MARKER_LIMIT, parse_marker

    keys = [f"metadata/runs/{i}/{'x' * 40}" for i in range(60)]
    hist = [(2 * i + 2, b"%016x" % i, tuple(keys)) for i in range(15)]
    value = marker_value(CLEAN, 100, hist, keys, GROUP_MARKER_LIMIT)
    assert len(value) <= GROUP_MARKER_LIMIT
    _, entries = parse_marker(value)
    assert entries and entries[-1][2] == tuple(keys)  # its own commit kept, named
    assert [e[:2] for e in entries[:-1]] == [e[:2] for e in hist[len(hist) - len(entries) + 1 :]]
    huge = [f"k{i}/{'y' * 200}" for i in range(60)]
    value = marker_value(CLEAN, 100, hist, huge, GROUP_MARKER_LIMIT)
    assert len(value) <= GROUP_MARKER_LIMIT
    assert parse_marker(value)[1] == ((100, value.split()[2], None),)


def _make_many(path: Path, n: int, chunk: int) -> None:
    kwargs = empty_workflow_kwargs(str(path), LocalFileSystem())
    ZarrPersistentStore.write_empty_workflow(
        None, **kwargs, run_chunk_size=chunk, param_chunk_size=chunk
    )
    store = ZarrPersistentStore(None, None, path)
    t = store.add_task(0, {"element_sets": []}, save=False)
    e = store.add_element(t, 0, {}, {}, save=False)
    it = store.add_element_iteration(e, {}, [], save=False)
    for i in range(n):
        p = store.add_set_parameter({"v": [i, str(i)]}, {"type": "x", "i": i}, save=False)
        store.add_EAR(it, 0, [i], {"inputs.p1": p, "outputs.p2": p}, save=False)
    store.save()


def _cache_memory(path: Path, n: int, max_bytes: int) -> int:
    """Bytes still allocated after one-row reads of every run and parameter of a store
    of `n` of each, nothing handed out kept: Python's allocations (tracemalloc) and the
    rows' bytes of the chunks held (allocated by the core, which tracemalloc does not
    see; a chunk's ``nbytes`` is its buffers' length)."""
    import gc
    import tracemalloc

    store = ZarrPersistentStore(None, None, path)
    store.read_cache.chunks = LRUBytes(max_bytes)  # (a fixed bound)
    store.get_EARs([0])  # arrays' metadata read before the count starts
    store.get_parameters([0])
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        with store.cached_load():
            for i in range(n):
                store.get_EARs([i])
                store.get_parameters([i])
        gc.collect()
        lru = store.read_cache.chunks
        rows_bytes = sum(lru.get(k).nbytes for k in lru.keys())
        return tracemalloc.get_traced_memory()[0] - before + rows_bytes
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("chunk", [1, CHUNK])
def test_chunk_cache_memory_stays_within_its_byte_bound(tmp_path: Path, chunk: int) -> None:
    """The bound is on memory, not only on the estimate the LRU adds up: what the
    cache holds after reading far more than the bound stays near the bound, while the
    same reads with a large bound hold far more (so the bound is what limits it). One
    row per chunk (stores the engine made) and several."""
    path = tmp_path / "wk"
    n = 1200
    _make_many(path, n, chunk)
    bound = 64 * 1024
    held = _cache_memory(path, n, bound)
    unbounded = _cache_memory(path, n, 1 << 40)
    assert unbounded > 4 * bound  # the reads would hold much more than the bound
    assert held <= 1.5 * bound + 64 * 1024


def test_default_chunk_cache_bound_is_small(monkeypatch: pytest.MonkeyPatch) -> None:
    """A store object's chunk cache is memory on top of the engine's own objects: its
    default bound is 2 MiB; ``WFSTORE_READ_CACHE_BYTES`` sets another."""
    monkeypatch.delenv("WFSTORE_READ_CACHE_BYTES", raising=False)
    assert ReadCache(lambda: None).chunks.max_bytes == 2 * 1024 * 1024
    monkeypatch.setenv("WFSTORE_READ_CACHE_BYTES", "1000")
    lru = ReadCache(lambda: None).chunks
    lru.put("a", "fixed", 999)
    lru.put("b", "fixed", 999)
    assert lru.max_bytes == 1000 and lru.keys() == ["b"]
    monkeypatch.setenv("WFSTORE_READ_CACHE_BYTES", "0")
    assert ReadCache(lambda: None).chunks.max_bytes == 0


def test_new_store_keeps_marker_and_lock_in_its_root_group(tmp_path: Path) -> None:
    """A store wfstore creates has no files beyond the engine's: its change marker is
    in the root .zgroup, a Zarr group document still (zarr-python opens it), and the
    store lock is taken on that file; a store the engine made (no slot) keeps both in
    files of their own."""
    zarr = pytest.importorskip("zarr")
    path = tmp_path / "wk"
    _make(path)
    store = ZarrPersistentStore(None, None, path)
    assert store.store_lock.path == path / ".zgroup"
    assert not [p for p in path.rglob("*") if p.name.startswith(".wfstore")]
    assert is_clean(_marker(path)) and marker_counter(_marker(path)) >= 2
    assert zarr.open_group(str(path), mode="r").attrs["tasks"]
    (path / ".zgroup").write_text('{\n    "zarr_format": 2\n}')  # as the engine writes it
    other = ZarrPersistentStore(None, None, path)
    assert other.store_lock.path == path / LOCK_NAME
    other.add_set_parameter({"v": 9}, {"type": "x"})
    assert is_clean((path / CHANGE_MARKER_NAME).read_bytes())
    assert (path / ".zgroup").read_text() == '{\n    "zarr_format": 2\n}'


def test_a_commit_is_refused_while_the_root_group_cannot_be_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the marker and the lock are can be told only from the root .zgroup: a
    store object that cannot read it takes no lock and writes no marker elsewhere (its
    commit fails with a StoreIOError naming the file, the store as it was)."""
    from wfstore.common.errors import StoreIOError
    from wfstore.persistence.zarr.transactions import ZarrTransactions

    path = tmp_path / "wk"
    _make(path)
    before = tree_digest(path)
    real = ZarrTransactions._read_marker_file

    def unreadable_group(self: Any, p: str | None = None) -> bytes | None:
        if p is not None and p.endswith(".zgroup"):
            return None
        return real(self, p)

    monkeypatch.setattr(ZarrTransactions, "_read_marker_file", unreadable_group)
    real_open = open

    def failing_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(file).endswith(".zgroup"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", failing_open)
    store = ZarrPersistentStore(None, None, path)
    with pytest.raises(StoreIOError, match=r"\.zgroup"):
        store.add_set_parameter({"v": 9}, {"type": "x"})
    assert tree_digest(path) == before
    assert not (path / CHANGE_MARKER_NAME).exists() and not (path / LOCK_NAME).exists()
