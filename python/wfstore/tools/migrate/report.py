"""The migration report: what a migration found it cannot carry (refusals), and what it
inferred or defaulted (skip reasons, resources, the random seed, parameters a190
reported as set without a value) or kept aside (a190-only files). Printed by
``wfstore migrate --dry-run`` and stored in the migrated store
(:data:`~wfstore.common.names.MIGRATION_REPORT_NAME`)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

#: Version of the report's JSON layout.
REPORT_FORMAT = 1


@dataclasses.dataclass
class ReportItem:
    """One inferred, defaulted or kept-aside item, named by what it concerns (``run
    10``, ``submission 0 jobscript 1``, ``template``) and the field or path."""

    what: str
    field: str
    value: Any
    why: str

    def line(self) -> str:
        return f"{self.what}: {self.field} = {self.value!r} ({self.why})"


@dataclasses.dataclass
class MigrationReport:
    """What a migration (or its dry run) found."""

    source: str
    source_generation: str
    source_kind: str
    target_generation: str
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    refusals: list[str] = dataclasses.field(default_factory=list)
    inferred: list[ReportItem] = dataclasses.field(default_factory=list)
    defaults: list[ReportItem] = dataclasses.field(default_factory=list)
    kept_aside: list[ReportItem] = dataclasses.field(default_factory=list)
    forced: bool = False

    def infer(self, what: str, field: str, value: Any, why: str) -> None:
        self.inferred.append(ReportItem(what, field, value, why))

    def defaulted(self, what: str, field: str, value: Any, why: str) -> None:
        self.defaults.append(ReportItem(what, field, value, why))

    def aside(self, what: str, field: str, value: Any, why: str) -> None:
        self.kept_aside.append(ReportItem(what, field, value, why))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "source": self.source,
            "source_generation": self.source_generation,
            "source_kind": self.source_kind,
            "target_generation": self.target_generation,
            "forced": self.forced,
            "counts": dict(self.counts),
            "refusals": list(self.refusals),
            "inferred": [dataclasses.asdict(i) for i in self.inferred],
            "defaults": [dataclasses.asdict(i) for i in self.defaults],
            "kept_aside": [dataclasses.asdict(i) for i in self.kept_aside],
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=1, default=repr).encode()

    def to_text(self) -> str:
        lines = [
            f"migration of {self.source} ({self.source_kind} store, hpcflow "
            f"{self.source_generation}) to hpcflow {self.target_generation}",
            "  " + ", ".join(f"{n} {k}" for k, n in self.counts.items()),
        ]
        if self.refusals:
            lines.append(f"refused ({len(self.refusals)}):")
            lines += [f"  {r}" for r in self.refusals]
        for title, items in (
            ("inferred", self.inferred),
            ("defaulted", self.defaults),
            ("kept aside", self.kept_aside),
        ):
            lines.append(f"{title} ({len(items)}):")
            lines += [f"  {i.line()}" for i in items]
        return "\n".join(lines)
