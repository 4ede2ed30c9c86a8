"""Pending changes: every add/set made on a store, held until it is committed.

:class:`PendingChanges` keeps the additions and updates made through the
``PersistentStore`` API in memory. The store's getters merge them into what they
return, and :meth:`PendingChanges.commit_all` writes them in the order the engine
relies on (see :data:`COMMIT_ORDER`): for example tasks before the element IDs added
to them, elements before their iteration IDs, runs before their start/end updates.

A commit opens every store resource it needs once (in ``"update"`` mode), so each
resource is written at most once per commit; if any step fails, nothing is written
to those resources and the pending changes are restored as they were before the
commit (caches are reset).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import weakref
from collections import defaultdict
from collections.abc import Collection, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from wfstore.common.errors import ParameterAlreadySetError
from wfstore.persistence.gcpause import gc_paused

if TYPE_CHECKING:
    from datetime import datetime

AnySTask = TypeVar("AnySTask")
AnySElement = TypeVar("AnySElement")
AnySElementIter = TypeVar("AnySElementIter")
AnySEAR = TypeVar("AnySEAR")
AnySParameter = TypeVar("AnySParameter")

#: Commit steps, in the order they run, with the pending attributes each consumes.
COMMIT_ORDER: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("tasks", ("add_tasks",)),
    ("loops", ("add_loops",)),
    ("submissions", ("add_submissions",)),
    ("submission_parts", ("add_submission_parts",)),
    ("elem_IDs", ("add_elem_IDs",)),
    ("elements", ("add_elements",)),
    ("element_sets", ("add_element_sets",)),
    ("elem_iter_IDs", ("add_elem_iter_IDs",)),
    ("elem_iters", ("add_elem_iters",)),
    ("elem_iter_EAR_IDs", ("add_elem_iter_EAR_IDs",)),
    ("EARs_initialised", ("set_EARs_initialised",)),
    ("EARs", ("add_EARs",)),
    ("EAR_submission_indices", ("set_EAR_submission_indices",)),
    ("EAR_skips", ("set_EAR_skips",)),
    ("EAR_starts", ("set_EAR_starts",)),
    ("EAR_ends", ("set_EAR_ends",)),
    ("js_metadata", ("set_js_metadata",)),
    ("parameters", ("add_parameters", "set_parameters")),
    ("files", ("add_files",)),
    ("template_components", ("add_template_components",)),
    ("param_sources", ("update_param_sources",)),
    ("loop_indices", ("update_loop_indices",)),
    ("loop_num_iters", ("update_loop_num_iters",)),
    ("loop_parents", ("update_loop_parents",)),
)

#: `COMMIT_ORDER` with each step's method name.
_COMMIT_METHODS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (f"commit_{step}", attrs) for step, attrs in COMMIT_ORDER
)

#: Pending attributes whose commit writes each item into one row of one array, with
#: their commit steps: a single item is committed without the transaction around a
#: commit of several changes, where the store says one row's write is atomic by itself
#: (``one_row_writes_are_atomic``: a job's start and end, one chunk file replaced).
_ONE_ROW_UPDATES: dict[str, str] = {
    "set_EAR_submission_indices": "commit_EAR_submission_indices",
    "set_EAR_skips": "commit_EAR_skips",
    "set_EAR_starts": "commit_EAR_starts",
    "set_EAR_ends": "commit_EAR_ends",
}

#: Every pending attribute, with a factory for its empty value.
_EMPTY: dict[str, Any] = {
    "add_tasks": dict,
    "add_loops": dict,
    "add_submissions": dict,
    "add_elements": dict,
    "add_elem_iters": dict,
    "add_EARs": dict,
    "add_parameters": dict,
    "add_files": list,
    "add_template_components": lambda: defaultdict(dict),
    "add_element_sets": lambda: defaultdict(list),
    "add_elem_IDs": lambda: defaultdict(list),
    "add_elem_iter_IDs": lambda: defaultdict(list),
    "add_elem_iter_EAR_IDs": lambda: defaultdict(lambda: defaultdict(list)),
    "add_submission_parts": lambda: defaultdict(dict),
    "set_EARs_initialised": dict,
    "set_EAR_submission_indices": dict,
    "set_EAR_skips": dict,
    "set_EAR_starts": dict,
    "set_EAR_ends": dict,
    "set_js_metadata": lambda: defaultdict(lambda: defaultdict(dict)),
    "set_parameters": dict,
    "update_param_sources": dict,
    "update_loop_indices": lambda: defaultdict(dict),
    "update_loop_num_iters": dict,
    "update_loop_parents": dict,
}


class CommittingStore(Protocol):
    """What pending changes need of the store they are committed to (a
    :class:`~wfstore.persistence.base.PersistentStore`): its logger, commit resources,
    transactions and caches, its getters, and the ``_append_*`` / ``_update_*`` hooks
    each commit step calls (looked up by name, hence ``__getattr__``)."""

    logger: logging.Logger
    one_row_writes_are_atomic: bool
    _commit_resources: Mapping[str, tuple[str, ...]]

    def _commit_transaction(self, kinds: Collection[str] = ()) -> AbstractContextManager[None]: ...

    def using_resource(self, res_label: str, action: str) -> AbstractContextManager[Any]: ...

    def _reset_cache(self) -> None: ...

    def __getattr__(self, name: str) -> Any: ...


class PendingChanges(Generic[AnySTask, AnySElement, AnySElementIter, AnySEAR, AnySParameter]):
    """The uncommitted changes of a store.

    Parameters
    ----------
    store:
        The store that owns these changes.
    """

    add_tasks: dict[int, AnySTask]
    add_loops: dict[int, dict[str, Any]]
    add_submissions: dict[int, Any]
    add_elements: dict[int, AnySElement]
    add_elem_iters: dict[int, AnySElementIter]
    add_EARs: dict[int, AnySEAR]
    add_parameters: dict[int, AnySParameter]
    add_files: list[dict[str, Any]]
    add_template_components: dict[str, dict[str, Any]]
    add_element_sets: dict[int, list[Mapping[str, Any]]]
    add_elem_IDs: dict[int, list[int]]
    add_elem_iter_IDs: dict[int, list[int]]
    add_elem_iter_EAR_IDs: dict[int, dict[int, list[int]]]
    add_submission_parts: dict[int, dict[str, list[int]]]
    #: iteration IDs (keys; values None): an ordered set, so that membership is O(1)
    set_EARs_initialised: dict[int, None]
    set_EAR_submission_indices: dict[int, int]
    #: run IDs (keys; values None): an ordered set
    set_EAR_skips: dict[int, None]
    set_EAR_starts: dict[int, tuple[datetime, Any, str]]
    set_EAR_ends: dict[int, tuple[datetime, Any, int, bool]]
    set_js_metadata: dict[int, dict[int, dict[str, Any]]]
    set_parameters: dict[int, tuple[Any, bool]]
    update_param_sources: dict[int, dict[str, Any]]
    update_loop_indices: dict[int, dict[str, int]]
    update_loop_num_iters: dict[int, list[Any]]
    update_loop_parents: dict[int, list[str]]

    def __init__(self, store: CommittingStore) -> None:
        # a proxy, not a reference: a store and its pending changes would otherwise
        # form a cycle, freed only by the cyclic collector at some later moment (and
        # then its files closed at that moment, e.g. in the middle of an SFTP request)
        self.store = weakref.proxy(store)
        self.reset()

    def reset(self) -> None:
        """Discard all pending changes."""
        for name, factory in _EMPTY.items():
            setattr(self, name, factory())

    def _clear(self, *names: str) -> None:
        for name in names:
            setattr(self, name, _EMPTY[name]())

    def __bool__(self) -> bool:
        d = self.__dict__
        for name in _EMPTY:
            if d[name]:
                return True
        return False

    def where_pending(self) -> list[str]:
        """Names of the pending attributes that hold changes."""
        return [name for name in _EMPTY if getattr(self, name)]

    def _restore(self, snap: Mapping[str, Any]) -> None:
        for name, factory in _EMPTY.items():
            setattr(self, name, snap[name] if name in snap else factory())

    def required_resources(self) -> list[str]:
        """The store resources that committing the current changes needs."""
        d = self.__dict__
        return self._resources_for({name for name in _EMPTY if d[name]})

    def _resources_for(self, pending: set[str]) -> list[str]:
        res_map = self.store._commit_resources
        out: dict[str, None] = {}
        for step, attrs in COMMIT_ORDER:
            if not pending.isdisjoint(attrs):
                out.update(dict.fromkeys(res_map.get(step, ())))
        return list(out)

    def commit_all(self) -> None:
        """Write all pending changes to the store, in :data:`COMMIT_ORDER`."""
        store = self.store
        d = self.__dict__
        # the pending attributes, looked at once (a job's commit has one or two)
        pending = [name for name in _EMPTY if d[name]]
        if not pending:
            store.logger.debug("commit: no pending changes.")
            return
        if store.logger.isEnabledFor(logging.DEBUG):
            store.logger.debug(f"commit: committing {pending!r}.")
        # commit steps replace (never mutate in place) the containers they consume, so
        # a copy of each non-empty top-level container is enough to restore the state
        snap = {name: copy.copy(d[name]) for name in pending}
        # one row of one array (a job's start or end): a single file written atomically,
        # no transaction needed
        one_row = (
            len(pending) == 1
            and pending[0] in _ONE_ROW_UPDATES
            and len(snap[pending[0]]) == 1
            and store.one_row_writes_are_atomic
        )
        try:
            if one_row:
                getattr(self, _ONE_ROW_UPDATES[pending[0]])()
            else:
                txn = store._commit_transaction(pending)
                with gc_paused(), txn, contextlib.ExitStack() as stack:
                    for res in self._resources_for(set(pending)):
                        stack.enter_context(store.using_resource(res, "update"))
                    for method, attrs in _COMMIT_METHODS:
                        # a step with nothing pending (checked when its turn comes, as
                        # earlier steps may hand changes on) has nothing to do:
                        for a in attrs:
                            if d[a]:
                                getattr(self, method)()
                                break
        except BaseException as exc:
            self._restore(snap)
            store._reset_cache()
            if isinstance(exc, ParameterAlreadySetError) and exc.param_id in self.set_parameters:
                # another process set the parameter since `set_parameter_value` checked
                # it: that value can never be written, so it is dropped (as when the
                # check sees it at once); the rest of the commit stays pending
                self.set_parameters = {
                    k: v for k, v in self.set_parameters.items() if k != exc.param_id
                }
            raise
        assert not self, f"uncommitted changes remain: {self.where_pending()!r}"

    # --- commit steps ---------------------------------------------------------------

    def commit_tasks(self) -> None:
        """Append pending tasks (with their pending element IDs)."""
        if self.add_tasks:
            ids = set(self.add_tasks)
            self.store._append_tasks(self.store.get_tasks_by_IDs(sorted(ids)))
            self.store.num_tasks_cache = None
            self.add_elem_IDs = _keep(self.add_elem_IDs, ids, "add_elem_IDs")
        self._clear("add_tasks")

    def commit_loops(self) -> None:
        """Append pending loops (with pending iteration counts and parents)."""
        if self.add_loops:
            ids = set(self.add_loops)
            self.store._append_loops(self.store.get_loops_by_IDs(sorted(ids)))
            self.update_loop_num_iters = _keep(
                self.update_loop_num_iters, ids, "update_loop_num_iters"
            )
            self.update_loop_parents = _keep(self.update_loop_parents, ids, "update_loop_parents")
        self._clear("add_loops")

    def commit_submissions(self) -> None:
        """Append pending submissions."""
        if self.add_submissions:
            self.store._append_submissions(self.store.get_submissions_by_ID(self.add_submissions))
        self._clear("add_submissions")

    def commit_submission_parts(self) -> None:
        """Add pending submission parts to their submissions."""
        if self.add_submission_parts:
            self.store._append_submission_parts(dict(self.add_submission_parts))
        self._clear("add_submission_parts")

    def commit_elem_IDs(self) -> None:
        """Append pending element IDs to persistent tasks."""
        for task_ID, elem_IDs in self.add_elem_IDs.items():
            self.store._append_task_element_IDs(task_ID, list(elem_IDs))
            self.store.task_cache.pop(task_ID, None)
        self._clear("add_elem_IDs")

    def commit_elements(self) -> None:
        """Append pending elements (with their pending iteration IDs)."""
        if self.add_elements:
            ids = set(self.add_elements)
            self.store._append_elements(self.store.get_elements(sorted(ids)))
            self.add_elem_iter_IDs = _keep(self.add_elem_iter_IDs, ids, "add_elem_iter_IDs")
        self._clear("add_elements")

    def commit_element_sets(self) -> None:
        """Append pending element sets to their task templates."""
        for task_id, es_js in self.add_element_sets.items():
            self.store._append_element_sets(task_id, es_js)
        self._clear("add_element_sets")

    def commit_elem_iter_IDs(self) -> None:
        """Append pending iteration IDs to persistent elements."""
        for elem_ID, iter_IDs in self.add_elem_iter_IDs.items():
            self.store._append_elem_iter_IDs(elem_ID, list(iter_IDs))
            self.store.element_cache.pop(elem_ID, None)
        self._clear("add_elem_iter_IDs")

    def commit_elem_iters(self) -> None:
        """Append pending iterations (with pending run IDs and initialisation)."""
        if self.add_elem_iters:
            ids = set(self.add_elem_iters)
            self.store._append_elem_iters(self.store.get_element_iterations(sorted(ids)))
            self.add_elem_iter_EAR_IDs = _keep(
                self.add_elem_iter_EAR_IDs, ids, "add_elem_iter_EAR_IDs"
            )
            self.set_EARs_initialised = {
                i: None for i in self.set_EARs_initialised if i not in ids
            }
        self._clear("add_elem_iters")

    def commit_elem_iter_EAR_IDs(self) -> None:
        """Append pending run IDs to persistent iterations."""
        for iter_ID, per_action in self.add_elem_iter_EAR_IDs.items():
            for act_idx, EAR_IDs in per_action.items():
                self.store._append_elem_iter_EAR_IDs(iter_ID, act_idx, list(EAR_IDs))
            self.store.element_iter_cache.pop(iter_ID, None)
        self._clear("add_elem_iter_EAR_IDs")

    def commit_EARs_initialised(self) -> None:
        """Mark persistent iterations as having initialised runs."""
        for iter_ID in self.set_EARs_initialised:
            self.store._update_elem_iter_EARs_initialised(iter_ID)
            self.store.element_iter_cache.pop(iter_ID, None)
        self._clear("set_EARs_initialised")

    def commit_EARs(self) -> None:
        """Append pending runs (with their pending updates)."""
        if self.add_EARs:
            ids = set(self.add_EARs)
            self.store._append_EARs(self.store.get_EARs(sorted(ids)))
            self.store.num_EARs_cache = None
            self.set_EAR_submission_indices = {
                k: v for k, v in self.set_EAR_submission_indices.items() if k not in ids
            }
            self.set_EAR_skips = {i: None for i in self.set_EAR_skips if i not in ids}
            self.set_EAR_starts = {k: v for k, v in self.set_EAR_starts.items() if k not in ids}
            self.set_EAR_ends = {k: v for k, v in self.set_EAR_ends.items() if k not in ids}
        self._clear("add_EARs")

    def commit_EAR_submission_indices(self) -> None:
        """Set submission indices of persistent runs."""
        if self.set_EAR_submission_indices:
            self.store._update_EAR_submission_indices(dict(self.set_EAR_submission_indices))
            for i in self.set_EAR_submission_indices:
                self.store.EAR_cache.pop(i, None)
        self._clear("set_EAR_submission_indices")

    def commit_EAR_skips(self) -> None:
        """Mark persistent runs as skipped."""
        for i in self.set_EAR_skips:
            self.store._update_EAR_skip(i)
            self.store.EAR_cache.pop(i, None)
        self._clear("set_EAR_skips")

    def commit_EAR_starts(self) -> None:
        """Record the start of persistent runs."""
        for i, (time, snap, host) in self.set_EAR_starts.items():
            self.store._update_EAR_start(i, time, snap, host)
            self.store.EAR_cache.pop(i, None)
        self._clear("set_EAR_starts")

    def commit_EAR_ends(self) -> None:
        """Record the end of persistent runs."""
        for i, (time, snap, exit_code, success) in self.set_EAR_ends.items():
            self.store._update_EAR_end(i, time, snap, exit_code, success)
            self.store.EAR_cache.pop(i, None)
        self._clear("set_EAR_ends")

    def commit_js_metadata(self) -> None:
        """Update jobscript metadata of persistent submissions."""
        if self.set_js_metadata:
            self.store._update_js_metadata({k: dict(v) for k, v in self.set_js_metadata.items()})
        self._clear("set_js_metadata")

    def commit_parameters(self) -> None:
        """Append pending parameters, then set values of persistent ones."""
        if self.add_parameters:
            self.store._append_parameters(self.store.get_parameters(sorted(self.add_parameters)))
        self._clear("add_parameters")
        if self.set_parameters:
            self.store._set_parameter_values(dict(self.set_parameters))
            for i in self.set_parameters:
                self.store.parameter_cache.pop(i, None)
        self._clear("set_parameters")

    def commit_files(self) -> None:
        """Copy/write pending files into the store's artifacts."""
        if self.add_files:
            self.store._append_files(list(self.add_files))
        self._clear("add_files")

    def commit_template_components(self) -> None:
        """Write the template components, including pending ones."""
        if self.add_template_components:
            self.store._update_template_components(self.store.get_template_components())
        self._clear("add_template_components")

    def commit_param_sources(self) -> None:
        """Merge pending source updates into persistent parameters' sources."""
        if self.update_param_sources:
            self.store._update_parameter_sources(dict(self.update_param_sources))
            for i in self.update_param_sources:
                self.store.param_sources_cache.pop(i, None)
                self.store.parameter_cache.pop(i, None)
        self._clear("update_param_sources")

    def commit_loop_indices(self) -> None:
        """Update loop indices of persistent iterations."""
        for iter_ID, loop_idx in self.update_loop_indices.items():
            self.store._update_loop_index(iter_ID, dict(loop_idx))
            self.store.element_iter_cache.pop(iter_ID, None)
        self._clear("update_loop_indices")

    def commit_loop_num_iters(self) -> None:
        """Update iteration counts of persistent loops."""
        for index, num_iters in self.update_loop_num_iters.items():
            self.store._update_loop_num_iters(index, num_iters)
        self._clear("update_loop_num_iters")

    def commit_loop_parents(self) -> None:
        """Update parents of persistent loops."""
        for index, parents in self.update_loop_parents.items():
            self.store._update_loop_parents(index, parents)
        self._clear("update_loop_parents")


def _keep(mapping: Mapping[int, Any], drop: set[int], name: str) -> Any:
    """A fresh pending container of kind `name` holding `mapping` without keys in
    `drop`."""
    out = _EMPTY[name]()
    out.update((k, v) for k, v in mapping.items() if k not in drop)
    return out
