"""What making an empty Zarr workflow store takes in both engine generations' layouts:
the folder (refused where a Zarr group already is), the root attributes the engine
starts with, and the last steps (the root group, which makes the folder a workflow
store, with the change marker in its ``.zgroup``, so that readers may cache from the
start). Each generation's ``write_empty_workflow`` creates its own arrays in between."""

from __future__ import annotations

from typing import Any

from fsspec import AbstractFileSystem

from wfstore import _core
from wfstore.common.errors import StoreIOError, StorePathError
from wfstore.persistence.readcache import CLEAN, group_document, marker_value
from wfstore.storage.fsspec import resolve


def new_store_folder(
    fs: AbstractFileSystem | None, wk_path: str, compressor: str | None
) -> tuple[AbstractFileSystem, str, str | None]:
    """``(fs, path, compressor)`` of a new store at `wk_path` (its folder made): the
    file system and path resolved, the compressor's name (``"blosc"``, ``"zstd"`` or
    None) in lower case. An unknown compressor or an existing Zarr group at
    `wk_path` raises ``StorePathError``; a folder that cannot be made,
    ``StoreIOError``."""
    fs, wk_path = resolve(fs, wk_path)
    if compressor is not None:
        compressor = compressor.lower()
        if compressor not in ("blosc", "zstd"):
            raise StorePathError(
                f"Unknown compressor {compressor!r}; expected 'blosc', 'zstd' or None."
            )
    try:
        exists = fs.exists(f"{wk_path.rstrip('/')}/.zgroup")
        if not exists:
            fs.makedirs(wk_path, exist_ok=True)
    except OSError as exc:
        raise StoreIOError(
            exc.errno or 0, f"cannot make the store folder {wk_path!r}: {exc}", wk_path
        ) from exc
    if exists:
        raise StorePathError(f"A Zarr group already exists at {wk_path!r}.")
    return fs, wk_path, compressor


def new_root_attrs(
    *,
    name: str,
    ts_fmt: str,
    ts_name_fmt: str,
    creation_info: Any,
    template_js: dict[str, Any],
    template_components_js: dict[str, Any],
    replaced_wk: str | None,
) -> dict[str, Any]:
    """The root attributes of a new, empty workflow store."""
    attrs: dict[str, Any] = {
        "name": name,
        "ts_fmt": ts_fmt,
        "ts_name_fmt": ts_name_fmt,
        "creation_info": creation_info,
        "template": template_js,
        "template_components": template_components_js,
        "num_added_tasks": 0,
        "tasks": [],
        "loops": [],
        "submissions": [],
    }
    if replaced_wk:
        attrs["replaced_workflow"] = replaced_wk
    return attrs


def finish_new_store(store: _core.Store, attrs: dict[str, Any]) -> None:
    """Write the root group with `attrs` (last: a folder without it is not a workflow
    store yet), its ``.zgroup`` holding a clean change marker (the store's marker
    and lock file: see :mod:`wfstore.persistence.readcache`)."""
    store.create_group("", attrs)
    store.set(".zgroup", group_document(marker_value(CLEAN, 0)))  # (atomic, as durable)
