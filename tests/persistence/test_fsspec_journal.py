"""Commits over fsspec file systems other than the local one are journaled like local
ones (``TxnStore::commit_renaming``): new values go under temporary keys, a journal
names the renames, and a commit cut short (a crash, a lost connection) is finished by
the next store that opens the folder, so it is all there or, if it failed before its
journal was written, not there at all."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.local import LocalFileSystem
from store_dump import empty_workflow_kwargs
from wfstore import _core
from wfstore.common.errors import StoreIOError
from wfstore.persistence import ZarrPersistentStore
from wfstore.storage.fsspec import FsspecKeyValueStore, core_store

JOURNAL_PREFIX = ".wfstore-journal."


@pytest.fixture(params=["memory", "dir"])
def fs_root(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, str]]:
    """A non-local file system and a store folder on it: the memory file system
    (``direct`` writes, moves are copies) and a DirFileSystem over a local folder
    (``rename`` writes, moves are renames)."""
    if request.param == "memory":
        fs = fsspec.filesystem("memory")
        root = f"/journal-{uuid.uuid4().hex}"
        yield fs, root
        if fs.exists(root):
            fs.rm(root, recursive=True)
    else:
        yield DirFileSystem(str(tmp_path), fs=LocalFileSystem()), "store"


class Flaky(FsspecKeyValueStore):
    """An adapter whose `method` fails at its `fail_at`-th call (1-based)."""

    def __init__(self, fs: Any, root: str, method: str, fail_at: int) -> None:
        super().__init__(fs, root)
        self.method, self.fail_at, self.calls = method, fail_at, 0

    def _maybe_fail(self, method: str) -> None:
        if method == self.method:
            self.calls += 1
            if self.calls == self.fail_at:
                raise ConnectionError(f"connection lost in {method}")

    def rename(self, from_key: str, to_key: str) -> None:
        self._maybe_fail("rename")
        super().rename(from_key, to_key)

    def set_temp(self, key: str, value: bytes) -> None:
        self._maybe_fail("set_temp")
        super().set_temp(key, value)


def files(fs: Any, root: str) -> list[str]:
    return sorted(str(p)[len(fs._strip_protocol(root)) :].lstrip("/") for p in fs.find(root))


def write_three(store: _core.Store, tag: bytes) -> dict[str, Any]:
    store.begin()
    for key in ("a/0", "a/1", "a/.zarray"):
        store.set(key, tag + key.encode())
    store.delete("a/gone")
    return store.commit()


def dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def age_journal(fs: Any, root: str, **changes: Any) -> None:
    """Rewrite the journal left in `root` with `changes` (as if another process, or
    an earlier time, wrote it)."""
    (name,) = [n for n in files(fs, root) if n.startswith(JOURNAL_PREFIX)]
    path = f"{root}/{name}"
    doc = json.loads(read(fs, path))
    doc.update(changes)
    write(fs, path, json.dumps(doc).encode())


def read(fs: Any, path: str) -> bytes:
    with fs.open(path, "rb") as fh:  # (fsspec 2022's DirFileSystem has no cat_file)
        return bytes(fh.read())


def write(fs: Any, path: str, data: bytes) -> None:
    with fs.open(path, "wb") as fh:  # (nor pipe_file)
        fh.write(data)


def test_commit_of_several_keys_is_journaled_and_leaves_nothing(fs_root: tuple[Any, str]) -> None:
    fs, root = fs_root
    store = core_store(fs, root)
    store.set("a/gone", b"x")
    report = write_three(store, b"new:")
    assert report["journaled"] is True and report["written"] == 3 and report["deleted"] == 1
    assert files(fs, root) == ["a/.zarray", "a/0", "a/1"]
    assert store.get("a/1") == b"new:a/1"
    # one key: one atomic write, no journal
    store.begin()
    store.set("a/0", b"single")
    assert store.commit()["journaled"] is False


def test_commit_cut_short_while_renaming_is_finished_on_open(fs_root: tuple[Any, str]) -> None:
    fs, root = fs_root
    core_store(fs, root).set("a/gone", b"x")
    write_three(core_store(fs, root), b"old:")
    flaky = _core.Store.from_python(Flaky(fs, root, "rename", fail_at=2))
    with pytest.raises(ConnectionError, match="connection lost in rename"):
        write_three(flaky, b"new:")
    reader = core_store(fs, root)
    # half-applied: the first key is new, the second still old, a journal says what
    # is left
    assert reader.get("a/0") == b"new:a/0" and reader.get("a/1") == b"old:a/1"
    assert any(n.startswith(JOURNAL_PREFIX) for n in files(fs, root))
    # the writer (this process, on this host) may still be at work: left alone
    assert reader.recover_journals() == 0
    # ... until its process is gone
    age_journal(fs, root, pid=dead_pid(), host=socket.gethostname())
    assert reader.recover_journals() == 1
    assert [reader.get(k) for k in ("a/0", "a/1", "a/.zarray", "a/gone")] == [
        b"new:a/0",
        b"new:a/1",
        b"new:a/.zarray",
        None,
    ]
    assert files(fs, root) == ["a/.zarray", "a/0", "a/1"]  # no journal, no temporaries


def test_journal_of_another_host_is_recovered_when_stale(fs_root: tuple[Any, str]) -> None:
    fs, root = fs_root
    flaky = _core.Store.from_python(Flaky(fs, root, "rename", fail_at=1))
    with pytest.raises(ConnectionError):
        write_three(flaky, b"new:")
    reader = core_store(fs, root)
    age_journal(fs, root, pid=1, host="another-node")
    assert reader.recover_journals() == 0  # its process may be alive over there
    age_journal(fs, root, time=time.time() - 3600)
    assert reader.recover_journals() == 1
    assert reader.get("a/1") == b"new:a/1"
    assert files(fs, root) == ["a/.zarray", "a/0", "a/1"]


def test_commit_failing_before_its_journal_changes_nothing(fs_root: tuple[Any, str]) -> None:
    fs, root = fs_root
    write_three(core_store(fs, root), b"old:")
    flaky = _core.Store.from_python(Flaky(fs, root, "set_temp", fail_at=2))
    with pytest.raises(ConnectionError, match="set_temp"):
        write_three(flaky, b"new:")
    reader = core_store(fs, root)
    assert [reader.get(k) for k in ("a/0", "a/1", "a/.zarray")] == [
        b"old:a/0",
        b"old:a/1",
        b"old:a/.zarray",
    ]
    assert files(fs, root) == ["a/.zarray", "a/0", "a/1"]


def test_journal_naming_a_key_outside_the_store_is_refused(fs_root: tuple[Any, str]) -> None:
    fs, root = fs_root
    store = core_store(fs, root)
    store.set("a/0", b"x")
    doc = {"pid": 1, "host": "h", "time": 0.0, "ops": [["delete", "../elsewhere"]]}
    write(fs, f"{root}/{JOURNAL_PREFIX}1.0", json.dumps(doc).encode())
    with pytest.raises(Exception, match="outside the store"):
        store.recover_journals()
    assert store.get("a/0") == b"x"


def _failing_rename_at(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    calls = {"n": 0}
    real = FsspecKeyValueStore.rename

    def flaky_rename(self: FsspecKeyValueStore, from_key: str, to_key: str) -> None:
        calls["n"] += 1
        if calls["n"] == n:
            raise ConnectionError("connection lost")
        real(self, from_key, to_key)

    monkeypatch.setattr(FsspecKeyValueStore, "rename", flaky_rename)


def test_workflow_store_finishes_an_interrupted_commit_when_opened(
    fs_root: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: a parameter added and another one set over a non-local file system
    (a commit of several keys: rows and shapes of two arrays) whose connection drops
    half-way is complete when the workflow store is next opened."""
    fs, root = fs_root
    ZarrPersistentStore.write_empty_workflow(None, **empty_workflow_kwargs(root, fs))
    store = ZarrPersistentStore(None, None, root, fs)
    first = store.add_unset_parameter({"type": "a"})
    _failing_rename_at(monkeypatch, 2)
    store.add_set_parameter({"x": 2}, {"type": "b"}, save=False)
    with pytest.raises(ConnectionError):
        store.set_parameter_value(first, {"x": 1})
    monkeypatch.undo()
    age_journal(fs, root, pid=dead_pid(), host=socket.gethostname())
    fresh = ZarrPersistentStore(None, None, root, fs)
    params = fresh.get_parameters([first, first + 1])
    assert [p.data for p in params] == [{"x": 1}, {"x": 2}]
    assert [p.source for p in params] == [{"type": "a"}, {"type": "b"}]
    assert not [n for n in files(fs, root) if JOURNAL_PREFIX in n or ".wfstore-tmp-" in n]


def test_an_interrupted_parameter_append_is_absent_and_can_be_retried(
    fs_root: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit of new parameters alone is applied key by key without a journal (rows
    first, the base array's shape last): cut off before the last key, the store holds
    the parameters it had, with a longer sources array that the next append trims."""
    fs, root = fs_root
    ZarrPersistentStore.write_empty_workflow(None, **empty_workflow_kwargs(root, fs))
    store = ZarrPersistentStore(None, None, root, fs)
    first = store.add_set_parameter({"x": 1}, {"type": "a"})
    real = FsspecKeyValueStore.set

    def set_until_the_base_shape(self: FsspecKeyValueStore, key: str, value: bytes) -> None:
        if key == "parameters/base/.zarray":
            raise ConnectionError("connection lost")
        real(self, key, value)

    monkeypatch.setattr(FsspecKeyValueStore, "set", set_until_the_base_shape)
    with pytest.raises(ConnectionError):
        store.add_set_parameter({"x": 2}, {"type": "lost"})
    monkeypatch.undo()

    def shape(arr: str) -> list[int]:
        return json.loads(fs.cat_file(f"{root}/parameters/{arr}/.zarray"))["shape"]

    assert (shape("base"), shape("sources")) == ([1], [2])
    fresh = ZarrPersistentStore(None, None, root, fs)
    assert fresh._get_num_total_parameters() == 1
    second = fresh.add_set_parameter({"x": 3}, {"type": "b"})
    assert second == first + 1
    again = ZarrPersistentStore(None, None, root, fs)
    params = again.get_parameters([first, second])
    assert [p.data for p in params] == [{"x": 1}, {"x": 3}]
    assert [p.source for p in params] == [{"type": "a"}, {"type": "b"}]
    assert (shape("base"), shape("sources")) == ([2], [2])
    assert not [n for n in files(fs, root) if JOURNAL_PREFIX in n]


def test_a_folder_that_cannot_be_listed_still_opens(
    fs_root: tuple[Any, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Looking for interrupted commits needs a listing of the store's root: where the
    file system cannot list it (read-only web servers), the store opens for reading
    with a warning instead of failing."""
    fs, root = fs_root
    ZarrPersistentStore.write_empty_workflow(None, **empty_workflow_kwargs(root, fs))
    ZarrPersistentStore(None, None, root, fs).add_set_parameter(7, {"type": "a"})
    real = FsspecKeyValueStore.list_dir

    def no_root_listing(self: FsspecKeyValueStore, prefix: str = "") -> list[str]:
        if prefix == "":
            raise StoreIOError(5, "listing not supported", self.location)
        return real(self, prefix)

    monkeypatch.setattr(FsspecKeyValueStore, "list_dir", no_root_listing)
    with caplog.at_level("WARNING"):
        assert ZarrPersistentStore(None, None, root, fs).get_parameters([0])[0].data == 7
    assert "cannot look for interrupted commits" in caplog.text
