"""The paper's protocol: one variant per query per seed, for a family of perturbations."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .base import NoLegalEdit, rng_for

PAPER_SEEDS = (1999, 5, 27, 2016, 2026)

Sampler = Callable[[str, random.Random], Any]  # (query, rng) -> plan, or raises NoLegalEdit

@dataclass(frozen=True)
class Variant:
    query_id: str
    original: str
    text: str
    plan: Any

    def describe(self) -> str:
        return self.plan.describe(self.original)


@dataclass(frozen=True)
class Perturbed:
    """One family, one seed: a variant for every query that allows one, and why the others don't."""

    family: str
    seed: int
    variants: tuple[Variant, ...]
    skipped: dict[str, str]


def apply(query: str, plan) -> str:
    return plan.apply(query)


def perturb_queries(queries: Mapping[str, str], family: str, seed: int, sampler: Sampler | None = None) -> Perturbed:
    """One seed of the protocol; `sampler` defaults to the family's own (robustest.families)."""
    if sampler is None:
        from ..families import sampler as family_sampler  # the registry sits above perturb/

        sampler = family_sampler(family)
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
