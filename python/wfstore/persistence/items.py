"""Store item classes: the store-agnostic representation of workflow metadata.

Each item kind (task, element, element iteration, element action run, parameter) has
a base dataclass holding its fields, plus one subclass per store kind that knows how
to encode the item into, and decode it from, the store's own serialised form:

* JSON stores keep every item as a JSON object inside ``metadata.json`` /
  ``parameters.json``;
* Zarr stores keep elements, iterations and runs as rows (lists) in msgpack-encoded
  object arrays, where string keys are replaced by indices into lookup lists held in
  the array's attributes (the "context" passed to ``encode``/``decode``).

The formats are those of hpcflow 0.2.0a190, so that stores can be shared with it.
Items are immutable in spirit: the ``append_*``/``update*``/``set_*`` methods return
modified copies.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from wfstore import _core
from wfstore.common.errors import ParameterAlreadySetError, ParameterEncodeError

if TYPE_CHECKING:
    from typing_extensions import Self

#: Type of the serialised form of an item.
SerFormT = TypeVar("SerFormT")
#: Type of the encoding/decoding context of an item.
ContextT = TypeVar("ContextT")

#: Encoded value of a parameter that has not been set.
PARAM_DATA_NOT_SET: int = 0

#: A path into a nested parameter value: dict keys and list indices.
DataPath = list[Any]


def ensure_in(item: Any, lookup: list[Any]) -> int:
    """Return the index of `item` in `lookup`, appending it first if absent.

    Used to build the lookup lists stored in Zarr array attributes.
    """
    try:
        return lookup.index(item)
    except ValueError:
        lookup.append(item)
        return len(lookup) - 1


def encode_timestamp(dt: datetime | None, ts_fmt: str) -> str | None:
    """Format a timestamp for storage.

    Timestamps are stored as naive UTC strings; an aware datetime is first converted
    to UTC.
    """
    if dt is None:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc)
    return dt.strftime(ts_fmt)


#: The engine's default timestamp format (``ts_fmt``).
_ISO_SPACE_FMT = "%Y-%m-%d %H:%M:%S.%f"


_D = TypeVar("_D")

#: Types a copy of a decoded tree shares rather than copies (immutable).
_ATOMS = frozenset({int, float, str, bool, type(None), bytes})


def copy_tree(obj: _D) -> _D:
    """A deep copy of `obj`, a value as the msgpack decoder builds it (dicts, lists and
    immutable scalars, no container reachable twice): ``copy.deepcopy`` without its
    memo, several times faster. Anything else inside is copied by ``copy.deepcopy``."""
    t = type(obj)
    if t is dict:
        return {  # type: ignore[return-value]
            k: v if type(v) in _ATOMS else copy_tree(v)
            for k, v in obj.items()  # type: ignore[attr-defined]
        }
    if t is list:
        return [v if type(v) in _ATOMS else copy_tree(v) for v in obj]  # type: ignore[return-value,attr-defined]
    if t in _ATOMS:
        return obj
    return copy.deepcopy(obj)


#: Per item class: whether :func:`_replace` may copy its instances' ``__dict__``.
_FAST_REPLACE: dict[type, bool] = {}


def _replace(obj: _D, **changes: Any) -> _D:
    """``dataclasses.replace(obj, **changes)`` for the store's item classes, without
    its field-by-field ``__init__`` call (the engine merges pending changes into items
    in loops of thousands): a shallow copy of the instance with `changes` set. Classes
    with ``__post_init__`` or without an instance ``__dict__`` go through
    ``dataclasses.replace``."""
    cls = type(obj)
    fast = _FAST_REPLACE.get(cls)
    if fast is None:  # (looked up once per class)
        fast = _FAST_REPLACE[cls] = not hasattr(cls, "__post_init__") and hasattr(obj, "__dict__")
    if not fast:
        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    new = object.__new__(cls)
    d = new.__dict__
    d.update(obj.__dict__)
    d.update(changes)
    return new


def decode_timestamp(value: str | datetime | None, ts_fmt: str) -> datetime | None:
    """Parse a stored (naive, UTC) timestamp into an aware datetime in the local
    time zone, as the engine does."""
    if not value:
        return None
    if isinstance(value, datetime):
        dt = value
    elif (
        ts_fmt == _ISO_SPACE_FMT
        and len(value) == 26
        and value[10] == " "
        and value[19] == "."
        and value[20:].isdigit()
    ):
        # the engine's default format, in the one shape strptime accepts for it:
        # fromisoformat parses it the same way, about ten times faster
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            dt = datetime.strptime(value, ts_fmt)
    else:
        dt = datetime.strptime(value, ts_fmt)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone()


@dataclass
class PersistentStoreFeatures:
    """The features provided by a kind of persistent store.

    Parameters
    ----------
    create:
        A new workflow can be created using this store.
    edit:
        The workflow can be modified.
    jobscript_parallelism:
        Multiple independent jobscripts may run simultaneously.
    EAR_parallelism:
        Multiple element action runs may run simultaneously.
    schedulers:
        Workflows may be submitted to a scheduler.
    submission:
        Workflows may be submitted at all; if False, the store is an archive.
    """

    create: bool = False
    edit: bool = False
    jobscript_parallelism: bool = False
    EAR_parallelism: bool = False
    schedulers: bool = False
    submission: bool = False


# ------------------------------------------------------------------------------------
# tasks
# ------------------------------------------------------------------------------------


class IDList(list):  # type: ignore[type-arg]
    """A list of item IDs (a task's element IDs) whose ``index`` is a dict lookup.

    The engine finds each run's element position by ``task.element_IDs.index(ID)``
    (``Workflow.get_EARs_from_IDs``, for every run it reads): a scan of the task's
    whole list per run, quadratic in the elements (a third of reading every run of a
    100,000-run workflow). The positions are built at the first ``index`` call and
    dropped by any change to the list; ``index`` answers as ``list.index`` does.
    :meth:`copy` gives a list that shares them (built once for the original and all
    its copies, until one of them changes and stops sharing).
    """

    __slots__ = ("_box",)

    def index(self, value: Any, start: Any = 0, stop: Any = sys.maxsize) -> int:
        if start != 0 or stop != sys.maxsize:
            return super().index(value, start, stop)
        try:
            box = self._box
        except AttributeError:
            box = self._box = [None]
        pos = box[0]
        if pos is None:
            pos = {}
            for i, v in enumerate(self):
                pos.setdefault(v, i)  # (the first of equal values, as list.index)
            box[0] = pos
        try:
            return pos[value]
        except (KeyError, TypeError):  # absent (ValueError below) or unhashable
            return super().index(value)

    def copy(self) -> IDList:
        """A copy sharing this list's positions (the list of pointers copied only)."""
        out = IDList(self)
        try:
            out._box = self._box
        except AttributeError:
            out._box = self._box = [None]
        return out

    def extend(self, values: Iterable[Any]) -> None:
        values = values if isinstance(values, (list, tuple)) else list(values)
        if values:  # (nothing added: the positions stay, e.g. the engine's
            self._drop_positions()  # ``element_IDs += pending`` after every commit)
            super().extend(values)

    def __iadd__(self, values: Iterable[Any]) -> Self:  # type: ignore[override,misc]
        self.extend(values)
        return self

    def _drop_positions(self) -> None:
        try:
            del self._box  # (its copies keep the box: their content is unchanged)
        except AttributeError:
            pass


def _dropping_positions(name: str) -> Callable[..., Any]:
    base = getattr(list, name)

    def method(self: IDList, *args: Any, **kwargs: Any) -> Any:
        self._drop_positions()
        return base(self, *args, **kwargs)

    method.__name__ = name
    return method


for _name in (
    "__setitem__",
    "__delitem__",
    "__imul__",
    "append",
    "insert",
    "pop",
    "remove",
    "clear",
    "sort",
    "reverse",
):
    setattr(IDList, _name, _dropping_positions(_name))


@dataclass
class StoreTask(ABC, Generic[SerFormT]):
    """A task in a persistent store.

    Parameters
    ----------
    id_:
        The task ID (insertion order; never reused).
    index:
        Position of the task within the workflow.
    is_pending:
        Whether the task has not yet been committed.
    element_IDs:
        IDs of the task's elements.
    task_template:
        The task's template (only needed when encoding a new task).
    """

    id_: int
    index: int
    is_pending: bool
    element_IDs: list[int]
    task_template: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if type(self.element_IDs) is not IDList:
            self.element_IDs = IDList(self.element_IDs)

    @abstractmethod
    def encode(self) -> tuple[int, SerFormT, dict[str, Any]]:
        """Return ``(index, stored task metadata, task template entry)``."""

    @classmethod
    @abstractmethod
    def decode(cls, task_dat: SerFormT) -> Self:
        """Build a task from its stored metadata."""

    def append_element_IDs(self, pend_IDs: Iterable[int]) -> Self:
        """Return a copy with `pend_IDs` appended to the element IDs."""
        return _replace(self, element_IDs=IDList([*self.element_IDs, *pend_IDs]))

    def copy(self) -> Self:
        """A copy with a list of element IDs of its own (the engine adds to the list
        of a task it holds), sharing this one's positions (see :class:`IDList`)."""
        return _replace(self, element_IDs=self.element_IDs.copy())


class JsonStoreTask(StoreTask[dict]):
    """A task stored in a JSON store."""

    def encode(self) -> tuple[int, dict, dict[str, Any]]:
        """Return ``(index, metadata "tasks" entry, template "tasks" entry)``."""
        meta = {"id_": self.id_, "element_IDs": list(self.element_IDs), "index": self.index}
        return self.index, meta, {"id_": self.id_, **(self.task_template or {})}

    @classmethod
    def decode(cls, task_dat: dict) -> Self:
        """Build from a metadata "tasks" entry (whose ``index`` is its position)."""
        return cls(
            id_=task_dat["id_"],
            index=task_dat["index"],
            is_pending=False,
            element_IDs=IDList(task_dat["element_IDs"]),
        )


class ZarrStoreTask(StoreTask[dict]):
    """A task stored in a Zarr store.

    The root attributes hold ``{"id_", "element_IDs_idx"}`` per task; the element IDs
    live in row ``element_IDs_idx`` of the ``metadata/tasks`` ragged int array (the
    store moves them between the two).
    """

    def encode(self) -> tuple[int, dict, dict[str, Any]]:
        """Return ``(index, {"id_", "element_IDs"}, template "tasks" entry)``."""
        meta = {"id_": self.id_, "element_IDs": list(self.element_IDs)}
        return self.index, meta, {"id_": self.id_, **(self.task_template or {})}

    @classmethod
    def decode(cls, task_dat: dict) -> Self:
        """Build from ``{"id_", "index", "element_IDs"}``."""
        return cls(
            id_=task_dat["id_"],
            index=task_dat["index"],
            is_pending=False,
            element_IDs=IDList(map(int, task_dat["element_IDs"])),
        )


# ------------------------------------------------------------------------------------
# elements
# ------------------------------------------------------------------------------------


@dataclass
class StoreElement(ABC, Generic[SerFormT, ContextT]):
    """An element in a persistent store.

    Parameters
    ----------
    id_:
        The element ID.
    is_pending:
        Whether the element has not yet been committed.
    index:
        Index of the element within its task.
    es_idx:
        Index of the element set that produced the element.
    seq_idx:
        Value-sequence index map.
    src_idx:
        Data-source index map.
    task_ID:
        ID of the owning task.
    iteration_IDs:
        IDs of the element's iterations.
    """

    id_: int
    is_pending: bool
    index: int
    es_idx: int
    seq_idx: dict[str, int]
    src_idx: dict[str, int]
    task_ID: int
    iteration_IDs: list[int]

    @abstractmethod
    def encode(self, context: ContextT) -> SerFormT:
        """Serialise for the store."""

    @classmethod
    @abstractmethod
    def decode(cls, elem_dat: SerFormT, context: ContextT) -> Self:
        """Build from serialised store data."""

    def to_dict(self, iters: Any) -> dict[str, Any]:
        """Data for the engine's user-facing ``Element``."""
        return {
            "id_": self.id_,
            "is_pending": self.is_pending,
            "index": self.index,
            "es_idx": self.es_idx,
            "seq_idx": self.seq_idx,
            "src_idx": self.src_idx,
            "iteration_IDs": self.iteration_IDs,
            "task_ID": self.task_ID,
            "iterations": iters,
        }

    def append_iteration_IDs(self, pend_IDs: Iterable[int]) -> Self:
        """Return a copy with `pend_IDs` appended to the iteration IDs."""
        return _replace(self, iteration_IDs=[*self.iteration_IDs, *pend_IDs])


class JsonStoreElement(StoreElement[dict, None]):
    """An element stored in a JSON store."""

    def encode(self, context: None = None) -> dict:
        """Serialise as a JSON object."""
        return {
            "id_": self.id_,
            "index": self.index,
            "es_idx": self.es_idx,
            "seq_idx": dict(self.seq_idx),
            "src_idx": dict(self.src_idx),
            "task_ID": self.task_ID,
            "iteration_IDs": list(self.iteration_IDs),
        }

    @classmethod
    def decode(cls, elem_dat: dict, context: None = None) -> Self:
        """Build from a JSON object."""
        return cls(
            id_=elem_dat["id_"],
            is_pending=False,
            index=elem_dat["index"],
            es_idx=elem_dat["es_idx"],
            seq_idx=dict(elem_dat["seq_idx"]),
            src_idx=dict(elem_dat["src_idx"]),
            task_ID=elem_dat["task_ID"],
            iteration_IDs=list(elem_dat["iteration_IDs"]),
        )


class ZarrStoreElement(StoreElement[list, dict]):
    """An element stored as a row of the Zarr ``metadata/elements`` array.

    Row: ``[id_, index, es_idx, [[seq_key_idx, v]...], [[src_key_idx, v]...],
    task_ID, iteration_IDs]``; key indices refer to the array attributes ``seq_idx``
    and ``src_idx``.
    """

    def encode(self, context: dict) -> list:
        """Serialise as a row; may append new keys to the lookup lists in `context`."""
        return [
            self.id_,
            self.index,
            self.es_idx,
            [[ensure_in(k, context["seq_idx"]), v] for k, v in self.seq_idx.items()],
            [[ensure_in(k, context["src_idx"]), v] for k, v in self.src_idx.items()],
            self.task_ID,
            list(self.iteration_IDs),
        ]

    @classmethod
    def decode(cls, elem_dat: Sequence, context: dict) -> Self:
        """Build from a row and the array attributes."""
        return cls(
            id_=elem_dat[0],
            is_pending=False,
            index=elem_dat[1],
            es_idx=elem_dat[2],
            seq_idx={context["seq_idx"][k]: v for k, v in elem_dat[3]},
            src_idx={context["src_idx"][k]: v for k, v in elem_dat[4]},
            task_ID=elem_dat[5],
            iteration_IDs=list(elem_dat[6]),
        )


# ------------------------------------------------------------------------------------
# element iterations
# ------------------------------------------------------------------------------------


@dataclass
class StoreElementIter(ABC, Generic[SerFormT, ContextT]):
    """An element iteration in a persistent store.

    Parameters
    ----------
    id_:
        The iteration ID.
    is_pending:
        Whether the iteration has not yet been committed.
    element_ID:
        ID of the owning element.
    EARs_initialised:
        Whether the iteration's runs have been initialised.
    EAR_IDs:
        Map of schema action index to run IDs (None if no runs yet).
    data_idx:
        Map of parameter path to parameter ID.
    schema_parameters:
        Parameters defined by the task schema.
    loop_idx:
        Map of loop name to iteration index within that loop.
    """

    id_: int
    is_pending: bool
    element_ID: int
    EARs_initialised: bool
    EAR_IDs: dict[int, list[int]] | None
    data_idx: dict[str, int]
    schema_parameters: list[str]
    loop_idx: Mapping[str, int] = field(default_factory=dict)

    @abstractmethod
    def encode(self, context: ContextT) -> SerFormT:
        """Serialise for the store."""

    @classmethod
    @abstractmethod
    def decode(cls, iter_dat: SerFormT, context: ContextT) -> Self:
        """Build from serialised store data."""

    def to_dict(self, EARs: dict[int, Any] | None) -> dict[str, Any]:
        """Data for the engine's user-facing ``ElementIteration``."""
        return {
            "id_": self.id_,
            "is_pending": self.is_pending,
            "element_ID": self.element_ID,
            "EAR_IDs": self.EAR_IDs,
            "data_idx": self.data_idx,
            "schema_parameters": self.schema_parameters,
            "EARs": EARs,
            "EARs_initialised": self.EARs_initialised,
            "loop_idx": dict(self.loop_idx),
        }

    def append_EAR_IDs(self, pend_IDs: Mapping[int, Sequence[int]]) -> Self:
        """Return a copy with run IDs appended per action index."""
        new = {k: list(v) for k, v in (self.EAR_IDs or {}).items()}
        for act_idx, ids in pend_IDs.items():
            new.setdefault(act_idx, []).extend(ids)
        return _replace(self, EAR_IDs=new)

    def update_loop_idx(self, loop_idx: Mapping[str, int]) -> Self:
        """Return a copy with the loop index updated by `loop_idx`."""
        return _replace(self, loop_idx={**self.loop_idx, **loop_idx})

    def with_pending(
        self,
        EAR_IDs: Mapping[int, Sequence[int]] | None,
        loop_idx: Mapping[str, int] | None,
        initialised: bool,
    ) -> Self:
        """What :meth:`append_EAR_IDs`, :meth:`update_loop_idx` and
        :meth:`set_EARs_initialised` give in turn (each only if given), in one copy."""
        changes: dict[str, Any] = {}
        if EAR_IDs:
            new = {k: list(v) for k, v in (self.EAR_IDs or {}).items()}
            for act_idx, ids in EAR_IDs.items():
                new.setdefault(act_idx, []).extend(ids)
            changes["EAR_IDs"] = new
        if loop_idx:
            changes["loop_idx"] = {**self.loop_idx, **loop_idx}
        if initialised:
            changes["EARs_initialised"] = True
        return _replace(self, **changes) if changes else self

    def set_EARs_initialised(self) -> Self:
        """Return a copy with ``EARs_initialised`` set."""
        return _replace(self, EARs_initialised=True)


class JsonStoreElementIter(StoreElementIter[dict, None]):
    """An element iteration stored in a JSON store (``EAR_IDs`` keys become strings
    in JSON and are turned back into ints when decoding)."""

    def encode(self, context: None = None) -> dict:
        """Serialise as a JSON object."""
        return {
            "id_": self.id_,
            "element_ID": self.element_ID,
            "EARs_initialised": self.EARs_initialised,
            "EAR_IDs": (
                None if self.EAR_IDs is None else {str(k): list(v) for k, v in self.EAR_IDs.items()}
            ),
            "data_idx": dict(self.data_idx),
            "schema_parameters": list(self.schema_parameters),
            "loop_idx": dict(self.loop_idx),
        }

    @classmethod
    def decode(cls, iter_dat: dict, context: None = None) -> Self:
        """Build from a JSON object."""
        ear_ids = iter_dat.get("EAR_IDs")
        return cls(
            id_=iter_dat["id_"],
            is_pending=False,
            element_ID=iter_dat["element_ID"],
            EARs_initialised=bool(iter_dat.get("EARs_initialised", False)),
            EAR_IDs=(None if ear_ids is None else {int(k): list(v) for k, v in ear_ids.items()}),
            data_idx=dict(iter_dat["data_idx"]),
            schema_parameters=list(iter_dat["schema_parameters"]),
            loop_idx=dict(iter_dat.get("loop_idx") or {}),
        )


class ZarrStoreElementIter(StoreElementIter[list, dict]):
    """An element iteration stored as a row of the Zarr ``metadata/iters`` array.

    Row: ``[id_, element_ID, EARs_initialised (0/1), [[act_idx, [EAR IDs]]...] or
    None, [[param_path_idx, param_ID]...], [schema_param_idx...],
    [[loop_name_idx, v]...]]``; indices refer to the array attributes
    ``parameter_paths``, ``schema_parameters`` and ``loops``.
    """

    def encode(self, context: dict) -> list:
        """Serialise as a row; may append new keys to the lookup lists in `context`."""
        return [
            self.id_,
            self.element_ID,
            int(self.EARs_initialised),
            [[k, list(v)] for k, v in self.EAR_IDs.items()] if self.EAR_IDs else None,
            [[ensure_in(k, context["parameter_paths"]), v] for k, v in self.data_idx.items()],
            [ensure_in(i, context["schema_parameters"]) for i in self.schema_parameters],
            [[ensure_in(k, context["loops"]), v] for k, v in self.loop_idx.items()],
        ]

    @classmethod
    def decode(cls, iter_dat: Sequence, context: dict) -> Self:
        """Build from a row and the array attributes."""
        return cls(
            id_=iter_dat[0],
            is_pending=False,
            element_ID=iter_dat[1],
            EARs_initialised=bool(iter_dat[2]),
            EAR_IDs={k: list(v) for k, v in iter_dat[3]} if iter_dat[3] else None,
            data_idx={context["parameter_paths"][k]: v for k, v in iter_dat[4]},
            schema_parameters=[context["schema_parameters"][i] for i in iter_dat[5]],
            loop_idx={context["loops"][k]: v for k, v in iter_dat[6]},
        )


# ------------------------------------------------------------------------------------
# element action runs
# ------------------------------------------------------------------------------------


@dataclass
class StoreEAR(ABC, Generic[SerFormT, ContextT]):
    """An element action run (EAR) in a persistent store.

    Parameters
    ----------
    id_:
        The run ID.
    is_pending:
        Whether the run has not yet been committed.
    elem_iter_ID:
        ID of the owning element iteration.
    action_idx:
        Index of the task schema action.
    commands_idx:
        Indices of the action's commands that the run executes.
    data_idx:
        Map of parameter path to parameter ID.
    submission_idx:
        Index of the submission that includes the run, if any.
    skip:
        Whether the run is to be skipped.
    success:
        Whether the run succeeded, if known.
    start_time, end_time:
        When the run started / ended (aware datetimes), if known.
    snapshot_start, snapshot_end:
        Run directory snapshots at start / end, if recorded.
    exit_code:
        Exit code of the run, if known.
    metadata:
        Free-form run metadata.
    run_hostname:
        Host the run ran on, if known.
    """

    id_: int
    is_pending: bool
    elem_iter_ID: int
    action_idx: int
    commands_idx: list[int]
    data_idx: dict[str, int]
    submission_idx: int | None = None
    skip: bool = False
    success: bool | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    snapshot_start: dict[str, Any] | None = None
    snapshot_end: dict[str, Any] | None = None
    exit_code: int | None = None
    metadata: dict[str, Any] | None = None
    run_hostname: str | None = None

    @abstractmethod
    def encode(self, ts_fmt: str, context: ContextT) -> SerFormT:
        """Serialise for the store, formatting timestamps with `ts_fmt`."""

    @classmethod
    @abstractmethod
    def decode(cls, EAR_dat: SerFormT, ts_fmt: str, context: ContextT) -> Self:
        """Build from serialised store data, parsing timestamps with `ts_fmt`."""

    def to_dict(self) -> dict[str, Any]:
        """Data for the engine's user-facing ``ElementActionRun``."""
        return {
            "id_": self.id_,
            "is_pending": self.is_pending,
            "elem_iter_ID": self.elem_iter_ID,
            "action_idx": self.action_idx,
            "commands_idx": self.commands_idx,
            "data_idx": self.data_idx,
            "submission_idx": self.submission_idx,
            "success": self.success,
            "skip": self.skip,
            "start_time": decode_timestamp(self.start_time, ""),
            "end_time": decode_timestamp(self.end_time, ""),
            "snapshot_start": self.snapshot_start,
            "snapshot_end": self.snapshot_end,
            "exit_code": self.exit_code,
            "metadata": self.metadata,
            "run_hostname": self.run_hostname,
        }

    def update(
        self,
        submission_idx: int | None = None,
        skip: bool | None = None,
        success: bool | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        snapshot_start: dict[str, Any] | None = None,
        snapshot_end: dict[str, Any] | None = None,
        exit_code: int | None = None,
        run_hostname: str | None = None,
    ) -> Self:
        """Return a copy with the given (non-None) fields replaced."""
        changes = {
            "submission_idx": submission_idx,
            "skip": skip,
            "success": success,
            "start_time": start_time,
            "end_time": end_time,
            "snapshot_start": snapshot_start,
            "snapshot_end": snapshot_end,
            "exit_code": exit_code,
            "run_hostname": run_hostname,
        }
        return _replace(self, **{k: v for k, v in changes.items() if v is not None})


class JsonStoreEAR(StoreEAR[dict, None]):
    """A run stored in a JSON store."""

    def encode(self, ts_fmt: str, context: None = None) -> dict:
        """Serialise as a JSON object."""
        return {
            "id_": self.id_,
            "elem_iter_ID": self.elem_iter_ID,
            "action_idx": self.action_idx,
            "commands_idx": list(self.commands_idx),
            "data_idx": dict(self.data_idx),
            "submission_idx": self.submission_idx,
            "success": self.success,
            "skip": self.skip,
            "start_time": encode_timestamp(self.start_time, ts_fmt),
            "end_time": encode_timestamp(self.end_time, ts_fmt),
            "snapshot_start": self.snapshot_start,
            "snapshot_end": self.snapshot_end,
            "exit_code": self.exit_code,
            "metadata": self.metadata,
            "run_hostname": self.run_hostname,
        }

    @classmethod
    def decode(cls, EAR_dat: dict, ts_fmt: str, context: None = None) -> Self:
        """Build from a JSON object."""
        d = copy.deepcopy(EAR_dat)
        return cls(
            id_=d["id_"],
            is_pending=False,
            elem_iter_ID=d["elem_iter_ID"],
            action_idx=d["action_idx"],
            commands_idx=d["commands_idx"],
            data_idx=d["data_idx"],
            submission_idx=d.get("submission_idx"),
            skip=d.get("skip", False),
            success=d.get("success"),
            start_time=decode_timestamp(d.get("start_time"), ts_fmt),
            end_time=decode_timestamp(d.get("end_time"), ts_fmt),
            snapshot_start=d.get("snapshot_start"),
            snapshot_end=d.get("snapshot_end"),
            exit_code=d.get("exit_code"),
            metadata=d.get("metadata"),
            run_hostname=d.get("run_hostname"),
        )


class ZarrStoreEAR(StoreEAR[list, dict]):
    """A run stored as a row of the Zarr ``metadata/runs`` array.

    Row: ``[id_, elem_iter_ID, action_idx, [[param_path_idx, param_ID]...],
    submission_idx, skip, success, start_time, end_time, snapshot_start,
    snapshot_end, exit_code, metadata, run_hostname, commands_idx]``; path indices
    refer to the array attribute ``parameter_paths``.
    """

    #: Row positions of the fields a run's updates change (see :meth:`encode_fields`).
    FIELD_POSITIONS: ClassVar[dict[str, int]] = {
        name: pos
        for pos, name in enumerate(_core.RUN_ROW_FIELDS)
        if name not in ("id_", "elem_iter_ID", "action_idx", "data_idx", "commands_idx")
    }
    _TIMESTAMP_FIELDS: ClassVar[frozenset[str]] = frozenset(("start_time", "end_time"))

    @classmethod
    def encode_fields(cls, ts_fmt: str, **fields: Any) -> dict[int, Any]:
        """``{row position: stored value}`` of some fields (those of
        :data:`FIELD_POSITIONS`), to change a stored row in place without decoding it
        (see ``ObjectArray.patch``)."""
        out = {}
        for name, value in fields.items():
            if name in cls._TIMESTAMP_FIELDS:
                value = encode_timestamp(value, ts_fmt)
            out[cls.FIELD_POSITIONS[name]] = value
        return out

    def encode(self, ts_fmt: str, context: dict) -> list:
        """Serialise as a row; may append new keys to the lookup lists in `context`."""
        return [
            self.id_,
            self.elem_iter_ID,
            self.action_idx,
            [[ensure_in(k, context["parameter_paths"]), v] for k, v in self.data_idx.items()],
            self.submission_idx,
            self.skip,
            self.success,
            encode_timestamp(self.start_time, ts_fmt),
            encode_timestamp(self.end_time, ts_fmt),
            self.snapshot_start,
            self.snapshot_end,
            self.exit_code,
            self.metadata,
            self.run_hostname,
            list(self.commands_idx),
        ]

    @classmethod
    def decode(cls, EAR_dat: Sequence, ts_fmt: str, context: dict) -> Self:
        """Build from a row and the array attributes."""
        return cls(
            id_=EAR_dat[0],
            is_pending=False,
            elem_iter_ID=EAR_dat[1],
            action_idx=EAR_dat[2],
            data_idx={context["parameter_paths"][k]: v for k, v in EAR_dat[3]},
            submission_idx=EAR_dat[4],
            skip=EAR_dat[5],
            success=EAR_dat[6],
            start_time=decode_timestamp(EAR_dat[7], ts_fmt),
            end_time=decode_timestamp(EAR_dat[8], ts_fmt),
            snapshot_start=EAR_dat[9],
            snapshot_end=EAR_dat[10],
            exit_code=EAR_dat[11],
            metadata=EAR_dat[12],
            run_hostname=EAR_dat[13],
            commands_idx=list(EAR_dat[14]),
        )


# ------------------------------------------------------------------------------------
# parameters
# ------------------------------------------------------------------------------------

#: Primitive values that are stored as they are.
PRIMITIVES: tuple[type, ...] = (int, float, str, type(None))


def _has_to_dict(obj: Any) -> bool:
    return callable(getattr(obj, "to_dict", None)) and not isinstance(obj, type)


def _get_at(obj: Any, path: Sequence[Any]) -> Any:
    for comp in path:
        obj = obj[comp]
    return obj


def _set_at(obj: Any, path: Sequence[Any], value: Any) -> Any:
    """Set the value at `path` within `obj` (returning the new root, which is
    `value` itself if `path` is empty)."""
    if not path:
        return value
    _get_at(obj, path[:-1])[path[-1]] = value
    return obj


def relative_path(path: Sequence[Any], base: Sequence[Any]) -> list[Any] | None:
    """Return `path` relative to `base`, or None if `path` is not within `base`."""
    if len(path) < len(base) or list(path[: len(base)]) != list(base):
        return None
    return list(path[len(base) :])


@dataclass
class StoreParameter:
    """A parameter (datum) in a persistent store.

    Parameters
    ----------
    id_:
        The parameter ID.
    is_pending:
        Whether the parameter has not yet been committed.
    is_set:
        Whether the parameter has a value (or file).
    data:
        The value.
    file:
        File description, if the parameter is a file.
    source:
        Where the parameter came from.

    Notes
    -----
    A set value is encoded as ``{"data": <JSON-able data>, "type_lookup": {...}}``
    where ``type_lookup["tuples"]``/``["sets"]`` list the paths of tuples and sets
    (which are stored as lists), an unset value as ``0`` and a file as
    ``{"file": {...}}``. Enums are stored as their value and objects with a
    ``to_dict()`` method (the engine's parameter value classes) as that dict.
    Subclasses may support more types (e.g. numpy arrays) by overriding
    :meth:`_encode_special`, :meth:`_is_special` and :meth:`_decode_special`, and
    adding their keys to :attr:`_extra_lookup_keys`.
    """

    id_: int
    is_pending: bool
    is_set: bool
    data: Any
    file: dict[str, Any] | None
    source: dict[str, Any]

    #: Store kind named in encoding errors.
    _store_kind: ClassVar[str] = "json"
    #: Extra ``type_lookup`` keys used by the subclass.
    _extra_lookup_keys: ClassVar[tuple[str, ...]] = ()
    #: Maximum nesting depth of a value.
    _MAX_DEPTH: ClassVar[int] = 50

    # --- encoding -------------------------------------------------------------------

    def encode(self, **kwargs: Any) -> dict[str, Any] | int:
        """Encode for the store; keyword arguments are passed to the special
        encoders of subclasses."""
        if not self.is_set:
            return PARAM_DATA_NOT_SET
        if self.file:
            return {"file": self.file}
        type_lookup: dict[str, list] = {
            "tuples": [],
            "sets": [],
            **{k: [] for k in self._extra_lookup_keys},
        }
        data = self._encode_value(self.data, [], type_lookup, **kwargs)
        return {"data": data, "type_lookup": type_lookup}

    def _encode_value(
        self, obj: Any, path: DataPath, type_lookup: dict[str, list], **kwargs: Any
    ) -> Any:
        if len(path) > self._MAX_DEPTH:
            raise ParameterEncodeError(self.id_, type(obj), self._store_kind, path)
        if self._is_special(obj):
            return self._encode_special(obj, path, type_lookup, **kwargs)
        if isinstance(obj, enum.Enum):
            return self._encode_value(obj.value, path, type_lookup, **kwargs)
        if isinstance(obj, PRIMITIVES):
            return obj
        if isinstance(obj, dict):
            return {
                k: self._encode_value(v, [*path, k], type_lookup, **kwargs) for k, v in obj.items()
            }
        if isinstance(obj, (list, tuple, set, frozenset)):
            out = [
                self._encode_value(v, [*path, i], type_lookup, **kwargs) for i, v in enumerate(obj)
            ]
            if isinstance(obj, tuple):
                type_lookup["tuples"].append(list(path))
            elif isinstance(obj, (set, frozenset)):
                type_lookup["sets"].append(list(path))
            return out
        if _has_to_dict(obj):
            return self._encode_value(obj.to_dict(), path, type_lookup, **kwargs)
        scalar = _numpy_scalar(obj)
        if scalar is not None:
            return scalar[0]
        raise ParameterEncodeError(self.id_, type(obj), self._store_kind, path)

    @classmethod
    def _is_special(cls, obj: Any) -> bool:
        """Whether a subclass encodes `obj` itself (e.g. numpy arrays)."""
        return False

    @classmethod
    def _primitive_ok(cls, obj: Any) -> bool:
        """Whether the store can hold the primitive `obj` (JSON: any)."""
        return True

    def _encode_special(
        self, obj: Any, path: DataPath, type_lookup: dict[str, list], **kwargs: Any
    ) -> Any:
        """Encode a value for which :meth:`_is_special` is True."""
        raise ParameterEncodeError(self.id_, type(obj), self._store_kind, path)

    @classmethod
    def check_encodable(cls, param_id: int | None, value: Any) -> None:
        """Raise :class:`~wfstore.common.errors.ParameterEncodeError` (naming the parameter
        ID and offending type) if `value` cannot be stored; nothing is written."""

        cls._check_value(param_id, value, [], set())

    @classmethod
    def _check_value(
        cls, param_id: int | None, obj: Any, path: DataPath, seen: set[int]
    ) -> None:
        # A method, not a closure: a recursive closure is a reference cycle (function,
        # cell), left for the cyclic collector on every parameter added.
        if len(path) > cls._MAX_DEPTH:
            raise ParameterEncodeError(param_id, type(obj), cls._store_kind, path)
        if cls._is_special(obj):
            return
        if isinstance(obj, enum.Enum):
            cls._check_value(param_id, obj.value, path, seen)
            return
        if isinstance(obj, PRIMITIVES):
            if not cls._primitive_ok(obj):
                raise ParameterEncodeError(param_id, type(obj), cls._store_kind, path)
            return
        if id(obj) in seen:
            raise ParameterEncodeError(param_id, type(obj), cls._store_kind, path)
        if isinstance(obj, dict):
            for k, v in obj.items():
                if isinstance(k, PRIMITIVES) and not cls._primitive_ok(k):
                    raise ParameterEncodeError(param_id, type(k), cls._store_kind, path)
                cls._check_value(param_id, v, [*path, k], seen | {id(obj)})
        elif isinstance(obj, (list, tuple, set, frozenset)):
            for i, v in enumerate(obj):
                cls._check_value(param_id, v, [*path, i], seen | {id(obj)})
        elif _has_to_dict(obj):
            cls._check_value(param_id, obj.to_dict(), path, seen | {id(obj)})
        elif _numpy_scalar(obj) is None:
            raise ParameterEncodeError(param_id, type(obj), cls._store_kind, path)

    # --- decoding -------------------------------------------------------------------

    @classmethod
    def decode(
        cls,
        id_: int,
        data: dict[str, Any] | int | None,
        source: dict[str, Any],
        *,
        path: DataPath | None = None,
        fresh: bool = False,
        **kwargs: Any,
    ) -> Self:
        """Build from encoded store data; `path` selects a sub-value. With `fresh`,
        `data` was decoded for this call alone and its value is used as it is;
        otherwise it is copied (it may be a cached document's). Other keyword
        arguments are passed to the special decoders of subclasses."""
        if isinstance(data, dict) and "file" in data:
            return cls(
                id_=id_,
                is_pending=False,
                is_set=True,
                data=None,
                file=data["file"],
                source=source,
            )
        if not isinstance(data, dict):
            return cls(
                id_=id_,
                is_pending=False,
                is_set=False,
                data=None,
                file=None,
                source=source,
            )
        base = list(path or [])
        obj = _get_at(data["data"], base)
        if not fresh:
            obj = copy_tree(obj)
        lookup = data.get("type_lookup") or {}
        obj = cls._decode_special(obj, lookup, base, **kwargs)

        # convert lists back into tuples/sets, deepest first, so that containers are
        # still mutable lists while their children are converted:
        conversions: list[tuple[list[Any], Callable[[Any], Any]]] = []
        for key, conv in (("tuples", tuple), ("sets", set)):
            for p in lookup.get(key, []):
                rel = relative_path(p, base)
                if rel is not None:
                    conversions.append((rel, conv))
        conversions.sort(key=lambda c: len(c[0]), reverse=True)
        for rel, conv in conversions:
            obj = _set_at(obj, rel, conv(_get_at(obj, rel)))
        return cls(id_=id_, is_pending=False, is_set=True, data=obj, file=None, source=source)

    @classmethod
    def _decode_special(
        cls, obj: Any, type_lookup: dict[str, Any], path: DataPath, **kwargs: Any
    ) -> Any:
        """Restore special values (e.g. arrays) in `obj`, the value at `path`."""
        return obj

    # --- copies ---------------------------------------------------------------------

    def set_data(self, value: Any) -> Self:
        """Return a copy with the value set."""
        if self.is_set:
            raise ParameterAlreadySetError(self.id_)
        return _replace(self, is_set=True, data=value, file=None)

    def set_file(self, value: dict[str, Any]) -> Self:
        """Return a copy with the file set."""
        if self.is_set:
            raise ParameterAlreadySetError(self.id_)
        return _replace(self, is_set=True, data=None, file=value)

    def update_source(self, src: Mapping[str, Any]) -> Self:
        """Return a copy with the source updated by `src` (keys sorted)."""
        return _replace(self, source=merge_param_source(self.source, src))


def merge_param_source(source: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Merge a parameter source with an update; the result's keys are sorted."""
    merged = {**source, **update}
    return {k: merged[k] for k in sorted(merged)}


def _numpy_scalar(obj: Any) -> tuple[Any] | None:
    """If `obj` is a numpy scalar, return ``(python_value,)``, else None."""
    mod = type(obj).__module__
    if mod == "numpy" and hasattr(obj, "item") and getattr(obj, "shape", None) == ():
        return (obj.item(),)
    return None
