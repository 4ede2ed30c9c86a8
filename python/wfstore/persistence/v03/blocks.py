"""hpcflow 0.3.0's encoding of a submission's jobscript-block dependencies as the one
integer array ``js_deps`` (docs/hpcflow-0.3-format.md §1.3): per block ``[L, js, blk,
D...]``; each ``D = [M, dep_js, dep_blk, is_array, E...]``; each ``E = [len + 1,
element, *elements]``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def decode_block_dependencies(flat: list[int]) -> dict[tuple[int, int], Any]:
    """The jobscript-block dependencies of a submission from its ``js_deps`` array:
    per block ``[L, js, blk, D...]``; each ``D = [M, dep_js, dep_blk, is_array,
    E...]``; each ``E = [len + 1, element, *elements]``."""
    out: dict[tuple[int, int], Any] = {}
    pos = 0
    while pos < len(flat):
        end = pos + 1 + flat[pos]
        js, blk = flat[pos + 1], flat[pos + 2]
        deps: dict[tuple[int, int], Any] = {}
        p = pos + 3
        while p < end:
            d_end = p + 1 + flat[p]
            dep_js, dep_blk, is_array = flat[p + 1], flat[p + 2], flat[p + 3]
            mapping: dict[int, list[int]] = {}
            q = p + 4
            while q < d_end:
                e_end = q + 1 + flat[q]
                mapping[flat[q + 1]] = flat[q + 2 : e_end]
                q = e_end
            deps[(dep_js, dep_blk)] = {
                "js_element_mapping": mapping,
                "is_array": bool(is_array),
            }
            p = d_end
        out[(js, blk)] = deps
        pos = end
    return out


def encode_block_dependencies(js_idx: int, blk_idx: int, deps: Any) -> list[int]:
    """One block's dependencies as ``[L, js, blk, D...]`` (docs §1.3; the inverse of
    :func:`decode_block_dependencies`)."""
    body: list[int] = []
    items = deps.items() if isinstance(deps, Mapping) else deps
    for key, dep in items:
        dep_js, dep_blk = (int(x) for x in key)
        rec = [dep_js, dep_blk, int(bool(dep["is_array"]))]
        for elem, elems in dep["js_element_mapping"].items():
            rec += [len(elems) + 1, int(elem), *map(int, elems)]
        body += [len(rec), *rec]
    out = [int(js_idx), int(blk_idx), *body]
    return [len(out), *out]
