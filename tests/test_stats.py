"""robustest.stats: the paper's drop rate, the paired bootstrap, verdicts, p-values and Holm."""

from __future__ import annotations

import gc
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from robustest import stats
from robustest.stats import (
    Verdict,
    apply_holm,
    drop_rate,
    evaluate_gate,
    holm,
    p_exceeds,
    paired_bootstrap,
    queries_needed,
    seed_drop_rates,
    summarize_seeds,
    verdict,
)

PAPER_SEEDS = (1999, 5, 27, 2016, 2026)


def ndcg_like(rng: np.random.Generator, n: int) -> np.ndarray:
    """Per-query clean scores in [0, 1] shaped like nDCG@10 (mean ~0.62)."""
    return rng.beta(5, 3, n)


# ---------------------------------------------------------------------------------------------
# The paper's arithmetic


def test_drop_rate_is_the_papers_formula_on_a_hand_computed_example():
    clean = np.array([0.5, 1.0, 0.0, 0.5])  # mean 0.5
    perturbed = np.array(
        [
            [0.25, 0.75, 0.0, 0.5],  # mean 0.375 -> DR = (0.5 - 0.375) / 0.5 = 0.25
            [0.5, 0.5, 0.0, 0.2],  # mean 0.3   -> DR = (0.5 - 0.3) / 0.5 = 0.40
        ]
    )
    rates = seed_drop_rates(clean, perturbed)
    assert rates == pytest.approx([0.25, 0.40])
    mean, std = summarize_seeds(rates)
    assert mean == pytest.approx(0.325)
    assert std == pytest.approx(0.075)  # population std: sqrt(((0.25-0.325)^2 + (0.4-0.325)^2) / 2)
    assert std == pytest.approx(float(np.std(rates, ddof=0)))
    assert std != pytest.approx(float(np.std(rates, ddof=1)))
    assert drop_rate(0.5, 0.375) == pytest.approx(0.25)
    assert drop_rate(0.4, 0.5) == pytest.approx(-0.25)  # a gain is a negative drop


def test_drop_rate_with_zero_clean_mean_is_nan():
    assert math.isnan(drop_rate(0.0, 0.0))
    assert math.isnan(drop_rate(0.0, 0.3))
    assert np.isnan(drop_rate(np.array([0.0, 0.5]), np.array([0.1, 0.25]))).tolist() == [True, False]


def test_one_dimensional_perturbed_is_one_seed():
    clean = np.array([0.4, 0.6])
    assert seed_drop_rates(clean, np.array([0.2, 0.3])) == pytest.approx([0.5])


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="shape"):
        seed_drop_rates(np.ones(3), np.ones((2, 4)))


# ---------------------------------------------------------------------------------------------
# Known-answer verdicts


def test_a_true_drop_of_30_percent_fails_a_10_percent_gate():
    rng = np.random.default_rng(11)
    clean = ndcg_like(rng, 300)
    perturbed = np.clip(0.7 * clean + rng.normal(0, 0.05, (5, 300)), 0, 1)
    g = evaluate_gate("typos", clean, perturbed, 0.10, seeds=PAPER_SEEDS, family="misspelling")
    assert g.drop_rate == pytest.approx(0.3, abs=0.02)
    assert g.drop_rate_ci[0] > 0.10
    assert g.verdict is Verdict.FAIL
    assert g.note.startswith("fail:")
    assert g.p_value < 0.01
    assert g.n_queries == 300 and g.seeds == PAPER_SEEDS


def test_no_drop_passes_a_10_percent_gate():
    rng = np.random.default_rng(12)
    clean = ndcg_like(rng, 300)
    perturbed = np.clip(clean + rng.normal(0, 0.05, (5, 300)), 0, 1)
    g = evaluate_gate("reorder", clean, perturbed, 0.10, seeds=PAPER_SEEDS)
    assert abs(g.drop_rate) < 0.02
    assert g.drop_rate_ci[1] <= 0.10
    assert g.verdict is Verdict.PASS
    assert g.note.startswith("pass:")
    assert g.p_value > 0.5


def test_a_handful_of_queries_near_the_threshold_is_inconclusive_and_says_how_many_more():
    rng = np.random.default_rng(2)
    n = 8
    clean = ndcg_like(rng, n)
    perturbed = np.clip(0.9 * clean + rng.normal(0, 0.08, (5, n)), 0, 1)  # true drop rate ~0.10
    g = evaluate_gate("synonyms", clean, perturbed, 0.10, seeds=PAPER_SEEDS)
    lo, hi = g.drop_rate_ci
    assert lo <= 0.10 < hi
    assert g.verdict is Verdict.INCONCLUSIVE
    assert "straddles 0.10" in g.note and f"(now {n})" in g.note
    needed = queries_needed(n, lo, hi, g.drop_rate, 0.10)
    assert needed is not None and needed > n
    said = int(g.note.split("about ")[1].split(" queries")[0])
    assert said > n and said >= needed


def test_verdict_rule():
    assert verdict(0.11, 0.2, 0.10) is Verdict.FAIL
    assert verdict(0.0, 0.10, 0.10) is Verdict.PASS  # ci_high == threshold is within
    assert verdict(0.10, 0.2, 0.10) is Verdict.INCONCLUSIVE  # ci_low == threshold is not "worse"
    assert verdict(0.04, 0.16, 0.10) is Verdict.INCONCLUSIVE
    assert verdict(math.nan, math.nan, 0.10) is Verdict.INCONCLUSIVE


def test_queries_needed_scales_with_the_square_of_the_ratio():
    # symmetric CI: half-width 0.06, estimate 0.10 - 0.02 below the threshold -> 60 * 9 = 540
    assert queries_needed(60, 0.02, 0.14, 0.08, 0.10) == 540
    assert queries_needed(60, 0.04, 0.16, 0.10, 0.10) is None
    note = stats.verdict_note(Verdict.INCONCLUSIVE, ci_low=0.04, ci_high=0.16, estimate=0.085, threshold=0.10, n=60)
    # half-width on the threshold's side 0.075, gap 0.015 -> 60 * 25 = 1500
    assert note == "inconclusive: the 95% CI [0.04, 0.16] straddles 0.10; about 1500 queries (now 60) would settle it"


def test_a_pass_on_a_negative_drop_rate_says_the_variants_scored_higher():
    gained = stats.verdict_note(Verdict.PASS, ci_low=-1.02, ci_high=0.09, estimate=-0.34, threshold=0.20, n=30)
    assert gained == "pass: the 95% CI [-1.02, 0.09] lies at or below 0.20 (a negative drop rate: the variants scored higher than the clean queries)"
    assert stats.verdict_note(Verdict.PASS, ci_low=0.01, ci_high=0.09, estimate=0.05, threshold=0.20, n=30) == "pass: the 95% CI [0.01, 0.09] lies at or below 0.20"


# ---------------------------------------------------------------------------------------------
# The bootstrap


def test_bootstrap_ci_for_the_mean_drop_covers_the_truth_at_about_the_nominal_rate():
    # perturbed = clean - d with d ~ N(0.05, 0.1), no clipping: the population mean drop is
    # exactly 0.05 for every seed, hence for their mean.
    rng = np.random.default_rng(2026)
    true_drop, n, s, sims = 0.05, 100, 3, 200
    covered = 0
    for _ in range(sims):
        clean = rng.beta(2, 3, n)
        perturbed = clean[None, :] - rng.normal(true_drop, 0.1, (s, n))
        b = paired_bootstrap(clean, perturbed, n_resamples=1000, seed=int(rng.integers(2**31)))
        covered += b.mean_drop_ci[0] <= true_drop <= b.mean_drop_ci[1]
    assert 0.90 <= covered / sims <= 0.99, covered / sims


def test_joint_resampling_gives_a_much_narrower_ci_when_clean_and_perturbed_correlate():
    rng = np.random.default_rng(7)
    n, B = 200, 2000
    clean = rng.beta(0.8, 0.8, n)  # widely spread per-query effectiveness
    perturbed = clean - 0.05 + rng.normal(0, 0.01, n)  # tracks clean query by query
    assert np.corrcoef(clean, perturbed)[0, 1] > 0.99
    b = paired_bootstrap(clean, perturbed[None, :], n_resamples=B, seed=0)
    paired_width = b.mean_drop_ci[1] - b.mean_drop_ci[0]
    # Unpaired: clean and perturbed resampled with independent index draws.
    r = np.random.default_rng(0)
    unpaired = clean[r.integers(0, n, (B, n))].mean(axis=1) - perturbed[r.integers(0, n, (B, n))].mean(axis=1)
    lo, hi = np.quantile(unpaired, [0.025, 0.975])
    assert b.mean_drop_ci[0] <= 0.05 <= b.mean_drop_ci[1]
    assert paired_width < (hi - lo) / 10


def test_bootstrap_estimates_are_the_full_sample_numbers():
    rng = np.random.default_rng(3)
    clean = ndcg_like(rng, 50)
    perturbed = np.clip(0.8 * clean + rng.normal(0, 0.05, (3, 50)), 0, 1)
    b = paired_bootstrap(clean, perturbed, n_resamples=200)
    assert b.mean_drop == pytest.approx(float(np.mean(clean.mean() - perturbed.mean(axis=1))))
    assert b.drop_rate == pytest.approx(summarize_seeds(seed_drop_rates(clean, perturbed))[0])
    assert b.boot_drop_rates.shape == (200,) and b.n_undefined == 0
    assert b.mean_drop_ci[0] < b.mean_drop < b.mean_drop_ci[1]
    assert b.drop_rate_ci[0] < b.drop_rate < b.drop_rate_ci[1]
    json.dumps(b.as_dict())


def test_same_seed_same_cis_and_chunking_does_not_change_them(monkeypatch):
    rng = np.random.default_rng(4)
    clean = ndcg_like(rng, 37)
    perturbed = np.clip(0.85 * clean + rng.normal(0, 0.05, (5, 37)), 0, 1)
    a = paired_bootstrap(clean, perturbed, n_resamples=500, seed=9)
    b = paired_bootstrap(clean, perturbed, n_resamples=500, seed=9)
    c = paired_bootstrap(clean, perturbed, n_resamples=500, seed=10)
    assert a == b  # dataclass equality: estimates and both CIs
    assert np.array_equal(a.boot_drop_rates, b.boot_drop_rates)
    assert a.drop_rate_ci != c.drop_rate_ci
    monkeypatch.setattr(stats, "_CHUNK_ELEMENTS", 37 * 7)  # 7 resamples per chunk, a ragged last one
    chunked = paired_bootstrap(clean, perturbed, n_resamples=500, seed=9)
    # The draws are the same whatever the chunking; the sums are one matrix product per chunk,
    # whose summation order BLAS picks by shape and CPU (AVX-512 kernels differ in the last
    # bits), so equal to about 1e-12, not bit for bit. On one machine a run repeats exactly (above).
    np.testing.assert_allclose(chunked.boot_drop_rates, a.boot_drop_rates, rtol=0, atol=1e-12)
    np.testing.assert_allclose(chunked.boot_mean_drops, a.boot_mean_drops, rtol=0, atol=1e-12)
    np.testing.assert_allclose(chunked.drop_rate_ci, a.drop_rate_ci, rtol=0, atol=1e-12)
    g1 = evaluate_gate("g", clean, perturbed, 0.1, seeds=PAPER_SEEDS, seed=3, n_resamples=300)
    g2 = evaluate_gate("g", clean, perturbed, 0.1, seeds=PAPER_SEEDS, seed=3, n_resamples=300)
    assert g1 == g2


def test_resampling_is_joint_across_clean_and_every_seed():
    # Every seed row equals clean minus a per-query constant: any resample that kept queries
    # together gives exactly that constant as the mean drop, so the CI collapses to a point.
    rng = np.random.default_rng(5)
    clean = ndcg_like(rng, 40)
    perturbed = np.stack([clean - 0.1, clean - 0.2, clean - 0.3])
    b = paired_bootstrap(clean, perturbed, n_resamples=300)
    assert b.mean_drop_ci == pytest.approx((0.2, 0.2), abs=1e-12)
    assert np.allclose(b.boot_mean_drops, 0.2)


# ---------------------------------------------------------------------------------------------
# NaN = a query skipped under a seed


def test_a_nan_query_is_left_out_of_that_seeds_clean_and_perturbed_means():
    clean = np.array([0.5, 1.0, 0.0, 0.5])
    perturbed = np.array(
        [
            [0.25, 0.75, 0.0, 0.5],
            [np.nan, 0.5, 0.0, 0.2],  # query 0 skipped under seed 2: means over queries 1..3
        ]
    )
    rates = seed_drop_rates(clean, perturbed)
    mc2, mp2 = clean[1:].mean(), perturbed[1, 1:].mean()  # 0.5, 0.2333...
    assert rates == pytest.approx([0.25, (mc2 - mp2) / mc2])
    g = evaluate_gate("g", clean, perturbed, 0.5, seeds=(1, 2), n_resamples=300)
    assert g.seed_drop_rates == pytest.approx(tuple(rates))
    assert g.perturbed_means == pytest.approx((0.375, mp2))
    assert g.n_queries == 4
    assert all(math.isfinite(x) for x in (*g.drop_rate_ci, *g.mean_drop_ci, g.p_value))


def test_nan_rows_bootstrap_like_the_subset_they_describe():
    rng = np.random.default_rng(6)
    clean = ndcg_like(rng, 60)
    perturbed = np.clip(0.8 * clean + rng.normal(0, 0.05, (1, 60)), 0, 1)
    with_gap = perturbed.copy()
    with_gap[0, :10] = np.nan
    clean_gap = clean.copy()
    clean_gap[10:12] = np.nan  # a NaN clean score leaves the query out everywhere
    a = paired_bootstrap(clean_gap, with_gap, n_resamples=400, seed=1)
    b = paired_bootstrap(clean[12:], perturbed[:, 12:], n_resamples=400, seed=1)
    assert a.n_queries == 48  # all-NaN query columns are dropped up front
    assert a.drop_rate == pytest.approx(b.drop_rate)
    assert a == b


def test_a_seed_with_no_scored_query_is_refused():
    with pytest.raises(ValueError, match="seed row"):
        seed_drop_rates(np.ones(3), np.array([[0.5, 0.5, 0.5], [np.nan] * 3]))


def test_zero_clean_mean_gives_an_undefined_gate_not_a_crash():
    clean = np.zeros(20)
    perturbed = np.zeros((2, 20))
    g = evaluate_gate("g", clean, perturbed, 0.1, seeds=(1, 2), n_resamples=100)
    assert math.isnan(g.drop_rate) and math.isnan(g.drop_rate_mean)
    assert g.verdict is Verdict.INCONCLUSIVE and "undefined" in g.note
    assert g.p_value == 1.0
    d = g.as_dict()
    assert d["drop_rate"] is None and d["drop_rate_ci"] == [None, None]
    json.dumps(d, allow_nan=False)


# ---------------------------------------------------------------------------------------------
# p-values and Holm


def test_p_values_lie_in_zero_one_and_follow_the_plus_one_rule():
    boot = np.array([0.05, 0.08, 0.12, 0.2])
    assert p_exceeds(boot, 0.10) == pytest.approx((1 + 2) / 5)
    assert p_exceeds(boot, 0.0) == pytest.approx(1 / 5)  # never 0
    assert p_exceeds(boot, 1.0) == 1.0
    rng = np.random.default_rng(8)
    for _ in range(50):
        b = rng.normal(rng.uniform(-0.2, 0.5), 0.05, 500)
        p = p_exceeds(b, 0.1)
        assert 0.0 < p <= 1.0


def test_holm_matches_statsmodels(monkeypatch):
    # multipletests calls gc.collect() on every call, ~0.2 s each with torch loaded by conftest.
    monkeypatch.setattr(gc, "collect", lambda *args, **kwargs: 0)
    rng = np.random.default_rng(9)
    cases = [rng.uniform(0, 0.1, m) for m in (1, 2, 5, 12)]
    cases += [np.array([0.01, 0.01, 0.04, 0.3, 0.0125]), np.array([0.001, 1.0, 0.02, 0.02]), np.array([0.9, 0.8])]
    for p in cases:
        for alpha in (0.05, 0.1):
            named = {f"gate{i}": float(x) for i, x in enumerate(p)}
            ours = holm(named, alpha=alpha)
            reject, adjusted, _, _ = multipletests(p, alpha=alpha, method="holm")
            assert [ours[k][0] for k in named] == pytest.approx(adjusted.tolist())
            assert [ours[k][1] for k in named] == reject.tolist()
    out = holm({"a": 0.04, "b": 0.01, "c": 0.03})  # sorted b, c, a: 0.03, 0.06, 0.06 (monotone)
    assert out == {"a": (pytest.approx(0.06), False), "b": (pytest.approx(0.03), True), "c": (pytest.approx(0.06), False)}
    assert holm({}) == {}


def test_apply_holm_fills_in_the_adjusted_p_values_of_a_session():
    rng = np.random.default_rng(10)
    clean = ndcg_like(rng, 100)
    gates = [
        evaluate_gate(name, clean, np.clip(f * clean + rng.normal(0, 0.05, (2, 100)), 0, 1), 0.1, seeds=(1, 2), n_resamples=500)
        for name, f in (("big", 0.6), ("none", 1.0), ("edge", 0.9))
    ]
    adjusted = apply_holm(gates)
    expected = holm({g.name: g.p_value for g in gates})
    for g in adjusted:
        assert (g.p_adjusted, g.holm_reject) == expected[g.name]
    assert adjusted[0].holm_reject is True and adjusted[1].holm_reject is False
    json.dumps([g.as_dict() for g in adjusted], allow_nan=False)


# ---------------------------------------------------------------------------------------------
# Shape of the module


def test_gate_result_as_dict_is_json():
    rng = np.random.default_rng(13)
    clean = ndcg_like(rng, 30)
    g = evaluate_gate("g", clean, clean[None, :] * 0.9, 0.1, seeds=(5,), family="f", measure="nDCG@10", n_resamples=100)
    d = json.loads(json.dumps(g.as_dict(), allow_nan=False))
    assert d["verdict"] in ("pass", "fail", "inconclusive")
    assert d["seeds"] == [5] and d["family"] == "f" and d["measure"] == "nDCG@10"
    assert d["drop_rate"] == pytest.approx(0.1)
    assert d["drop_rate_std"] == 0.0


def test_stats_imports_neither_pytest_nor_hypothesis():
    path = Path(stats.__file__)
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('robustest_stats_alone', {str(path)!r})\n"
        "mod = sys.modules['robustest_stats_alone'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(mod)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pytest', '_pytest', 'hypothesis'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
