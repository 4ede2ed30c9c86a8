"""Stores over SFTP, as engine users open remote workflows with ``ssh://`` paths.

The ``sshd`` fixture (``conftest.py``, ``sshd_server.py``) runs OpenSSH's ``sshd`` on
127.0.0.1; the tests reach it through fsspec's ``sftp`` file system (paramiko). The JSON
and Zarr store suites also run over it (the ``sftp`` backend); these tests add what is
special to remote stores: archives read in place, ``ssh://`` URLs, errors.
"""

from __future__ import annotations

import enum
import json
import threading
import time
from pathlib import Path
from typing import Any

import fsspec
import fsspec.config
import fsspec.core
import pytest
from backends import Backend
from fsspec.implementations.local import LocalFileSystem
from sshd_server import SSHServer, unavailable
from store_dump import dump_store, empty_workflow_kwargs, normalise, run_scenario
from test_zarr_engine_roundtrip import _engine, _write_with_wfstore
from wfstore.common.errors import ReadOnlyStoreError, StoreError, StoreIOError
from wfstore.persistence import (
    JSONPersistentStore,
    ZarrPersistentStore,
    ZarrZipPersistentStore,
)


class Colour(enum.Enum):
    """An enum parameter value."""

    RED = "red"


def _local_scenario_store(path: Path) -> ZarrPersistentStore:
    fs = LocalFileSystem()
    ZarrPersistentStore.write_empty_workflow(None, **empty_workflow_kwargs(str(path), fs))
    store = ZarrPersistentStore(None, None, path, fs)
    store.run_dir_snapshot = lambda: {"data": {}}
    run_scenario(store, Colour.RED)
    return store


def _dump(store: Any) -> Any:
    return normalise(dump_store(store, "zarr"))


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def test_zarr_store_and_zip_archive_read_over_sftp(
    sshd: SSHServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = _local_scenario_store(tmp_path / "wk")
    expected = _dump(local)
    archive = local.zip(str(tmp_path / "wk.zip"))
    before = _tree(tmp_path)

    fs = sshd.fs()
    url_fs = None
    try:
        over_ssh = ZarrPersistentStore(None, None, str(tmp_path / "wk"), fs)
        assert _dump(over_ssh) == expected
        zipped = ZarrZipPersistentStore(None, None, archive, fs)
        assert _dump(zipped) == expected
        with pytest.raises(ReadOnlyStoreError):
            zipped.set_EAR_skip(0)
        # ssh:// URLs (as engine users give remote workflow paths):
        url_fs, url_path = fsspec.core.url_to_fs(
            sshd.url(tmp_path / "wk"), skip_instance_cache=True, **sshd.options
        )
        assert url_path == str(tmp_path / "wk")
        by_url = ZarrPersistentStore(None, None, sshd.url(tmp_path / "wk"), url_fs)
        assert by_url.path == str(tmp_path / "wk")
        assert _dump(by_url) == expected
        assert _dump(ZarrZipPersistentStore(None, None, sshd.url(archive), url_fs)) == expected
        # a bare ssh:// path (fs=None), the options coming from fsspec's configuration:
        monkeypatch.setitem(fsspec.config.conf, "sftp", sshd.options)
        bare = ZarrPersistentStore(None, None, sshd.url(tmp_path / "wk"))
        try:
            assert type(bare.fs).__name__ == "SFTPFileSystem"
            assert _dump(bare) == expected
        finally:
            bare.fs.client.close()
            bare.fs.clear_instance_cache()
        # a remote archive unzips into a local store:
        unzipped = ZarrZipPersistentStore(None, None, archive, fs).unzip(str(tmp_path / "un"))
        assert _dump(ZarrPersistentStore(None, None, unzipped)) == expected
    finally:
        fs.client.close()
        if url_fs is not None:
            url_fs.client.close()
    # reading changed nothing:
    after = _tree(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("un/")} == before


def test_stores_written_over_sftp(sshd: SSHServer, tmp_path: Path) -> None:
    fs = sshd.fs()
    try:
        backend = Backend("sftp", fs, str(tmp_path))
        path = backend.path("remote")
        ZarrPersistentStore.write_empty_workflow(None, **empty_workflow_kwargs(path, fs))
        store = ZarrPersistentStore(None, None, path, fs)
        store.run_dir_snapshot = lambda: {"data": {}}
        run_scenario(store, Colour.RED)
        written = _dump(store)
        assert written["counts"] == {"elements": 3, "iters": 4, "runs": 5, "params": 6}
        # read locally, the store written over SFTP holds what was written:
        assert _dump(ZarrPersistentStore(None, None, tmp_path / "remote")) == written
        # writes went through temporary names renamed into place: none is left over
        assert not [p for p in (tmp_path / "remote").rglob("*") if "wfstore-tmp" in p.name]

        JSONPersistentStore.write_empty_workflow(
            None, **empty_workflow_kwargs(backend.path("json"), fs)
        )
        jstore = JSONPersistentStore(None, None, backend.path("json"), fs)
        p = jstore.add_set_parameter({"a": (1, 2)}, {"type": "x"})
        reread = JSONPersistentStore(None, None, tmp_path / "json")
        assert reread.get_parameters([p])[0].data == {"a": (1, 2)}
    finally:
        fs.client.close()


def test_sftp_errors_name_the_path(sshd: SSHServer, tmp_path: Path) -> None:
    fs = sshd.fs()
    try:
        missing = str(tmp_path / "missing.zip")
        with pytest.raises(StoreIOError, match=r"missing\.zip") as info:
            ZarrZipPersistentStore(None, None, missing, fs).get_name()
        assert f"sftp://127.0.0.1{missing}" in str(info.value)  # names host and path
        (tmp_path / "bad.zip").write_bytes(b"not a zip archive")
        with pytest.raises(StoreError, match=r"bad\.zip"):
            ZarrZipPersistentStore(None, None, str(tmp_path / "bad.zip"), fs).get_name()
        # a file where the store's folder should be: writes fail naming the key
        (tmp_path / "blocker").write_text("x")
        with pytest.raises(StoreIOError, match="blocker"):
            ZarrPersistentStore.write_empty_workflow(
                None, **empty_workflow_kwargs(str(tmp_path / "blocker" / "wk"), fs)
            )
    finally:
        fs.client.close()


def test_missing_sshd_skips_only_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="sshd"):
        unavailable("sshd")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="sshd"):
        unavailable("sshd")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="sshd is required under CI"):
        unavailable("sshd")


def test_threads_share_one_sftp_connection(sftp_fs: Any, tmp_path: Path) -> None:
    """Stores on one SFTP file system, used from several threads at once (each store
    also reading chunks from the core's threads), share its connection safely."""
    expected = _dump(_local_scenario_store(tmp_path / "wk"))
    archive = ZarrPersistentStore(None, None, tmp_path / "wk").zip(str(tmp_path / "wk.zip"))
    results: list[Any] = []

    def read(i: int) -> None:
        try:
            if i % 2:
                store: Any = ZarrZipPersistentStore(None, None, archive, sftp_fs)
            else:
                store = ZarrPersistentStore(None, None, str(tmp_path / "wk"), sftp_fs)
            results.append(_dump(store))
        except BaseException as exc:  # reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "threads deadlocked on the connection"
    assert len(results) == 4 and all(r == expected for r in results)


def test_engine_reads_stores_written_over_sftp(
    sftp_fs: Any, tmp_path: Path, side_python: Path
) -> None:
    """A Zarr store written and rechunked over SFTP, and its zip archive, read the same
    through hpcflow 0.2.0a190's own store classes as through wfstore's."""
    path = tmp_path / "remote"
    store = _write_with_wfstore(path, sftp_fs)
    store.rechunk_runs(status=False)
    ours = dump_store(ZarrPersistentStore(None, None, str(path), sftp_fs), "zarr")
    engine = json.loads(_engine(side_python, "read", str(path), "zarr"))
    assert normalise(engine) == normalise(ours)
    assert engine["counts"]["runs"] == 5 and (path / "metadata" / "runs.bak").is_dir()

    archive = store.zip(str(tmp_path / "remote.zip"))  # a local archive, as the engine
    engine_zip = json.loads(_engine(side_python, "read", archive, "zip"))
    ours["kind"] = "zip"
    assert normalise(engine_zip) == normalise(ours)
