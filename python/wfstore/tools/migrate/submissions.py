"""Submissions: each a190 jobscript becomes one hpcflow 0.3.0 jobscript with one block
(its runs, task elements, task actions and loop indices), its dependencies re-keyed by
(jobscript, block 0); the values a190 kept inline at submission (command line,
scheduler job ID, process ID, submit time; the submission's parts) become 0.3.0's
at-submit metadata; host, machine and version information stay jobscript attributes.
Resources a190 never recorded take the values listed in :data:`RESOURCE_DEFAULTS` and
are reported; the standard streams stay separate
(``combine_jobscript_std`` false) so that 0.3.0 finds a190's logs where
:mod:`.artifacts` puts them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from wfstore.tools.migrate.report import MigrationReport
from wfstore.tools.migrate.template import rewrite_resources

#: Jobscript keys a190 kept inline that are 0.3.0's at-submit metadata.
AT_SUBMIT_KEYS = ("submit_cmdline", "scheduler_job_ID", "process_ID", "submit_time")
#: Jobscript keys that move into its block.
BLOCK_KEYS = ("EAR_ID", "task_elements", "task_actions", "task_insert_IDs", "task_loop_idx")
#: Jobscript keys 0.3.0 keeps as attributes of the jobscript.
ATTR_KEYS = ("submit_hostname", "submit_machine", "version_info")
#: a190 jobscript keys 0.3.0 has no place for: ``running`` (a190's run-time flag);
#: ``os_name``, ``shell_name``, ``scheduler_name`` (0.3.0 takes them from the resources,
#: which hold the same values).
DROPPED_KEYS = ("running", "os_name", "shell_name", "scheduler_name")

#: Resources 0.3.0 has and a190 never recorded, with the value a migrated jobscript
#: gets, and why.
RESOURCE_DEFAULTS: dict[str, tuple[Any, str]] = {
    "combine_jobscript_std": (
        False,
        "a190 wrote standard output and error separately; 0.3.0 reads them so",
    ),
    "combine_scripts": (False, "a190 ran one script per action"),
    "write_app_logs": (False, "a190 wrote no per-run app logs"),
    "skip_downstream_on_failure": (True, "a190 skipped downstream runs on failure"),
}


@dataclasses.dataclass
class PlannedSubmission:
    """One submission as 0.3.0 keeps it."""

    index: int
    #: the submission document (0.3.0's JSON-like form, blocks filled in)
    document: dict[str, Any]
    #: ``submission_parts`` (0.3.0's submission at-submit metadata)
    submission_parts: dict[str, list[int]]
    #: per jobscript: its at-submit metadata
    js_at_submit: list[dict[str, Any]]


def _block_dependencies(deps: Any) -> list[list[Any]]:
    out = []
    for js_idx, dep in sorted((deps or {}).items(), key=lambda kv: int(kv[0])):
        mapping = {int(k): list(v) for k, v in (dep.get("js_element_mapping") or {}).items()}
        out.append(
            [
                [int(js_idx), 0],
                {"js_element_mapping": mapping, "is_array": bool(dep.get("is_array"))},
            ]
        )
    return out


def plan_submission(idx: int, sub: dict[str, Any], report: MigrationReport) -> PlannedSubmission:
    """The 0.3.0 form of a190 submission `idx`; defaulted resources into `report`."""
    jobscripts = []
    at_submit = []
    for js_idx, js in enumerate(sub.get("jobscripts") or []):
        resources = rewrite_resources(dict(js.get("resources") or {}))
        for key, (value, why) in RESOURCE_DEFAULTS.items():
            if key not in resources:
                resources[key] = value
                report.defaulted(
                    f"submission {idx} jobscript {js_idx}", f"resources.{key}", value, why
                )
        block: dict[str, Any] = {"index": 0}
        for key in BLOCK_KEYS:
            block[key] = js.get(key)
        if isinstance(block["task_elements"], dict):
            block["task_elements"] = {int(k): list(v) for k, v in block["task_elements"].items()}
        block["dependencies"] = _block_dependencies(js.get("dependencies"))
        new_js: dict[str, Any] = {
            "index": js_idx,
            "is_array": bool(resources.get("use_job_array")),
            "resources": resources,
            "blocks": [block],
            "at_submit_metadata": dict.fromkeys(AT_SUBMIT_KEYS),
        }
        for key in ATTR_KEYS:
            if key in js:
                new_js[key] = js[key]
        jobscripts.append(new_js)
        at_submit.append({key: js.get(key) for key in AT_SUBMIT_KEYS})
    parts = {str(k): list(v) for k, v in (sub.get("submission_parts") or {}).items()}
    document = {
        "JS_parallelism": sub.get("JS_parallelism"),
        "environments": sub.get("environments") or [],
        "jobscripts": jobscripts,
        "at_submit_metadata": {"submission_parts": {}},
        "timeit": False,
    }
    return PlannedSubmission(idx, document, parts, at_submit)
