"""The ``durability`` setting (``wfstore.common.durability``): where it comes from, that a bad
one is refused before anything is written, and what each one does to the file system,
read from the system calls a writer makes (``strace``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import wfstore
from conftest import tree_digest
from sshd_server import unavailable
from wfstore import InvalidArgumentError, _core
from wfstore.common.durability import DURABILITIES, ENV_VAR, resolve_durability
from wfstore.common.names import CHANGE_MARKER_NAME
from wfstore.persistence import JSONPersistentStore, ZarrPersistentStore


@pytest.fixture(autouse=True)
def _no_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def _build(store: wfstore.PersistentStore, n_elems: int = 3) -> list[int]:
    """One task, `n_elems` elements with 2 runs each; returns the run IDs."""
    store.add_task(0, {"insert_ID": 0, "element_sets": [], "schema": ["s"]}, save=False)
    runs = []
    for i in range(n_elems):
        p = store.add_set_parameter({"i": i}, {"type": "t"}, save=False)
        e = store.add_element(0, 0, {}, {}, save=False)
        it = store.add_element_iteration(e, {"inputs.p": p}, ["inputs.p"], save=False)
        runs += [store.add_EAR(it, a, [0], {"inputs.p": p}, save=False) for a in range(2)]
    store.save()
    return runs


def test_the_setting_comes_from_the_argument_the_class_the_environment_or_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve_durability() == "normal"
    monkeypatch.setenv(ENV_VAR, " process ")
    assert resolve_durability() == "process"
    assert resolve_durability("full") == "full"
    monkeypatch.setenv(ENV_VAR, "")
    assert resolve_durability() == "normal"

    path = tmp_path / "wk"
    wfstore.create(path)
    assert wfstore.open(path).durability == "normal"
    assert wfstore.open(path).core_store.durability == "normal"  # type: ignore[attr-defined]
    monkeypatch.setenv(ENV_VAR, "full")
    assert wfstore.open(path).core_store.durability == "full"  # type: ignore[attr-defined]
    store = wfstore.open(path, durability="process")
    assert store.durability == store.core_store.durability == "process"  # type: ignore[attr-defined]
    monkeypatch.setattr(ZarrPersistentStore, "default_durability", "normal")
    assert ZarrPersistentStore(None, None, path).core_store.durability == "normal"

    jpath = tmp_path / "wk.json"
    js = wfstore.create(jpath, kind="json", durability="process")
    assert isinstance(js, JSONPersistentStore) and js.durability == "process"
    assert {r.durability for r in js._resources.values()} == {"process"}  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["zarr", "json"])
def test_a_bad_setting_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    path = tmp_path / "wk"
    with pytest.raises(InvalidArgumentError, match=r"durability must be one of .*'fast'"):
        wfstore.create(path, kind=kind, durability="fast")  # type: ignore[arg-type]
    assert not path.exists()
    monkeypatch.setenv(ENV_VAR, "fsync")
    with pytest.raises(InvalidArgumentError, match=f"{ENV_VAR} must be one of"):
        wfstore.create(path, kind=kind)
    assert not path.exists()

    monkeypatch.delenv(ENV_VAR)
    store = wfstore.create(path, kind=kind)
    _build(store)
    before = tree_digest(path)
    monkeypatch.setenv(ENV_VAR, "safe")
    with pytest.raises(InvalidArgumentError, match=rf"{ENV_VAR} must be one of .*'safe'"):
        wfstore.open(path)
    with pytest.raises(InvalidArgumentError):
        _core.Store.local(path, durability="safe")
    assert tree_digest(path) == before


# --- what each setting does, in system calls ------------------------------------------

CHILD = r"""
import os, sys
import wfstore
from wfstore import _core
path, jpath, durability = sys.argv[1:]

def mark(name):  # a system call naming the phase, for the trace
    _core.drain_writeouts()  # the write-outs handed on so far are in the last phase
    os.access(f"/wfstore-mark-{name}", os.F_OK)

store = wfstore.open(path, durability=durability)
store.run_dir_snapshot = lambda: None
mark("single")
store.set_EAR_start(0)  # one run: one chunk replaced
mark("append")
store.add_unset_parameter({"type": "out"})  # an append: in order, no journal
mark("journaled")
with store.batch_update():  # several arrays and attributes: through a journal
    p = store.add_set_parameter({"n": 1}, {"type": "t"}, save=False)
    e = store.add_element(0, 0, {}, {}, save=False)
    store.add_element_iteration(e, {"inputs.p": p}, ["inputs.p"], save=False)
mark("json")
js = wfstore.open(jpath, durability=durability)
js.run_dir_snapshot = lambda: None
js.set_EAR_start(0)
mark("rechunk")
store.rechunk_runs(backup=False, status=False)  # new files only: nothing to exchange
mark("end")
"""

PHASES = ("single", "append", "journaled", "json", "rechunk")


def _need_strace() -> None:
    """Skip (fail under CI, where scripts/test.sh installs it) without strace; skip
    where the system does not let it trace (ptrace refused)."""
    exe = shutil.which("strace")
    if exe is None:
        unavailable("strace (Debian: strace)")
    r = subprocess.run([exe, "-f", "-o", os.devnull, "true"], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"strace cannot trace here: {r.stderr.strip()[:200]}")


def _traced(trace: Path, calls: str, args: list[str], env: dict[str, str]) -> list[str]:
    """The lines strace writes of the system calls `calls` (of every thread) made by
    ``python -c *args`` run with `env` added to the environment."""
    strace = ["strace", "-f", "-qq", "-o", str(trace), "-e", f"trace={calls}"]
    subprocess.run(
        [*strace, sys.executable, "-c", *args],
        check=True,
        env={**os.environ, **env},
    )
    return trace.read_text().splitlines()


def _calls_by_phase(
    tmp_path: Path, durability: str, spares: bool = False, env: dict[str, str] | None = None
) -> dict[str, list[str]]:
    """Run the child writer under strace; its renames, exchanges, unlinks and flushes
    by phase, each line starting with the calling thread's ID. Without `spares`, with
    spare files off (``WFSTORE_SPARE_FILES=0``): each write renames a new file as on
    any file system. `env`: more environment variables for the child."""
    _need_strace()
    path, jpath = tmp_path / "wk", tmp_path / "wk.json"
    if not path.exists():
        _build(wfstore.create(path))
        _build(wfstore.create(jpath, kind="json"))
    lines = _traced(
        tmp_path / f"trace-{durability}.txt",
        "access,faccessat,faccessat2,rename,renameat,renameat2,fsync,fdatasync,sync_file_range",
        [CHILD, str(path), str(jpath), durability],
        {"WFSTORE_SPARE_FILES": "1" if spares else "0", **(env or {})},
    )
    phases: dict[str, list[str]] = {}
    current = None
    for line in lines:
        m = re.search(r'"/wfstore-mark-(\w+)"', line)
        if m:
            current = m.group(1)
            phases.setdefault(current, [])
        elif current is not None and re.search(
            r"\b(rename|renameat2?|fsync|fdatasync|sync_file_range)\(", line
        ):
            phases[current].append(line)
    assert set(PHASES) <= set(phases), phases.keys()
    return phases


def _exchanges(calls: list[str]) -> int:
    return sum("RENAME_EXCHANGE" in c for c in calls)


def _flushes(calls: list[str]) -> int:
    return sum(bool(re.search(r"\b(fsync|fdatasync)\(", c)) for c in calls)


def _write_outs(calls: list[str]) -> int:
    return sum("sync_file_range(" in c for c in calls)


def test_normal_renames_over_files_and_flushes_nothing(tmp_path: Path) -> None:
    phases = _calls_by_phase(tmp_path, "normal")
    for phase in PHASES:
        calls = phases[phase]
        assert calls and _exchanges(calls) == 0 and _flushes(calls) == 0, (phase, calls)
        assert _write_outs(calls) == 0, (phase, calls)  # the rename does it (ext4)


def test_full_flushes_every_commit_and_never_exchanges(tmp_path: Path) -> None:
    phases = _calls_by_phase(tmp_path, "full")
    for phase in PHASES:
        calls = phases[phase]
        assert _exchanges(calls) == 0, (phase, calls)
        # the new file and its folder at least
        assert _flushes(calls) >= 2, (phase, calls)


def test_process_exchanges_where_no_journal_needs_the_temporary_names(tmp_path: Path) -> None:
    phases = _calls_by_phase(tmp_path, "process")
    for phase in PHASES:
        calls = phases[phase]
        assert _flushes(calls) == 0, (phase, calls)
        if phase in ("journaled", "rechunk"):
            # a journal's replay renames what is under the temporary names: those
            # must hold new values, so these commits rename (as a rechunk does, whose
            # files are new)
            assert calls and _exchanges(calls) == 0, (phase, calls)
        else:
            assert _exchanges(calls) >= 1, (phase, calls)


@pytest.mark.parametrize("durability", DURABILITIES)
def test_spare_files_are_exchanged_where_they_apply(tmp_path: Path, durability: str) -> None:
    # ext4 without a journal (the development VM's disk): a single-key commit writes
    # into a spare file and exchanges it with the old file, starting its write-out
    # (`"normal"`, as a rename's `auto_da_alloc` would) or flushing it (`"full"`)
    if not _core.spare_files_apply(tmp_path):
        pytest.skip(f"spare files do not apply on the file system of {tmp_path}")
    phases = _calls_by_phase(tmp_path, durability, spares=True)
    calls = phases["single"]
    exchanges = [c for c in calls if "RENAME_EXCHANGE" in c]
    assert len(exchanges) == 1 and ".wfstore-spare-" in exchanges[0], calls
    # (the store's change marker is renamed into place: it is never flushed or
    # exchanged, see ZarrTransactions._write_change_marker)
    renames = [c for c in calls if re.search(r"\brename\(", c) and CHANGE_MARKER_NAME not in c]
    assert not renames, calls
    expected = {"full": (2, 0), "normal": (0, 1), "process": (0, 0)}[durability]
    assert (min(_flushes(calls), 2), _write_outs(calls)) == expected, calls
    # journaled commits rename new files as without spares
    assert _exchanges(phases["journaled"]) == 0, phases["journaled"]
    assert not list((tmp_path / "wk").rglob(".wfstore-tmp-*"))


@pytest.mark.parametrize("deferred", [True, False])
def test_normal_starts_write_outs_on_a_background_thread_unless_told_not_to(
    tmp_path: Path, deferred: bool
) -> None:
    # `"normal"` through spare files: the write-out of a replaced file is started by
    # the core's background thread once the file is in place (the commit does not wait
    # for the device), or, with WFSTORE_DEFERRED_WRITEOUT=0, by the committing thread
    # before the exchange
    if not _core.spare_files_apply(tmp_path):
        pytest.skip(f"spare files do not apply on the file system of {tmp_path}")
    env = {"WFSTORE_DEFERRED_WRITEOUT": "1" if deferred else "0"}
    phases = _calls_by_phase(tmp_path, "normal", spares=True, env=env)
    for phase in ("single", "append"):
        calls = phases[phase]
        exchanges = [c for c in calls if "RENAME_EXCHANGE" in c]
        outs = [c for c in calls if "sync_file_range(" in c]
        assert exchanges and len(outs) == len(exchanges), (phase, calls)
        committer = {c.split()[0] for c in exchanges}
        assert len(committer) == 1, calls
        if deferred:
            # after each exchange, from another thread
            assert not {c.split()[0] for c in outs} & committer, calls
            assert calls.index(outs[0]) > calls.index(exchanges[0]), calls
        else:
            assert {c.split()[0] for c in outs} == committer, calls
            assert calls.index(outs[-1]) < calls.index(exchanges[0]), calls


def test_write_outs_handed_on_are_started_before_the_interpreter_exits(tmp_path: Path) -> None:
    # a job that commits and exits at once: the atexit hook drains the queue
    if not _core.spare_files_apply(tmp_path):
        pytest.skip(f"spare files do not apply on the file system of {tmp_path}")
    _need_strace()
    path = tmp_path / "wk"
    _build(wfstore.create(path))
    code = "import sys, wfstore; s = wfstore.open(sys.argv[1]); s.set_EAR_start(0)"
    lines = _traced(
        tmp_path / "trace.txt",
        "renameat2,sync_file_range,exit_group",
        [code, str(path)],
        {"WFSTORE_SPARE_FILES": "1", "WFSTORE_DEFERRED_WRITEOUT": "1"},
    )
    # (the thread is usually done before the exit anyway: the hook is checked apart)
    check = "import wfstore; wfstore._core.drain_writeouts = lambda: print('drained')"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert out.stdout.strip() == "drained", out
    exchange = next(i for i, c in enumerate(lines) if "RENAME_EXCHANGE" in c)
    outs = [i for i, c in enumerate(lines) if "sync_file_range(" in c]
    end = next(i for i, c in enumerate(lines) if "exit_group(" in c)
    assert outs and exchange < outs[0] < end, lines


@pytest.mark.parametrize("durability", DURABILITIES)
def test_every_setting_reads_back_what_it_wrote(tmp_path: Path, durability: str) -> None:
    for kind in ("zarr", "json"):
        path = tmp_path / kind
        store = wfstore.create(path, kind=kind, durability=durability)  # type: ignore[arg-type]
        store.run_dir_snapshot = lambda: None  # type: ignore[attr-defined]
        runs = _build(store, 5)
        for r in runs:
            store.set_EAR_start(r)
            store.set_EAR_end(r, 0, True)
        p = store.add_unset_parameter({"type": "out"})
        store.set_parameter_value(p, {"v": durability})
        again = wfstore.open(path)
        assert [r.success for r in again.get_EARs(runs)] == [True] * len(runs)
        assert again.get_parameters([p])[0].data == {"v": durability}
        left = [
            q.name
            for q in path.rglob("*")
            if q.name.startswith(".wfstore-") and not q.name.startswith(".wfstore-spare-")
        ]
        assert left == [], left


def _dirty_pages(path: Path) -> int | None:
    """Pages of the file at `path` still dirty in the page cache (neither written out
    nor being written), from Linux's ``cachestat`` (6.5); None without it."""
    import ctypes

    class _Range(ctypes.Structure):
        _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]

    class _Stat(ctypes.Structure):
        _fields_ = [(n, ctypes.c_uint64) for n in ("cache", "dirty", "wb", "ev", "rev")]

    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        st = _Stat()
        rng = _Range(0, 0)
        if libc.syscall(451, fd, ctypes.byref(rng), ctypes.byref(st), 0) != 0:
            return None
        return int(st.dirty)
    finally:
        os.close(fd)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_the_write_outs_of_its_own_commits(tmp_path: Path) -> None:
    if not _core.spare_files_apply(tmp_path):
        pytest.skip(f"spare files do not apply on the file system of {tmp_path}")
    path = tmp_path / "wk"
    store = wfstore.create(path)
    store.run_dir_snapshot = lambda: None  # type: ignore[attr-defined]
    runs = _build(store)
    store.set_EAR_start(runs[0])  # the parent's thread is running
    chunk = path / "metadata" / "runs" / "0"
    os.sync()
    if _dirty_pages(chunk) is None:
        pytest.skip("no cachestat on this kernel")
    pid = os.fork()
    if pid == 0:  # the child: its commit's write-out is started by a thread of its own
        code = 1
        try:
            store.set_EAR_start(runs[1])
            _core.drain_writeouts()
            code = 0 if _dirty_pages(chunk) == 0 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert wfstore.open(path).get_EARs([runs[1]])[0].start_time is not None
    # (the check can fail: a value written and not handed on stays dirty)
    os.sync()
    with open(chunk, "r+b") as fh:
        fh.write(fh.read(1))
    assert _dirty_pages(chunk) == 1
