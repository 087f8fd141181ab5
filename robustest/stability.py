"""Run a perturbation family over the paper's seeds and collect per-query scores.

All variants of all seeds are encoded in one batch and searched once; the clean scores come
from the same index, so clean and perturbed runs differ only in the query text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from .perturb.protocol import Perturbed, perturb_queries
from .retrieval import CorpusIndex, Evaluation


@dataclass(repr=False)
class FamilyRun:
    """Scores of one family: `perturbed[s, i]` is query `qids[i]` under seed `seeds[s]`
    (NaN where that query allowed no variant under that seed)."""

    family: str
    measure: str
    seeds: tuple[int, ...]
    qids: list[str]
    clean: np.ndarray
    perturbed: np.ndarray
    perturbations: tuple[Perturbed, ...]
    evaluation: Evaluation  # of all variants, in perturbation order
    clean_evaluation: Evaluation
    qrels: dict[str, dict[str, int]]
    index: CorpusIndex
    acts_on: str | None = None  # "document_prompt", "documents": the documents changed, the scored runs are the only ranks

    @property
    def documents_changed(self) -> bool:
        return self.acts_on in ("document_prompt", "documents")

    def __repr__(self) -> str:
        return (
            f"FamilyRun({self.family}, {self.measure}, seeds {', '.join(map(str, self.seeds))}: "
            f"{self.perturbed_queries} of {len(self.qids)} queries perturbed)"
        )

    @property
    def skipped(self) -> int:
        return int(np.isnan(self.perturbed).sum())

    @property
    def perturbed_queries(self) -> int:
        """Queries with a variant under at least one seed: what a gate over this run judges."""
        return int((~np.isnan(self.perturbed)).any(axis=0).sum())

    def skip_reasons(self) -> dict[str, str]:
        """Why each query never got a variant (the first seed's reason)."""
        never = {q for q, has in zip(self.qids, (~np.isnan(self.perturbed)).any(axis=0)) if not has}
        reasons: dict[str, str] = {}
        for p in self.perturbations:
            for q, why in p.skipped.items():
                if q in never:
                    reasons.setdefault(q, why)
        return {q: reasons.get(q, "no variant") for q in self.qids if q in never}

    def rankings(self, k: int) -> tuple[dict[str, list[str]], np.ndarray]:
        """The top-k document ids of each clean query, and of each variant as an object array
        (seeds, queries) of lists, None where a query had no variant. Retrieves again only when
        the scored runs stop short of k (they are as deep as the measure's cutoff)."""
        if self.documents_changed and min((len(r) for r in self.evaluation.runs), default=k) < k:
            from .errors import RobustestError

            raise RobustestError(f"{self.family} ranks a changed corpus: its runs hold the top {len(self.evaluation.runs[0])}, fewer than k = {k}; use a k up to the measure's cutoff")
        variant_runs = self.index.runs_at_depth(self.evaluation, k)
        clean_runs = dict(zip(self.clean_evaluation.qids, self.index.runs_at_depth(self.clean_evaluation, k)))
        clean = {q: list(clean_runs[q])[:k] for q in self.qids}
        perturbed = np.full(self.perturbed.shape, None, dtype=object)
        position = {q: i for i, q in enumerate(self.qids)}
        row = 0
        for s, p in enumerate(self.perturbations):
            for v in p.variants:
                perturbed[s, position[v.query_id]] = list(variant_runs[row])[:k]
                row += 1
        return clean, perturbed

    def worst(self, n: int = 5, *, merge_seeds: bool = False) -> list[dict]:
        """The n (query, seed) pairs whose score fell most, with texts and the best relevant
        document's rank before and after. `merge_seeds`: the same variant of a query under
        several seeds (a deterministic family) is one example, its `seeds` all of them."""
        rows = []
        position = {q: i for i, q in enumerate(self.qids)}
        k = 0
        for perturbed in self.perturbations:
            for variant in perturbed.variants:
                i = position[variant.query_id]
                before = self.clean[i]
                after = self.evaluation.scores[self.measure][k]
                rows.append(
                    {
                        "query_id": variant.query_id,
                        "seed": perturbed.seed,
                        "original": variant.original,
                        "variant": variant.text,
                        **({} if variant.prompt is None else {"prompt": variant.prompt}),
                        "edit": variant.describe(),
                        "before": float(before),
                        "after": float(after),
                        "_query": variant.query,
                    }
                )
                k += 1
        rows.sort(key=lambda r: (r["after"] - r["before"], r["query_id"], r["seed"]))
        if merge_seeds:
            merged: dict[tuple[str, str], dict] = {}
            for r in rows:  # worst first: a variant's first row is its worst
                merged.setdefault((r["query_id"], r["_query"]), {**r, "seeds": []})["seeds"].append(r["seed"])
            order = {seed: i for i, seed in enumerate(self.seeds)}
            rows = [{**r, "seeds": tuple(sorted(r["seeds"], key=lambda x: order.get(x, len(order))))} for r in merged.values()]
        rows = rows[:n]
        if self.documents_changed:  # the index holds the clean corpus: the scored runs are this family's ranks
            clean_runs = dict(zip(self.clean_evaluation.qids, self.clean_evaluation.runs))
            changed_runs = dict(zip(self.evaluation.qids, self.evaluation.runs))
            runs = []
            for r in rows:
                r.pop("_query")
                runs += [clean_runs[r["query_id"]], changed_runs[r["query_id"]]]
            depth = min((len(r) for r in self.evaluation.runs), default=0)
        else:  # ranks at the index's full depth (the scored runs stop where the measure does)
            runs = self.index.retrieve([(r["query_id"], t) for r in rows for t in (r["original"], r.pop("_query"))])
            depth = self.index.k
        for r, before, after in zip(rows, runs[::2], runs[1::2]):
            r["rank_before"] = first_relevant(before, self.qrels[r["query_id"]]) or f">{depth}"
            r["rank_after"] = first_relevant(after, self.qrels[r["query_id"]]) or f">{depth}"
        return rows

def first_relevant(run: Mapping[str, float], judged: Mapping[str, int]) -> int | None:
    """1-based rank of the highest-ranked relevant document in a run (None: not retrieved)."""
    for rank, doc in enumerate(run, start=1):
        if judged.get(doc, 0) > 0:
            return rank
    return None


def run_family(
    index: CorpusIndex,
    family: str,
    seeds: Sequence[int],
    measure: str,
    clean: Evaluation,
    perturb: Callable[[Mapping[str, str], int], Perturbed] | None = None,
) -> FamilyRun:
    """`perturb(queries, seed)` makes one seed's variants; default: the family's own sampler."""
    return score_family(index, family, seeds, measure, clean, perturb_seeds(clean, family, seeds, perturb))


def perturb_seeds(
    clean: Evaluation, family: str, seeds: Sequence[int], perturb: Callable[[Mapping[str, str], int], Perturbed] | None = None
) -> tuple[Perturbed, ...]:
    """One Perturbed per seed: the variants of the clean queries (nothing encoded here)."""
    queries = {q: t for q, t in zip(clean.qids, clean.texts)}
    if perturb is None:
        from .families import sampler  # the registry: only for a family's own sampler

        own = sampler(family)
        perturb = lambda qs, seed: perturb_queries(qs, family, seed, own)  # noqa: E731
    return tuple(perturb(queries, seed) for seed in seeds)


def score_family(
    index: CorpusIndex, family: str, seeds: Sequence[int], measure: str, clean: Evaluation, perturbations: Sequence[Perturbed],
    evaluation: Evaluation | None = None, acts_on: str | None = None,
) -> FamilyRun:
    """Retrieve and score every variant of every seed (`perturbations[s]` is seed `seeds[s]`'s) in one batch;
    `evaluation`: the variants already scored, in that order (a family that changed the documents, `acts_on`)."""
    perturbations = tuple(perturbations)
    pairs = [(v.query_id, v.query) for p in perturbations for v in p.variants]
    evaluation = index.evaluate(pairs, measures=[measure]) if evaluation is None else evaluation
    qids = list(clean.qids)
    position = {q: i for i, q in enumerate(qids)}
    perturbed = np.full((len(seeds), len(qids)), np.nan)
    k = 0
    for s, p in enumerate(perturbations):
        for v in p.variants:
            perturbed[s, position[v.query_id]] = evaluation.scores[measure][k]
            k += 1
    return FamilyRun(
        family, measure, tuple(seeds), qids, clean.scores[measure].copy(), perturbed, perturbations, evaluation, clean, index.dataset.qrels, index,
        acts_on,
    )
