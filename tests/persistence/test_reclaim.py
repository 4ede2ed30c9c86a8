"""Replaced files are freed by a background thread (the core's ``reclaim``): commits hold
a handle on each file they replace and a thread closes it. These tests check what that
must never change: no handle outlives its moment (a process with few file descriptors
keeps committing), a forked child commits as well, and every value is in place."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import wfstore
from wfstore import _core

REPO = Path(__file__).resolve().parents[2]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _held_handles() -> int:
    """This process's ``O_PATH`` descriptors: the handles ``reclaim`` holds (the
    write-out thread's and the spare files' descriptors are opened for writing)."""
    n = 0
    for fd in os.listdir("/proc/self/fdinfo"):
        try:
            with open(f"/proc/self/fdinfo/{fd}") as f:
                flags = next(int(ln.split()[1], 8) for ln in f if ln.startswith("flags:"))
        except (OSError, StopIteration):
            continue  # closed meanwhile (or the listing's own descriptor)
        n += bool(flags & os.O_PATH)
    return n


def _wait_for_fds(at_most: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while _open_fds() > at_most and time.monotonic() < deadline:
        time.sleep(0.01)
    return _open_fds()


pytestmark = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="needs /proc (Linux)"
)


@pytest.mark.parametrize("spares", ["1", "0"])
def test_handles_on_replaced_files_are_all_closed(tmp_path: Path, spares: str) -> None:
    """300 single-row commits in a row, in a process of their own (with spare files,
    the default, and without: then replacements are renames, whose replaced files
    ``reclaim`` holds where that pays): at most MAX_PENDING handles wait, and they,
    and the write-out thread's descriptors, are all closed soon after."""
    code = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import wfstore
        from wfstore import _core
        from test_reclaim import _held_handles, _open_fds, _wait_for_fds
        store = wfstore.create({str(tmp_path / "wk")!r})
        pids = [store.add_set_parameter(i, {{"type": "t"}}) for i in range(20)]
        before = _open_fds()
        most = 0
        for n in range(300):
            arr = _core.ObjectArray.open(store.core_store, "parameters/sources")
            arr.set([n % 20], [{{"n": n}}])
            most = max(most, _held_handles())
        after = _wait_for_fds(before)
        print(json.dumps(dict(
            before=before, after=after, most=most, held=_held_handles(), pids=pids,
            last=arr.get([299 % 20]),
        )))
        """
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "WFSTORE_SPARE_FILES": spares,
    }
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout)
    assert got["most"] <= 16 + 1  # MAX_PENDING waiting, and the one being closed
    assert got["after"] <= got["before"], got  # all closed, the write-outs' as well
    assert got["held"] == 0
    assert got["last"] == [{"n": 299}]
    assert got["pids"] == list(range(20))


def test_a_process_with_few_file_descriptors_keeps_committing(tmp_path: Path) -> None:
    """With RLIMIT_NOFILE at 40, 500 single-row commits in a row all succeed: held
    handles never take the descriptors the commits need."""
    path = tmp_path / "wk"
    wfstore.create(path)
    code = textwrap.dedent(
        f"""
        import resource, wfstore
        resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))
        store = wfstore.open({str(path)!r})
        pids = [store.add_set_parameter(i, {{"type": "t"}}) for i in range(5)]
        from wfstore import _core
        for n in range(500):
            arr = _core.ObjectArray.open(store.core_store, "parameters/sources")
            arr.set([n % 5], [{{"n": n}}])
        print("ok")
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
    arr = _core.ObjectArray.open(_core.Store.local(path), "parameters/sources")
    assert arr.get([4]) == [{"n": 499}]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_commits_and_closes_its_own_handles(tmp_path: Path) -> None:
    store = wfstore.create(tmp_path / "wk")
    pids = [store.add_set_parameter(i, {"type": "t"}) for i in range(5)]
    arr = _core.ObjectArray.open(store.core_store, "parameters/sources")
    for n in range(50):  # the parent's closing thread is running now
        arr.set([n % 5], [{"n": n}])
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's result is its exit status
        status = 1
        try:
            before = _open_fds()
            a = _core.ObjectArray.open(_core.Store.local(tmp_path / "wk"), "parameters/sources")
            for n in range(200):
                a.set([n % 5], [{"child": n}])
            after = _wait_for_fds(before)
            status = 0 if a.get([4]) == [{"child": 199}] and after <= before else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(child, 0)
    assert os.WEXITSTATUS(status) == 0
    assert arr.get([4]) == [{"child": 199}]
    for n in range(50):  # and the parent goes on
        arr.set([n % 5], [{"parent": n}])
    assert arr.get([4]) == [{"parent": 49}]
    assert pids == list(range(5))
