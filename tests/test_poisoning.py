"""Corpus poisoning as users meet it: the must-show comparison on cranfield, the suite end to
end, its settings, and the statistics behind the gate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from robustest.attacks import HotFlipConfig, Poisoning, split_for_attack
from robustest.cache import EmbeddingCache
from robustest.data import load_beir
from robustest.errors import RobustestError
from robustest.settings import Settings
from robustest.families import family_configs
from robustest.family_config import merge_tables
from robustest.poisoning_config import poisoning_config
from robustest.settings import parse_family_set
from robustest.retrieval import CorpusIndex
from robustest.stats import Verdict, bootstrap_seed_means, compare_rates, evaluate_rate_gate

POISONING_SUITE = Path(__file__).resolve().parent.parent / "suites" / "test_poisoning.py"


def test_hotflip_reaches_far_more_test_queries_than_random_gold_passages_on_cranfield(minilm, cranfield_dir, cache_dir):
    """All-MiniLM-L6-v2 on cranfield: half the queries train the attacker, the other half are
    attacked. At equal N = 10, HotFlip's ASR@20 is significantly above the random-gold control
    (paired bootstrap over the attacked queries: the whole 95% CI above 0)."""
    index = CorpusIndex(minilm, load_beir(cranfield_dir), cache=EmbeddingCache(cache_dir))
    queries = split_for_attack(index.dataset)
    poisoning = Poisoning(index, queries, hotflip=HotFlipConfig(iterations=20, pool=20), seeds=(1999,), progress=False)
    hotflip, control = poisoning.run("hotflip", 10), poisoning.run("random_gold", 10)
    difference = compare_rates(hotflip.hits[20], control.hits[20])
    assert difference.significant, difference
    assert hotflip.summary(20)[0] > control.summary(20)[0] + 0.05
    # the objective rose for every passage, so the attack, not the choice of text, did it
    assert all(p.trace[-1] > p.trace[0] for p in hotflip.passages[0])


def run_poisoning_suite(pytester, dataset, cache_dir, *args):
    return pytester.runpytest_subprocess(
        str(POISONING_SUITE),
        "-p",
        "no:cacheprovider",
        f"--robustest-dataset={dataset}",
        f"--robustest-cache-dir={cache_dir}",
        "--robustest-poison-iterations=2",
        "--robustest-poison-pool=6",
        "--robustest-family-set=poisoning.passages=3,poisoning.tokens=24",
        *args,
    )


def test_poisoning_suite_gates_reports_and_saves(pytester, small_cranfield, cache_dir, tmp_path):
    out = tmp_path / "run.json"
    # 10 test queries cannot show ASR above a tiny threshold: inconclusive, made to fail
    failing = run_poisoning_suite(
        pytester, small_cranfield, cache_dir, "--robustest-thresholds=poisoning=0.001", "--robustest-inconclusive=fail", f"--robustest-save={out}"
    )
    failing.assert_outcomes(passed=1, failed=1)
    failing.stdout.fnmatch_lines(
        [
            "*poisoning hotflip ASR@20 N=3: INCONCLUSIVE - ASR@20 *% ± * over seeds 1999, 5 (threshold 0.1%, 95% CI *, 10 test queries, p = *",
            "*strongest adversarial passages (test queries each one reaches in the top 20 on its own):",
            "*corpus poisoning: 10 test queries attacked; attacker's queries: held out 10 of the 20 judged test queries (no train split)*",
            "*hotflip (N=3) *",
            "*random_gold (N=3) *",
            "*hotflip - random_gold (N=3): ASR@20 *points, 95% CI*",
            "poisoning hotflip ASR@20 N=3 * inconclusive",
        ]
    )
    saved = json.loads(out.read_text())
    poisoning = saved["poisoning"]  # one entry per attack, as robustest report and analyze read them
    assert set(poisoning) == {"hotflip", "query_copy", "keyword_stuffing", "random_gold"}
    hotflip = poisoning["hotflip"]
    assert hotflip["n_passages"] == 3 and hotflip["seeds"] == [1999, 5] and set(hotflip["asr"]) == {"5", "10", "20", "50"}
    assert hotflip["asr"]["20"] == pytest.approx(np.mean(hotflip["asr_by_seed"]["20"]))
    assert hotflip["asr_std"]["20"] == pytest.approx(np.std(hotflip["asr_by_seed"]["20"]))
    assert [len(hotflip["adversarial_passages"][s]) for s in ("1999", "5")] == [3, 3]
    assert all(len(p["token_ids"]) == 24 and p["trace"][-1] >= p["trace"][0] for p in hotflip["adversarial_passages"]["5"])
    assert "minus_random_gold_asr20" in hotflip and "minus_random_gold_asr20" not in poisoning["random_gold"]
    setup = saved["poisoning_setup"]
    assert setup["queries"]["train_queries"] == 10 and setup["hotflip"]["iterations"] == 2 and setup["hotflip"]["pool"] == 6
    (gate,) = saved["gates"]
    assert gate["statistic"] == "ASR@20" and gate["verdict"] == "inconclusive" and gate["family"] == "poisoning"
    # the same settings again: the passages come from the cache, a lenient threshold passes
    passing = run_poisoning_suite(pytester, small_cranfield, cache_dir, "--robustest-thresholds=poisoning=1")
    passing.assert_outcomes(passed=2)
    passing.stdout.fnmatch_lines(["*2 HotFlip passage sets read from the cache*", "poisoning hotflip ASR@20 N=3 * pass"])


def test_poisoning_suite_skips_a_lexical_retriever(pytester, small_cranfield, cache_dir):
    result = run_poisoning_suite(pytester, small_cranfield, cache_dir, "--retriever=bm25", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*corpus poisoning needs a dense retriever; BM25 is lexical*"])


def test_bad_poisoning_settings_are_one_clear_line(pytester, small_cranfield, cache_dir):
    result = pytester.runpytest_subprocess(str(POISONING_SUITE), f"--robustest-dataset={small_cranfield}", "--robustest-family-set=poisoning.gated=nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in (result.stdout.str() + result.stderr.str()).splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and "gated names unknown attack(s) nope" in errors[0]
    option = pytester.runpytest_subprocess(str(POISONING_SUITE), f"--robustest-dataset={small_cranfield}", "--robustest-poison-passages=10,0")
    assert option.ret == pytest.ExitCode.USAGE_ERROR
    assert "--robustest-poison-passages: '10,0': give one or more positive numbers" in option.stderr.str()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"poisoning": {"passages": [0]}}, r"passages = \[0\] must be one or more positive numbers"),
        ({"poisoning": {"iterations": "many"}}, "iterations = 'many' is not valid"),
        ({"poisoning": {"train_fraction": 1.5}}, "train_fraction = 1.5 must be between 0 and 1"),
        ({"poisoning": {"pool": 0}}, "pool = 0 must be at least 1"),
        ({"poisoning": {"attack": ["hotflip"]}}, "unknown key 'attack'; use threshold, .*, passages, tokens, iterations"),
        ({"misspelling": {"iterations": 3}}, r"\[tool.robustest.misspelling\]: unknown key 'iterations'"),
    ],
)
def test_poisoning_settings_are_checked(table, message):
    with pytest.raises(RobustestError, match=message):
        family_configs(table)


def test_poisoning_settings_defaults_and_overrides():
    default = family_configs({})["poisoning"]
    assert default.threshold == 0.3 and default.k == 20 and default.seeds == (1999, 5)
    options = poisoning_config(default, Settings(poison_passages=(10, 50), poison_iterations=5000, poison_seeds=(1, 2), poison_threshold=0.1))
    assert options.extra["passages"] == (10, 50) and options.extra["iterations"] == 5000
    assert options.seeds == (1, 2) and options.threshold == 0.1 and options.extra["pool"] == 5
    assert default.extra["passages"] == (10,) and default.extra["tokens"] == 50 and default.extra["gated"] == ("hotflip",)
    table = merge_tables({"seeds": [1, 2, 3], "poisoning": {"passages": [10, 50], "iterations": 5000}}, parse_family_set("poisoning.pool=100,poisoning.gated=hotflip/query_copy"))
    config = family_configs(table, thresholds={"poisoning": 0.1})["poisoning"]
    assert config.seeds == (1, 2, 3) and config.threshold == 0.1
    assert config.extra["passages"] == (10, 50) and config.extra["iterations"] == 5000 and config.extra["pool"] == 100
    assert config.extra["gated"] == ("hotflip", "query_copy")


# -- the statistics of a rate gate ---------------------------------------------------------


def test_rate_gate_known_answers():
    never = np.zeros((2, 50))
    gate = evaluate_rate_gate("g", never, 0.1, seeds=(1, 2), statistic="ASR@20")
    assert gate.verdict is Verdict.PASS and gate.drop_rate_ci == (0.0, 0.0) and gate.drop_rate_mean == 0.0
    always = np.ones((2, 50))
    assert evaluate_rate_gate("g", always, 0.9, seeds=(1, 2), statistic="ASR@20").verdict is Verdict.FAIL
    half = np.tile([0.0, 1.0], (3, 100))  # ASR 0.5 under every seed, 200 queries
    straddling = evaluate_rate_gate("g", half, 0.5, seeds=(1, 2, 3), statistic="ASR@20")
    assert straddling.verdict is Verdict.INCONCLUSIVE and straddling.drop_rate_std == 0.0
    lo, hi = straddling.drop_rate_ci
    assert lo < 0.5 < hi and hi - lo == pytest.approx(2 * 1.96 * 0.5 / np.sqrt(200), rel=0.15)
    per_seed = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], dtype=float)
    gate = evaluate_rate_gate("g", per_seed, 1.0, seeds=(7, 8), statistic="ASR@20")
    assert gate.seed_drop_rates == (0.5, 0.25) and gate.drop_rate_mean == 0.375 and gate.drop_rate_std == 0.125
    assert gate.as_dict()["statistic"] == "ASR@20" and gate.as_dict()["clean_mean"] is None


def test_bootstrap_of_a_rate_covers_the_true_rate():
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(200):
        sample = (rng.random((2, 150)) < 0.3).astype(float)
        _, (lo, hi), _ = bootstrap_seed_means(sample, n_resamples=500, seed=trial)
        covered += lo <= 0.3 <= hi
    assert 0.90 <= covered / 200 <= 0.99


def test_paired_comparison_of_two_attacks():
    rng = np.random.default_rng(1)
    base = (rng.random((2, 200)) < 0.1).astype(float)
    stronger = np.maximum(base, (rng.random((2, 200)) < 0.2).astype(float))
    assert compare_rates(stronger, base).significant
    same = compare_rates(base, base)
    assert same.estimate == 0 and not same.significant and same.p_value == 1.0
    with pytest.raises(ValueError, match="same shape"):
        compare_rates(base, base[:, :10])
