"""`wfstore verify` names every key a power cut can leave damaged (issue 22: with
durability "normal" each key is old, new, or named by verify): chunks emptied or
zero-filled, chunks of an array whose `.zarray` was emptied, chunk files beyond an
append's shape, and the chunk of a new array whose `.zarray` never reached the disk.
The Rust crash-state tests check the same rules (`ops::verify`) on every state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import wfstore
from wfstore.tools.verify import verify


def _store(path: Path) -> None:
    st = wfstore.create(str(path), kind="zarr")
    for i in range(3):
        st.add_set_parameter({"v": i}, {"type": "local_input"}, save=False)
    st.add_set_parameter(np.arange(4.0), {"type": "local_input"}, save=False)
    st.save()


def _bad(path: Path) -> set[str]:
    return {b.location for b in verify(str(path)).bad}


def test_each_key_a_power_cut_damages_is_named(tmp_path: Path) -> None:
    wk = tmp_path / "wk"
    _store(wk)
    assert _bad(wk) == set()
    base = wk / "parameters" / "base"
    chunks = sorted(p.name for p in base.iterdir() if p.name.isdigit())
    assert chunks, "the store has parameter chunks"
    # a chunk emptied, and one beyond the array's shape zero-filled
    (base / chunks[0]).write_bytes(b"")
    (base / "999").write_bytes(bytes(40))
    # a new array's chunk whose .zarray never reached the disk
    orphan = wk / "parameters" / "arrays" / "77"
    orphan.mkdir(parents=True)
    (orphan / "0").write_bytes(b"\x00" * 16)
    bad = _bad(wk)
    assert f"parameters/base/{chunks[0]}" in bad
    assert "parameters/base/999" in bad
    assert "parameters/arrays/77/0" in bad
    # the array's .zarray emptied: it and every chunk of it are named
    (base / ".zarray").write_bytes(b"")
    bad = _bad(wk)
    assert "parameters/base/.zarray" in bad
    assert {f"parameters/base/{c}" for c in chunks} <= bad
