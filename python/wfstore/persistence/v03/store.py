"""What every hpcflow 0.3 store of wfstore shares: the shared store API
(:class:`wfstore.persistence.base.PersistentStore`: its getters, ID checks, caches)
with 0.3's changes to the getters and the getters 0.3 added.

Every member that writes raises ``ReadOnlyStoreError`` here; the kinds that write
(Zarr folder, JSON store) put :mod:`.building`, :mod:`.execution` and their kind's
writer before this class in their bases (a zip archive stays read-only).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, NoReturn

import numpy as np

from wfstore.common.errors import (
    ParametersMetadataReadOnlyError,
    ReadOnlyStoreError,
    UnsupportedStoreOperationError,
)
from wfstore.persistence.base import WRITING_MEMBERS, PersistentStore, read_operation
from wfstore.persistence.items import PersistentStoreFeatures
from wfstore.persistence.v03.layout import (
    GENERATION,
    JOBSCRIPT_AT_SUBMIT_KEYS,
    SUBMISSION_AT_SUBMIT_KEYS,
)

#: Members of the store API that write (a190's, less the rechunks, which 0.3 stores
#: refuse as unsupported, and the file hook); 0.3's new writing members are listed in
#: :data:`V03_WRITING_MEMBERS`.
_NOT_REFUSED = ("rechunk_runs", "rechunk_parameter_base", "_append_files")
_WRITING_MEMBERS: tuple[str, ...] = tuple(m for m in WRITING_MEMBERS if m not in _NOT_REFUSED)

#: The writing members hpcflow 0.3 added to the API.
V03_WRITING_MEMBERS: tuple[str, ...] = (
    "add_elements",
    "add_element_iterations",
    "set_run_submission_data",
    "set_multi_run_starts",
    "set_multi_run_ends",
    "set_parameter_values",
    "unset_parameter_value",
    "set_run_dirs",
    "update_at_submit_metadata",
    "update_iter_data_indices",
    "update_run_data_indices",
)


def _refuse(name: str) -> Callable[..., NoReturn]:
    def refuse(self: V03PersistentStore, *args: Any, **kwargs: Any) -> NoReturn:
        raise ReadOnlyStoreError(
            f"{type(self).__name__}.{name}: wfstore reads hpcflow {GENERATION} stores "
            "but does not write them yet."
        )

    refuse.__name__ = name
    return refuse


class V03PersistentStore(PersistentStore):
    """An hpcflow 0.3 store, read through the shared store API.

    0.3's getters that differ from a190's: :meth:`get_EAR_skipped` gives the skip
    reason (an int); runs carry 0.3's fields. Getters 0.3 added:
    :meth:`get_element_iteration_dicts`, the at-submit metadata and jobscript-block
    getters (here: the value the submission document keeps, as 0.3's JSON store; the
    Zarr store reads its submission arrays), :meth:`get_dirs_array`,
    :meth:`get_binary_file` and :meth:`get_text_file`.
    """

    #: The engine generation whose stores the class reads.
    generation: ClassVar[str] = GENERATION
    _features: ClassVar[PersistentStoreFeatures] = PersistentStoreFeatures(
        create=False,
        edit=False,
        jobscript_parallelism=False,
        EAR_parallelism=False,
        schedulers=False,
        submission=False,
    )

    for _name_ in (*_WRITING_MEMBERS, *V03_WRITING_MEMBERS):
        vars()[_name_] = _refuse(_name_)
    del _name_

    @classmethod
    def write_empty_workflow(cls, *args: Any, **kwargs: Any) -> NoReturn:
        raise ReadOnlyStoreError(
            f"wfstore cannot create hpcflow {GENERATION} stores yet (reading only)."
        )

    # --- the workflow's metadata, one document in both kinds --------------------------

    def _meta_doc(self) -> dict[str, Any]:
        """The document of the workflow's metadata (name, time formats, creation
        information, template and its components, tasks, loops): the Zarr store's root
        attributes, the JSON store's ``metadata.json``."""
        raise NotImplementedError

    def get_name(self) -> str:
        return self._meta_doc()["name"]

    def get_ts_fmt(self) -> str:
        return self._meta_doc()["ts_fmt"]

    def get_ts_name_fmt(self) -> str:
        return self._meta_doc()["ts_name_fmt"]

    def get_creation_info(self) -> Any:
        return copy.deepcopy(self._meta_doc()["creation_info"])

    def _get_persistent_template_components(self) -> dict[str, Any]:
        return copy.deepcopy(self._meta_doc()["template_components"])

    def _get_persistent_template(self) -> dict[str, Any]:
        return copy.deepcopy(self._meta_doc()["template"])

    def _get_num_persistent_tasks(self) -> int:
        return len(self._meta_doc()["tasks"])

    def _get_num_persistent_loops(self) -> int:
        return len(self._meta_doc()["loops"])

    @property
    def is_submittable(self) -> bool:
        """Not for a kind that is read-only (the zip archive)."""
        return False

    def _unsupported(self, what: str) -> NoReturn:
        raise UnsupportedStoreOperationError(
            f"{what} of hpcflow {GENERATION} stores is not supported by wfstore yet."
        )

    def zip(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._unsupported("zipping")

    def unzip(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._unsupported("unzipping")

    def rechunk_parameter_base(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._unsupported("rechunking")

    def rechunk_runs(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._unsupported("rechunking")

    @contextlib.contextmanager
    def cache_ctx(self) -> Iterator[None]:
        """0.3.0's ``cache_ctx``: a block inside another one (the engine nests them, and
        :meth:`cached_load` is one) is part of the outer block, whose end alone drops
        the items kept (a190's ends caching at the first block's end)."""
        if self._use_cache:
            yield
            return
        with super().cache_ctx():
            yield

    @contextlib.contextmanager
    def cached_load(self) -> Iterator[None]:
        """Keep items read while the ``with``-wrapped code runs (decoded files are
        kept regardless, until they change)."""
        with self.cache_ctx():
            yield

    @contextlib.contextmanager
    def parameters_metadata_cache(self) -> Iterator[None]:
        """0.3.0's cache of parameter sources for the block (sources chunks are
        decoded once and kept until they change anyway): while it is in use, adding
        parameters or changing their sources raises
        :class:`~wfstore.common.errors.ParametersMetadataReadOnlyError`, as in 0.3.0."""
        if getattr(self, "_params_md_cache", False):
            yield
            return
        self._params_md_cache = True
        try:
            yield
        finally:
            self._params_md_cache = False

    def _check_params_metadata_writable(self) -> None:
        if getattr(self, "_params_md_cache", False):
            raise ParametersMetadataReadOnlyError(
                "Cannot use the `parameters_metadata_cache` when writing parameter-"
                "associated data!"
            )

    @contextlib.contextmanager
    def parameters_array_cache(self) -> Iterator[None]:
        """0.3.0's cache of array-group listings for the block (see
        :meth:`parameters_metadata_cache`)."""
        yield

    # --- getters whose answer 0.3 changed ------------------------------------------------

    def get_EAR_skipped(self, EAR_ID: int) -> int:  # type: ignore[override]
        """The run's skip reason (0: not skipped)."""
        return int(self.get_EARs([EAR_ID])[0].skip)

    @read_operation
    def get_element_iteration_dicts(self, iter_IDs: Iterable[int]) -> list[dict[str, Any]]:
        """The engine's element-iteration data of the given iterations, each with its
        runs' data (all runs read in one call)."""
        iters = self.get_element_iterations(iter_IDs)
        run_ids = [r for it in iters for ids in (it.EAR_IDs or {}).values() for r in ids]
        runs = {r.id_: r.to_dict() for r in self.get_EARs(run_ids)} if run_ids else {}
        out = []
        for it in iters:
            EARs = None
            if it.EAR_IDs is not None:
                EARs = {act: [runs[r] for r in ids] for act, ids in it.EAR_IDs.items()}
            out.append(it.to_dict(EARs))
        return out

    def get_task_elements(
        self, task_id: int, idx_lst: Iterable[int] | None = None
    ) -> Iterator[Mapping[str, Any]]:
        """Element data by index within a task, with their iterations and runs (each
        kind read in one call)."""
        yield from self._task_element_dicts(task_id, idx_lst)

    @read_operation
    def _task_element_dicts(
        self, task_id: int, idx_lst: Iterable[int] | None
    ) -> list[dict[str, Any]]:
        """:meth:`get_task_elements`' answer: one read operation (the store's state
        checked once, not once per kind of item)."""
        elem_IDs = self.get_task(task_id).element_IDs
        if idx_lst is not None:
            elem_IDs = [elem_IDs[i] for i in idx_lst]
        elems = self.get_elements(elem_IDs)
        iters = self.get_element_iteration_dicts([i for e in elems for i in e.iteration_IDs])
        out, pos = [], 0
        for elem in elems:
            n = len(elem.iteration_IDs)
            out.append(elem.to_dict(iters[pos : pos + n]))
            pos += n
        return out

    # --- getters 0.3 added -------------------------------------------------------------

    def get_submission_at_submit_metadata(
        self, sub_idx: int, metadata_attr: dict[str, Any] | None
    ) -> dict[str, Any]:
        """A submission's at-submit metadata (``submission_parts``)."""
        return metadata_attr or dict.fromkeys(SUBMISSION_AT_SUBMIT_KEYS)

    def get_jobscript_at_submit_metadata(
        self, sub_idx: int, js_idx: int, metadata_attr: dict[str, Any] | None
    ) -> dict[str, Any]:
        """A jobscript's at-submit metadata (``submit_cmdline``, ``scheduler_job_ID``,
        ``process_ID``, ``submit_time``)."""
        return metadata_attr or dict.fromkeys(JOBSCRIPT_AT_SUBMIT_KEYS)

    def get_jobscript_block_run_ID_array(
        self, sub_idx: int, js_idx: int, blk_idx: int, run_ID_arr: Any
    ) -> np.ndarray:
        """A jobscript block's run IDs (actions x elements)."""
        return np.asarray(self._given(run_ID_arr, "run IDs"))

    def get_jobscript_block_task_elements_map(
        self, sub_idx: int, js_idx: int, blk_idx: int, task_elems_map: Any
    ) -> dict[int, list[int]]:
        """A jobscript block's map of block element to task elements."""
        return self._given(task_elems_map, "task elements")

    def get_jobscript_block_task_actions_array(
        self, sub_idx: int, js_idx: int, blk_idx: int, task_actions_arr: Any
    ) -> np.ndarray:
        """A jobscript block's ``[task insert ID, action index, element]`` rows."""
        return np.asarray(self._given(task_actions_arr, "task actions"))

    def get_jobscript_block_dependencies(
        self, sub_idx: int, js_idx: int, blk_idx: int, js_dependencies: Any
    ) -> dict[tuple[int, int], Any]:
        """A jobscript block's dependencies on other blocks."""
        return self._given(js_dependencies, "dependencies")

    @staticmethod
    def _given(value: Any, what: str) -> Any:
        if value is None:
            raise UnsupportedStoreOperationError(
                f"this store keeps a jobscript block's {what} in the submission document; "
                "none was given"
            )
        return value

    def get_dirs_array(self) -> np.ndarray:
        """Every run's folder indices (a structured array, one row per run)."""
        raise NotImplementedError

    def get_binary_file(self, path: str | Path) -> bytes:
        """The bytes of a file of the workflow: `path` absolute, or relative to the
        workflow's folder. A missing file raises ``FileNotFoundError``."""
        p = Path(path)
        if not p.is_absolute():
            p = Path(self.path) / p
        if not p.is_file():
            raise FileNotFoundError(f"File at location {str(p)!r} does not exist.")
        return p.read_bytes()

    def get_text_file(self, path: str | Path) -> str:
        """The text of a file of the workflow (UTF-8); see :meth:`get_binary_file`."""
        return self.get_binary_file(path).decode()
