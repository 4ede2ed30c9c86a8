"""Type stubs of the Rust extension ``wfstore._core``.

Every function releases the GIL while it does I/O or codec work. Errors are raised as
the classes of :mod:`wfstore.common.errors` (all subclasses of ``wfstore.StoreError``).
"""

from collections.abc import Callable, Iterable, Sequence
from os import PathLike
from typing import IO, Any, Final, Literal, TypeAlias, TypedDict

import numpy as np
import numpy.typing as npt

__version__: str

_Path: TypeAlias = str | PathLike[str]
#: ``None`` (no compression), a name (``"blosc"``, ``"zstd"``, ``"none"``) or a numcodecs
#: configuration mapping such as ``{"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1}``.
_Compressor: TypeAlias = str | dict[str, Any] | None
_Progress: TypeAlias = Callable[[int, int], object] | None
#: What a local store's writes survive (``wfstore.Durability``).
Durability: TypeAlias = Literal["full", "normal"]

class _CommitReport(TypedDict):
    written: int  # keys written
    deleted: int  # keys deleted
    journaled: bool  # applied through a journal

class _RechunkReport(TypedDict):
    rows: int
    old_chunk_size: int
    new_chunk_size: int
    chunks_written: int
    backup: str | None  # the backup folder, when one was kept

class _ZipReport(TypedDict):
    entries: int
    bytes: int

# On-disk names, defined once in the core (``wfstore_core::names``).
#: Prefix of every temporary file wfstore writes.
TMP_PREFIX: Final[str]
#: Prefix of commit journals in a store's root folder.
JOURNAL_PREFIX: Final[str]
#: Suffix of the folder a rechunk builds the new array in.
RECHUNK_TMP_SUFFIX: Final[str]
#: Suffix of the old array while a rechunk without backup replaces it.
RECHUNK_OLD_SUFFIX: Final[str]
#: Suffix of the backup of an array a rechunk replaced.
BACKUP_SUFFIX: Final[str]
#: Suffix of an earlier backup while a rechunk with backup replaces it.
BACKUP_OLD_SUFFIX: Final[str]
#: The suffixes of the folders only an interrupted rechunk leaves.
RECHUNK_SUFFIXES: Final[tuple[str, str, str]]
#: The file a rechunk writes in its new array once it is complete.
RECHUNK_COMPLETE_MARKER: Final[str]
#: The store lock file (``fcntl`` protocol) in a store's root folder.
LOCK_NAME: Final[str]
#: The link lock (``link`` protocol) in a store's root folder.
LINK_LOCK_NAME: Final[str]
#: The store-wide change marker in a store's root folder (advanced by every commit).
CHANGE_MARKER_NAME: Final[str]
#: Prefix of the spare files older versions kept in array folders (removed by repair).
LEGACY_SPARE_PREFIX: Final[str]
#: The migration report ``wfstore migrate`` stores in the root of the store it made.
MIGRATION_REPORT_NAME: Final[str]
#: The folder of a migrated store keeping the source's files the target has no place for.
MIGRATION_KEPT_DIR: Final[str]
#: The fields of a run row of ``metadata/runs``, in row order (the engine's layout).
RUN_ROW_FIELDS: Final[tuple[str, ...]]

class Store:
    """A Zarr key-value store: a local folder, a read-only zip archive, or either on
    any fsspec file system."""

    @staticmethod
    def local(root: _Path, fsync: bool = False, durability: Durability | None = None) -> Store:
        """A store over a local folder; every write is atomic (temporary name, rename).
        `durability` (default ``"normal"``; ``fsync=True`` is ``"full"``) sets what its
        writes survive: see ``wfstore.Durability``. An unknown name raises
        ``InvalidArgumentError``."""
    @staticmethod
    def zip(archive: _Path) -> Store:
        """A read-only store over a zip archive, read in place."""
    @staticmethod
    def zip_file(file: IO[bytes], location: str | None = None, lock: Any | None = None) -> Store:
        """A read-only store over a zip archive read from a binary file object (an
        fsspec file, ``open(path, "rb")``, ``BytesIO``) through the core's zip reader;
        `location` names it (default: the file's ``path`` or ``name``). Each read of the
        file holds `lock` (a ``threading`` lock; default: one of its own), e.g. the
        file system's :func:`wfstore.storage.fsspec.io_lock`. The file must stay open
        while the store is used."""
    @staticmethod
    def from_python(obj: Any) -> Store:
        """A store calling back into a Python key-value object with ``get(key) -> bytes |
        None``, ``set(key, value)``, ``delete(key)``, ``list_dir(prefix) -> list[str]`` and
        the attributes ``location`` and ``read_only``. Exceptions it raises reach the
        caller unchanged."""
    def zip_entries(self) -> list[tuple[str, int]]:
        """A zip archive's file entries as ``(name, uncompressed size)``, sorted by
        name (``InvalidArgumentError`` for other stores)."""
    def check_zip_entry(self, name: str) -> None:
        """Read a zip archive's entry whole, checking its CRC-32 (``get`` checks
        deflated entries only); raises ``ZipArchiveError`` (or ``UnsafeArchiveError``)
        saying what is wrong."""
    @property
    def location(self) -> str: ...
    @property
    def read_only(self) -> bool: ...
    def get(self, key: str) -> bytes | None: ...
    def set(self, key: str, value: bytes) -> None: ...
    def delete(self, key: str) -> None: ...
    def list_dir(self, prefix: str = "") -> list[str]: ...
    def remove_empty_dir(self, prefix: str) -> bool:
        """Remove the folder `prefix` if it is empty; whether it was removed."""
    @property
    def durability(self) -> Durability | None:
        """What a local folder's writes survive; ``None`` for other stores."""
    @property
    def transactional(self) -> bool:
        """Whether the store supports transactions (all but zip archives)."""
    @property
    def in_transaction(self) -> bool: ...
    def begin(self) -> None:
        """Stage writes and deletes in memory (reads see them) until commit/rollback."""
    def commit(self, journal: bool = True) -> _CommitReport:
        """Apply the staged changes all or nothing; ``{"written", "deleted", "journaled"}``.
        ``journal=False``: in order without a journal (chunks, then metadata keys as
        staged), for appends made visible by the last metadata key staged."""
    def staged_keys(self) -> list[str]:
        """The keys staged in the open transaction, in the order first staged."""
    def rollback(self) -> None: ...
    def recover_journals(self) -> int:
        """Finish commits a crash or lost connection left half-applied (local folders,
        and stores over file systems that rename keys); the number finished."""
    def create_group(self, path: str, attrs: dict[str, Any] | None = None) -> None: ...
    def read_attrs(self, path: str = "") -> dict[str, Any]: ...
    @staticmethod
    def parse_attrs(data: bytes, path: str = "") -> dict[str, Any]:
        """Attributes as ``read_attrs`` reads them, from the bytes of the ``.zattrs``
        of `path`."""
    def write_attrs(self, path: str, attrs: dict[str, Any]) -> None: ...

class ObjectArray:
    """A 1-D Zarr v2 object array of msgpack values (numcodecs ``MsgPack``)."""

    @staticmethod
    def create(
        store: Store,
        path: str,
        length: int = 0,
        chunk_size: int | None = 1000,
        compressor: _Compressor = None,
        compressor_kwargs: dict[str, Any] | None = None,
        fill_value: Any = None,
        attrs: dict[str, Any] | None = None,
        write_empty_chunks: bool = True,
        overwrite: bool = False,
    ) -> ObjectArray:
        """Create an array. ``chunk_size=None`` makes one chunk holding every row;
        ``fill_value=None`` means 0 (the engine's fill value)."""
    @staticmethod
    def open(store: Store, path: str, write_empty_chunks: bool = True) -> ObjectArray: ...
    @property
    def path(self) -> str: ...
    @property
    def store(self) -> Store: ...
    @property
    def chunk_size(self) -> int: ...
    @property
    def num_chunks(self) -> int: ...
    @property
    def fill_value(self) -> Any: ...
    @property
    def object_codec(self) -> dict[str, Any]:
        """The object codec's filter configuration (as in ``.zarray``'s filters)."""
    @property
    def meta(self) -> dict[str, Any]:
        """The ``.zarray`` document."""
    def __len__(self) -> int: ...
    def reload(self) -> None: ...
    def get(self, indices: Sequence[int] | npt.NDArray[np.integer[Any]]) -> list[Any]: ...
    def get_range(self, start: int = 0, stop: int | None = None) -> list[Any]: ...
    def read_chunks(self, chunks: Sequence[int]) -> list[ObjectChunk] | None:
        """Chunks `chunks` (indices), each read whole as an `ObjectChunk` whose rows
        are decoded when asked for; None unless the codec is msgpack."""
    def set(
        self, indices: Sequence[int] | npt.NDArray[np.integer[Any]], values: Iterable[Any]
    ) -> None: ...
    def set_unless_map(
        self,
        indices: Sequence[int] | npt.NDArray[np.integer[Any]],
        values: Iterable[Any],
        known: dict[int, ObjectChunk] | None = None,
    ) -> list[int]:
        """:meth:`set`, only where no row to set holds a map now (an unset parameter's
        row); each chunk is read once, unless `known` holds it (as :meth:`patch`).
        Returns the indices of rows holding a map, in the order given (then nothing is
        written)."""
    def with_write_empty_chunks(self, write_empty_chunks: bool) -> ObjectArray:
        """This array as it is now, writing with `write_empty_chunks` as given (its
        metadata are not read again)."""
    def patch(
        self,
        indices: Sequence[int] | npt.NDArray[np.integer[Any]],
        patches: Iterable[dict[int, Any]],
        known: dict[int, ObjectChunk] | None = None,
    ) -> list[tuple[int, ObjectChunk]]:
        """Set fields of rows in place (``patches[k]``: field position -> value of row
        ``indices[k]``); a chunk in `known` is taken as what is stored, not read (the
        caller knows nobody changed it since); returns the msgpack chunks as written,
        ``(index, chunk)``."""
    def append(self, values: Iterable[Any]) -> int:
        """Append rows; returns the new length."""
    def resize(self, length: int) -> None: ...
    def attrs(self) -> dict[str, Any]: ...
    def set_attrs(self, attrs: dict[str, Any]) -> None: ...
    def verify(self) -> list[tuple[str, str]]:
        """``(chunk key, reason)`` of every chunk that fails to decode."""

class NumericArray:
    """An N-dimensional numeric, bool or structured (record) Zarr v2 array in C order
    (a structured dtype: packed numeric fields, a list descr in ``.zarray``)."""

    @staticmethod
    def create(
        store: Store,
        path: str,
        data: npt.NDArray[Any],
        chunks: Sequence[int] | None = None,
        compressor: _Compressor = None,
        compressor_kwargs: dict[str, Any] | None = None,
        fill_value: Any = None,
        overwrite: bool = False,
        dimension_separator: str | None = None,
        write_empty_chunks: bool = True,
    ) -> NumericArray: ...
    @staticmethod
    def open(store: Store, path: str, write_empty_chunks: bool = True) -> NumericArray: ...
    @property
    def dtype(self) -> str: ...
    @property
    def numpy_dtype(self) -> np.dtype[Any]: ...
    @property
    def shape(self) -> list[int]: ...
    @property
    def chunks(self) -> list[int]: ...
    @property
    def meta(self) -> dict[str, Any]: ...
    @property
    def fill(self) -> Any:
        """The fill value as one item (a numpy scalar or record)."""
    def __len__(self) -> int: ...
    def read(self) -> npt.NDArray[Any]: ...
    def get_rows(self, ids: Sequence[int]) -> npt.NDArray[Any]:
        """Rows `ids` along the first axis, in that order."""
    def chunk_rows(self, c: int) -> npt.NDArray[Any]:
        """Every row of chunk `c` along the first axis (fill values where not stored)."""
    def decode_chunk(self, raw: bytes, key: str) -> npt.NDArray[Any]:
        """The rows of the stored chunk bytes `raw` of chunk `key`."""
    def verify(self) -> list[tuple[str, str]]:
        """``(chunk key, reason)`` for every stored chunk within the shape that does not
        decompress to exactly one chunk of items."""
    def set_rows(self, ids: Sequence[int], data: Any) -> None:
        """Set rows `ids` (a chunk of fill values only deleted if not
        `write_empty_chunks`)."""
    def resize(self, length: int) -> None: ...

def encode_object_chunk(items: Iterable[Any], compressor: _Compressor = None) -> bytes: ...
def decode_object_chunk(data: bytes, compressor: _Compressor = None) -> list[Any]: ...
def split_object_chunk(
    data: bytes, compressor: _Compressor, rows: int, path: str, key: str
) -> ObjectChunk:
    """The rows of a msgpack object chunk (stored bytes), each decoded when read;
    CorruptChunkError (naming `path` and `key`) unless it holds `rows` items."""

class ObjectChunk:
    """A msgpack object chunk's rows as their encoded bytes; ``chunk[i]`` decodes row
    i (a new object at every call)."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> Any: ...
    def get(self, rows: Sequence[int]) -> list[Any]:
        """Rows `rows` (positions in the chunk), each decoded as ``chunk[k]`` is."""
    @property
    def nbytes(self) -> int: ...

def compress(data: bytes, compressor: _Compressor, typesize: int = 1) -> bytes: ...
def decompress(data: bytes, compressor: _Compressor) -> bytes: ...
def compressor_config(
    name: _Compressor, kwargs: dict[str, Any] | None = None
) -> dict[str, Any] | None: ...
def rechunk_array(
    store: Store,
    path: str,
    chunk_size: int | None = None,
    backup: bool = False,
    progress: _Progress = None,
) -> _RechunkReport:
    """Rechunk the object array `path` of `store` (a local folder, or a Python store
    with ``rename_dir``, such as an fsspec file system's) to `chunk_size` rows per chunk
    (None: one chunk), keeping the old array as ``<path>.bak`` when `backup`; an
    interrupted rechunk is finished or rolled back first."""

def recover_rechunk_array(store: Store, path: str) -> bool:
    """Finish or roll back an interrupted rechunk of the array `path` of `store`; True
    when something was done."""

def zip_dir(
    src: _Path, dst: _Path, exclude: Sequence[str] = (), progress: _Progress = None
) -> _ZipReport: ...
def unzip(archive: _Path, dest: _Path, progress: _Progress = None) -> _ZipReport: ...
def recover_journals(root: _Path, locked: bool = False) -> int:
    """Finish commits that crashed writers left half-applied; returns how many. With
    `locked` (the caller holds the store lock, which every journaled commit holds until
    its journal is gone) every journal is finished; without, only those whose writer
    was a process of this host that is gone, or older than a minute."""

def write_atomic(
    path: _Path, data: bytes, fsync: bool = False, durability: Durability | None = None
) -> None:
    """Write a file atomically (temporary name in the same folder, then rename)."""

def write_files_atomic(
    files: list[tuple[_Path, bytes]], durability: Durability | None = None
) -> None:
    """Write several files atomically: every value to a temporary sibling, then the
    renames in order (``"full"``: flushed before the first rename and after the last).
    A failure before the renames leaves every file as it was (a ``StoreIOError``)."""

def replace_file(tmp: _Path, dst: _Path, durability: Durability | None = None) -> None:
    """Rename the file `tmp` over its sibling `dst` (with ``"full"`` durability the
    folder is flushed after). On failure `dst` is unchanged and `tmp` is left to the
    caller (a ``StoreIOError`` naming `dst`)."""

def decode_runs(
    chunk: ObjectChunk,
    rows: Sequence[int],
    cls: type[Any],
    parameter_paths: list[str],
    ts_fmt: str,
    decode_ts: Callable[[Any, str], Any],
) -> list[Any]: ...
def json_spans(
    data: bytes, itemised: Sequence[str]
) -> list[tuple[str, int, int, int, list[str] | None, list[int] | None]] | None:
    """Byte spans of a compact ASCII JSON object's members (key, start, value start,
    end) and of the items of the `itemised` members (a flat list of start/end pairs,
    with the keys for an object value); None if `data` is not such an object."""
