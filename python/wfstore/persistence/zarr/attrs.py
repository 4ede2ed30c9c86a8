"""Updates of a Zarr store's root attributes (``.zattrs``) that both engine
generations' Zarr stores make alike: tasks, loops, submission documents, element sets,
template components, loops' iteration counts and parents, the replaced workflow. A
part of
:class:`~wfstore.persistence.zarr.store.ZarrPersistentStore` and of hpcflow 0.3's
Zarr store; each runs inside the store's update of the root attributes (committed
with the rest of the save)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from wfstore.common.errors import StorePathError
from wfstore.persistence.zarr.layout import _ATTRS, TASKS_ARR, _json_keys


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

    # --- tasks, loops, submissions (the root attributes' lists) --------------------------

    def _append_tasks(self, tasks: Iterable[Any]) -> None:
        """Insert each task's entry and template into the root attributes and append
        its element-ID row to the ``tasks`` array (under the store lock)."""
        arr = self._array(TASKS_ARR)  # type: ignore[attr-defined]
        start = len(arr)
        rows: list[np.ndarray] = []
        with self.using_resource(_ATTRS, "update") as attrs:  # type: ignore[attr-defined]
            for task in tasks:
                idx, meta, template = task.encode()
                rows.append(np.asarray(meta["element_IDs"], dtype="<i8"))
                entry = {"id_": meta["id_"], "element_IDs_idx": start + len(rows) - 1}
                attrs["tasks"].insert(idx, entry)
                attrs["template"]["tasks"].insert(idx, _json_keys(template))
                attrs["num_added_tasks"] += 1
            if rows:
                with self._locked():  # type: ignore[attr-defined]
                    arr.append(rows)

    def _loop_entry(self, loop: Mapping[str, Any]) -> dict[str, Any]:
        """A loop's entry in the root attributes' ``loops`` (a generation adds its own
        keys)."""
        return {
            "num_added_iterations": loop["num_added_iterations"],
            "iterable_parameters": loop["iterable_parameters"],
            "parents": loop["parents"],
        }

    def _append_loops(self, loops: Mapping[int, Any]) -> None:
        with self.using_resource(_ATTRS, "update") as attrs:  # type: ignore[attr-defined]
            for loop in loops.values():
                attrs["loops"].append(_json_keys(self._loop_entry(loop)))
                attrs["template"]["loops"].append(_json_keys(loop["loop_template"]))

    def _append_submission_docs(self, subs: Mapping[int, Any]) -> None:
        """Append the submission documents `subs` (by index, each the next one)."""
        with self.using_resource(_ATTRS, "update") as attrs:  # type: ignore[attr-defined]
            for idx, sub in sorted(subs.items()):
                if idx != len(attrs["submissions"]):
                    raise StorePathError(
                        f"Submission index {idx} is not the next index "
                        f"({len(attrs['submissions'])})."
                    )
                attrs["submissions"].append(_json_keys(sub))

    # --- replaced workflows ---------------------------------------------------------------

    def remove_replaced_dir(self) -> None:
        """Delete the pre-existing workflow that this one replaced (if any)."""
        with self.using_resource(_ATTRS, "update") as attrs:  # type: ignore[attr-defined]
            if "replaced_workflow" in attrs:
                self.logger.debug("removing temporarily renamed pre-existing workflow.")  # type: ignore[attr-defined]
                self.remove_path(attrs["replaced_workflow"])  # type: ignore[attr-defined]
                del attrs["replaced_workflow"]

    def reinstate_replaced_dir(self) -> None:
        """Move the replaced pre-existing workflow (if any) back to this path (also
        after this store was deleted, as the engine does when making a workflow fails:
        then as the root attributes said when the store was opened, if the store
        kept that)."""
        try:
            with self.using_resource(_ATTRS, "read") as attrs:  # type: ignore[attr-defined]
                replaced = attrs.get("replaced_workflow")
        except StorePathError:
            replaced = getattr(self, "_replaced_at_open", None)
        if replaced:
            self.logger.debug("reinstating temporarily renamed pre-existing workflow.")  # type: ignore[attr-defined]
            self.rename_path(replaced, self.path)  # type: ignore[attr-defined]
