"""The engine runner's report: tables, issue 20's targets, the plot."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# the store-API runner's report helpers, from the installed wfstore (the runner's side
# only: the worker processes do not import this module)
from wfstore.tools.bench.report import (
    fmt_s,
    markdown_table,
    plot_lines,
    text_table,
    update_readme,
)

from .common import (
    BASELINE,
    ENGINE_VARIANTS,
    PHASE_KEYS,
    PHASE_LABELS,
    VARIANTS,
    WORKLOADS,
)

#: The markers of the README's engine benchmark table, which :func:`finish_report` rewrites.
README_START = "<!-- engine-bench:start -->"
README_END = "<!-- engine-bench:end -->"

# --- report (engine) ------------------------------------------------------------------


def _find(results: list[dict], variant: str, workload: str, runs: int) -> dict | None:
    for r in results:
        if (r["variant"], r["workload"], r["runs"]) == (variant, workload, runs):
            return r
    return None


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


TABLE_HEADER = [
    "phase",
    "variant",
    "time",
    "vs engine's store",
    "store share",
    "peak RSS MiB",
    "files",
]


def phase_rows(results: list[dict], workload: str, runs: int) -> list[list[str]]:
    rows = []
    for key in PHASE_KEYS:
        for v in VARIANTS:
            r = _find(results, v, workload, runs)
            ph = r["phases"].get(key) if r else None
            if ph is None:
                continue
            base = _find(results, BASELINE[v], workload, runs)
            b = base["phases"].get(key) if base else None
            ratio = f"{b['seconds'] / ph['seconds']:.1f}x" if b and ph["seconds"] else "-"
            rows.append(
                [
                    PHASE_LABELS[key],
                    v,
                    fmt_s(ph["seconds"]),
                    ratio,
                    _pct(ph.get("store_share")),
                    f"{ph['peak_rss_mib']:.0f}",
                    f"{ph['files']:,}",
                ]
            )
    return rows


JOBS_HEADER = [
    "variant",
    "per run",
    "store per run",
    "store share",
    "store per run vs engine's store",
    "opening (per process)",
]


def jobs_rows(results: list[dict], workload: str, runs: int) -> list[list[str]]:
    """The jobs phase per run: the time a process spends per run (timed run), and
    what of it is the store's (measured where the store's methods are wrapped)."""
    rows = []
    for v in VARIANTS:
        r = _find(results, v, workload, runs)
        j = r["phases"].get("jobs") if r else None
        if not j:
            continue
        base = _find(results, BASELINE[v], workload, runs)
        bj = base["phases"].get("jobs") if base else None
        spr = j.get("store_per_run_s")
        ratio = "-"
        if bj and bj.get("store_per_run_s") and spr:
            ratio = f"{bj['store_per_run_s'] / spr:.1f}x"
        rows.append(
            [
                v,
                fmt_s(j["per_run_s"]),
                fmt_s(spr) if spr is not None else "-",
                _pct(j.get("store_share")),
                ratio,
                fmt_s(j["open_seconds"] / j["procs"]),
            ]
        )
    return rows


#: Issue 20's targets, on the sequence workload at 10,000 runs: minimum speed-up of a
#: phase per variant (open + read, make).
TARGET_RATIOS = {
    ("read", "wfstore-engine"): 9.0,
    ("read", "wfstore-own"): 9.0,
    ("make", "wfstore-engine"): 5.0,
    ("make", "wfstore-own"): 6.0,
}
TARGET_SHARE = 0.25
TARGET_JOBS_STORE = 5.0  # the engine's store cost per run over wfstore's
TARGET_RUNS, TARGET_SCALE_RUNS, TARGET_SCALE_SLACK = 10_000, 100_000, 0.20
#: Issue 21's targets for wfstore registered under hpcflow 0.3.0, against 0.3.0's own
#: store (same workload and size): minimum speed-ups (make: no slower), and in the jobs
#: phase a store cost per run no more than its (ratio >= 1); files no more than its.
TARGET_03_RATIOS = {"read": 50.0, "make": 1.0}


def _ratio(results: list[dict], v: str, key: str, runs: int) -> float | None:
    base = _find(results, BASELINE[v], "sequence", runs)
    r = _find(results, v, "sequence", runs)
    if not (base and r and key in base["phases"] and key in r["phases"]):
        return None
    return float(base["phases"][key]["seconds"] / r["phases"][key]["seconds"])


def check_targets(results: list[dict]) -> list[tuple[str, bool | None, str]]:
    """(what, met (None: not measured), figures) for each of issue 20's targets."""
    out: list[tuple[str, bool | None, str]] = []
    n = TARGET_RUNS
    base = _find(results, "hpcflow", "sequence", n)
    ours = ["wfstore-engine", "wfstore-own"]
    where = f"sequence, {n:,} runs"
    for (key, v), want in TARGET_RATIOS.items():
        got = _ratio(results, v, key, n)
        what = f"{PHASE_LABELS[key]} >= {want:.0f}x ({v}, {where})"
        out.append((what, None if got is None else got >= want, _x(got)))
    for v in ours:
        r = _find(results, v, "sequence", n)
        shares = [
            (ph["store_share"], k)
            for k, ph in (r["phases"].items() if r else [])
            if ph.get("store_share") is not None
        ]
        what = f"store's share <= {TARGET_SHARE:.0%} in every phase ({v}, {where})"
        if not shares:
            out.append((what, None, "not measured"))
        else:
            worst = max(shares)
            fig = f"largest {worst[0]:.0%} ({PHASE_LABELS[worst[1]]})"
            out.append((what, worst[0] <= TARGET_SHARE, fig))
        what = f"peak RSS no more than the engine's store's in every phase ({v}, {where})"
        if not (r and base):
            out.append((what, None, "not measured"))
        else:
            over = [
                (ph["peak_rss_mib"] - base["phases"][k]["peak_rss_mib"], k)
                for k, ph in r["phases"].items()
                if k in base["phases"]
            ]
            worst_rss = max(over)
            fig = f"largest difference {worst_rss[0]:+.0f} MiB ({PHASE_LABELS[worst_rss[1]]})"
            out.append((what, worst_rss[0] <= 0, fig))
        bj = base["phases"].get("jobs") if base else None
        j = r["phases"].get("jobs") if r else None
        what = (
            f"jobs: store cost per run <= 1/{TARGET_JOBS_STORE:.0f} of the engine's store's "
            f"({v}, {where})"
        )
        if not (bj and j and bj.get("store_per_run_s") and j.get("store_per_run_s")):
            out.append((what, None, "not measured"))
        else:
            got = bj["store_per_run_s"] / j["store_per_run_s"]
            fig = f"{fmt_s(j['store_per_run_s'])} vs {fmt_s(bj['store_per_run_s'])} ({got:.1f}x)"
            out.append((what, got >= TARGET_JOBS_STORE, fig))
    big = TARGET_SCALE_RUNS
    for v in ours:
        pairs = [(k, _ratio(results, v, k, n), _ratio(results, v, k, big)) for k in PHASE_KEYS]
        pairs = [(k, lo, hi) for k, lo, hi in pairs if lo and hi]
        what = (
            f"at {big:,} runs every phase's ratio within {TARGET_SCALE_SLACK:.0%} of its "
            f"{n:,}-run ratio or better ({v})"
        )
        if not pairs:
            out.append((what, None, "not measured"))
            continue
        worst_k, worst_lo, worst_hi = min(pairs, key=lambda t: t[2] / t[1])
        fig = f"worst {PHASE_LABELS[worst_k]}: {worst_lo:.1f}x -> {worst_hi:.1f}x"
        out.append((what, worst_hi >= (1 - TARGET_SCALE_SLACK) * worst_lo, fig))
    out.extend(check_targets_03(results))
    return out


def check_targets_03(results: list[dict]) -> list[tuple[str, bool | None, str]]:
    """Issue 21's targets for ``wfstore-0.3`` against ``hpcflow-0.3`` (sequence,
    10,000 runs); "not measured" while either is missing or skipped."""
    n, v = TARGET_RUNS, "wfstore-0.3"
    where = f"{v}, sequence, {n:,} runs"
    r = _find(results, v, "sequence", n)
    base = _find(results, "hpcflow-0.3", "sequence", n)
    why = (r or {}).get("skipped") or (base or {}).get("skipped")
    out: list[tuple[str, bool | None, str]] = []
    for key, want in TARGET_03_RATIOS.items():
        got = _ratio(results, v, key, n)
        out.append(
            (
                f"{PHASE_LABELS[key]} >= {want:.0f}x vs hpcflow 0.3.0's store ({where})",
                None if got is None else got >= want,
                _x(got) if not why else why,
            )
        )
    bj = (base or {}).get("phases", {}).get("jobs")
    j = (r or {}).get("phases", {}).get("jobs")
    what = f"jobs: store cost per run <= hpcflow 0.3.0's store's ({where})"
    if bj and j and bj.get("store_per_run_s") and j.get("store_per_run_s"):
        ok = j["store_per_run_s"] <= bj["store_per_run_s"]
        out.append((what, ok, f"{fmt_s(j['store_per_run_s'])} vs {fmt_s(bj['store_per_run_s'])}"))
    else:
        out.append((what, None, why or "not measured"))
    what = f"files no more than hpcflow 0.3.0's store's in every phase ({where})"
    if r and base and r["phases"] and base["phases"]:
        over = [
            (ph["files"] - base["phases"][k]["files"], k)
            for k, ph in r["phases"].items()
            if k in base["phases"]
        ]
        worst = max(over)
        out.append(
            (what, worst[0] <= 0, f"largest difference {worst[0]:+,} ({PHASE_LABELS[worst[1]]})")
        )
    else:
        out.append((what, None, why or "not measured"))
    return out


def _x(ratio: float | None) -> str:
    return "not measured" if ratio is None else f"{ratio:.1f}x"


def _status(ok: bool | None) -> str:
    return "met" if ok else ("NOT met" if ok is False else "not measured")


def _groups(results: list[dict]) -> list[tuple[str, int]]:
    seen = []
    for r in results:
        k = (r["workload"], r["runs"])
        if k not in seen:
            seen.append(k)
    order = {w: i for i, w in enumerate(WORKLOADS)}
    return sorted(seen, key=lambda k: (order.get(k[0], 99), k[1]))


def _elements(results: list[dict], workload: str, runs: int) -> str:
    for x in results:
        if (x["workload"], x["runs"]) == (workload, runs) and "elements" in x:
            return f"{x['elements']:,} elements"
    return "not run"


def _title(data: dict, results: list[dict], workload: str, runs: int) -> str:
    return f"**{workload}, {runs:,} runs** ({_elements(results, workload, runs)})"


def skipped_notes(results: list[dict], workload: str, runs: int) -> list[str]:
    """What was skipped, and why: whole variants, and phases a store cannot do."""
    out = []
    for v in VARIANTS:
        r = _find(results, v, workload, runs)
        if r is None:
            continue
        if r.get("skipped"):
            out.append(f"{v}: skipped ({r['skipped']})")
        for key, why in (r.get("skipped_phases") or {}).items():
            out.append(f"{v}, {PHASE_LABELS[key]}: skipped ({why})")
    return out


def compact_rows(
    results: list[dict], workload: str, runs: int
) -> tuple[list[str], list[list[str]]]:
    """One row per phase, one column per variant run: time, ratio against its engine
    generation's own store, and the store's share; then rows for the largest peak RSS
    and the files after make."""
    vs = [v for v in VARIANTS if (r := _find(results, v, workload, runs)) and r["phases"]]
    header = ["phase", *vs]
    rows = []
    for key in PHASE_KEYS:
        row = [PHASE_LABELS[key]]
        for v in vs:
            ph = _find(results, v, workload, runs)["phases"].get(key)  # type: ignore[index]
            if ph is None:
                row.append("-")
                continue
            cell = fmt_s(ph["seconds"])
            base = _find(results, BASELINE[v], workload, runs)
            b = base["phases"].get(key) if base and v not in ENGINE_VARIANTS else None
            extra = []
            if b and ph["seconds"]:
                extra.append(f"{b['seconds'] / ph['seconds']:.1f}x")
            if ph.get("store_share") is not None:
                extra.append(f"store {_pct(ph['store_share'])}")
            row.append(cell + (f" ({', '.join(extra)})" if extra else ""))
        rows.append(row)
    rss = ["peak RSS, largest of the phases (MiB)"]
    files = ["files after make"]
    for v in vs:
        phs = _find(results, v, workload, runs)["phases"]  # type: ignore[index]
        rss.append(f"{max(ph['peak_rss_mib'] for ph in phs.values()):.0f}")
        files.append(f"{phs['make']['files']:,}" if "make" in phs else "-")
    return header, [*rows, rss, files]


def render_report(data: dict, compact: bool = False) -> str:
    """The markdown report: per workload and size, every phase of every variant (with
    `compact`, as the README shows it: a column per variant), and the jobs phase per
    run."""
    vers = data.get("versions", {})
    v03 = data.get("versions_03") or {}
    results = data["results"]
    parts = [
        f"Measured {data['date']} on {data['machine']} by `{data['command']}` (hpcflow-new2 "
        f"{vers.get('hpcflow', '-')}"
        + (f", hpcflow {v03['hpcflow']}" if v03.get("hpcflow") else "")
        + f", zarr {vers.get('zarr', '-')}, wfstore "
        f"{vers.get('wfstore', '-')}, Python {vers.get('python', '-')}), each phase in a "
        f"process of its own, interpreter start-up and imports not timed; jobs: "
        f"{data['procs']} processes"
        + (f", the first {data['job_runs']:,} runs" if data.get("job_runs") else "")
        + f". Ratios: against the same engine generation's own store. Store share: "
        f"{_share_note(data['share_method'])}"
        + (f" {data['note']}" if data.get("note") else "")
    ]
    for workload, runs in _groups(results):
        if compact:
            header, rows = compact_rows(results, workload, runs)
            table = markdown_table(header, rows)
        else:
            table = markdown_table(TABLE_HEADER, phase_rows(results, workload, runs))
        notes = skipped_notes(results, workload, runs)
        parts.append(
            _title(data, results, workload, runs)
            + "\n\n"
            + table
            + ("\n\n" + "; ".join(notes) + "." if notes else "")
        )
        jr = jobs_rows(results, workload, runs)
        if jr:
            parts.append(
                f"*Jobs phase, {workload}, {runs:,} runs, per run* (set start, save an "
                "output, set end, in each of the job processes; store per run: the "
                "store's share of the job processes' time, which includes opening the "
                "workflow, per run)\n\n" + markdown_table(JOBS_HEADER, jr)
            )
    return "\n\n".join(parts) + "\n"


def _share_note(method: str) -> str:
    return {
        "separate": "measured in a second run of each chain with every store method "
        "wrapped (outermost calls only); times from the unwrapped run.",
        "inline": "every store method wrapped in the timed run itself (times include "
        "the wrappers' cost).",
        "off": "not measured.",
    }.get(method, method)


def print_report(data: dict) -> None:
    results = data["results"]
    for workload, runs in _groups(results):
        print(f"\n{workload}, {runs:,} runs ({_elements(results, workload, runs)})")
        print(text_table(TABLE_HEADER, phase_rows(results, workload, runs)))
        for note in skipped_notes(results, workload, runs):
            print(note)
        jr = jobs_rows(results, workload, runs)
        if jr:
            print(f"\njobs phase, per run ({data['procs']} processes)")
            print(text_table(JOBS_HEADER, jr))
    print()
    for what, ok, fig in check_targets(results):
        shown = ok is not None or fig not in ("not measured", "-")
        print(f"[{_status(ok)}] {what}" + (f": {fig}" if shown else ""))


def finish_report(data: dict, readme: Path | None, plot_path: Path | None) -> None:
    print_report(data)
    md = render_report(data, compact=True)
    if plot_path is not None:
        series = time_series(data)
        if plot_lines(series, plot_path, "hpcflow through the engine: time per phase"):
            print(f"plot: {plot_path}", file=sys.stderr)
            rel = os.path.relpath(plot_path, readme.parent if readme else Path.cwd())
            md += f"\n![time against the number of runs]({rel})\n"
    if readme is not None:
        update_readme(readme, md, README_START, README_END)
        print(f"updated {readme}", file=sys.stderr)


def time_series(data: dict) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """{phase label: {"variant (workload)": [(runs, seconds)]}} for the plot."""
    out: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for key in PHASE_KEYS:
        panel: dict[str, list[tuple[float, float]]] = {}
        for r in data["results"]:
            ph = r["phases"].get(key)
            if ph:
                name = f"{r['variant']} ({r['workload']})"
                panel.setdefault(name, []).append((r["runs"], ph["seconds"]))
        if panel:
            out[PHASE_LABELS[key]] = {k: sorted(v) for k, v in panel.items()}
    return out
