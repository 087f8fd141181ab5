"""Gates on real runs (MiniLM, a small cranfield): messages, determinism, configuration."""

import json
from pathlib import Path

import pytest

from robustest.assertions import RobustnessError, assert_drop_rate, assert_invariant, assert_rank_stable, assert_top_k_unchanged
from robustest.cache import EmbeddingCache
from robustest.data import load_beir
from robustest.errors import NotJudged, RobustestError
from robustest.families import DEFAULT_THRESHOLDS, family_configs
from robustest.family_config import merge_tables
from robustest.settings import parse_family_set, parse_thresholds
from robustest.perturb import PAPER_SEEDS
from robustest.retrieval import CorpusIndex
from robustest.stability import run_family
from robustest.stats import Verdict

SUITES = Path(__file__).resolve().parent.parent / "suites"


@pytest.fixture(scope="module")
def index(minilm, small_cranfield, cache_dir):
    return CorpusIndex(minilm, load_beir(small_cranfield), cache=EmbeddingCache(cache_dir))


@pytest.fixture(scope="module")
def misspelled(index):
    return run_family(index, "misspelling", PAPER_SEEDS, "nDCG@10", index.evaluate())


def test_family_run_lines_up_clean_and_perturbed_scores(misspelled, index):
    assert misspelled.perturbed.shape == (5, len(index.dataset.queries))
    assert misspelled.seeds == PAPER_SEEDS
    assert sum(len(p.variants) for p in misspelled.perturbations) == misspelled.perturbed.size - misspelled.skipped
    for perturbed in misspelled.perturbations:
        for v in perturbed.variants:
            assert v.text != v.original


def test_same_seeds_give_identical_variants_and_verdicts(index, misspelled):
    again = run_family(index, "misspelling", PAPER_SEEDS, "nDCG@10", index.evaluate())
    assert [p.variants for p in again.perturbations] == [p.variants for p in misspelled.perturbations]
    first, second = assert_drop_rate(misspelled, 1.0), assert_drop_rate(again, 1.0)
    assert first == second and first.verdict is Verdict.PASS


def test_a_failing_gate_shows_the_numbers_and_the_worst_queries(misspelled):
    with pytest.raises(RobustnessError) as failure:
        assert_drop_rate(misspelled, -0.5)
    message = str(failure.value)
    assert message.startswith("misspelling drop rate: FAIL - drop rate of nDCG@10")
    assert "threshold -50.0%" in message and "95% CI [" in message and "over seeds 1999, 5, 27, 2016, 2026" in message
    worst = [line for line in message.splitlines() if line.startswith("    [")]
    assert len(worst) == 3 and all("-> " in line and "rank " in line for line in worst)  # the three worst, merged over seeds
    assert failure.value.gate.verdict is Verdict.FAIL


def test_rank_stability_and_invariance(misspelled):
    gate = assert_rank_stable(misspelled, 10, 1.0)
    assert gate.name == "misspelling rank stability@10" and 0 <= gate.drop_rate_mean <= 1
    deeper = assert_rank_stable(misspelled, 30, 1.0)  # deeper than nDCG@10's runs: retrieved again
    assert deeper.name == "misspelling rank stability@30" and deeper.n_queries >= gate.n_queries and 0 <= deeper.drop_rate_mean <= 1
    with pytest.raises(RobustnessError, match="lose more than 0.0 nDCG@10"):
        assert_invariant(misspelled, 0.0)
    assert_invariant(misspelled, 1.0)


def test_inconclusive_warns_or_fails_as_configured(index):
    tiny = CorpusIndex(index.retriever, load_beir(index.dataset.source), cache=index.cache)
    queries = dict(list(tiny.dataset.queries.items())[:4])
    clean = tiny.evaluate(queries)
    run = run_family(tiny, "misspelling", PAPER_SEEDS, "nDCG@10", clean)
    estimate = assert_drop_rate(run, 1.0, min_queries=4).drop_rate_mean  # 4 queries: a wide CI around the estimate
    from robustest.assertions import InconclusiveWarning

    with pytest.warns(InconclusiveWarning, match="inconclusive"):
        gate = assert_drop_rate(run, estimate + 1e-9, min_queries=4)
    assert gate.verdict is Verdict.INCONCLUSIVE
    with pytest.raises(RobustnessError, match="INCONCLUSIVE"):
        assert_drop_rate(run, estimate + 1e-9, inconclusive="fail", min_queries=4)


def test_family_configuration_layers():
    table = {"seeds": [1, 2], "misspelling": {"threshold": 0.3, "k": 20}}
    configs = family_configs(table, thresholds={"reordering": 0.01})
    assert configs["misspelling"].threshold == 0.3 and configs["misspelling"].k == 20 and configs["misspelling"].seeds == (1, 2)
    assert configs["reordering"].threshold == 0.01 and configs["naturalizing"].threshold == DEFAULT_THRESHOLDS["naturalizing"]
    assert family_configs({}, seeds=(7,))["case"].seeds == (7,)
    with pytest.raises(RobustestError, match="unknown key"):
        family_configs({"misspelling": {"treshold": 0.3}})
    with pytest.raises(RobustestError, match="unknown key"):
        family_configs({"mispelling": {"threshold": 0.3}})
    with pytest.raises(RobustestError, match="not a family.*register_family"):
        family_configs({}, thresholds=parse_thresholds("typos=0.2"))  # names are checked once conftests registered theirs
    cli = parse_family_set("misspelling.k=20,misspelling.measure=RR@10,case.seeds=1/2")
    merged = family_configs(merge_tables({"misspelling": {"k": 5, "threshold": 0.3}}, cli))
    assert (merged["misspelling"].k, merged["misspelling"].measure, merged["misspelling"].threshold) == (20, "RR@10", 0.3)
    assert merged["case"].seeds == (1, 2)
    with pytest.raises(ValueError, match="FAMILY.KEY=VALUE"):
        parse_family_set("misspelling=3")


def test_suites_gate_fails_naming_the_family_and_saves_every_gate(pytester, cache_dir, small_cranfield, tmp_path):
    pytester.makepyprojecttoml('[tool.robustest]\nseeds = [1999, 5]\n[tool.robustest.reordering]\nthreshold = 0.5\n')
    out = tmp_path / "run.json"
    result = pytester.runpytest_subprocess(
        str(SUITES),
        "-p", "no:cacheprovider",
        f"--rootdir={pytester.path}",
        "-c", str(pytester.path / "pyproject.toml"),
        f"--robustest-dataset={small_cranfield}",
        f"--robustest-cache-dir={cache_dir}",
        "--robustest-thresholds=misspelling=0.001",
        "-m", "(misspelling or reordering) and not robustest_property",
        "-k", "drop_rate",
        f"--robustest-save={out}",
    )
    result.assert_outcomes(failed=1, passed=1)  # every other suite's tests deselected, however many
    result.stdout.fnmatch_lines(
        [
            "*misspelling drop rate: FAIL - drop rate of nDCG@10 * over seeds 1999, 5 (threshold 0.1%*",
            "*worst queries*",
            "*misspelling drop rate * fail",
            "*reordering drop rate * pass",
        ]
    )
    saved = json.loads(out.read_text())
    gates = {g["name"]: g for g in saved["gates"]}
    assert gates["misspelling drop rate"]["verdict"] == "fail" and gates["reordering drop rate"]["threshold"] == 0.5
    assert gates["reordering drop rate"]["seeds"] == [1999, 5]


def test_strict_property_search_fails_with_the_smallest_counterexample(pytester, cache_dir, small_cranfield):
    """Report mode (the default: xfail, counterexample in the summary) is checked by the
    default-run test in test_plugin.py; this is the strict mode."""
    # k = 1: the first relevant document must stay first, which one typo often breaks. One
    # edit per example: which multi-edit failure the search meets first depends on Hypothesis'
    # choices, which shift with the literals of every loaded module (shrinking is
    # tests/test_shrinking.py's subject).
    pytester.makepyprojecttoml("[tool.robustest.misspelling]\nk = 1\nmax_edits = 1\n")
    result = pytester.runpytest_subprocess(
        str(SUITES / "test_query_families.py"),
        "-p", "no:cacheprovider",
        f"--rootdir={pytester.path}",
        "-c", str(pytester.path / "pyproject.toml"),
        f"--robustest-dataset={small_cranfield}",
        f"--robustest-cache-dir={cache_dir}",
        "-m", "robustest_property and misspelling",
        "--hypothesis-profile=robustest-ci",
        "--robustest-properties=strict",
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == 1 and not outcomes.get("passed") and not outcomes.get("xfailed"), result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "E   misspelling: 1 typo: * moved the best relevant document of query * from rank 1 to *",
            "smallest counterexample found (misspelling): misspelling: 1 typo: * (k = 1)",
        ]
    )


@pytest.mark.parametrize("which", ["default", "cranfield"])
def test_minilm_misspelling_drop_is_positive_and_significant(minilm, cache_dir, cranfield_dir, which):
    """The paper's headline effect on real data: typos cost MiniLM effectiveness, and the
    paired CI says so (it excludes 0) on the embedded collection and on cranfield."""
    from robustest.data import load_dataset

    dataset = load_dataset("default", cache_dir=cache_dir) if which == "default" else load_beir(cranfield_dir)
    index = CorpusIndex(minilm, dataset, cache=EmbeddingCache(cache_dir))
    gate = assert_drop_rate(run_family(index, "misspelling", PAPER_SEEDS, "nDCG@10", index.evaluate()), 1.0)
    assert gate.drop_rate_mean > 0 and gate.drop_rate_ci[0] > 0, gate
    assert len(gate.seed_drop_rates) == 5 and gate.drop_rate_std > 0


def test_top_k_unchanged_is_about_document_identity(index):
    clean = index.evaluate()
    # MiniLM's tokenizer drops whitespace and case: the same tokens, the same documents
    spaced = run_family(index, "whitespace", (1999, 5), "nDCG@10", clean)
    gate = assert_top_k_unchanged(spaced, k=5)
    assert gate.name == "whitespace top-5 unchanged" and gate.drop_rate_mean == 0 and gate.verdict is Verdict.PASS
    swapped = run_family(index, "reordering", (1999, 5), "nDCG@10", clean)
    with pytest.raises(RobustnessError, match=r"reordering top-3 unchanged: FAIL - [\d.]+% of variants changed the top-3 documents") as failure:
        assert_top_k_unchanged(swapped, k=3)
    changed = failure.value.gate.drop_rate_mean
    assert 0 < changed < 1 and "changed (seed: original -> variant" in str(failure.value)
    tolerant = assert_top_k_unchanged(swapped, k=3, threshold=1.0)  # everything tolerated: a pass on the CI
    assert tolerant.verdict is Verdict.PASS and tolerant.drop_rate_mean == changed
    with pytest.raises(NotJudged, match="not judged - 20 of 20 queries were perturbed, fewer than min_queries = 21"):
        assert_top_k_unchanged(spaced, k=1, min_queries=21)
