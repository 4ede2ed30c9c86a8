"""Compare two junit-xml reports of the engine's test suite: the engine's own stores
(the baseline) and wfstore registered.

``python compare_runs.py BASELINE.xml WFSTORE.xml [RERUN.xml ...] [--label NAME]
[--lost-ids FILE]``
prints the pass counts and every test that passes in the baseline but
not with wfstore, and exits 1 if there is any (or if a report holds no test at all). A
test passes with wfstore if it passes in any of the wfstore reports (a rerun of the
tests that failed first is reported as such). ``--lost-ids`` writes the pytest node IDs
of the tests that do not pass with wfstore, one a line, for a rerun.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def outcomes(report: Path) -> dict[str, str]:
    """Map of test id (``classname::name``) to ``passed``/``failed``/``error``/``skipped``."""
    out: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        tags = {child.tag for child in case}
        if "error" in tags:
            outcome = "error"
        elif "failure" in tags:
            outcome = "failed"
        elif "skipped" in tags:
            outcome = "skipped"
        else:
            outcome = "passed"
        # a test with a passing call and an erroring teardown appears twice: keep the worst
        if out.get(test_id) not in ("error", "failed"):
            out[test_id] = outcome
    return out


def node_id(test_id: str) -> str:
    """The pytest node ID of a junit test id ``unit.test_x::test_y[p]`` (the engine's
    tests are module-level functions)."""
    classname, _, name = test_id.partition("::")
    return f"{classname.replace('.', '/')}.py::{name}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline", type=Path)
    parser.add_argument("wfstore", type=Path, nargs="+")
    parser.add_argument("--label", default="")
    parser.add_argument("--lost-ids", type=Path)
    args = parser.parse_args(argv)
    base, ours = outcomes(args.baseline), outcomes(args.wfstore[0])
    for rerun in args.wfstore[1:]:
        for test_id, outcome in outcomes(rerun).items():
            if outcome == "passed" and ours.get(test_id) != "passed":
                print(f"passed with wfstore on a rerun: {test_id} (first: {ours.get(test_id)})")
                ours[test_id] = "passed"
    label = f"[{args.label}] " if args.label else ""
    base_pass = {t for t, o in base.items() if o == "passed"}
    ours_pass = {t for t, o in ours.items() if o == "passed"}
    print(
        f"{label}engine's own stores: {len(base_pass)} passed of {len(base)}; "
        f"wfstore: {len(ours_pass)} passed of {len(ours)}"
    )
    lost = sorted(base_pass - ours_pass)
    for test_id in lost:
        print(f"{label}passes with the engine's stores, not with wfstore: {test_id} "
              f"({ours.get(test_id, 'not run')})")
    if args.lost_ids is not None:
        args.lost_ids.write_text("".join(f"{node_id(t)}\n" for t in lost))
    gained = sorted(ours_pass - base_pass)
    for test_id in gained:
        print(f"{label}passes with wfstore only: {test_id} ({base.get(test_id, 'not run')})")
    if not base or not ours:
        print(f"{label}a report holds no tests", file=sys.stderr)
        return 1
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
