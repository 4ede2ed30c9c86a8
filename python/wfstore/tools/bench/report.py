"""The benchmark report: results merged over repeats, tables (text and markdown), the
targets checked, the plot, and the README's table between its markers."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from wfstore.tools.bench.workload import (
    BULK_PHASES,
    JSON_PHASES,
    PHASE_KINDS,
    PHASE_LABELS,
    PHASES,
    PHASES_V03,
    STORE_NAMES,
    V03_ENGINES,
    split_variant,
)

#: The markers of the README's benchmark table, which :func:`update_readme` rewrites.
README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"


def best_of(results: list[dict]) -> dict:
    """Merge repeated runs of one variant and size: each phase keeps its fastest run
    (peak RSS: the largest seen), the floor its fastest measurement."""
    out = json.loads(json.dumps(results[0]))
    out["repeats"] = len(results)
    for key in list(out["phases"]):
        alts = [r["phases"][key] for r in results]
        best = min(alts, key=lambda p: p["seconds"])
        out["phases"][key] = {**best, "peak_rss_mib": max(p["peak_rss_mib"] for p in alts)}
        out["phases"][key]["all_seconds"] = [p["seconds"] for p in alts]
    out["peak_rss_mib"] = max(r["peak_rss_mib"] for r in results)
    if all(r.get("floor") for r in results):
        out["floor"] = {k: min(r["floor"][k] for r in results) for k in results[0]["floor"]}
    floors = [r["tree_floor"] for r in results if r.get("tree_floor")]
    if floors:
        out["tree_floor"] = min(floors, key=lambda f: f["seconds"])
    inter = [r["interleaved"] for r in results if r.get("interleaved")]
    if inter:
        # the repeat whose commits were fastest, with the writes timed beside them
        out["interleaved"] = min(inter, key=lambda i: i["commit_mean_s"])
    return out


def fmt_s(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} us"


def _phase_time(ph: dict[str, Any], key: str) -> float:
    """The figure compared: time per call for one-commit phases, else the wall time."""
    return ph["per_call_s"] if PHASE_KINDS[key] == "calls" else ph["seconds"]


def is_v03(variant: str) -> bool:
    """Whether `variant` runs the hpcflow 0.3 workload (``hpcflow03-*``, ``wfstore03-*``)."""
    return split_variant(variant)[0] in V03_ENGINES


def engine_variant(variant: str) -> str:
    """The engine's own store that wfstore's `variant` is compared with: ``hpcflow-zarr``
    for ``wfstore-zarr`` (and ``wfstore-zarr@full``), ``hpcflow03-zarr`` for
    ``wfstore03-zarr``."""
    engine, kind, _ = split_variant(variant)
    return f"{engine.replace('wfstore', 'hpcflow', 1)}-{kind}"


def phase_keys(variant: str) -> list[str]:
    """The phases of `variant`'s workload, in order."""
    if is_v03(variant):
        return [k for k, _, _ in PHASES_V03]
    return JSON_PHASES if split_variant(variant)[1] == "json" else [k for k, _, _ in PHASES]


def _find(results: list[dict], variant: str, runs: int | None = None) -> dict | None:
    for r in results:
        if r["variant"] == variant and (runs is None or r["runs"] == runs):
            return r
    return None


def comparison_rows(base: dict | None, ours: dict, keys: list[str]) -> list[list[str]]:
    """Rows: phase, hpcflow, wfstore, speed-up, peak RSS and files (hpcflow / wfstore)."""
    rows = []
    for key in keys:
        o = ours["phases"].get(key)
        if o is None:
            continue
        b = base["phases"].get(key) if base else None
        per = " /call" if PHASE_KINDS[key] == "calls" else ""
        tb = _phase_time(b, key) if b else None
        to = _phase_time(o, key)
        ratio = f"{tb / to:.1f}x" if tb else "-"
        rss = (
            f"{b['peak_rss_mib']:.0f} / {o['peak_rss_mib']:.0f}"
            if b
            else f"{o['peak_rss_mib']:.0f}"
        )
        files = f"{b['files']:,} / {o['files']:,}" if b else f"{o['files']:,}"
        rows.append(
            [
                PHASE_LABELS[key],
                fmt_s(tb) + (per if tb else ""),
                fmt_s(to) + per,
                ratio,
                rss,
                files,
            ]
        )
    return rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


CMP_HEADER = [
    "phase",
    "hpcflow",
    "wfstore",
    "speed-up",
    "peak RSS MiB (hpcflow / wfstore)",
    "files (hpcflow / wfstore)",
]


def commit_time(res: dict) -> float:
    """Mean time of a single-run commit: the three one-run phases together."""
    ph = res["phases"]
    secs = sum(ph[k]["seconds"] for k in ("sub_idx", "start", "end"))
    return secs / sum(ph[k]["calls"] for k in ("sub_idx", "start", "end"))


def check_targets(
    results: list[dict], prim: dict[str, float]
) -> list[tuple[str, bool | None, str]]:
    """The issue's targets: (what, met (None: not measured), figures). They are the
    a190 workload's: none when only the 0.3 workload ran."""
    out: list[tuple[str, bool | None, str]] = []
    if all(is_v03(r["variant"]) for r in results):
        return out
    hz = _find(results, "hpcflow-zarr", 10_000)
    wz = _find(results, "wfstore-zarr", 10_000)
    if hz and wz:
        worst = min(
            (
                (_phase_time(hz["phases"][k], k) / _phase_time(wz["phases"][k], k), k)
                for k in hz["phases"]
                if k in wz["phases"]
            ),
        )
        figures = f"slowest speed-up {worst[0]:.1f}x ({PHASE_LABELS[worst[1]]})"
        tf = wz.get("tree_floor")
        if worst[1] == "unzip" and worst[0] < 10 and tf:
            budget = _phase_time(hz["phases"]["unzip"], "unzip") / 10
            figures += (
                f"; creating its {tf['files']:,} files and {tf['folders']:,} folders with "
                f"plain system calls takes {fmt_s(tf['seconds'])} on this disk, the 10x "
                f"budget being {fmt_s(budget)}"
            )
        out.append(
            (
                "every phase >= 10x faster than hpcflow's Zarr store at 10k runs",
                worst[0] >= 10,
                figures,
            )
        )
    else:
        out.append(
            (
                "every phase >= 10x faster than hpcflow's Zarr store at 10k runs",
                None,
                "not measured (needs hpcflow-zarr and wfstore-zarr at 10,000 runs)",
            )
        )
    wz_any = wz or _find(results, "wfstore-zarr")
    inter = wz_any.get("interleaved") if wz_any else None
    if wz_any and inter:
        c, w = inter["commit_mean_s"], inter["write_mean_s"]
        out.append(
            (
                "single-run commit within 2x of an atomic 200-byte write (Zarr, "
                f"{wz_any['runs']:,} runs; {inter['pairs']:,} commits and writes in turn "
                "in one loop)",
                c <= 2 * w,
                f"{fmt_s(c)} per commit vs {fmt_s(w)} per write ({c / w:.1f}x; medians "
                f"{fmt_s(inter['commit_median_s'])} vs {fmt_s(inter['write_median_s'])})",
            )
        )
    elif wz_any and (wz_any.get("floor") or prim):
        c = commit_time(wz_any)
        w = (wz_any.get("floor") or prim)["atomic_write_200B_s"]
        out.append(
            (
                "single-run commit within 2x of an atomic 200-byte write (Zarr, "
                f"{wz_any['runs']:,} runs; write timed in the same process)",
                c <= 2 * w,
                f"{fmt_s(c)} per commit vs {fmt_s(w)} per write ({c / w:.1f}x)",
            )
        )
    hj = _find(results, "hpcflow-json")
    wj = _find(results, "wfstore-json")
    if hj and wj:
        r = commit_time(hj) / commit_time(wj)
        out.append(
            (
                f"JSON store >= 20x faster per single-run commit ({hj['runs']:,} runs)",
                r >= 20,
                f"{fmt_s(commit_time(hj))} vs {fmt_s(commit_time(wj))} ({r:.1f}x)",
            )
        )
    big = _find(results, "wfstore-zarr", 1_000_000)
    if big:
        for key in ("build", "read_runs", "rechunk_runs"):
            ph = big["phases"][key]
            out.append(
                (
                    f"1M runs: {PHASE_LABELS[key]} within 60 s",
                    ph["seconds"] <= 60,
                    fmt_s(ph["seconds"]),
                )
            )
        out.append(
            (
                "1M runs: peak memory under 2 GiB",
                big["peak_rss_mib"] < 2048,
                f"{big['peak_rss_mib']:.0f} MiB",
            )
        )
    # growth of the cost per run from 10k runs up (below that, fixed costs dominate):
    sizes = sorted(r["runs"] for r in results if r["variant"] == "wfstore-zarr")
    sizes = [n for n in sizes if n >= 10_000] if sum(n >= 10_000 for n in sizes) > 1 else sizes
    if len(sizes) > 1:
        lo = _find(results, "wfstore-zarr", sizes[0])
        assert lo
        # every larger size against the smallest (not only the largest: a phase may
        # grow at 100k and not at 1M)
        growths = []
        for n in sizes[1:]:
            hi = _find(results, "wfstore-zarr", n)
            assert hi
            growths += [
                (
                    (hi["phases"][k]["seconds"] / hi["runs"])
                    / (lo["phases"][k]["seconds"] / lo["runs"]),
                    f"{PHASE_LABELS.get(k, k)} at {n:,} runs",
                )
                for k in BULK_PHASES
                if k in hi["phases"] and k in lo["phases"]
            ]
        worst_growth, worst_where = max(growths)
        out.append(
            (
                f"cost per run does not grow from {sizes[0]:,} to {sizes[-1]:,} runs "
                "(bulk phases, every size, 25% noise allowed)",
                worst_growth <= 1.25,
                f"largest growth of cost per run: {worst_growth:.2f}x ({worst_where})",
            )
        )
    return out


def render_report(data: dict) -> str:
    """The markdown report (tables, targets) of a results document."""
    results, prim = data["results"], data.get("primitives", {})
    parts = [f"Measured {data['date']} on {data['machine']} by `{data['command']}`."]
    parts += list(data.get("notes", []))
    if prim:
        parts.append(
            f"Floor measured in the same run: an atomic 200-byte write (temporary name, then "
            f"rename) {fmt_s(prim['atomic_write_200B_s'])}, a small-file read "
            f"{fmt_s(prim['small_read_s'])}."
        )
    r = _find(results, "wfstore-zarr", 10_000) or _find(results, "wfstore-zarr")
    tf = r.get("tree_floor") if r else None
    if r and tf:
        parts.append(
            f"Unzip's floor, measured in the same run: creating the unzipped store's "
            f"{tf['files']:,} files and {tf['folders']:,} folders with plain system calls "
            f"(Python's `os`, in a new folder beside it, after a `sync` as every phase; "
            f"wfstore's Zarr store at {r['runs']:,} runs) {fmt_s(tf['seconds'])}."
        )
    inter = r.get("interleaved") if r else None
    if r and inter:
        parts.append(
            f"Single-run commits (`set_EAR_submission_index`) and atomic 200-byte writes "
            f"over a file on disk, timed in turn in one loop ({inter['pairs']:,} of each, "
            f"wfstore's Zarr store at {r['runs']:,} runs): "
            f"{fmt_s(inter['commit_mean_s'])} per commit vs "
            f"{fmt_s(inter['write_mean_s'])} per write (medians "
            f"{fmt_s(inter['commit_median_s'])} vs {fmt_s(inter['write_median_s'])})."
        )
    # wfstore's store of each kind beside the engine's own of the same generation
    for variant, name, note in (
        ("wfstore-zarr", "Zarr store", ""),
        ("wfstore-json", "JSON store", ""),
        ("wfstore03-zarr", "hpcflow 0.3 Zarr store", "; hpcflow 0.3.0's store has no rechunk"),
    ):
        for o in sorted((r for r in results if r["variant"] == variant), key=lambda r: r["runs"]):
            base = _find(results, engine_variant(variant), o["runs"])
            title = (
                f"**{name}, {o['runs']:,} runs** "
                f"({o['elements']:,} elements, {o['parameters']:,} parameters"
            )
            if o.get("max_calls"):
                title += f"; one-commit phases timed over the first {o['max_calls']:,} calls"
            title += note + ")"
            rows = comparison_rows(base, o, phase_keys(variant))
            header = CMP_HEADER if base else ["phase", "-", "wfstore", "-", "peak RSS MiB", "files"]
            parts.append(title + "\n\n" + markdown_table(header, rows))
    # wfstore's stores with a durability asked for (opt-in, not the targets' default)
    calls = [k for k, _, kind in PHASES if kind == "calls"]
    for o in sorted(
        (r for r in results if split_variant(r["variant"])[2]),
        key=lambda r: (r["variant"], r["runs"]),
    ):
        _, kind, durability = split_variant(o["variant"])
        base = _find(results, f"hpcflow-{kind}", o["runs"])
        title = (
            f"**{STORE_NAMES[kind]} store, {o['runs']:,} runs, with "
            f"`durability=\"{durability}\"`** (opt-in, see `wfstore.common.durability`; "
            "one-commit phases; the targets are checked on the default)"
        )
        header = CMP_HEADER if base else ["phase", "-", "wfstore", "-", "peak RSS MiB", "files"]
        parts.append(title + "\n\n" + markdown_table(header, comparison_rows(base, o, calls)))
    sizes = sorted(
        {r["runs"] for r in results if r["variant"] in ("hpcflow-zarr", "wfstore-zarr")}
    )
    if len(sizes) > 1:
        rows = []
        for key in BULK_PHASES:
            row = [PHASE_LABELS[key]]
            for n in sizes:
                cells = []
                for v in ("hpcflow-zarr", "wfstore-zarr"):
                    r = _find(results, v, n)
                    ph = r["phases"].get(key) if r else None
                    cells.append(fmt_s(ph["seconds"] / r["runs"]) if ph and r else "-")
                row.append(" / ".join(cells))
            rows.append(row)
        peak = ["peak RSS MiB (whole process)"]
        for n in sizes:
            cells = []
            for v in ("hpcflow-zarr", "wfstore-zarr"):
                r = _find(results, v, n)
                cells.append(f"{r['peak_rss_mib']:.0f}" if r else "-")
            peak.append(" / ".join(cells))
        rows.append(peak)
        parts.append(
            "**Cost per run (hpcflow / wfstore), Zarr**\n\n"
            + markdown_table(["phase"] + [f"{n:,} runs" for n in sizes], rows)
        )
    targets = check_targets(results, prim)
    lines = [
        f"* {'met' if ok else ('NOT met' if ok is False else 'not measured')}: {what} — {fig}"
        for what, ok, fig in targets
    ]
    if lines:
        parts.append("**Targets**\n\n" + "\n".join(lines))
    return "\n\n".join(parts) + "\n"


def plot(data: dict, out: Path) -> bool:
    """Time per run against number of runs (log-log); False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
        return False
    keys = [("build", "o"), ("read_runs", "s"), ("rechunk_runs", "^"), ("zip", "D")]
    colours = {k: f"C{i}" for i, (k, _) in enumerate(keys)}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for variant, style in (("hpcflow-zarr", "--"), ("wfstore-zarr", "-")):
        rs = sorted(
            (r for r in data["results"] if r["variant"] == variant), key=lambda r: r["runs"]
        )
        if not rs:
            continue
        for key, marker in keys:
            xs = [r["runs"] for r in rs if key in r["phases"]]
            ys = [r["phases"][key]["seconds"] / r["runs"] * 1e6 for r in rs if key in r["phases"]]
            ax.plot(
                xs,
                ys,
                style,
                marker=marker,
                color=colours[key],
                label=f"{variant.split('-')[0]}: {PHASE_LABELS[key]}",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of runs")
    ax.set_ylabel("time per run (us)")
    ax.set_title("Zarr store: time per run (hpcflow 0.2.0a190 dashed, wfstore solid)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True


def update_readme(
    readme: Path, block: str, start: str = README_START, end: str = README_END
) -> None:
    """Replace what stands between the markers `start` and `end` in `readme` by
    `block` (both runners use this: each has its own markers)."""
    text = readme.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"error: {readme} has no {start} ... {end} block")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{block}{end}{tail}")


def report(data: dict, readme: Path | None, plot_path: Path | None) -> None:
    md = render_report(data)
    if plot_path is not None and plot(data, plot_path):
        rel = os.path.relpath(plot_path, readme.parent if readme else Path.cwd())
        md += f"\n![time per run against number of runs]({rel})\n"
    if readme is not None:
        update_readme(readme, md)
        print(f"updated {readme}", file=sys.stderr)


def print_tables(data: dict) -> None:
    results = data["results"]
    prim = data.get("primitives")
    if prim:
        print(
            f"atomic 200-byte write: {fmt_s(prim['atomic_write_200B_s'])}   "
            f"small-file read: {fmt_s(prim['small_read_s'])}"
        )
    for r in sorted(results, key=lambda r: (r["variant"], r["runs"])):
        if not r["variant"].startswith("wfstore"):
            continue
        _, kind, durability = split_variant(r["variant"])
        base = _find(results, engine_variant(r["variant"]), r["runs"])
        keys = phase_keys(r["variant"])
        how = f", durability={durability}" if durability else ""
        gen = "hpcflow 0.3 " if is_v03(r["variant"]) else ""
        print(
            f"\n{gen}{kind} store{how}, {r['runs']:,} runs (peak RSS whole process: "
            f"{r['peak_rss_mib']:.0f} MiB)"
        )
        print(text_table(CMP_HEADER, comparison_rows(base, r, keys)))
    print()
    for what, ok, fig in check_targets(results, prim or {}):
        status = "met" if ok else ("NOT met" if ok is False else "not measured")
        print(f"[{status}] {what}: {fig}")


# --- plots shared by the runners ------------------------------------------------------


def _minor_label(value: float, _pos: object = None) -> str:
    """A log axis' minor tick label: only at 2 and 5 times a power of ten."""
    if value <= 0:
        return ""
    lead = value / 10 ** math.floor(math.log10(value))
    return f"{value:g}" if round(lead, 6) in (2.0, 5.0) else ""


def plot_lines(
    panels: dict[str, dict[str, list[tuple[float, float]]]],
    out: Path,
    title: str,
    xlabel: str = "number of runs",
    ylabel: str = "time (s)",
) -> bool:
    """One log-log panel per key of `panels`, a line per series (colour: the series
    name's first word, e.g. the variant; line style: what follows it). False (and a
    message) if matplotlib is not importable."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, NullFormatter
    except ImportError:
        print("matplotlib is not importable: no plot", file=sys.stderr)
        return False
    names = sorted({s for panel in panels.values() for s in panel})
    heads = sorted({n.split(" ")[0] for n in names})
    tails = sorted({n.partition(" ")[2] for n in names})
    styles = ["-", "--", ":", "-."]
    markers = ["o", "s", "^", "D"]
    cols = min(4, max(1, len(panels)))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows + 0.8), squeeze=False)
    for ax, (label, series) in zip(axes.flat, panels.items()):
        for name, points in sorted(series.items()):
            head, _, tail = name.partition(" ")
            i, j = heads.index(head), tails.index(tail)
            ax.plot(
                [p[0] for p in points],
                [p[1] for p in points],
                styles[j % len(styles)],
                marker=markers[j % len(markers)],
                color=f"C{i}",
                label=name,
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        # plain numbers, not powers of ten; minor ticks labelled at 2 and 5 (x: none)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(_minor_label))
        ys = [p[1] for points in series.values() for p in points if p[1] > 0]
        if ys and max(ys) / min(ys) < 2.6:  # wide enough for a labelled 1, 2 or 5
            mid = math.sqrt(max(ys) * min(ys))
            ax.set_ylim(mid / 1.62, mid * 1.62)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.06 + 0.02 * ((len(labels) - 1) // 3), 1, 0.97))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return True
