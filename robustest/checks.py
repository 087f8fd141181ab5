"""What the shipped suites call: run a family once per session, gate it, search it.

Thin on purpose: the numbers come from stability.py and stats.py, the messages from
assertions.py; this only caches family runs, records results and applies the settings.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np

from .assertions import InconclusiveWarning, RobustnessError, assert_drop_rate, assert_rank_stable
from .errors import RobustestError
from .families import FamilyConfig
from .stability import FamilyRun, best_relevant_rank, first_relevant, run_family
from .stats import GateResult


class MissingResource(Exception):
    """A family needs something this run does not have (e.g. a paraphrase model)."""


class Checks:
    def __init__(self, session):
        self.session = session
        self._runs: dict[str, FamilyRun] = {}
        self.gates: list[GateResult] = []
        self.regressions: list = []  # comparison.Regression, when gated against a reference
        self.counterexamples: dict[str, str] = {}
        self.guard = None  # the synonym guard, once synonymizing has run
        self._perturbers: dict[str, Callable | None] = {}
        self._poisoning = None  # attacks.checks.PoisoningChecks, built when a poisoning test runs

    def config(self, family: str) -> FamilyConfig:
        return self.session.families[family]

    def perturber(self, family: str) -> Callable | None:
        """How this run makes one seed's variants of `family` (None: the family's own sampler).
        Built once: the synonym guard and a paraphrase model take seconds to load."""
        if family not in self._perturbers:
            self._perturbers[family] = self._build_perturber(family)
        return self._perturbers[family]

    def _build_perturber(self, family: str) -> Callable | None:
        if family == "synonymizing":
            from .perturb.protocol import perturb_queries
            from .perturb.synonyms import SemanticGuard, wordnet_sampler

            sampler = wordnet_sampler()
            threshold = self.session.settings["synonym_guard"]
            if threshold is not None:
                # The paper keeps a WordNet swap only if the sentence encoder still finds it
                # close to the query; the guard is the same embedded model for every retriever.
                self.guard = SemanticGuard.default(threshold)
                sampler = self.guard.wrap(sampler)
            return lambda queries, seed: perturb_queries(queries, family, seed, sampler)
        if family == "paraphrasing":
            path = self.session.settings["paraphraser"]
            if not path:
                raise MissingResource("paraphrasing needs a local seq2seq model: pass --paraphraser=PATH (a T5 paraphraser or a translation model)")
            from .perturb.paraphrase import load_paraphraser, perturb_with_paraphraser

            paraphraser = load_paraphraser(path, device=self.session.settings["device"])
            return lambda queries, seed: perturb_with_paraphraser(queries, paraphraser, seed)
        return None

    @property
    def runs(self) -> dict[str, FamilyRun]:
        return dict(self._runs)

    def run(self, family: str) -> FamilyRun:
        if family not in self._runs:
            cfg = self.config(family)
            clean = self.session.clean_evaluation_for(cfg.measure)
            reference = self.session.reference
            frozen = reference.frozen(family, cfg.seeds) if reference is not None else None
            # Against a saved baseline, replay its variants: the comparison is then paired.
            seeds, perturb = frozen if frozen is not None else (cfg.seeds, self.perturber(family))
            self._runs[family] = run_family(self.session.corpus_index, family, seeds, cfg.measure, clean, perturb)
        return self._runs[family]

    def _record(self, gate: GateResult) -> GateResult:
        self.gates = [g for g in self.gates if g.name != gate.name] + [gate]
        return gate

    def gate(self, family: str) -> GateResult:
        """The population gate: drop rate at most the family's threshold; with a reference
        (--baseline, --compare-to) also no significant regression against it. Both are
        judged and recorded before either fails the test."""
        cfg = self.config(family)
        failures, gate = [], None
        try:
            gate = self._checked(assert_drop_rate, family, cfg.threshold)
        except RobustnessError as failure:
            failures.append(failure)
        if self.session.reference is not None:
            try:
                self.regression(family)
            except RobustnessError as failure:
                failures.append(failure)
        if failures:
            raise RobustnessError("\n\n".join(str(f) for f in failures), failures[0].gate)
        return gate

    # -- regression against a reference ---------------------------------------------------
    def regression(self, family: str):
        """Drop rate of this run minus the reference's on the same variants, or None when the
        reference did not run this family."""
        from .comparison import compare_family

        run = self.run(family)
        theirs = self.session.reference.family(family, run)
        if theirs is None:
            return None
        from .runs import family_record

        cfg = self.config(family)
        result = compare_family(family, theirs, family_record(run), tolerance=self.session.settings["regression_tolerance"], confidence=cfg.confidence)
        return self._judged(result, self.session.settings["inconclusive"])

    def clean_regression(self, measure: str):
        """Clean `measure` of the reference minus this run's, paired by query."""
        from .comparison import compare_effectiveness

        theirs = self.session.reference.per_query(measure)
        if theirs is None:
            raise RobustestError(f"the reference {self.session.reference.label} has no per-query {measure}; save it with --measures={measure}")
        ours = self.session.clean_evaluation_for(measure).by_query(measure)
        result = compare_effectiveness(measure, theirs, ours, tolerance=self.session.settings["regression_tolerance"])
        return self._judged(result, self.session.settings["inconclusive"])

    def _judged(self, result, inconclusive: str):
        from .comparison import format_regression
        from .stats import Verdict

        self.regressions = [r for r in self.regressions if r.name != result.name] + [result]
        if result.verdict is Verdict.FAIL or (result.verdict is Verdict.INCONCLUSIVE and inconclusive == "fail"):
            raise RobustnessError(format_regression(result))
        if result.verdict is Verdict.INCONCLUSIVE:
            warnings.warn(InconclusiveWarning(format_regression(result)), stacklevel=3)
        return result

    def rank_stability(self, family: str, threshold: float) -> GateResult:
        return self._checked(assert_rank_stable, family, self.config(family).k, threshold)

    def _checked(self, assertion: Callable[..., GateResult], family: str, *args) -> GateResult:
        """Run one gate assertion on the family's run; record its result, passed or failed."""
        cfg = self.config(family)
        mode = self.session.settings["inconclusive"]
        try:
            return self._record(assertion(self.run(family), *args, confidence=cfg.confidence, inconclusive=mode))
        except RobustnessError as failure:
            self._record(failure.gate)
            raise

    # -- property search ------------------------------------------------------------------
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
            self.counterexamples[family] = message  # the last one recorded is Hypothesis' shrunk example
            raise RobustnessError(message)

    def no_resource_reason(self, family: str) -> str | None:
        try:
            self.perturber(family)
        except MissingResource as missing:
            return str(missing)
        except RobustestError:
            raise
        return None

    # -- corpus poisoning -----------------------------------------------------------------
    @property
    def poisoning(self):
        """Poisoning gates and measurements (robustest.attacks.checks.PoisoningChecks)."""
        if self._poisoning is None:
            from .attacks.checks import PoisoningChecks

            self._poisoning = PoisoningChecks(self.session, self._record)
        return self._poisoning

    def poisoning_lines(self) -> list[str]:
        return [] if self._poisoning is None else self._poisoning.lines()
