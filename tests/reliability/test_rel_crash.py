"""Crash safety (issue 6, point 2): a child process repeating rechunk, zip, unzip or
commits is killed with SIGKILL at random moments (a fixed seed, so runs repeat); then

* rechunk: after recovery (which opening a Zarr store runs) there is exactly one whole
  array, old or new chunking, with every row, plus a whole backup when asked for;
* zip/unzip: every archive or folder under a final name is complete (temporary names
  may remain: they are never read);
* commits: the store opens and every commit the child saw acknowledged is present.

Kills per test: ``WFSTORE_CRASH_KILLS`` (default 4, 22 kills in all; scripts/stress_crash.sh
raises it).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from rel_helpers import make_store, open_store, tree_digest
from wfstore import _core
from wfstore.common.names import LEGACY_SPARE_PREFIX
from wfstore.persistence import ZarrPersistentStore

HERE = Path(__file__).resolve().parent
KILLS = int(os.environ.get("WFSTORE_CRASH_KILLS", "4"))
ROWS = [{"run": i, "s": "r" * (i % 17)} for i in range(600)]


def _run_and_kill(op: str, work: Path, rng: random.Random, max_delay: float) -> None:
    """Start the child, wait until it is ready, let it work a random time, SIGKILL it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, str(HERE / "crash_child.py"), op, str(work)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == b"ready", (line, child.stderr.read() if child.stderr else b"")
        time.sleep(rng.uniform(0.0, max_delay))
        assert child.poll() is None, child.stderr.read() if child.stderr else b""
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


def _make_runs(store_dir: Path) -> None:
    s = _core.Store.local(store_dir)
    _core.ObjectArray.create(s, "runs", chunk_size=1, attrs={"k": [1, 2]}).append(ROWS)


@pytest.mark.parametrize("backup", [False, True])
def test_rechunk_killed(tmp_path: Path, backup: bool) -> None:
    rng = random.Random(1000 + backup)
    _make_runs(tmp_path / "store")
    op = "rechunk-bak" if backup else "rechunk"
    seen_backup = False
    interrupted = 0
    for _ in range(KILLS):
        _run_and_kill(op, tmp_path, rng, 0.4)
        runs = tmp_path / "store" / "runs"
        interrupted += _core.recover_rechunk_array(_core.Store.local(tmp_path / "store"), "runs")
        arr = _core.ObjectArray.open(_core.Store.local(tmp_path / "store"), "runs")
        assert arr.chunk_size in (1, 7, 13, len(ROWS))
        assert arr.get_range() == ROWS
        assert arr.attrs() == {"k": [1, 2]}
        names = sorted(p.name for p in (tmp_path / "store").iterdir())
        if backup and "runs.bak" in names:
            seen_backup = True
            bak = _core.ObjectArray.open(_core.Store.local(tmp_path / "store"), "runs.bak")
            assert bak.get_range() == ROWS
        assert names == (["runs", "runs.bak"] if backup and seen_backup else ["runs"]), names
        # nothing left inside the array folder but chunks, metadata and spare files
        left = os.listdir(runs)
        assert all(
            n[0].isdigit() or n in (".zarray", ".zattrs") or n.startswith(LEGACY_SPARE_PREFIX)
            for n in left
        ), left
    print(f"rechunk (backup={backup}): {KILLS} kills, {interrupted} left a rechunk to recover")


def test_rechunk_killed_then_store_opened(tmp_path: Path) -> None:
    """Opening a Zarr store recovers an interrupted rechunk of its runs by itself."""
    wk = tmp_path / "wk"
    make_store(wk)
    runs = open_store(wk).get_EARs(range(5))
    rng = random.Random(7)
    (tmp_path / "store").symlink_to(wk / "metadata")
    for _ in range(max(2, KILLS // 2)):
        _run_and_kill("rechunk-bak", tmp_path, rng, 0.4)
        store = ZarrPersistentStore(None, None, wk)
        assert store.get_EARs(range(5)) == runs
        # leftovers of the interrupted rechunk (never read) are cleared by the next
        # rechunk, or here:
        _core.recover_rechunk_array(_core.Store.local(wk), "metadata/runs")
        names = sorted(p.name for p in (wk / "metadata").iterdir() if p.name != ".zgroup")
        assert names in (
            ["elements", "iters", "runs", "tasks"],
            ["elements", "iters", "runs", "runs.bak", "tasks"],
        ), names


def test_zip_killed(tmp_path: Path) -> None:
    rng = random.Random(2000)
    src = tmp_path / "store"
    _make_runs(src)
    (src / "big").write_bytes(os.urandom(3 << 20))
    expected = tree_digest(src)
    complete = 0
    for _ in range(KILLS):
        _run_and_kill("zip", tmp_path, rng, 0.4)
        for arc in tmp_path.glob("out-*.zip"):
            with zipfile.ZipFile(arc) as zf:  # a complete archive...
                assert zf.testzip() is None
                assert len(zf.infolist()) == len([v for v in expected.values() if v != "<dir>"])
            complete += 1
            arc.unlink()
    # interrupted archives are only ever under temporary names
    interrupted = len(list(tmp_path.glob(".wfstore-tmp-out-*")))
    assert complete + interrupted >= KILLS
    print(f"zip: {KILLS} kills, {complete} complete archives, {interrupted} interrupted")


def test_unzip_killed(tmp_path: Path) -> None:
    rng = random.Random(3000)
    src = tmp_path / "src"
    s = _core.Store.local(src)
    _core.ObjectArray.create(s, "runs", chunk_size=1).append(ROWS[:150])
    (src / "big").write_bytes(os.urandom(1 << 20))
    _core.zip_dir(src, tmp_path / "store.zip")
    expected = tree_digest(src)
    complete = interrupted = 0
    for _ in range(KILLS):
        _run_and_kill("unzip", tmp_path, rng, 0.8)
        for out in tmp_path.glob("out-*"):
            assert tree_digest(out) == expected, out  # a complete folder, or none
            complete += 1
            shutil.rmtree(out)
        for tmp in tmp_path.glob(".wfstore-tmp-out-*"):
            interrupted += 1  # an interrupted unzip: only under a temporary name
            shutil.rmtree(tmp)
    assert complete + interrupted >= KILLS
    print(f"unzip: {KILLS} kills, {complete} complete folders, {interrupted} interrupted")


def test_commit_killed(tmp_path: Path) -> None:
    """Every acknowledged commit is present after a kill, and the store opens."""
    make_store(tmp_path / "wk")
    rng = random.Random(4000)
    for _ in range(KILLS):
        _run_and_kill("commit", tmp_path, rng, 0.6)
        acked = [
            tuple(map(int, line.split()))
            for line in (tmp_path / "acked").read_text().splitlines()
            if line.strip()
        ]
        store = open_store(tmp_path / "wk")
        n_params = store._get_num_total_parameters()
        if acked:
            params = store.get_parameters([pid for pid, _ in acked])
            assert [p.data["commit"] for p in params] == [i for _, i in acked]
        assert n_params >= 6 + len(acked)
        # the store still takes commits
        store.add_set_parameter(1, {"type": "after-crash"})
        acked_total = len(acked)
    print(f"commits: {KILLS} kills, {acked_total} acknowledged commits all present")


def test_repair_after_killed_writers(tmp_path: Path) -> None:
    """Writers killed mid-commit and mid-rechunk, in turn, on one store: then
    `wfstore.repair` leaves nothing for verify to note (no journal, temporary file,
    rechunk folder or longer sources array), and every acknowledged commit and every
    run is still there."""
    import wfstore

    wk = tmp_path / "wk"
    make_store(wk)
    (tmp_path / "store").symlink_to(wk / "metadata")
    rng = random.Random(5000)
    for _ in range(max(2, KILLS // 2)):
        _run_and_kill("commit", tmp_path, rng, 0.6)
        _run_and_kill("rechunk-bak", tmp_path, rng, 0.4)
    notes = wfstore.verify(wk).notes
    report = wfstore.repair(wk, min_age=0)
    assert report.clean, report
    assert bool(notes) == bool(report.done), (notes, report.done)  # they see the same
    after = wfstore.verify(wk)
    assert after.ok and after.notes == [], after.notes
    assert not [p for p in wk.rglob("*") if p.name.startswith(".wfstore-tmp-")]
    acked = [
        tuple(map(int, line.split()))
        for line in (tmp_path / "acked").read_text().splitlines()
        if line.strip()
    ]
    store = open_store(wk)
    if acked:
        params = store.get_parameters([pid for pid, _ in acked])
        assert [p.data["commit"] for p in params] == [i for _, i in acked]
    assert len(store.get_EARs(range(5))) == 5
    print(f"repair after kills: notes before: {notes}, done: {report.done}")
