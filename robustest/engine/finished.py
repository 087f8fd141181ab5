"""A finished run as the summary and the output files read it: plain data, no model, no corpus.

The process that ran the tests builds one from its session (`FinishedRun.of`). Under
pytest-xdist each worker sends its own to the controller, which merges them (`merge`) into
the one summary and the one run file; Holm then adjusts across the gates of every worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..settings import Settings


@dataclass
class ReferenceReport:
    """What the summary and the outputs say of --robustest-baseline / --robustest-compare-to."""

    label: str
    description: dict[str, Any]
    changes: list[str]  # encoder settings that differ from the reference's
    run: dict[str, Any] | None  # the reference shaped like a run file, drawn beside this run in the report

    @classmethod
    def of(cls, reference, retriever: dict[str, Any]) -> "ReferenceReport":
        return cls(reference.label, reference.describe(), reference.config_changes(retriever), reference.run)


@dataclass
class FinishedRun:
    settings: Settings
    measures: tuple[str, ...]
    retriever_label: str
    retriever: dict[str, Any]  # RobustestSession.describe_retriever()
    dataset: dict[str, Any]  # Dataset.describe()
    dataset_line: str
    queries: dict[str, str]
    cache_path: str | None
    cache_hit: bool | None  # None: a lexical retriever, nothing cached
    environment: dict[str, Any]  # of the process that measured (versions, devices)
    effectiveness: dict[str, float]
    per_query: dict[str, dict[str, float]]
    families: dict[str, dict] = field(default_factory=dict)  # family -> runs.family_record
    gates: list = field(default_factory=list)  # stats.GateResult
    regressions: list = field(default_factory=list)  # comparison.Regression
    counterexamples: dict[str, str] = field(default_factory=dict)
    not_judged: dict[str, str] = field(default_factory=dict)
    worst_cases: dict = field(default_factory=dict)  # family -> worst_case.WorstCase
    guards: dict[str, dict] = field(default_factory=dict)  # family -> SemanticGuard.describe()
    extras: dict[str, Any] = field(default_factory=dict)  # run-file key -> value
    lines: list[str] = field(default_factory=list)  # summary lines that go with the extras
    poisoning_lines: list[str] = field(default_factory=list)
    reference: ReferenceReport | None = None
    missing: list[str] = field(default_factory=list)  # why some tests' results are not here (a worker crashed)
    untested: list[str] = field(default_factory=list)  # comparisons judged at the end of the run, outside any test
    passed: bool | None = None  # every test of the run passed (None: not known yet)

    @classmethod
    def of(cls, session) -> "FinishedRun":
        from ..provenance import environment
        from ..runs import family_record
        from . import summary

        ds, index, record, clean = session.dataset, session.corpus_index, session.record, session.clean_evaluation
        retriever = session.describe_retriever()
        checks = session.checks
        return cls(
            settings=session.settings,
            measures=tuple(session.measures),
            retriever_label=session.resolution.label,
            retriever=retriever,
            dataset=ds.describe(),
            dataset_line=f"dataset: {ds.name} [{ds.split}] {len(ds.doc_ids)} documents, {len(ds.queries)} queries"
            + (f", {ds.dropped_queries} queries without {ds.split} judgements left out" if ds.dropped_queries else "")
            + "".join(f"; {n}" for n in ds.notes),
            queries=dict(ds.queries),
            cache_path=None if index.cache_path is None else str(index.cache_path),
            cache_hit=index.cache_hit,
            environment=environment(),
            effectiveness=clean.aggregate(),
            per_query={m: clean.by_query(m) for m in session.measures},
            # A family that perturbed no query has no drop rate to store; not_judged says why.
            families={family: family_record(run) for family, run in record.runs.items() if any(p.variants for p in run.perturbations)},
            gates=list(record.gates),
            regressions=list(record.regressions),
            counterexamples=dict(record.counterexamples),
            not_judged=dict(record.not_judged),
            worst_cases=dict(record.worst_cases),
            guards={family: guard.describe() for family, guard in record.guards.items()},
            extras=dict(record.extras),
            lines=list(record.lines),
            poisoning_lines=summary.poisoning_lines(checks.poisoning) if checks.poisoning_started else [],
            reference=None if session.reference is None else ReferenceReport.of(session.reference, retriever),
            untested=list(record.untested),
        )

    def judge_anchor(self) -> None:
        """Against a saved baseline with an anchor (robustest.lineage): compare this run with the
        anchor too, at the same tolerance, outside any test."""
        from ..lineage import compare_with_anchor

        reference = self.reference
        if reference is None or reference.description.get("kind") != "saved run" or not reference.run:
            return
        found = compare_with_anchor(reference.run, self.per_query, self.families, self.measures[0], self.settings.regression_tolerance)
        self.regressions = latest_by_name(self.regressions + found)
        self.untested += [r.name for r in found if r.name not in self.untested]

    def failed_outside_tests(self) -> list:
        """Comparisons judged outside any test that fail the run: a fail, or an inconclusive one
        when inconclusive gates fail (--robustest-inconclusive=fail, --robustest-ci)."""
        strict = self.settings.inconclusive == "fail"
        return [r for r in self.regressions if r.name in self.untested and (r.verdict.value == "fail" or (strict and r.verdict.value == "inconclusive"))]

    def holm_gates(self) -> list:
        from ..stats import apply_holm

        return apply_holm(in_family_order(self.gates)) if self.gates else []

    def holm_regressions(self) -> list:
        from ..stats import apply_holm

        return apply_holm(in_family_order(self.regressions)) if self.regressions else []


def in_family_order(results: list) -> list:
    """Gates or regressions in the order of the family registry (clean effectiveness first,
    then by name): the same order however the tests were scheduled, in one process or over
    xdist workers."""
    from ..families import FAMILIES

    order = {name: i for i, name in enumerate(FAMILIES)}
    return sorted(results, key=lambda r: (order.get(r.family, len(order)) if r.family else -1, r.family, r.name))


def merge(parts: list[FinishedRun]) -> FinishedRun:
    """One run from parts that ran different tests with the same settings on the same data
    (pytest-xdist workers), in the order given. A value measured twice (a gate two workers
    judged, the variants of a family whose tests ran on two workers) is the same measurement,
    drawn from the same seeds: it is kept once. Run-file entries that are tables (poisoning:
    one row per attack) are joined."""
    first = parts[0]
    merged = replace(first, families={}, gates=[], regressions=[], counterexamples={}, not_judged={}, worst_cases={}, guards={}, extras={}, lines=[], poisoning_lines=[], missing=[], untested=[])
    in_tests = {r.name for part in parts for r in part.regressions if r.name not in part.untested}
    merged.untested = sorted({name for part in parts for name in part.untested} - in_tests)
    for part in parts:
        merged.families.update(part.families)
        merged.gates = latest_by_name(merged.gates + part.gates)
        merged.regressions = latest_by_name(merged.regressions + part.regressions)
        merged.counterexamples.update(part.counterexamples)
        merged.not_judged.update(part.not_judged)
        merged.worst_cases.update(part.worst_cases)
        for family, guard in part.guards.items():  # its counts: the family's variants, drawn in full by each worker that made them
            mine = merged.guards.get(family)
            merged.guards[family] = guard if mine is None or drawn(guard) > drawn(mine) else mine
        for key, value in part.extras.items():
            mine = merged.extras.get(key)
            merged.extras[key] = {**mine, **value} if isinstance(mine, dict) and isinstance(value, dict) else value
        merged.lines += [line for line in part.lines if line not in merged.lines]
        # Poisoning's lines compare each attack with the control: the worker that measured the most attacks has them all.
        merged.poisoning_lines = max(merged.poisoning_lines, part.poisoning_lines, key=len)
        merged.missing += part.missing
        if part.cache_hit is False:  # one worker encoded the corpus, the others waited and read it
            merged.cache_hit = False
    if first.reference is not None and first.reference.run is not None:
        families = {f: r for part in parts if part.reference and part.reference.run for f, r in part.reference.run.get("families", {}).items()}
        merged.reference = replace(first.reference, run={**first.reference.run, "families": families})
    return merged


def latest_by_name(results: list) -> list:
    kept = {r.name: r for r in results}
    return list(kept.values())


def drawn(guard: dict) -> int:
    return guard["accepted"] + guard["rejected"]
