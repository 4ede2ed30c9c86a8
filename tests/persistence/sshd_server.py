"""An OpenSSH ``sshd`` on 127.0.0.1 for the SFTP tests.

It runs on a free high port with its own configuration, a host key and an authorized
client key made for it, root login by key only (``PermitRootLogin prohibit-password``).
Tests skip when ``sshd``, ``ssh-keygen``, paramiko or root are missing, except under CI
(the environment variable ``CI`` set), where that fails: ``scripts/test.sh`` installs
``openssh-server`` and paramiko.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fsspec
import pytest

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")


def under_ci() -> bool:
    """Whether the environment variable ``CI`` is set to a true value."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(what: str) -> None:
    """Skip for a missing tool, or fail under CI (where scripts/test.sh installs it)."""
    if under_ci():
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


@contextmanager
def running_sshd(d: Path) -> Iterator[SSHServer]:
    """An sshd on 127.0.0.1 with its files in the folder `d`, stopped afterwards."""
    exe = next((p for p in SSHD_CANDIDATES if os.access(p, os.X_OK)), None)
    if exe is None:
        unavailable("OpenSSH's sshd (Debian package openssh-server)")
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        unavailable("ssh-keygen (Debian package openssh-client)")
    try:
        import paramiko  # noqa: F401 - fsspec's sftp file system needs it
    except ImportError:
        unavailable("paramiko (the `test` extra)")
    if os.geteuid() != 0:
        unavailable("root (the test sshd logs in as root)")
    assert exe is not None and keygen is not None

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
