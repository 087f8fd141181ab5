"""The public assertion API: gates over a family run, and per-query checks.

Each raises `RobustnessError` (an AssertionError) whose message shows the gate, its
threshold, the estimate with its CI and verdict, and the five worst queries: original text,
variant, and the best relevant document's rank before -> after.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import INCONCLUSIVE_MODES, InconclusiveWarning, RobustnessError, enforce
from .stability import FamilyRun, best_relevant_rank
from .stats import GateResult, evaluate_gate

__all__ = ["INCONCLUSIVE_MODES", "InconclusiveWarning", "RobustnessError", "assert_attack_success", "assert_drop_rate", "assert_invariant", "assert_rank_stable", "format_gate", "format_rate_gate"]


def format_gate(gate: GateResult, worst: Sequence[dict] = ()) -> str:
    lo, hi = gate.drop_rate_ci
    lines = [
        f"{gate.name}: {gate.verdict.value.upper()} - drop rate of {gate.measure} {gate.drop_rate_mean * 100:.2f}% "
        f"± {gate.drop_rate_std * 100:.2f} over seeds {', '.join(map(str, gate.seeds))} "
        f"(threshold {gate.threshold * 100:.1f}%, {gate.confidence:.0%} CI [{lo * 100:.2f}%, {hi * 100:.2f}%], "
        f"{gate.n_queries} queries, p = {gate.p_value:.3g})",
        f"  {gate.note}",
    ]
    if worst:
        lines.append("  worst queries (seed: original -> variant; best relevant rank before -> after):")
        for w in worst:
            lines.append(
                f"    [{w['query_id']}, seed {w['seed']}] {w['original']!r} -> {w['variant']!r} "
                f"({w['edit']}); {w['before']:.3f} -> {w['after']:.3f}; rank {w['rank_before']} -> {w['rank_after']}"
            )
    return "\n".join(lines)


def _decide(gate: GateResult, run: FamilyRun, inconclusive: str) -> GateResult:
    return enforce(gate, inconclusive, lambda g: format_gate(g, run.worst(5)), format_gate, stacklevel=4)


def assert_drop_rate(
    run: FamilyRun, threshold: float, *, confidence: float = 0.95, inconclusive: str = "pass", name: str | None = None
) -> GateResult:
    """The paper's stability gate: drop rate (clean - perturbed) / clean of `run.measure`,
    averaged over seeds, at most `threshold`, judged on a paired bootstrap CI over queries."""
    gate = evaluate_gate(
        name or f"{run.family} drop rate",
        run.clean,
        run.perturbed,
        threshold,
        seeds=run.seeds,
        family=run.family,
        measure=run.measure,
        confidence=confidence,
    )
    return _decide(gate, run, inconclusive)


def rank_indicators(run: FamilyRun, k: int) -> tuple[np.ndarray, np.ndarray]:
    """1 where the best relevant document is in the top k: clean (n,) and perturbed (s, n),
    kept to the queries whose clean top k holds a relevant document."""
    clean_at = {q: i for i, q in enumerate(run.clean_evaluation.qids)}
    clean = np.array([_in_top(run.clean_evaluation, clean_at[q], run.qrels[q], k) for q in run.qids], dtype=float)
    perturbed = np.full(run.perturbed.shape, np.nan)
    position = {q: i for i, q in enumerate(run.qids)}
    row = 0
    for s, p in enumerate(run.perturbations):
        for v in p.variants:
            perturbed[s, position[v.query_id]] = _in_top(run.evaluation, row, run.qrels[v.query_id], k)
            row += 1
    keep = clean == 1
    return clean[keep], perturbed[:, keep]


def _in_top(evaluation, i: int, judged: dict[str, int], k: int) -> float:
    rank = best_relevant_rank(evaluation, i, judged)
    return float(rank is not None and rank <= k)


def assert_rank_stable(
    run: FamilyRun, k: int, threshold: float, *, confidence: float = 0.95, inconclusive: str = "pass"
) -> GateResult:
    """Of the queries with a relevant document in the clean top k, the share that lose it
    under the perturbation is at most `threshold` (same CI and verdict logic as the drop rate)."""
    depth = max((len(r) for r in run.evaluation.runs), default=0)
    if k > depth:
        raise ValueError(f"rank stability@{k} needs runs {k} deep, but {run.measure} scored only {depth}; use k <= {depth} or a deeper measure")
    clean, perturbed = rank_indicators(run, k)
    gate = evaluate_gate(
        f"{run.family} rank stability@{k}", clean, perturbed, threshold, seeds=run.seeds, family=run.family, measure=f"top-{k} hit", confidence=confidence
    )
    return _decide(gate, run, inconclusive)


def assert_invariant(run: FamilyRun, delta: float) -> None:
    """Per query and seed: the measure falls by at most `delta` (no statistics: every pair counts)."""
    drops = run.clean[None, :] - run.perturbed
    bad = int(np.nansum(drops > delta))
    if bad:
        worst = [w for w in run.worst(5) if w["before"] - w["after"] > delta]
        lines = [f"{run.family}: {bad} (query, seed) pairs lose more than {delta} {run.measure}:"]
        lines += [f"  [{w['query_id']}, seed {w['seed']}] {w['original']!r} -> {w['variant']!r}: {w['before']:.3f} -> {w['after']:.3f}, rank {w['rank_before']} -> {w['rank_after']}" for w in worst]
        raise RobustnessError("\n".join(lines))


def format_rate_gate(gate: GateResult, strongest: Sequence[dict] = (), k: int = 20) -> str:
    """The message of a poisoning gate: the rate over seeds, its CI and verdict, and the
    passages that reached the most test queries."""
    lo, hi = gate.drop_rate_ci
    lines = [
        f"{gate.name}: {gate.verdict.value.upper()} - {gate.statistic} {gate.drop_rate_mean * 100:.2f}% "
        f"± {gate.drop_rate_std * 100:.2f} over seeds {', '.join(map(str, gate.seeds))} "
        f"(threshold {gate.threshold * 100:.1f}%, {gate.confidence:.0%} CI [{lo * 100:.2f}%, {hi * 100:.2f}%], "
        f"{gate.n_queries} test queries, p = {gate.p_value:.3g})",
        f"  {gate.note}",
    ]
    if strongest:
        lines.append(f"  strongest adversarial passages (test queries each one reaches in the top {k} on its own):")
        for row in strongest:
            text = row["text"] if len(row["text"]) <= 160 else row["text"][:157] + "..."
            lines.append(f"    [seed {row['seed']}, cluster {row['cluster']}] {row['queries_reached']} queries: {text!r}")
    return "\n".join(lines)


def assert_attack_success(
    result, threshold: float, *, k: int = 20, confidence: float = 0.95, inconclusive: str = "pass", name: str | None = None
) -> GateResult:
    """Corpus-poisoning gate: ASR@k of an attack (a `robustest.attacks.AttackResult`), the share
    of test queries with an adversarial passage in their top k, averaged over seeds, at most
    `threshold`, judged on a bootstrap CI over test queries (pass / fail / inconclusive)."""
    from .stats import evaluate_rate_gate

    if k not in result.hits:
        raise ValueError(f"ASR@{k} was not measured; the run has k in {sorted(result.hits)}")
    gate = evaluate_rate_gate(
        name or f"poisoning {result.attack} ASR@{k} N={result.n_passages}",
        result.hits[k].astype(float),
        threshold,
        seeds=result.seeds,
        statistic=f"ASR@{k}",
        family="poisoning",
        confidence=confidence,
    )
    return enforce(gate, inconclusive, lambda g: format_rate_gate(g, result.strongest(5), k), format_rate_gate)
