"""The paper's protocol: one variant per query per seed, for a family of perturbations."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from ..settings import PAPER_SEEDS  # noqa: F401  (robustest.perturb.PAPER_SEEDS)
from .base import NoLegalEdit, rng_for

Sampler = Callable[[str, random.Random], Any]  # (query, rng) -> plan, or raises NoLegalEdit

@dataclass(frozen=True)
class Variant:
    query_id: str
    original: str
    text: str
    plan: Any
    prompt: str | None = None  # the query prompt it is encoded after; None: the retriever's own

    def describe(self) -> str:
        return self.plan.describe(self.original)

    @property
    def query(self):
        """What the index encodes: the text, or the text with its own prompt."""
        from ..retrievers.prompts import PromptedQuery

        return self.text if self.prompt is None else PromptedQuery(self.text, self.prompt)


@dataclass(frozen=True)
class Perturbed:
    """One family, one seed: a variant for every query that allows one, and why the others don't."""

    family: str
    seed: int
    variants: tuple[Variant, ...]
    skipped: dict[str, str]


Perturber = Callable[[Mapping[str, str], int], Perturbed]  # (queries, seed) -> one variant per query


def apply(query: str, plan) -> str:
    return plan.apply(query)


def perturb_queries(queries: Mapping[str, str], family: str, seed: int, sampler: Sampler) -> Perturbed:
    """One seed of the protocol with `sampler` (a family's own: robustest.families.sampler(family))."""
    variants, skipped = [], {}
    for qid in sorted(queries):
        query = queries[qid]
        try:
            plan = sampler(query, rng_for(seed, family, qid))
        except NoLegalEdit as reason:
            skipped[qid] = str(reason)
            continue
        variants.append(Variant(qid, query, plan.apply(query), plan))
    return Perturbed(family, seed, tuple(variants), skipped)


class SamplingPerturber:
    """The paper's protocol with one sampler: one variant per query per seed."""

    def __init__(self, family: str, sampler: Sampler, guard=None):
        self.family, self.sampler, self.guard = family, sampler, guard
        self._guard_ready: set[int] = set()  # seeds whose guard texts are encoded

    def prefetch_guard(self, queries: Mapping[str, str], seeds: Sequence[int]) -> None:
        """Encode in one batch what the guard will score for these seeds (the same draws)."""
        unguarded = getattr(self.sampler, "unguarded", None)  # a sampler the guard wrapped
        todo = [seed for seed in seeds if seed not in self._guard_ready]
        if self.guard is not None and unguarded is not None and todo:
            self.guard.prefetch_draws(queries, self.family, todo, unguarded)
        self._guard_ready.update(todo)

    def __call__(self, queries: Mapping[str, str], seed: int) -> Perturbed:
        self.prefetch_guard(queries, [seed])
        return perturb_queries(queries, self.family, seed, self.sampler)
