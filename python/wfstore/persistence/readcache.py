"""The read cache of a store object: chunks read and array metadata, kept while a
store-wide change marker says that nothing changed.

**What is cached.** :class:`ReadCache` holds, per store object, the chunks read, as
their rows' encoded (msgpack) bytes, decompressed and split into rows
(``wfstore._core.ObjectChunk``, keyed by ``(array path, chunk index)``), in a
least-recently-used map bounded in bytes (:class:`LRUBytes`; a chunk's size is its
bytes and :data:`ENTRY_BYTES`), and the metadata of the arrays read (``.zarray`` and
``.zattrs``; the root group's attributes under the path ``""``). A read of a row whose
chunk is cached reads no file and decompresses nothing: it decodes that row alone,
into new objects. Values built from
rows (a task's element list and its positions: a job's every call reads a task's whole
list) are kept apart in :attr:`ReadCache.derived`, one per task, outside the byte
bound, and forgotten with any key of their array.

**When it is valid.** Every commit of wfstore advances the *change marker* (a slot of
the store's root ``.zgroup`` in stores wfstore created, :func:`group_document`; else
the file :data:`~wfstore.common.names.CHANGE_MARKER_NAME`), twice, under the store
lock: to a *dirty* value before it changes any data file, and to a new *clean*
value once all of them are in place. Every value is new (a counter and a random tag).
A reader reads the marker once per operation, before it reads cached data in that
operation; cached data are used only when the marker holds the same clean value as when
they were read, else the cache is emptied first. Why this is enough:

* data read while the marker is clean value ``V`` were read after ``V`` was written,
  so after every data change that any commit made before ``V``;
* any later change of a data file is preceded by a dirty value (written before the
  change, under the lock) and so the marker can never hold ``V`` again;
* a writer that dies between the two leaves the marker dirty, which readers never trust
  (every operation reads afresh) until the next commit writes a clean value; a crash
  can therefore cost speed, never leave a reader with stale data.

**What changed.** A clean value also carries the marker's *history*: the last
:data:`HISTORY` commits, each with its clean value's counter and tag and the store keys
it changed (or "not known"), checksummed (:func:`marker_value`, :func:`parse_marker`).
Each commit extends the history it read under the lock; one that finds the marker dirty
or unreadable records "not known" (it cannot vouch for what a dead writer changed). A
reader whose label is in the history and after which every entry's keys are known
forgets only those keys' chunks and metadata (:func:`keys_since`); else everything.
Keys named after ``V``'s entry are every key changed since ``V``, for the reasons
above. A marker whose first line is the label is valid without reading the history.
A commit of a transaction knows its keys before it changes any file: its dirty value
carries the history and, as its last entry, the keys it changes. A reader that finds
such a value forgets those keys (and any changed since its label) and keeps the rest
under its label, forgetting them again at every reading until a clean value: data of
keys the commit does not change are those of the label's value. A reader that finds
the marker dirty without its keys (another kind of write under way, or a writer that
died) or unreadable sets its cache aside (:attr:`ReadCache.parked`), reads afresh and
keeps nothing meanwhile, and takes it back by the same rule at its first clean
reading.

The marker is opened and read (not only stat'ed): on NFS, opening a file revalidates it
(close-to-open consistency), while attributes are cached for up to a minute. A store
without the marker (written by the engine's own classes, or by wfstore before the
marker existed) is treated as changed at every operation: no data are kept from one
operation to the next. See ``docs/concurrency.md``.

**Other holders.** What else a store object keeps under the same rule (hpcflow 0.3's
decoded files) is registered with :meth:`ReadCache.follow`: it is told to forget what
the cache forgets, and emptied whenever the cache is set aside or taken back (what it
held is never parked).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import zlib
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from typing import Any

#: The marker's value while a commit is changing data files (followed by the counter
#: and a random tag): readers never trust it.
DIRTY = b"dirty"
#: The marker's value once a commit's data files are in place.
CLEAN = b"clean"

#: Default bound of a store object's chunk cache, in bytes. Set
#: ``WFSTORE_READ_CACHE_BYTES`` to change it; 0 turns the cache of chunks off. Chunks
#: are held as their rows' encoded bytes: a 1,000-row chunk of the engine's iterations
#: or elements takes 27-38 KiB (1/30 of its rows decoded), a 100-row chunk of runs
#: ~3.4 KiB. 2 MiB holds every chunk a job touches, and every chunk of the run,
#: iteration and element arrays of a 10,000-run workflow.
DEFAULT_MAX_BYTES = 2 * 1024 * 1024


def _max_bytes_from_env() -> int | None:
    """``WFSTORE_READ_CACHE_BYTES`` (a fixed bound) if set to an integer, else None."""
    value = os.environ.get("WFSTORE_READ_CACHE_BYTES", "").strip()
    if not value:
        return None
    try:
        return max(0, int(value))
    except ValueError:
        return None


#: Commits the marker remembers, each with the store keys it changed, so that a reader
#: whose cache is up to this many commits old forgets only what they changed.
HISTORY = 16
#: A commit that changed more keys than this is remembered as having changed unknown
#: keys (readers then forget everything).
HISTORY_KEYS = 64

#: One remembered commit: the counter and tag of the clean value it wrote, and the
#: store keys it changed (None: not known).
Entry = tuple[int, bytes, "tuple[str, ...] | None"]

#: `changed` of :func:`marker_value` when the value records no commit of its own.
NO_ENTRY: Any = object()


def marker_value(
    state: bytes,
    counter: int,
    history: Sequence[Entry] = (),
    changed: Any = NO_ENTRY,
    limit: int | None = None,
) -> bytes:
    """A new marker value: a first line of `state`, the `counter` and a random tag
    (unique whatever the counter: a marker file deleted and made again never repeats an
    old value; every first line has the same length), then, if there is any, the
    history: the remembered commits (`history`, then this value's own commit if
    `changed`, the keys it changed or None, is given; the last :data:`HISTORY`), one
    line each, and a checksum line over everything before it (a reader that reads a
    value while it is rewritten in place sees a mix, whose checksum fails: "changed").
    With `limit`, the oldest commits are left out until the value takes at most
    `limit` bytes (this value's own commit, last, with its keys "not known" if that
    alone is too long)."""
    tag = os.urandom(8).hex().encode()
    head = b"%s %020d %s\n" % (state, counter, tag)
    entries = list(history)
    if changed is not NO_ENTRY:
        entries.append((counter, tag, _entry_keys(changed)))
    entries = entries[-HISTORY:]
    while True:
        if not entries:
            return head
        body = head + b"".join(_entry_line(e) for e in entries)
        value = body + b"x %08x\n" % zlib.crc32(body)
        if limit is None or len(value) <= limit:
            return value
        if len(entries) > 1:
            entries.pop(0)
        elif entries[0][2] is not None:
            entries[0] = (entries[0][0], entries[0][1], None)
        else:
            return head


def _entry_keys(keys: Collection[str] | None) -> tuple[str, ...] | None:
    if keys is None or len(keys) > HISTORY_KEYS:
        return None
    out = tuple(dict.fromkeys(keys))
    if any(not k or any(c.isspace() for c in k) for k in out):
        return None  # (store keys never hold white space; if one did: not known)
    return out


@functools.lru_cache(maxsize=4 * HISTORY)
def _entry_line(e: Entry) -> bytes:
    # (a commit writes each remembered commit's line again, twice: made once)
    counter, tag, keys = e
    tail = b" ?" if keys is None else b"".join(b" " + k.encode() for k in keys)
    return b"e %d %s%s\n" % (counter, tag, tail)


def parse_marker(value: bytes | None) -> tuple[bytes | None, tuple[Entry, ...] | None]:
    """``(first line, history)`` of a marker value; ``(None, None)`` if there is no
    value or it is not whole (a checksum that fails: read while rewritten). A value
    without history (as wfstore wrote before it kept one) has an empty history."""
    if not value:
        return None, None
    return _parse_marker(value)


@functools.lru_cache(maxsize=8)
def _parse_marker(value: bytes) -> tuple[bytes | None, tuple[Entry, ...] | None]:
    # (the last values parsed kept: a commit parses the value its store object's last
    # commit wrote, and then its own)
    head, nl, rest = value.partition(b"\n")
    head = head + nl
    if not rest:
        return head, ()
    body, _, last = value.rstrip(b"\n").rpartition(b"\n")
    parts = last.split()
    try:
        ok = len(parts) == 2 and parts[0] == b"x" and int(parts[1], 16) == zlib.crc32(body + b"\n")
    except ValueError:
        ok = False
    if not ok:
        return None, None
    entries: list[Entry] = []
    for line in body.split(b"\n")[1:]:
        f = line.split()
        if len(f) < 3 or f[0] != b"e":
            return None, None
        try:
            counter = int(f[1])
        except ValueError:
            return None, None
        keys = None if f[3:] == [b"?"] else tuple(k.decode() for k in f[3:])
        entries.append((counter, f[2], keys))
    return head, tuple(entries)


def head_id(head: bytes | None) -> tuple[int, bytes] | None:
    """The counter and tag of a marker value's first line (None if unreadable)."""
    if not head:
        return None
    parts = head.split()
    if len(parts) != 3:
        return None
    try:
        return int(parts[1]), parts[2]
    except ValueError:
        return None


def keys_since(entries: Sequence[Entry], label: bytes | None) -> list[str] | None:
    """The store keys changed by the commits remembered after the one that wrote the
    clean value `label` (a first line); None if that commit is not remembered or any
    later one changed keys not known."""
    ident = head_id(label)
    if ident is None:
        return None
    at = next((i for i, e in enumerate(entries) if e[:2] == ident), None)
    if at is None:
        return None
    out: list[str] = []
    for _, _, keys in entries[at + 1 :]:
        if keys is None:
            return None
        out.extend(keys)
    return out


def keys_changed(
    head: bytes | None, entries: Sequence[Entry] | None, label: bytes | None
) -> list[str] | None:
    """The store keys that may have changed since the clean value `label` (a first
    line), as the marker value ``(head, entries)`` (:func:`parse_marker`) names them:
    for a clean value, those of the commits remembered after `label`'s; for a dirty
    one, those and the keys of the commit under way, if the value names them (its
    history's last entry is its own). None if not known."""
    if not entries or label is None:
        return None
    if not is_clean(head):
        own = head_id(head)
        if head is None or not head.startswith(DIRTY + b" ") or own is None:
            return None
        if entries[-1][:2] != own:
            return None
    return keys_since(entries, label)


def marker_counter(value: bytes | None) -> int:
    """The counter in a marker value (0 if there is none or it cannot be read)."""
    if not value:
        return 0
    parts = value.split(b"\n", 1)[0].split()
    try:
        return int(parts[1]) if len(parts) >= 2 else 0
    except ValueError:
        return 0


# --- the marker in the root group's document ----------------------------------------

#: The key of a store's change marker in its root ``.zgroup`` (stores wfstore creates
#: keep the marker there, and take the store lock on that file: no files of their own).
GROUP_MARKER_KEY = "wfstore_changes"
#: Characters of the marker's slot in the root ``.zgroup``: the value in base64,
#: padded with ``.``. Always this long, so that the document keeps its length and
#: stays valid JSON whatever mix of two values a reader reads while it is rewritten.
GROUP_MARKER_CHARS = 6144
#: The longest marker value the slot holds.
GROUP_MARKER_LIMIT = GROUP_MARKER_CHARS // 4 * 3
_SLOT_START = b'"%s": "' % GROUP_MARKER_KEY.encode()


def group_document(value: bytes) -> bytes:
    """A root ``.zgroup`` document (Zarr v2 group metadata) holding the change
    marker `value` in its slot."""
    return b'{"zarr_format": 2, %s%s"}\n' % (_SLOT_START, marker_slot(value))


def marker_slot(value: bytes) -> bytes:
    """The slot's bytes for the marker `value` (:data:`GROUP_MARKER_CHARS` long)."""
    enc = base64.b64encode(value)
    if len(enc) > GROUP_MARKER_CHARS:
        raise ValueError(f"a marker value of {len(value)} bytes does not fit the slot")
    return enc.ljust(GROUP_MARKER_CHARS, b".")


def group_marker_offset(doc: bytes | None) -> int | None:
    """Where the marker's slot starts in the root ``.zgroup`` document `doc`; None if
    it has none (a store made by the engine's own classes: its marker, if any, is the
    file :data:`~wfstore.common.names.CHANGE_MARKER_NAME`)."""
    if not doc:
        return None
    at = doc.find(_SLOT_START)
    if at < 0:
        return None
    start = at + len(_SLOT_START)
    end = start + GROUP_MARKER_CHARS
    return start if doc[end : end + 1] == b'"' else None


def marker_in_group(doc: bytes, offset: int) -> bytes:
    """The marker value in the slot at `offset` of the root ``.zgroup`` `doc` (a value
    that is not clean if the slot cannot be decoded: read while rewritten)."""
    enc = doc[offset : offset + GROUP_MARKER_CHARS].rstrip(b".")
    try:
        return base64.b64decode(enc, validate=True)
    except ValueError:
        return b"unreadable\n"


def without_group_marker(doc: bytes) -> bytes:
    """The root ``.zgroup`` document `doc` with its marker slot blanked (what stays
    the same from one commit to the next); `doc` itself if it has no slot."""
    at = group_marker_offset(doc)
    if at is None:
        return doc
    return doc[:at] + b"." * GROUP_MARKER_CHARS + doc[at + GROUP_MARKER_CHARS :]


def is_clean(value: bytes | None) -> bool:
    """Whether `value` (None: no marker) says that no commit is changing data."""
    return value is not None and value.startswith(CLEAN + b" ")


#: Bytes a cached chunk takes besides its rows' bytes: its key, its entry of the LRU
#: map and the chunk object (a chunk of one row is every chunk of a store the engine
#: made).
ENTRY_BYTES = 512


class LRUBytes:
    """A least-recently-used map whose values' sizes (given with each value) add up to
    at most `max_bytes`: putting a value evicts the least recently used ones until it
    fits; a value larger than the bound is not kept."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._data: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        #: The sum of the sizes of the values held.
        self.total = 0

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def get(self, key: Hashable) -> Any:
        """The value of `key` (None if absent), now the most recently used."""
        entry = self._data.get(key)
        if entry is None:
            return None
        self._data.move_to_end(key)
        return entry[0]

    def put(self, key: Hashable, value: Any, size: int) -> None:
        """Keep `value` under `key` (replacing any value of it), evicting as needed."""
        old = self._data.pop(key, None)
        if old is not None:
            self.total -= old[1]
        size = max(0, int(size))
        if size > self.max_bytes:
            return
        while self._data and self.total + size > self.max_bytes:
            _, (_, dropped) = self._data.popitem(last=False)
            self.total -= dropped
        self._data[key] = (value, size)
        self.total += size

    def empty_like(self) -> LRUBytes:
        """An empty map with this one's bound."""
        return LRUBytes(self.max_bytes)

    def pop(self, key: Hashable) -> None:
        """Forget `key` (if held)."""
        old = self._data.pop(key, None)
        if old is not None:
            self.total -= old[1]

    def clear(self) -> None:
        """Forget everything."""
        self._data.clear()
        self.total = 0

    def keys(self) -> list[Hashable]:
        """The keys held, least recently used first."""
        return list(self._data)


#: A holder of other data kept under a read cache's rule (:meth:`ReadCache.follow`):
#: ``forget(keys)`` forgets what it holds of store `keys` (None: everything).
Follower = Callable[[Collection[str] | None], None]


class ReadCache:
    """The cached chunks and array metadata of one store object, and when they may be
    used (see the module docstring).

    `read_marker` returns the change marker's current value (None: no marker).
    """

    def __init__(
        self, read_marker: Callable[[], bytes | None], max_bytes: int | None = None
    ) -> None:
        self._read_marker = read_marker
        #: Chunks read: ``(array path, chunk index) -> ObjectChunk``.
        if max_bytes is None:
            max_bytes = _max_bytes_from_env()
        self.chunks = LRUBytes(DEFAULT_MAX_BYTES if max_bytes is None else max_bytes)
        #: Array metadata: ``array path -> (array object, attributes or None)``.
        self.meta: dict[str, list[Any]] = {}
        #: Documents kept by their content: ``key -> (digest of the bytes, value
        #: parsed from them)``, used only when the document read afresh has the same
        #: digest, so valid whatever the marker says and kept when the rest is
        #: forgotten (the root attributes: over a megabyte of JSON in a large
        #: workflow, read again after commits the history cannot name).
        self.by_content: dict[str, tuple[bytes, Any]] = {}
        #: Values built from rows read, kept apart from the byte-bounded chunks:
        #: ``array path -> {row index -> value}`` (a task's element list with its
        #: positions: one per task). Forgotten with any key of their array.
        self.derived: dict[str, dict[int, Any]] = {}
        #: The clean marker value the cached data were read under (None: they may be
        #: used only within the current operation).
        self.label: bytes | None = None
        #: Depth of nested read operations (see :meth:`begin` and :meth:`end`).
        self.depth = 0
        #: Whether the marker was read in the current outermost operation.
        self.checked = False
        #: Counters (for tests and diagnostics): chunks read (decompressed and split
        #: into rows), metadata documents
        #: read, marker reads, and times the cache was emptied because of the marker.
        self.decodes = 0
        self.meta_reads = 0
        self.marker_reads = 0
        self.invalidations = 0
        #: Arrays' metadata taken from the cache for a write under the store lock.
        self.meta_hits = 0
        #: Values put in :attr:`derived`.
        self.derivations = 0
        #: Commits of this object after which only what they wrote was forgotten.
        self.partial_drops = 0
        #: Times other writers' commits made the cache forget only what they changed.
        self.narrowed = 0
        #: What was cached under the clean value :attr:`label` when the marker was
        #: then read dirty (another process's commit under way): ``(label, chunks,
        #: meta, derived)``, set aside while the cache starts empty, and taken back,
        #: less what the commits since changed, once a clean value names them all.
        self.parked: (
            tuple[bytes, LRUBytes, dict[str, list[Any]], dict[str, dict[int, Any]]] | None
        ) = None
        #: Times a parked cache was taken back.
        self.unparked = 0
        #: Times a document of :attr:`by_content` was used again.
        self.content_hits = 0
        #: Other holders told to forget what the cache forgets (:meth:`follow`).
        self._followers: list[Follower] = []

    def follow(self, forget: Follower) -> None:
        """Have `forget` (``forget(keys)``; None: everything) called whenever the cache
        forgets store keys or everything, or is set aside or taken back: a store
        object's other data kept under the same marker rule."""
        self._followers.append(forget)

    # --- operations ------------------------------------------------------------------

    def begin(self) -> None:
        """Enter a read operation; the marker is read when the operation first uses the
        cache (nested operations share the outermost one's reading)."""
        if self.depth == 0:
            self.checked = False
        self.depth += 1

    def end(self) -> None:
        """Leave a read operation."""
        self.depth -= 1

    def ready(self) -> None:
        """Make the cache valid for use now: read the marker once per outermost
        operation (and at every use outside any operation). If it is not the clean
        value the cached data were read under, forget what the commits since changed
        (and, while a commit is under way, what it changes) when the marker names them
        all (:func:`keys_changed`); else set the cache aside while the marker is dirty
        (:attr:`parked`), or forget everything."""
        if self.due():
            self.catch_up(self.read_marker())

    def due(self) -> bool:
        """Whether the marker is to be read now (once per outermost operation, and at
        every use outside any operation)."""
        return not (self.depth and self.checked)

    def read_marker(self) -> bytes | None:
        """The change marker's value, read now (counted; the current operation's
        reading)."""
        value = self._read_marker()
        self.marker_reads += 1
        if self.depth:
            self.checked = True
        return value

    def current(self, value: bytes | None) -> bool:
        """Whether what the cache holds is valid at the marker value `value`: its first
        line is the clean value the cache is valid under (no commit since)."""
        label = self.label
        return label is not None and value is not None and value.startswith(label)

    def catch_up(self, value: bytes | None) -> None:
        """Bring the cache up to the marker value `value`, read now (see
        :meth:`ready`)."""
        if self.current(value):
            # the first line unchanged: no commit since (a commit's dirty first line
            # is written before any data file changes; a read mixing two values' first
            # lines matches neither, their tags being random), history not read
            return
        head, entries = parse_marker(value)
        clean = is_clean(head)
        if clean:
            self._unpark()
            if head == self.label:  # (e.g. the marker was unreadable for a while)
                return
        keys = keys_changed(head, entries, self.label)
        if keys is not None:
            self.forget_keys(keys)
            self.narrowed += 1
            if clean:
                self.label = head
            # else a commit under way that named its keys: what it does not change
            # stays valid under the label; its keys are forgotten at every reading
            # until a clean value (what is read of them meanwhile is not trusted)
            return
        if not clean and self.label is not None:
            # a commit under way (or a marker unreadable now): what was read under
            # the label is set aside, not trusted now, and taken back once a clean
            # value's history names every key changed since (else dropped then)
            self.parked = (self.label, self.chunks, self.meta, self.derived)
            self.chunks = self.chunks.empty_like()
            self.meta, self.derived = {}, {}
            self.label = None
            self._tell(None)
            return
        if self.chunks or self.meta:
            self.invalidations += 1
        self._clear_current()  # (a parked cache stays parked while the marker is dirty)
        self.label = head if is_clean(head) else None

    def by_digest(self, key: str, data: bytes, parse: Callable[[bytes], Any]) -> Any:
        """``parse(data)``, the document `key` read afresh as `data`, or the value
        parsed last for `key` if `data` has the same digest (BLAKE2b, 128 bits): see
        :attr:`by_content`. The old value is let go before a new parse."""
        digest = hashlib.blake2b(data, digest_size=16).digest()
        held = self.by_content.pop(key, None)
        if held is not None and held[0] == digest:
            value = held[1]
            self.content_hits += 1
        else:
            del held
            value = parse(data)
        self.by_content[key] = (digest, value)
        return value

    def _unpark(self) -> None:
        """Take back the parked cache (if any) in place of what was read since it was
        parked (read while the marker was dirty: never kept)."""
        if self.parked is None:
            return
        self.label, self.chunks, self.meta, self.derived = self.parked
        self.parked = None
        self.unparked += 1
        self._tell(None)  # (what followers read meanwhile was read while dirty)

    def written(
        self,
        value: bytes | None,
        before: bytes | None = None,
        keys: Collection[str] | None = None,
        chunks: Iterable[tuple[str, int, Any]] = (),
    ) -> None:
        """This store object changed the store and then set the marker to `value`;
        the marker held `before` when it started (under the store lock). If `keys`
        (the store keys it wrote) are given, only the chunks and metadata of the keys
        changed since the cache was valid are forgotten: those the history of `value`
        names after the cache's label, or `keys` alone when `before` is that label (no
        other writer in between); else everything (what it wrote may be in cached
        chunks). `value` is the label of what is read next. `chunks` (``(array path,
        chunk index, ObjectChunk)``) are chunks as it wrote them, kept if `value` is
        clean (the caller held the store lock from the writes to `value`)."""
        head, entries = parse_marker(value)
        since = None
        self._unpark()
        if keys is not None and is_clean(head) and self.label is not None:
            if entries:
                since = keys_since(entries, self.label)
            if since is None and parse_marker(before)[0] == self.label:
                since = list(keys)
        if since is not None:
            self.forget_keys(since)
            self.partial_drops += 1
        else:
            self.clear()
        self.label = head if is_clean(head) else None
        self.checked = self.depth > 0
        if self.label is not None and self.chunks.max_bytes > 0:
            for path, c, chunk in chunks:
                self.chunks.put((path, c), chunk, chunk.nbytes + ENTRY_BYTES)

    def forget_keys(self, keys: Collection[str]) -> None:
        """Forget the chunks and array metadata of store `keys` (``<array>/<chunk>``,
        ``<array>/.zarray``, ``<array>/.zattrs``; other keys concern nothing cached)."""
        for key in keys:
            arr, _, name = key.rpartition("/")
            self.derived.pop(arr, None)
            if name in (".zarray", ".zattrs"):
                self.meta.pop(arr, None)
            elif name.isdigit():
                self.chunks.pop((arr, int(name)))
            # (other keys, e.g. chunks of numpy arrays of more than one dimension,
            # name nothing this cache holds: it keeps 1-D object arrays only)
        self._tell(keys)

    def clear(self) -> None:
        """Forget every cached chunk, array and derived value (parked ones too)."""
        self._clear_current()
        self.parked = None

    def _clear_current(self) -> None:
        self.chunks.clear()
        self.meta.clear()
        self.derived.clear()
        self._tell(None)

    def _tell(self, keys: Collection[str] | None) -> None:
        for forget in self._followers:
            forget(keys)
