"""The store writer lock (wfstore.storage.lock), in both its protocols: POSIX
record locks on ``.wfstore.lock`` ("fcntl", the default) and hard links ("link", the
fallback for file systems that refuse record locks)."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from wfstore.common.errors import InvalidArgumentError, StoreError, StoreIOError, StoreLockError
from wfstore.common.names import LINK_LOCK_NAME, LOCK_NAME
from wfstore.storage import lock as lock_mod
from wfstore.storage.lock import ENV_VAR, StoreLock

HERE = Path(__file__).resolve().parent
PROTOCOLS = ["fcntl", "link"]


@pytest.fixture(autouse=True)
def _no_protocol_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests choose the protocol themselves, whatever the environment says."""
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture
def classic_locks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use classic per-process ``lockf`` locks, as where OFD locks do not exist."""
    monkeypatch.setattr(lock_mod, "_F_OFD_SETLK", None)
    monkeypatch.setattr(lock_mod._SharedFile, "_all", {})


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop(ENV_VAR, None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(HERE), *[p for p in sys.path if p and "wfstore" in p], env.get("PYTHONPATH", "")]
    )
    env.update(extra)
    return env


def _left_files(root: Path, protocol: str) -> list[str]:
    """The store's files after the lock was used: the lock file stays in fcntl mode;
    no ticket, link or broken lock is ever left."""
    names = sorted(n for n in os.listdir(root) if n.startswith(".wfstore"))
    expected = [LOCK_NAME] if protocol == "fcntl" else []
    assert names == expected
    return names


# --- mutual exclusion ----------------------------------------------------------------

_COUNTER = """
import os, sys, time
from pathlib import Path
from wfstore.storage.lock import StoreLock
root, n, protocol = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock = StoreLock(root, timeout=60)
assert lock.protocol == "fcntl" or protocol == "link"
for _ in range(n):
    with lock():
        assert lock.protocol == protocol, lock.protocol
        f = root / "counter"
        v = int(f.read_text())
        time.sleep(0.0002)  # widen the read-modify-write window
        f.write_text(str(v + 1))
"""


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_lock_excludes_other_processes(tmp_path: Path, protocol: str) -> None:
    """4 processes increment one counter 40 times each under the lock (the protocol
    chosen by $WFSTORE_LOCK): no increment is lost."""
    (tmp_path / "counter").write_text("0")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _COUNTER, str(tmp_path), "40", protocol],
            env=_env(**{ENV_VAR: protocol}),
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert (tmp_path / "counter").read_text() == str(4 * 40)
    _left_files(tmp_path, protocol)


@pytest.mark.parametrize("protocol", [*PROTOCOLS, "fcntl-classic"])
def test_two_objects_in_one_process_exclude_each_other(
    tmp_path: Path, protocol: str, request: pytest.FixtureRequest
) -> None:
    """Two store objects of one process (two StoreLocks on one store) exclude each
    other, also from two threads."""
    if protocol == "fcntl-classic":
        request.getfixturevalue("classic_locks")
        protocol = "fcntl"
    a = StoreLock(tmp_path, protocol=protocol)
    b = StoreLock(tmp_path, timeout=0.1, protocol=protocol)
    with a():
        with pytest.raises(StoreLockError):
            b.acquire()
        assert not b.held
    with b():  # and the other way round
        with pytest.raises(StoreLockError):
            StoreLock(tmp_path, timeout=0.1, protocol=protocol).acquire()

    counter = tmp_path / "counter"
    counter.write_text("0")
    errors: list[BaseException] = []

    def work(lock: StoreLock) -> None:
        try:
            for _ in range(50):
                with lock():
                    v = int(counter.read_text())
                    time.sleep(0.0001)
                    counter.write_text(str(v + 1))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(StoreLock(tmp_path, timeout=30, protocol=protocol),))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert counter.read_text() == "150"
    _left_files(tmp_path, protocol)


def test_record_lock_survives_other_descriptors_closing(tmp_path: Path) -> None:
    """Open-file-description locks belong to the lock object's own descriptor: the
    process opening and closing the lock file elsewhere (a copy, a zip, another store
    object) does not free them, as it would free a classic ``lockf`` lock."""
    a = StoreLock(tmp_path, protocol="fcntl")
    with a():
        other = StoreLock(tmp_path, timeout=0.05, protocol="fcntl")
        with pytest.raises(StoreLockError):
            other.acquire()
        other.close()  # another store object closing its descriptor
        os.close(os.open(tmp_path / LOCK_NAME, os.O_RDWR))
        (tmp_path / LOCK_NAME).read_bytes()
        with pytest.raises(StoreLockError):
            StoreLock(tmp_path, timeout=0.05, protocol="fcntl").acquire()
    with StoreLock(tmp_path, timeout=0.05, protocol="fcntl")():
        pass


def _fork_child(held: multiprocessing.synchronize.Event, lock: StoreLock) -> None:
    held.wait(30)
    try:
        lock.acquire()
    except StoreLockError:
        os._exit(0)
    os._exit(3)  # took a lock the parent holds


@pytest.mark.skipif(sys.platform != "linux", reason="fork")
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_forked_child_does_not_share_the_parents_lock(tmp_path: Path, protocol: str) -> None:
    """A child forked from a process whose StoreLock has its lock file open does not
    take the lock through the inherited descriptor while the parent holds it."""
    lock = StoreLock(tmp_path, timeout=0.2, protocol=protocol)
    with lock():
        pass  # the lock file is open now
    ctx = multiprocessing.get_context("fork")
    held = ctx.Event()
    child = ctx.Process(target=_fork_child, args=(held, lock))
    child.start()
    with lock():
        held.set()
        child.join(30)
    assert child.exitcode == 0


def _leave_in_fork_child(root: str, lock: StoreLock) -> None:
    lock.release()  # the with block ends in the child too
    try:
        StoreLock(root, timeout=0.1, protocol=lock.protocol).acquire()
    except StoreLockError:
        os._exit(0)
    os._exit(3)  # the child freed the parent's lock


@pytest.mark.skipif(sys.platform != "linux", reason="fork")
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_child_forked_while_held_does_not_free_the_parents_lock(
    tmp_path: Path, protocol: str
) -> None:
    lock = StoreLock(tmp_path, protocol=protocol)
    ctx = multiprocessing.get_context("fork")
    with lock():
        child = ctx.Process(target=_leave_in_fork_child, args=(str(tmp_path), lock))
        child.start()
        child.join(30)
        assert child.exitcode == 0
        with pytest.raises(StoreLockError):
            StoreLock(tmp_path, timeout=0.05, protocol=protocol).acquire()
    _left_files(tmp_path, protocol)


# --- re-entrancy, timeouts, errors ----------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_lock_is_reentrant_and_released(tmp_path: Path, protocol: str) -> None:
    lock = StoreLock(tmp_path, protocol=protocol)
    assert lock.protocol == protocol
    with lock():
        with lock():
            assert lock.held and lock.path.exists()
        assert lock.held
        with pytest.raises(StoreLockError):
            StoreLock(tmp_path, timeout=0.05, protocol=protocol).acquire()
    assert not lock.held
    with StoreLock(tmp_path, timeout=0, protocol=protocol)():
        pass  # freed by the outermost release
    _left_files(tmp_path, protocol)
    with pytest.raises(StoreLockError, match="without being held"):
        lock.release()
    with lock():  # still usable
        with pytest.raises(StoreLockError, match="closed while held"):
            lock.close()
    lock.close()
    with lock():  # opened again
        pass


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_lock_times_out_naming_lock_file(tmp_path: Path, protocol: str) -> None:
    holder = StoreLock(tmp_path, protocol=protocol)
    other = StoreLock(tmp_path, timeout=0.2, protocol=protocol)
    with holder():
        t0 = time.monotonic()
        with pytest.raises(StoreLockError) as info:
            other.acquire()
        assert time.monotonic() - t0 >= 0.2
    msg = str(info.value)
    assert isinstance(info.value, StoreError) and isinstance(info.value, TimeoutError)
    assert str(tmp_path / (LOCK_NAME if protocol == "fcntl" else LINK_LOCK_NAME)) in msg
    if protocol == "link":
        assert f"pid {os.getpid()}" in msg
    else:
        assert "unknown holder" in msg
    assert not other.held
    with other():  # the waiter can take it once it is free
        pass
    _left_files(tmp_path, protocol)


@pytest.mark.parametrize("protocol", [None, "fcntl", "fcntl-classic"])
def test_unopenable_lock_file_is_an_io_error(
    tmp_path: Path, protocol: str | None, request: pytest.FixtureRequest
) -> None:
    """A lock file that cannot be opened is an I/O error at once (no waiting, no
    fallback), naming the file."""
    if protocol == "fcntl-classic":
        request.getfixturevalue("classic_locks")
        protocol = "fcntl"
    missing = tmp_path / "no-such-store"
    lock = StoreLock(missing, timeout=30, protocol=protocol)
    t0 = time.monotonic()
    with pytest.raises(StoreIOError, match=f"no-such-store/{LOCK_NAME}") as info:
        lock.acquire()
    assert time.monotonic() - t0 < 10
    assert info.value.errno == errno.ENOENT and not lock.held
    assert lock.protocol == "fcntl"


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may open any file"
)
def test_lock_file_without_write_permission_is_an_io_error(tmp_path: Path) -> None:
    with StoreLock(tmp_path)():
        pass
    os.chmod(tmp_path / LOCK_NAME, 0o444)
    lock = StoreLock(tmp_path, timeout=30)
    with pytest.raises(StoreIOError, match=LOCK_NAME) as info:
        lock.acquire()
    assert info.value.errno == errno.EACCES and not lock.held


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX modes")
def test_lock_file_is_writable_by_whoever_may_write_the_store(tmp_path: Path) -> None:
    """Every writer opens the lock file for writing: in a group-writable store folder it
    is made group-writable whatever the creator's umask; else it is the owner's."""
    shared, private = tmp_path / "shared", tmp_path / "private"
    shared.mkdir(mode=0o770)
    private.mkdir(mode=0o700)
    os.chmod(shared, 0o2775)
    os.chmod(private, 0o755)
    old_umask = os.umask(0o077)
    try:
        for root in (shared, private):
            with StoreLock(root, protocol="fcntl")():
                pass
    finally:
        os.umask(old_umask)
    assert (shared / LOCK_NAME).stat().st_mode & 0o777 == 0o664
    assert (private / LOCK_NAME).stat().st_mode & 0o777 == 0o600


_HOLD = """
import sys, time
from wfstore.storage.lock import StoreLock
lock = StoreLock(sys.argv[1], protocol=sys.argv[2])
lock.acquire()
print("HELD", flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_killed_holder_frees_the_lock(tmp_path: Path, protocol: str) -> None:
    """A holder killed with SIGKILL: in fcntl mode the kernel frees its lock; in link
    mode its lock is broken as stale (its process is gone)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(tmp_path), protocol],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "HELD"
        with pytest.raises(StoreLockError):
            StoreLock(tmp_path, timeout=0.1, protocol=protocol).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
    lock = StoreLock(tmp_path, timeout=10, protocol=protocol)
    with lock():
        assert lock.held
    assert lock.broken == (1 if protocol == "link" else 0)
    _left_files(tmp_path, protocol)


# --- choosing the protocol -------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "arg", "expected"),
    [
        (None, None, "fcntl"),
        ("", None, "fcntl"),
        ("auto", None, "fcntl"),
        ("link", None, "link"),
        (" LINK ", None, "link"),
        ("fcntl", None, "fcntl"),
        ("link", "fcntl", "fcntl"),  # the argument wins over the environment
        ("fcntl", "link", "link"),
        ("link", "auto", "fcntl"),
    ],
)
def test_protocol_from_env_and_argument(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str | None, arg: str | None, expected: str
) -> None:
    if env is not None:
        monkeypatch.setenv(ENV_VAR, env)
    lock = StoreLock(tmp_path, protocol=arg)
    with lock():
        assert lock.protocol == expected
        assert lock.path.name == (LOCK_NAME if expected == "fcntl" else LINK_LOCK_NAME)
        assert lock.path.exists()
    _left_files(tmp_path, expected)


def test_unknown_protocol_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "flock")
    with pytest.raises(InvalidArgumentError, match=f"'flock'.*\\${ENV_VAR}"):
        StoreLock(tmp_path)
    with pytest.raises(InvalidArgumentError, match=r"'nfs'.*protocol"):
        StoreLock(tmp_path, protocol="nfs")
    assert os.listdir(tmp_path) == []


def _refuse(code: int):  # type: ignore[no-untyped-def]
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    return refuse


@pytest.mark.parametrize("code", [errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL])
def test_refused_record_locks_fall_back_to_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """A file system that refuses record locks (simulated) gets the link protocol,
    which still excludes."""
    monkeypatch.setattr(lock_mod.fcntl, "fcntl", _refuse(code))
    a = StoreLock(tmp_path)
    assert a.protocol == "fcntl"  # until tried
    with a():
        assert a.protocol == "link"
        assert (tmp_path / LINK_LOCK_NAME).exists()
        b = StoreLock(tmp_path, timeout=0.1)
        with pytest.raises(StoreLockError, match=LINK_LOCK_NAME):
            b.acquire()
        assert b.protocol == "link"
    with b():
        pass
    assert not (tmp_path / LINK_LOCK_NAME).exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(LINK_LOCK_NAME)]


def test_refusal_is_an_error_when_fcntl_is_forced_or_was_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forced = StoreLock(tmp_path, protocol="fcntl")
    working = StoreLock(tmp_path)
    with working():
        pass
    monkeypatch.setattr(lock_mod.fcntl, "fcntl", _refuse(errno.ENOLCK))
    for lock in (forced, working):
        with pytest.raises(StoreLockError, match=LOCK_NAME):
            lock.acquire()
        assert lock.protocol == "fcntl" and not lock.held
    monkeypatch.undo()
    with forced():  # the failed attempts left the lock usable
        pass


# --- the link protocol's stale locks ------------------------------------------------------


def _plant_lock(root: Path, pid: int, age: float = 0.0) -> None:
    ticket = root / f"{LINK_LOCK_NAME}.{socket.gethostname()}.{pid}.dead"
    ticket.write_text(json.dumps({"host": socket.gethostname(), "pid": pid, "time": 0}))
    os.link(ticket, root / LINK_LOCK_NAME)
    if age:
        old = time.time() - age
        os.utime(root / LINK_LOCK_NAME, (old, old))


def test_stale_lock_of_dead_process_is_broken(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _plant_lock(tmp_path, dead.pid)
    lock = StoreLock(tmp_path, timeout=5, protocol="link")
    with lock():
        assert lock.held
    assert lock.broken == 1
    assert os.listdir(tmp_path) == []


def test_old_lock_is_broken_live_young_lock_is_not(tmp_path: Path) -> None:
    _plant_lock(tmp_path, os.getpid(), age=0)  # our own pid: alive, young
    with pytest.raises(StoreLockError, match=f"pid {os.getpid()}"):
        StoreLock(tmp_path, timeout=0.1, protocol="link").acquire()
    os.utime(tmp_path / LINK_LOCK_NAME, (time.time() - 1000, time.time() - 1000))
    lock = StoreLock(tmp_path, timeout=5, stale_after=60, protocol="link")
    with lock():
        pass
    assert lock.broken == 1


def test_protocols_do_not_take_each_others_files_for_locks(tmp_path: Path) -> None:
    """The fcntl lock file, which stays, is no stale link lock to a link-mode writer,
    and a link lock is no record lock: neither deletes the other's file."""
    fcntl_lock = StoreLock(tmp_path, protocol="fcntl")
    with fcntl_lock():
        pass
    old = time.time() - 1000
    os.utime(tmp_path / LOCK_NAME, (old, old))  # an old lock file
    link_lock = StoreLock(tmp_path, timeout=1, protocol="link")
    with link_lock():
        assert (tmp_path / LOCK_NAME).exists()
        with fcntl_lock():
            pass
    assert link_lock.broken == 0
    assert sorted(n for n in os.listdir(tmp_path)) == [LOCK_NAME]
