"""Where hpcflow 0.3.0 keeps things in its stores (docs/hpcflow-0.3-format.md), and how
to tell such a store from one of hpcflow-new2 0.2.0a190.

Every path here is a ``/``-separated key relative to the store's root, as the Rust
core's stores take them.
"""

from __future__ import annotations

import functools

import numpy as np

from wfstore import _core

#: The engine generation whose layout this package reads.
GENERATION = "0.3.0"

# --- Zarr arrays and groups ----------------------------------------------------------

TASKS_ARR = "metadata/tasks"
ELEMS_ARR = "metadata/elements"
ITERS_ARR = "metadata/iters"
RUN_META_ARR = "metadata/run_metadata"
RUN_SUB_DAT_ARR = "metadata/run_sub_dat"
RUN_DIRS_ARR = "metadata/run_dirs"
SUBMISSIONS_GRP = "metadata/submissions"
RUN_FILES_DIR = "metadata/run_multi"
PARAM_SOURCES_ARR = "parameters/sources"
PARAM_ARRAYS_GRP = "parameters/arrays"
PARAM_FILES_DIR = "parameters/base_multi"
ARRAY_OUTPUTS_DIR = "parameters/array_outputs"

#: The arrays of a submission group (``metadata/submissions/<sub>/...``).
JS_AT_SUBMIT_MD = "js_at_submit_md"
JS_RUN_IDS = "js_run_IDs"
JS_TASK_ELEMS = "js_task_elems"
JS_TASK_ACTS = "js_task_acts"
JS_DEPS = "js_deps"

#: The keys of a jobscript's at-submit metadata, in their ``js_at_submit_md`` order.
JOBSCRIPT_AT_SUBMIT_KEYS = ("submit_cmdline", "scheduler_job_ID", "process_ID", "submit_time")
#: The keys of a submission's at-submit metadata (the submission group's attributes).
SUBMISSION_AT_SUBMIT_KEYS = ("submission_parts",)

#: The nine fields of a run-file entry, in order.
RUN_FILE_FIELDS = (
    "skip",
    "success",
    "start_time",
    "end_time",
    "snapshot_start",
    "snapshot_end",
    "exit_code",
    "run_hostname",
    "port_number",
)

#: ``run_sub_dat`` fields; all ones of a field's width means "not set".
RUN_SUB_DAT_FIELDS = ("submission_idx", "commands_file_ID", "run_file_ID", "run_file_idx")

#: Header of a zstd-compressed parameter file.
PARAM_FILE_MAGIC = b"HPCFZ1"

#: Files per folder of run files and parameter files, and of array-output archives.
FILES_PER_DIR = 1000
ARCHIVES_PER_DIR = 500
#: Parameters per innermost group of ``parameters/arrays`` (then its square and cube).
ARRAY_SHARD = 500

#: Suffix of the archive holding a masked array output's mask, and the name of an
#: output's consolidated archive.
MASK_SUFFIX = "__mask__"
CONSOLIDATED_ARCHIVE = "consolidated.npz.zst"
#: The suffix of the temporary files of 0.3.0's own atomic writes
#: (``<file>.<uuid4 hex>.partial``), left behind when a writer is killed.
ENGINE_PARTIAL_SUFFIX = ".partial"

# --- JSON store ----------------------------------------------------------------------

JSON_METADATA = "metadata.json"
JSON_RUNS = "runs.json"
JSON_PARAMETERS = "parameters.json"
JSON_SUBMISSIONS = "submissions.json"
JSON_FILES = (JSON_METADATA, JSON_RUNS, JSON_PARAMETERS, JSON_SUBMISSIONS)

#: The fields of a run folder row (``metadata/run_dirs``, ``runs.json``'s ``run_dirs``).
RUN_DIRS_DTYPE = np.dtype(
    [
        ("task_insert_ID", "u1"),
        ("element_idx", "<u4"),
        ("iteration_idx", "<u4"),
        ("action_idx", "u1"),
        ("run_idx", "u1"),
        ("element_depth", "u1"),
        ("iteration_depth", "u1"),
    ]
)


def file_key(folder: str, sub_idx: int, file_id: int) -> str:
    """A run file's (`folder` :data:`RUN_FILES_DIR`) or parameter file's
    (:data:`PARAM_FILES_DIR`) key: ``<folder>/<sub>/<id // 1000>/<id % 1000>``."""
    return f"{folder}/{sub_idx}/{file_id // FILES_PER_DIR}/{file_id % FILES_PER_DIR}"


def run_file_key(sub_idx: int, run_file_id: int) -> str:
    """The run file of `run_file_id` in submission `sub_idx`."""
    return file_key(RUN_FILES_DIR, sub_idx, run_file_id)


def param_file_key(sub_idx: int, number: int) -> str:
    """Parameter file `number` of submission `sub_idx`: 0 holds every non-output value,
    ``run_file_ID + 1`` the outputs of that run file's runs."""
    return file_key(PARAM_FILES_DIR, sub_idx, number)


def array_output_key(name: str, run_file_id: int) -> str:
    """The array-output archive of output `name` (``p2``, ``p2.__mask__``) holding the
    entries of the runs of run file `run_file_id` (of any submission)."""
    shard, number = divmod(run_file_id, ARCHIVES_PER_DIR)
    return f"{ARRAY_OUTPUTS_DIR}/{name}/{shard}/{number}.npz.zst"


def consolidated_output_key(name: str) -> str:
    """The consolidated archive of output `name`."""
    return f"{ARRAY_OUTPUTS_DIR}/{name}/{CONSOLIDATED_ARCHIVE}"


def legacy_array_group(param_id: int) -> str:
    """The group holding parameter `param_id`'s numpy arrays (``arr_<k>``)."""
    names = []
    for size in (ARRAY_SHARD**3, ARRAY_SHARD**2, ARRAY_SHARD):
        start = (param_id // size) * size
        names.append(f"params_{start}-{start + size - 1}")
    return "/".join([PARAM_ARRAYS_GRP, *names, f"param_{param_id}"])


# --- telling the generations apart ---------------------------------------------------


def is_v03_zarr(store: _core.Store) -> bool:
    """Whether the Zarr store `store` (a folder or a zip archive) has hpcflow 0.3's
    layout: its runs are split into ``metadata/run_metadata`` (and ``run_sub_dat``),
    where hpcflow-new2 0.2.0a190 has the one array ``metadata/runs``. Neither engine
    writes the other's array, and both write theirs with the empty workflow, so the
    array decides a store of either generation from its creation on."""
    # run_sub_dat too: a rechunk of run_metadata killed between the two renames of its
    # swap leaves that array missing until the store is opened (and it is put back)
    return any(store.get(f"{a}/.zarray") is not None for a in (RUN_META_ARR, RUN_SUB_DAT_ARR))


def is_v03_json_files(names: set[str]) -> bool:
    """Whether a JSON store with the files `names` has hpcflow 0.3's layout: runs in a
    ``runs.json`` of their own (0.2.0a190 keeps them in ``metadata.json``)."""
    return JSON_RUNS in names


# --- structured arrays (read and written by the core's NumericArray) ----------------


def run_sub_dat_tuple(row: np.void) -> tuple[int | None, int | None, int | None, int | None]:
    """``(submission_idx, commands_file_ID, run_file_ID, run_file_idx)`` of a
    ``run_sub_dat`` row, a field of all ones read as None (not set)."""
    at, unset = _run_sub_dat_fields(row.dtype)
    values = row.item()  # (the fields as Python ints, in the dtype's order)
    out = [values[k] for k in at]
    return tuple(None if v == u else v for v, u in zip(out, unset))  # type: ignore[return-value]


@functools.lru_cache(maxsize=8)
def _run_sub_dat_fields(dtype: np.dtype) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Where each of :data:`RUN_SUB_DAT_FIELDS` is in a row of `dtype`, and its unset
    value (all ones): worked out once per dtype, not per row (a job reads its run's
    row at every call)."""
    names = list(dtype.names or ())
    at = tuple(names.index(name) for name in RUN_SUB_DAT_FIELDS)
    unset = tuple(int(np.iinfo(dtype.fields[name][0]).max) for name in RUN_SUB_DAT_FIELDS)
    return at, unset
