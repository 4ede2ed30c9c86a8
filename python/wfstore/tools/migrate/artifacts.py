"""The workflow folder's other files: a190's jobscript artifacts moved to hpcflow
0.3.0's folders (``jobscripts/``, ``js_run_ids/``, ``js_std/<js>/``), files 0.3.0 has
no place for (a190's run-folder lists, ``abort_EARs.txt``, the ``execute/`` run
folders) kept aside under :data:`~wfstore.common.names.MIGRATION_KEPT_DIR`, everything
else at its path."""

from __future__ import annotations

import re

from wfstore.common.names import MIGRATION_KEPT_DIR
from wfstore.tools.migrate.report import MigrationReport

_SUB = r"artifacts/submissions/(?P<sub>\d+)/"
_MOVES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(_SUB + r"js_(?P<js>\d+)\.(?P<ext>sh|ps1)$"), "jobscripts/js_{js}.{ext}"),
    (re.compile(_SUB + r"js_(?P<js>\d+)_EAR_IDs\.txt$"), "js_run_ids/js_{js}_EAR_IDs.txt"),
    (
        re.compile(_SUB + r"js_(?P<js>\d+)_(?P<std>stdout|stderr|std)\.log$"),
        "js_std/{js}/js_{js}_{std}.log",
    ),
]
_ASIDE = [
    re.compile(_SUB + r"js_\d+_run_dirs\.txt$"),
    re.compile(_SUB + r"abort_EARs\.txt$"),
    re.compile(r"execute/"),
]


#: The folders hpcflow 0.3.0 makes for each submission when it adds one (its
#: ``Submission`` folder names; a190 made fewer): a carried submission gets them so that
#: 0.3.0 can go on to submit one a190 made but never submitted.
SUBMISSION_DIRS = (
    "tmp",
    "app_std",
    "jobscripts",
    "js_std",
    "js_funcs",
    "js_run_ids",
    "scripts",
    "commands",
)


def submission_dirs(sub_idx: int) -> list[str]:
    """The folders (relative paths) 0.3.0 expects of submission `sub_idx`."""
    return [f"artifacts/submissions/{sub_idx}/{name}" for name in SUBMISSION_DIRS]


def target_path(rel: str, report: MigrationReport | None = None) -> str:
    """Where the file `rel` of an a190 workflow folder goes in the 0.3.0 one."""
    for pattern, fmt in _MOVES:
        m = pattern.match(rel)
        if m:
            return f"artifacts/submissions/{m['sub']}/" + fmt.format(**m.groupdict())
    for pattern in _ASIDE:
        if pattern.match(rel):
            dst = f"{MIGRATION_KEPT_DIR}/{rel}"
            if report is not None:
                report.aside("file", rel, dst, "hpcflow 0.3.0 has no equivalent")
            return dst
    return rel
