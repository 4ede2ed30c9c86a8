"""Commit journals are finished only under the store lock, so that on a file system
shared by several hosts an opener never replays a live writer's journal: a journaled
commit holds the lock from writing its journal to deleting it, so a journal seen under
the lock is a dead writer's, whichever host it ran on."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fsspec.implementations.local import LocalFileSystem
from store_dump import empty_workflow_kwargs
from wfstore import _core
from wfstore.common.names import JOURNAL_PREFIX, TMP_PREFIX
from wfstore.persistence import ZarrPersistentStore
from wfstore.persistence.zarr.transactions import store_lock_at

#: A process holding the store lock until it is killed.
_HOLDER = """
import sys, time
from wfstore.persistence.zarr.transactions import store_lock_at
lock = store_lock_at(sys.argv[1])
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""

KEY = "extra/key"


def _store(path: Path) -> None:
    ZarrPersistentStore.write_empty_workflow(
        None, **empty_workflow_kwargs(str(path), LocalFileSystem())
    )
    (path / "extra").mkdir()
    (path / KEY).write_bytes(b"old")


def _journal(path: Path, pid: int, host: str | None) -> Path:
    """A commit cut short after its journal: the new value of KEY under a temporary
    name, and the journal naming the rename (as the core writes them)."""
    tmp = f"extra/{TMP_PREFIX}new-key"
    (path / tmp).write_bytes(b"new")
    doc: dict = {"pid": pid, "ops": [["rename", tmp, KEY]]}
    if host is not None:
        doc["host"] = host
    journal = path / f"{JOURNAL_PREFIX}{pid}.0"
    journal.write_text(json.dumps(doc))
    return journal


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen]:
    """Another process holding the lock of the store at ``tmp_path / "wk"``."""
    _store(tmp_path / "wk")
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path / "wk")], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _open(path: Path, timeout: float) -> ZarrPersistentStore:
    store = ZarrPersistentStore(None, None, path)
    store._store_lock = store_lock_at(path, timeout=timeout)
    store.core_store  # noqa: B018  (opening the core store is what recovers)
    return store


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("writer", ["live pid of this host", "another host"])
def test_a_live_writers_journal_is_not_replayed_until_its_lock_is_free(
    tmp_path: Path, holder: subprocess.Popen, writer: str
) -> None:
    path = tmp_path / "wk"
    if writer == "another host":
        # its pid is nobody's here: that says nothing of a process on another node
        journal = _journal(path, _dead_pid(), "another-node.cluster")
    else:
        journal = _journal(path, holder.pid, socket.gethostname())
    # the opener cannot take the lock: it leaves the journal alone and reads on
    store = _open(path, timeout=0.3)
    assert store.get_name() and journal.exists() and (path / KEY).read_bytes() == b"old"
    # the core, asked without the lock, judges no other host's pid and no live pid
    assert _core.recover_journals(path) == 0
    assert journal.exists() and (path / KEY).read_bytes() == b"old"

    holder.send_signal(signal.SIGKILL)  # the writer dies with its commit half done
    holder.wait()
    _open(path, timeout=10)
    assert not journal.exists() and (path / KEY).read_bytes() == b"new"
    assert not [n for n in os.listdir(path / "extra") if n.startswith(TMP_PREFIX)]


def test_a_journal_left_by_a_failed_commit_names_its_host(tmp_path: Path) -> None:
    """A local commit's journal records this host (and the pid), so that another
    host sharing the file system never judges the writer by a pid of its own."""
    path = tmp_path / "wk"
    _store(path)
    (path / "extra" / "b" / "x").mkdir(parents=True)  # renaming a file over it fails
    store = _core.Store.local(path)
    store.begin()
    store.set("extra/a", b"1")
    store.set("extra/b", b"2")
    with pytest.raises(OSError):
        store.commit()
    (journal,) = [n for n in os.listdir(path) if n.startswith(JOURNAL_PREFIX)]
    doc = json.loads((path / journal).read_text())
    assert doc["host"] == socket.gethostname() and doc["pid"] == os.getpid()
    # this process is alive: unlocked, its journal stays; under the lock it is finished
    assert _core.recover_journals(path) == 0
    (path / "extra" / "b" / "x").rmdir()
    (path / "extra" / "b").rmdir()
    with store_lock_at(path)():
        assert _core.recover_journals(path, locked=True) == 1
    assert (path / "extra" / "b").read_bytes() == b"2" and not (path / journal).exists()


class _LockSpy(ZarrPersistentStore):
    """A Zarr store noting, as each commit's report comes back from the core, whether
    the commit was journaled and the store lock held."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.seen: list[tuple[bool, bool]] = []
        super().__init__(*args, **kwargs)

    @property  # type: ignore[override]
    def last_commit_report(self) -> dict | None:
        return self._report

    @last_commit_report.setter
    def last_commit_report(self, report: dict | None) -> None:
        if report is not None:
            self.seen.append((report["journaled"], self.store_lock.held))
        self._report = report


def test_journaled_commits_hold_the_store_lock(tmp_path: Path) -> None:
    """Every journaled commit of the Zarr store holds the lock while its journal
    exists; the lock is free again once the commit is done."""
    path = tmp_path / "wk"
    _store(path)
    store = _LockSpy(None, None, path)
    store.add_task(0, {"insert_ID": 0, "element_sets": [], "schema": ["s"]})
    p = store.add_set_parameter({"a": 1}, {"type": "t"}, save=False)
    e = store.add_element(0, 0, {}, {}, save=False)
    store.add_element_iteration(e, {"inputs.p": p}, ["inputs.p"], save=False)
    store.save()
    store.add_set_parameter({"b": 2}, {"type": "t"})  # appended in order, no journal
    journaled = [held for was_journaled, held in store.seen if was_journaled]
    assert journaled and all(journaled), store.seen
    assert any(not was_journaled for was_journaled, _ in store.seen)
    assert not store.store_lock.held
