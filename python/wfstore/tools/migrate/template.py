"""The workflow template and template components, rewritten from hpcflow-new2
0.2.0a190's keys to hpcflow 0.3.0's.

Mechanical renames and removals, and the traps (docs/migration.md):

* element sets: ``merge_envs`` removed; ``is_creation`` set to false (0.3.0 parses a
  missing key as true, which would merge the environments into the resources again for
  element sets that already exist); ``multi_path_sequences`` empty;
* actions: ``save_files`` removed, ``script_data_files_use_opt`` renamed
  ``data_files_use_opt``; output file parsers lose ``save_files`` too (the files it
  named that the parser does not read become ``generates_files``, as 0.3.0 reads a
  legacy ``save_files``); ``program_data_in`` / ``program_data_out`` written as ``{}``
  (0.3.0's own value for actions without a program, so schema hashes are as a native
  store's);
* resources (every scope, in the template, element sets and jobscripts):
  ``max_array_items`` renamed ``max_array_size``;
* tasks: ``condition`` none, ``disable_array_outputs`` empty; loops: ``task_refs`` and the
  termination task (the loop's last task), as 0.3.0 records them;
* the template's ``random_seed``: 0.3.0 invents one for every template it builds; a190
  recorded none, so one is derived from the workflow's creation ID (stable: migrating
  twice gives the same seed) and reported as defaulted.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from wfstore.tools.migrate.report import MigrationReport

#: Resource keys renamed from a190 to 0.3.0.
RESOURCE_RENAMES = {"max_array_items": "max_array_size"}
#: Action keys renamed from a190 to 0.3.0, and removed.
ACTION_RENAMES = {"script_data_files_use_opt": "data_files_use_opt"}
ACTION_REMOVED = ("save_files",)
ELEMENT_SET_REMOVED = ("merge_envs",)


def rewrite_resources(resources: Any) -> Any:
    """A resources mapping (scope -> resource values, or the values of one scope) with
    a190's renamed keys under their 0.3.0 names."""
    if not isinstance(resources, dict):
        return resources
    out: dict[str, Any] = {}
    for key, value in resources.items():
        if isinstance(value, dict) and key not in RESOURCE_RENAMES:
            out[key] = rewrite_resources(value) if _is_scope(key) else value
        else:
            out[RESOURCE_RENAMES.get(key, key)] = value
    return out


def _is_scope(key: str) -> bool:
    return key == "any" or key.startswith(("main", "processing", "input_file", "output_file"))


def _rewrite_output_file_parser(ofp: dict[str, Any]) -> dict[str, Any]:
    """An output file parser without a190's ``save_files``: 0.3.0 removed it; the files
    it named that the parser does not read (``from_files``) are files the parser
    script writes, which 0.3.0 declares in ``generates_files`` (0.3.0's own reading of
    a legacy ``save_files``, which it does with a deprecation warning)."""
    out = {k: v for k, v in ofp.items() if k != "save_files"}
    legacy = ofp.get("save_files")
    if isinstance(legacy, list):
        reads = list(ofp.get("from_files") or [])
        declared = list(ofp.get("generates_files") or [])
        written = [f for f in legacy if f not in reads and f not in declared]
        if written:
            out["generates_files"] = declared + written
    return out


def _rewrite_action(action: dict[str, Any]) -> dict[str, Any]:
    out = {ACTION_RENAMES.get(k, k): v for k, v in action.items() if k not in ACTION_REMOVED}
    if isinstance(out.get("output_file_parsers"), list):
        out["output_file_parsers"] = [
            _rewrite_output_file_parser(o) if isinstance(o, dict) else o
            for o in out["output_file_parsers"]
        ]
    out.setdefault("program_data_in", {})
    out.setdefault("program_data_out", {})
    if out["program_data_in"] is None:
        out["program_data_in"] = {}
    if out["program_data_out"] is None:
        out["program_data_out"] = {}
    return out


def rewrite_template_components(components: dict[str, Any]) -> dict[str, Any]:
    """Template components with every task schema's actions rewritten."""
    out = copy.deepcopy(components)
    for schema in (out.get("task_schemas") or {}).values():
        if isinstance(schema, dict) and isinstance(schema.get("actions"), list):
            schema["actions"] = [
                _rewrite_action(a) if isinstance(a, dict) else a for a in schema["actions"]
            ]
    return out


def _rewrite_element_set(es: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in es.items() if k not in ELEMENT_SET_REMOVED}
    out["is_creation"] = False
    out.setdefault("multi_path_sequences", [])
    if "resources" in out:
        out["resources"] = rewrite_resources(out["resources"])
    return out


def _rewrite_task(task: dict[str, Any]) -> dict[str, Any]:
    out = dict(task)
    out["element_sets"] = [_rewrite_element_set(es) for es in task.get("element_sets") or []]
    out.setdefault("condition", None)
    out.setdefault("disable_array_outputs", [])
    return out


def _rewrite_loop(loop: dict[str, Any]) -> dict[str, Any]:
    out = dict(loop)
    ids = list(loop.get("task_insert_IDs") or [])
    out.setdefault("task_refs", ids)
    if ids:
        out.setdefault("termination_task_insert_ID", ids[-1])
        out.setdefault("termination_task_ref", ids[-1])
    return out


def default_random_seed(creation_info: dict[str, Any], name: str) -> int:
    """The random seed given to a migrated template: derived from the workflow's
    creation ID (or its name), a 31-bit integer as 0.3.0's seeds are."""
    basis = str(creation_info.get("id") or name).encode()
    return int.from_bytes(hashlib.sha256(basis).digest()[:4], "big") & 0x7FFFFFFF


def rewrite_template(
    template: dict[str, Any],
    creation_info: dict[str, Any],
    name: str,
    report: MigrationReport,
) -> dict[str, Any]:
    """The workflow template rewritten for 0.3.0 (see the module's text); what was
    defaulted goes into `report`."""
    out = copy.deepcopy(template)
    out.setdefault("config", {})
    out.setdefault("imports", [])
    resources = rewrite_resources(out.get("resources") or {})
    any_scope = dict(resources.get("any") or {})
    if "random_seed" not in any_scope:
        seed = default_random_seed(creation_info, name)
        any_scope["random_seed"] = seed
        report.defaulted(
            "template",
            "resources.any.random_seed",
            seed,
            "hpcflow-new2 0.2.0a190 recorded no random seed; derived from the workflow's "
            "creation ID",
        )
    resources["any"] = any_scope
    out["resources"] = resources
    out["tasks"] = [_rewrite_task(t) for t in out.get("tasks") or []]
    out["loops"] = [_rewrite_loop(lp) for lp in out.get("loops") or []]
    return out


def _hash_key(ref: Any) -> str | None:
    if isinstance(ref, str) and ref.startswith("hash:"):
        return ref[len("hash:") :]
    return None


def schema_param_types(
    template: dict[str, Any], components: dict[str, Any], task_ID: int
) -> tuple[list[str], list[str]]:
    """The parameter types of a task's schema inputs and outputs, in schema order."""
    comps = components or {}
    params = comps.get("parameters") or {}
    schemas = comps.get("task_schemas") or {}
    task = next(
        (t for t in template.get("tasks") or [] if t.get("insert_ID", t.get("id_")) == task_ID),
        None,
    )
    refs = (task or {}).get("schema") or []
    key = _hash_key(refs[0] if isinstance(refs, list) and refs else refs)
    schema = schemas.get(key) if key else None
    if not isinstance(schema, dict):
        return [], []

    def types(items: Any) -> list[str]:
        out = []
        for item in items or []:
            pkey = _hash_key(item.get("parameter")) if isinstance(item, dict) else None
            typ = (params.get(pkey) or {}).get("type") if pkey else None
            if typ:
                out.append(typ)
        return out

    return types(schema.get("inputs")), types(schema.get("outputs"))
