"""What the shipped suites call: run a family once per session, gate it, search it.

Thin on purpose: the numbers come from stability.py and stats.py, the messages from
assertions.py; this only caches family runs, records results and applies the settings.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .assertions import RobustnessError, assert_drop_rate, assert_rank_stable
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
        self.counterexamples: dict[str, str] = {}
        self.guard = None  # the synonym guard, once synonymizing has run
        self._perturbers: dict[str, Callable | None] = {}

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

    def run(self, family: str) -> FamilyRun:
        if family not in self._runs:
            cfg = self.config(family)
            clean = self.session.clean_evaluation_for(cfg.measure)
            self._runs[family] = run_family(self.session.corpus_index, family, cfg.seeds, cfg.measure, clean, self.perturber(family))
        return self._runs[family]

    def _record(self, gate: GateResult) -> GateResult:
        self.gates = [g for g in self.gates if g.name != gate.name] + [gate]
        return gate

    def gate(self, family: str) -> GateResult:
        """The population gate: drop rate at most the family's threshold."""
        cfg = self.config(family)
        return self._checked(assert_drop_rate, family, cfg.threshold)

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
