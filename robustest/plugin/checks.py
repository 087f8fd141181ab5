"""What the shipped suites call: run a family once per session, gate it, search it.

Thin on purpose: the numbers come from stability.py, stats.py and comparison.py, the messages
from assertions.py, the verdict policy from errors.enforce; this caches family runs, records
results and applies the settings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..assertions import assert_drop_rate
from ..errors import RobustestError, RobustnessError, enforce
from ..families import FamilyConfig, MissingResource, Perturber, perturber
from ..stability import FamilyRun, best_relevant_rank, first_relevant, run_family
from ..stats import GateResult


class Checks:
    def __init__(self, session):
        self.session = session
        self.record = session.record
        self._perturbers: dict[str, Perturber] = {}
        self._poisoning = None  # plugin.poisoning.PoisoningChecks, built when a poisoning test asks
        self.search = None  # the running property search's progress.Task, set by the plugin

    def config(self, family: str) -> FamilyConfig:
        return self.session.families[family]

    def perturber(self, family: str) -> Perturber:
        """How this run makes one seed's variants of `family`. Built once: the synonym guard and
        a paraphrase model take seconds to load."""
        if family not in self._perturbers:
            made = self._perturbers[family] = perturber(family, self.session.settings)
            if getattr(made, "guard", None) is not None:
                self.record.guard = made.guard
        return self._perturbers[family]

    def run(self, family: str) -> FamilyRun:
        if family not in self.record.runs:
            cfg = self.config(family)
            clean = self.session.clean_evaluation_for(cfg.measure)
            reference = self.session.reference
            frozen = reference.frozen(family, cfg.seeds) if reference is not None else None
            # Against a saved baseline, replay its variants: the comparison is then paired.
            seeds, perturb = frozen if frozen is not None else (cfg.seeds, self.perturber(family))
            self.record.runs[family] = run_family(self.session.corpus_index, family, seeds, cfg.measure, clean, perturb)
        return self.record.runs[family]

    def add(self, key: str, value: Any, line: str | None = None) -> None:
        """Keep a measured value for the run file and, optionally, a summary line."""
        self.record.add(key, value, line)

    # -- gates ------------------------------------------------------------------------------
    def gate(self, family: str) -> GateResult:
        """The population gate: drop rate at most the family's threshold; with a reference
        (--robustest-baseline, --robustest-compare-to) also no significant regression against
        it. Both are judged and recorded before either fails the test."""
        cfg = self.config(family)
        failures, gate = [], None
        try:
            gate = assert_drop_rate(self.run(family), cfg.threshold, confidence=cfg.confidence, inconclusive=self.session.settings.inconclusive)
            self.record.gate(gate)
        except RobustnessError as failure:
            self.record.gate(failure.gate)
            failures.append(failure)
        if self.session.reference is not None:
            try:
                self.regression(family)
            except RobustnessError as failure:
                failures.append(failure)
        if failures:
            raise RobustnessError("\n\n".join(str(f) for f in failures), failures[0].gate)
        return gate

    def regression(self, family: str):
        """Drop rate of this run minus the reference's on the same variants, or None when the
        reference did not run this family."""
        from ..comparison import compare_family
        from ..runs import family_record

        run = self.run(family)
        theirs = self.session.reference.family(family, run)
        if theirs is None:
            return None
        cfg = self.config(family)
        result = compare_family(family, theirs, family_record(run), tolerance=self.session.settings.regression_tolerance, confidence=cfg.confidence)
        return self._judged(result)

    def clean_regression(self, measure: str):
        """Clean `measure` of the reference minus this run's, paired by query."""
        from ..comparison import compare_effectiveness

        theirs = self.session.reference.per_query(measure)
        if theirs is None:
            raise RobustestError(f"the reference {self.session.reference.label} has no per-query {measure}; save it with --robustest-measures={measure}")
        ours = self.session.clean_evaluation_for(measure).by_query(measure)
        result = compare_effectiveness(measure, theirs, ours, tolerance=self.session.settings.regression_tolerance)
        return self._judged(result)

    def _judged(self, result):
        from ..comparison import format_regression

        self.record.regression(result)
        return enforce(result, self.session.settings.inconclusive, format_regression, stacklevel=4)

    # -- property search ----------------------------------------------------------------------
    def stable_queries(self, family: str) -> dict[str, str]:
        """Queries whose best relevant document is in the clean top k: the ones a
        perturbation can push out. Others make the property vacuous."""
        cfg = self.config(family)
        clean = self.session.clean_evaluation
        qrels = self.session.dataset.qrels
        return {
            q: t
            for i, (q, t) in enumerate(zip(clean.qids, clean.texts))
            if (rank := best_relevant_rank(clean, i, qrels[q])) is not None and rank <= cfg.k
        }

    def keeps_relevant_in_top_k(self, family: str, qid: str, query: str, plans: list[Any]) -> None:
        """Retrieve every plan of one query in one batch; fail naming the worst one if a
        relevant document leaves the top k. `target` steers Hypothesis to the worst plans."""
        from hypothesis import target

        cfg = self.config(family)
        index = self.session.corpus_index
        if self.search is not None:
            self.search.advance()
        variants = [plan.apply(query) for plan in plans]
        runs = index.retrieve([(qid, query)] + [(qid, v) for v in variants])  # full depth: real ranks
        judged = self.session.dataset.qrels[qid]
        before, *ranks = [first_relevant(run, judged) for run in runs]
        worst = int(np.argmax([r or index.k + 1 for r in ranks]))
        target(float(ranks[worst] or index.k + 1), label="worst rank of the best relevant document")
        if ranks[worst] is None or ranks[worst] > cfg.k:
            after = ranks[worst] or f"beyond {index.k}"
            message = (
                f"{family}: {plans[worst].describe(query)} moved the best relevant document of query {qid} "
                f"from rank {before} to {after} (k = {cfg.k})\n  {query!r} -> {variants[worst]!r}"
            )
            self.record.counterexamples[family] = message  # the last one recorded is Hypothesis' shrunk example
            raise RobustnessError(message)

    def no_resource_reason(self, family: str) -> str | None:
        """Why this run cannot perturb with `family` (e.g. no paraphrase model), None when it can."""
        try:
            self.perturber(family)
        except MissingResource as missing:
            return str(missing)
        return None

    # -- corpus poisoning ---------------------------------------------------------------------
    @property
    def poisoning_started(self) -> bool:
        """Whether a poisoning test measured anything (asking builds nothing)."""
        return self._poisoning is not None and self._poisoning.started

    @property
    def poisoning(self):
        """Poisoning gates and measurements (robustest.plugin.poisoning.PoisoningChecks)."""
        if self._poisoning is None:
            from .poisoning import PoisoningChecks

            self._poisoning = PoisoningChecks(self.session)
        return self._poisoning
