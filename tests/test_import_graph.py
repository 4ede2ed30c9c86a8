"""The package's import graph: no cycle anywhere (imports under ``if TYPE_CHECKING:``
and inside functions included), the layers of ``pyproject.toml`` kept (lint-imports),
and no module below the command line importing the package ``wfstore`` itself."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp")

REPO = Path(__file__).resolve().parent.parent
#: What an import of the extension reads as (the graph holds no module for it).
CORE_IMPORTS = ("from wfstore import _core", "import wfstore._core")


def _edges(graph: object, root: str) -> dict[str, set[str]]:
    """Each module's direct imports within the package, without the imports of the
    extension that read as imports of the root package."""
    out: dict[str, set[str]] = {}
    for mod in graph.modules:  # type: ignore[attr-defined]
        deps = set(graph.find_modules_directly_imported_by(mod))  # type: ignore[attr-defined]
        if root in deps and mod != root:
            details = graph.get_import_details(importer=mod, imported=root)  # type: ignore[attr-defined]
            if all(d["line_contents"].startswith(CORE_IMPORTS) for d in details):
                deps.discard(root)
        deps.discard(mod)
        out[mod] = deps
    return out


def import_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work: list[tuple[str, Iterable[str]]] = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for mod in sorted(edges):
        if mod not in index:
            visit(mod)
    return found


@pytest.fixture(scope="module")
def wfstore_graph() -> object:
    return grimp.build_graph("wfstore", cache_dir=None)


def test_no_import_cycle_in_the_package(wfstore_graph: object) -> None:
    assert import_cycles(_edges(wfstore_graph, "wfstore")) == []


def test_only_the_command_line_imports_the_package_itself(wfstore_graph: object) -> None:
    edges = _edges(wfstore_graph, "wfstore")
    importers = sorted(m for m, deps in edges.items() if "wfstore" in deps)
    assert all(m.startswith("wfstore.cli") for m in importers), importers


def test_a_cycle_through_type_checking_imports_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "cyclepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyclepkg.b import B\n\n\nclass A(B):\n    pass\n")
    (pkg / "b.py").write_text(
        textwrap.dedent(
            """\
            from typing import TYPE_CHECKING

            if TYPE_CHECKING:
                from cyclepkg.a import A


            class B:
                def make(self) -> "A": ...
            """
        )
    )
    (pkg / "c.py").write_text("def f():\n    from cyclepkg import d\n")  # lazy, no cycle
    (pkg / "d.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("cyclepkg", cache_dir=None)
    assert import_cycles(_edges(graph, "cyclepkg")) == [["cyclepkg.a", "cyclepkg.b"]]


def test_the_layer_contracts_hold() -> None:
    pytest.importorskip("importlinter")
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command as c; "
            "sys.exit(c(['--no-cache']))",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "0 broken" in res.stdout
