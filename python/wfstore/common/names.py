"""Every name wfstore gives files and folders on disk, defined once for the Python
layers (the same strings as the Rust core's): temporary files, spare files of older
versions, commit journals, a rechunk's folders and marker, the store lock's files."""

from __future__ import annotations

#: The name prefix of every temporary file or folder wfstore writes (as the core's
#: ``TMP_PREFIX``): never read as data, left out of archives.
TMP_PREFIX = ".wfstore-tmp-"
#: The name prefix of the spare files some versions kept per folder (as the core's
#: ``SPARE_PREFIX``): never read as data, left out of archives and of key listings.
SPARE_PREFIX = ".wfstore-spare-"

#: Name prefix of commit journals at a store's root (the core's ``JOURNAL_PREFIX``).
JOURNAL_PREFIX = ".wfstore-journal."

#: Names the core's rechunk of ``<array>`` uses beside the array folder.
RECHUNK_TMP_SUFFIX = ".rechunk-tmp"
RECHUNK_OLD_SUFFIX = ".rechunk-old"
#: A backup folder's old copy while a rechunk with backup swaps it.
RECHUNK_BACKUP_OLD_SUFFIX = ".bak.old"
#: Every suffix of the folders a rechunk works in.
RECHUNK_SUFFIXES = (RECHUNK_TMP_SUFFIX, RECHUNK_OLD_SUFFIX, RECHUNK_BACKUP_OLD_SUFFIX)
#: The file a rechunk writes in its new array once the array is complete.
RECHUNK_COMPLETE_MARKER = ".wfstore-rechunk-complete"

#: The store lock's file, in the store's root folder (``fcntl`` protocol; never deleted).
LOCK_NAME = ".wfstore.lock"
#: The lock name the ``link`` protocol links its ticket to (exists only while held).
LINK_LOCK_NAME = ".wfstore.linklock"

#: The store-wide change marker at a store's root: every commit advances it, under the
#: store lock, to a "dirty" value before changing data files and to a new "clean" one
#: after (see :mod:`wfstore.persistence.readcache`). Python-only for now (the core
#: writes no marker; its commits are driven from Python, which advances it).
CHANGE_MARKER_NAME = ".wfstore.changes"
