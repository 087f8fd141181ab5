"""What every perturbation shares: a plan is a value, `apply` is pure, "no legal edit" is said."""

from __future__ import annotations

import random


class NoLegalEdit(ValueError):
    """The query offers nothing this perturbation may change (e.g. only stopwords)."""


def rng_for(seed: int, family: str, query_id: str) -> random.Random:
    """One generator per (seed, family, query): a query's variant does not depend on which
    other queries are perturbed, or in what order. String seeds are hashed with SHA-512 by
    `random`, so this is stable across processes and Python hash seeds."""
    return random.Random(f"robustest:{seed}:{family}:{query_id}")
