"""Reference points a retriever must beat: what a random ranking scores on the same qrels."""

from __future__ import annotations

import numpy as np

from .data.types import Dataset
from .metrics import per_query


def random_runs(dataset: Dataset, depth: int, seed: int = 0) -> dict[str, dict[str, float]]:
    """For each query, `depth` documents drawn uniformly without replacement, in draw order."""
    rng = np.random.default_rng(seed)
    n = len(dataset.doc_ids)
    depth = min(depth, n)
    runs = {}
    for qid in sorted(dataset.queries):
        picks = rng.choice(n, size=depth, replace=False)
        runs[qid] = {dataset.doc_ids[i]: float(depth - rank) for rank, i in enumerate(picks)}
    return runs


def random_ranking_scores(dataset: Dataset, measure: str, depth: int = 1000, seed: int = 0) -> dict[str, float]:
    """Per-query `measure` of a random ranking; use the measure's cutoff as `depth` when it has one."""
    return per_query(dataset.qrels, random_runs(dataset, depth, seed), [measure])[measure]


def paired_margin(better: np.ndarray, worse: np.ndarray) -> tuple[float, float]:
    """Mean paired difference and its t statistic (0 when the differences do not vary)."""
    diff = np.asarray(better, float) - np.asarray(worse, float)
    mean = float(diff.mean()) if len(diff) else 0.0
    sd = float(diff.std(ddof=1)) if len(diff) > 1 else 0.0
    return mean, (mean / (sd / np.sqrt(len(diff))) if sd > 0 else (np.inf if mean > 0 else 0.0))
