"""Store resources: documents that a store loads once, shares and writes back once.

A store maps its data onto named resources (e.g. the JSON store's ``metadata``,
``submissions`` and ``parameters`` files, or the Zarr store's root ``attrs``).
:meth:`PersistentStore.using_resource` opens a resource for an action (``"read"`` or
``"update"``); nested uses of the same (resource, action) share one copy of the data,
and an updated resource is written back once, when its outermost ``"update"`` use
exits without error, and only if its contents changed.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

from fsspec import AbstractFileSystem

from wfstore import _core
from wfstore._core import json_spans
from wfstore.common.durability import Durability
from wfstore.common.errors import StoreError, StoreIOError, StoreResourceError
from wfstore.storage.fsspec import io_lock, is_local_fs, write_bytes

#: The actions a resource can be opened for.
ACTIONS: tuple[str, str] = ("read", "update")


def _fingerprint(data: Any) -> str | None:
    """A digest of `data`'s JSON form, used to detect changes (None if `data` cannot
    be represented as JSON)."""
    try:
        text = json.dumps(data, default=repr)
    except (TypeError, ValueError):
        return None
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class StoreResource(ABC):
    """A document of store data shared by all uses within a store.

    Parameters
    ----------
    name:
        The resource label.
    logger:
        Logger for debug messages.
    """

    def __init__(self, name: str, logger: logging.Logger | None = None) -> None:
        self.name = name
        self.logger = logger or logging.getLogger("wfstore")
        #: Data currently open per action (None when not open).
        self.data: dict[str, Any] = dict.fromkeys(ACTIONS)
        self._fingerprint: str | None = None
        #: The data the last :meth:`_load_for_read` handed out if shared (a cache's),
        #: and whether the open read use holds them.
        self._shared: Any = None
        self._read_shared = False

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(name={self.name!r})"

    @abstractmethod
    def _load(self) -> Any:
        """Read the resource from storage."""

    @abstractmethod
    def _dump(self, data: Any) -> None:
        """Write the resource to storage."""

    def _check_action(self, action: str) -> None:
        if action not in ACTIONS:
            raise StoreResourceError(
                f"Unknown action {action!r} for store resource {self.name!r}; "
                f"expected one of {ACTIONS!r}."
            )

    def open(self, action: str) -> Any:
        """Open the resource for `action` and return its data.

        Opening to read while it is open to update gives a deep copy of the update data
        (so reads see pending writes, but cannot change them); opening to update while
        it is open to read reuses the read data.
        """
        self._check_action(action)
        if action == "read":
            upd = self.data["update"]
            if upd is not None:
                data = copy.deepcopy(upd)
                self._read_shared = False
            else:
                data = self._load_for_read()
                self._read_shared = data is not None and data is self._shared
        else:
            rd = self.data["read"]
            if rd is not None and self._read_shared:
                # the read data are a cache's (shared between operations): the update
                # changes a copy, which the open read use then sees as well
                rd = self.data["read"] = copy.deepcopy(rd)
                self._read_shared = False
            data = rd if rd is not None else self._load()
            self._fingerprint = self._fingerprint_opened(data)
        self.data[action] = data
        return data

    def _load_for_read(self) -> Any:
        """Read the resource for a read use: by default as :meth:`_load`. A resource
        may return data it keeps between uses (see ``CallbackStoreResource``'s
        `load_shared`); they are never changed in place (an update copies them)."""
        return self._load()

    def _fingerprint_opened(self, data: Any) -> Any:
        """The fingerprint of `data` as opened for update (None: changes cannot be
        detected)."""
        return _fingerprint(data)

    def _fingerprint_closing(self, data: Any) -> Any:
        """The fingerprint of `data` as it is when its update use closes."""
        return _fingerprint(data)

    def close(self, action: str) -> None:
        """Close the resource for `action`; for ``"update"``, write the data if it
        changed (or if changes cannot be detected)."""
        self._check_action(action)
        data = self.data[action]
        if action == "update" and data is not None:
            new_fp = self._fingerprint_closing(data)
            if new_fp is None or new_fp != self._fingerprint:
                self.logger.debug(f"{self!r}: writing changed data.")
                self._dump(data)
            self._fingerprint = None
        self.data[action] = None

    def discard(self, action: str) -> None:
        """Close the resource for `action` without writing anything."""
        self._check_action(action)
        self.data[action] = None
        if action == "update":
            self._fingerprint = None


def write_bytes_atomic(
    fs: AbstractFileSystem,
    path: str,
    payload: bytes,
    fsync: bool = False,
    durability: Durability = "normal",
) -> None:
    """Write `payload` to `path` on `fs`, so that readers never see a partial file.

    On the local file system the bytes go to a temporary file in the same folder,
    which then replaces `path` as `durability` says (:mod:`wfstore.common.durability`:
    ``"full"`` flushes the file before the rename and the folder after; `fsync` is
    ``"full"``; the default, ``"normal"``, flushes nothing, as the Rust core's writes
    and hpcflow's). On any other file system they are written as
    :func:`wfstore.storage.fsspec.write_bytes` writes them (a temporary name renamed into
    place, or one whole put on object stores and the memory file system).
    """
    if is_local_fs(fs):
        write_files_atomic(fs, [(path, payload)], "full" if fsync else durability)
    else:
        write_bytes(fs, path, payload)


def write_files_atomic(
    fs: AbstractFileSystem,
    files: Sequence[tuple[str, bytes]],
    durability: Durability = "normal",
) -> None:
    """Write several files so that readers see each one whole, and a failure while
    writing (disk full, ...) changes none of them.

    On the local file system every payload first goes to a temporary file beside its
    target; only when all are written are they put in place, as `durability` says
    (see :func:`write_bytes_atomic`), so the window in which some but not all files
    are new is a few renames long. On any other file system the files are written one
    by one as :func:`write_bytes_atomic` writes them.
    """
    if not is_local_fs(fs):
        for path, payload in files:
            write_bytes(fs, path, payload)
        return
    # the core's one write path (recorded by its crash-state tests)
    _core.write_files_atomic([(path, payload) for path, payload in files], durability)


def _not_serialisable(obj: Any) -> Any:
    raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")


def _make_encoder() -> Callable[[Any], str]:
    """A function giving what ``json.dumps(obj, separators=(",", ":"))`` gives: the C
    encoder made once (``json.dumps`` makes one per call, which costs as much as
    encoding a small item), without the check for circular references (circular data
    then raises ``RecursionError`` instead of ``ValueError``)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the pure-Python encoder
        return json.JSONEncoder(separators=(",", ":")).encode
    iterencode = make(
        None,  # markers: no circular-reference check
        _not_serialisable,
        json.encoder.encode_basestring_ascii,
        None,  # indent
        ":",
        ",",
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan, as json.dumps
    )

    def encode(obj: Any) -> str:
        return "".join(iterencode(obj, 0))

    return encode


#: Encodes one value as compact JSON (see :func:`_make_encoder`).
_ENC: Callable[[Any], str] = _make_encoder()


class _Fallback(Exception):
    """An incremental encoding meets data it does not handle (e.g. a non-string key):
    encode the whole document instead."""


class _Plain:
    """The encoding of one top-level entry of a document: ``"key":<value>``."""

    __slots__ = ("text",)

    def __init__(self, key: str, value: Any) -> None:
        self.text = f"{_ENC(key)}:{_ENC(value)}"

    @classmethod
    def of_text(cls, text: str) -> _Plain:
        """The entry whose encoding is `text`."""
        self = cls.__new__(cls)
        self.text = text
        return self


class _Items:
    """The encoding of one top-level entry whose value is a list or a string-keyed
    object, kept per item so that changing one item re-encodes only that item."""

    __slots__ = ("_text", "head", "is_list", "parts")

    def __init__(self, key: str, value: list | dict) -> None:
        self.head = f"{_ENC(key)}:"
        self.is_list = isinstance(value, list)
        self.parts: list[str] | dict[str, str]
        if self.is_list:
            self.parts = [_ENC(v) for v in value]
        else:
            if not all(isinstance(k, str) for k in value):
                raise _Fallback
            self.parts = {k: f"{_ENC(k)}:{_ENC(v)}" for k, v in value.items()}
        self._text: str | None = None

    @classmethod
    def of_parts(
        cls, head: str, parts: list[str] | dict[str, str], text: str | None = None
    ) -> _Items:
        """The entry whose head is `head` (``"key":``) and whose items' encodings are
        `parts` (for an object value: ``"item key":<value>`` by item key); `text`, if
        given, is what joining them gives."""
        self = cls.__new__(cls)
        self.head = head
        self.is_list = isinstance(parts, list)
        self.parts = parts
        self._text = text
        return self

    @property
    def text(self) -> str:
        if self._text is None:
            if self.is_list:
                self._text = f"{self.head}[{','.join(self.parts)}]"  # type: ignore[arg-type]
            else:
                parts = self.parts
                self._text = f"{self.head}{{{','.join(parts.values())}}}"  # type: ignore[union-attr]
        return self._text

    def update(self, value: list | dict, marked: set[Any]) -> None:
        """Re-encode the `marked` items of `value` and any items it gained, and make
        each of them what parsing its encoding gives."""
        if self.is_list:
            self._update_list(value, marked)  # type: ignore[arg-type]
        else:
            self._update_dict(value, marked)  # type: ignore[arg-type]

    def _update_list(self, value: list, marked: set[int]) -> None:
        parts: list[str] = self.parts  # type: ignore[assignment]
        n_old, n = len(parts), len(value)
        if n < n_old:
            raise _Fallback  # items were removed: encode the entry again
        changed = n > n_old
        for i in marked:
            j = i + n if i < 0 else i
            if 0 <= j < n_old:
                parts[j] = text = _ENC(value[j])
                value[j] = json.loads(text)
                changed = True
        for j in range(n_old, n):
            parts.append(text := _ENC(value[j]))
            value[j] = json.loads(text)
        if changed:
            self._text = None

    def _update_dict(self, value: dict, marked: set[Any]) -> None:
        parts: dict[str, str] = self.parts  # type: ignore[assignment]
        changed = False

        def put(k: Any) -> None:
            if not isinstance(k, str):
                raise _Fallback
            head, text = _ENC(k), _ENC(value[k])
            parts[k] = f"{head}:{text}"
            value[k] = json.loads(text)

        reorder = len(value) != len(parts)
        for k in marked:
            if k in value and k in parts:
                put(k)  # keeps its place
                changed = True
            else:
                reorder = True  # a new or removed item
        if reorder:
            for k in value:
                if k not in parts:
                    put(k)
            # the document's order, without items it no longer has:
            self.parts = {k: parts[k] for k in value}
            changed = True
        if changed:
            self._text = None


def _frags_of_bytes(raw: bytes, itemised: Iterable[str]) -> dict[str, _Plain | _Items] | None:
    """The encoding by top-level key (and by item for the `itemised` keys) of the
    document in `raw`, cut from `raw` itself (``_core.json_spans``: no parsing, no
    encoding), or None unless `raw` is compact ASCII JSON of an object, as this module
    writes it. Joined, the pieces give `raw` back."""
    spans = json_spans(raw, list(itemised))
    if spans is None:
        return None
    text = raw.decode("ascii")
    frags: dict[str, _Plain | _Items] = {}
    for key, start, value_start, end, item_keys, offsets in spans:
        if offsets is None:
            frags[key] = _Plain.of_text(text[start:end])
            continue
        bounds = iter(offsets)
        pieces = [text[a:b] for a, b in zip(bounds, bounds)]
        parts: list[str] | dict[str, str] = pieces
        if item_keys is not None:
            parts = dict(zip(item_keys, pieces))
            if len(parts) != len(pieces):
                return None  # an item key twice
        frags[key] = _Items.of_parts(text[start:value_start], parts, text[start:end])
    return frags


class _Marks:
    """What the code using a resource for update said it changed."""

    __slots__ = ("all", "items", "keys")

    def __init__(self) -> None:
        #: Everything may have changed (encode the whole document).
        self.all = False
        #: Top-level keys whose values changed.
        self.keys: set[str] = set()
        #: Top-level key -> indices or keys of its items that changed.
        self.items: dict[str, set[Any]] = {}

    def __bool__(self) -> bool:
        return self.all or bool(self.keys) or bool(self.items)


#: Item to mark in :meth:`JSONFileStoreResource.mark` when the whole value changed.
WHOLE: Any = object()


class JSONFileStoreResource(StoreResource):
    """A resource kept as one JSON file, cached between uses.

    The file is written as compact JSON by the standard library's C encoder (readers,
    hpcflow's included, parse it as they parse its indented form).

    **Cache.** The parsed document is kept with the exact bytes it was parsed from
    (or last written as). Each use compares the file's bytes with those (reading a
    file is far cheaper than parsing it), and parses again only if another writer
    changed the file. The store's own reads use the cached document without copying
    it (:meth:`current`; they must not change it); ``using_resource(..., "read")``
    hands out the document itself and forgets it, so what a caller does with it
    cannot reach the cache.

    **Incremental encoding.** The encoding of the document is kept per top-level key,
    and for the keys in `itemised` per item of their list or object value. Code that
    changes the document while it is open for update says what it changed with
    :meth:`mark`; closing then re-encodes only that (plus items appended to itemised
    values), replaces each changed value by what parsing its encoding gives (so the
    cache holds what a reader of the file would get), and joins the pieces. An update
    use that marks nothing specific, or marks everything, encodes the whole document.
    The first update after reading a file in this compact form takes the unchanged
    pieces from the file's bytes (cut at the spans ``_core.json_spans`` finds), so a
    process that opens a store and commits once encodes only what it changed.
    With :attr:`verify_encoding` every incremental encoding is checked against a full
    one (the tests do this, so a change made without its mark fails loudly).

    **Writing.** An updated document is written (atomically on the local file system)
    only if its bytes differ from the file's. If :attr:`stage` holds a list, closing
    queues the write there instead and the owner writes all queued files together
    (:meth:`write_staged`). Any failure drops the cache: the next use reads the file.

    Parameters
    ----------
    name:
        The resource label.
    path:
        The folder holding the file.
    filename:
        The file name.
    fs:
        The file system holding the folder.
    logger:
        Logger for debug messages.
    itemised:
        Top-level keys whose list or object values are encoded item by item.
    durability:
        What the file's writes survive (see :mod:`wfstore.common.durability`).
    """

    #: Check every incremental encoding against a full encoding of the document (on
    #: when the environment variable ``WFSTORE_VERIFY_JSON_ENCODING`` is set non-empty).
    verify_encoding: ClassVar[bool] = bool(os.environ.get("WFSTORE_VERIFY_JSON_ENCODING"))

    def __init__(
        self,
        name: str,
        path: str,
        filename: str,
        fs: AbstractFileSystem,
        logger: logging.Logger | None = None,
        itemised: Iterable[str] = (),
        durability: Durability = "normal",
    ) -> None:
        super().__init__(name, logger)
        #: What the file's writes survive (see :mod:`wfstore.common.durability`).
        self.durability: Durability = durability
        self.path = str(path)
        self.filename = filename
        self.fs = fs
        self.itemised = frozenset(itemised)
        self._local = is_local_fs(fs)
        #: The file's bytes as last read or written (None: not known).
        self._raw: bytes | None = None
        #: Whether `_raw` is this resource's encoding of its document (it wrote it).
        self._raw_ours = False
        #: The cached document: the parse of `_raw` (None: parse again).
        self._doc: Any = None
        #: The encoding of the parse of `_raw`, by top-level key (None: not made yet).
        self._frags: dict[str, _Plain | _Items] | None = None
        #: Marks of the open update use.
        self._marks: _Marks | None = None
        #: Uses of the cached document without checking the file (``cached_load``).
        self.trusted = 0
        #: Where closing an update queues its write (None: write at once).
        self.stage: list[tuple[JSONFileStoreResource, Any, bytes]] | None = None

    @property
    def full_path(self) -> str:
        """The file's path on its file system."""
        return f"{self.path.rstrip('/')}/{self.filename}"

    @staticmethod
    def _encode(data: Any) -> bytes:
        return json.dumps(data, separators=(",", ":")).encode("utf-8")

    # --- reading -------------------------------------------------------------------

    def _read_raw(self) -> bytes:
        try:
            if self._local:
                with open(self.full_path, "rb") as fh:
                    return fh.read()
            with io_lock(self.fs), self.fs.open(self.full_path, "rb") as fh:
                return fh.read()
        except (FileNotFoundError, StoreError):
            raise
        except Exception as exc:
            raise StoreIOError(
                getattr(exc, "errno", None) or 0,
                f"cannot read {self.full_path!r}: {type(exc).__name__}: {exc}",
                self.full_path,
            ) from exc

    def _parse(self, raw: bytes) -> Any:
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise StoreResourceError(
                f"Store resource {self.name!r}: {self.full_path!r} is not a JSON document ({exc})."
            ) from exc

    def current(self) -> Any:
        """The document as the store sees it now: the data open for update (or read),
        else the cached document, parsed again first if the file changed. Not a copy:
        callers must not change it."""
        data = self.data["update"]
        if data is None:
            data = self.data["read"]
        if data is not None:
            return data
        if self.trusted and self._doc is not None:
            return self._doc
        raw = self._read_raw()
        if raw != self._raw:
            self._raw, self._doc, self._frags, self._raw_ours = raw, None, None, False
        if self._doc is None:
            self.logger.debug(f"{self!r}: parsing {self.full_path!r}.")
            self._doc = self._parse(raw)
        return self._doc

    def _load(self) -> Any:
        return self.current()

    def invalidate(self) -> None:
        """Forget the cached document and its encoding (the next use reads the file)."""
        self._raw = self._doc = self._frags = None
        self._raw_ours = False

    # --- uses ----------------------------------------------------------------------

    def open(self, action: str) -> Any:
        self._check_action(action)
        if action == "read":
            upd = self.data["update"]
            if upd is not None:
                data = copy.deepcopy(upd)
                self._read_shared = False
            else:
                data = self.current()
                self._doc = None  # lent: the cache parses its own copy next time
        else:
            data = self.data["read"]
            self._marks = _Marks()
            if data is None:
                data = self.current()
            else:
                self._marks.all = True  # shares (and may carry changes of) the read data
        self.data[action] = data
        return data

    def mark(self, key: str | None = None, item: Any = WHOLE) -> None:
        """Say what the open update use changed: the value of top-level `key`, one
        `item` (list index or object key) of it, or (no `key`) anything."""
        marks = self._marks
        if marks is None:
            return
        if key is None:
            marks.all = True
        elif item is WHOLE:
            marks.keys.add(key)
        else:
            marks.items.setdefault(key, set()).add(item)

    def discard(self, action: str) -> None:
        self._check_action(action)
        if action == "update":
            if self.data["update"] is not None:
                self._doc = None  # possibly changed in place: parse the file again
            self._marks = None
        self.data[action] = None

    def close(self, action: str) -> None:
        self._check_action(action)
        data = self.data[action]
        self.data[action] = None
        if action == "read" or data is None:
            return
        marks, self._marks = self._marks or _Marks(), None
        # data shared with an open read use is not kept: its user may change it
        keep = data is not self.data["read"]
        try:
            payload, canonical = self._encode_update(data, marks)
            # the cache must hold what parsing the file gives (lists for tuples, string
            # keys, no objects shared with the caller):
            keep = keep and canonical
            if payload == self._raw or (not marks.keys and not marks.items and self._same(payload)):
                self._doc = data if keep else None
                return
            if self.stage is not None:
                self._doc = None
                self.stage.append((self, data if keep else None, payload))
                return
            self.logger.debug(f"{self!r}: writing changed data.")
            self._write_payloads(self.fs, [(self, payload)])
        except BaseException:
            self.invalidate()
            raise
        self._raw, self._doc, self._raw_ours = payload, (data if keep else None), True

    def _same(self, payload: bytes) -> bool:
        """Whether `payload` encodes what the file holds, when the file is not in this
        resource's form (e.g. indented by the engine)."""
        if self._raw is None or self._raw_ours:
            return False
        try:
            return self._encode(json.loads(self._raw)) == payload
        except ValueError:
            return False

    # --- encoding ------------------------------------------------------------------

    def _encode_update(self, data: Any, marks: _Marks) -> tuple[bytes, bool]:
        """The bytes of `data` (open for update, changed as `marks` say), and whether
        `data` now holds what parsing them gives (else the cache parses them when next
        used)."""
        payload = None
        if self._frags is None and self._raw is not None and not marks.all:
            # `data` is the parse of `_raw` with the marked changes: the unchanged
            # entries' encodings are in `_raw` (a process's first commit then encodes
            # what it changed, not the whole document)
            self._frags = _frags_of_bytes(self._raw, self.itemised)
        if self._frags is not None and not marks.all and isinstance(data, dict):
            try:
                payload = self._encode_incremental(data, self._frags, marks)
            except _Fallback:
                payload = None
        canonical = payload is not None
        if payload is None:
            payload = self._encode_whole(data)
        if self.verify_encoding:
            full = self._encode(data)
            if full != payload:
                raise StoreResourceError(
                    f"Store resource {self.name!r}: the incremental encoding of "
                    f"{self.full_path!r} differs from its full encoding (a change was "
                    "made without marking it)."
                )
        return payload, canonical

    def _encode_whole(self, data: Any) -> bytes:
        if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
            self._frags = None
            payload = self._encode(data)
        else:
            frags: dict[str, _Plain | _Items] = {}
            for key, value in data.items():
                entry: _Plain | _Items | None = None
                if key in self.itemised and isinstance(value, (list, dict)):
                    with contextlib.suppress(_Fallback):
                        entry = _Items(key, value)
                frags[key] = entry if entry is not None else _Plain(key, value)
            self._frags = None
            payload = f"{{{','.join(e.text for e in frags.values())}}}".encode()
            self._frags = frags
        return payload

    def _encode_incremental(
        self, data: dict, frags: dict[str, _Plain | _Items], marks: _Marks
    ) -> bytes:
        texts = []
        for key, value in data.items():
            if not isinstance(key, str):
                raise _Fallback
            entry = frags.get(key)
            whole = key in marks.keys
            if key in self.itemised and isinstance(value, (list, dict)):
                if (
                    whole
                    or not isinstance(entry, _Items)
                    or entry.is_list != isinstance(value, list)
                ):
                    entry = frags[key] = _Items(key, value)
                    data[key] = json.loads(entry.text[len(entry.head) :])
                elif key in marks.items or len(entry.parts) != len(value):
                    entry.update(value, marks.items.get(key, set()))
            elif entry is None or whole or key in marks.items or isinstance(entry, _Items):
                entry = frags[key] = _Plain(key, value)
                data[key] = json.loads(entry.text[len(_ENC(key)) + 1 :])
            texts.append(entry.text)
        if len(frags) != len(data):
            for key in [k for k in frags if k not in data]:
                del frags[key]
        return f"{{{','.join(texts)}}}".encode()

    # --- writing -------------------------------------------------------------------

    @staticmethod
    def _write_payloads(
        fs: AbstractFileSystem, writes: Sequence[tuple[JSONFileStoreResource, bytes]]
    ) -> None:
        """Write each resource's payload to its file (all or, on failure, none of them
        on the local file system)."""
        if writes:
            durability = writes[0][0].durability  # one store's resources: one setting
            write_files_atomic(
                fs, [(res.full_path, payload) for res, payload in writes], durability
            )

    @classmethod
    def write_staged(
        cls, fs: AbstractFileSystem, staged: Sequence[tuple[JSONFileStoreResource, Any, bytes]]
    ) -> None:
        """Write the updates queued in a stage (see :attr:`stage`); on failure every
        staged resource forgets its cache."""
        if not staged:
            return
        try:
            cls._write_payloads(fs, [(res, payload) for res, _, payload in staged])
        except BaseException:
            for res, _, _ in staged:
                res.invalidate()
            raise
        for res, data, payload in staged:
            res._raw, res._doc, res._raw_ours = payload, data, True

    def _dump(self, data: Any) -> None:
        """Write `data` as the whole document (a new store's files)."""
        payload = self._encode(data)
        self._write_payloads(self.fs, [(self, payload)])
        self.invalidate()


class CallbackStoreResource(StoreResource):
    """A resource loaded and dumped by callables (e.g. Zarr group attributes read
    and written through the Rust core).

    Parameters
    ----------
    name:
        The resource label.
    load:
        Returns the data.
    dump:
        Writes the data.
    logger:
        Logger for debug messages.
    load_shared:
        Optional: returns ``(data, shared)`` for read uses, `shared` saying that the
        data are kept between uses (a read cache's): never changed in place.
    """

    def __init__(
        self,
        name: str,
        load: Callable[[], Any],
        dump: Callable[[Any], None],
        logger: logging.Logger | None = None,
        load_shared: Callable[[], tuple[Any, bool]] | None = None,
    ) -> None:
        super().__init__(name, logger)
        self._load_cb = load
        self._dump_cb = dump
        self._load_shared_cb = load_shared

    def _load(self) -> Any:
        return self._load_cb()

    def _load_for_read(self) -> Any:
        """`load_shared` (if given) returns ``(data, shared)``: `shared` says that the
        data are kept between uses (a read cache's), so an update copies them."""
        if self._load_shared_cb is None:
            return self._load_cb()
        data, shared = self._load_shared_cb()
        self._shared = data if shared else None
        return data

    def _dump(self, data: Any) -> None:
        self._dump_cb(data)
