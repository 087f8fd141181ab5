"""Mixed models: marginal means are the cell means on a balanced design, known effects are
recovered inside their intervals, and the awkward fits (one dataset, the factor being the
dataset, a variance on the boundary, an empty cell) say what happened instead of crashing."""

import warnings

import numpy as np
import pandas as pd
import pytest

from robustest.errors import RobustestError
from robustest.mixed import Design, MixedModelWarning, fit_mixed, means_table

MODELS = ("alpha", "beta", "gamma")


def simulate(seed, *, models=MODELS, effects=(0.0, 0.06, -0.08), levels=("short", "long"), level_effects=(0.0, -0.05),
             interaction=None, datasets=6, queries=40, sd_dataset=0.08, sd_query=0.12, sd_noise=0.05, base=0.45):
    """Per-query scores: base + model + level (+ model x level) + dataset + query + noise.
    Each dataset has `queries` queries, alternating levels; every model scores every query."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(datasets):
        d_effect = rng.normal(0, sd_dataset)
        for q in range(queries):
            level = q % len(levels)
            q_effect = rng.normal(0, sd_query)
            for m, model in enumerate(models):
                extra = 0.0 if interaction is None else interaction[m][level]
                score = base + effects[m] + level_effects[level] + extra + d_effect + q_effect + rng.normal(0, sd_noise)
                rows.append({"model": model, "dataset": f"d{d}", "query": f"q{q}", "factor": levels[level], "score": score})
    return pd.DataFrame(rows)


def test_sum_coded_design_rows_average_to_the_intercept():
    design = Design(["a", "b", "c"], ["x", "y"])
    rows = np.array([design.row(m, f) for m in "abc" for f in "xy"])
    assert rows.shape == (6, 1 + 2 + 1 + 2)
    assert np.allclose(rows.mean(axis=0), [1, 0, 0, 0, 0, 0])  # equal weights: only the intercept left
    assert np.linalg.matrix_rank(rows) == 6  # saturated: one coefficient per cell
    assert design.terms == {"model": slice(1, 3), "factor": slice(3, 4), "model:factor": slice(4, 6)}


def test_marginal_means_are_the_cell_means_on_a_balanced_design():
    interaction = [[0.0, 0.02], [0.01, -0.03], [-0.02, 0.0]]
    frame = simulate(1, interaction=interaction)
    fit = fit_mixed(frame, factor="length")
    cells = frame.groupby(["model", "factor"])["score"].mean()
    for cell in fit.cell_means:
        assert cell["emm"] == pytest.approx(cells[(cell["model"], cell["length"])], abs=1e-6)
    for row in fit.model_means:  # equal weights over levels = the mean of the model's cell means
        assert row["emm"] == pytest.approx(cells[row["model"]].mean(), abs=1e-6)
    for c in fit.contrasts:
        assert c["difference"] == pytest.approx(cells[c["model"]].mean() - cells[c["versus"]].mean(), abs=1e-6)
    assert fit.variances["dataset"] > 0 and fit.variances["query"] > 0 and fit.converged


def test_equal_weights_not_observation_weights_on_an_unbalanced_design():
    """Three quarters of the queries are 'short': a model's marginal mean still weighs the two
    levels equally (emmeans' default), unlike the raw mean of its scores."""
    frame = simulate(2, levels=("short", "long"), queries=40)
    frame = frame[~((frame["factor"] == "long") & (frame["query"].str[1:].astype(int) % 4 != 1))]
    fit = fit_mixed(frame)
    by_level = {(c["model"], c["factor"]): c["emm"] for c in fit.cell_means}
    for row in fit.model_means:
        assert row["emm"] == pytest.approx((by_level[(row["model"], "short")] + by_level[(row["model"], "long")]) / 2, abs=1e-10)


def test_known_model_effects_are_recovered_inside_their_intervals():
    effects = (0.0, 0.06, -0.08)
    level_effects = (0.0, -0.05)
    fit = fit_mixed(simulate(3, effects=effects, level_effects=level_effects), factor="length")
    base = 0.45 + np.mean(level_effects)  # the population mean (dataset effects average to zero)
    for row, effect in zip(fit.model_means, effects):
        assert row["ci_low"] < base + effect < row["ci_high"], row
    truth = dict(zip(MODELS, effects))
    for c in fit.contrasts:
        true_difference = truth[c["model"]] - truth[c["versus"]]
        assert c["ci_low"] < true_difference < c["ci_high"], c
        assert c["p"] < 1e-6  # the differences are 0.06 to 0.14 with 240 queries per model
    tests = {t["term"]: t for t in fit.joint_tests}
    assert set(tests) == {"model", "length", "model:length"}
    assert tests["model"]["df"] == 2 and tests["model"]["p"] < 1e-10
    assert tests["length"]["p"] < 0.05  # a real level effect of -0.05
    assert tests["model:length"]["p"] > 0.01  # no interaction in the simulation
    # Estimated variances near the simulated ones (6 datasets: the dataset one is rough).
    assert fit.variances["query"] == pytest.approx(0.12**2, rel=0.35)
    assert fit.variances["residual"] == pytest.approx(0.05**2, rel=0.2)


def test_joint_test_of_a_term_equals_the_wald_statistic_by_hand():
    fit = fit_mixed(simulate(4))
    cols = slice(1, 3)  # model[alpha], model[beta]
    b, v = fit.coef[cols], fit.cov[cols, cols]
    assert fit.joint_tests[0]["chi2"] == pytest.approx(float(b @ np.linalg.solve(v, b)), rel=1e-8)
    assert fit.joint_tests[0]["F"] == pytest.approx(fit.joint_tests[0]["chi2"] / 2)


def test_one_dataset_fits_queries_only_and_says_so():
    frame = simulate(5, datasets=1, queries=60)
    frame["factor"] = frame["dataset"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", MixedModelWarning)  # a sound fit: no warning
        fit = fit_mixed(frame, factor="dataset")
    assert fit.variances["dataset"] is None and fit.variances["query"] > 0
    assert any("one dataset" in n for n in fit.notes)
    means = frame.groupby("model")["score"].mean()
    for row in fit.model_means:
        assert row["emm"] == pytest.approx(means[row["model"]], abs=1e-6)
    assert [t["term"] for t in fit.joint_tests] == ["model"]  # a one-level factor has no term
    assert "one dataset" in means_table(fit)


def test_factor_dataset_leaves_out_the_dataset_intercept():
    frame = simulate(6, datasets=3)
    frame["factor"] = frame["dataset"]
    fit = fit_mixed(frame, factor="dataset")
    assert fit.variances["dataset"] is None and "queries" in fit.random_effects
    cells = frame.groupby(["model", "dataset"])["score"].mean()
    for cell in fit.cell_means:
        assert cell["emm"] == pytest.approx(cells[(cell["model"], cell["dataset"])], abs=1e-6)
    assert any("factor is the dataset" in n for n in fit.notes)


def test_a_dataset_variance_on_the_boundary_is_a_clear_warning():
    frame = simulate(7, datasets=4)
    frame["score"] -= frame.groupby("dataset")["score"].transform("mean") - frame["score"].mean()  # no dataset differences at all
    with pytest.warns(MixedModelWarning, match="singular fit: the dataset variance"):
        fit = fit_mixed(frame)
    assert any("singular" in n for n in fit.notes)
    assert all(np.isfinite([r["emm"], r["se"]]).all() for r in fit.model_means)


def test_an_empty_cell_is_one_clear_error():
    frame = simulate(8)
    frame = frame[~((frame["model"] == "beta") & (frame["factor"] == "long"))]
    with pytest.raises(RobustestError, match="model 'beta' has no scores at length 'long'"):
        fit_mixed(frame, factor="length")


def test_missing_columns_and_nan_scores():
    with pytest.raises(RobustestError, match="lacks the column"):
        fit_mixed([{"model": "a", "score": 1.0}])
    frame = simulate(9, datasets=2, queries=20)
    frame.loc[frame.index[:5], "score"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MixedModelWarning)  # two datasets: the variance may be 0
        assert fit_mixed(frame).n_obs == len(frame) - 5


def test_an_optimiser_that_raises_is_followed_by_the_next():
    """Found on MiniLM vs raw SmolLM2 on cranfield: one model scores almost nothing, so the
    query variance is near zero and L-BFGS steps onto a singular matrix (it raises rather
    than failing to converge); BFGS then fits it."""
    from statsmodels.regression.mixed_linear_model import MixedLM

    rng = np.random.default_rng(0)
    n = 225
    strong = rng.beta(0.6, 1.0, size=n)
    weak = np.where(rng.random(n) < 0.03, rng.random(n) * 0.3, 0.0)
    frame = pd.DataFrame(
        {"model": ["strong"] * n + ["weak"] * n, "dataset": "d", "query": [f"q{i}" for i in range(n)] * 2, "factor": "d", "score": np.concatenate([strong, weak])}
    )
    exog = Design(["strong", "weak"], ["d"]).matrix(frame["model"], frame["factor"])
    with pytest.raises(np.linalg.LinAlgError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MixedLM(frame["score"].to_numpy(), exog, groups=frame["query"].to_numpy(), exog_re=np.ones((2 * n, 1))).fit(reml=True, method=["lbfgs"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_mixed(frame)
    # Independent scores: the query variance is truly about 0, and only that is reported
    # (not the failed L-BFGS attempt's own warnings).
    messages = [str(w.message) for w in caught if issubclass(w.category, MixedModelWarning)]
    assert len(messages) == 1 and "singular fit: the query variance" in messages[0], messages
    assert fit.converged
    (difference,) = fit.contrasts
    assert difference["difference"] == pytest.approx(strong.mean() - weak.mean(), abs=1e-6)
