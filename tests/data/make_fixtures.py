"""Write the engine fixture stores of ``tests/data`` again (see ``README.md`` here).

Run with the Python of an environment holding one engine generation and its pins:
hpcflow-new2 0.2.0a190 (``hpcflow-new2==0.2.0a190``, ``zarr==2.17.2``,
``numcodecs<0.13``, ``pytest<8``) or hpcflow 0.3.0 (``hpcflow[test]==0.3.0``,
``zarr==2.17.2``; hpcflow pins numcodecs)::

    python tests/data/make_fixtures.py OUT [NAME ...]
    python tests/data/make_fixtures.py --dump STORE [STORE ...]

The generation is the installed engine's (:func:`engine_generation`). For each of its
fixtures NAME (default: all of its :data:`ENGINE_TESTS` and :data:`OWN_WORKFLOWS`), the
store is written under ``OUT/NAME`` (``OUT/NAME.zip`` for an archive), with
``OUT/NAME.expected.json``: what the engine's own store classes return for it through
the PersistentStore API, dumped by ``tests/persistence/store_dump.py``. ``--dump`` prints
that for each store given, by its file name (the fixture tests run it in the engine's
side environment).

Engine fixtures come from the engine's bundled tests (``hpcflow/tests`` in site-packages):
each named test runs alone under pytest with a fresh ``--basetemp``, and the one store
it leaves in its ``tmp_path`` is copied (without the engine's ``execute/`` folder). The
fixture's name is that ``tmp_path``'s name as pytest made it in the original run of the
whole files: the node name with non-word characters as ``_``, cut to 30 characters, then
pytest's counter; run alone, the counter is 0, so only the prefix is checked here. The
``wk_*`` fixtures are small workflows built here through the engine's API.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "persistence"))

from store_dump import dump_store  # noqa: E402


def engine_generation() -> str:
    """The installed engine's version: ``0.3.0`` (package ``hpcflow``) or
    ``0.2.0a190`` (package ``hpcflow-new2``); other versions are refused."""
    for dist in ("hpcflow", "hpcflow-new2"):
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        if version in ENGINE_TESTS:
            return version
        raise SystemExit(f"{dist} {version} is installed: fixtures are made by {GENERATIONS}")
    raise SystemExit("no engine installed (hpcflow 0.3.0 or hpcflow-new2 0.2.0a190)")


#: Per engine generation: fixture name -> the engine test (node ID under
#: ``hpcflow/tests``) whose store it is.
ENGINE_TESTS: dict[str, dict[str, str]] = {}
ENGINE_TESTS["0.2.0a190"] = {
    "test_action_exit_code_parsing_0": (
        "workflows/test_jobscript.py::test_action_exit_code_parsing[0]"
    ),
    "test_action_exit_code_parsing_2": (
        "workflows/test_jobscript.py::test_action_exit_code_parsing[98]"
    ),
    "test_action_exit_code_parsing_4": (
        "workflows/test_jobscript.py::test_action_exit_code_parsing[-123124]"
    ),
    "test_element_get_group_zarr_0": ("workflows/test_workflows.py::test_element_get_group[zarr]"),
    "test_element_get_sub_object_gr0": (
        "workflows/test_workflows.py::test_element_get_sub_object_group"
    ),
    "test_input_source_labels_and_g0": (
        "workflows/test_workflows.py::test_input_source_labels_and_groups"
    ),
    "test_loop_termination_multi_el0": (
        "workflows/test_workflows.py::test_loop_termination_multi_element"
    ),
    "test_multi_command_action_stdo1": (
        "workflows/test_workflows.py::test_multi_command_action_stdout_parsing[zarr]"
    ),
    "test_script_direct_in_direct_o1": (
        "scripts/test_main_scripts.py::test_script_direct_in_direct_out_single_label"
    ),
    "test_script_direct_in_pass_env0": (
        "scripts/test_main_scripts.py::test_script_direct_in_pass_env_spec"
    ),
    "test_script_hdf5_in_obj0": ("scripts/test_main_scripts.py::test_script_hdf5_in_obj"),
    "test_script_json_and_direct_in0": (
        "scripts/test_main_scripts.py::test_script_json_and_direct_in_json_out"
    ),
    "test_script_json_in_json_out0": ("scripts/test_main_scripts.py::test_script_json_in_json_out"),
    "test_script_json_in_obj0": ("scripts/test_main_scripts.py::test_script_json_in_obj"),
    "test_script_json_sub_param_in_0": (
        "scripts/test_main_scripts.py::test_script_json_sub_param_in_json_out_labels"
    ),
    "test_submission_with_specified1": (
        "unit/test_parameter.py::test_submission_with_specified_parameter_class_module[zarr]"
    ),
    "test_workflow_1_with_working_d0": (
        "workflows/test_workflows.py::test_workflow_1_with_working_dir_with_spaces"
    ),
    "test_zarr_rechunk_data_equival1": (
        "unit/test_persistence.py::test_zarr_rechunk_data_equivalent_custom_chunk_size"
    ),
    "test_zarr_rechunk_data_no_back1": (
        "unit/test_persistence.py::test_zarr_rechunk_data_no_backup_load_parameter_base"
    ),
}
ENGINE_TESTS["0.3.0"] = {
    "test_action_exit_code_parsing_2": (
        "workflows/test_jobscript.py::test_action_exit_code_parsing[98]"
    ),
    "test_skipped_action_same_eleme0": (
        "workflows/test_jobscript.py::test_skipped_action_same_element"
    ),
    "test_loop_simple0": "workflows/test_workflows.py::test_loop_simple",
    "test_input_file_generator_no_e0": (
        "workflows/test_workflows.py::test_input_file_generator_no_errors_on_skip"
    ),
    "test_element_get_group_zarr_0": "workflows/test_workflows.py::test_element_get_group[zarr]",
    "test_multi_command_action_stdo0": (
        "workflows/test_workflows.py::test_multi_command_action_stdout_parsing[json]"
    ),
    "test_script_direct_sub_param_i0": (
        "scripts/test_main_scripts.py::test_script_direct_sub_param_in_direct_out[False]"
    ),
}
#: The engine generations fixtures are made for.
GENERATIONS = tuple(ENGINE_TESTS)
#: Extra pytest arguments for an engine's bundled tests (0.3 registers its command-line
#: options in a plugin of its own).
PYTEST_ARGS: dict[str, list[str]] = {
    "0.2.0a190": [],
    "0.3.0": ["-p", "hpcflow.pytest_plugin"],
}


def tmp_path_prefix(node_id: str) -> str:
    """The name pytest gives a test's ``tmp_path`` before its counter."""
    return re.sub(r"[\W]", "_", node_id.rpartition("::")[2])[:30]


def store_kind(path: Path) -> str | None:
    """``zarr``, ``json`` or ``zip`` when `path` is an engine store, else None."""
    if path.is_file() and path.suffix == ".zip":
        return "zip"
    if (path / ".zgroup").is_file() and (path / "metadata").is_dir():
        return "zarr"
    if (path / "metadata.json").is_file() and (path / "parameters.json").is_file():
        return "json"
    return None


def find_stores(root: Path) -> list[Path]:
    """Every engine store under `root` (not looking inside stores)."""
    if store_kind(root):
        return [root]
    if not root.is_dir():
        return []
    return [s for p in sorted(root.iterdir()) for s in find_stores(p)]


def copy_store(src: Path, dst: Path) -> None:
    """Copy the store `src` to `dst`, leaving out the engine's ``execute/`` folder, the
    Python scripts it generates under ``artifacts/`` (hpcflow 0.3 writes each script
    action's wrapper there: engine code, not store data) and empty folders (git keeps
    no empty folder, so the repository's copies have none)."""
    if src.is_file():
        shutil.copyfile(src, dst)
        return

    def ignore(folder: str, names: list[str]) -> list[str]:
        rel = Path(folder).relative_to(src).parts
        if not rel:
            return ["execute"]
        return [n for n in names if n.endswith(".py")] if rel[0] == "artifacts" else []

    shutil.copytree(src, dst, ignore=ignore)
    for folder, _, _ in os.walk(dst, topdown=False):  # children before their parent
        if Path(folder) != dst and not any(Path(folder).iterdir()):
            os.rmdir(folder)


def engine_env() -> dict[str, str]:
    """Environment of the engine's processes: job scripts run ``python``, which must be
    this environment's."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)
    return env


def run_engine_test(
    name: str, node_id: str, work: Path, out: Path, generation: str = "0.2.0a190"
) -> Path:
    """Run the engine test `node_id` alone and copy the store it wrote to ``out/name``."""
    prefix = tmp_path_prefix(node_id)
    if not name.startswith(prefix) or not name[len(prefix) :].isdigit():
        raise SystemExit(f"{name}: not a tmp_path name of {node_id} (prefix {prefix!r})")
    import hpcflow

    tests = Path(hpcflow.__file__).resolve().parent / "tests"
    basetemp = work / name
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *PYTEST_ARGS[generation]]
    cmd += ["-q", "--integration"]
    cmd += [f"--basetemp={basetemp}", node_id]
    proc = subprocess.run(cmd, cwd=tests, env=engine_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{node_id} failed:\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}")
    stores = find_stores(basetemp / f"{prefix}0")
    if len(stores) != 1:
        raise SystemExit(f"{node_id}: expected one store in its tmp_path, found {stores}")
    dst = out / (name + (".zip" if stores[0].is_file() else ""))
    copy_store(stores[0], dst)
    return dst


# --- the wk_* workflows, built through the engine's API -----------------------------------


def _seq_tasks(hf: Any) -> list[Any]:
    """One task of the engine's test schema ``test_t1_conditional_OS`` (p2 = p1 + 100)
    over a sequence of four values of p1."""
    seq = hf.ValueSequence("inputs.p1", values=[1, 2, 3, 4], nesting_order=0)
    return [hf.Task(schema=hf.task_schemas.test_t1_conditional_OS, sequences=[seq])]


def _submit(wk: Any) -> None:
    wk.submit(wait=True, add_to_known=False, status=False)


def make_wk_seq(hf: Any, work: Path, out: Path, name: str) -> Path:
    """``wk_seq_zarr`` / ``wk_seq_json``: the sequence workflow, submitted and run;
    ``wk_seq_zarr_zip``: ``wk_seq_zarr`` zipped by the engine."""
    store = "json" if name == "wk_seq_json" else "zarr"
    wk_name = "wk_seq_json" if store == "json" else "wk_seq_zarr"
    folder = work / name
    folder.mkdir()
    wk = hf.Workflow.from_template_data(
        template_name=wk_name,
        tasks=_seq_tasks(hf),
        path=folder,
        workflow_name=wk_name,
        store=store,
    )
    _submit(wk)
    if name == "wk_seq_zarr_zip":
        src = Path(wk.zip(path=str(folder)))
        dst = out / f"{name}.zip"
    else:
        src, dst = Path(wk.path), out / name
    copy_store(src, dst)
    return dst


def make_wk_arrays(hf: Any, work: Path, out: Path, name: str) -> Path:
    """``wk_arrays_zarr``: numpy parameter values (a 2-D int array, a float array, a
    masked array), kept by the Zarr store as arrays of their own, beside a dict holding
    a tuple, a set and a list; three tasks of one schema, not submitted."""
    import numpy as np

    schema = hf.TaskSchema(
        objective="t_arr",
        inputs=[hf.SchemaInput("p1"), hf.SchemaInput("p2")],
        actions=[
            hf.Action(
                commands=[hf.Command("echo <<parameter:p1>> <<parameter:p2>>")],
                environments=[hf.ActionEnvironment("null_env")],
            )
        ],
    )
    p2 = {"a": (1, 2), "b": {3, 4}, "c": [None, "x", 1.5]}
    values = [
        np.arange(6, dtype="<i8").reshape(2, 3),
        np.linspace(0.0, 1.0, 5),
        np.ma.masked_array([0.0, 1.0, 2.0, 3.0], mask=[False, True, False, True]),
    ]
    tasks = [hf.Task(schema=schema, inputs={"p1": v, "p2": p2}) for v in values]
    folder = work / name
    folder.mkdir()
    wk = hf.Workflow.from_template_data(
        template_name=name, tasks=tasks, path=folder, workflow_name=name, store="zarr"
    )
    dst = out / name
    copy_store(Path(wk.path), dst)
    return dst


def make_wk_array_outputs(hf: Any, work: Path, out: Path, name: str) -> Path:
    """``wk_array_outputs_zarr``: numpy outputs of a Python script (p2 = p1 + 100, with
    p1 passed and p2 returned directly), which hpcflow 0.3 keeps in zstd-compressed NPZ
    archives under ``parameters/array_outputs`` (one per output name and run file;
    a masked array's mask in a sibling ``p2.__mask__`` archive), while the numpy inputs
    stay Zarr arrays under ``parameters/arrays``. The inputs are masked arrays: the
    engine hands a script a plain numpy input as a lazy Zarr array, which ``+``
    refuses. A sequence of three 1-D int arrays of different lengths (so the archive
    records each run's shape) in one jobscript, then, in a second task and jobscript
    (another run file), a fourth; submitted and run.

    ``wk_array_outputs_consolidated_zip``: the same workflow after
    ``Workflow.consolidate_array_outputs`` (one ``consolidated.npz.zst`` per output,
    shards removed), zipped by the engine."""
    import numpy as np

    def masked(n: int) -> Any:
        return np.ma.masked_array(np.arange(n), mask=[i % 2 == 1 for i in range(n)])

    schema = hf.TaskSchema(
        objective="t_arr_out",
        inputs=[hf.SchemaInput("p1")],
        outputs=[hf.SchemaOutput("p2")],
        actions=[
            hf.Action(
                script="<<script:main_script_test_direct_in_direct_out.py>>",
                script_data_in="direct",
                script_data_out="direct",
                script_exe="python_script",
                environments=[hf.ActionEnvironment(environment="python_env")],
            )
        ],
    )
    seq = hf.ValueSequence("inputs.p1", values=[masked(3), masked(5), masked(4)], nesting_order=0)
    tasks = [
        hf.Task(schema=schema, sequences=[seq]),
        hf.Task(schema=schema, inputs={"p1": masked(2)}),
    ]
    folder = work / name
    folder.mkdir()
    wk = hf.Workflow.from_template_data(
        template_name=name, tasks=tasks, path=folder, workflow_name=name, store="zarr"
    )
    _submit(wk)
    if name == "wk_array_outputs_consolidated_zip":
        wk.consolidate_array_outputs(status=False)
        src = Path(wk.zip(path=str(folder), status=False))
        dst = out / f"{name}.zip"
    else:
        src, dst = Path(wk.path), out / name
    copy_store(src, dst)
    return dst


#: Per engine generation: fixture name -> the function here that writes it.
OWN_WORKFLOWS: dict[str, dict[str, Callable[[Any, Path, Path, str], Path]]] = {
    "0.2.0a190": {
        "wk_arrays_zarr": make_wk_arrays,
        "wk_seq_json": make_wk_seq,
        "wk_seq_zarr": make_wk_seq,
        "wk_seq_zarr_zip": make_wk_seq,
    },
    "0.3.0": {
        "wk_array_outputs_consolidated_zip": make_wk_array_outputs,
        "wk_array_outputs_zarr": make_wk_array_outputs,
        "wk_arrays_zarr": make_wk_arrays,
        "wk_seq_json": make_wk_seq,
        "wk_seq_zarr": make_wk_seq,
        "wk_seq_zarr_zip": make_wk_seq,
    },
}


# --- expected values ------------------------------------------------------------------


def expected(path: Path, generation: str = "0.2.0a190") -> dict[str, Any]:
    """What the engine's own store class returns for the store at `path`
    (:func:`store_dump.dump_store`), parameter data read into memory."""
    kind = store_kind(path)
    if kind is None:
        raise SystemExit(f"{path} is not an engine store")
    if generation == "0.2.0a190":
        store = _store_a190(path, kind)
    else:
        store = _store_v03(path)
    if kind != "json":  # the engine's Zarr stores hand out arrays lazily unless asked
        get = store.get_parameters
        store.get_parameters = lambda ids, **kw: get(ids, dataset_copy=True, **kw)
    return dump_store(store, kind, generation)


def _store_a190(path: Path, kind: str) -> Any:
    """hpcflow-new2 0.2.0a190's store class for `path`, opened with stand-ins for the
    app and the workflow (all its store reads need of them)."""
    import hpcflow.app  # noqa: F401  (initialises hpcflow; avoids its circular imports)
    from fsspec.implementations.local import LocalFileSystem
    from hpcflow.sdk.persistence.json import JSONPersistentStore
    from hpcflow.sdk.persistence.zarr import ZarrPersistentStore, ZarrZipPersistentStore

    app = types.SimpleNamespace(
        persistence_logger=logging.getLogger("make_fixtures"),
        RunDirAppFiles=types.SimpleNamespace(take_snapshot=lambda: {"data": {}}),
    )
    wk = types.SimpleNamespace(ts_fmt=None, _in_batch_mode=False, name=path.stem, path=path)
    store: Any
    if kind == "zip":
        from fsspec.implementations.zip import ZipFileSystem

        store = ZarrZipPersistentStore(app, wk, "", ZipFileSystem(fo=str(path), mode="r"))
    elif kind == "zarr":
        store = ZarrPersistentStore(app, wk, str(path), LocalFileSystem())
    else:
        store = JSONPersistentStore(app, wk, str(path), LocalFileSystem())
    wk.ts_fmt = store.get_ts_fmt()
    return store


#: The throw-away engine configuration of :func:`_store_v03` (removed at exit).
_CONFIG_DIR: tempfile.TemporaryDirectory[str] | None = None


def _store_v03(path: Path) -> Any:
    """hpcflow 0.3's store for `path`, as its own ``Workflow`` opens it (its Zarr store
    reads run files, parameter files and array outputs through the workflow), under a
    throw-away configuration."""
    from hpcflow.app import app as hf

    global _CONFIG_DIR
    if not hf.is_config_loaded:
        _CONFIG_DIR = tempfile.TemporaryDirectory(prefix="wfstore-fixtures-config-")
        hf.load_config(config_dir=Path(_CONFIG_DIR.name), warn=False)
    return hf.Workflow(str(path))._store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="folder to write the fixtures into")
    ap.add_argument("names", nargs="*", help="fixtures to write (default: all)")
    ap.add_argument(
        "--dump",
        action="store_true",
        help="print what the engine reads from the stores OUT NAME... (by file name)",
    )
    args = ap.parse_args()
    generation = engine_generation()
    if args.dump:
        stores = [args.out, *map(Path, args.names)]
        dumps = {p.name: expected(p.resolve(), generation) for p in stores}
        print(json.dumps(dumps, indent=1, sort_keys=True))
        return
    engine_tests, own = ENGINE_TESTS[generation], OWN_WORKFLOWS[generation]
    names = args.names or [*engine_tests, *own]
    unknown = [n for n in names if n not in engine_tests and n not in own]
    if unknown:
        raise SystemExit(f"unknown fixtures {unknown} for hpcflow {generation}")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wfstore-fixtures-") as tmp:
        work = Path(tmp)
        hf = None
        for name in names:
            for old in (args.out / name, args.out / f"{name}.zip"):
                if old.is_dir():
                    shutil.rmtree(old)
                elif old.exists():
                    old.unlink()
            if name in engine_tests:
                path = run_engine_test(name, engine_tests[name], work, args.out, generation)
            else:
                if hf is None:
                    from hpcflow.app import app as hf

                    hf.load_config(config_dir=work / "config", warn=False)
                    os.environ["PATH"] = engine_env()["PATH"]  # job scripts run `python`
                path = own[name](hf, work, args.out, name)
            dump = json.dumps(expected(path, generation), indent=1, sort_keys=True)
            (args.out / f"{name}.expected.json").write_text(dump)
            print(f"{name}: {path}")


if __name__ == "__main__":
    main()
