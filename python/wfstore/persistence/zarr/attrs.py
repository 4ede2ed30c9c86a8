"""Updates of a Zarr store's root attributes (``.zattrs``) that both engine
generations' Zarr stores make alike: element sets, template components, loops'
iteration counts and parents. A part of
:class:`~wfstore.persistence.zarr.store.ZarrPersistentStore` and of hpcflow 0.3's
Zarr store; each runs inside the store's update of the root attributes (committed
with the rest of the save)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wfstore.persistence.zarr.layout import _ATTRS, _json_keys


class ZarrAttrUpdates:
    """The shared root-attribute commit hooks (a part of a Zarr store class)."""

    def _append_element_sets(self, task_id: int, es_js: Sequence[Mapping]) -> None:
        task_idx = self._get_task_id_to_idx_map()[task_id]  # type: ignore[attr-defined]
        with self.using_resource(_ATTRS, "update") as attrs:  # type: ignore[attr-defined]
            attrs["template"]["tasks"][task_idx]["element_sets"].extend(
                _json_keys(dict(es)) for es in es_js
            )

    def _update_template_components(self, tc: dict[str, Any]) -> None:
        with self.using_resource(_ATTRS, "update") as attrs:  # type: ignore[attr-defined]
            attrs["template_components"] = _json_keys(tc)

    def _update_loop_num_iters(self, index: int, num_iters: list[Any]) -> None:
        with self.using_resource(_ATTRS, "update") as attrs:  # type: ignore[attr-defined]
            attrs["loops"][index]["num_added_iterations"] = _json_keys(num_iters)

    def _update_loop_parents(self, index: int, parents: list[str]) -> None:
        with self.using_resource(_ATTRS, "update") as attrs:  # type: ignore[attr-defined]
            attrs["loops"][index]["parents"] = list(parents)
