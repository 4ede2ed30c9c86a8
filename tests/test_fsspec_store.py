"""The core over non-local fsspec file systems: ``core_store``/``Store.zip_file``
(chunk bytes through fsspec, codecs in Rust), atomic writes, errors naming the path,
Python exceptions passed through, parallel chunk work calling back into Python."""

from __future__ import annotations

import contextlib
import threading
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem
from wfstore import NumericArray, ObjectArray, Store
from wfstore.common.errors import (
    CorruptChunkError,
    InvalidArgumentError,
    ReadOnlyStoreError,
    StoreError,
    StoreIOError,
    ZipArchiveError,
)
from wfstore.persistence import ZarrZipPersistentStore
from wfstore.storage.fsspec import (
    FsspecKeyValueStore,
    core_store,
    default_write_mode,
    io_lock,
)


def test_local_fs_takes_the_rust_fast_path(tmp_path: Path) -> None:
    st = core_store(LocalFileSystem(), tmp_path / "wk")
    assert "FsspecKeyValueStore" not in repr(st) and st.location == str(tmp_path / "wk")
    ObjectArray.create(st, "a", 0, chunk_size=2).append([1, 2, 3])
    assert len(ObjectArray.open(Store.local(tmp_path / "wk"), "a")) == 3


def test_object_and_numeric_arrays_over_memory_fs(mem: Any) -> None:
    fs, root = mem
    st = core_store(fs, f"memory://{root}/wk")
    assert st.location == f"memory://{root}/wk" and not st.read_only
    rows = [{"i": i, "t": [i, "x"]} for i in range(500)]
    arr = ObjectArray.create(st, "metadata/runs", 0, chunk_size=1, compressor="blosc")
    arr.append(rows)  # 500 chunks written by the core's threads, through Python
    assert sorted(st.list_dir("metadata/runs"))[:3] == [".zarray", "0", "1"]
    again = ObjectArray.open(core_store(fs, root + "/wk"), "metadata/runs")
    assert again.get(list(range(499, -1, -1))) == rows[::-1]
    again.set([3, 400], [None, {"new": True}])
    assert arr.get([3, 400]) == [None, {"new": True}]
    data = np.arange(60, dtype="<i4").reshape(6, 10)
    NumericArray.create(st, "p/arr", data, chunks=[4, 3], compressor="zstd")
    np.testing.assert_array_equal(NumericArray.open(st, "p/arr").read(), data)
    # zarr-python reads what went through fsspec:
    z = zarr.storage.FSStore(f"{root}/wk", fs=fs, mode="r")
    assert zarr.open_array(z, mode="r", path="metadata/runs")[400] == {"new": True}
    np.testing.assert_array_equal(zarr.open_array(z, mode="r", path="p/arr")[:], data)


def test_python_threads_share_a_store(mem: Any) -> None:
    fs, root = mem
    st = core_store(fs, root)
    arr = ObjectArray.create(st, "a", 0, chunk_size=3)
    arr.append(list(range(300)))
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(5):
                assert ObjectArray.open(st, "a").get_range() == list(range(300))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_corrupt_chunk_over_fsspec_names_the_url(mem: Any) -> None:
    fs, root = mem
    st = core_store(fs, root)
    ObjectArray.create(st, "a", 0, chunk_size=2, compressor="zstd").append([1, 2, 3])
    fs.pipe_file(f"{root}/a/1", b"junk")
    with pytest.raises(CorruptChunkError) as info:
        ObjectArray.open(st, "a").get([2])
    assert info.value.key == "1" and info.value.path == f"memory://{root}/a"
    assert ObjectArray.open(st, "a").get([0, 1]) == [1, 2]


def test_write_modes(tmp_path: Path, mem: Any) -> None:
    fs, root = mem
    assert default_write_mode(fs) == "direct"
    dirfs = DirFileSystem(str(tmp_path), fs=LocalFileSystem())
    assert default_write_mode(dirfs) == "rename"
    with pytest.raises(InvalidArgumentError, match="write_mode"):
        core_store(fs, root, write_mode="append")
    for mode in ("rename", "direct"):
        kv = FsspecKeyValueStore(dirfs, f"wk-{mode}", write_mode=mode)
        st = Store.from_python(kv)
        ObjectArray.create(st, "a/b", 0, chunk_size=2).append([1, 2, 3])
        assert ObjectArray.open(Store.local(tmp_path / f"wk-{mode}"), "a/b").get_range() == [
            1,
            2,
            3,
        ]
        assert not [p for p in tmp_path.rglob("*") if "wfstore-tmp" in p.name]


def test_failed_rename_write_keeps_the_old_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dirfs = DirFileSystem(str(tmp_path), fs=LocalFileSystem())
    st = core_store(dirfs, "wk")
    arr = ObjectArray.create(st, "a", 0, chunk_size=10)
    arr.append(["old"])
    chunk = (tmp_path / "wk" / "a" / "0").read_bytes()

    def broken_mv(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(dirfs, "mv", broken_mv)
    with pytest.raises(StoreIOError) as info:
        arr.set([0], ["new"])
    assert isinstance(info.value, OSError)
    assert "wk/a/0" in str(info.value) and info.value.errno == 13
    assert (tmp_path / "wk" / "a" / "0").read_bytes() == chunk  # unchanged
    assert sorted(p.name for p in (tmp_path / "wk" / "a").iterdir()) == [".zarray", "0"]
    monkeypatch.undo()
    assert ObjectArray.open(st, "a").get([0]) == ["old"]


def test_python_store_exceptions_pass_through() -> None:
    class Flaky:
        location = "flaky://store"
        read_only = False

        def get(self, key: str) -> bytes | None:
            raise LookupError(f"no {key}")

        def set(self, key: str, value: bytes) -> None:
            raise RuntimeError(f"cannot write {key}")

        def delete(self, key: str) -> None:
            pass

        def list_dir(self, prefix: str) -> list[str]:
            return ["b", "a"]

    st = Store.from_python(Flaky())
    with pytest.raises(LookupError, match=r"no x/\.zarray"):
        ObjectArray.open(st, "x")
    with pytest.raises(RuntimeError, match="cannot write"):
        st.set("k", b"v")
    assert st.list_dir("") == ["a", "b"]
    with pytest.raises(TypeError, match="`set` method"):
        Store.from_python(type("NoList", (), {"location": "x", "get": None})())


def test_zip_archive_over_fsspec(tmp_path: Path, mem: Any) -> None:
    fs, root = mem
    local = Store.local(tmp_path / "wk")
    ObjectArray.create(local, "metadata/runs", 0, chunk_size=2, compressor="blosc").append(
        [{"r": i} for i in range(5)]
    )
    local.write_attrs("", {"name": "wk"})
    archive = tmp_path / "wk.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted((tmp_path / "wk").rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(tmp_path / "wk").as_posix())
    fs.pipe_file(f"{root}/wk.zip", archive.read_bytes())

    fh = fs.open(f"{root}/wk.zip", "rb")
    st = Store.zip_file(fh, f"memory://{root}/wk.zip")
    assert st.read_only and st.location == f"memory://{root}/wk.zip"
    assert st.read_attrs("") == {"name": "wk"}
    assert st.list_dir("") == [".zattrs", "metadata"]
    assert ObjectArray.open(st, "metadata/runs").get([4, 0]) == [{"r": 4}, {"r": 0}]
    assert st.get("missing") is None
    with pytest.raises(ReadOnlyStoreError):
        ObjectArray.open(st, "metadata/runs").set([0], [1])
    with pytest.raises(ReadOnlyStoreError):
        st.set("k", b"")
    assert fs.cat_file(f"{root}/wk.zip") == archive.read_bytes()
    # the core's zip reader reads through the file object: the same as from the file
    local_zip = Store.zip(archive)
    infos = [i for i in zipfile.ZipFile(archive).infolist() if not i.is_dir()]
    entries = sorted((i.filename, i.file_size) for i in infos)
    assert st.zip_entries() == local_zip.zip_entries() == entries
    for name, _size in entries:
        st.check_zip_entry(name)
        assert st.get(name) == local_zip.get(name)
    fh.close()

    fs.pipe_file(f"{root}/bad.zip", b"PK not really")
    with fs.open(f"{root}/bad.zip", "rb") as bad, pytest.raises(ZipArchiveError, match=r"bad\.zip"):
        Store.zip_file(bad)
    # the zip store opens the archive on its file system and names a missing one
    with pytest.raises(StoreIOError, match=r"nothing\.zip") as info:
        ZarrZipPersistentStore(None, None, f"{root}/nothing.zip", fs).get_name()
    assert isinstance(info.value, StoreError) and info.value.errno == 2


def test_io_lock_per_file_system(tmp_path: Path) -> None:
    class AsyncMemory(MemoryFileSystem):
        async_impl = True

    mem_fs = MemoryFileSystem()
    dir_fs = DirFileSystem(str(tmp_path), fs=LocalFileSystem())
    # every store on one synchronous file system shares its lock (an RLock):
    assert io_lock(mem_fs) is io_lock(mem_fs) is not io_lock(dir_fs)
    # a wrapper shares the lock of the file system it wraps:
    assert io_lock(DirFileSystem("/x", fs=mem_fs)) is io_lock(mem_fs)
    a, b = FsspecKeyValueStore(dir_fs, "a"), FsspecKeyValueStore(dir_fs, "b")
    assert a._lock is b._lock is io_lock(dir_fs)
    with io_lock(dir_fs), io_lock(dir_fs):  # re-entrant
        pass
    # asynchronous file systems are thread-safe: no lock
    assert isinstance(io_lock(AsyncMemory(skip_instance_cache=True)), contextlib.nullcontext)


@pytest.mark.parametrize("where", ["memory", "local-fsspec", "local"])
def test_the_core_rechunks_through_any_store_that_moves_folders(
    tmp_path: Path, mem: Any, where: str
) -> None:
    """``_core.rechunk_array`` is one code path for a local folder and an fsspec file
    system (the core's rechunk over the ``Store`` trait): rows and attributes kept, the
    backup made, no leftovers, and a swap cut between its two moves finished by
    ``recover_rechunk_array`` the same way everywhere."""
    from wfstore import _core

    if where == "local":
        st = Store.local(tmp_path / "wk")

        def move(src: str, dst: str) -> None:
            (tmp_path / "wk" / src).rename(tmp_path / "wk" / dst)

    else:  # memory, or local files through Python
        fs, root = mem if where == "memory" else (LocalFileSystem(), str(tmp_path))
        kv = FsspecKeyValueStore(fs, f"{root}/wk")
        st = Store.from_python(kv)
        move = kv.rename_dir
    rows = [{"i": i} for i in range(11)]
    arr = ObjectArray.create(st, "metadata/runs", 0, chunk_size=2, attrs={"k": 1})
    arr.append(rows)
    seen: list[tuple[int, int]] = []
    report = _core.rechunk_array(
        st, "metadata/runs", 4, backup=True, progress=lambda d, t: seen.append((d, t))
    )
    assert (report["rows"], report["old_chunk_size"], report["new_chunk_size"]) == (11, 2, 4)
    assert report["chunks_written"] == 3 and report["backup"].endswith("metadata/runs.bak")
    assert seen[-1] == (11, 11)
    new = ObjectArray.open(st, "metadata/runs")
    assert new.chunk_size == 4 and new.get_range() == rows and new.attrs() == {"k": 1}
    assert ObjectArray.open(st, "metadata/runs.bak").chunk_size == 2
    assert st.list_dir("metadata") == ["runs", "runs.bak"]
    assert ".wfstore-rechunk-complete" not in st.list_dir("metadata/runs")
    assert not _core.recover_rechunk_array(st, "metadata/runs")

    # a crash between the two moves of a swap: the whole new array waits under its
    # temporary name with its marker, and the array's name is free
    _core.rechunk_array(st, "metadata/runs", 3)
    move("metadata/runs", "metadata/runs.rechunk-tmp")
    st.set("metadata/runs.rechunk-tmp/.wfstore-rechunk-complete", b"")
    assert "runs" not in st.list_dir("metadata")
    assert _core.recover_rechunk_array(st, "metadata/runs")
    again = ObjectArray.open(st, "metadata/runs")
    assert again.chunk_size == 3 and again.get_range() == rows
    assert st.list_dir("metadata") == ["runs", "runs.bak"]


def test_rechunk_refuses_stores_that_cannot_move_folders(tmp_path: Path) -> None:
    from wfstore import _core

    class Keys:
        location = "keys://"
        read_only = False

        def __init__(self) -> None:
            self.d: dict[str, bytes] = {}

        def get(self, key: str) -> bytes | None:
            return self.d.get(key)

        def set(self, key: str, value: bytes) -> None:
            self.d[key] = value

        def delete(self, key: str) -> None:
            self.d.pop(key, None)

        def list_dir(self, prefix: str) -> list[str]:
            pre = prefix.strip("/") + "/"
            return sorted({k[len(pre) :].split("/")[0] for k in self.d if k.startswith(pre)})

    keys = Keys()
    st = Store.from_python(keys)
    ObjectArray.create(st, "a", 0, chunk_size=2).append([1, 2, 3])
    before = dict(keys.d)
    with pytest.raises(InvalidArgumentError, match="cannot move folders"):
        _core.rechunk_array(st, "a", 1)
    assert keys.d == before


@pytest.mark.parametrize("source", ["memory", "local-file", "bytesio"])
def test_the_core_reads_a_zip_from_a_python_file_object(
    tmp_path: Path, mem: Any, source: str
) -> None:
    """``Store.zip_file`` reads an archive through the core's zip reader from any binary
    file object (an fsspec file, a local file, ``BytesIO``): the same keys, folders and
    rows as ``Store.zip`` on the local file, stored and deflated entries alike, from
    many threads at once; a damaged archive is refused as ``Store.zip`` refuses it."""
    import io

    from wfstore import _core

    local = Store.local(tmp_path / "wk")
    rows = [{"r": i, "t": "x" * (i % 7)} for i in range(300)]
    ObjectArray.create(local, "metadata/runs", 0, chunk_size=7).append(rows)
    local.write_attrs("", {"name": "wk"})
    archive = tmp_path / "wk.zip"
    _core.zip_dir(tmp_path / "wk", archive)  # stored entries, as the engine writes them
    deflated = tmp_path / "deflated.zip"
    with zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted((tmp_path / "wk").rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(tmp_path / "wk").as_posix())
    fs, root = mem
    with contextlib.ExitStack() as stack:
        for path in (archive, deflated):
            if source == "memory":
                fs.pipe_file(f"{root}/{path.name}", path.read_bytes())
                fh = stack.enter_context(fs.open(f"{root}/{path.name}", "rb"))
            elif source == "local-file":
                fh = stack.enter_context(open(path, "rb"))
            else:
                fh = io.BytesIO(path.read_bytes())
            st = Store.zip_file(fh, location=f"archive:{path.name}")
            ref = Store.zip(archive)
            assert st.read_only and st.location == f"archive:{path.name}"
            assert st.list_dir("") == ref.list_dir("") == [".zattrs", "metadata"]
            assert st.read_attrs("") == {"name": "wk"}
            arr = ObjectArray.open(st, "metadata/runs")
            results: list[list[Any]] = []

            def read(arr: Any = arr, results: list[list[Any]] = results) -> None:
                results.append(arr.get(list(range(299, -1, -3))))

            threads = [threading.Thread(target=read) for _ in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert results == [rows[::-1][::3]] * 6
            with pytest.raises(ReadOnlyStoreError):
                arr.set([0], [1])
    with pytest.raises(ZipArchiveError, match="cut"):
        Store.zip_file(io.BytesIO(archive.read_bytes()[:-30]), location="cut.zip")
