"""Is a checkpoint less robust than its baseline? Paired comparisons on frozen perturbations.

Both runs scored the same variant texts of the same queries, so each query contributes a
pair of numbers to every statistic and the bootstrap resamples queries jointly across both
runs and all seeds. Differences are oriented so that positive means "the checkpoint is
worse": for a family, its drop rate minus the baseline's (points of drop rate, as fractions);
for clean effectiveness, the baseline's mean minus the checkpoint's.

Verdict against a tolerance t, from the CI of the difference: fail when the whole CI lies
above t (significantly worse by more than t), pass when it lies at or below t, inconclusive
when it straddles t (the data cannot tell).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from .stats import Verdict, _about, _json_ready, _percentile_ci, bootstrap_seed_means, drop_rate, p_exceeds, queries_needed, resampled_sums, verdict

DEFAULT_TOLERANCE = 0.02


@dataclass(frozen=True)
class Regression:
    """One comparison "checkpoint minus baseline <= tolerance" and everything it reports."""

    name: str
    family: str  # "" for clean effectiveness
    measure: str
    tolerance: float
    n_queries: int
    seeds: tuple[int, ...]
    baseline: float  # drop rate (mean over seeds) or clean mean of the baseline
    current: float
    difference: float
    difference_ci: tuple[float, float]
    seed_differences: tuple[float, ...]
    confidence: float
    n_resamples: int
    p_value: float  # one-sided bootstrap p of "difference <= tolerance"
    verdict: Verdict
    note: str
    p_adjusted: float | None = None
    holm_reject: bool | None = None
    reference: str = "baseline"  # or "anchor": the first accepted run of the baseline's line (robustest.lineage)

    def as_dict(self) -> dict[str, Any]:
        return _json_ready({f: getattr(self, f) for f in self.__dataclass_fields__})


def paired_scores(baseline: Mapping[str, Any], current: Mapping[str, Any]):
    """Align two family records on their common seeds and queries: (seeds, qids, clean_b,
    perturbed_b, clean_c, perturbed_c); a (seed, query) pair scored by only one run is NaN
    in both, so every statistic uses the same pairs."""
    seeds = [s for s in current["seeds"] if str(s) in baseline["perturbed"] and str(s) in current["perturbed"]]
    qids = sorted(set(baseline["clean"]) & set(current["clean"]))
    if not seeds or not qids:
        raise ValueError("the two runs share no seed or no query")
    cb = np.array([baseline["clean"][q] for q in qids], dtype=np.float64)
    cc = np.array([current["clean"][q] for q in qids], dtype=np.float64)
    pb = np.full((len(seeds), len(qids)), np.nan)
    pc = np.full((len(seeds), len(qids)), np.nan)
    for s, seed in enumerate(seeds):
        b, c = baseline["perturbed"][str(seed)], current["perturbed"][str(seed)]
        for i, q in enumerate(qids):
            if q in b and q in c:
                pb[s, i], pc[s, i] = b[q], c[q]
    return tuple(seeds), qids, cb, pb, cc, pc


def compare_family(
    family: str,
    baseline: Mapping[str, Any],
    current: Mapping[str, Any],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Regression:
    """Drop rate of the checkpoint minus the baseline's, mean over seeds, with a paired CI."""
    seeds, qids, cb, pb, cc, pc = paired_scores(baseline, current)
    valid = ~np.isnan(pb)
    v = valid.astype(np.float64)
    zero = lambda a: np.where(valid, a, 0.0)  # noqa: E731
    # Per seed: sums of clean and perturbed scores of both runs over that seed's pairs, and counts.
    X = np.concatenate([(v * cb).T, zero(pb).T, (v * cc).T, zero(pc).T, v.T], axis=1)
    s = len(seeds)

    def rates(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = sums[..., 4 * s :]
        with np.errstate(divide="ignore", invalid="ignore"):
            base = drop_rate(sums[..., :s] / k, sums[..., s : 2 * s] / k)
            cur = drop_rate(sums[..., 2 * s : 3 * s] / k, sums[..., 3 * s : 4 * s] / k)
        return np.asarray(base), np.asarray(cur)

    base_rates, cur_rates = rates(X.sum(axis=0))
    boot_base, boot_cur = rates(resampled_sums(X, n_resamples, seed))
    boot = np.mean(boot_cur - boot_base, axis=1)
    per_seed = cur_rates - base_rates
    return _regression(
        f"{family} drop rate vs baseline", family, current["measure"], tolerance, len(qids), seeds,
        float(np.mean(base_rates)), float(np.mean(cur_rates)), float(np.mean(per_seed)), boot,
        tuple(float(x) for x in per_seed), confidence, what="drop rate",
    )


def compare_effectiveness(
    measure: str,
    baseline: Mapping[str, float],
    current: Mapping[str, float],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Regression:
    """Clean mean of the baseline minus the checkpoint's, over their common queries."""
    qids = sorted(set(baseline) & set(current))
    if not qids:
        raise ValueError("the two runs share no query")
    b = np.array([baseline[q] for q in qids], dtype=np.float64)
    c = np.array([current[q] for q in qids], dtype=np.float64)
    difference, _, boot = bootstrap_seed_means(b - c, n_resamples=n_resamples, confidence=confidence, seed=seed)
    return _regression(
        f"{measure} vs baseline", "", measure, tolerance, len(qids), (), float(b.mean()), float(c.mean()), difference,
        boot, (), confidence, what=f"clean {measure}",
    )


def _regression(name, family, measure, tolerance, n, seeds, base, cur, diff, boot, per_seed, confidence, *, what) -> Regression:
    boot = np.asarray(boot, dtype=np.float64)
    lo, hi = _percentile_ci(boot[np.isfinite(boot)], confidence) if np.isfinite(boot).any() else (np.nan, np.nan)
    outcome = verdict(lo, hi, tolerance)
    return Regression(
        name=name, family=family, measure=measure, tolerance=float(tolerance), n_queries=n, seeds=tuple(seeds),
        baseline=base, current=cur, difference=diff, difference_ci=(lo, hi), seed_differences=per_seed,
        confidence=float(confidence), n_resamples=int(boot.size), p_value=p_exceeds(boot, tolerance),
        verdict=outcome, note=regression_note(outcome, what, diff, lo, hi, tolerance, confidence, n),
    )


def regression_note(outcome: Verdict, what: str, diff: float, lo: float, hi: float, tolerance: float, confidence: float, n: int | None = None) -> str:
    """E.g. "fail: the checkpoint's drop rate is worse by 6.10 points (95% CI [4.00, 8.20]),
    more than the tolerance of 2.00"."""
    if np.isnan(lo) or np.isnan(diff):
        return f"inconclusive: the {what} difference is undefined (a clean mean of 0)"
    direction = "worse" if diff > 0 else "better"
    ci = f"{confidence:.0%} CI [{lo * 100:.2f}, {hi * 100:.2f}]"
    head = f"the checkpoint's {what} is {direction} by {abs(diff) * 100:.2f} points ({ci})"
    if outcome is Verdict.FAIL:
        return f"fail: {head}, more than the tolerance of {tolerance * 100:.2f}"
    if outcome is Verdict.PASS:
        return f"pass: {head}, within the tolerance of {tolerance * 100:.2f}"
    need = None if n is None else queries_needed(n, lo, hi, diff, tolerance)
    more = "more queries would settle it" if need is None else f"about {_about(max(need, n + 1))} queries (now {n}) would settle it"
    return f"inconclusive: {head}, which straddles the tolerance of {tolerance * 100:.2f}; {more}"


def format_regression(r: Regression) -> str:
    lo, hi = r.difference_ci
    scope = f"seeds {', '.join(map(str, r.seeds))}, " if r.seeds else ""
    return (
        f"{r.name}: {r.verdict.value.upper()} - baseline {r.baseline * 100:.2f}, checkpoint {r.current * 100:.2f}, "
        f"difference {r.difference * 100:+.2f} points ({r.confidence:.0%} CI [{lo * 100:.2f}, {hi * 100:.2f}], "
        f"{scope}{r.n_queries} paired queries, tolerance {r.tolerance * 100:.2f}, p = {r.p_value:.3g})\n  {r.note}"
    )
