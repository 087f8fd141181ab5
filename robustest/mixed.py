"""Linear mixed models over per-query scores: model capability apart from dataset heterogeneity.

The paper fits, in R, `score ~ Model * X + (1 | dataset/query)` (lme4) and reads estimated
marginal means (emmeans). The same here with statsmodels' MixedLM:

* fixed effects: model × factor with sum-to-zero coding, so each term's joint Wald test is a
  type III test (a main effect averaged over the other factor's levels with equal weights, as
  emmeans' `joint_tests` does);
* random effects: an intercept per dataset (the groups) and an intercept per query within its
  dataset (a variance component);
* marginal means: the fixed-effect prediction of each model × level cell, and of each model
  averaged over levels with equal weights (emmeans' default), with standard errors from the
  fixed effects' covariance, sqrt(L V Lᵀ), and normal-theory intervals (statsmodels has no
  Kenward-Roger degrees of freedom; with hundreds of queries the difference is small, with
  two or three datasets the dataset variance is itself uncertain and the intervals optimistic).
  V is lme4's `vcov()`: the generalised least squares covariance (Xᵀ Σ⁻¹ X)⁻¹ at the REML
  variances. statsmodels' `cov_params()` inverts the whole observed Hessian instead, whose
  fixed-by-variance cross terms (zero in expectation) moved a query-level factor's F by 0.8%
  against lme4 + emmeans on real data (tests/test_mixed_vs_lme4.py).

When the dataset intercept cannot be estimated it is left out and the fit says so: with one
dataset, and when the factor *is* the dataset (its fixed effect takes up every difference
between datasets). Queries are then independent groups with one random intercept each, which
is the same model for the query effect. A fit that does not converge or lands on the boundary
(a variance estimated at zero: the dataset one is checked by refitting without it, since the
optimiser tends to stop short of zero) gives a `MixedModelWarning`, not an exception.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .errors import RobustestError

COLUMNS = ("model", "dataset", "query", "factor", "score")
METHODS = ("lbfgs", "bfgs", "powell")  # tried in order until one converges
SINGULAR = 1e-4  # a variance below this share of the residual variance counts as zero


class MixedModelWarning(UserWarning):
    """The mixed model fitted, but its numbers need care (see the message)."""


@dataclass
class MixedFit:
    response: str
    factor: str
    models: list[str]
    levels: list[str]
    n_obs: int
    n_datasets: int
    n_queries: int
    random_effects: str  # in words, for the report
    coef_names: list[str]
    coef: np.ndarray
    cov: np.ndarray  # of the fixed effects
    variances: dict[str, float]  # dataset, query, residual
    converged: bool
    confidence: float
    notes: list[str] = field(default_factory=list)
    model_means: list[dict] = field(default_factory=list)  # model, emm, se, ci_low, ci_high
    cell_means: list[dict] = field(default_factory=list)  # model, level, emm, se, ci_low, ci_high
    contrasts: list[dict] = field(default_factory=list)  # model, versus, difference, se, ci, p
    joint_tests: list[dict] = field(default_factory=list)  # term, df, chi2, F, p

    def as_dict(self) -> dict[str, Any]:
        return {
            "response": self.response,
            "factor": self.factor,
            "models": self.models,
            "levels": self.levels,
            "n_obs": self.n_obs,
            "n_datasets": self.n_datasets,
            "n_queries": self.n_queries,
            "random_effects": self.random_effects,
            "variances": self.variances,
            "converged": self.converged,
            "confidence": self.confidence,
            "notes": self.notes,
            "model_means": self.model_means,
            "cell_means": self.cell_means,
            "contrasts": self.contrasts,
            "joint_tests": self.joint_tests,
        }


def sum_coding(levels: Sequence[str]) -> dict[str, np.ndarray]:
    """Sum-to-zero contrast rows: level j < k-1 -> unit vector j, the last level -> all -1."""
    k = len(levels)
    rows = {}
    for j, level in enumerate(levels):
        row = np.zeros(k - 1)
        if j < k - 1:
            row[j] = 1.0
        else:
            row[:] = -1.0
        rows[level] = row
    return rows


class Design:
    """The fixed-effect design of `model * factor` in sum coding, and its named terms."""

    def __init__(self, models: Sequence[str], levels: Sequence[str]):
        self.models, self.levels = list(models), list(levels)
        self.model_code, self.level_code = sum_coding(self.models), sum_coding(self.levels)
        m, f = len(self.models) - 1, len(self.levels) - 1
        self.names = ["Intercept"] + [f"model[{x}]" for x in self.models[:m]] + [f"factor[{x}]" for x in self.levels[:f]]
        self.names += [f"model[{a}]:factor[{b}]" for a in self.models[:m] for b in self.levels[:f]]
        self.terms = {}  # term -> column slice
        start = 1
        for term, width in (("model", m), ("factor", f), ("model:factor", m * f)):
            if width:
                self.terms[term] = slice(start, start + width)
            start += width

    def row(self, model: str, level: str) -> np.ndarray:
        a, b = self.model_code[model], self.level_code[level]
        return np.concatenate(([1.0], a, b, np.outer(a, b).ravel()))

    def matrix(self, models: Sequence[str], levels: Sequence[str]) -> np.ndarray:
        return np.array([self.row(m, f) for m, f in zip(models, levels)])


def _frame(rows: Any):
    import pandas as pd

    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise RobustestError(f"the score table lacks the column(s) {', '.join(missing)}; it needs {', '.join(COLUMNS)}")
    frame = frame[list(COLUMNS)].copy()
    for c in ("model", "dataset", "query", "factor"):
        frame[c] = frame[c].astype(str)
    frame["score"] = frame["score"].astype(float)
    return frame[np.isfinite(frame["score"].to_numpy())].reset_index(drop=True)


def _ordered(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def fit_mixed(
    rows: Any,
    *,
    response: str = "score",
    factor: str = "factor",
    confidence: float = 0.95,
    factor_is_dataset: bool | None = None,
) -> MixedFit:
    """Fit `score ~ model * factor + (1 | dataset) + (1 | dataset:query)` and compute marginal
    means, model contrasts and joint tests. `rows`: a DataFrame or dicts with the columns
    model, dataset, query, factor, score (NaN scores are dropped)."""
    from scipy import stats

    frame = _frame(rows)
    if frame.empty:
        raise RobustestError(f"no finite {response} scores to model")
    models, levels = _ordered(frame["model"]), _ordered(frame["factor"])
    counts = frame.groupby(["model", "factor"]).size()
    empty = [(m, f) for m in models for f in levels if (m, f) not in counts.index]
    if empty:
        m, f = empty[0]
        raise RobustestError(
            f"{response}: model {m!r} has no scores at {factor} {f!r} ({len(empty)} empty cell(s)); "
            "every model needs scores at every level to compare them"
        )
    datasets = _ordered(frame["dataset"])
    if factor_is_dataset is None:
        factor_is_dataset = bool((frame["factor"] == frame["dataset"]).all())
    design = Design(models, levels)
    exog = design.matrix(frame["model"], frame["factor"])
    notes: list[str] = []
    query_key = frame["dataset"] + "\x1f" + frame["query"]
    n_queries = int(query_key.nunique())
    with_dataset = len(datasets) > 1 and not factor_is_dataset
    if len(datasets) == 1:
        notes.append("one dataset: its random intercept cannot be estimated; fitted with a random intercept per query only")
    elif factor_is_dataset:
        notes.append("the factor is the dataset: its fixed effect takes up the dataset intercept, so only queries get a random intercept")

    args = (frame["score"].to_numpy(), exog, design.names, frame["dataset"], query_key)
    result, fit_warnings = _fit(*args, with_dataset)
    problems: list[str] = []
    if with_dataset:
        # A dataset variance of zero is the model without it; the optimiser often stops short
        # of that boundary, so compare with the fit that leaves it out (same fixed effects, so
        # the REML likelihoods compare) and keep that one when it is at least as likely.
        reduced, reduced_warnings = _fit(*args, False)
        if reduced.llf >= result.llf - 1e-6 * max(1.0, abs(result.llf)):
            result, fit_warnings, with_dataset = reduced, reduced_warnings, False
            problems.append("singular fit: the dataset variance is estimated at 0 (the boundary: the fit is no better with it), so it was fitted without the dataset random effect")
    coef = np.asarray(result.fe_params, dtype=float)
    scale = float(result.scale)
    if with_dataset:
        variances = {"dataset": float(np.asarray(result.cov_re)[0, 0]), "query": float(np.asarray(result.vcomp)[0]), "residual": scale}
        random_effects = f"intercepts for {len(datasets)} datasets and {n_queries} queries within them"
    else:
        dataset_variance = 0.0 if problems else None  # 0: estimated on the boundary; None: not estimable
        variances = {"dataset": dataset_variance, "query": float(np.asarray(result.cov_re)[0, 0]), "residual": scale}
        random_effects = f"intercepts for {n_queries} queries"
    cov = fixed_effects_cov(exog, frame["dataset"], query_key, variances)
    converged = bool(getattr(result, "converged", True))
    problems += fit_warnings
    if not converged:
        problems.append("the optimiser did not converge")
    for name, value in variances.items():
        if name not in ("residual", "dataset") and value is not None and value <= SINGULAR * max(scale, 1e-300):
            problems.append(f"singular fit: the {name} variance is estimated at {value:.3g} (the boundary); the {name} random effect adds nothing")
    if not np.isfinite(cov).all() or (np.diag(cov) < 0).any():
        problems.append("the fixed effects' covariance is not finite or not positive: standard errors are unreliable")
    for problem in problems:
        notes.append(problem)
        warnings.warn(f"mixed model of {response} by model x {factor}: {problem}", MixedModelWarning, stacklevel=2)

    fit = MixedFit(
        response=response,
        factor=factor,
        models=models,
        levels=levels,
        n_obs=len(frame),
        n_datasets=len(datasets),
        n_queries=n_queries,
        random_effects=random_effects,
        coef_names=design.names,
        coef=coef,
        cov=cov,
        variances=variances,
        converged=converged,
        confidence=confidence,
        notes=notes,
    )
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    fit.cell_means = [
        {"model": m, factor: f, **_estimate(design.row(m, f), coef, cov, z)} for m in models for f in levels
    ]
    model_rows = {m: np.mean([design.row(m, f) for f in levels], axis=0) for m in models}
    fit.model_means = [{"model": m, **_estimate(model_rows[m], coef, cov, z)} for m in models]
    for i, a in enumerate(models):
        for b in models[i + 1 :]:
            est = _estimate(model_rows[a] - model_rows[b], coef, cov, z)
            p = float(2 * stats.norm.sf(abs(est["emm"]) / est["se"])) if est["se"] > 0 else float("nan")
            fit.contrasts.append({"model": a, "versus": b, "difference": est.pop("emm"), **est, "p": p})
    fit.joint_tests = joint_tests(coef, cov, design.terms, factor)
    return fit


def fixed_effects_cov(exog: np.ndarray, dataset: Any, query_key: Any, variances: Mapping[str, float | None]) -> np.ndarray:
    """(Xᵀ Σ⁻¹ X)⁻¹ with Σ = σ²_dataset J_dataset + σ²_query J_query + σ² I at the fitted
    variances: the covariance of the fixed effects that lme4's `vcov()` (and so emmeans)
    reports. Σ⁻¹ is applied in closed form, a query block (σ² I + σ²_query 11ᵀ) at a time and
    then a dataset's rank-one term (Sherman-Morrison), so the cost is O(n k²), not O(n³)."""
    x = np.asarray(exog, dtype=float)
    residual, query = float(variances["residual"]), float(variances["query"] or 0.0)
    dataset_var = float(variances.get("dataset") or 0.0)
    if not (residual > 0 and math.isfinite(residual) and math.isfinite(query) and math.isfinite(dataset_var)):
        return np.full((x.shape[1], x.shape[1]), np.nan)  # fit_mixed says the standard errors are unreliable
    keys, first_row, at = np.unique(np.asarray(query_key), return_index=True, return_inverse=True)
    n = np.bincount(at).astype(float)  # rows per query
    sums = np.zeros((len(keys), x.shape[1]))
    np.add.at(sums, at, x)  # Xᵀ1 per query
    shrink = query / (residual + n * query)  # (σ² I + σ²_q 11ᵀ)⁻¹ = (I - shrink 11ᵀ) / σ²
    info = (x.T @ x - (sums * shrink[:, None]).T @ sums) / residual
    if dataset_var > 0:
        weight = (1.0 - shrink * n) / residual  # the query block's inverse times 1, per row
        group = np.unique(np.asarray(dataset)[first_row], return_inverse=True)[1]
        for d in range(group.max() + 1):
            mine = group == d
            u = (sums[mine] * weight[mine, None]).sum(axis=0)
            info -= np.outer(u, u) / (1.0 / dataset_var + float((n[mine] * weight[mine]).sum()))
    try:
        return np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return np.full_like(info, np.nan)


def _estimate(row: np.ndarray, coef: np.ndarray, cov: np.ndarray, z: float) -> dict[str, float]:
    value = float(row @ coef)
    var = float(row @ cov @ row)
    se = math.sqrt(var) if var > 0 else (0.0 if var == 0 else float("nan"))
    return {"emm": value, "se": se, "ci_low": value - z * se, "ci_high": value + z * se}


def joint_tests(coef: np.ndarray, cov: np.ndarray, terms: Mapping[str, slice], factor: str = "factor") -> list[dict]:
    """Wald test that all coefficients of a term are zero: chi² on the term's columns, its
    degrees of freedom, F = chi²/df, and the asymptotic p-value."""
    from scipy import stats

    out = []
    for term, cols in terms.items():
        b = coef[cols]
        v = cov[cols, cols]
        chi2 = float(b @ np.linalg.pinv(v) @ b)
        df = len(b)
        out.append({"term": term.replace("factor", factor), "df": df, "chi2": chi2, "F": chi2 / df, "p": float(stats.chi2.sf(chi2, df))})
    return out


def _fit(score, exog, names, dataset, query_key, with_dataset: bool):
    """The statsmodels fit, with its warnings collected (not shown) so the caller can say
    what they mean."""
    import pandas as pd
    from statsmodels.regression.mixed_linear_model import MixedLM, VCSpec

    exog = pd.DataFrame(exog, columns=names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # building the model warns about nothing we act on
        if with_dataset:
            model = MixedLM(np.asarray(score), exog, groups=np.asarray(dataset), exog_re=np.ones((len(score), 1)), exog_vc=_query_components(dataset, query_key, VCSpec))
        else:
            model = MixedLM(np.asarray(score), exog, groups=np.asarray(query_key), exog_re=np.ones((len(score), 1)))
    result, caught, failure = None, [], None
    # One optimiser at a time: statsmodels moves on from one that does not converge, but not
    # from one that raises (L-BFGS can step onto a singular matrix near a zero variance).
    # Only the kept attempt's warnings count.
    for method in METHODS:
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            try:
                attempt = model.fit(reml=True, method=[method])
            except (np.linalg.LinAlgError, ValueError) as exc:
                failure = exc
                continue
        result, caught = attempt, got
        if attempt.converged:
            break
    if result is None:
        raise RobustestError(f"the mixed model could not be fitted ({failure}); check that the scores vary and that several queries were scored")
    # statsmodels' "may be on the boundary" fires on any variance below 0.01 in absolute terms,
    # which is most variances of scores in [0, 1]; fit_mixed checks the boundary itself.
    messages = list(
        dict.fromkeys(
            _short(w.message)
            for w in caught
            if not issubclass(w.category, (DeprecationWarning, FutureWarning)) and "on the boundary" not in str(w.message)
        )
    )
    return result, messages


def _query_components(dataset, query_key, VCSpec):
    """One variance component, 'query': per dataset, an indicator column per query."""
    dataset = np.asarray(dataset)
    query_key = np.asarray(query_key)
    colnames, mats = [], []
    for group in sorted(set(dataset)):  # MixedLM orders its groups by sorted label
        keys = query_key[dataset == group]
        levels = _ordered(keys)
        position = {q: j for j, q in enumerate(levels)}
        mat = np.zeros((len(keys), len(levels)))
        mat[np.arange(len(keys)), [position[q] for q in keys]] = 1.0
        colnames.append(levels)
        mats.append(mat)
    return VCSpec(["query"], [colnames], [mats])


def _short(message: Any) -> str:
    text = str(message).strip().splitlines()
    return "statsmodels: " + (text[0] if text else "warning")


def means_table(fit: MixedFit) -> str:
    """Marginal means, contrasts and joint tests as aligned text."""
    pct = f"{fit.confidence:.0%} CI"
    lines = [
        f"{fit.response} ~ model * {fit.factor}: {fit.n_obs} scores, {fit.n_datasets} dataset(s), random {fit.random_effects}",
        f"  {'model':32} {'marginal mean':>13} {'SE':>8} {pct:>20}",
    ]
    lines += [f"  {r['model']:32} {r['emm']:>13.4f} {r['se']:>8.4f} [{r['ci_low']:8.4f}, {r['ci_high']:8.4f}]" for r in fit.model_means]
    if len(fit.levels) > 1:
        lines.append(f"  {'model':32} {fit.factor:>16} {'mean':>8} {'SE':>8} {pct:>20}")
        lines += [
            f"  {r['model']:32} {str(r[fit.factor]):>16} {r['emm']:>8.4f} {r['se']:>8.4f} [{r['ci_low']:8.4f}, {r['ci_high']:8.4f}]"
            for r in fit.cell_means
        ]
    for c in fit.contrasts:
        lines.append(
            f"  {c['model']} - {c['versus']}: {c['difference']:+.4f} (SE {c['se']:.4f}, {pct} [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}], p = {c['p']:.3g})"
        )
    for t in fit.joint_tests:
        lines.append(f"  joint test {t['term']}: chi2({t['df']}) = {t['chi2']:.2f}, F = {t['F']:.2f}, p = {t['p']:.3g}")
    v = fit.variances
    parts = [f"{k} {val:.4g}" for k, val in v.items() if val is not None]
    lines.append("  variances: " + ", ".join(parts))
    lines += [f"  note: {n}" for n in fit.notes]
    return "\n".join(lines)
