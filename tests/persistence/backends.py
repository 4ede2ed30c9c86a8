"""File-system backends of the store test suite: a fresh folder on an fsspec file
system, with helpers reading what a store wrote there without going through wfstore."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fsspec import AbstractFileSystem

#: The fsspec file systems every store test runs on (``sftp``: the test sshd on
#: 127.0.0.1, reached through fsspec's sftp file system, the folder being local).
BACKENDS = ("local", "memory", "sftp")


class Backend:
    """A fresh folder `root` on the fsspec file system `fs`, with helpers that read
    what a store wrote there (without going through wfstore)."""

    def __init__(self, name: str, fs: AbstractFileSystem, root: str) -> None:
        self.name = name
        self.fs = fs
        self.root = root.rstrip("/")

    def __repr__(self) -> str:
        return f"Backend({self.name!r}, {self.root!r})"

    @property
    def is_local(self) -> bool:
        return self.name == "local"

    def path(self, *parts: str) -> str:
        """A path below the root (parts may contain ``/``)."""
        return "/".join([self.root, *(p.strip("/") for p in parts)])

    def read_bytes(self, path: str | Path) -> bytes:
        return self.fs.cat_file(str(path))

    def read_text(self, path: str | Path) -> str:
        return self.read_bytes(path).decode("utf-8")

    def read_json(self, path: str | Path, *parts: str) -> Any:
        return json.loads(self.read_bytes("/".join([str(path), *parts])))

    def exists(self, path: str | Path) -> bool:
        return bool(self.fs.exists(str(path)))

    def isfile(self, path: str | Path) -> bool:
        return bool(self.fs.isfile(str(path)))

    def isdir(self, path: str | Path) -> bool:
        return bool(self.fs.isdir(str(path)))

    def zarr_group(self, path: str | Path) -> Any:
        """The Zarr group at `path`, opened read-only by zarr-python (the oracle)."""
        import zarr

        return zarr.open_group(zarr.storage.FSStore(str(path), fs=self.fs, mode="r"), mode="r")


