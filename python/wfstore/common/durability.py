"""What a store's writes survive: the ``durability`` setting.

Every write wfstore makes puts its new value in place with one rename, so readers and
processes killed mid-write (a job past its wall time) see the old or the new value,
never a mix; a Zarr commit of several files is all or nothing (a journal finishes it
after a crash). The setting chooses what a *power cut* or a kernel crash can leave,
against the cost of each write:

``"full"``
    Each new file is flushed to disk (``fsync``) before it is renamed, and its folder
    after: the old or the new value survives a power cut on file systems that honour
    ``fsync``. Slower (a disk flush per file).
``"normal"`` (the default)
    The new file is renamed over the old one without a flush, as zarr-python and
    hpcflow write: a power cut may lose the last seconds of writes (what remains
    depends on the file system).

The setting applies to stores on the local file system (and to ``"full"``'s flushes
nowhere else: over fsspec the remote file system decides). It is taken, in order, from
the store class's ``durability`` attribute (set by ``wfstore.hpcflow.register(
durability=...)``), then the environment variable ``WFSTORE_DURABILITY`` (which job
scripts inherit), then ``"normal"``.
"""

from __future__ import annotations

import os
from typing import Literal, cast

from wfstore.common.errors import InvalidArgumentError

#: A durability setting's name.
Durability = Literal["full", "normal"]

#: Every setting, strongest first.
DURABILITIES: tuple[Durability, ...] = ("full", "normal")

#: The environment variable read when a store class sets no durability.
ENV_VAR = "WFSTORE_DURABILITY"

#: The setting used when nothing else sets one.
DEFAULT_DURABILITY: Durability = "normal"


def check_durability(value: object, source: str = "durability") -> Durability:
    """`value` as a :data:`Durability`, or an :class:`~wfstore.InvalidArgumentError`
    naming `source` (where the value came from) and the names allowed."""
    if isinstance(value, str) and value in DURABILITIES:
        return cast(Durability, value)
    allowed = ", ".join(repr(d) for d in DURABILITIES)
    raise InvalidArgumentError(f"{source} must be one of {allowed}, not {value!r}.")


def resolve_durability(value: str | None = None) -> Durability:
    """The durability to use: `value` if given, else ``$WFSTORE_DURABILITY`` if set
    (and not empty), else ``"normal"``. A name that is none of
    :data:`DURABILITIES` raises :class:`~wfstore.InvalidArgumentError`."""
    if value is not None:
        return check_durability(value)
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return check_durability(env, f"the environment variable {ENV_VAR}")
    return DEFAULT_DURABILITY
