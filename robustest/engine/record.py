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
        self.untested: list[str] = []  # comparisons judged at the end of the run, outside any test

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



def run_file(run) -> dict[str, Any]:
    """A finished run as robustest.runs stores it (schema RUN_SCHEMA). `run`: a
    engine.finished.FinishedRun, or a RobustestSession (what it measured so far)."""
    from .. import __version__
    from ..headline import headline
    from ..lineage import lineage_after
    from ..runs import RUN_SCHEMA
    from ..settings import OUTPUTS
    from .finished import FinishedRun

    if not isinstance(run, FinishedRun):
        run = FinishedRun.of(run)

    reference = run.reference
    lineage = {"lineage": lineage_after(reference.run)} if reference is not None and reference.description.get("kind") == "saved run" else {}
    return {
        "schema": RUN_SCHEMA,
        "robustest_version": __version__,
        # SOURCE_DATE_EPOCH (the reproducible-builds convention) pins it: two runs with the same
        # seeds then give byte-identical files.
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(os.environ.get("SOURCE_DATE_EPOCH") or time.time()))),
        "environment": run.environment,
        "retriever": run.retriever,
        "dataset": run.dataset,
        "settings": {k: v for k, v in run.settings.as_dict().items() if k not in OUTPUTS},
        "effectiveness": run.effectiveness,
        "per_query": run.per_query,
        "queries": run.queries,  # original texts, for the report's worst-query tables
        "families": run.families,
        "gates": [g.as_dict() for g in run.holm_gates()],
        "comparison": None if reference is None else {
            "reference": reference.description,
            "tolerance": run.settings.regression_tolerance,
            "regressions": [r.as_dict() for r in run.holm_regressions()],
            "judged_outside_tests": list(run.untested),
        },
        "counterexamples": run.counterexamples,
        "not_judged": run.not_judged,
        "worst_case": {family: result.as_dict() for family, result in run.worst_cases.items()},
        "verdict": headline(run),
        "guards": run.guards,
        **run.extras,
        **lineage,
    }
