"""The `robustness` fixture: run a family once per session, gate it, search it. What the
shipped suites call, and the public API for users' own checks:

- `gate(family)`: the drop-rate gate (plus the regression check against a reference).
- `top_k_unchanged(family, k=1, threshold=0.0)`, `rank_stable(family, k=None, threshold=...)`:
  gates on which documents come back, recorded like `gate`.
- `run(family)`: the family's `FamilyRun` (variants and scores over the seeds), made once.
- `config(family)`, `seeds(family)`: the settings in force for a family.
- `worst_case(family)`: the worst-case one-edit search (robustest.worst_case), reported, and
  gated when the family has a `worst_case_threshold`.
- `stable_queries(family, k=None, margin=None)`, `keeps_relevant_in_top_k(family, qid, query, plans, k=None)`:
  for property tests; `record_counterexample(family, message)` to report one yourself.

Every gate refuses to pass when fewer than the family's `min_queries` queries were perturbed.

Thin on purpose: the numbers come from stability.py, stats.py and comparison.py, the messages
from assertions.py, the verdict policy from errors.enforce; this caches family runs, records
results and applies the settings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..assertions import assert_drop_rate, assert_rank_stable, assert_top_k_unchanged
from ..errors import NotJudged, RobustestError, RobustnessError, enforce
from ..families import FAMILIES, perturber
from ..family_config import FamilyConfig
from ..perturb.loaders import MissingResource
from ..perturb.protocol import Perturber
from ..stability import FamilyRun, first_relevant, perturb_seeds, score_family
from ..stats import GateResult
from .session import settle_heap

MIN_T = 2.0  # clean vs random ranking: about a one-sided 2.5% test on the paired per-query differences


class Checks:
    def __init__(self, session):
        self.session = session
        self.record = session.record
        self._perturbers: dict[str, Perturber] = {}
        self._variants: dict[str, tuple] = {}  # family -> (seeds, perturbations)
        self._search_plans: dict = {}  # family -> worst_case.SearchPlan
        # kind ("run", "worst_case") -> families the collected tests use (marker robustest_uses),
        # set by the plugin; their texts are encoded in one batch when the first is asked for.
        self.planned: dict[str, set[str]] = {}
        self.prefetch_one_family = False  # a pytest-xdist worker: the other families' tests may run elsewhere
        self._prefetched: set[str] = set()
        self._poisoning = None  # engine.poisoning.PoisoningChecks, built when a poisoning test asks
        self.search = None  # the running property search's progress.Task, set by the plugin

    def __repr__(self) -> str:  # a failing test prints its fixtures: say what this is, briefly
        s = self.session.settings
        return f"robustness(retriever {s.retriever}, dataset {s.dataset})"

    def config(self, family: str) -> FamilyConfig:
        if family not in self.session.families:
            from ..family_config import CUSTOM_HINT

            raise RobustestError(f"{family!r} is not a family ({', '.join(FAMILIES)}); {CUSTOM_HINT}")
        return self.session.families[family]

    def seeds(self, family: str) -> tuple[int, ...]:
        """The perturbation seeds of `family` in this run (the paper's, or as configured)."""
        return self.config(family).seeds

    def perturber(self, family: str) -> Perturber:
        """How this run makes one seed's variants of `family`. Built once: the synonym guard and
        a paraphrase model take seconds to load."""
        if family not in self._perturbers:
            made = self._perturbers[family] = perturber(family, self.session.settings, lambda: self.session.query_prompt)
            if hasattr(made, "describe"):  # a model-written family says which model wrote it
                about = made.describe()
                self.record.add(f"{family}_model", about, f"{family}: {about['summary']}")
            guard = getattr(made, "guard", None)
            if guard is not None:
                self.record.guards[family] = guard
                fingerprint = getattr(self.session.retriever, "fingerprint", None)
                if fingerprint is not None and guard.fingerprint == fingerprint:
                    guard.share_vectors(self.session.corpus_index)  # one model, one set of query vectors
        return self._perturbers[family]

    def run(self, family: str) -> FamilyRun:
        if family not in self.record.runs and FAMILIES[family].documents is not None:
            # Deterministic and seeded by the data: a baseline's run is measured again, not replayed.
            cfg, documents = self.config(family), FAMILIES[family].documents
            seeds, clean, perturbations, scored = documents.measure(self.session, family, cfg)
            self.record.runs[family] = score_family(
                self.session.corpus_index, family, seeds, cfg.measure, clean, perturbations, evaluation=scored, acts_on=documents.acts_on
            )
        if family not in self.record.runs:
            self.prefetch(family)
            cfg = self.config(family)
            clean = self.session.clean_evaluation_for(cfg.measure)
            seeds, perturbations = self.perturbations(family)
            self.record.runs[family] = score_family(self.session.corpus_index, family, seeds, cfg.measure, clean, perturbations)
        return self.record.runs[family]

    def perturbations(self, family: str) -> tuple[tuple[int, ...], tuple]:
        """(seeds, one Perturbed per seed) of `family`, made once; against a saved baseline its
        variants, replayed (the comparison is then paired)."""
        if family not in self._variants:
            cfg = self.config(family)
            reference = self.session.reference
            frozen = reference.frozen(family, cfg.seeds) if reference is not None else None
            seeds, perturb = frozen if frozen is not None else (cfg.seeds, self.perturber(family))
            clean = self.session.clean_evaluation_for(cfg.measure)
            prefetch_guard = getattr(perturb, "prefetch_guard", None)
            if prefetch_guard is not None:  # what the guard scores for every seed, in one batch
                prefetch_guard(dict(zip(clean.qids, clean.texts)), seeds)
            self._variants[family] = (tuple(seeds), perturb_seeds(clean, family, seeds, perturb))
        return self._variants[family]

    def prefetch(self, family: str) -> None:
        """The first time a planned family is asked for (a collected test is marked
        `robustest_uses`): make the variants of every planned family run and search, then
        encode all their texts in one batch (length-sorted by the encoder), so each gate and
        search only looks its vectors up. On a pytest-xdist worker (`prefetch_one_family`):
        only the asked family's run and search, which `--dist loadgroup` keeps together."""
        planned = {f for families in self.planned.values() for f in families}
        if family in self._prefetched or family not in planned:
            return
        families = {family} if self.prefetch_one_family else planned
        self._prefetched |= families
        variants = lambda f: [(v.query_id, v.query) for p in self.perturbations(f)[1] for v in p.variants]  # noqa: E731
        searched = lambda f: self.search_plan(f).pairs if FAMILIES[f].neighbours is not None or FAMILIES[f].sampler is not None else []  # noqa: E731
        texts = []
        for kind, texts_of in (("run", variants), ("worst_case", searched)):
            for f in sorted(self.planned.get(kind, set()) & families):
                if FAMILIES[f].documents is not None:
                    continue  # its queries are the clean ones
                try:
                    texts += texts_of(f) if f in self.session.families and self.no_resource_reason(f) is None else []
                except Exception:  # noqa: BLE001 - nothing is kept: it fails again in the family's own test, not in this one
                    continue
        settle_heap()  # the variants, WordNet's maps, a paraphrase model: alive until the run ends
        if texts and not hasattr(self.session.retriever, "build_searcher"):  # a lexical retriever encodes nothing
            self.session.corpus_index.query_vectors(texts)

    def add(self, key: str, value: Any, line: str | None = None) -> None:
        """Keep a measured value for the run file and, optionally, a summary line."""
        self.record.add(key, value, line)

    # -- gates ------------------------------------------------------------------------------
    def gate(self, family: str) -> GateResult:
        """The population gate: drop rate at most the family's threshold; with a reference
        (--robustest-baseline, --robustest-compare-to) also no significant regression against
        it. Both are judged and recorded before either fails the test."""
        __tracebackhide__ = True
        cfg = self.config(family)
        return self._judge(family, lambda: assert_drop_rate(self.run(family), cfg.threshold, **self._gate_options(cfg)), regression=True)

    def top_k_unchanged(self, family: str, k: int = 1, threshold: float = 0.0):
        """Gate: at most `threshold` of the variants change the set of top-k documents (with
        0, one change fails). Recorded in the summary and the run file like `gate`."""
        __tracebackhide__ = True
        cfg = self.config(family)
        return self._judge(family, lambda: assert_top_k_unchanged(self.run(family), k, threshold, **self._gate_options(cfg)))

    def rank_stable(self, family: str, k: int | None = None, threshold: float | None = None):
        """Gate: of the queries with a relevant document in the clean top k (default: the
        family's k), at most `threshold` (default: the family's) lose it."""
        __tracebackhide__ = True
        cfg = self.config(family)
        limit = cfg.threshold if threshold is None else threshold
        return self._judge(family, lambda: assert_rank_stable(self.run(family), k or cfg.k, limit, **self._gate_options(cfg)))

    def _gate_options(self, cfg: FamilyConfig) -> dict[str, Any]:
        return {"confidence": cfg.confidence, "inconclusive": self.session.settings.inconclusive, "min_queries": cfg.min_queries}

    def _judge(self, family: str, assertion, regression: bool = False, label: str | None = None) -> GateResult:
        """Judge and record one gate, `assertion()` (and, with a reference, the family's
        regression) before either fails."""
        __tracebackhide__ = True
        failures, gate = [], None
        try:
            gate = self.record.gate(assertion())
        except NotJudged as refusal:  # too few perturbed queries: nothing measured, the summary says why
            self.record.not_judged[label or family] = str(refusal)
            if self.session.settings.not_judged == "fail":
                raise RobustnessError(f"{refusal} (--robustest-not-judged=fail)") from None
            raise  # decides nothing either way: the plugin reports a skip
        except RobustnessError as failure:
            if failure.gate is not None:
                self.record.gate(failure.gate)
            failures.append(failure)
        if regression and self.session.reference is not None:
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
        return self._judged(self._compare_clean(measure))

    def _compare_clean(self, measure: str):
        from ..comparison import compare_effectiveness

        theirs = self.session.reference.per_query(measure)
        if theirs is None:
            raise RobustestError(f"the reference {self.session.reference.label} has no per-query {measure}; save it with --robustest-measures={measure}")
        ours = self.session.clean_evaluation_for(measure).by_query(measure)
        return compare_effectiveness(measure, theirs, ours, tolerance=self.session.settings.regression_tolerance)

    def ensure_clean_regression(self) -> None:
        """With a reference, the clean comparison is judged whatever -m/-k selected: when no test
        judged it, it is judged here, at the end of the run, and named in `record.untested` (the
        plugin fails the run on it like on a failing test)."""
        measure = self.session.measures[0]
        if any(r.family == "" and r.measure == measure and r.reference == "baseline" for r in self.record.regressions):
            return
        result = self.record.regression(self._compare_clean(measure))
        self.record.untested.append(result.name)

    def _judged(self, result):
        from ..comparison import format_regression

        self.record.regression(result)
        return enforce(result, self.session.settings.inconclusive, format_regression, stacklevel=4)

    def clean_effectiveness(self) -> None:
        """The retriever must beat a random ranking of the same corpus by a clear margin (a broken
        checkpoint, a wrong pooling or a tokenizer mismatch usually does not) and, with
        --robustest-effectiveness-floor, reach that floor. Every robustness number is relative to
        the clean score, so it must be meaningful. Raises RobustnessError otherwise."""
        __tracebackhide__ = True
        from ..metrics import parse_measures
        from ..random_ranking import paired_margin, random_ranking_scores

        session = self.session
        measure = session.measures[0]
        clean = session.clean_evaluation
        ours = clean.scores[measure]
        cutoff = parse_measures([measure])[0].params.get("cutoff") or session.settings.top_k
        by_query = random_ranking_scores(session.dataset, measure, depth=cutoff)
        random = np.array([by_query[q] for q in clean.qids])
        margin, t = paired_margin(ours, random)
        self.add("random_baseline", {measure: float(random.mean())}, f"{measure:>12} of a random ranking = {random.mean():.4f} (margin {margin:+.4f}, paired t = {t:.1f})")
        if not (t > MIN_T and margin > 0):
            raise RobustnessError(
                f"{measure} = {ours.mean():.4f} is not clearly better than a random ranking "
                f"({random.mean():.4f}; paired t = {t:.2f} <= {MIN_T}): check the model, its pooling and prompts"
            )
        floor = session.settings.effectiveness_floor
        if floor is not None:
            floor_measure = floor[0] or measure
            value = clean.mean(floor_measure)
            if value < floor[1]:
                raise RobustnessError(f"{floor_measure} = {value:.4f} is below the floor {floor[1]} (--robustest-effectiveness-floor)")

    # -- worst-case search ----------------------------------------------------------------------
    def worst_case(self, family: str):
        """The family's worst-case one-edit search (robustest.worst_case.WorstCase), run once
        and reported; with a `worst_case_threshold` also a gate, judged with the others."""
        __tracebackhide__ = True
        from ..assertions import assert_worst_case
        from ..worst_case import run_search

        cfg = self.config(family)
        if family not in self.record.worst_cases:
            self.prefetch(family)
            self.record.worst_cases[family] = run_search(self.session.corpus_index, self.search_plan(family), confidence=cfg.confidence)
        result = self.record.worst_cases[family]
        if cfg.worst_case_threshold is not None:
            options = {"inconclusive": self.session.settings.inconclusive, "min_queries": cfg.min_queries}
            self._judge(family, lambda: assert_worst_case(result, cfg.worst_case_threshold, **options), label=f"{family} worst case")
        return result

    def search_plan(self, family: str):
        """The family's worst-case search plan (worst_case.SearchPlan), made once."""
        from ..worst_case import plan_search, sampled_neighbours

        if family not in self._search_plans:
            cfg = self.config(family)
            entry = FAMILIES[family]
            if entry.neighbours is None and entry.sampler is None:
                raise RobustestError(f"{family} has no one-edit neighbourhood to search: its variants come from a model; check them with robustness.run({family!r})")
            plans_of = entry.neighbours or sampled_neighbours(entry.sampler, cfg.worst_case_neighbours)
            guard = getattr(self.perturber(family), "guard", None)  # the family's semantic guard vetoes variants here too
            keep = None if guard is None else guard.keep_close
            self._search_plans[family] = plan_search(
                self.session.corpus_index, self.session.clean_evaluation, family, plans_of, k=cfg.k, margin=cfg.margin,
                budget=cfg.worst_case_neighbours, max_queries=cfg.worst_case_queries, seed=cfg.seeds[0], keep=keep,
            )
        return self._search_plans[family]

    # -- property search ----------------------------------------------------------------------
    def _k(self, family: str | None, k: int | None) -> int:
        if k is not None:
            return k
        return self.config(family).k if family in self.session.families else 10

    def stable_queries(self, family: str | None = None, k: int | None = None, margin: int | None = None) -> dict[str, str]:
        """Queries whose best relevant document is in the clean top k (default: the family's
        k, else 10), or at rank <= `margin` when given: the ones a perturbation can push out.
        Others make the property vacuous; a margin keeps out those one rank from the edge."""
        depth = self._k(family, k)
        inside = depth if margin is None else margin
        clean = self.session.clean_evaluation
        qrels = self.session.dataset.qrels
        runs = self.session.corpus_index.runs_at_depth(clean, depth)
        return {q: t for q, t, run in zip(clean.qids, clean.texts, runs) if (rank := first_relevant(run, qrels[q])) is not None and rank <= inside}

    def keeps_relevant_in_top_k(self, family: str, qid: str, query: str, plans: list[Any], k: int | None = None) -> None:
        """Retrieve every plan (a plan object, or a variant text) of one query in one batch;
        fail naming the worst one if a relevant document leaves the top k (default: the
        family's k, else 10). `family` labels the check: a registered family or any name.
        `target` steers Hypothesis to the worst plans."""
        __tracebackhide__ = True
        from hypothesis import target
        from hypothesis.control import currently_in_test_context

        depth = self._k(family, k)
        index = self.session.corpus_index
        if self.search is not None:
            self.search.advance()
        plans = [TextPlan(p) if isinstance(p, str) else p for p in plans]
        variants = [plan.apply(query) for plan in plans]
        runs = index.retrieve([(qid, query)] + [(qid, v) for v in variants])  # full depth: real ranks
        judged = self.session.dataset.qrels[qid]
        before, *ranks = [first_relevant(run, judged) for run in runs]
        worst = int(np.argmax([r or index.k + 1 for r in ranks]))
        if currently_in_test_context():  # a plain test (each model-written variant) has no search to steer
            target(float(ranks[worst] or index.k + 1), label="worst rank of the best relevant document")
        if ranks[worst] is None or ranks[worst] > depth:
            after = ranks[worst] or f"beyond {index.k}"
            message = (
                f"{family}: {plans[worst].describe(query)} moved the best relevant document of query {qid} "
                f"from rank {before} to {after} (k = {depth})\n  {query!r} -> {variants[worst]!r}"
            )
            self.record_counterexample(family, message)
            raise RobustnessError(message)

    def record_counterexample(self, family: str, message: str) -> None:
        """Report a counterexample in the summary and the run file. The last one recorded per
        family is kept: under Hypothesis, that is the shrunk example."""
        self.record.counterexamples[family] = message

    def no_resource_reason(self, family: str) -> str | None:
        """Why this run cannot perturb with `family` (e.g. no paraphrase model), None when it can."""
        documents = FAMILIES[family].documents if family in FAMILIES else None
        if documents is not None:
            return documents.unavailable(self.session)
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
        """Poisoning gates and measurements (robustest.engine.poisoning.PoisoningChecks)."""
        if self._poisoning is None:
            from .poisoning import PoisoningChecks

            self._poisoning = PoisoningChecks(self.session)
        return self._poisoning


class TextPlan:
    """A variant given as plain text, as a plan (so `keeps_relevant_in_top_k` takes both)."""

    def __init__(self, text: str):
        self.text = text

    def apply(self, query: str) -> str:
        return self.text

    def describe(self, query: str) -> str:
        return "the variant"
