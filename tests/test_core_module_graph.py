"""The Rust core's modules import each other without cycles (issue: layers you can see).

Each source file of ``rust/wfstore-core/src`` is a module; an edge A -> B is a path
``crate::...`` or ``super::...`` in A that names B or an item of B. A parent naming its
own children (``mod x;``, ``pub use x::Item;`` re-exports) is how Rust lays out a
folder, not a dependency, and test modules (``tests.rs``) may use anything: both are
left out. What remains must be acyclic.
"""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "rust" / "wfstore-core" / "src"

_PATH = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+|::\{[^}]*\})")


def _module_of(path: Path) -> tuple[str, ...]:
    parts = path.relative_to(SRC).with_suffix("").parts
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return tuple(parts)


def _expand(prefix: tuple[str, ...], tail: str) -> list[tuple[str, ...]]:
    """`tail` is ``::a::b`` or ``::{a::b, c}``: the paths it names under `prefix`."""
    tail = tail.lstrip(":")
    if tail.startswith("{"):
        return [prefix + tuple(p.strip().split("::")) for p in tail[1:-1].split(",") if p.strip()]
    return [prefix + tuple(tail.split("::"))]


def module_graph() -> dict[tuple[str, ...], set[tuple[str, ...]]]:
    files = {_module_of(p): p for p in SRC.rglob("*.rs")}
    graph: dict[tuple[str, ...], set[tuple[str, ...]]] = {m: set() for m in files}
    for mod, path in files.items():
        if mod and mod[-1] == "tests":
            continue
        text = re.sub(r"//[^\n]*", "", path.read_text())
        # a file's own `#[cfg(test)] mod tests { ... }` block may use anything
        text = text.split("#[cfg(test)]\nmod tests", 1)[0]
        for kind, tail in _PATH.findall(text):
            base = () if kind == "crate" else mod[:-1]  # `super` is the parent module
            for target in _expand(base, tail):
                # the longest module prefix of the path is the module it names
                while target and target not in files:
                    target = target[:-1]
                if target == mod or (len(target) > len(mod) and target[: len(mod)] == mod):
                    continue  # itself, or its own child (folder layout, re-exports)
                graph[mod].add(target)
    return graph


def find_cycle(graph: dict[tuple[str, ...], set[tuple[str, ...]]]) -> list[str] | None:
    state: dict[tuple[str, ...], int] = {}
    stack: list[tuple[str, ...]] = []

    def visit(m: tuple[str, ...]) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                loop = [*stack[stack.index(n) :], n]
                return ["::".join(x) or "crate" for x in loop]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_core_has_layered_folders() -> None:
    mods = set(module_graph())
    for folder in ("storage", "array", "ops", "engine"):
        assert (folder,) in mods, folder


def test_no_cycle_among_the_cores_modules() -> None:
    graph = module_graph()
    assert sum(len(v) for v in graph.values()) > 20  # the parser sees the imports
    assert find_cycle(graph) is None, find_cycle(graph)


def test_a_cycle_is_found() -> None:
    a, b, c = ("a",), ("b",), ("c",)
    assert find_cycle({a: {b}, b: {c}, c: {a}}) == ["a", "b", "c", "a"]
    assert find_cycle({a: {b}, b: {c}, c: set()}) is None
