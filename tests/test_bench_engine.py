"""The engine-level benchmark runner (``benches/engine.py``): how it counts the store's
time, and a run at a tiny size that reports every phase of every variant. Times are
never checked.

The run needs the engine's Python (hpcflow-new2 0.2.0a190 with wfstore installed):
``WFSTORE_HPCFLOW_PYTHON``, else this repository's ``.venv-hpcflow`` (which
``scripts/test.sh`` makes), else this Python if it has both. Without one it skips, and
fails under ``CI``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
RUNNER = REPO / "benches" / "engine.py"


@pytest.fixture(scope="module")
def engine() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_engine", RUNNER)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_engine"] = mod
    spec.loader.exec_module(mod)
    return mod


def _store_class() -> type:
    """A store class and a base of it, new for each test (wrapping changes them)."""

    class Base:
        def inner(self) -> int:
            return 1

        @property
        def prop(self) -> int:
            return self.inner()

        @staticmethod
        def static() -> int:
            return 2

        @classmethod
        def klass(cls) -> int:
            return 3

    class Store(Base):
        def __init__(self) -> None:
            self.log: list[str] = []

        def outer(self) -> int:
            return self.inner() + self.prop + self.static() + self.klass()

        def fails(self) -> None:
            self.inner()
            raise ValueError("no")

        @contextlib.contextmanager
        def cached(self) -> Iterator[None]:
            self.log.append("enter")
            yield
            self.log.append("exit")

    return Store


def test_only_the_outermost_store_calls_count(engine: ModuleType) -> None:
    cls = _store_class()
    timer = engine.StoreTimer()
    timer.wrap_classes([cls])
    s = cls()
    timer.reset()
    assert s.outer() == 7  # calls inner, prop, static and klass inside
    assert timer.calls == 1
    assert s.prop == 1 and cls.static() == 2 and cls.klass() == 3
    assert timer.calls == 4
    with pytest.raises(ValueError):
        s.fails()
    assert timer.calls == 5 and timer.depth == 0  # the counter survives the error
    # a context manager's body is the caller's: entering and leaving are counted
    with s.cached():
        assert timer.depth == 0
        s.inner()
    assert s.log == ["enter", "exit"]
    assert timer.calls == 7
    assert timer.seconds > 0


def test_helper_objects_of_a_store_are_wrapped_too(engine: ModuleType) -> None:
    # classes from the store's modules held by a store object (its pending changes),
    # directly or in a dict, are wrapped when a store object is made
    helper = type("Pending", (), {"__module__": "wfstore.fake", "commit": lambda self: 1})
    other = type("Other", (), {"__module__": "elsewhere", "work": lambda self: 1})

    def init(self: object) -> None:
        self.pending = helper()  # type: ignore[attr-defined]
        self.items = {"x": other()}  # type: ignore[attr-defined]

    store = type("Store", (), {"__module__": "wfstore.fake", "__init__": init})
    timer = engine.StoreTimer()
    timer.wrap_classes([store])
    s = store()
    timer.reset()
    s.pending.commit()
    s.items["x"].work()
    assert timer.calls == 1
    assert helper in timer._wrapped and other not in timer._wrapped


def _engine_python() -> str | None:
    """A Python where hpcflow and wfstore are importable, if there is one."""
    candidates = [
        os.environ.get("WFSTORE_HPCFLOW_PYTHON"),
        str(REPO / ".venv-hpcflow" / "bin" / "python"),
        sys.executable,
    ]
    for py in candidates:
        if not py or not Path(py).exists():
            continue
        probe = subprocess.run(
            [py, "-c", "import hpcflow.app, wfstore.hpcflow"],
            capture_output=True,
            check=False,
        )
        if probe.returncode == 0:
            return py
    return None


def test_a_tiny_run_reports_every_phase_of_every_variant(
    engine: ModuleType, tmp_path: Path
) -> None:
    py = _engine_python()
    if py is None:
        msg = "no Python with hpcflow and wfstore (set WFSTORE_HPCFLOW_PYTHON)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {msg}")
        pytest.skip(msg)
    out = tmp_path / "engine.json"
    plot = tmp_path / "engine.png"
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- engine-bench:start -->\nold\n<!-- engine-bench:end -->\nend\n")
    cmd = [py, str(RUNNER), "--runs", "40", "--workloads", "sequence", "--share", "inline"]
    cmd += ["--out", str(out), "--plot", str(plot), "--readme", str(readme)]
    cmd += ["--tmp", str(tmp_path / "work")]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    data = json.loads(out.read_text())
    results = data["results"]
    assert sorted(r["variant"] for r in results) == sorted(engine.VARIANTS)
    for r in results:
        assert r["workload"] == "sequence" and r["runs"] == 40
        if r["variant"] in engine.VARIANTS_03 and r.get("skipped"):
            # (no hpcflow 0.3.0 Python given, or register() refusing 0.3.x): said why
            assert r["phases"] == {} and len(r["skipped"]) > 10
            continue
        skipped = r.get("skipped_phases", {})
        assert r["variant"] in engine.VARIANTS_03 or not skipped  # (0.3.0 cannot rechunk)
        assert sorted([*r["phases"], *skipped]) == sorted(engine.PHASE_KEYS)
        for key, ph in r["phases"].items():
            assert ph["seconds"] > 0, (r["variant"], key)
            assert ph["peak_rss_mib"] > 0, (r["variant"], key)
            assert ph["files"] >= 1, (r["variant"], key)
            assert 0 < ph["store_share"] <= 1, (r["variant"], key, ph)
            # the engine's own stores are measured without wfstore loaded
            own = r["variant"] in ("hpcflow", "hpcflow-0.3")
            assert ph["wfstore_loaded"] is not own, (r["variant"], key)
        jobs = r["phases"]["jobs"]
        assert jobs["procs"] == 2 and sum(j["runs"] for j in jobs["jobs"]) == 40
        assert jobs["store_per_run_s"] > 0
        assert r["phases"]["zip"]["files"] == 1  # the archive
    files = {r["variant"]: r["phases"]["make"]["files"] for r in results if r["phases"]}
    assert files["wfstore-own"] < files["wfstore-engine"]  # 100 rows per chunk file
    # every phase and variant in the report, and the README block replaced by it (a
    # column per variant run), skipped variants named with the reason
    report = engine.render_report(data)
    for label in engine.PHASE_LABELS.values():
        assert label in report
    ran = [r["variant"] for r in results if r["phases"]]
    for v in ran:
        assert f"| {v} |" in report
    text = readme.read_text()
    assert "old" not in text and text.endswith("end\n")
    assert "| phase | " + " | ".join(ran) + " |" in text and "| make | " in text
    for r in results:
        if r.get("skipped"):
            assert f"{r['variant']}: skipped (" in text
    # the plot, or the message saying why there is none
    assert plot.exists() or "no plot" in proc.stderr
    # the console tables too
    assert "jobs phase, per run" in proc.stdout


def test_targets_are_checked_on_the_sequence_workload(engine: ModuleType) -> None:
    def res(variant: str, runs: int, seconds: float, share: float, rss: float) -> dict:
        phases = {
            k: {"seconds": seconds, "store_share": share, "peak_rss_mib": rss, "files": 1}
            for k in engine.PHASE_KEYS
        }
        phases["jobs"]["store_per_run_s"] = seconds / 100
        return {"variant": variant, "workload": "sequence", "runs": runs, "phases": phases}

    results = [
        res("hpcflow", 10_000, 100.0, 0.9, 200),
        res("wfstore-engine", 10_000, 10.0, 0.2, 150),  # 10x everywhere
        res("wfstore-own", 10_000, 12.5, 0.3, 250),  # 8x, share and RSS over
        res("hpcflow", 100_000, 1000.0, 0.9, 400),
        res("wfstore-engine", 100_000, 125.0, 0.2, 300),  # 8x: within 20% of 10x
        res("wfstore-own", 100_000, 200.0, 0.2, 300),  # 5x: not within 20% of 8x
    ]
    every = {what: ok for what, ok, _ in engine.check_targets(results)}
    got = {w: ok for w, ok in every.items() if "0.3.0" not in w}
    assert all(ok is not None for ok in got.values()), got
    # hpcflow 0.3.0's targets: not measured without its variants
    assert all(ok is None for w, ok in every.items() if "0.3.0" in w)

    def ok(*words: str) -> bool | None:
        (hit,) = [v for w, v in got.items() if all(x in w for x in words)]
        return hit

    assert ok("open + read", "wfstore-engine") is True
    assert ok("open + read", "wfstore-own") is False
    assert ok("make", ">= 5x", "wfstore-engine") is True
    assert ok("make", ">= 6x", "wfstore-own") is True
    assert ok("share", "wfstore-engine") is True and ok("share", "wfstore-own") is False
    assert ok("RSS", "wfstore-engine") is True and ok("RSS", "wfstore-own") is False
    assert ok("jobs", "wfstore-engine") is True and ok("jobs", "wfstore-own") is True
    assert ok("100,000", "wfstore-engine") is True and ok("100,000", "wfstore-own") is False
    # without the engine's own store only the store's share (not a ratio) is measured
    alone = {what: ok for what, ok, _ in engine.check_targets(results[1:3])}
    assert {w for w, v in alone.items() if v is not None} == {w for w in alone if "share" in w}
    # hpcflow 0.3.0: against its own store
    own03 = res("hpcflow-0.3", 10_000, 100.0, 0.9, 200)
    ours03 = res("wfstore-0.3", 10_000, 1.5, 0.5, 200)  # 66x everywhere
    ours03["phases"]["make"]["seconds"] = 125.0  # slower than 0.3.0's own
    ours03["phases"]["zip"]["files"] = 2  # more files than 0.3.0's own
    got03 = {w: ok for w, ok, _ in engine.check_targets([own03, ours03]) if "0.3.0" in w}
    assert len(got03) == 4

    def ok03(*words: str) -> bool | None:
        (hit,) = [v for w, v in got03.items() if all(x in w for x in words)]
        return hit

    assert ok03("open + read", ">= 50x") is True and ok03("make", ">= 1x") is False
    assert ok03("jobs") is True and ok03("files") is False
    skipped = {**ours03, "phases": {}, "skipped": "register() refuses 0.3.x"}
    reasons = [f for w, _, f in engine.check_targets([own03, skipped]) if "0.3.0" in w]
    assert reasons and all("register() refuses" in f for f in reasons)


def test_the_store_share_of_a_wrapped_run_is_applied_to_the_timed_one(
    engine: ModuleType,
) -> None:
    from engine_bench.runner import merge_share  # (benches/ is on the path: see engine)

    timed = {
        "phases": {
            "make": {"seconds": 2.0},
            "jobs": {"seconds": 5.0, "busy_seconds": 8.0, "runs": 40},
        }
    }
    wrapped = {
        "phases": {
            "make": {"seconds": 4.0, "store_seconds": 1.0, "store_calls": 9},
            "jobs": {
                "seconds": 10.0,
                "store_seconds": 12.0,
                "store_calls": 99,
                "store_share": 0.75,
                "store_per_run_s": 0.3,
            },
        }
    }
    out = merge_share(timed, wrapped)["phases"]
    assert out["make"]["seconds"] == 2.0 and out["make"]["store_share"] == 0.25
    jobs = out["jobs"]
    assert jobs["seconds"] == 5.0 and jobs["store_share"] == 0.75
    assert jobs["store_per_run_s"] == 0.75 * 8.0 / 40  # the timed processes' time
    assert jobs["store_per_run_wrapped_s"] == 0.3


def test_a_phase_selection_brings_what_its_phases_need(engine: ModuleType) -> None:
    from engine_bench.runner import phases_to_run

    assert phases_to_run(["jobs"]) == ["make", "submission", "jobs"]
    assert phases_to_run(["read_zip", "read"]) == ["make", "read", "zip", "read_zip"]
    with pytest.raises(SystemExit, match="unknown phase 'jobz'"):
        phases_to_run(["jobz"])
