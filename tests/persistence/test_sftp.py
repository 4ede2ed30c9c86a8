"""Stores over SFTP, as engine users open remote workflows with ``ssh://`` paths.

A module fixture starts OpenSSH's ``sshd`` on 127.0.0.1 (a free high port, its own
configuration, a host key and an authorized client key made here, root login by key
only); the tests reach it through fsspec's ``sftp`` file system (paramiko). They skip
when ``sshd`` or paramiko is missing, except under CI (``CI`` set), where that fails:
``scripts/test.sh`` installs both.
"""

from __future__ import annotations

import enum
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import fsspec.config
import fsspec.core
import pytest
from backends import Backend
from fsspec.implementations.local import LocalFileSystem
from store_dump import dump_store, empty_workflow_kwargs, normalise, run_scenario
from wfstore.errors import ReadOnlyStoreError, StoreError, StoreIOError
from wfstore.persistence import (
    JSONPersistentStore,
    ZarrPersistentStore,
    ZarrZipPersistentStore,
)

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")


class Colour(enum.Enum):
    """An enum parameter value."""

    RED = "red"


def _missing(what: str) -> None:
    """Skip for a missing tool, or fail under CI (where scripts/test.sh installs it)."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required under CI (scripts/test.sh provides it)")
    pytest.skip(f"{what} is not available")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SSHServer:
    """Connection details of the test sshd."""

    def __init__(self, port: int, client_key: Path) -> None:
        self.port = port
        self.client_key = client_key

    @property
    def options(self) -> dict[str, Any]:
        """fsspec ``sftp`` options (paramiko ``connect`` keywords) for this server."""
        return {
            "port": self.port,
            "username": "root",
            "key_filename": str(self.client_key),
            "look_for_keys": False,
            "allow_agent": False,
            "timeout": 20,
        }

    def fs(self) -> fsspec.AbstractFileSystem:
        """A new SFTP file system connected to the server."""
        return fsspec.filesystem("sftp", host="127.0.0.1", skip_instance_cache=True, **self.options)

    def url(self, path: str | Path) -> str:
        return f"ssh://root@127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """An sshd on 127.0.0.1 for this module's tests, stopped afterwards."""
    exe = next((p for p in SSHD_CANDIDATES if os.access(p, os.X_OK)), None)
    if exe is None:
        _missing("OpenSSH's sshd (Debian package openssh-server)")
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        _missing("ssh-keygen (Debian package openssh-client)")
    try:
        import paramiko  # noqa: F401 - fsspec's sftp file system needs it
    except ImportError:
        _missing("paramiko (the `test` extra)")
    if os.geteuid() != 0:
        _missing("root (the test sshd logs in as root)")
    assert exe is not None and keygen is not None

    d = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "client_key"):
        subprocess.run(
            [keygen, "-q", "-t", "ed25519", "-N", "", "-C", f"wfstore-{name}", "-f", d / name],
            check=True,
        )
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    (d / "authorized_keys").chmod(0o600)
    port = _free_port()
    config = d / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {d / 'host_key'}",
                f"PidFile {d / 'sshd.pid'}",
                f"AuthorizedKeysFile {d / 'authorized_keys'}",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "Subsystem sftp internal-sftp",
                "LogLevel ERROR",
                "",
            ]
        )
    )
    # sshd refuses to start without its privilege separation folder:
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    check = subprocess.run([exe, "-t", "-f", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, f"sshd rejected its configuration: {check.stderr}"
    log = (d / "sshd.log").open("w")
    proc = subprocess.Popen([exe, "-D", "-e", "-f", str(config)], stderr=log, stdout=log)
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                pytest.fail(f"sshd exited ({proc.returncode}): {(d / 'sshd.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"sshd did not listen on port {port}")
                time.sleep(0.1)
        yield SSHServer(port, d / "client_key")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


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
        with pytest.raises(StoreIOError, match=r"missing\.zip"):
            ZarrZipPersistentStore(None, None, missing, fs).get_name()
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
