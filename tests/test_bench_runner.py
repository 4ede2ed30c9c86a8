"""The comparison runner's variants (``benches/compare.py``): which durability each
wfstore variant's worker gets, whatever the caller's environment says."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

RUNNER = Path(__file__).resolve().parent.parent / "benches" / "compare.py"


@pytest.fixture(scope="module")
def compare() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_compare", RUNNER)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_compare"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_variant_names_split_into_engine_kind_and_durability(compare: ModuleType) -> None:
    assert compare.split_variant("hpcflow-zarr") == ("hpcflow", "zarr", None)
    assert compare.split_variant("wfstore-json") == ("wfstore", "json", None)
    assert compare.split_variant("wfstore-zarr@process") == ("wfstore", "zarr", "process")


def test_workers_get_the_variants_durability_not_the_callers(
    compare: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFSTORE_DURABILITY", "full")
    _, env = compare._python_for("wfstore-zarr", sys.executable)
    assert "WFSTORE_DURABILITY" not in env  # the default is what the targets measure
    _, env = compare._python_for("wfstore-zarr@process", sys.executable)
    assert env["WFSTORE_DURABILITY"] == "process"
    _, env = compare._python_for("hpcflow-zarr", sys.executable)
    assert "WFSTORE_DURABILITY" not in env


def test_a_bad_durability_variant_is_refused(compare: ModuleType) -> None:
    with pytest.raises(SystemExit):
        compare.main(["--durabilities", "fast", "--wfstore-only", "--no-readme"])


def test_a_small_run_reports_the_durability_variant_apart(
    compare: ModuleType, tmp_path: Path
) -> None:
    out = tmp_path / "compare.json"
    args = ["--runs", "50", "--wfstore-only", "--no-json", "--no-readme", "--out", str(out)]
    assert compare.main([*args, "--tmp", str(tmp_path)]) == 0
    data = json.loads(out.read_text())
    assert {(r["variant"], r["durability"]) for r in data["results"]} == {
        ("wfstore-zarr", "normal"),
        ("wfstore-zarr@process", "process"),
    }
    report = compare.render_report(data)
    head, _, section = report.partition('with `durability="process"`')
    assert section, report
    section = section.split("**Targets**")[0]
    # its one-commit phases only, and the targets come from the default variant
    assert "set run start" in section and "cold open" not in section
    assert "Zarr store, 50 runs**" in head


def test_variants_folders_are_spread_over_the_disk(compare: ModuleType, tmp_path: Path) -> None:
    # where the flag can be set (ext4: the development VM), folders made in the marked
    # folder are not placed beside it; elsewhere (tmpfs, overlay) nothing happens
    import os

    root = tmp_path / "root"
    root.mkdir()
    if not compare.spread_folders(root):
        pytest.skip(f"the file system of {tmp_path} has no top-directory flag")
    inode = root.stat().st_ino
    kids = []
    for i in range(4):
        (root / f"v{i}").mkdir()
        kids.append((root / f"v{i}").stat().st_ino)
    # beside the parent, folders take the next free inodes of its group
    assert any(abs(k - inode) > 65536 for k in kids), (inode, kids)
    assert compare.spread_folders(root / "v0")
    assert not compare.spread_folders(root / "missing")
    os.rmdir(root / "v0")


def test_the_unzip_floor_copies_the_tree_and_is_reported(
    compare: ModuleType, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "x").write_bytes(b"1")
    (tree / "a" / "y").write_bytes(b"22")
    (tree / "a" / "b" / "z").write_bytes(b"333")
    out = tmp_path / "out"
    out.mkdir()
    floor = compare.time_tree_floor(tree, out, tries=2)
    assert (floor["files"], floor["folders"]) == (3, 3)
    assert floor["seconds"] > 0
    for k in range(2):
        copy = out / f"floor-tree-{k}"
        assert (copy / "a" / "b" / "z").read_bytes() == b"333"
        assert sorted(p.name for p in copy.rglob("*")) == ["a", "b", "x", "y", "z"]
    # in the report and, when unzip is the slowest phase, in the target's figures
    def res(variant: str, unzip_s: float) -> dict:
        t = 100.0 if variant.startswith("hpcflow") else 1.0  # other phases 100x
        phases = {k: {"seconds": t, "per_call_s": t} for k, _, _ in compare.PHASES}
        phases["unzip"] = {"seconds": unzip_s, "per_call_s": unzip_s}
        return {"variant": variant, "runs": 10_000, "phases": phases, "tree_floor": floor}

    results = [res("hpcflow-zarr", 0.005), res("wfstore-zarr", 0.0015)]
    targets = compare.check_targets(results, {})
    every = next(t for t in targets if t[0].startswith("every phase"))
    assert every[1] is False and "3 files and 3 folders" in every[2], every
    assert "budget being 500 us" in every[2], every
