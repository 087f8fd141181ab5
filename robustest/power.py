"""How small a regression a comparison with a baseline can resolve, said before the work starts.

A comparison passes when its CI lies within the tolerance t and fails when it lies beyond; with
n paired queries the CI's half-width is about z * sd / sqrt(n), where sd is the spread of the
per-query differences between checkpoint and baseline. The *resolution* r = (z_{1-alpha/2} +
z_{power}) * sd / sqrt(n) is the smallest distance from t that the comparison decides with that
power: a checkpoint worse by more than t + r fails, one worse by less than t - r passes, and
when r > t even an unchanged checkpoint is unlikely to be shown safe. Queries needed for r <= t:
n * (r / t)^2.

Only the baseline is known before the checkpoint is encoded, so sd is estimated from it: the
spread s of its own per-query values and an assumed per-query correlation rho between checkpoint
and baseline, sd = s * sqrt(2 (1 - rho)). Both assumptions lean towards more queries:
- a family's comparison: each query's contribution to the drop rate, rho = 0 (a checkpoint's
  per-query drops taken as independent of the baseline's);
- the clean comparison: the clean scores, with rho the lowest correlation between the baseline's
  clean and perturbed per-query scores over its families (the largest change of input it
  measured; 0 without families).
docs/explanation/gate-statistics.md compares these estimates with the CIs realised on a 30- and a 225-query set. The
comparisons' own CIs, after the run, are what decide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Iterable, Mapping

import numpy as np

POWER = 0.8


@dataclass(frozen=True)
class Plan:
    name: str
    n: int
    spread: float  # sd of the per-query values of the baseline
    rho: float  # assumed per-query correlation of checkpoint and baseline
    resolution: float
    tolerance: float

    @property
    def needed(self) -> int:
        """Queries for a resolution of the tolerance."""
        if self.tolerance <= 0 or not math.isfinite(self.resolution):
            return 0
        return math.ceil(self.n * (self.resolution / self.tolerance) ** 2)


def resolution(spread: float, rho: float, n: int, confidence: float = 0.95, power: float = POWER) -> float:
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2) + NormalDist().inv_cdf(power)
    return z * spread * math.sqrt(2 * max(0.0, 1 - rho)) / math.sqrt(max(n, 1))


def family_arrays(record: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(clean (n,), perturbed (seeds, n) with NaN where a query had no variant) of a run-file
    family record."""
    qids = sorted(record["clean"])
    clean = np.array([record["clean"][q] for q in qids], dtype=np.float64)
    rows = [record["perturbed"][str(s)] for s in record["seeds"] if str(s) in record["perturbed"]]
    perturbed = np.array([[row.get(q, np.nan) for q in qids] for row in rows], dtype=np.float64).reshape(len(rows), len(qids))
    return clean, perturbed


def drop_contributions(clean: np.ndarray, perturbed: np.ndarray) -> np.ndarray:
    """Each query's contribution to the drop rate (its linearisation), mean over the seeds that
    perturbed it: ((c - p) - DR c) / mean c."""
    valid = ~np.isnan(perturbed)
    keep = valid.any(axis=0)
    c, p, valid = clean[keep], perturbed[:, keep], valid[:, keep]
    mean_c = np.array([c[v].mean() if v.any() else np.nan for v in valid])
    mean_p = np.array([p[s][valid[s]].mean() if valid[s].any() else np.nan for s in range(len(p))])
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (mean_c - mean_p) / mean_c
        u = ((c[None, :] - p) - rate[:, None] * c[None, :]) / mean_c[:, None]
    u = np.where(valid, u, np.nan)
    return np.nanmean(u, axis=0) if u.size else u.reshape(-1)


def clean_perturbed_rho(clean: np.ndarray, perturbed: np.ndarray) -> float | None:
    valid = ~np.isnan(perturbed)
    x = np.broadcast_to(clean, perturbed.shape)[valid]
    y = perturbed[valid]
    if x.size < 3 or x.std() == 0 or y.std() == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def plans(baseline: Mapping[str, Any], measure: str, families: Iterable[str], tolerance: float, confidence: float = 0.95) -> list[Plan]:
    """One plan per comparison the run will make with `baseline`: its clean `measure`, then each of
    `families` the baseline has."""
    records = {f: baseline["families"][f] for f in families if f in baseline.get("families", {})}
    arrays = {f: family_arrays(r) for f, r in records.items()}
    known = [r for r in (clean_perturbed_rho(*a) for a in arrays.values()) if r is not None]
    overall = max(0.0, min(known)) if known else 0.0
    found = []
    scores = baseline.get("per_query", {}).get(measure)
    if scores:
        values = np.array(list(scores.values()), dtype=np.float64)
        spread = float(values.std(ddof=1)) if values.size > 1 else 0.0
        found.append(Plan(f"{measure} vs baseline", values.size, spread, overall, resolution(spread, overall, values.size, confidence), tolerance))
    for family, (clean, perturbed) in arrays.items():
        u = drop_contributions(clean, perturbed)
        u = u[np.isfinite(u)]
        if u.size < 2:
            continue
        rho = 0.0
        spread = float(u.std(ddof=1))
        found.append(Plan(f"{family} drop rate vs baseline", u.size, spread, rho, resolution(spread, rho, u.size, confidence), tolerance))
    return found


def power_lines(found: list[Plan], confidence: float = 0.95) -> list[str]:
    if not found:
        return []
    lines = [
        f"robustest: power of the comparisons with the baseline ({confidence:.0%} CI, {POWER:.0%} power; estimated from the baseline "
        "before anything is encoded, leaning towards more queries; the CIs after the run decide)"
    ]
    for plan in found:
        head = f"  {plan.name:34} {plan.n} queries resolve about ±{plan.resolution * 100:.2f} points (rho {plan.rho:.2f})"
        if plan.resolution <= plan.tolerance:
            lines.append(f"{head}: within the tolerance of {plan.tolerance * 100:.2f}")
        else:
            lines.append(
                f"{head}: more than the tolerance of {plan.tolerance * 100:.2f} - an unchanged checkpoint is unlikely to be shown safe; "
                f"about {plan.needed} queries would settle it"
            )
    return lines
