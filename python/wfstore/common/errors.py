"""Exception classes raised by wfstore.

Every wfstore exception derives from :class:`StoreError`. Several also derive from
the built-in exception type that the engine (hpcflow) raises in the same situation,
so that engine code catching e.g. ``ValueError`` keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable


class StoreError(Exception):
    """Root of all wfstore errors."""


# --- persistence layer (python/wfstore/persistence) ---------------------------------


class MissingStoreItemError(StoreError, ValueError):
    """Some requested store items do not exist.

    Parameters
    ----------
    id_lst:
        The IDs that were requested but do not exist.
    """

    #: Human-readable name of the item type, used in the message.
    item_type: str = "item"

    def __init__(self, id_lst: Iterable[int]) -> None:
        self.id_lst: list[int] = list(id_lst)
        super().__init__(
            f"Store {self.item_type}s with the following IDs do not exist: "
            f"{self.id_lst!r}"
        )


class MissingStoreTaskError(MissingStoreItemError):
    """Some task IDs (or indices) do not exist."""

    item_type = "task"


class MissingStoreElementError(MissingStoreItemError):
    """Some element IDs do not exist."""

    item_type = "element"


class MissingStoreElementIterationError(MissingStoreItemError):
    """Some element iteration IDs do not exist."""

    item_type = "element iteration"


class MissingStoreEARError(MissingStoreItemError):
    """Some element action run (EAR) IDs do not exist."""

    item_type = "EAR"


class MissingParameterData(MissingStoreItemError):
    """Some parameter IDs do not exist."""

    item_type = "parameter"


class ParameterEncodeError(StoreError, ValueError):
    """A parameter value cannot be stored by this kind of store.

    Parameters
    ----------
    param_id:
        The ID of the parameter whose value could not be stored (None if not known).
    value_type:
        The type of the offending (sub-)value.
    store_kind:
        The name of the store kind (``"json"``, ``"zarr"``, ...).
    path:
        Location of the offending sub-value within the parameter value.
    """

    def __init__(
        self,
        param_id: int | None,
        value_type: type,
        store_kind: str,
        path: Iterable[int | str] = (),
    ) -> None:
        self.param_id = param_id
        self.value_type = value_type
        self.store_kind = store_kind
        self.path = list(path)
        where = f" at path {self.path!r}" if self.path else ""
        super().__init__(
            f"Parameter ID {param_id!r}: a value of type "
            f"{value_type.__module__}.{value_type.__qualname__}{where} cannot be stored "
            f"in a {store_kind!r} store (it cannot be serialised there)."
        )


class ParameterAlreadySetError(StoreError, RuntimeError):
    """An attempt was made to set the value of a parameter that is already set."""

    def __init__(self, param_id: int) -> None:
        self.param_id = param_id
        super().__init__(f"Parameter ID {param_id!r} is already set.")


class ParametersMetadataReadOnlyError(StoreError, RuntimeError):
    """Parameters were to be added or their sources changed while the parameters-metadata
    cache of an hpcflow 0.3 store is in use (``parameters_metadata_cache()``)."""


class UnsupportedStoreOperationError(StoreError, TypeError):
    """The operation is not supported by this kind of store (e.g. zipping a JSON
    store)."""


class StoreResourceError(StoreError, RuntimeError):
    """A store resource was misused (unknown resource label or action)."""


# --- core errors (raised by the Rust core, wfstore._core) ----------------------------


class StoreIOError(StoreError, OSError):
    """An operating-system I/O failure (disk full, permission denied, ...)."""


class ArrayNotFoundError(StoreError, FileNotFoundError):
    """No array at the given path."""


class ArrayExistsError(StoreError, FileExistsError):
    """An array already exists where one was to be created."""


class MetadataError(StoreError):
    """A ``.zarray``, ``.zattrs`` or ``.zgroup`` document is broken or invalid."""


class UnsupportedFeatureError(StoreError):
    """The data uses a Zarr feature wfstore does not implement (e.g. an unknown codec)."""


class CorruptChunkError(StoreError):
    """A chunk cannot be decoded. ``path`` names the array and ``key`` the chunk."""

    path: str | None = None
    key: str | None = None


class CorruptFileError(CorruptChunkError):
    """A store file that is not a Zarr chunk (an hpcflow 0.3 run file, parameter file or
    array-output archive) cannot be decoded. ``path`` and ``key`` name the file."""


class CorruptArchiveError(CorruptFileError, ValueError):
    """An hpcflow 0.3 array-output archive (``*.npz.zst``) cannot be decoded (a
    ``ValueError`` too, as hpcflow 0.3.0's own reader raises). ``path`` and ``key``
    name the archive."""


class ArchiveCompressionError(CorruptArchiveError):
    """An hpcflow 0.3 array-output archive is not a valid zstd frame. With the engine
    registered (:func:`wfstore.hpcflow.register`) it reaches the engine as
    ``zstandard.ZstdError`` too, which hpcflow 0.3.0's reader raises there."""


class MissingArrayOutputError(StoreError, FileNotFoundError):
    """A run output's numpy array is kept only in an hpcflow 0.3 array-output archive
    (NPZ) and that archive does not exist. ``path`` names the archive expected."""

    path: str | None = None


class ArrayOutputDtypeError(StoreError, TypeError):
    """A numpy array appended to an hpcflow 0.3 array-output archive has a dtype the
    archive's earlier entries cannot take."""


class CodecError(StoreError):
    """A codec failed on bytes given directly (not read from a store)."""


class EncodeError(StoreError, ValueError):
    """A value cannot be encoded for storage."""


class StoreIndexError(StoreError, IndexError):
    """A row index beyond the end of an array."""


class InvalidArgumentError(StoreError, ValueError):
    """Arguments that do not fit together."""


class SubmissionNotFinishedError(StoreError):
    """A submission some runs of which have neither ended nor been skipped (its files
    may still be written by jobs), where a finished one is needed (consolidation)."""


class ReadOnlyStoreError(StoreError):
    """A write to a read-only store (such as a zip archive)."""


class RechunkError(StoreError):
    """A rechunk found chunks it cannot decode; nothing was changed.

    ``bad_chunks`` lists ``(chunk key, reason)`` pairs.
    """

    def __init__(
        self,
        *args: object,
        path: str | None = None,
        bad_chunks: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(*args)
        self.path = path
        self.bad_chunks: list[tuple[str, str]] = list(bad_chunks or [])


class ZipArchiveError(StoreError):
    """A zip archive cannot be read or written."""


class UnsafeArchiveError(ZipArchiveError):
    """An archive entry would escape the destination folder, or is a link."""


class MissingStoreLoopError(MissingStoreItemError):
    """Some loop IDs (indices) do not exist."""

    item_type = "loop"


class MissingStoreSubmissionError(MissingStoreItemError):
    """Some submission indices do not exist."""

    item_type = "submission"


class StorePathError(StoreError, ValueError):
    """A store path is unusable (e.g. a copy destination that already exists)."""


class StoreLockError(StoreError, TimeoutError):
    """The store's writer lock could not be taken (timed out) or released."""


class ConcurrentModificationError(StoreError, RuntimeError):
    """Another process changed the store in a way that conflicts with this commit
    (for example it appended items with the IDs this process assigned); nothing of the
    conflicting step was written."""


# --- package-level API (wfstore.tools.stores) ------------------------------------------------


class UnknownStoreKindError(StoreError, ValueError):
    """A store kind name that is not one of ``json``, ``zarr``, ``zip``."""


class StoreNotFoundError(StorePathError, FileNotFoundError):
    """No workflow store (of any kind) at the given path."""


class StoreExistsError(StorePathError, FileExistsError):
    """A store was to be created where a non-empty file or folder already exists."""


# --- migration between engine generations (wfstore.tools.migrate) ---------------------


class MigrationError(StoreError):
    """A store cannot be migrated to another engine generation."""


class MigrationRefusedError(MigrationError):
    """The pre-flight check found what a migration cannot carry; nothing was written.

    Parameters
    ----------
    reasons:
        One line per refusal, each naming what it concerns (a submission, a run, ...).
    """

    def __init__(self, reasons: Iterable[str]) -> None:
        self.reasons: list[str] = list(reasons)
        super().__init__(
            "migration refused (nothing was written): " + "; ".join(self.reasons)
        )


class MigrationUnavailableError(MigrationError, NotImplementedError):
    """A migration step this build of wfstore cannot perform (named in the message)."""
