"""What a run measured: gates, regressions, family runs, counterexamples and extra values,
kept in memory as tests judge them and assembled into the run file (robustest.runs stores it)."""

from __future__ import annotations

import os
import time
from typing import Any


class Record:
    def __init__(self):
        self.gates: list = []  # stats.GateResult, the latest per name
        self.regressions: list = []  # comparison.Regression, the latest per name
        self.runs: dict = {}  # family -> stability.FamilyRun
        self.counterexamples: dict[str, str] = {}  # family -> the smallest one found
        self.worst_cases: dict = {}  # family -> worst_case.WorstCase
        self.not_judged: dict[str, str] = {}  # family -> why its gate refused to judge (too few perturbed queries)
        self.extras: dict[str, Any] = {}  # run-file key -> value (random baseline, geometry, poisoning)
        self.lines: list[str] = []  # summary lines that go with the extras
        self.guards: dict = {}  # family -> its perturb.guard.SemanticGuard, once the family has run

    def gate(self, result):
        self.gates = [g for g in self.gates if g.name != result.name] + [result]
        return result

    def regression(self, result):
        self.regressions = [r for r in self.regressions if r.name != result.name] + [result]
        return result

    def judged(self) -> list:
        return [*self.gates, *self.regressions]

    def add(self, key: str, value: Any, line: str | None = None) -> None:
        """Keep a measured value for the run file and, optionally, a summary line."""
        self.extras[key] = value
        if line:
            self.lines.append(line)

    def holm_gates(self) -> list:
        from ..stats import apply_holm

        return apply_holm(self.gates) if self.gates else []

    def holm_regressions(self) -> list:
        from ..stats import apply_holm

        return apply_holm(self.regressions) if self.regressions else []


def run_file(session) -> dict[str, Any]:
    """The run as robustest.runs stores it (schema RUN_SCHEMA)."""
    from .. import __version__
    from ..provenance import environment
    from ..runs import RUN_SCHEMA, family_record

    record, clean, reference = session.record, session.clean_evaluation, session.reference
    return {
        "schema": RUN_SCHEMA,
        "robustest_version": __version__,
        # SOURCE_DATE_EPOCH (the reproducible-builds convention) pins it: two runs with the same
        # seeds then give byte-identical files.
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(os.environ.get("SOURCE_DATE_EPOCH") or time.time()))),
        "environment": environment(),
        "retriever": session.describe_retriever(),
        "dataset": session.dataset.describe(),
        "settings": {k: v for k, v in session.settings.as_dict().items() if k not in ("save", "html", "trec_run")},
        "effectiveness": clean.aggregate(),
        "per_query": {m: clean.by_query(m) for m in session.measures},
        "queries": dict(session.dataset.queries),  # original texts, for the report's worst-query tables
        "families": {family: family_record(run) for family, run in record.runs.items()},
        "gates": [g.as_dict() for g in record.holm_gates()],
        "comparison": None if reference is None else {
            "reference": reference.describe(),
            "tolerance": session.settings.regression_tolerance,
            "regressions": [r.as_dict() for r in record.holm_regressions()],
        },
        "counterexamples": dict(record.counterexamples),
        "not_judged": dict(record.not_judged),
        "worst_case": {family: result.as_dict() for family, result in record.worst_cases.items()},
        "guards": {family: guard.describe() for family, guard in record.guards.items()},
        **record.extras,
    }
