"""Drop-in persistence for hpcflow: make the engine keep every workflow through wfstore.

Call :func:`register` once, in a process where hpcflow (hpcflow-new2 0.2.0a190) is
importable, before opening or creating workflows (it checks the installed engine's
generation first, :func:`engine_generation`, and installs the matching classes: those of
hpcflow-new2 0.2.0a190's stores, or of hpcflow 0.3.x's, :mod:`wfstore.persistence.v03`)::

    import wfstore.hpcflow
    wfstore.hpcflow.register()

From then on the engine creates, opens, zips, unzips and rechunks every workflow
through wfstore: the store classes it finds for ``"zarr"``, ``"json"`` and ``"zip"``
(``hpcflow.sdk.persistence.discovery``, and the class names in
``hpcflow.sdk.persistence.zarr`` / ``.json``) become wfstore's, wrapped by the small
adapters below. The stores on disk are the engine's own format, so workflows can be
switched back and forth; :func:`unregister` restores the engine's classes.

The adapters give the engine what it reaches for beyond the store API: errors are
raised as classes that are both wfstore's and the engine's (``MissingStoreEARError``
and friends; ``ValueError`` where the engine raises one for zip/unzip), zip archives
opened through fsspec's ``ZipFileSystem`` (as the engine opens them) are read in
place, and ``_get_EARs_arr()`` / ``_get_parameter_base_array()`` return array views that
answer the questions a zarr-python array answers (``shape``, ``chunks``, ``path``,
slicing, ``attrs.asdict()``).

Job scripts run the engine's command line in new processes. While registered, the
command the engine writes into them is ``python -m wfstore.hpcflow <engine CLI> ...``,
which registers wfstore in that process too before running the engine's CLI.

Nothing of hpcflow is imported by wfstore unless :func:`register` (or :func:`main`)
is called.
"""

from __future__ import annotations

import contextlib
import functools
import os
import runpy
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from wfstore.common import errors as _wf_errors
from wfstore.common.durability import ENV_VAR as DURABILITY_ENV_VAR
from wfstore.common.durability import Durability, check_durability

__all__ = [
    "ArrayView",
    "engine_generation",
    "engine_store_classes",
    "is_registered",
    "main",
    "register",
    "store_classes",
    "unregister",
    "use_in_hpcflow",
    "uses_wfstore",
]

#: The store formats whose classes wfstore replaces.
FORMATS: tuple[str, ...] = ("zarr", "json", "zip")

#: The name this module is imported by (``wfstore/hpcflow.py`` makes it this module),
#: which the classes made here carry: the engine and pickle find them there.
PUBLIC_NAME = "wfstore.hpcflow"

_LOCK = threading.RLock()
#: ``(object, attribute name, original value)`` of everything :func:`register` changed.
_SAVED: list[tuple[Any, str, Any]] = []
_CLASSES: dict[str, type] = {}
#: ``WFSTORE_DURABILITY`` before :func:`register` first set it (one item once saved).
_DURABILITY_ENV_BEFORE: list[str | None] = []


# --- errors ---------------------------------------------------------------------------

#: wfstore error class -> name of the engine's error class of the same meaning (in
#: ``hpcflow.sdk.core.errors``), which the engine's own stores raise.
_ERROR_PAIRS: tuple[tuple[type[BaseException], str], ...] = (
    (_wf_errors.MissingStoreTaskError, "MissingStoreTaskError"),
    (_wf_errors.MissingStoreElementError, "MissingStoreElementError"),
    (_wf_errors.MissingStoreElementIterationError, "MissingStoreElementIterationError"),
    (_wf_errors.MissingStoreEARError, "MissingStoreEARError"),
    (_wf_errors.MissingParameterData, "MissingParameterData"),
)
#: Pairs of errors only hpcflow 0.3.x has (looked up when present).
_ERROR_PAIRS_V03: tuple[tuple[type[BaseException], str], ...] = (
    (_wf_errors.ParametersMetadataReadOnlyError, "ParametersMetadataReadOnlyError"),
)

_DUAL_ERRORS: dict[type[BaseException], type[BaseException]] = {}


def _build_dual_errors() -> None:
    from hpcflow.sdk.core import errors as eng_errors

    pairs = [*_ERROR_PAIRS, *((w, n) for w, n in _ERROR_PAIRS_V03 if hasattr(eng_errors, n))]
    for wf_cls, eng_name in pairs:
        eng_cls = getattr(eng_errors, eng_name)
        _DUAL_ERRORS[wf_cls] = type(
            wf_cls.__name__,
            (wf_cls, eng_cls),
            {
                "__module__": PUBLIC_NAME,
                "__doc__": f"{wf_cls.__doc__ or ''} (also the engine's {eng_name})",
            },
        )
    # the engine raises ValueError where wfstore refuses an operation a store kind
    # does not support (zip of a zip store, unzip of a Zarr store):
    _DUAL_ERRORS[_wf_errors.UnsupportedStoreOperationError] = type(
        "UnsupportedStoreOperationError",
        (_wf_errors.UnsupportedStoreOperationError, ValueError),
        {"__module__": PUBLIC_NAME},
    )
    # hpcflow 0.3.0's reader of array-output archives raises zstandard's error for an
    # archive that is not a zstd frame (zstandard is one of its dependencies):
    try:
        from zstandard import ZstdError
    except ImportError:
        return
    _DUAL_ERRORS[_wf_errors.ArchiveCompressionError] = type(
        "ArchiveCompressionError",
        (_wf_errors.ArchiveCompressionError, ZstdError),
        {"__module__": PUBLIC_NAME},
    )


def _as_engine_error(exc: BaseException) -> BaseException | None:
    """An exception of the engine-compatible class for `exc`, or None if none is
    needed (or `exc` already is one)."""
    if type(exc) in _DUAL_ERRORS.values():
        return None
    for cls in type(exc).__mro__:
        dual = _DUAL_ERRORS.get(cls)
        if dual is not None and dual is not type(exc):
            new = dual.__new__(dual)
            new.args = exc.args
            new.__dict__.update(exc.__dict__)
            return new
    return None


def _reraise_for_engine(exc: BaseException) -> None:
    """Raise the engine-compatible form of `exc`, if it needs one (else return)."""
    new = _as_engine_error(exc)
    if new is not None:
        raise new.with_traceback(exc.__traceback__) from exc


def _translating(func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a store method so wfstore errors leave it as engine-compatible errors."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except _wf_errors.StoreError as exc:
            _reraise_for_engine(exc)
            raise

    wrapper.__wfstore_translating__ = True  # type: ignore[attr-defined]
    return wrapper


def _translating_cm(func: Callable[..., Any]) -> Callable[..., Any]:
    """As :func:`_translating`, for methods returning context managers."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return _TranslatingCM(func(*args, **kwargs))

    return wrapper


class _TranslatingCM:
    """A context manager whose enter and exit raise engine-compatible errors."""

    __slots__ = ("_cm",)

    def __init__(self, cm: Any) -> None:
        self._cm = cm

    def __enter__(self) -> Any:
        try:
            return self._cm.__enter__()
        except _wf_errors.StoreError as exc:
            _reraise_for_engine(exc)
            raise

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self._cm.__exit__(*exc_info)
        except _wf_errors.StoreError as exc:
            _reraise_for_engine(exc)
            raise


#: Methods the engine calls beyond the public (non-underscore) API.
_ENGINE_PRIVATE_CALLS: tuple[str, ...] = (
    "_get_num_total_tasks",
    "_get_num_total_loops",
    "_get_num_total_submissions",
    "_get_num_total_elements",
    "_get_num_total_elem_iters",
    "_get_num_total_EARs",
    "_get_num_total_parameters",
    "_get_num_total_added_tasks",
    "_get_persistent_EARs",
    "_get_persistent_parameters",
    "_get_persistent_elements",
    "_get_persistent_element_iters",
    "_get_persistent_tasks",
)
_CONTEXT_MANAGERS: frozenset[str] = frozenset(
    {"cached_load", "cache_ctx", "using_resource", "batch_update"}
)


def _wrap_api(cls: type) -> None:
    """Wrap, on `cls`, every public method (and those private ones the engine calls)
    so that errors reach the engine as its own classes."""
    for name in dir(cls):
        if name.startswith("__") or (name.startswith("_") and name not in _ENGINE_PRIVATE_CALLS):
            continue
        raw = None
        for klass in cls.__mro__:
            if name in klass.__dict__:
                raw = klass.__dict__[name]
                break
        if raw is None or isinstance(raw, (property, staticmethod, classmethod, type)):
            continue
        if not callable(raw) or getattr(raw, "__wfstore_translating__", False):
            continue
        wrap = _translating_cm if name in _CONTEXT_MANAGERS else _translating
        setattr(cls, name, wrap(raw))


# --- zip archives ---------------------------------------------------------------------


class _InArchivePaths:
    """The engine's ``ZipFileSystem`` of a zipped store, given to the engine as the
    store's ``fs``: everything is the file system's own, but a path below the archive's
    own path (``<archive>/parameters/...``, which the engine forms from the store's
    ``path``; wfstore's zip store has the archive's path, 0.3.0's the empty path inside
    it) is taken as the path inside the archive."""

    #: the path-taking calls whose paths are mapped
    _PATH_CALLS = frozenset(
        "exists isfile isdir info ls glob find walk open cat cat_file size".split()
    )

    def __init__(self, fs: Any, archive: str) -> None:
        self._fs = fs
        self._prefix = archive.rstrip("/") + "/"

    def _inner(self, path: Any) -> Any:
        text = path.as_posix() if isinstance(path, PurePath) else path
        if isinstance(text, str) and text.startswith(self._prefix):
            return text[len(self._prefix) :]
        return path

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._fs, name)
        if name not in self._PATH_CALLS:
            return attr

        def call(path: Any, *args: Any, **kwargs: Any) -> Any:
            return attr(self._inner(path), *args, **kwargs)

        return call


# --- array views ----------------------------------------------------------------------


class _Attrs:
    """The ``attrs`` of an :class:`ArrayView`, as zarr-python's ``Attributes``."""

    def __init__(self, read: Callable[[], dict[str, Any]]) -> None:
        self._read = read

    def asdict(self) -> dict[str, Any]:
        return self._read()

    def __getitem__(self, key: str) -> Any:
        return self._read()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._read()

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._read())

    def keys(self) -> Any:
        return self._read().keys()


class ArrayView:
    """A read-only view of one of a store's object arrays that answers what the engine
    and its tests ask of the zarr-python array the engine's store returns:
    ``shape``, ``chunks``, ``dtype``, ``path`` (relative to the store), ``name``,
    ``fill_value``, ``nchunks``, ``len()``, integer and slice indexing (a numpy object
    array of rows, as zarr-python decodes them) and ``attrs.asdict()``."""

    def __init__(self, array: Any, path: str, report: dict[str, Any] | None = None) -> None:
        self._array = array
        self._path = path
        #: For the array a rechunk returns: wfstore's report of that rechunk.
        self.report = report

    @property
    def path(self) -> str:
        return self._path

    @property
    def name(self) -> str:
        return "/" + self._path

    @property
    def shape(self) -> tuple[int]:
        return (len(self._array),)

    @property
    def chunks(self) -> tuple[int]:
        return (int(self._array.chunk_size),)

    @property
    def nchunks(self) -> int:
        return int(self._array.num_chunks)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(object)

    @property
    def fill_value(self) -> Any:
        return self._array.fill_value

    @property
    def attrs(self) -> _Attrs:
        return _Attrs(self._array.attrs)

    def __len__(self) -> int:
        return len(self._array)

    def __getitem__(self, key: Any) -> Any:
        n = len(self._array)
        if isinstance(key, tuple) and len(key) == 1:
            key = key[0]
        if key is Ellipsis:
            key = slice(None)
        if isinstance(key, slice):
            if key.step is not None and key.step < 1:
                raise IndexError(f"only slices with step >= 1 are supported ({self._path})")
            rows = self._array.get(list(range(n))[key])
            out = np.empty(len(rows), dtype=object)
            for i, row in enumerate(rows):
                out[i] = row
            return out
        if isinstance(key, (int, np.integer)):
            idx = int(key)
            if idx < 0:
                idx += n
            if not 0 <= idx < n:
                raise IndexError(
                    f"index {int(key)} is out of bounds for {self._path} of length {n}"
                )
            return self._array.get([idx])[0]
        raise TypeError(f"unsupported index for {self._path}: {key!r}")

    def __repr__(self) -> str:
        return f"<wfstore ArrayView {self._path!r} shape={self.shape} chunks={self.chunks}>"


# --- the adapter store classes ---------------------------------------------------------


def _make_classes(generation: str = "0.2.0a190") -> dict[str, type]:
    from fsspec.implementations.local import LocalFileSystem

    from wfstore.persistence import json_store, zip_store
    from wfstore.persistence import zarr as zarr_store

    v03_mode = generation == V03_GENERATION
    if v03_mode:
        # hpcflow 0.3.x's classes, only for that generation: a process of the other
        # (a job, a reader) never needs their modules (a third of the package's)
        from wfstore.persistence import v03

    class _ZarrArrays:
        """Array access the engine's tests use on Zarr stores."""

        def _array_view(self: Any, path: str) -> ArrayView:
            return ArrayView(self._array(path), path)

        def _get_EARs_arr(self: Any, mode: str = "r") -> ArrayView:
            return self._array_view(zarr_store.RUNS_ARR)

        def _get_parameter_base_array(self: Any, mode: str = "r", **kwargs: Any) -> ArrayView:
            return self._array_view(zarr_store.PARAM_BASE_ARR)

        def _get_parameter_sources_array(self: Any, mode: str = "r") -> ArrayView:
            return self._array_view(zarr_store.PARAM_SOURCES_ARR)

        def _get_tasks_arr(self: Any, mode: str = "r") -> ArrayView:
            return self._array_view(zarr_store.TASKS_ARR)

        def _get_elements_arr(self: Any, mode: str = "r") -> ArrayView:
            return self._array_view(zarr_store.ELEMS_ARR)

        def _get_iters_arr(self: Any, mode: str = "r") -> ArrayView:
            return self._array_view(zarr_store.ITERS_ARR)

        # as the engine's, rechunks return the rechunked array (with wfstore's report):
        def rechunk_runs(
            self: Any, chunk_size: int | None = None, backup: bool = True, status: bool = True
        ) -> ArrayView:
            report = super().rechunk_runs(chunk_size=chunk_size, backup=backup, status=status)
            return ArrayView(self._array(zarr_store.RUNS_ARR), zarr_store.RUNS_ARR, report)

        def rechunk_parameter_base(
            self: Any, chunk_size: int | None = None, backup: bool = True, status: bool = True
        ) -> ArrayView:
            report = super().rechunk_parameter_base(
                chunk_size=chunk_size, backup=backup, status=status
            )
            path = zarr_store.PARAM_BASE_ARR
            return ArrayView(self._array(path), path, report)

    json_base: type = v03.V03JSONPersistentStore if v03_mode else json_store.JSONPersistentStore

    class JSONStore(json_base):  # type: ignore[valid-type,misc]
        """wfstore's JSON store, as the engine's ``"json"`` store class."""

        __module__ = PUBLIC_NAME

    class ZarrStore(_ZarrArrays, zarr_store.ZarrPersistentStore):
        """wfstore's Zarr store, as the engine's ``"zarr"`` store class. New stores get
        the engine's layout (one run and one parameter per chunk) unless
        :func:`register` is given other chunk sizes."""

        __module__ = PUBLIC_NAME
        run_chunk_size = 1
        param_chunk_size = 1

    zip_base: type = v03.V03ZarrZipPersistentStore if v03_mode else zip_store.ZarrZipPersistentStore
    zip_mixins: tuple[type, ...] = () if v03_mode else (_ZarrArrays,)

    class ZipStore(*zip_mixins, zip_base):  # type: ignore[misc]
        """wfstore's zip store, as the engine's ``"zip"`` store class.

        The engine opens an archive as an fsspec ``ZipFileSystem`` over the ``.zip``
        file, with an empty path inside it; the archive is read in place by the Rust
        core, and ``fs`` stays the ``ZipFileSystem`` (the engine's ``Workflow.url``
        reads the archive path from it), as :class:`_InArchivePaths`: ``path`` is the
        archive's, so paths the engine forms from it are taken as inside the
        archive."""

        __module__ = PUBLIC_NAME

        def __init__(self, app: Any, workflow: Any, path: Any, fs: Any = None) -> None:
            self._engine_fs = None
            if fs is not None and getattr(fs, "protocol", None) == "zip":
                path = fs.of.path
                self._engine_fs = _InArchivePaths(fs, str(path))
                fs = None
            super().__init__(app, workflow, path, fs)

        @property  # type: ignore[override]
        def fs(self) -> Any:
            return self._engine_fs if self._engine_fs is not None else self._local_fs

        @fs.setter
        def fs(self, value: Any) -> None:
            self._local_fs = value

        def _check_fs(self) -> None:
            if not isinstance(self._local_fs, LocalFileSystem):
                raise _wf_errors.UnsupportedStoreOperationError(
                    f"zip stores are read from local archives only (got "
                    f"{type(self._local_fs).__name__} for {self.path!r})."
                )

        @contextlib.contextmanager
        def _archive_fs(self) -> Iterator[None]:
            """While the block runs, ``fs`` is the file system holding the archive
            (what wfstore's own code needs), not the engine's ``ZipFileSystem``."""
            engine_fs, self._engine_fs = self._engine_fs, None
            try:
                yield
            finally:
                self._engine_fs = engine_fs

        def _open_core_store(self) -> Any:
            with self._archive_fs():
                return super()._open_core_store()

        def unzip(self, path: str = ".", log: str | None = None) -> str:
            with self._archive_fs():
                return super().unzip(path, log)

        def delete_no_confirm(self) -> None:
            with self._archive_fs():
                super().delete_no_confirm()

        def copy(self, path: str | Path | None = None) -> Path:
            with self._archive_fs():
                return super().copy(path)

    if v03_mode:

        class V03ZarrStore(v03.V03ZarrPersistentStore):
            """wfstore's hpcflow 0.3 Zarr store, as the engine's ``"zarr"`` store
            class (0.3.0's layout)."""

            __module__ = PUBLIC_NAME

        ZarrStore = V03ZarrStore  # type: ignore[misc]
    JSONStore.__name__ = JSONStore.__qualname__ = "JSONPersistentStore"
    ZarrStore.__name__ = ZarrStore.__qualname__ = "ZarrPersistentStore"
    ZipStore.__name__ = ZipStore.__qualname__ = "ZarrZipPersistentStore"
    classes: dict[str, type] = {"json": JSONStore, "zarr": ZarrStore, "zip": ZipStore}

    for cls in classes.values():
        _wrap_api(cls)
    return classes


def store_classes() -> dict[str, type]:
    """The store classes :func:`register` gives the engine, by format name."""
    with _LOCK:
        if not _CLASSES:
            try:
                generation = engine_generation()
            except (ImportError, _wf_errors.UnsupportedFeatureError):
                generation = A190_GENERATION
            _build_dual_errors()
            _CLASSES.update(_make_classes(generation))
        return dict(_CLASSES)


# --- job scripts -----------------------------------------------------------------------


def _wrapped_invocation(original: property) -> property:
    def invocation_command(self: Any) -> tuple[str, ...]:
        cmd = tuple(original.fget(self))  # type: ignore[misc]
        if getattr(self, "is_frozen", False) or not cmd or "wfstore.hpcflow" in cmd:
            return cmd
        return (cmd[0], "-m", "wfstore.hpcflow", *cmd[1:])

    return property(invocation_command, doc=original.__doc__)


# --- registration -----------------------------------------------------------------------

#: The store generation of the engines whose stores :func:`register` installs: hpcflow-new2
#: 0.2.0a190 (import name ``hpcflow``, version ``0.2.*``).
A190_GENERATION = "0.2.0a190"
#: The store generation of hpcflow 0.3.x (PyPI ``hpcflow``; docs/hpcflow-0.3-format.md).
V03_GENERATION = "0.3.0"


def engine_generation() -> str:
    """The store generation of the hpcflow installed here, from its version
    (``hpcflow.__version__``; imports the ``hpcflow`` package only, not its app):
    ``"0.2.0a190"`` for hpcflow-new2 0.2.x, ``"0.3.0"`` for hpcflow 0.3.x. Another
    version raises :class:`~wfstore.common.errors.UnsupportedFeatureError`;
    ``ImportError`` when hpcflow is not installed."""
    import hpcflow

    version = str(getattr(hpcflow, "__version__", ""))
    if version.startswith("0.2."):
        return A190_GENERATION
    if version.startswith("0.3."):
        return V03_GENERATION
    raise _wf_errors.UnsupportedFeatureError(
        f"hpcflow {version or '(unknown version)'} is installed: wfstore serves "
        "hpcflow-new2 0.2.0a190 and hpcflow 0.3.x stores only."
    )


def _check_engine_generation() -> None:
    """Refuse an engine whose store classes wfstore cannot stand in for (an unknown
    version), before anything is changed."""
    engine_generation()



def _replace(obj: Any, name: str, value: Any) -> None:
    _SAVED.append((obj, name, getattr(obj, name)))
    setattr(obj, name, value)


def register(
    run_chunk_size: int | None = None,
    param_chunk_size: int | None = None,
    durability: Durability | None = None,
) -> None:
    """Make hpcflow use wfstore's stores for every workflow it creates or opens
    (``"zarr"``, ``"json"`` and ``"zip"``), in this process and in the job scripts it
    submits. Calling it again only applies the chunk sizes and durability given.

    Zarr workflows the engine creates get the engine's own layout by default (one run
    and one parameter per chunk file). `run_chunk_size` and `param_chunk_size` (e.g.
    100, wfstore's own default) store that many rows per chunk instead: far fewer files
    and faster builds and reads; wfstore's jobs update shared chunks under the store
    lock (the engine's own store class, if used on such a store by many processes at
    once, would not).

    `durability` (``"full"`` or ``"normal"``, see
    :mod:`wfstore.common.durability`) sets what the stores' writes survive, in this process
    and, through the environment variable ``WFSTORE_DURABILITY`` (which this sets),
    in the processes it starts (job scripts submitted from it inherit it where the
    scheduler passes the environment on, as Slurm does by default). Without it,
    stores take ``WFSTORE_DURABILITY`` if set, else ``"normal"``.

    The installed engine's generation is checked first (:func:`engine_generation`):
    hpcflow-new2 0.2.0a190 gets wfstore's a190 store classes, hpcflow 0.3.x its 0.3
    classes (:mod:`wfstore.persistence.v03`, 0.3.0's layout); an unknown version raises
    :class:`~wfstore.common.errors.UnsupportedFeatureError` and changes nothing."""
    if durability is not None:
        check_durability(durability)
    sizes = {"run_chunk_size": run_chunk_size, "param_chunk_size": param_chunk_size}
    for label, size in sizes.items():
        if size is not None and (
            not isinstance(size, int) or isinstance(size, bool) or size < 1
        ):
            raise _wf_errors.InvalidArgumentError(
                f"{label} must be a positive integer, not {size!r}."
            )
    with _LOCK:
        if not _SAVED:
            _check_engine_generation()
    zarr_cls = store_classes()["zarr"]
    for label, size in sizes.items():
        if size is not None:
            setattr(zarr_cls, label, size)
    if durability is not None:
        for cls in store_classes().values():
            cls.default_durability = durability
        with _LOCK:
            if not _DURABILITY_ENV_BEFORE:
                _DURABILITY_ENV_BEFORE.append(os.environ.get(DURABILITY_ENV_VAR))
        os.environ[DURABILITY_ENV_VAR] = durability
    with _LOCK:
        if _SAVED:
            return
        if engine_generation() == V03_GENERATION:
            import hpcflow.app  # noqa: F401  (0.3.x: its modules import in this order only)
        import hpcflow.sdk.persistence.discovery as discovery
        import hpcflow.sdk.persistence.json as eng_json
        import hpcflow.sdk.persistence.zarr as eng_zarr
        from hpcflow.sdk.runtime import RunTimeInfo

        classes = store_classes()
        table = discovery._ALL_STORE_CLS
        try:
            for fmt in FORMATS:
                if fmt in classes:
                    _SAVED.append((table, fmt, table[fmt]))
                    table[fmt] = classes[fmt]  # type: ignore[index]
            for module, name, fmt in (
                (eng_json, "JSONPersistentStore", "json"),
                (eng_zarr, "ZarrPersistentStore", "zarr"),
                (eng_zarr, "ZarrZipPersistentStore", "zip"),
                (discovery, "JSONPersistentStore", "json"),
                (discovery, "ZarrPersistentStore", "zarr"),
                (discovery, "ZarrZipPersistentStore", "zip"),
            ):
                if fmt in classes:
                    _replace(module, name, classes[fmt])
            _replace(
                RunTimeInfo,
                "invocation_command",
                _wrapped_invocation(RunTimeInfo.__dict__["invocation_command"]),
            )
        except BaseException:
            _restore()
            raise


def _restore() -> None:
    while _SAVED:
        obj, name, value = _SAVED.pop()
        if isinstance(obj, dict):
            obj[name] = value
        else:
            setattr(obj, name, value)


def unregister() -> None:
    """Give hpcflow its own store classes back (undo :func:`register`), and the
    durability setting (the environment variable ``WFSTORE_DURABILITY``) what it was
    before. Workflows already open keep the store they were opened with."""
    with _LOCK:
        _restore()
        if _DURABILITY_ENV_BEFORE:
            before = _DURABILITY_ENV_BEFORE.pop()
            if before is None:
                os.environ.pop(DURABILITY_ENV_VAR, None)
            else:
                os.environ[DURABILITY_ENV_VAR] = before
            for cls in store_classes().values():
                cls.default_durability = None


def engine_store_classes() -> dict[str, type]:
    """The engine's own store classes (by format name) that :func:`register`
    replaced; empty when not registered."""
    with _LOCK:
        return {
            name: value
            for obj, name, value in _SAVED
            if isinstance(obj, dict) and name in FORMATS
        }


def use_in_hpcflow(
    run_chunk_size: int | None = None,
    param_chunk_size: int | None = None,
    durability: Durability | None = None,
) -> dict[str, type]:
    """Make hpcflow (hpcflow-new2 0.2.0a190) persist every workflow through wfstore
    (``wfstore.use_in_hpcflow``): :func:`register` (see it for what changes; undo with
    :func:`unregister`), returning the engine's store classes that were replaced, by
    format name.

    Raises ``ImportError`` when hpcflow is not installed.
    """
    register(
        run_chunk_size=run_chunk_size, param_chunk_size=param_chunk_size, durability=durability
    )
    return engine_store_classes()


def is_registered() -> bool:
    """Whether :func:`register` is in effect."""
    return bool(_SAVED)


def uses_wfstore(workflow: Any) -> bool:
    """Whether an engine workflow object is kept through wfstore."""
    return type(getattr(workflow, "_store", None)) in store_classes().values()


# --- command line -----------------------------------------------------------------------


def _is_python_script(arg: str) -> bool:
    """Whether `arg` names a Python script file (a ``.py`` file, or a console-script
    entry point such as ``bin/hpcflow`` whose ``#!`` line runs Python)."""
    path = Path(arg)
    if not path.is_file():
        return False
    if path.suffix == ".py":
        return True
    try:
        with path.open("rb") as fh:
            first = fh.readline(512)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first


def main(argv: list[str] | None = None) -> None:
    """Run an hpcflow command-line script with wfstore registered:
    ``python -m wfstore.hpcflow <path of the engine's CLI script> [args...]`` (what
    job scripts run while wfstore is registered). Without a script path, runs
    ``hpcflow.cli``."""
    args = list(sys.argv[1:] if argv is None else argv)
    register()
    if args and _is_python_script(args[0]):
        script, rest = args[0], args[1:]
        sys.argv = [script, *rest]
        runpy.run_path(script, run_name="__main__")
    else:
        sys.argv = ["hpcflow", *args]
        runpy.run_module("hpcflow.cli", run_name="__main__", alter_sys=True)

