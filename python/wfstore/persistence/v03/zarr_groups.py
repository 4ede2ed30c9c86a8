"""zarr-python ``Group`` objects over an hpcflow 0.3 Zarr store's legacy array groups,
for the private members of 0.3.0's Zarr store that hand such groups out
(``_get_parameter_user_array_group``, ``get_parameter_data_array_group``,
``_get_or_create_parameter_data_array_inner_group``,
``_require_legacy_array_inner_group``), which hpcflow 0.3.0's own tests call.

These members are the only place wfstore uses zarr-python: it is imported when one of
them is called (every hpcflow 0.3.0 environment has it; hpcflow depends on it). The
store's own reads and writes never go through them; they stay on the Rust core. A
``Group`` handed out here is opened over the same folder (or local zip archive), so
what it shows is what is on disk: data the store has staged but not committed is not
in it.
"""

from __future__ import annotations

from typing import Any

from wfstore.common.errors import UnsupportedStoreOperationError
from wfstore.persistence.resources import is_local_fs
from wfstore.persistence.v03 import layout

#: How often :meth:`V03ZarrGroups._require_legacy_array_inner_group` tries again when
#: another process created the shard group between zarr-python's check and its write.
LEGACY_GROUP_CREATE_ATTEMPTS = 5


def _zarr() -> Any:
    try:
        import zarr  # type: ignore[import-untyped,unused-ignore]
    except ImportError:  # pragma: no cover - every hpcflow 0.3 environment has zarr
        raise UnsupportedStoreOperationError(
            "zarr-python Group objects of a store need zarr-python, which is not installed"
        ) from None
    return zarr


class V03ZarrGroups:
    """The group-returning private members of 0.3.0's Zarr store (a mixin of
    :class:`~wfstore.persistence.v03.zarr_store.V03ZarrPersistentStore`)."""

    path: Any
    fs: Any

    def _zarr_root_group(self, mode: str = "r") -> Any:
        """The store's root as a zarr-python ``Group`` (`mode` ``"r"`` or ``"r+"``; a
        zip archive is read-only)."""
        zarr = _zarr()
        if not is_local_fs(self.fs):
            raise UnsupportedStoreOperationError(
                f"zarr-python Group objects of store {self.path!r}: local stores only"
            )
        path = str(self.path)
        if path.endswith(".zip"):
            if mode != "r":
                raise UnsupportedStoreOperationError(
                    f"a zipped hpcflow 0.3 store is read-only (mode {mode!r}): {path!r}"
                )
            return zarr.open_group(store=zarr.ZipStore(path, mode="r"), mode="r")
        return zarr.open_group(store=zarr.DirectoryStore(path), mode=mode)

    def _get_parameter_user_array_group(self, mode: str = "r") -> Any:
        """The group of the parameters' numpy arrays (``parameters/arrays``), or None
        when the store has none."""
        root = self._zarr_root_group(mode=mode)
        params_name, arrays_name = layout.PARAM_ARRAYS_GRP.split("/")
        params = root.get(params_name)
        return None if params is None else params.get(arrays_name)

    def _get_or_create_parameter_data_array_inner_group(
        self, parameter_idx: int, mode: str = "r+"
    ) -> Any:
        """The innermost shard group parameter `parameter_idx`'s array group is in,
        created (with its parents) if missing, by zarr-python's ``require_group``
        (which raises ``ContainsGroupError`` when another writer creates the group
        between its check and its write)."""
        group = self._get_parameter_user_array_group(mode=mode)
        if group is None:
            raise UnsupportedStoreOperationError(
                f"store {self.path!r} has no {layout.PARAM_ARRAYS_GRP!r} group"
            )
        for name in self._shard_names(parameter_idx)[:3]:
            group = group.require_group(name)
        return group

    def _require_legacy_array_inner_group(self, parameter_idx: int) -> Any:
        """As :meth:`_get_or_create_parameter_data_array_inner_group`, trying again
        (up to :data:`LEGACY_GROUP_CREATE_ATTEMPTS` times) when the group was created
        concurrently: it exists then, and the next try opens it."""
        contains_error = _zarr().errors.ContainsGroupError
        for attempt in range(LEGACY_GROUP_CREATE_ATTEMPTS):
            try:
                return self._get_or_create_parameter_data_array_inner_group(
                    parameter_idx, mode="r+"
                )
            except contains_error:
                if attempt == LEGACY_GROUP_CREATE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def get_parameter_data_array_group(self, parameter_idx: int) -> Any:
        """Parameter `parameter_idx`'s group of numpy arrays (``arr_<k>``) as a
        read-only zarr-python ``Group``, or None when it has none (its arrays, if
        any, are in NPZ archives)."""
        group = self._get_parameter_user_array_group(mode="r")
        for name in self._shard_names(parameter_idx):
            if group is None:
                return None
            group = group.get(name)
        return group

    @staticmethod
    def _shard_names(parameter_idx: int) -> list[str]:
        """The names of the groups below ``parameters/arrays`` down to parameter
        `parameter_idx`'s own: outer, middle and inner shard, then the parameter."""
        prefix = layout.PARAM_ARRAYS_GRP + "/"
        return layout.legacy_array_group(parameter_idx)[len(prefix) :].split("/")
