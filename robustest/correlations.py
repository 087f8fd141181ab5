"""Does geometry predict robustness? Correlations across models.

For each geometry metric x and each robustness target y (a family's drop rate, ASR@20 of an
attack), over the models that have both: Pearson, Spearman and Kendall (scipy), and the
partial Pearson correlation controlling for clean nDCG@10, i.e. the Pearson correlation of
the residuals of x and of y after a least-squares line on the control. Its p-value uses
n − 3 degrees of freedom (one fewer for the control). A correlation needs at least three
models, a partial one four; with fewer, or with a constant column, the entry says so
instead of a number.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Mapping, Sequence

import numpy as np

MIN_MODELS = 3
MIN_MODELS_PARTIAL = 4


def _finite(*columns: Sequence[float | None]) -> np.ndarray:
    """Rows (models) where every column is a finite number."""
    arr = np.array([[np.nan if v is None else float(v) for v in c] for c in columns], dtype=float)
    return arr[:, np.isfinite(arr).all(axis=0)]


def partial_pearson(x: Sequence[float], y: Sequence[float], control: Sequence[float]) -> tuple[float, float]:
    """(r, two-sided p) of x and y with the linear effect of `control` removed from both."""
    from scipy import stats

    x, y, z = (np.asarray(v, dtype=float) for v in (x, y, control))
    design = np.column_stack([np.ones_like(z), z])
    rx = x - design @ np.linalg.lstsq(design, x, rcond=None)[0]
    ry = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    denominator = math.sqrt(float(rx @ rx) * float(ry @ ry))
    if denominator == 0:
        return float("nan"), float("nan")
    r = float(np.clip(rx @ ry / denominator, -1.0, 1.0))
    df = len(x) - 3
    if abs(r) == 1.0:
        return r, 0.0
    t = r * math.sqrt(df / (1 - r * r))
    return r, float(2 * stats.t.sf(abs(t), df))


def correlate(x: Sequence[float | None], y: Sequence[float | None], control: Sequence[float | None] | None = None) -> dict[str, Any]:
    """Every coefficient for one pair of columns (aligned by model), with the models used."""
    from scipy import stats

    data = _finite(x, y) if control is None else _finite(x, y, control)
    n = data.shape[1]
    out: dict[str, Any] = {"n": n}
    keys = ("pearson", "spearman", "kendall", "partial_pearson")
    for key in keys:
        out[key] = out[f"{key}_p"] = None
    if n < MIN_MODELS:
        out["note"] = f"not enough models (n = {n}; a correlation needs {MIN_MODELS})"
        return out
    xs, ys = data[0], data[1]
    if np.ptp(xs) == 0 or np.ptp(ys) == 0:
        out["note"] = "constant values across models: no correlation"
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-n warnings from scipy; n is in the entry
        for key, fn in (("pearson", stats.pearsonr), ("spearman", stats.spearmanr), ("kendall", stats.kendalltau)):
            res = fn(xs, ys)
            out[key], out[f"{key}_p"] = float(res[0]), float(res[1])
    notes = []
    if control is None:
        notes.append("no control values: no partial correlation")
    elif n < MIN_MODELS_PARTIAL:
        notes.append(f"not enough models for a partial correlation (n = {n}; needs {MIN_MODELS_PARTIAL})")
    else:
        r, p = partial_pearson(xs, ys, data[2])
        if math.isnan(r):
            notes.append("a column is fully explained by the control: no partial correlation")
        else:
            out["partial_pearson"], out["partial_pearson_p"] = r, p
    if notes:
        out["note"] = "; ".join(notes)
    return out


def geometry_correlations(
    geometry: Mapping[str, Mapping[str, float | None]],
    targets: Mapping[str, Mapping[str, float | None]],
    control: Mapping[str, float | None] | None = None,
    metrics: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """One entry per (geometry metric, target). `geometry`: model -> metric -> value;
    `targets`: target name -> model -> value; `control`: model -> clean nDCG@10;
    `metrics` defaults to the geometry module's metrics that any model has."""
    from .geometry import METRICS

    models = sorted(set(geometry) | {m for t in targets.values() for m in t})
    if metrics is None:
        metrics = [k for k in METRICS if any(g.get(k) is not None for g in geometry.values())]
    rows = []
    for metric in metrics:
        x = [geometry.get(m, {}).get(metric) for m in models]
        for target, values in targets.items():
            y = [values.get(m) for m in models]
            z = None if control is None else [control.get(m) for m in models]
            rows.append({"metric": metric, "target": target, **correlate(x, y, z)})
    return rows


def correlations_table(rows: Sequence[Mapping[str, Any]]) -> str:
    def f(v):
        return "   n/a" if v is None else f"{v:+.3f}"

    if rows and all(r["pearson"] is None for r in rows) and len({r.get("note") for r in rows}) == 1:
        return f"  none: {rows[0].get('note')}"  # one reason for every pair: say it once
    lines = [f"  {'geometry':22} {'target':26} {'n':>3} {'Pearson':>8} {'Spearman':>8} {'Kendall':>8} {'partial':>8}"]
    for r in rows:
        line = f"  {r['metric']:22} {r['target']:26} {r['n']:>3} {f(r['pearson']):>8} {f(r['spearman']):>8} {f(r['kendall']):>8} {f(r['partial_pearson']):>8}"
        if r.get("note"):
            line += f"  ({r['note']})"
        lines.append(line)
    return "\n".join(lines)
