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
    monkeypatch.setenv(ENV_VAR, " full ")
    assert resolve_durability() == "full"
    assert resolve_durability("normal") == "normal"
    assert resolve_durability("full") == "full"
    monkeypatch.setenv(ENV_VAR, "")
    assert resolve_durability() == "normal"

    path = tmp_path / "wk"
    wfstore.create(path)
    assert wfstore.open(path).durability == "normal"
    assert wfstore.open(path).core_store.durability == "normal"  # type: ignore[attr-defined]
    monkeypatch.setenv(ENV_VAR, "full")
    assert wfstore.open(path).core_store.durability == "full"  # type: ignore[attr-defined]
    monkeypatch.delenv(ENV_VAR)
    store = wfstore.open(path, durability="full")
    assert store.durability == store.core_store.durability == "full"  # type: ignore[attr-defined]
    monkeypatch.setattr(ZarrPersistentStore, "default_durability", "normal")
    assert ZarrPersistentStore(None, None, path).core_store.durability == "normal"

    jpath = tmp_path / "wk.json"
    js = wfstore.create(jpath, kind="json", durability="full")
    assert isinstance(js, JSONPersistentStore) and js.durability == "full"
    assert {r.durability for r in js._resources.values()} == {"full"}  # type: ignore[attr-defined]


@pytest.mark.parametrize("gone", ["process", "exchange"])
def test_only_full_and_normal_exist(tmp_path: Path, gone: str) -> None:
    # the names of write modes that no longer exist are refused like any other
    assert DURABILITIES == ("full", "normal")
    with pytest.raises(InvalidArgumentError, match=rf"durability must be one of .*'{gone}'"):
        wfstore.create(tmp_path / "wk", durability=gone)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        _core.Store.local(tmp_path / "wk", durability=gone)  # type: ignore[arg-type]
    assert not (tmp_path / "wk").exists()


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
store.rechunk_runs(backup=False, status=False)
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


def _calls_by_phase(tmp_path: Path, durability: str) -> dict[str, list[str]]:
    """Run the child writer under strace; its renames and flushes by phase, each line
    starting with the calling thread's ID."""
    _need_strace()
    path, jpath = tmp_path / "wk", tmp_path / "wk.json"
    if not path.exists():
        _build(wfstore.create(path))
        _build(wfstore.create(jpath, kind="json"))
    lines = _traced(
        tmp_path / f"trace-{durability}.txt",
        "access,faccessat,faccessat2,rename,renameat,renameat2,fsync,fdatasync,sync_file_range",
        [CHILD, str(path), str(jpath), durability],
        {},
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
        assert calls and _exchanges(calls) == 0, (phase, calls)
        assert _write_outs(calls) == 0, (phase, calls)  # the rename does it (ext4)
        if phase != "rechunk":
            assert _flushes(calls) == 0, (phase, calls)
    # a rechunk (a bulk operation) flushes the new array before its swap whatever the
    # durability, and nothing after: the swap's moves are the last calls
    calls = phases["rechunk"]
    swap = [i for i, c in enumerate(calls) if re.search(r'runs\.rechunk-(old|tmp)"', c)]
    flushes = [i for i, c in enumerate(calls) if re.search(r"\b(fsync|fdatasync)\(", c)]
    assert swap and flushes and max(flushes) < min(swap), calls


def test_full_flushes_every_commit_and_never_exchanges(tmp_path: Path) -> None:
    phases = _calls_by_phase(tmp_path, "full")
    for phase in PHASES:
        calls = phases[phase]
        assert _exchanges(calls) == 0, (phase, calls)
        # the new file and its folder at least
        assert _flushes(calls) >= 2, (phase, calls)


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
            if q.name.startswith(".wfstore-")
        ]
        assert left == [], left
