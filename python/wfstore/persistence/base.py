"""The abstract persistent store.

:class:`PersistentStore` implements the store API of hpcflow 0.2.0a190
(``hpcflow.sdk.persistence.base.PersistentStore``) in a store-agnostic way: IDs,
pending changes, caches, resources and the merging of pending with persistent data.
Concrete stores implement the ``_get_persistent_*``, ``_append_*`` and ``_update_*``
hooks, which read and write the committed data.

``app`` and ``workflow`` may be None (standalone use). Then timestamp formats come
from the store, logging goes to the ``wfstore`` logger, and run-directory snapshots at
run start/end come from :attr:`PersistentStore.run_dir_snapshot` (if set).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import numbers
import os
import shutil
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence, Sized
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar, overload

from fsspec import AbstractFileSystem

from wfstore.common.durability import Durability, resolve_durability
from wfstore.common.errors import (
    MissingParameterData,
    MissingStoreEARError,
    MissingStoreElementError,
    MissingStoreElementIterationError,
    MissingStoreItemError,
    MissingStoreLoopError,
    MissingStoreSubmissionError,
    MissingStoreTaskError,
    ParameterAlreadySetError,
    StorePathError,
    StoreResourceError,
)
from wfstore.persistence.gcpause import gc_paused
from wfstore.persistence.items import (
    PARAM_DATA_NOT_SET,
    PersistentStoreFeatures,
    StoreEAR,
    StoreElement,
    StoreElementIter,
    StoreParameter,
    StoreTask,
    merge_param_source,
)
from wfstore.persistence.pending import PendingChanges
from wfstore.persistence.resources import StoreResource, is_local_fs
from wfstore.storage.fsspec import io_lock, resolve

#: Every member of the store API (hpcflow 0.2.0a190's) that writes or would write to the
#: store: what a read-only store refuses.
WRITING_MEMBERS: tuple[str, ...] = (
    "add_template_components",
    "add_task",
    "add_loop",
    "add_submission",
    "add_element_set",
    "add_element",
    "add_element_iteration",
    "add_EAR",
    "add_submission_part",
    "add_set_parameter",
    "add_unset_parameter",
    "add_file",
    "set_file",
    "set_parameter_value",
    "update_param_source",
    "update_loop_num_iters",
    "update_loop_parents",
    "set_EAR_submission_index",
    "set_EAR_start",
    "set_EAR_end",
    "set_EAR_skip",
    "set_EARs_initialised",
    "set_jobscript_metadata",
    "remove_replaced_dir",
    "reinstate_replaced_dir",
    "rechunk_parameter_base",
    "rechunk_runs",
    "_append_tasks",
    "_append_loops",
    "_append_submissions",
    "_append_submission_parts",
    "_append_task_element_IDs",
    "_append_elements",
    "_append_element_sets",
    "_append_elem_iter_IDs",
    "_append_elem_iters",
    "_append_elem_iter_EAR_IDs",
    "_append_EARs",
    "_append_files",
    "_append_parameters",
    "_set_parameter_values",
    "_update_elem_iter_EARs_initialised",
    "_update_EAR_submission_indices",
    "_update_EAR_start",
    "_update_EAR_end",
    "_update_EAR_skip",
    "_update_js_metadata",
    "_update_parameter_sources",
    "_update_template_components",
    "_update_loop_index",
    "_update_loop_num_iters",
    "_update_loop_parents",
)

AnySTask = TypeVar("AnySTask", bound=StoreTask)
AnySElement = TypeVar("AnySElement", bound=StoreElement)
AnySElementIter = TypeVar("AnySElementIter", bound=StoreElementIter)
AnySEAR = TypeVar("AnySEAR", bound=StoreEAR)
AnySParameter = TypeVar("AnySParameter", bound=StoreParameter)
_T = TypeVar("_T")

#: Workflow metadata document (JSON store ``metadata.json``).
Metadata = dict[str, Any]
#: Root attributes of a Zarr store.
ZarrAttrsDict = dict[str, Any]
#: A JSON-like document (e.g. a submission).
JSONDocument = dict[str, Any]
#: A loop descriptor as returned by :meth:`PersistentStore.get_loops`.
LoopDescriptor = dict[str, Any]
#: Map of parameter path to parameter ID.
DataIndex = dict[str, int]
#: Where a parameter came from.
ParamSource = dict[str, Any]
#: Workflow creation information.
StoreCreationInfo = dict[str, Any]

#: Template component kinds.
TEMPLATE_COMP_TYPES: tuple[str, ...] = (
    "parameters",
    "command_files",
    "environments",
    "task_schemas",
)

#: Default timestamp formats (those of hpcflow), used when nothing else says.
DEFAULT_TS_FMT = "%Y-%m-%d %H:%M:%S.%f"
DEFAULT_TS_NAME_FMT = "%Y-%m-%d_%H%M%S"

_LOGGER = logging.getLogger("wfstore")
#: Reads of at least this many items run with the cyclic garbage collector paused
#: (:mod:`wfstore.persistence.gcpause`): a read of many items makes ~25 objects per
#: item, enough to set off collections that walk everything the process holds (the
#: engine reads each task in batches of :data:`_ELEMENT_BATCH` elements: paused, reading
#: 10,000 runs takes about two thirds of the time).
_GC_PAUSE_ITEMS = 100
#: Elements read per batch by :meth:`PersistentStore.get_task_elements` (their
#: iterations and runs read in one call each per batch).
_ELEMENT_BATCH = 1000


class _NoItems(dict):  # type: ignore[type-arg]
    """What the item caches (:attr:`PersistentStore.EAR_cache` and the others) are
    while the store is not caching (outside ``cache_ctx``): an empty mapping that keeps
    nothing put in it. The getters put every item they load into these caches, but
    read them only while caching; kept otherwise, they would hold every item ever read
    for the store object's life (the engine keeps its store as long as the workflow
    object: 10,000 runs read hold ~25 MiB of store items), memory the engine's objects
    already hold or have let go of."""

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def update(self, *args: Any, **kwargs: Any) -> None:
        pass

    def setdefault(self, key: Any, default: Any = None) -> Any:
        return default

    def __ior__(self, other: Any) -> _NoItems:
        return self


_NO_ITEMS = _NoItems()


def _is_id(obj: Any) -> bool:
    """Whether `obj` can be an item ID: an integer (numpy integers too), not a bool."""
    return type(obj) is int or (isinstance(obj, numbers.Integral) and not isinstance(obj, bool))


_F = TypeVar("_F", bound=Callable[..., Any])


def read_operation(method: _F) -> _F:
    """Make `method` one read operation of its store (see
    :meth:`PersistentStore._begin_read`): stores that cache what they read check once
    per operation whether the store changed. Nested operations are part of the
    outermost one."""

    @functools.wraps(method)
    def wrapper(self: PersistentStore, *args: Any, **kwargs: Any) -> Any:
        self._begin_read()
        try:
            return method(self, *args, **kwargs)
        finally:
            self._end_read()

    return wrapper  # type: ignore[return-value]


def debug_handled(logger: logging.Logger) -> bool:
    """Whether a debug record of `logger` reaches a handler that emits it: one in the
    chain of loggers it propagates to, at debug level or below. (Without handlers,
    logging's last resort handles warnings and above only.)"""
    lg: logging.Logger | None = logger
    while lg is not None:
        for h in lg.handlers:
            if h.level <= logging.DEBUG:
                return True
        if not lg.propagate:
            return False
        lg = lg.parent
    return False


def current_timestamp() -> datetime:
    """The current time, as an aware UTC datetime."""
    return datetime.now(timezone.utc)


class PersistentStore(ABC, Generic[AnySTask, AnySElement, AnySElementIter, AnySEAR, AnySParameter]):
    """An abstract persistent workflow store.

    Parameters
    ----------
    app:
        The engine application object, or None for standalone use.
    workflow:
        The engine workflow being persisted, or None.
    path:
        Where the store lives (on `fs`).
    fs:
        The fsspec file system holding the store. If None, the file system of `path`
        when it is a URL (``ssh://user@host/path``, ``memory://path``; options such as
        keys come from fsspec's configuration), else the local file system.

    durability:
        What the store's writes survive (crashed processes, power cuts; see
        :mod:`wfstore.common.durability`). If None, the class attribute
        :attr:`default_durability`, else the environment variable
        ``WFSTORE_DURABILITY``, else ``"normal"``. A name that is none of ``"full"``,
        ``"normal"`` raises :class:`~wfstore.InvalidArgumentError`.
    """

    #: The durability of stores of this class that nothing else sets (``None``: the
    #: environment variable ``WFSTORE_DURABILITY``, else ``"normal"``).
    default_durability: ClassVar[Durability | None] = None

    #: The store kind (``"json"``, ``"zarr"``, ``"zip"``).
    _name: ClassVar[str]
    #: What this kind of store supports.
    _features: ClassVar[PersistentStoreFeatures]
    #: Resource labels each commit step needs open (in ``"update"`` mode); steps
    #: not listed need none.
    _commit_resources: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    #: Whether updating one run's fields writes one file atomically and needs no
    #: resource: then a commit of just that skips the commit transaction.
    one_row_writes_are_atomic: ClassVar[bool] = False

    _resources: dict[str, StoreResource]

    def __init__(
        self,
        app: Any,
        workflow: Any,
        path: Path | str,
        fs: AbstractFileSystem | None = None,
        *,
        durability: Durability | None = None,
    ) -> None:
        self._app = app
        self._workflow = workflow
        self._durability = self._resolve_durability(durability)
        # `path` may be a URL (ssh://user@host/path, memory://path): with fs=None, its
        # file system is used; the store's path is the path on its file system.
        self.fs: AbstractFileSystem
        self.fs, self.path = resolve(fs, path)
        if not hasattr(self, "_resources"):
            self._resources = {}
        self._pending: PendingChanges[
            AnySTask, AnySElement, AnySElementIter, AnySEAR, AnySParameter
        ] = PendingChanges(self)
        self._resources_in_use: set[tuple[str, str]] = set()
        self._in_batch_mode = False
        self._use_cache = False
        #: Optional callable returning a run-directory snapshot, used by
        #: :meth:`set_EAR_start`/:meth:`set_EAR_end` when there is no ``app``.
        self.run_dir_snapshot: Callable[[], dict[str, Any] | None] | None = None
        self._reset_cache()

    @property
    def durability(self) -> Durability:
        """What this store's writes survive (see :mod:`wfstore.common.durability`)."""
        return self._durability

    @classmethod
    def _resolve_durability(cls, durability: Durability | None = None) -> Durability:
        """`durability`, else the class's :attr:`default_durability`, else the
        environment's (see :func:`wfstore.common.durability.resolve_durability`)."""
        return resolve_durability(
            durability if durability is not None else cls.default_durability
        )

    # --- item classes ----------------------------------------------------------------

    @classmethod
    @abstractmethod
    def _store_task_cls(cls) -> type[AnySTask]: ...

    @classmethod
    @abstractmethod
    def _store_elem_cls(cls) -> type[AnySElement]: ...

    @classmethod
    @abstractmethod
    def _store_iter_cls(cls) -> type[AnySElementIter]: ...

    @classmethod
    @abstractmethod
    def _store_EAR_cls(cls) -> type[AnySEAR]: ...

    @classmethod
    @abstractmethod
    def _store_param_cls(cls) -> type[AnySParameter]: ...

    # --- abstract public members -------------------------------------------------------

    @abstractmethod
    def cached_load(self) -> AbstractContextManager[None]:
        """Perform a load with cache enabled while the ``with``-wrapped code runs."""

    @abstractmethod
    def get_name(self) -> str:
        """Get the workflow name."""

    @abstractmethod
    def get_creation_info(self) -> StoreCreationInfo:
        """Get the workflow creation data."""

    @abstractmethod
    def get_ts_fmt(self) -> str:
        """Get the timestamp format."""

    @abstractmethod
    def get_ts_name_fmt(self) -> str:
        """Get the timestamp format for names."""

    @abstractmethod
    def remove_replaced_dir(self) -> None:
        """Remove a replaced directory."""

    @abstractmethod
    def reinstate_replaced_dir(self) -> None:
        """Reinstate a replaced directory."""

    @abstractmethod
    def zip(
        self,
        path: str = ".",
        log: str | None = None,
        overwrite: bool = False,
        include_execute: bool = False,
        include_rechunk_backups: bool = False,
    ) -> str:
        """Convert this store into archival form."""

    @abstractmethod
    def unzip(self, path: str = ".", log: str | None = None) -> str:
        """Convert this store into expanded form."""

    @abstractmethod
    def rechunk_parameter_base(
        self, chunk_size: int | None = None, backup: bool = True, status: bool = True
    ) -> Any:
        """Rechunk the parameter base array (Zarr)."""

    @abstractmethod
    def rechunk_runs(
        self, chunk_size: int | None = None, backup: bool = True, status: bool = True
    ) -> Any:
        """Rechunk the runs array (Zarr)."""

    @classmethod
    @abstractmethod
    def write_empty_workflow(
        cls,
        app: Any,
        *,
        template_js: dict[str, Any],
        template_components_js: dict[str, Any],
        wk_path: str,
        fs: AbstractFileSystem,
        name: str,
        replaced_wk: str | None,
        creation_info: StoreCreationInfo,
        ts_fmt: str,
        ts_name_fmt: str,
    ) -> None:
        """Write an empty workflow."""

    # --- properties --------------------------------------------------------------------

    @property
    def workflow(self) -> Any:
        """The workflow this relates to (None in standalone use)."""
        return self._workflow

    @property
    def logger(self) -> logging.Logger:
        """The logger to use: the engine's persistence logger, else ``wfstore``."""
        logger = self.__dict__.get("_logger")
        if logger is None:  # looked up once (the engine's property builds it each time)
            app_logger = getattr(self._app, "persistence_logger", None)
            logger = app_logger if app_logger is not None else _LOGGER
            self.__dict__["_logger"] = logger
        return logger

    def _debug(self, msg: str, *args: Any) -> None:
        """Log `msg` (%-formatted with `args`) at debug level, as the engine's own store
        does for each item it adds, but only if a handler will take the record: the
        engine's loggers are enabled at debug level with handlers at higher ones, so
        otherwise tens of thousands of records per workflow are built and dropped."""
        logger = self.logger
        if logger.isEnabledFor(logging.DEBUG) and debug_handled(logger):
            logger.debug(msg, *args)

    @property
    def ts_fmt(self) -> str:
        """The format for timestamps (the workflow's, else the store's)."""
        wk_fmt = getattr(self._workflow, "ts_fmt", None)
        return wk_fmt if wk_fmt is not None else self.get_ts_fmt()

    @property
    def has_pending(self) -> bool:
        """Whether there are any pending changes."""
        return bool(self._pending)

    @property
    def is_submittable(self) -> bool:
        """Does this store support workflow submission?"""
        return is_local_fs(self.fs)

    @property
    def use_cache(self) -> bool:
        """Whether to use a cache."""
        return self._use_cache

    @property
    def task_cache(self) -> dict[int, AnySTask]:
        """Cache for persistent tasks (while :attr:`use_cache`; else it keeps nothing:
        see :class:`_NoItems`)."""
        return self._cache["tasks"] if self._use_cache else _NO_ITEMS

    @property
    def element_cache(self) -> dict[int, AnySElement]:
        """Cache for persistent elements."""
        return self._cache["elements"] if self._use_cache else _NO_ITEMS

    @property
    def element_iter_cache(self) -> dict[int, AnySElementIter]:
        """Cache for persistent element iterations."""
        return self._cache["element_iters"] if self._use_cache else _NO_ITEMS

    @property
    def EAR_cache(self) -> dict[int, AnySEAR]:
        """Cache for persistent EARs."""
        return self._cache["EARs"] if self._use_cache else _NO_ITEMS

    @property
    def num_tasks_cache(self) -> int | None:
        """Cache for number of persistent tasks."""
        return self._cache["num_tasks"]

    @num_tasks_cache.setter
    def num_tasks_cache(self, value: int | None) -> None:
        self._cache["num_tasks"] = value

    @property
    def num_EARs_cache(self) -> int | None:
        """Cache for total number of persistent EARs."""
        return self._cache["num_EARs"]

    @num_EARs_cache.setter
    def num_EARs_cache(self, value: int | None) -> None:
        self._cache["num_EARs"] = value

    @property
    def param_sources_cache(self) -> dict[int, ParamSource]:
        """Cache for persistent parameter sources."""
        return self._cache["param_sources"] if self._use_cache else _NO_ITEMS

    @property
    def parameter_cache(self) -> dict[int, AnySParameter]:
        """Cache for persistent parameters."""
        return self._cache["parameters"] if self._use_cache else _NO_ITEMS

    @property
    def features(self) -> PersistentStoreFeatures:
        """What this kind of store supports."""
        return self._features

    # --- caches ----------------------------------------------------------------------

    def _reset_cache(self) -> None:
        self._cache: dict[str, Any] = {
            "tasks": {},
            "elements": {},
            "element_iters": {},
            "EARs": {},
            "param_sources": {},
            "num_tasks": None,
            "parameters": {},
            "num_EARs": None,
        }
        #: Persistent counts read while items of a kind are pending (see `_num_total`).
        self._persistent_counts: dict[str, int] = {}

    @contextlib.contextmanager
    def cache_ctx(self) -> Iterator[None]:
        """Context manager for using the persistent element/iteration/run cache (the
        block is one read operation: see :meth:`_begin_read`)."""
        self._use_cache = True
        self._begin_read()
        try:
            yield
        finally:
            self._end_read()
            self._use_cache = False
            self._reset_cache()

    def _begin_read(self) -> None:
        """Enter a read operation: each public getter call, and each ``cached_load()``
        or ``cache_ctx()`` block, is one (nested ones are part of the outermost).
        Stores that keep what they read across operations check here, once per
        operation, whether other processes changed the store. Nothing by default."""

    def _end_read(self) -> None:
        """Leave a read operation (see :meth:`_begin_read`)."""

    def _split_cached(
        self, ids: Iterable[int], cache: dict[int, _T]
    ) -> tuple[dict[int, _T], list[int]]:
        """Split `ids` into items found in `cache` (if caching) and IDs to load."""
        ids = list(dict.fromkeys(ids))
        if not self.use_cache:
            return {}, ids
        found = {i: cache[i] for i in ids if i in cache}
        return found, [i for i in ids if i not in found]

    def _get_cached_persistent_tasks(
        self, id_lst: Iterable[int]
    ) -> tuple[dict[int, AnySTask], list[int]]:
        return self._split_cached(id_lst, self.task_cache)

    def _get_cached_persistent_elements(
        self, id_lst: Iterable[int]
    ) -> tuple[dict[int, AnySElement], list[int]]:
        return self._split_cached(id_lst, self.element_cache)

    def _get_cached_persistent_element_iters(
        self, id_lst: Iterable[int]
    ) -> tuple[dict[int, AnySElementIter], list[int]]:
        return self._split_cached(id_lst, self.element_iter_cache)

    def _get_cached_persistent_EARs(
        self, id_lst: Iterable[int]
    ) -> tuple[dict[int, AnySEAR], list[int]]:
        return self._split_cached(id_lst, self.EAR_cache)

    def _get_cached_persistent_parameters(
        self, id_lst: Iterable[int]
    ) -> tuple[dict[int, AnySParameter], list[int]]:
        return self._split_cached(id_lst, self.parameter_cache)

    def _get_cached_persistent_param_sources(
        self, id_lst: Iterable[int]
    ) -> tuple[dict[int, ParamSource], list[int]]:
        return self._split_cached(id_lst, self.param_sources_cache)

    # --- resources -------------------------------------------------------------------

    @overload
    def using_resource(
        self, res_label: Literal["metadata"], action: str
    ) -> AbstractContextManager[Metadata]: ...

    @overload
    def using_resource(
        self, res_label: Literal["submissions"], action: str
    ) -> AbstractContextManager[list[JSONDocument]]: ...

    @overload
    def using_resource(
        self, res_label: Literal["parameters"], action: str
    ) -> AbstractContextManager[dict[str, dict[str, Any]]]: ...

    @overload
    def using_resource(
        self, res_label: Literal["attrs"], action: str
    ) -> AbstractContextManager[ZarrAttrsDict]: ...

    @contextlib.contextmanager
    def using_resource(self, res_label: str, action: str) -> Iterator[Any]:
        """Context manager for managing the store resources (e.g. ``metadata``).

        Nested uses of the same resource and action share the data; an ``"update"``
        use writes the resource (if changed) once, when the outermost ``"update"``
        use exits without error. If the block raises, nothing is written.
        """
        try:
            res = self._resources[res_label]
        except KeyError:
            raise StoreResourceError(
                f"{self.__class__.__name__!r} has no resource named {res_label!r}; "
                f"it has {sorted(self._resources)!r}."
            ) from None
        key = (res_label, action)
        if key in self._resources_in_use:
            yield res.data[action]
            return
        data = res.open(action)
        self._resources_in_use.add(key)
        try:
            yield data
        except BaseException:
            self._resources_in_use.discard(key)
            res.discard(action)
            raise
        self._resources_in_use.discard(key)
        res.close(action)

    # --- committing ------------------------------------------------------------------

    @property
    def _batch_active(self) -> bool:
        return self._in_batch_mode or bool(getattr(self._workflow, "_in_batch_mode", False))

    @contextlib.contextmanager
    def _commit_transaction(self, kinds: Collection[str] = ()) -> Iterator[None]:
        """Context of one commit of the pending changes (`kinds`: the names of the
        pending attributes it commits). Stores that can make a commit all-or-nothing
        open a transaction here, applied when the block exits and dropped if it raises;
        by default commits are applied step by step."""
        yield

    def save(self) -> None:
        """Commit pending changes to disk, if not in batch-update mode."""
        if not self._batch_active:
            self._pending.commit_all()

    @contextlib.contextmanager
    def batch_update(self) -> Iterator[None]:
        """Group changes: inside the block :meth:`save` does not commit; everything
        is committed once at exit, or discarded (nothing written) if the block
        raises. Nested use joins the outer batch."""
        if self._in_batch_mode:
            yield
            return
        self._in_batch_mode = True
        try:
            yield
        except BaseException:
            self._in_batch_mode = False
            self._pending.reset()
            self._reset_cache()
            raise
        self._in_batch_mode = False
        self.save()

    # --- counts ------------------------------------------------------------------------

    @abstractmethod
    def _get_num_persistent_tasks(self) -> int: ...

    @abstractmethod
    def _get_num_persistent_loops(self) -> int: ...

    @abstractmethod
    def _get_num_persistent_submissions(self) -> int: ...

    @abstractmethod
    def _get_num_persistent_elements(self) -> int: ...

    @abstractmethod
    def _get_num_persistent_elem_iters(self) -> int: ...

    @abstractmethod
    def _get_num_persistent_EARs(self) -> int: ...

    @abstractmethod
    def _get_num_persistent_parameters(self) -> int: ...

    @abstractmethod
    def _get_num_persistent_added_tasks(self) -> int: ...

    def _get_num_total_tasks(self) -> int:
        return self._get_num_persistent_tasks() + len(self._pending.add_tasks)

    def _get_num_total_loops(self) -> int:
        return self._get_num_persistent_loops() + len(self._pending.add_loops)

    def _get_num_total_submissions(self) -> int:
        return self._get_num_persistent_submissions() + len(self._pending.add_submissions)

    def _num_total(self, kind: str, persistent: Callable[[], int], pending: Sized) -> int:
        """Persistent plus pending items of `kind`. While items of the kind are
        pending, the persistent count read when the first of them was added is reused:
        their IDs were numbered from it, and only a commit changes it (so adding many
        items in a batch reads the store once, not once per item)."""
        counts = self._persistent_counts
        if not pending or kind not in counts:
            counts[kind] = persistent()
        return counts[kind] + len(pending)

    def _get_num_total_elements(self) -> int:
        return self._num_total(
            "elements", self._get_num_persistent_elements, self._pending.add_elements
        )

    def _get_num_total_elem_iters(self) -> int:
        return self._num_total(
            "elem_iters", self._get_num_persistent_elem_iters, self._pending.add_elem_iters
        )

    def _get_num_total_EARs(self) -> int:
        return self._num_total("EARs", self._get_num_persistent_EARs, self._pending.add_EARs)

    def _check_seen_ids(
        self,
        kind: str,
        ids: Iterable[Any],
        total: Callable[[], int],
        pending: Sized,
        error: type[MissingStoreItemError],
    ) -> None:
        """:meth:`_check_ids` for IDs of `kind`, reading the store's count (`total()`)
        only when an ID is not below the count seen last (items of these kinds are
        never removed, so a count seen once is a lower bound: the hot per-item updates
        then read nothing for it)."""
        ids = list(ids)
        seen = f"{kind}_seen"
        known = self._persistent_counts.get(seen, 0) + len(pending)
        if all(type(i) is int and 0 <= i < known for i in ids):
            return
        n = total()
        self._persistent_counts[seen] = n - len(pending)
        self._check_ids(ids, n, error)

    def _check_EAR_ids(self, ids: Iterable[Any]) -> None:
        """:meth:`_check_seen_ids` for run IDs."""
        self._check_seen_ids(
            "EARs", ids, self._get_num_total_EARs, self._pending.add_EARs, MissingStoreEARError
        )

    def _check_param_ids(self, ids: Iterable[Any]) -> None:
        """:meth:`_check_seen_ids` for parameter IDs."""
        self._check_seen_ids(
            "parameters",
            ids,
            self._get_num_total_parameters,
            self._pending.add_parameters,
            MissingParameterData,
        )

    def _get_num_total_parameters(self) -> int:
        return self._num_total(
            "parameters", self._get_num_persistent_parameters, self._pending.add_parameters
        )

    def _get_num_total_added_tasks(self) -> int:
        return self._get_num_persistent_added_tasks() + len(self._pending.add_tasks)

    def _get_task_total_num_elements(self, task_ID: int) -> int:
        # counted without building the task with its pending element IDs appended
        # (a copy of the whole list for each element added: quadratic in a batch)
        _, tasks = self._fetch(
            [task_ID], self._pending.add_tasks, self._get_persistent_tasks, MissingStoreTaskError
        )
        pend = self._pending.add_elem_IDs.get(task_ID)
        return len(tasks[task_ID].element_IDs) + (len(pend) if pend else 0)

    # --- paths -----------------------------------------------------------------------

    def _join(self, *parts: str) -> str:
        return "/".join([self.path.rstrip("/"), *parts])

    @property
    def _input_files_path(self) -> str:
        wk_path = getattr(self._workflow, "input_files_path", None)
        return str(wk_path) if wk_path is not None else self._join("artifacts", "input_files")

    @property
    def _task_artifacts_path(self) -> str:
        wk_path = getattr(self._workflow, "task_artifacts_path", None)
        return str(wk_path) if wk_path is not None else self._join("artifacts", "tasks")

    def _get_num_persistent_input_files(self) -> int:
        try:
            return len(self.fs.ls(self._input_files_path, detail=False))
        except FileNotFoundError:
            return 0

    def _get_num_total_input_files(self) -> int:
        return self._get_num_persistent_input_files() + sum(
            1 for f in self._pending.add_files if f["is_input"]
        )

    # --- adding ----------------------------------------------------------------------

    def _maybe_save(self, save: bool) -> None:
        if save:
            self.save()

    @staticmethod
    def _check_ids(ids: Iterable[Any], total: int, error: type[MissingStoreItemError]) -> None:
        """Raise `error` naming every ID that is not an integer in ``range(total)``, so
        that a bad ID is refused before anything is made pending (a pending change that
        cannot be committed would make every later commit fail)."""
        bad = [i for i in ids if not _is_id(i) or not 0 <= i < total]
        if bad:
            raise error(bad)

    def add_template_components(self, temp_comps: Mapping[str, dict], save: bool = True) -> None:
        """Add template components (new hashes only) to the workflow."""
        existing = self.get_template_components()
        for kind, comps in temp_comps.items():
            for hash_i, dat_i in comps.items():
                if hash_i not in existing.get(kind, {}):
                    self._pending.add_template_components[kind][hash_i] = dat_i
        self._maybe_save(save)

    def add_task(self, idx: int, task_template: Mapping, save: bool = True) -> int:
        """Add a new task to the workflow at position `idx`; return its ID."""
        self._debug("Adding store task.")
        new_ID = self._get_num_total_added_tasks()
        self._pending.add_tasks[new_ID] = self._store_task_cls()(
            id_=new_ID,
            index=idx,
            is_pending=True,
            element_IDs=[],
            task_template=task_template,
        )
        self._maybe_save(save)
        return new_ID

    def add_loop(
        self,
        loop_template: Mapping[str, Any],
        iterable_parameters: Any,
        parents: Sequence[str],
        num_added_iterations: Mapping[tuple[int, ...], int],
        iter_IDs: Iterable[int],
        save: bool = True,
    ) -> None:
        """Add a new loop to the workflow."""
        self._debug("Adding store loop.")
        new_idx = self._get_num_total_loops()
        self._pending.add_loops[new_idx] = {
            "loop_template": dict(loop_template),
            "iterable_parameters": iterable_parameters,
            "parents": list(parents),
            "num_added_iterations": [[list(k), v] for k, v in num_added_iterations.items()],
        }
        for i in iter_IDs:
            self._pending.update_loop_indices[i][loop_template["name"]] = 0
        self._maybe_save(save)

    def add_submission(self, sub_idx: int, sub_js: JSONDocument, save: bool = True) -> None:
        """Add a new submission."""
        self._debug("Adding store submission.")
        self._pending.add_submissions[sub_idx] = sub_js
        self._maybe_save(save)

    def add_element_set(self, task_id: int, es_js: Mapping, save: bool = True) -> None:
        """Add an element set to a task."""
        self._pending.add_element_sets[task_id].append(es_js)
        self._maybe_save(save)

    def add_element(
        self,
        task_ID: int,
        es_idx: int,
        seq_idx: dict[str, int],
        src_idx: dict[str, int],
        save: bool = True,
    ) -> int:
        """Add a new element to a task; return its ID."""
        self._debug("Adding store element.")
        new_ID = self._get_num_total_elements()
        index = self._get_task_total_num_elements(task_ID)
        self._pending.add_elements[new_ID] = self._store_elem_cls()(
            id_=new_ID,
            is_pending=True,
            index=index,
            es_idx=es_idx,
            seq_idx=seq_idx,
            src_idx=src_idx,
            task_ID=task_ID,
            iteration_IDs=[],
        )
        self._pending.add_elem_IDs[task_ID].append(new_ID)
        self._maybe_save(save)
        return new_ID

    def add_element_iteration(
        self,
        element_ID: int,
        data_idx: DataIndex,
        schema_parameters: list[str],
        loop_idx: Mapping[str, int] | None = None,
        save: bool = True,
    ) -> int:
        """Add a new iteration to an element; return its ID."""
        self._debug("Adding store element-iteration.")
        self._check_ids([element_ID], self._get_num_total_elements(), MissingStoreElementError)
        new_ID = self._get_num_total_elem_iters()
        self._pending.add_elem_iters[new_ID] = self._store_iter_cls()(
            id_=new_ID,
            is_pending=True,
            element_ID=element_ID,
            EARs_initialised=False,
            EAR_IDs=None,
            data_idx=data_idx,
            schema_parameters=list(schema_parameters),
            loop_idx=dict(loop_idx or {}),
        )
        pend = self._pending
        elem = pend.add_elements.get(element_ID)
        if elem is not None and element_ID not in pend.add_elem_iter_IDs:
            # a pending element takes the ID itself (a new copy: items handed out never
            # change), so that reading it while the batch goes on copies nothing
            pend.add_elements[element_ID] = elem.append_iteration_IDs((new_ID,))
        else:
            pend.add_elem_iter_IDs[element_ID].append(new_ID)
        self._maybe_save(save)
        return new_ID

    def add_EAR(
        self,
        elem_iter_ID: int,
        action_idx: int,
        commands_idx: list[int],
        data_idx: DataIndex,
        metadata: dict[str, Any] | None = None,
        save: bool = True,
    ) -> int:
        """Add a new EAR to an element iteration; return its ID."""
        self._debug("Adding store EAR.")
        self._check_ids(
            [elem_iter_ID], self._get_num_total_elem_iters(), MissingStoreElementIterationError
        )
        new_ID = self._get_num_total_EARs()
        self._pending.add_EARs[new_ID] = self._store_EAR_cls()(
            id_=new_ID,
            is_pending=True,
            elem_iter_ID=elem_iter_ID,
            action_idx=action_idx,
            commands_idx=list(commands_idx),
            data_idx=data_idx,
            metadata=metadata or {},
        )
        pend = self._pending
        it = pend.add_elem_iters.get(elem_iter_ID)
        if it is not None and elem_iter_ID not in pend.add_elem_iter_EAR_IDs:
            # as for a pending element's iteration IDs (see add_element_iteration)
            pend.add_elem_iters[elem_iter_ID] = it.append_EAR_IDs({action_idx: (new_ID,)})
        else:
            pend.add_elem_iter_EAR_IDs[elem_iter_ID][action_idx].append(new_ID)
        self._maybe_save(save)
        return new_ID

    def add_submission_part(
        self, sub_idx: int, dt_str: str, submitted_js_idx: list[int], save: bool = True
    ) -> None:
        """Add a submission part."""
        self._check_ids([sub_idx], self._get_num_total_submissions(), MissingStoreSubmissionError)
        self._pending.add_submission_parts[sub_idx][dt_str] = submitted_js_idx
        self._maybe_save(save)

    def _add_parameter(
        self,
        is_set: bool,
        source: ParamSource,
        data: Any = None,
        file: dict[str, Any] | None = None,
        save: bool = True,
    ) -> int:
        new_ID = self._get_num_total_parameters()
        if is_set and file is None:
            self._store_param_cls().check_encodable(new_ID, data)
        self._debug("Adding store parameter %d%s.", new_ID, "" if is_set else " (unset)")
        self._pending.add_parameters[new_ID] = self._store_param_cls()(
            id_=new_ID,
            is_pending=True,
            is_set=is_set,
            data=data if is_set else PARAM_DATA_NOT_SET,
            file=file,
            source=source,
        )
        self._maybe_save(save)
        return new_ID

    def add_set_parameter(self, data: Any, source: ParamSource, save: bool = True) -> int:
        """Add a parameter that is set to a value; return its ID."""
        return self._add_parameter(is_set=True, source=source, data=data, save=save)

    def add_unset_parameter(self, source: ParamSource, save: bool = True) -> int:
        """Add a parameter that is not set to any value; return its ID."""
        return self._add_parameter(is_set=False, source=source, save=save)

    def _prepare_set_file(
        self,
        store_contents: bool,
        is_input: bool,
        path: Path | str,
        contents: str | None = None,
        filename: str | None = None,
        clean_up: bool = False,
    ) -> dict[str, Any]:
        filename = filename or Path(path).name
        if store_contents:
            if is_input:
                dst = f"{self._input_files_path}/{self._get_num_total_input_files()}"
                dst_path = f"{dst}/{filename}"
            else:
                # a file inside a run's execution directory goes to the equivalent
                # place in the task artifacts directory:
                try:
                    rel = Path(path).relative_to(self.path)
                except ValueError:
                    raise StorePathError(
                        f"Cannot store the contents of output file {str(path)!r}: it is "
                        f"not inside the workflow's folder {str(self.path)!r}."
                    ) from None
                dst_path = "/".join([self._task_artifacts_path, *rel.parts[1:]])
            if self.fs.isfile(dst_path):
                dst_path = dst_path + "_2"
        else:
            dst_path = str(path)
        self._pending.add_files.append(
            {
                "store_contents": store_contents,
                "is_input": is_input,
                "dst_path": dst_path,
                "path": str(path),
                "contents": contents or "",
                "clean_up": clean_up,
            }
        )
        rel_dst = os.path.relpath(dst_path, self.path)
        return {"store_contents": store_contents, "path": rel_dst}

    def set_file(
        self,
        store_contents: bool,
        is_input: bool,
        param_id: int | None,
        path: Path | str,
        contents: str | None = None,
        filename: str | None = None,
        clean_up: bool = False,
        save: bool = True,
    ) -> None:
        """Set details of a file, including whether it is associated with a
        parameter."""
        file_dat = self._prepare_set_file(
            store_contents, is_input, path, contents, filename, clean_up
        )
        if param_id is not None:
            self.set_parameter_value(param_id, file_dat, is_file=True, save=False)
        self._maybe_save(save)

    def add_file(
        self,
        store_contents: bool,
        is_input: bool,
        source: ParamSource,
        path: Path | str,
        contents: str | None = None,
        filename: str | None = None,
        save: bool = True,
    ) -> int:
        """Add a file that will be associated with a (new) parameter; return the
        parameter ID."""
        file_dat = self._prepare_set_file(store_contents, is_input, path, contents, filename)
        return self._add_parameter(is_set=True, source=source, file=file_dat, save=save)

    def _append_files(self, files: list[dict[str, Any]]) -> None:
        """Copy or write pending files into the store."""
        with io_lock(self.fs):
            self._append_files_locked(files)

    def _append_files_locked(self, files: list[dict[str, Any]]) -> None:
        for dat in files:
            if not dat["store_contents"]:
                continue
            dst = dat["dst_path"]
            self.fs.makedirs(os.path.dirname(dst), exist_ok=True)
            src = dat["path"]
            if src and os.path.isfile(src):
                if is_local_fs(self.fs):
                    shutil.copy(src, dst)
                else:
                    self.fs.put_file(src, dst)
                if dat["clean_up"]:
                    self.logger.info(f"deleting file {src}")
                    os.remove(src)
            else:
                with self.fs.open(dst, "wt") as fh:
                    fh.write(dat["contents"])

    def set_parameter_value(
        self, param_id: int, value: Any, is_file: bool = False, save: bool = True
    ) -> None:
        """Set the value of a parameter."""
        self._debug("Setting store parameter ID %d (%r).", param_id, type(value))
        self._check_param_ids([param_id])
        pending = self._pending.set_parameters.get(param_id)
        if pending is not None or self._is_param_set(param_id):
            # refused now, not at commit, so the store is left as it was
            raise ParameterAlreadySetError(param_id)
        if not is_file:
            self._store_param_cls().check_encodable(param_id, value)
        self._pending.set_parameters[param_id] = (value, is_file)
        self._maybe_save(save)

    def _is_param_set(self, param_id: int) -> bool:
        """Whether parameter `param_id` (an existing ID) has a value, not counting
        pending :meth:`set_parameter_value` calls: exactly
        ``get_parameters([param_id])[0].is_set``."""
        pending = self._pending.add_parameters.get(param_id)
        if pending is not None:
            return pending.is_set
        return self._persistent_param_is_set(param_id)

    def _persistent_param_is_set(self, param_id: int) -> bool:
        """Whether committed parameter `param_id` has a value; stores may answer it
        without decoding the value or reading its source."""
        return self.get_parameters([param_id])[0].is_set

    def update_param_source(
        self, param_sources: Mapping[int, ParamSource], save: bool = True
    ) -> None:
        """Update (merge into) the sources of parameters."""
        self._check_param_ids(param_sources)
        self._pending.update_param_sources.update(param_sources)
        self._maybe_save(save)

    def update_loop_num_iters(
        self,
        index: int,
        num_added_iters: Mapping[tuple[int, ...], int],
        save: bool = True,
    ) -> None:
        """Set the number of added iterations of a loop."""
        self._check_ids([index], self._get_num_total_loops(), MissingStoreLoopError)
        self._pending.update_loop_num_iters[index] = [
            [list(k), v] for k, v in num_added_iters.items()
        ]
        self._maybe_save(save)

    def update_loop_parents(
        self,
        index: int,
        num_added_iters: Mapping[tuple[int, ...], int],
        parents: Sequence[str],
        save: bool = True,
    ) -> None:
        """Set the parents (and number of added iterations) of a loop."""
        self._check_ids([index], self._get_num_total_loops(), MissingStoreLoopError)
        self._pending.update_loop_num_iters[index] = [
            [list(k), v] for k, v in num_added_iters.items()
        ]
        self._pending.update_loop_parents[index] = list(parents)
        self._maybe_save(save)

    # --- run updates -------------------------------------------------------------------

    def set_EAR_submission_index(self, EAR_ID: int, sub_idx: int, save: bool = True) -> None:
        """Set the submission index for an element action run."""
        self._check_EAR_ids([EAR_ID])
        self._pending.set_EAR_submission_indices[EAR_ID] = sub_idx
        self._maybe_save(save)

    def _take_snapshot(self) -> dict[str, Any] | None:
        run_dir_files = getattr(self._app, "RunDirAppFiles", None)
        if run_dir_files is not None:
            return run_dir_files.take_snapshot()
        if self.run_dir_snapshot is not None:
            return self.run_dir_snapshot()
        return None

    def set_EAR_start(self, EAR_ID: int, save: bool = True) -> datetime:
        """Mark an element action run as started; return the start time."""
        self._check_EAR_ids([EAR_ID])
        dt = current_timestamp()
        snapshot = self._take_snapshot()
        self._pending.set_EAR_starts[EAR_ID] = (dt, snapshot, socket.gethostname())
        self._maybe_save(save)
        return dt

    def set_EAR_end(
        self, EAR_ID: int, exit_code: int, success: bool, save: bool = True
    ) -> datetime:
        """Mark an element action run as finished; return the end time."""
        self._check_EAR_ids([EAR_ID])
        dt = current_timestamp()
        snapshot = self._take_snapshot()
        self._pending.set_EAR_ends[EAR_ID] = (dt, snapshot, exit_code, success)
        self._maybe_save(save)
        return dt

    def set_EAR_skip(self, EAR_ID: int, save: bool = True) -> None:
        """Mark an element action run as skipped."""
        self._check_EAR_ids([EAR_ID])
        self._pending.set_EAR_skips[EAR_ID] = None
        self._maybe_save(save)

    def set_EARs_initialised(self, iter_ID: int, save: bool = True) -> None:
        """Mark the runs of an element iteration as initialised."""
        self._check_ids(
            [iter_ID], self._get_num_total_elem_iters(), MissingStoreElementIterationError
        )
        pend = self._pending
        it = pend.add_elem_iters.get(iter_ID)
        if it is not None:  # a pending iteration is replaced by an initialised copy
            if not it.EARs_initialised:
                pend.add_elem_iters[iter_ID] = it.set_EARs_initialised()
        else:
            pend.set_EARs_initialised[iter_ID] = None
        self._maybe_save(save)

    def set_jobscript_metadata(
        self,
        sub_idx: int,
        js_idx: int,
        version_info: dict[str, Any] | None = None,
        submit_time: str | None = None,
        submit_hostname: str | None = None,
        submit_machine: str | None = None,
        submit_cmdline: list[str] | None = None,
        os_name: str | None = None,
        shell_name: str | None = None,
        scheduler_name: str | None = None,
        scheduler_job_ID: str | None = None,
        process_ID: int | None = None,
        save: bool = True,
    ) -> None:
        """Set the metadata for a job script (falsy values are ignored)."""
        given = {
            "version_info": version_info,
            "submit_time": submit_time,
            "submit_hostname": submit_hostname,
            "submit_machine": submit_machine,
            "submit_cmdline": submit_cmdline,
            "os_name": os_name,
            "shell_name": shell_name,
            "scheduler_name": scheduler_name,
            "scheduler_job_ID": scheduler_job_ID,
            "process_ID": process_ID,
        }
        self._check_ids([sub_idx], self._get_num_total_submissions(), MissingStoreSubmissionError)
        entry = self._pending.set_js_metadata[sub_idx][js_idx]
        entry.update((k, v) for k, v in given.items() if v)
        self._maybe_save(save)

    # --- getters ---------------------------------------------------------------------

    @read_operation
    def get_template_components(self) -> dict[str, Any]:
        """Get all template components, including pending."""
        tc = copy.deepcopy(self._get_persistent_template_components())
        for kind in TEMPLATE_COMP_TYPES:
            pend = self._pending.add_template_components.get(kind)
            if pend:
                tc.setdefault(kind, {}).update(pend)
        return tc

    @read_operation
    def get_template(self) -> dict[str, Any]:
        """Get the workflow template."""
        return self._get_persistent_template()

    def _get_task_id_to_idx_map(self) -> dict[int, int]:
        return {task.id_: task.index for task in self.get_tasks()}

    @read_operation
    def get_task(self, task_idx: int) -> AnySTask:
        """Get a task by its index in the workflow."""
        tasks = self.get_tasks()
        if not 0 <= task_idx < len(tasks):
            raise MissingStoreTaskError([task_idx])
        return tasks[task_idx]

    def _with_pending_elem_IDs(self, task: AnySTask) -> AnySTask:
        pend = self._pending.add_elem_IDs.get(task.id_)
        return task.append_element_IDs(pend) if pend else task

    def _fetch(
        self,
        ids: Iterable[int],
        pending: Mapping[int, _T],
        load: Callable[[list[int]], Mapping[int, _T]],
        error: type[MissingStoreItemError],
    ) -> tuple[list[int], dict[int, _T]]:
        """Get persistent and pending items, raising `error` naming missing IDs."""
        ids = list(ids)
        bad = [i for i in ids if type(i) is not int and not _is_id(i)]
        if bad:
            raise error(bad)
        unique = list(dict.fromkeys(ids)) if len(ids) > 1 else ids
        persistent = [i for i in unique if i not in pending] if pending else unique
        items: dict[int, _T]
        if len(persistent) >= _GC_PAUSE_ITEMS:
            with gc_paused(collect_young=True):
                items = dict(load(persistent))
        else:  # (one ID per call, as the engine mostly asks: no context manager)
            items = dict(load(persistent)) if persistent else {}
        if pending:
            items.update((i, pending[i]) for i in ids if i in pending)
        missing = [i for i in ids if i not in items]
        if missing:
            raise error(missing)
        return ids, items

    @read_operation
    def get_tasks_by_IDs(self, ids: Iterable[int]) -> Sequence[AnySTask]:
        """Get tasks with the given IDs."""
        ids, tasks = self._fetch(
            ids, self._pending.add_tasks, self._get_persistent_tasks, MissingStoreTaskError
        )
        # one merged task per distinct ID (the engine asks for a task once per element
        # of it: a copy of its element list for each would be quadratic)
        merged = {i: self._with_pending_elem_IDs(tasks[i]) for i in dict.fromkeys(ids)}
        return [merged[i] for i in ids]

    @read_operation
    def get_tasks(self) -> list[AnySTask]:
        """Retrieve all tasks, including pending (ordered by index)."""
        tasks = dict(self._get_persistent_tasks(range(self._get_num_persistent_tasks())))
        tasks.update(self._pending.add_tasks)
        return [
            self._with_pending_elem_IDs(t) for t in sorted(tasks.values(), key=lambda t: t.index)
        ]

    def _with_pending_loop_changes(self, loop_ID: int, loop: LoopDescriptor) -> LoopDescriptor:
        loop = dict(loop)
        loop.setdefault("num_added_iterations", 1)
        if loop_ID in self._pending.update_loop_num_iters:
            loop["num_added_iterations"] = self._pending.update_loop_num_iters[loop_ID]
        if loop_ID in self._pending.update_loop_parents:
            loop["parents"] = self._pending.update_loop_parents[loop_ID]
        return loop

    @read_operation
    def get_loops_by_IDs(self, ids: Iterable[int]) -> dict[int, LoopDescriptor]:
        """Retrieve loops by index (ID), including pending."""
        ids, loops = self._fetch(
            ids, self._pending.add_loops, self._get_persistent_loops, MissingStoreLoopError
        )
        return {i: self._with_pending_loop_changes(i, loops[i]) for i in ids}

    @read_operation
    def get_loops(self) -> dict[int, LoopDescriptor]:
        """Retrieve all loops, including pending."""
        loops = dict(self._get_persistent_loops())
        loops.update(self._pending.add_loops)
        return {i: self._with_pending_loop_changes(i, loops[i]) for i in sorted(loops)}

    @read_operation
    def get_submissions(self) -> dict[int, JSONDocument]:
        """Retrieve all submissions, including pending."""
        subs = dict(self._get_persistent_submissions())
        subs.update(self._pending.add_submissions)
        return dict(sorted(subs.items()))

    @read_operation
    def get_submissions_by_ID(self, ids: Iterable[int]) -> dict[int, JSONDocument]:
        """Get submissions with the given IDs (ordered by ID; unknown IDs are
        ignored, as in the engine)."""
        ids = set(ids)
        pend = self._pending.add_submissions
        pers = [i for i in ids if i not in pend]
        subs = dict(self._get_persistent_submissions(pers)) if pers else {}
        subs.update((i, pend[i]) for i in ids if i in pend)
        return dict(sorted(subs.items()))

    @read_operation
    def get_elements(self, ids: Iterable[int]) -> Sequence[AnySElement]:
        """Get elements with the given IDs."""
        ids, elems = self._fetch(
            ids,
            self._pending.add_elements,
            self._get_persistent_elements,
            MissingStoreElementError,
        )
        out = []
        for i in ids:
            elem = elems[i]
            pend = self._pending.add_elem_iter_IDs.get(i)
            out.append(elem.append_iteration_IDs(pend) if pend else elem)
        return out

    @read_operation
    def get_element_iterations(self, ids: Iterable[int]) -> Sequence[AnySElementIter]:
        """Get element iterations with the given IDs."""
        ids, iters = self._fetch(
            ids,
            self._pending.add_elem_iters,
            self._get_persistent_element_iters,
            MissingStoreElementIterationError,
        )
        pend = self._pending
        pend_EARs, pend_loops = pend.add_elem_iter_EAR_IDs, pend.update_loop_indices
        initialised = pend.set_EARs_initialised
        if not (pend_EARs or pend_loops or initialised):
            return [iters[i] for i in ids]
        out = []
        for i in ids:
            # pending changes merged in one copy (dict look-ups only: O(1) per item)
            out.append(
                iters[i].with_pending(pend_EARs.get(i), pend_loops.get(i), i in initialised)
            )
        return out

    @read_operation
    def get_EARs(self, ids: Iterable[int]) -> Sequence[AnySEAR]:
        """Get element action runs with the given IDs."""
        ids, runs = self._fetch(
            ids, self._pending.add_EARs, self._get_persistent_EARs, MissingStoreEARError
        )
        pend = self._pending
        if not (
            pend.set_EAR_submission_indices
            or pend.set_EAR_skips
            or pend.set_EAR_starts
            or pend.set_EAR_ends
        ):
            return [runs[i] for i in ids]  # no pending run updates to merge in
        out = []
        for i in ids:
            run = runs[i]
            changes: dict[str, Any] = {"submission_idx": pend.set_EAR_submission_indices.get(i)}
            if i in pend.set_EAR_skips:
                changes["skip"] = True
            if i in pend.set_EAR_starts:
                start, snap, host = pend.set_EAR_starts[i]
                changes.update(start_time=start, snapshot_start=snap, run_hostname=host)
            if i in pend.set_EAR_ends:
                end, snap, code, success = pend.set_EAR_ends[i]
                changes.update(end_time=end, snapshot_end=snap, exit_code=code, success=success)
            if any(v is not None for v in changes.values()):
                run = run.update(**changes)
            out.append(run)
        return out

    @read_operation
    def get_EAR_skipped(self, EAR_ID: int) -> bool:
        """Whether the element action run with the given ID was skipped."""
        return bool(self.get_EARs([EAR_ID])[0].skip)

    @read_operation
    def get_parameters(self, ids: Iterable[int], **kwargs: Any) -> list[AnySParameter]:
        """Get parameters with the given IDs.

        Keyword arguments (e.g. ``dataset_copy`` for Zarr stores) are passed to the
        store's decoder.
        """
        ids, params = self._fetch(
            ids,
            self._pending.add_parameters,
            lambda lst: self._get_persistent_parameters(lst, **kwargs),
            MissingParameterData,
        )
        return [params[i] for i in ids]

    @read_operation
    def get_parameter_set_statuses(self, ids: Iterable[int]) -> list[bool]:
        """Get whether the parameters with the given IDs are set."""
        pend = self._pending.add_parameters
        ids, status = self._fetch(
            ids,
            {i: p.is_set for i, p in pend.items()},
            self._get_persistent_parameter_set_status,
            MissingParameterData,
        )
        return [status[i] for i in ids]

    @read_operation
    def get_parameter_sources(self, ids: Iterable[int]) -> list[ParamSource]:
        """Get the sources of the parameters with the given IDs (with pending
        updates merged in)."""
        pend = self._pending.add_parameters
        ids, sources = self._fetch(
            ids,
            {i: p.source for i, p in pend.items()},
            self._get_persistent_param_sources,
            MissingParameterData,
        )
        out = []
        for i in ids:
            upd = self._pending.update_param_sources.get(i)
            out.append(merge_param_source(sources[i], upd) if upd else sources[i])
        return out

    @read_operation
    def check_parameters_exist(self, ids: Sequence[int]) -> Iterator[bool]:
        """For each parameter ID, return True if it exists, else False."""
        ids = list(ids)
        not_pending = set(ids).difference(self._pending.add_parameters)
        missing = (
            not_pending.difference(self._get_persistent_parameter_IDs()) if not_pending else set()
        )
        return (i not in missing for i in ids)

    def get_task_elements(
        self, task_id: int, idx_lst: Iterable[int] | None = None
    ) -> Iterator[Mapping[str, Any]]:
        """Get element data by indices within a given task, including the elements'
        iterations and their runs."""
        elem_IDs = self._task_element_IDs(task_id, idx_lst)
        # a batch of elements at a time, each kind of item read in one call per batch
        # (not one per element: the engine reads whole tasks this way)
        for start in range(0, len(elem_IDs), _ELEMENT_BATCH):
            yield from self._element_dicts(elem_IDs[start : start + _ELEMENT_BATCH])

    @read_operation
    def _element_dicts(self, elem_IDs: list[int]) -> list[dict[str, Any]]:
        """The elements `elem_IDs` as dicts with their iterations and runs: one read
        operation (the store's state checked once, not once per kind of item; not
        across the caller's ``yield``, which may outlast other processes' commits)."""
        elems = self.get_elements(elem_IDs)
        iter_IDs = [i for elem in elems for i in elem.iteration_IDs]
        iters = dict(zip(iter_IDs, self.get_element_iterations(iter_IDs)))
        run_IDs = [r for it in iters.values() for ids in (it.EAR_IDs or {}).values() for r in ids]
        runs = dict(zip(run_IDs, self.get_EARs(run_IDs))) if run_IDs else {}
        out = []
        for elem in elems:
            out_iters = []
            for i in elem.iteration_IDs:
                it = iters[i]
                EARs = None
                if it.EAR_IDs is not None:
                    EARs = {
                        act: [runs[r].to_dict() for r in ids] for act, ids in it.EAR_IDs.items()
                    }
                out_iters.append(it.to_dict(EARs))
            out.append(elem.to_dict(out_iters))
        return out

    @read_operation
    def _task_element_IDs(self, task_idx: int, idx_lst: Iterable[int] | None) -> list[int]:
        """The element IDs of the task at index `task_idx` (pending ones included), or
        those at positions `idx_lst` of them, without building the task with its
        pending element IDs appended (a copy of its whole list per call: the engine
        asks for one element at a time while it adds thousands)."""
        tasks = dict(self._persistent_task_element_IDs())
        tasks.update((i, (t.index, t.element_IDs)) for i, t in self._pending.add_tasks.items())
        ordered = sorted(tasks.items(), key=lambda kv: kv[1][0])
        if not 0 <= task_idx < len(ordered):
            raise MissingStoreTaskError([task_idx])
        task_ID, (_, base) = ordered[task_idx]
        pend = self._pending.add_elem_IDs.get(task_ID) or ()
        if idx_lst is None:
            return [*base, *pend]
        n_base, n = len(base), len(base) + len(pend)
        out = []
        for i in idx_lst:
            j = i + n if i < 0 else i  # as a list's indexing
            if not 0 <= j < n:
                raise IndexError(f"element index {i} out of range for task {task_idx}")
            out.append(base[j] if j < n_base else pend[j - n_base])
        return out

    def _persistent_task_element_IDs(self) -> dict[int, tuple[int, Sequence[int]]]:
        """Each persistent task's ``(index, element IDs)`` by task ID, to be read, not
        changed or handed out (a store may give the lists it keeps: a task's list is
        long, and the engine asks for one element at a time)."""
        tasks = self._get_persistent_tasks(range(self._get_num_persistent_tasks()))
        return {i: (t.index, t.element_IDs) for i, t in tasks.items()}

    # --- persistent-data hooks (implemented by concrete stores) ------------------------

    @abstractmethod
    def _get_persistent_template_components(self) -> dict[str, Any]: ...

    @abstractmethod
    def _get_persistent_template(self) -> dict[str, Any]: ...

    @abstractmethod
    def _get_persistent_tasks(self, id_lst: Iterable[int]) -> dict[int, AnySTask]: ...

    @abstractmethod
    def _get_persistent_loops(
        self, id_lst: Iterable[int] | None = None
    ) -> dict[int, LoopDescriptor]: ...

    @abstractmethod
    def _get_persistent_submissions(
        self, id_lst: Iterable[int] | None = None
    ) -> dict[int, JSONDocument]: ...

    @abstractmethod
    def _get_persistent_elements(self, id_lst: Iterable[int]) -> dict[int, AnySElement]: ...

    @abstractmethod
    def _get_persistent_element_iters(
        self, id_lst: Iterable[int]
    ) -> dict[int, AnySElementIter]: ...

    @abstractmethod
    def _get_persistent_EARs(self, id_lst: Iterable[int]) -> dict[int, AnySEAR]: ...

    @abstractmethod
    def _get_persistent_parameters(
        self, id_lst: Iterable[int], **kwargs: Any
    ) -> Mapping[int, AnySParameter]: ...

    @abstractmethod
    def _get_persistent_parameter_set_status(self, id_lst: Iterable[int]) -> dict[int, bool]: ...

    @abstractmethod
    def _get_persistent_param_sources(self, id_lst: Iterable[int]) -> dict[int, ParamSource]: ...

    @abstractmethod
    def _get_persistent_parameter_IDs(self) -> Iterable[int]: ...

    @abstractmethod
    def _append_tasks(self, tasks: Iterable[AnySTask]) -> None: ...

    @abstractmethod
    def _append_loops(self, loops: dict[int, LoopDescriptor]) -> None: ...

    @abstractmethod
    def _append_submissions(self, subs: dict[int, JSONDocument]) -> None: ...

    @abstractmethod
    def _append_submission_parts(self, sub_parts: dict[int, dict[str, list[int]]]) -> None: ...

    @abstractmethod
    def _append_task_element_IDs(self, task_ID: int, elem_IDs: list[int]) -> None: ...

    @abstractmethod
    def _append_elements(self, elems: Sequence[AnySElement]) -> None: ...

    @abstractmethod
    def _append_element_sets(self, task_id: int, es_js: Sequence[Mapping]) -> None: ...

    @abstractmethod
    def _append_elem_iter_IDs(self, elem_ID: int, iter_IDs: Iterable[int]) -> None: ...

    @abstractmethod
    def _append_elem_iters(self, iters: Sequence[AnySElementIter]) -> None: ...

    @abstractmethod
    def _append_elem_iter_EAR_IDs(
        self, iter_ID: int, act_idx: int, EAR_IDs: Sequence[int]
    ) -> None: ...

    @abstractmethod
    def _append_EARs(self, EARs: Sequence[AnySEAR]) -> None: ...

    @abstractmethod
    def _update_elem_iter_EARs_initialised(self, iter_ID: int) -> None: ...

    @abstractmethod
    def _update_EAR_submission_indices(self, sub_indices: Mapping[int, int]) -> None: ...

    @abstractmethod
    def _update_EAR_start(
        self, EAR_id: int, s_time: datetime, s_snap: dict[str, Any] | None, s_hn: str
    ) -> None: ...

    @abstractmethod
    def _update_EAR_end(
        self,
        EAR_id: int,
        e_time: datetime,
        e_snap: dict[str, Any] | None,
        ext_code: int,
        success: bool,
    ) -> None: ...

    @abstractmethod
    def _update_EAR_skip(self, EAR_id: int) -> None: ...

    @abstractmethod
    def _update_js_metadata(self, js_meta: dict[int, dict[int, dict[str, Any]]]) -> None: ...

    @abstractmethod
    def _append_parameters(self, params: Sequence[AnySParameter]) -> None: ...

    @abstractmethod
    def _set_parameter_values(self, set_parameters: dict[int, tuple[Any, bool]]) -> None: ...

    @abstractmethod
    def _update_parameter_sources(self, sources: Mapping[int, ParamSource]) -> None: ...

    @abstractmethod
    def _update_template_components(self, tc: dict[str, Any]) -> None: ...

    @abstractmethod
    def _update_loop_index(self, iter_ID: int, loop_idx: Mapping[str, int]) -> None: ...

    @abstractmethod
    def _update_loop_num_iters(self, index: int, num_iters: list[Any]) -> None: ...

    @abstractmethod
    def _update_loop_parents(self, index: int, parents: list[str]) -> None: ...

    # --- file-system operations ----------------------------------------------------------

    def _retry_on_permission_error(self, func: Callable[[], None], tries: int = 10) -> None:
        perm_retry = getattr(self._app, "perm_error_retry", None)
        if perm_retry is not None:
            perm_retry()(func)()
            return
        delay = 0.1
        for attempt in range(tries):
            try:
                func()
                return
            except PermissionError:
                if attempt == tries - 1:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def remove_path(self, path: str | Path) -> None:
        """Try very hard to delete a directory or file (retrying on permission
        errors, and until it no longer exists)."""
        path_s = str(path)

        def _remove() -> None:
            self.logger.debug(f"remove_path: {path_s!r}")
            with io_lock(self.fs):
                while self.fs.exists(path_s):
                    self.fs.rm(path_s, recursive=True)
                    if self.fs.exists(path_s):
                        time.sleep(0.5)

        self._retry_on_permission_error(_remove)

    def rename_path(self, replaced: str, original: str | Path) -> None:
        """Revert the replaced workflow path to its original name."""
        src, dst = str(replaced), str(original)

        def _rename() -> None:
            self.logger.debug(f"rename_path: {src!r} --> {dst!r}")
            with io_lock(self.fs):
                try:
                    self.fs.rename(src, dst, recursive=True)
                except TypeError:  # e.g. SFTP's `rename` has no `recursive`
                    self.fs.rename(src, dst)

        self._retry_on_permission_error(_rename)

    def copy(self, path: str | Path | None = None) -> Path:
        """Copy the workflow store to `path` (default: ``<name>_copy<suffix>``
        beside it); return the new path. Local file systems only."""
        if path is None:
            src = Path(self.path)
            path = src.parent / f"{src.stem}_copy{src.suffix}"
        dst = str(path)
        with io_lock(self.fs):
            if self.fs.exists(dst):
                raise StorePathError(f"Path already exists: {dst}.")
            is_dir = self.fs.isdir(self.path)
            try:
                if is_dir:
                    self.fs.copy(self.path, dst, recursive=True)
                else:
                    self.fs.copy(self.path, dst)
            except NotImplementedError:
                # no copy on the file system's side (e.g. SFTP): stream every file
                self._copy_streaming(dst, is_dir)
        return Path(dst)

    def _copy_streaming(self, dst: str, is_dir: bool) -> None:
        """Copy the store to `dst` by reading and writing each file through `fs`."""
        src = self.path.rstrip("/")
        pairs = [(src, dst)]
        if is_dir:
            pairs = [
                (f, dst.rstrip("/") + f[len(src) :])
                for f in self.fs.find(src)
                if f.startswith(src + "/")
            ]
            self.fs.makedirs(dst, exist_ok=True)
        for from_, to in pairs:
            self.fs.makedirs(to.rsplit("/", 1)[0] or "/", exist_ok=True)
            with self.fs.open(from_, "rb") as fin, self.fs.open(to, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)

    def delete(self) -> None:
        """Delete the persistent workflow, after confirmation on standard input."""
        answer = input(f"Permanently delete the workflow at path {self.path!r}; [y]es or [n]o?")
        if answer.strip().lower() == "y":
            self.delete_no_confirm()

    def delete_no_confirm(self) -> None:
        """Permanently delete the workflow data with no confirmation."""
        def _rm() -> None:
            with io_lock(self.fs):
                self.fs.rm(self.path, recursive=True)

        self._retry_on_permission_error(_rm)

    # --- test helper -----------------------------------------------------------------

    @staticmethod
    def prepare_test_store_from_spec(
        task_spec: Sequence[Mapping[str, Sequence[Mapping[str, Sequence[Mapping[str, Sequence]]]]]],
    ) -> tuple[list[dict], list[dict], list[dict], list[dict]]:
        """Generate a valid store from a specification in terms of nested
        elements/iterations/EARs.

        `task_spec` is a list of tasks ``{"elements": [{"iterations": [{"EARs":
        [...]}]}]}``; the result is ``(tasks, elements, iterations, EARs)``, each a
        list of keyword-argument dicts for the store item classes.
        """
        tasks: list[dict] = []
        elements: list[dict] = []
        iters: list[dict] = []
        runs: list[dict] = []
        for task_idx, task in enumerate(task_spec):
            task_elem_IDs = []
            for elem_idx, elem in enumerate(task.get("elements", [])):
                elem_ID = len(elements)
                iter_IDs = []
                for it in elem.get("iterations", []):
                    iter_ID = len(iters)
                    run_IDs = []
                    for _ in it.get("EARs", []):
                        run_IDs.append(len(runs))
                        runs.append(
                            {
                                "id_": len(runs),
                                "is_pending": False,
                                "elem_iter_ID": iter_ID,
                                "action_idx": 0,
                                "commands_idx": [],
                                "data_idx": {},
                                "metadata": {},
                            }
                        )
                    iters.append(
                        {
                            "id_": iter_ID,
                            "is_pending": False,
                            "element_ID": elem_ID,
                            "EARs_initialised": False,
                            "EAR_IDs": {0: run_IDs} if run_IDs else {},
                            "data_idx": {},
                            "schema_parameters": [],
                        }
                    )
                    iter_IDs.append(iter_ID)
                elements.append(
                    {
                        "id_": elem_ID,
                        "is_pending": False,
                        "index": elem_idx,
                        "es_idx": 0,
                        "seq_idx": {},
                        "src_idx": {},
                        "task_ID": task_idx,
                        "iteration_IDs": iter_IDs,
                    }
                )
                task_elem_IDs.append(elem_ID)
            tasks.append(
                {
                    "id_": task_idx,
                    "index": task_idx,
                    "is_pending": False,
                    "element_IDs": task_elem_IDs,
                }
            )
        return tasks, elements, iters, runs
