"""Correlations across models against scipy, the partial one against a residual regression
written out here, and the too-few-models cases as entries rather than errors."""

import numpy as np
import pytest
from scipy import stats

from robustest.correlations import correlate, correlations_table, geometry_correlations, partial_pearson


def test_coefficients_equal_scipy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=9)
    y = 0.7 * x + rng.normal(scale=0.5, size=9)
    z = rng.normal(size=9)
    out = correlate(x, y, z)
    assert out["n"] == 9
    for key, fn in (("pearson", stats.pearsonr), ("spearman", stats.spearmanr), ("kendall", stats.kendalltau)):
        r, p = fn(x, y)
        assert out[key] == pytest.approx(r) and out[f"{key}_p"] == pytest.approx(p)


def test_partial_correlation_is_the_correlation_of_residuals():
    rng = np.random.default_rng(1)
    control = rng.normal(size=12)
    x = 2 * control + rng.normal(size=12)
    y = -control + 0.5 * x + rng.normal(size=12)
    # By hand: residuals of a straight line on the control, via numpy's polyfit.
    rx = x - np.polyval(np.polyfit(control, x, 1), control)
    ry = y - np.polyval(np.polyfit(control, y, 1), control)
    expected = np.corrcoef(rx, ry)[0, 1]
    t = expected * np.sqrt((12 - 3) / (1 - expected**2))
    r, p = partial_pearson(x, y, control)
    assert r == pytest.approx(expected, abs=1e-12)
    assert p == pytest.approx(2 * stats.t.sf(abs(t), 9), rel=1e-9)
    # And the textbook formula from the three pairwise correlations.
    rxy, rxz, ryz = np.corrcoef(x, y)[0, 1], np.corrcoef(x, control)[0, 1], np.corrcoef(y, control)[0, 1]
    assert r == pytest.approx((rxy - rxz * ryz) / np.sqrt((1 - rxz**2) * (1 - ryz**2)), abs=1e-12)
    assert correlate(x, y, control)["partial_pearson"] == pytest.approx(expected, abs=1e-12)


def test_too_few_models_is_an_entry_not_an_error():
    two = correlate([0.1, 0.2], [0.3, 0.1], [0.5, 0.6])
    assert two["pearson"] is None and "not enough models (n = 2" in two["note"]
    three = correlate([0.1, 0.2, 0.4], [0.3, 0.1, 0.0], [0.5, 0.6, 0.2])
    assert three["pearson"] is not None and three["partial_pearson"] is None
    assert "partial correlation (n = 3; needs 4)" in three["note"]
    constant = correlate([0.1, 0.1, 0.1], [0.3, 0.1, 0.0])
    assert constant["spearman"] is None and "constant" in constant["note"]
    # Models missing a value are left out of that pair, not counted as zeros.
    gappy = correlate([0.1, None, 0.4, 0.5], [0.3, 0.2, float("nan"), 0.0])
    assert gappy["n"] == 2 and gappy["pearson"] is None


def test_geometry_against_targets_per_metric_and_target():
    geometry = {
        "m1": {"isoscore": 0.3, "average_cosine": 0.2, "sample": 100},
        "m2": {"isoscore": 0.1, "average_cosine": 0.7, "sample": 100},
        "m3": {"isoscore": 0.2, "average_cosine": 0.5, "sample": 100},
        "m4": {"isoscore": 0.25, "average_cosine": 0.3, "sample": 100},
    }
    targets = {"misspelling drop rate": {"m1": 0.05, "m2": 0.2, "m3": 0.15, "m4": 0.08}}
    control = {"m1": 0.4, "m2": 0.3, "m3": 0.35, "m4": 0.38}
    rows = geometry_correlations(geometry, targets, control)
    assert [(r["metric"], r["target"]) for r in rows] == [("isoscore", "misspelling drop rate"), ("average_cosine", "misspelling drop rate")]
    cosine = rows[1]
    assert cosine["spearman"] == pytest.approx(1.0) and cosine["n"] == 4  # same order as the drop rates
    assert cosine["pearson"] == pytest.approx(stats.pearsonr([0.2, 0.7, 0.5, 0.3], [0.05, 0.2, 0.15, 0.08])[0])
    assert cosine["partial_pearson"] is not None
    text = correlations_table(rows)
    assert "average_cosine" in text and "+1.000" in text
