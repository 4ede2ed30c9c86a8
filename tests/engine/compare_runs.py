"""Compare two junit-xml reports of the engine's test suite: the engine's own stores
(the baseline) and wfstore registered.

``python compare_runs.py BASELINE.xml WFSTORE.xml [--label NAME]`` prints the pass counts
and every test that passes in the baseline but not with wfstore, and exits 1 if there
is any (or if either report holds no test at all).
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline", type=Path)
    parser.add_argument("wfstore", type=Path)
    parser.add_argument("--label", default="")
    args = parser.parse_args(argv)
    base, ours = outcomes(args.baseline), outcomes(args.wfstore)
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
    gained = sorted(ours_pass - base_pass)
    for test_id in gained:
        print(f"{label}passes with wfstore only: {test_id} ({base.get(test_id, 'not run')})")
    if not base or not ours:
        print(f"{label}a report holds no tests", file=sys.stderr)
        return 1
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
