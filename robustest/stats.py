"""Drop rates, paired bootstrap CIs, gate verdicts and Holm correction.

The paper (arXiv 2604.16576) reports, per perturbation, the drop rate of nDCG@10 for each seed s

    DR_s = (mean_q clean_q - mean_q perturbed_{s,q}) / mean_q clean_q

as mean +- population std (ddof=0) over seeds, x100. We keep that number exactly and add:

* a paired bootstrap over queries: one draw of query indices is applied jointly to the clean
  scores and to every seed's perturbed scores, so the strong per-query correlation between
  clean and perturbed effectiveness cancels out of the interval;
* a verdict for a gate "drop rate <= threshold": fail / pass / inconclusive from the CI, and
  for inconclusive gates an estimate of how many queries would settle it;
* a one-sided bootstrap p-value of "drop rate <= threshold" and Holm's step-down correction
  across the gates of one session.

Inputs are per-query scores: ``clean`` of shape (n,) and ``perturbed`` of shape (s, n) for s
seeds, the same n queries in the same order. A query skipped under a seed is given as NaN in
that seed's row and is left out of *both* means of that seed (clean and perturbed), so each
seed compares the same queries. A NaN in ``clean`` leaves the query out everywhere. Queries
with no finite pair under any seed are dropped before anything else.

Plain functions over numpy arrays and small frozen dataclasses; no pytest, no Hypothesis.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "Bootstrap",
    "GateResult",
    "Verdict",
    "RateDifference",
    "apply_holm",
    "bootstrap_seed_means",
    "compare_rates",
    "drop_rate",
    "evaluate_rate_gate",
    "evaluate_gate",
    "holm",
    "p_exceeds",
    "paired_bootstrap",
    "queries_needed",
    "seed_drop_rates",
    "summarize_seeds",
    "verdict",
    "verdict_note",
]

# Most index draws held at once in paired_bootstrap (rows x queries); bounds memory to a few
# tens of MB whatever n and B are. Results do not depend on it (see paired_bootstrap).
_CHUNK_ELEMENTS = 1 << 22


# --------------------------------------------------------------------------------------------
# Input handling


def _prepare(clean: Any, perturbed: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clean (n,), perturbed (s, n), valid (s, n)) as float64 with NaNs zeroed and masked.

    `valid[s, q]` is True when both clean[q] and perturbed[s, q] are finite. Query columns with
    no valid pair under any seed are dropped.
    """
    c = np.asarray(clean, dtype=np.float64)
    p = np.asarray(perturbed, dtype=np.float64)
    if c.ndim != 1:
        raise ValueError(f"clean must be 1-D (one score per query), got shape {c.shape}")
    if p.ndim == 1:
        p = p[None, :]
    if p.ndim != 2 or p.shape[1] != c.shape[0]:
        raise ValueError(
            f"perturbed must have shape (seeds, {c.shape[0]}) to match clean's {c.shape[0]} queries, got {np.shape(perturbed)}"
        )
    if p.shape[0] == 0:
        raise ValueError("perturbed has no seed rows")
    if np.isinf(c).any() or np.isinf(p).any():
        raise ValueError("scores must be finite or NaN (a skipped query), not infinite")
    valid = ~np.isnan(p) & ~np.isnan(c)[None, :]
    keep = valid.any(axis=0)
    c, p, valid = c[keep], p[:, keep], valid[:, keep]
    empty = np.flatnonzero(~valid.any(axis=1))
    if c.shape[0] == 0:
        raise ValueError("no query has a finite clean score and a finite perturbed score")
    if empty.size:
        raise ValueError(f"seed row(s) {empty.tolist()} have no query with finite clean and perturbed scores")
    c = np.where(np.isnan(c), 0.0, c)
    p = np.where(valid, p, 0.0)
    return c, p, valid


def _seed_means(c: np.ndarray, p: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed (mean clean, mean perturbed) over that seed's valid queries; prepared inputs."""
    v = valid.astype(np.float64)
    count = v.sum(axis=1)
    return (v @ c) / count, (p * v).sum(axis=1) / count


# --------------------------------------------------------------------------------------------
# The paper's numbers


def drop_rate(clean_mean: Any, perturbed_mean: Any) -> Any:
    """(clean - perturbed) / clean, exactly the paper's drop rate; scalars or arrays.

    A clean mean of 0 gives NaN: when the retriever already scores nothing on the clean queries
    there is no effectiveness to lose, and the relative drop is undefined (0/0, or a perturbed
    *gain* over nothing). Callers report such a gate as undefined rather than as 0 or inf.
    """
    c = np.asarray(clean_mean, dtype=np.float64)
    p = np.asarray(perturbed_mean, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(c == 0, np.nan, (c - p) / np.where(c == 0, 1.0, c))
    return float(out) if out.ndim == 0 else out


def seed_drop_rates(clean: Any, perturbed: Any) -> np.ndarray:
    """DR_s = (mean clean - mean perturbed_s) / mean clean for each seed row; shape (s,).

    Each seed's means are over the queries it scored (NaN in its row = skipped), clean included.
    """
    c, p, valid = _prepare(clean, perturbed)
    mc, mp = _seed_means(c, p, valid)
    return np.asarray(drop_rate(mc, mp), dtype=np.float64).reshape(-1)


def summarize_seeds(rates: Any) -> tuple[float, float]:
    """(mean, population std with ddof=0) of per-seed drop rates, as the paper reports them.

    Callers multiply both by 100. A NaN rate (clean mean 0) propagates: the summary is NaN.
    """
    r = np.asarray(rates, dtype=np.float64).reshape(-1)
    if r.size == 0:
        raise ValueError("no per-seed drop rates to summarize")
    return float(np.mean(r)), float(np.std(r, ddof=0))


# --------------------------------------------------------------------------------------------
# Paired bootstrap


@dataclass(frozen=True)
class Bootstrap:
    """Paired bootstrap of the mean drop and the drop rate (percentile intervals).

    `mean_drop` and `drop_rate` are the estimates on the full sample (mean over seeds of
    mean clean - mean perturbed_s, and of DR_s). `boot_drop_rates` / `boot_mean_drops` hold one
    value per resample; resamples whose drop rate is undefined (clean mean 0 in the resample)
    are NaN there, counted in `n_undefined` and left out of the interval.
    """

    mean_drop: float
    mean_drop_ci: tuple[float, float]
    drop_rate: float
    drop_rate_ci: tuple[float, float]
    confidence: float
    n_resamples: int
    n_queries: int
    n_seeds: int
    n_undefined: int
    boot_drop_rates: np.ndarray = field(repr=False, compare=False)
    boot_mean_drops: np.ndarray = field(repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the bootstrap distributions are left out; NaN becomes None)."""
        return _json_ready(
            {
                "mean_drop": self.mean_drop,
                "mean_drop_ci": list(self.mean_drop_ci),
                "drop_rate": self.drop_rate,
                "drop_rate_ci": list(self.drop_rate_ci),
                "confidence": self.confidence,
                "n_resamples": self.n_resamples,
                "n_queries": self.n_queries,
                "n_seeds": self.n_seeds,
                "n_undefined": self.n_undefined,
                "interval": "percentile",
            }
        )


def _percentile_ci(boot: np.ndarray, confidence: float) -> tuple[float, float]:
    finite = boot[np.isfinite(boot)]
    if finite.size == 0:
        return (math.nan, math.nan)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0])
    return (float(lo), float(hi))


def resampled_sums(X: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """Column sums of X over `n_resamples` bootstrap resamples of its rows (queries): (B, cols).

    One resample draws n row indices with replacement and applies the same draw to every
    column, so whatever a query contributes to each column stays paired. The (B, n) index
    matrix is drawn in row chunks, turned into per-query counts, and each chunk's sums are
    one matrix product. Indices come from uniform doubles (floor(u * n)), so the stream, and
    hence the result, does not depend on the chunking; the same `seed` gives the same sums.
    """
    n = X.shape[0]
    rng = np.random.default_rng(seed)
    rows_per_chunk = max(1, _CHUNK_ELEMENTS // n)
    out = np.empty((n_resamples, X.shape[1]))
    for start in range(0, n_resamples, rows_per_chunk):
        rows = min(rows_per_chunk, n_resamples - start)
        idx = np.minimum((rng.random((rows, n)) * n).astype(np.intp), n - 1)
        idx += (np.arange(rows, dtype=np.intp) * n)[:, None]
        counts = np.bincount(idx.ravel(), minlength=rows * n).reshape(rows, n).astype(np.float64)
        out[start : start + rows] = counts @ X
    return out


def paired_bootstrap(
    clean: Any,
    perturbed: Any,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Bootstrap:
    """Paired (joint) bootstrap over queries of the mean drop and the drop rate.

    Each resample draws n query indices with replacement, and that one draw is applied to the
    clean scores and to every seed row, so each query keeps its clean score and all its
    perturbed scores together. Per resample and seed the means are taken over the resampled
    queries the seed scored (NaN = skipped, see the module docstring); the statistics are
    (a) the mean over seeds of (mean clean - mean perturbed_s) and (b) the mean over seeds of
    DR_s. Intervals are plain percentile intervals (no BCa: with hundreds of queries and
    statistics that are means or ratios of means the percentile interval is adequate, and it
    is what the coverage test checks).

    Vectorised through `resampled_sums`: the same `seed` gives identical intervals.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if int(n_resamples) < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    B = int(n_resamples)
    c, p, valid = _prepare(clean, perturbed)
    s, n = p.shape
    v = valid.astype(np.float64)

    mc, mp = _seed_means(c, p, valid)
    est_mean_drop = float(np.mean(mc - mp))
    est_rate = float(np.mean(drop_rate(mc, mp)))

    # Columns: clean sums per seed, perturbed sums per seed, counts per seed.
    X = np.concatenate([(v * c[None, :]).T, (p * v).T, v.T], axis=1)  # (n, 3s)
    sums = resampled_sums(X, B, seed)  # (B, 3s)
    sum_c, sum_p, k = sums[:, :s], sums[:, s : 2 * s], sums[:, 2 * s :]
    with np.errstate(divide="ignore", invalid="ignore"):
        bmc = sum_c / k  # a seed with no scored query in the resample: NaN
        bmp = sum_p / k
        rates = np.where(bmc == 0, np.nan, (bmc - bmp) / bmc)
    boot_drop = np.mean(bmc - bmp, axis=1)
    boot_rate = np.mean(rates, axis=1)

    return Bootstrap(
        mean_drop=est_mean_drop,
        mean_drop_ci=_percentile_ci(boot_drop, confidence),
        drop_rate=est_rate,
        drop_rate_ci=_percentile_ci(boot_rate, confidence),
        confidence=float(confidence),
        n_resamples=B,
        n_queries=int(n),
        n_seeds=int(s),
        n_undefined=int(np.count_nonzero(~np.isfinite(boot_rate))),
        boot_drop_rates=boot_rate,
        boot_mean_drops=boot_drop,
    )


# --------------------------------------------------------------------------------------------
# Verdicts


class Verdict(str, enum.Enum):
    """Outcome of a gate "drop rate <= threshold"."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"

    def __str__(self) -> str:
        return self.value


def verdict(ci_low: float, ci_high: float, threshold: float) -> Verdict:
    """FAIL when ci_low > threshold (confidently worse), PASS when ci_high <= threshold
    (confidently within), INCONCLUSIVE otherwise (the CI straddles the threshold) or when the
    interval is undefined (NaN).

    With a two-sided interval at confidence 1 - alpha each decision is a one-sided test at
    level alpha / 2.
    """
    if math.isnan(ci_low) or math.isnan(ci_high):
        return Verdict.INCONCLUSIVE
    if ci_low > threshold:
        return Verdict.FAIL
    if ci_high <= threshold:
        return Verdict.PASS
    return Verdict.INCONCLUSIVE


def queries_needed(n: int, ci_low: float, ci_high: float, estimate: float, threshold: float) -> int | None:
    """About how many queries would separate the CI from the threshold (None: no number would).

    The half-width shrinks as 1/sqrt(n), so n * (half_width / |estimate - threshold|)^2 queries
    bring the interval's edge to the threshold. The half-width used is the one on the
    threshold's side of the estimate (estimate - ci_low or ci_high - estimate; percentile
    intervals need not be symmetric), falling back to (ci_high - ci_low) / 2 when that side is
    empty. None when estimate == threshold or anything is NaN. A rough planning number, not a
    power analysis: it assumes the estimate stays where it is.
    """
    values = (ci_low, ci_high, estimate, threshold)
    if any(math.isnan(x) for x in values) or estimate == threshold:
        return None
    side = (ci_high - estimate) if threshold > estimate else (estimate - ci_low)
    half = side if side > 0 else (ci_high - ci_low) / 2.0
    if not half > 0:
        return int(n)
    return int(math.ceil(n * (half / abs(estimate - threshold)) ** 2))


def _about(k: int) -> int:
    """Round up to two significant figures: 417 -> 420, 12345 -> 13000."""
    if k < 100:
        return k
    step = 10 ** (len(str(k)) - 2)
    return -(-k // step) * step


def verdict_note(
    outcome: Verdict,
    *,
    ci_low: float,
    ci_high: float,
    estimate: float,
    threshold: float,
    n: int,
    confidence: float = 0.95,
) -> str:
    """One line explaining the verdict, e.g. "inconclusive: the 95% CI [0.04, 0.16] straddles
    0.10; about 420 queries (now 60) would settle it"."""
    pct = f"{confidence * 100:g}%"
    if math.isnan(ci_low) or math.isnan(ci_high) or math.isnan(estimate):
        return "inconclusive: the drop rate is undefined (the clean mean is 0: nothing to lose)"
    ci = f"the {pct} CI [{ci_low:.2f}, {ci_high:.2f}]"
    if outcome is Verdict.FAIL:
        return f"fail: {ci} lies above {threshold:.2f}"
    if outcome is Verdict.PASS:
        gain = " (a negative drop rate: the variants scored higher than the clean queries)" if estimate < 0 else ""
        return f"pass: {ci} lies at or below {threshold:.2f}{gain}"
    need = queries_needed(n, ci_low, ci_high, estimate, threshold)
    if need is None:
        tail = "the estimate sits on the threshold, so more queries are unlikely to settle it"
    else:
        tail = f"about {_about(max(need, n + 1))} queries (now {n}) would settle it"
    return f"inconclusive: {ci} straddles {threshold:.2f}; {tail}"


# --------------------------------------------------------------------------------------------
# p-values and Holm


def p_exceeds(boot_rates: Any, threshold: float) -> float:
    """One-sided bootstrap p-value of H0 "drop rate <= threshold" against H1 "> threshold".

    (1 + #(boot <= threshold)) / (B + 1) over the B finite resampled drop rates; the +1 keeps
    p in (0, 1]. Undefined (NaN) resamples are left out; with none finite the p-value is 1.
    """
    b = np.asarray(boot_rates, dtype=np.float64).reshape(-1)
    b = b[np.isfinite(b)]
    return float((1 + np.count_nonzero(b <= threshold)) / (b.size + 1))


def holm(pvalues: Mapping[str, float], alpha: float = 0.05) -> dict[str, tuple[float, bool]]:
    """Holm-Bonferroni step-down: {name: (adjusted p, reject)} at family-wise level alpha.

    Sorted ascending p_(1) <= ... <= p_(m), adjusted p_(i) = max_{j<=i} min(1, (m-j+1) p_(j))
    (monotone); H_(i) is rejected when p_(j) <= alpha / (m-j+1) for every j <= i. Matches
    statsmodels' multipletests(method="holm").
    """
    names = list(pvalues)
    p = np.array([float(pvalues[k]) for k in names], dtype=np.float64)
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"p-values must lie in [0, 1], got {dict(zip(names, p.tolist()))}")
    m = p.size
    if m == 0:
        return {}
    order = np.argsort(p, kind="stable")
    ps = p[order]
    factors = np.arange(m, 0, -1, dtype=np.float64)
    adjusted_sorted = np.maximum.accumulate(np.minimum(1.0, factors * ps))
    step_ok = ps <= alpha / factors
    reject_sorted = np.logical_and.accumulate(step_ok)
    adjusted = np.empty(m)
    reject = np.empty(m, dtype=bool)
    adjusted[order] = adjusted_sorted
    reject[order] = reject_sorted
    return {k: (float(adjusted[i]), bool(reject[i])) for i, k in enumerate(names)}


# --------------------------------------------------------------------------------------------
# Gates


def _json_ready(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


@dataclass(frozen=True)
class GateResult:
    """Everything one gate "drop rate <= threshold" reports.

    Rates are fractions (0.12 = 12%); the paper's tables show mean +- std x100. `p_value` is
    the one-sided bootstrap p of "drop rate <= threshold"; `p_adjusted` / `holm_reject` are
    filled in by `apply_holm` across a session's gates. `clean_mean` is the mean over seeds of
    each seed's clean mean (the plain clean mean when no query is skipped).
    """

    name: str
    family: str
    measure: str
    threshold: float
    n_queries: int
    seeds: tuple[int, ...]
    seed_drop_rates: tuple[float, ...]
    clean_mean: float
    perturbed_means: tuple[float, ...]
    drop_rate_mean: float
    drop_rate_std: float
    mean_drop: float
    mean_drop_ci: tuple[float, float]
    drop_rate: float
    drop_rate_ci: tuple[float, float]
    confidence: float
    n_resamples: int
    p_value: float
    verdict: Verdict
    note: str
    p_adjusted: float | None = None
    holm_reject: bool | None = None
    # What the drop_rate_* fields hold: the drop rate, or for a poisoning gate the attack
    # success rate (e.g. "ASR@20"; see `evaluate_rate_gate`).
    statistic: str = "drop rate"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict: tuples become lists, the verdict its string, NaN becomes None."""
        return _json_ready({f: getattr(self, f) for f in self.__dataclass_fields__})


def evaluate_gate(
    name: str,
    clean: Any,
    perturbed: Any,
    threshold: float,
    *,
    seeds: Sequence[int],
    family: str = "",
    measure: str = "nDCG@10",
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> GateResult:
    """Drop rates per seed, mean +- std, paired bootstrap, p-value and verdict for one gate.

    `seeds` labels the rows of `perturbed` (the perturbation seeds, e.g. 1999, 5, 27, 2016,
    2026); `seed` seeds the bootstrap.
    """
    seeds = tuple(int(x) for x in seeds)
    c, p, valid = _prepare(clean, perturbed)
    if len(seeds) != p.shape[0]:
        raise ValueError(f"{len(seeds)} seed labels for {p.shape[0]} perturbed rows")
    mc, mp = _seed_means(c, p, valid)
    rates = np.asarray(drop_rate(mc, mp), dtype=np.float64).reshape(-1)
    mean, std = summarize_seeds(rates)
    boot = paired_bootstrap(
        clean,
        perturbed,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )
    lo, hi = boot.drop_rate_ci
    outcome = verdict(lo, hi, threshold)
    note = verdict_note(
        outcome, ci_low=lo, ci_high=hi, estimate=boot.drop_rate, threshold=threshold, n=boot.n_queries, confidence=confidence
    )
    return GateResult(
        name=name,
        family=family,
        measure=measure,
        threshold=float(threshold),
        n_queries=boot.n_queries,
        seeds=seeds,
        seed_drop_rates=tuple(float(r) for r in rates),
        clean_mean=float(np.mean(mc)),
        perturbed_means=tuple(float(x) for x in mp),
        drop_rate_mean=mean,
        drop_rate_std=std,
        mean_drop=boot.mean_drop,
        mean_drop_ci=boot.mean_drop_ci,
        drop_rate=boot.drop_rate,
        drop_rate_ci=boot.drop_rate_ci,
        confidence=float(confidence),
        n_resamples=boot.n_resamples,
        p_value=p_exceeds(boot.boot_drop_rates, threshold),
        verdict=outcome,
        note=note,
    )


def apply_holm(results: Iterable[GateResult], alpha: float = 0.05) -> list[GateResult]:
    """The same gates with `p_adjusted` and `holm_reject` filled in by Holm across all of them.

    Names must be unique. The verdicts are left as they are (they come from each gate's CI);
    `holm_reject` says whether "drop rate > threshold" survives family-wise correction.
    """
    from dataclasses import replace

    results = list(results)
    names = [r.name for r in results]
    if len(set(names)) != len(names):
        raise ValueError(f"gate names must be unique for Holm correction, got {names}")
    adj = holm({r.name: r.p_value for r in results}, alpha=alpha)
    return [replace(r, p_adjusted=adj[r.name][0], holm_reject=adj[r.name][1]) for r in results]


# --------------------------------------------------------------------------------------------
# Rates over queries and seeds (attack success): gates and paired comparisons


def bootstrap_seed_means(
    values: Any, *, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, tuple[float, float], np.ndarray]:
    """Estimate, percentile CI and bootstrap distribution of the mean over seeds of each seed's
    mean over queries, for `values` of shape (seeds, queries) (e.g. 0/1: an adversarial
    passage reached the query's top k under that seed's passages).

    Queries are resampled jointly across seeds (the same query draw for every seed row), as
    in `paired_bootstrap`; with the same queries in every row the statistic is the mean of
    all values, so resampling columns keeps each query's seeds together.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[None, :]
    if v.ndim != 2 or v.shape[1] == 0 or v.shape[0] == 0:
        raise ValueError(f"values must have shape (seeds, queries) with both > 0, got {np.shape(values)}")
    if not np.isfinite(v).all():
        raise ValueError("values must be finite")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    B = int(n_resamples)
    if B < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    per_query = v.mean(axis=0)  # mean over seeds of each query: the statistic is its mean
    boot = resampled_sums(per_query[:, None], B, seed)[:, 0] / per_query.size
    return float(per_query.mean()), _percentile_ci(boot, confidence), boot


def evaluate_rate_gate(
    name: str,
    values: Any,
    threshold: float,
    *,
    seeds: Sequence[int],
    statistic: str,
    family: str = "",
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> GateResult:
    """A gate "rate <= threshold" for a per-(seed, query) rate such as ASR@20.

    Per-seed rates (the mean over queries of each row) give mean +- population std over seeds,
    as the paper reports ASR; the CI, verdict and one-sided p-value come from
    `bootstrap_seed_means`. The result is a `GateResult` whose drop_rate_* fields hold the
    rate and whose `statistic` names it, so Holm's correction covers it with every other gate.
    """
    seeds = tuple(int(x) for x in seeds)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[None, :]
    if len(seeds) != v.shape[0]:
        raise ValueError(f"{len(seeds)} seed labels for {v.shape[0]} rows")
    v = v[:, ~np.isnan(v).all(axis=0)]  # NaN: that query had no variant under that seed
    if v.size == 0:
        raise ValueError("no (seed, query) value to judge: every one is NaN")
    rates = np.nanmean(v, axis=1)
    mean, std = summarize_seeds(rates)
    per_query = np.nanmean(v, axis=0)[None, :]  # each query's mean over the seeds it has
    estimate, (lo, hi), boot = bootstrap_seed_means(per_query, n_resamples=n_resamples, confidence=confidence, seed=seed)
    outcome = verdict(lo, hi, threshold)
    note = verdict_note(outcome, ci_low=lo, ci_high=hi, estimate=estimate, threshold=threshold, n=v.shape[1], confidence=confidence)
    return GateResult(
        name=name,
        family=family,
        measure=statistic,
        threshold=float(threshold),
        n_queries=int(v.shape[1]),
        seeds=seeds,
        seed_drop_rates=tuple(float(r) for r in rates),
        clean_mean=math.nan,
        perturbed_means=tuple(float(r) for r in rates),
        drop_rate_mean=mean,
        drop_rate_std=std,
        mean_drop=estimate,
        mean_drop_ci=(lo, hi),
        drop_rate=estimate,
        drop_rate_ci=(lo, hi),
        confidence=float(confidence),
        n_resamples=int(n_resamples),
        p_value=p_exceeds(boot, threshold),
        verdict=outcome,
        note=note,
        statistic=statistic,
    )


@dataclass(frozen=True)
class RateDifference:
    """Paired difference of two per-(seed, query) rates on the same queries: a - b."""

    estimate: float
    ci: tuple[float, float]
    p_value: float  # one-sided bootstrap p of H0 "a - b <= 0"
    confidence: float
    n_queries: int

    @property
    def significant(self) -> bool:
        """a > b: the whole CI lies above 0."""
        return self.ci[0] > 0

    def as_dict(self) -> dict[str, Any]:
        return _json_ready({f: getattr(self, f) for f in self.__dataclass_fields__} | {"significant": self.significant})


def compare_rates(a: Any, b: Any, *, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> RateDifference:
    """Whether rate `a` exceeds rate `b`, paired by query (both (seeds, queries), same query
    order): a bootstrap over queries of the mean difference."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape (seeds, queries), got {a.shape} and {b.shape}")
    estimate, ci, boot = bootstrap_seed_means(a - b, n_resamples=n_resamples, confidence=confidence, seed=seed)
    return RateDifference(estimate, ci, p_exceeds(boot, 0.0), float(confidence), int(a.shape[-1]))
