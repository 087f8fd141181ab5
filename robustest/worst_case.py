"""Worst-case one-edit search: the adversarial counterpart of the paper's random perturbations.

The paper draws one random variant per query and seed; this asks how far one edit *can* go.
For each query whose best relevant document sits safely inside the top k (at rank <= margin,
so that a one-rank wobble is not counted as a break), every plan one edit away is tried when
there are at most `budget` of them, otherwise a seeded sample of `budget`; all variants of all
queries are retrieved in one batch. Per family it reports:

- the share of queries one edit can break (a relevant document out of the top k), with a
  bootstrap CI over queries: the number a gate can hold a threshold to;
- the median rank loss of the best relevant document under each query's worst edit;
- the smallest counterexamples: per broken query the first breaking plan in simplest-first
  order, the queries that were ranked best first.

Pure: no pytest, no Hypothesis. The plugin's `robustness.worst_case(family)` runs it with a
family's settings; users can call `worst_case_search` on any CorpusIndex.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .family_config import default_margin
from .perturb.base import NoLegalEdit
from .stability import first_relevant

RANK_DEPTH = 100  # ranks are measured this deep (at least k): a loss beyond it reads "> 100"
SAMPLER_DRAWS = 4  # a family with only a sampler: draws per neighbour wanted, to find distinct ones


@dataclass(frozen=True)
class Neighbourhood:
    """The variants tried for one query: distinct texts, each with the first plan making it,
    in the family's simplest-first order. `total` counts the distinct neighbours there were
    (None when a sampler could only be drawn from), so `exhaustive` says if all were tried."""

    query_id: str
    query: str
    plans: tuple
    texts: tuple[str, ...]
    total: int | None

    @property
    def exhaustive(self) -> bool:
        return self.total is not None and len(self.texts) == self.total


def sampled_neighbours(sampler: Callable, budget: int) -> Callable[[str], list]:
    """A family with a sampler but no enumeration: its neighbourhood is what `SAMPLER_DRAWS x
    budget` seeded draws make (NoLegalEdit on the first draw: none)."""

    def plans(query: str) -> list:
        out = []
        for i in range(SAMPLER_DRAWS * budget):
            try:
                out.append(sampler(query, random.Random(f"robustest:neighbour:{i}")))
            except NoLegalEdit:
                if i == 0:
                    return []
        return out

    plans.sampled = True
    return plans


def neighbourhood(query_id: str, query: str, plans_of: Callable[[str], Sequence], *, budget: int, seed: int, family: str) -> Neighbourhood:
    """At most `budget` distinct one-edit variants of `query` (see the module docstring)."""
    try:
        plans = plans_of(query)
        plans = plans if isinstance(plans, Sequence) else list(plans)  # a lazy sequence stays lazy (typos.OneTypoPlans)
    except NoLegalEdit:
        plans = []
    sampled = getattr(plans_of, "sampled", False)
    order = list(range(len(plans)))
    if len(plans) > budget:  # a seeded walk until `budget` distinct texts
        order = balanced_order(plans, random.Random(f"robustest:worst-case:{seed}:{family}:{query_id}"))
    found: dict[str, int] = {}  # text -> index of the first plan making it
    for i in order:
        text = plans[i].apply(query)
        if text != query and text not in found:
            found[text] = i
            if len(found) == budget:
                break
    complete = len(found) < budget or len(plans) <= budget  # every plan was looked at
    kept = sorted(found.items(), key=lambda item: item[1])  # back to simplest-first
    return Neighbourhood(
        query_id, query, tuple(plans[i] for _, i in kept), tuple(t for t, _ in kept), None if sampled or not complete else len(found)
    )


def balanced_order(plans: Sequence, rng: random.Random) -> list[int]:
    """Plan indices in a seeded random order that takes each group of plans in turn (a plan's
    `group`, e.g. a typo's word and op): a sample is spread over words and operations
    instead of going mostly to the ops with most variants (52 letters to substitute)."""
    if hasattr(plans, "group_ranges"):  # contiguous groups, known without making the plans
        queues = [list(r) for r in plans.group_ranges()]
    else:
        groups: dict[Any, list[int]] = {}
        for i, plan in enumerate(plans):
            groups.setdefault(getattr(plan, "group", None), []).append(i)
        queues = list(groups.values())
    rng.shuffle(queues)
    for queue in queues:
        rng.shuffle(queue)
    order = []
    for turn in range(max(map(len, queues), default=0)):
        order += [queue[turn] for queue in queues if turn < len(queue)]
    return order


@dataclass(repr=False)
class WorstCase:
    """One family's worst-case search. Arrays run over `qids`, the queries searched; ranks
    are 1-based, `depth + 1` meaning "not in the top `depth`"."""

    family: str
    k: int
    margin: int
    depth: int
    budget: int
    seed: int
    eligible: int  # queries at rank <= margin before any cap on their number
    qids: list[str]
    clean_ranks: np.ndarray
    worst_ranks: np.ndarray
    neighbours: np.ndarray
    exhaustive: np.ndarray
    counterexamples: list[dict] = field(default_factory=list)
    confidence: float = 0.95

    def __repr__(self) -> str:
        return f"WorstCase({self.family}: {self.broken_count} of {len(self.qids)} queries broken by one edit, k={self.k})"

    @property
    def broken(self) -> np.ndarray:
        return self.worst_ranks > self.k

    @property
    def broken_count(self) -> int:
        return int(self.broken.sum())

    @property
    def share(self) -> float:
        return float(self.broken.mean()) if len(self.qids) else float("nan")

    def share_ci(self) -> tuple[float, float]:
        """Bootstrap CI over queries of the share broken (percentile, `confidence`)."""
        from .stats import bootstrap_seed_means

        if not len(self.qids):
            return (float("nan"), float("nan"))
        _, ci, _ = bootstrap_seed_means(self.broken[None, :].astype(np.float64), confidence=self.confidence, seed=0)
        return ci

    @property
    def rank_losses(self) -> np.ndarray:
        return self.worst_ranks - self.clean_ranks

    @property
    def median_rank_loss(self) -> float:
        return float(np.median(self.rank_losses)) if len(self.qids) else float("nan")

    def rank_label(self, rank: int) -> str:
        return f"> {self.depth}" if rank > self.depth else str(int(rank))

    def as_dict(self) -> dict[str, Any]:
        lo, hi = self.share_ci()
        return {
            "family": self.family,
            "k": self.k,
            "margin": self.margin,
            "depth": self.depth,
            "neighbours_per_query": self.budget,
            "seed": self.seed,
            "eligible_queries": self.eligible,
            "queries": len(self.qids),
            "broken": self.broken_count,
            "share_broken": _number(self.share),
            "share_broken_ci": [_number(lo), _number(hi)],
            "confidence": self.confidence,
            "median_rank_loss": _number(self.median_rank_loss),
            "neighbours_tried": int(self.neighbours.sum()),
            "exhaustive_queries": int(self.exhaustive.sum()),
            "per_query": {
                q: {"clean_rank": int(c), "worst_rank": int(w) if w <= self.depth else None, "neighbours": int(n)}
                for q, c, w, n in zip(self.qids, self.clean_ranks, self.worst_ranks, self.neighbours)
            },
            "counterexamples": self.counterexamples,
        }


def _number(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


@dataclass(frozen=True)
class SearchPlan:
    """What a worst-case search will retrieve: the neighbourhoods of the searched queries
    (after the guard's veto), their clean ranks, and the settings that chose them."""

    family: str
    k: int
    margin: int
    depth: int
    budget: int
    seed: int
    eligible: int
    clean_ranks: dict
    hoods: tuple[Neighbourhood, ...]

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """(query id, variant text) of every variant to retrieve."""
        return [(h.query_id, t) for h in self.hoods for t in h.texts]


def plan_search(
    index,
    clean,
    family: str,
    plans_of: Callable[[str], Sequence],
    *,
    k: int = 10,
    margin: int | None = None,
    budget: int = 32,
    max_queries: int | None = 50,
    seed: int = 1999,
    keep: Callable[[list[tuple[str, tuple[str, ...]]]], Sequence[Sequence[bool]]] | None = None,
) -> SearchPlan:
    """The queries to search and their neighbourhoods; nothing but the clean queries is
    retrieved (see `worst_case_search`)."""
    margin = default_margin(k) if margin is None else margin
    if not 1 <= margin <= k:
        raise ValueError(f"margin={margin} must be between 1 and k={k}")
    depth = max(k, min(index.k, RANK_DEPTH))
    qrels = index.dataset.qrels
    clean_runs = index.runs_at_depth(clean, depth)
    ranks = {q: first_relevant(run, qrels[q]) for q, run in zip(clean.qids, clean_runs)}
    eligible = [(q, t) for q, t in zip(clean.qids, clean.texts) if ranks[q] is not None and ranks[q] <= margin]
    chosen = eligible
    if max_queries is not None and len(eligible) > max_queries:
        picked = set(random.Random(f"robustest:worst-case:{seed}:{family}").sample(range(len(eligible)), max_queries))
        chosen = [e for i, e in enumerate(eligible) if i in picked]
    hoods = [neighbourhood(q, t, plans_of, budget=budget, seed=seed, family=family) for q, t in chosen]
    if keep is not None:
        hoods = [_kept(h, mask) for h, mask in zip(hoods, keep([(h.query, h.texts) for h in hoods]))]
    hoods = [h for h in hoods if h.texts]  # a query with no legal edit is not searched
    return SearchPlan(family, k, margin, depth, budget, seed, len(eligible), {h.query_id: ranks[h.query_id] for h in hoods}, tuple(hoods))


def worst_case_search(index, clean, family: str, plans_of: Callable[[str], Sequence], *, confidence: float = 0.95, examples: int = 20, **options) -> WorstCase:
    """Search the one-edit neighbourhood of the queries of `clean` (an Evaluation of `index`)
    whose best relevant document is at rank <= `margin` (default k // 2, at least 1).

    `plans_of(query)` lists the plans one edit away, simplest first (a family's `neighbours`,
    or `sampled_neighbours(sampler, budget)`). `options` are `plan_search`'s: k (10), margin,
    budget (32 variants per query), max_queries (50; more eligible queries: a seeded sample),
    seed (1999), and keep([(query, texts), ...]), which may veto variants (a semantic guard:
    one mask per query, for all queries at once).
    """
    plan = plan_search(index, clean, family, plans_of, **options)
    return run_search(index, plan, confidence=confidence, examples=examples)


def run_search(index, plan: SearchPlan, *, confidence: float = 0.95, examples: int = 20) -> WorstCase:
    """Retrieve every variant of `plan` in one batch and find each query's worst."""
    k, depth, qrels, ranks, hoods = plan.k, plan.depth, index.dataset.qrels, plan.clean_ranks, plan.hoods
    pairs = plan.pairs
    runs = index.retrieve(pairs, k=depth) if pairs else []
    worst, found, start = [], [], 0
    for h in hoods:
        after = [first_relevant(run, qrels[h.query_id]) or depth + 1 for run in runs[start : start + len(h.texts)]]
        start += len(h.texts)
        worst.append(max(after))
        first_break = next((i for i, r in enumerate(after) if r > k), None)
        if first_break is not None:
            found.append((h, first_break, after[first_break]))
    result = WorstCase(
        family=plan.family,
        k=k,
        margin=plan.margin,
        depth=depth,
        budget=plan.budget,
        seed=plan.seed,
        eligible=plan.eligible,
        qids=[h.query_id for h in hoods],
        clean_ranks=np.array([ranks[h.query_id] for h in hoods], dtype=np.int64),
        worst_ranks=np.array(worst, dtype=np.int64),
        neighbours=np.array([len(h.texts) for h in hoods], dtype=np.int64),
        exhaustive=np.array([h.exhaustive for h in hoods], dtype=bool),
        confidence=confidence,
    )
    # The most striking first: the best-ranked queries, then the ones that fell furthest.
    found.sort(key=lambda f: (ranks[f[0].query_id], -f[2], f[0].query_id))
    result.counterexamples = [_example(result, h, i, r, ranks[h.query_id]) for h, i, r in found[:examples]]
    return result


def _kept(h: Neighbourhood, mask) -> Neighbourhood:
    plans = tuple(p for p, m in zip(h.plans, mask) if m)
    texts = tuple(t for t, m in zip(h.texts, mask) if m)
    return Neighbourhood(h.query_id, h.query, plans, texts, None if h.total is None else h.total - (len(h.texts) - len(texts)))


def _example(result: WorstCase, h: Neighbourhood, i: int, rank: int, before: int) -> dict:
    return {
        "query_id": h.query_id,
        "query": h.query,
        "variant": h.texts[i],
        "edit": h.plans[i].describe(h.query),
        "rank_before": int(before),
        "rank_after": result.rank_label(rank),
    }


def format_worst_case(result: WorstCase, examples: int = 3) -> list[str]:
    """Summary lines: the family's numbers, then its first counterexamples."""
    if not result.qids:
        return [f"{result.family}: no query searched ({result.eligible} had a relevant document at rank <= {result.margin}, none a variant)"]
    lo, hi = result.share_ci()
    tried = int(result.neighbours.sum())
    line = (
        f"{result.family}: one edit breaks {result.broken_count} of {len(result.qids)} queries "
        f"({result.share * 100:.1f}%, {result.confidence:.0%} CI [{lo * 100:.1f}, {hi * 100:.1f}]); "
        f"median rank loss {result.median_rank_loss:g}; k = {result.k}, margin {result.margin}; "
        f"{tried:,} variants (up to {result.budget} per query, seed {result.seed}), all of them for {int(result.exhaustive.sum())} queries"
    )
    lines = [line]
    for e in result.counterexamples[:examples]:
        lines.append(f"    query {e['query_id']} rank {e['rank_before']} -> {e['rank_after']}: {e['edit']}  ({e['query']!r} -> {e['variant']!r})")
    return lines
