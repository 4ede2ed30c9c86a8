"""Write faults (issue 6, point 3), injected for real on the local file system:

* ENOSPC: the store lives on a small tmpfs (mounted by the test; needs root and
  CAP_SYS_ADMIN, skipped with the reason otherwise) which is filled to within a few KiB,
  so the disk runs out at different points of each operation;
* EFBIG: a child process with a file-size limit (``RLIMIT_FSIZE``; runs anywhere), so
  every write of a file past the limit fails.

Each failure must be a ``StoreError`` (``StoreIOError``, also an ``OSError`` with the
errno), leave no ``.wfstore-tmp-*`` file, no half archive and no half folder, and leave
what was there readable as it was. (EIO is injected at the Rust level, with a failing
store, in ``rust/wfstore-core/tests/faults.rs``.)
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from rel_helpers import make_store, open_store, tree_digest
from store_dump import dump_store, normalise
from wfstore import _core
from wfstore.common.errors import StoreError, StoreIOError

#: Free space left on the tmpfs before each operation (KiB): the fault lands at
#: different writes of the operation.
FREE_KIB = (0, 4, 8, 12, 16, 24, 32, 64)


def _leftovers(root: Path) -> list[str]:
    """Temporary files and folders of interrupted writes under `root`."""
    return [
        str(p)
        for p in root.rglob("*")
        if p.name.startswith(".wfstore-tmp-") or p.name.endswith((".rechunk-tmp", ".rechunk-old"))
    ]


@pytest.fixture(scope="module")
def tmpfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 4 MiB tmpfs, or skip."""
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    mnt = tmp_path_factory.mktemp("tmpfs")
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(mnt: Path, free_kib: int) -> None:
    """Fill the file system at `mnt` so that about `free_kib` KiB stay free."""
    filler = mnt / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        while True:
            os.write(fd, b"\x01" * 65536)
    except OSError as e:
        assert e.errno == errno.ENOSPC
    try:
        while True:
            os.write(fd, b"\x01" * 512)
    except OSError:
        pass
    finally:
        os.close(fd)
    os.truncate(filler, max(0, filler.stat().st_size - free_kib * 1024))


def _reset(mnt: Path) -> None:
    for p in mnt.iterdir():
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()


def _enospc(exc: BaseException) -> bool:
    return isinstance(exc, StoreIOError) and exc.errno == errno.ENOSPC


def _core_ops(store: _core.Store, wk: Path, tmpfs: Path, big: Path) -> dict[str, Callable]:
    arr = _core.ObjectArray.open(store, "runs")
    return {
        "set": lambda: arr.set([5], [{"new": "y" * 5000}]),
        "append": lambda: arr.append([{"j": j, "s": "z" * 2000} for j in range(12)]),
        "attrs": lambda: arr.set_attrs({"k": "v" * 20000}),
        "numeric": lambda: _core.NumericArray.create(
            store, "num", np.arange(20000.0), chunks=[5000]
        ),
        "rechunk": lambda: _core.rechunk_array(store, "runs", None, backup=True),
        "zip": lambda: _core.zip_dir(wk, tmpfs / "wk.zip"),
        "unzip": lambda: _core.unzip(big, tmpfs / "unzipped"),
    }


def test_core_operations_on_a_full_disk(tmpfs: Path, tmp_path: Path) -> None:
    """Object/numeric array writes, rechunk, zip and unzip with the disk running out at
    several points: each either completes or fails with ENOSPC leaving the old state."""
    faults = 0
    rows = [{"i": i, "s": "x" * 300} for i in range(40)]
    src = tmp_path / "src"
    s = _core.Store.local(src)
    _core.ObjectArray.create(s, "runs", chunk_size=4).append(rows)
    big = tmp_path / "big.zip"
    _core.zip_dir(src, big)
    for free in FREE_KIB:
        _reset(tmpfs)
        wk = tmpfs / "wk"
        shutil.copytree(src, wk)
        store = _core.Store.local(wk)
        _fill(tmpfs, free)
        ops = _core_ops(store, wk, tmpfs, big)
        for name, op in ops.items():
            snapshot = _core.ObjectArray.open(store, "runs").get_range()
            files = {k: v for k, v in tree_digest(wk).items() if v != "<dir>"}
            try:
                op()
                continue
            except StoreError as exc:
                assert _enospc(exc), (name, free, exc)
                faults += 1
            assert _leftovers(tmpfs) == [], (name, free)
            assert not (tmpfs / "wk.zip").exists() and not (tmpfs / "unzipped").exists()
            # the rows read back as they were, and no file of the store changed or
            # appeared (rechunk: the old array kept as it was, nothing new)
            assert _core.ObjectArray.open(store, "runs").get_range() == snapshot, (name, free)
            now = {k: v for k, v in tree_digest(wk).items() if v != "<dir>"}
            if name in ("append", "set"):
                # chunk files past the old length may have been written; they are not
                # part of the array (its .zarray is unchanged)
                assert now["runs/.zarray"] == files["runs/.zarray"], (name, free)
            else:
                assert now == files, (name, free)
        (tmpfs / "filler").unlink()
    assert faults >= 2 * len(FREE_KIB)
    print(f"ENOSPC faults injected in core operations: {faults}")


def test_commit_on_a_full_disk_raises_and_leaves_no_temporary_files(
    tmpfs: Path, tmp_path: Path
) -> None:
    template = tmp_path / "wk"
    make_store(template)
    before = normalise(dump_store(open_store(template), "zarr"))
    failed = 0
    for free in FREE_KIB:
        _reset(tmpfs)
        wk = tmpfs / "wk"
        shutil.copytree(template, wk)
        _fill(tmpfs, free)
        store = open_store(wk)
        try:
            with store.batch_update():
                store.add_set_parameter({"a": np.arange(5000.0)}, {"type": "x"})
                it = store.add_element_iteration(0, {}, [], save=False)
                store.add_EAR(it, 0, [0], {}, save=False)
                store.set_EAR_start(0, save=False)
                store.add_set_parameter("x" * 20000, {"type": "y"}, save=False)
        except StoreError as exc:
            assert _enospc(exc), exc
            failed += 1
            assert _leftovers(wk) == []
            # all or nothing: the store opens and shows nothing of the failed commit
            assert normalise(dump_store(open_store(wk), "zarr")) == before, free
    assert failed >= 3


_RLIMIT_CHILD = textwrap.dedent(
    """
    import json, resource, signal, sys
    from pathlib import Path
    import numpy as np
    from wfstore import _core
    from wfstore.common.errors import StoreIOError

    work, limit = Path(sys.argv[1]), int(sys.argv[2])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    store = _core.Store.local(work / "wk")
    ops = {
        "object set": lambda: _core.ObjectArray.open(store, "runs").set(
            [1], [{"big": "x" * (2 * limit)}]
        ),
        "numeric": lambda: _core.NumericArray.create(
            store, "num", np.arange(limit / 2), compressor=None
        ),
        "rechunk": lambda: _core.rechunk_array(store, "runs", None, backup=True),
        "zip": lambda: _core.zip_dir(work / "wk", work / "wk.zip"),
        "unzip": lambda: _core.unzip(work / "big.zip", work / "unzipped"),
    }
    out = {}
    for name, op in ops.items():
        try:
            op()
            out[name] = "ok"
        except StoreIOError as e:
            out[name] = f"StoreIOError {e.errno}"
        except Exception as e:
            out[name] = f"other {type(e).__name__}: {e}"
    print(json.dumps(out))
    """
)


def test_file_size_limit_faults(tmp_path: Path) -> None:
    """EFBIG from RLIMIT_FSIZE (no privileges needed): every large write fails."""
    limit = 64 << 10
    rows = [{"i": i, "s": "y" * 5000} for i in range(30)]
    s = _core.Store.local(tmp_path / "wk")
    _core.ObjectArray.create(s, "runs", chunk_size=2).append(rows)
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "f").write_bytes(os.urandom(limit * 2))
    _core.zip_dir(tmp_path / "big", tmp_path / "big.zip")
    before = tree_digest(tmp_path / "wk")
    res = subprocess.run(
        [sys.executable, "-c", _RLIMIT_CHILD, str(tmp_path), str(limit)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out == {k: f"StoreIOError {errno.EFBIG}" for k in out}, out
    assert len(out) == 5
    # no file changed or appeared (a failed array creation may leave an empty folder)
    after = tree_digest(tmp_path / "wk")
    assert {k: v for k, v in after.items() if v != "<dir>"} == {
        k: v for k, v in before.items() if v != "<dir>"
    }
    assert _leftovers(tmp_path) == []
    assert not (tmp_path / "wk.zip").exists() and not (tmp_path / "unzipped").exists()
    assert _core.ObjectArray.open(s, "runs").get_range() == rows
