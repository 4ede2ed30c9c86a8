"""Run in either engine's side environment (hpcflow-new2 0.2.0a190 or hpcflow 0.3.0):
what the engine's ``Workflow`` object shows of workflows, as JSON. argv: workflow
paths; prints ``{path: view}``. The same script in both environments, so that a
migrated workflow seen by 0.3.0 can be compared with its source seen by a190."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import hpcflow.app as hf
import numpy as np


def value(v: Any) -> Any:
    """A parameter value as comparable JSON: arrays (and masks), tuples and sets
    tagged; parameter-value objects as their class name and attributes; a Zarr array
    (an engine may hand one out for a numpy value) as the numpy array it holds."""
    if hasattr(v, "oindex") and hasattr(v, "dtype"):
        v = v[...]
    if isinstance(v, np.ma.MaskedArray):
        return {
            "__masked__": v.data.tolist(),
            "mask": np.ma.getmaskarray(v).tolist(),
            "dtype": str(v.dtype),
        }
    if isinstance(v, np.ndarray):
        return {"__ndarray__": v.tolist(), "dtype": str(v.dtype)}
    if isinstance(v, np.generic):
        return value(v.item())
    if isinstance(v, tuple):
        return {"__tuple__": [value(i) for i in v]}
    if isinstance(v, (set, frozenset)):
        return {"__set__": sorted((value(i) for i in v), key=repr)}
    if isinstance(v, dict):
        return {str(k): value(i) for k, i in v.items()}
    if isinstance(v, list):
        return [value(i) for i in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if not hasattr(v, "__dict__"):
        return {"__object__": type(v).__name__, "repr": repr(v)}
    attrs = {k: value(i) for k, i in sorted(vars(v).items()) if not k.startswith("_workflow")}
    return {"__object__": type(v).__name__, "attrs": attrs}


def when(t: Any) -> Any:
    return None if t is None else t.isoformat()


def run_view(r: Any) -> dict[str, Any]:
    return {
        "id": r.id_,
        "action_idx": r.element_action.action_idx,
        "status": r.status.name,
        "start_time": when(r.start_time),
        "end_time": when(r.end_time),
        "exit_code": r.exit_code,
        "success": r.success,
        "submission_idx": None if r.submission_idx is None else int(r.submission_idx),
        "skipped": bool(r.skip),
        "run_hostname": r.run_hostname,
    }


def file_view(wf: Any, param_id: int) -> dict[str, Any]:
    """A file parameter as the engine hands it out (``Workflow.get_parameter_data``:
    the file's reference), with the text of the file it names (a workflow folder)."""
    ref = wf.get_parameter_data(param_id)
    text = None
    if isinstance(ref, dict) and ref.get("path") and Path(wf.path).is_dir():
        where = Path(wf.path, ref["path"])
        text = where.read_text() if where.is_file() else None
    return {"file": value(ref), "text": text}


def iteration_view(it: Any) -> dict[str, Any]:
    data = {}
    for path in sorted(it.get_data_idx()):
        if path.startswith(("inputs.", "outputs.")):
            data[path] = value(it.get(path))
        elif path.startswith(("input_files.", "output_files.")):
            data[path] = file_view(it.workflow, it.get_data_idx()[path])
    return {
        "id": it.id_,
        "index": it.index,
        "loop_idx": dict(it.loop_idx),
        "runs": [run_view(r) for acts in it.actions.values() for r in acts.runs],
        "data": data,
    }


def main() -> None:
    print(json.dumps({path: view(path) for path in sys.argv[1:]}, default=repr))


def view(path: str) -> dict[str, Any]:
    """What the engine shows of the workflow at `path`."""
    wf = hf.Workflow(path)
    out: dict[str, Any] = {
        "name": wf.name,
        "num_EARs": wf.num_EARs,
        "tasks": [
            {
                "insert_ID": t.insert_ID,
                "index": t.index,
                "name": t.name,
                "elements": [
                    {
                        "id": el.id_,
                        "index": el.index,
                        "iterations": [iteration_view(i) for i in el.iterations],
                    }
                    for el in t.elements
                ],
            }
            for t in wf.tasks
        ],
        "loops": [
            {
                "name": lp.name,
                "num_added_iterations": sorted(
                    [list(k), v] for k, v in lp.num_added_iterations.items()
                ),
                "iterable_parameters": lp.iterable_parameters,
            }
            for lp in wf.loops
        ],
        "submissions": [
            {
                "index": sub.index,
                "num_parts": len(sub.submission_parts),
                "jobscripts": [
                    {
                        "index": js.index,
                        "submit_time": when(js.submit_time),
                        "scheduler_job_ID": js.scheduler_job_ID,
                        "process_ID": js.process_ID,
                        "submit_cmdline": js.submit_cmdline,
                        "submit_hostname": js.submit_hostname,
                        "run_IDs": sorted(
                            int(i) for i in np.asarray(_run_ids(js)).ravel() if int(i) >= 0
                        ),
                        "stdout": _std(js, "stdout", path),
                        "stderr": _std(js, "stderr", path),
                    }
                    for js in sub.jobscripts
                ],
            }
            for sub in wf.submissions
        ],
    }
    return out


def _run_ids(js: Any) -> Any:
    if hasattr(js, "blocks"):
        return np.concatenate([np.asarray(b.EAR_ID).ravel() for b in js.blocks])
    return js.EAR_ID


def _std(js: Any, which: str, wf_path: str) -> str | None:
    """The jobscript's standard output or error as the engine finds it."""
    try:
        if hasattr(js, "get_stdout"):  # 0.3.0
            return js.get_stdout() if which == "stdout" else js.get_stderr()
        path = js.direct_stdout_path if which == "stdout" else js.direct_stderr_path
        if wf_path.endswith(".zip"):  # a190 gives paths inside the archive
            with zipfile.ZipFile(wf_path) as zf:
                name = f"artifacts/submissions/{js.submission.index}/{Path(path).name}"
                return zf.read(name).decode()
        return path.read_text()
    except Exception as exc:  # reported as a value: the comparison shows it
        return f"<{type(exc).__name__}>"


if __name__ == "__main__":
    main()
