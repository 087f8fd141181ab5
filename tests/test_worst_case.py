"""The worst-case one-edit search: neighbourhoods (pure), the measurement on a real model and
a real lexical retriever, and its wiring into the suites (summary, run file, optional gate)."""

import json
import random
import string

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robustest.assertions import RobustnessError, assert_worst_case
from robustest.cache import EmbeddingCache
from robustest.data import load_beir
from robustest.errors import NotJudged, RobustestError
from robustest.families import FAMILIES, family_configs
from robustest.perturb import typos as T
from robustest.perturb.base import NoLegalEdit
from robustest.perturb.wordops import swap_plans, whitespace_plans
from robustest.retrieval import CorpusIndex
from robustest.stability import first_relevant
from robustest.stats import Verdict
from robustest.worst_case import balanced_order, neighbourhood, sampled_neighbours, worst_case_search
from conftest import query_suite_args

QUERY = "heat transfer in laminar boundary layers"


# -- neighbourhoods ---------------------------------------------------------------------------
def test_one_typo_plans_are_every_single_legal_typo():
    plans = T.one_typo_plans(QUERY)
    words = QUERY.split()
    expected = sum(len(T.legal_edits(words[i], op, i)) for i in T.editable_words(QUERY) for op in T.OPS)
    assert len(plans) == expected and all(len(p.edits) == 1 for p in plans)
    assert all(p.apply(QUERY) != QUERY for p in plans)
    assert [p.edits[0].op for p in plans][0] == "delete"  # simplest op first
    assert {p.edits[0].word for p in plans} == set(T.editable_words(QUERY))  # "in" is a stopword


def listed_typo_plans(query):
    """The one-typo plans made one by one, as before OneTypoPlans: the reference it must equal."""
    words = T.split_words(query)
    return [T.TypoPlan((e,)) for op in T.OPS for i in T.editable_words(query) for e in T.iter_legal_edits(words[i].text, op, i)]


@pytest.mark.parametrize("query", [QUERY, "Aardvark LLAMA zz-top 3D1 bookkeeper's ii tt", "a", "the of and", "Mississippi balloon"])
def test_lazy_one_typo_plans_equal_the_listed_ones(query):
    lazy, listed = T.one_typo_plans(query), listed_typo_plans(query)
    assert len(lazy) == len(listed) and list(lazy) == listed
    if listed:
        assert lazy[-1] == listed[-1] and lazy[1:3] == listed[1:3]
    flat = [r for r in lazy.group_ranges() for _ in r]
    assert sum(map(len, lazy.group_ranges())) == len(listed) and len(flat) == len(listed)
    for r in lazy.group_ranges():  # a group is one (word, op), contiguous
        assert len({listed[j].group for j in r}) == 1
    with pytest.raises(IndexError):
        lazy[len(listed)]


@given(st.text(alphabet=string.ascii_letters + string.digits + "'-é", max_size=12), st.sampled_from(T.OPS))
@settings(max_examples=300, deadline=None)
def test_nth_legal_edit_is_the_listed_one(word, op):
    listed = T.legal_edits(word, op, 3)
    assert [T.nth_legal_edit(word, op, n, 3) for n in range(len(listed))] == listed
    every = [T.Typo(3, op, i, c) for i in T.positions(word, op) for c in (T.chars(word, op, i) if op in T.CHAR_OPS else ("",))]
    assert listed == [e for e in every if T.typo_word(word, e) != word]  # exactly the edits that change the word


def test_lazy_neighbourhoods_equal_the_listed_ones_on_real_queries(cranfield_dir):
    queries = [json.loads(line) for line in (cranfield_dir / "queries.jsonl").read_text().splitlines()][:60]
    for q in queries:
        for seed in (1999, 5):
            lazy = neighbourhood(q["_id"], q["text"], T.one_typo_plans, budget=32, seed=seed, family="misspelling")
            listed = neighbourhood(q["_id"], q["text"], listed_typo_plans, budget=32, seed=seed, family="misspelling")
            assert lazy == listed


def test_swap_and_whitespace_neighbourhoods():
    swaps = swap_plans("red green blue")
    texts = [p.apply("red green blue") for p in swaps]
    assert sorted(texts) == sorted({"green red blue", "blue green red", "red blue green"}) and len(texts) == 3  # each pair once
    assert len(whitespace_plans("a b c")) == 2 * 4


def test_small_neighbourhoods_are_exhaustive_and_in_simplest_first_order():
    hood = neighbourhood("q", "red green blue", swap_plans, budget=10, seed=1, family="reordering")
    assert hood.exhaustive and hood.total == 3 and len(hood.texts) == 3
    assert list(hood.texts) == [p.apply("red green blue") for p in swap_plans("red green blue")]
    assert "red green blue" not in hood.texts


def test_large_neighbourhoods_are_a_seeded_sample_of_distinct_texts():
    first = neighbourhood("q1", QUERY, T.one_typo_plans, budget=20, seed=1999, family="misspelling")
    again = neighbourhood("q1", QUERY, T.one_typo_plans, budget=20, seed=1999, family="misspelling")
    other = neighbourhood("q1", QUERY, T.one_typo_plans, budget=20, seed=5, family="misspelling")
    assert first == again and first.texts != other.texts
    assert len(set(first.texts)) == 20 and not first.exhaustive and first.total is None
    # the sample covers every editable word: it takes each (word, op) group in turn
    assert {p.edits[0].word for p in first.plans} == set(T.editable_words(QUERY))
    ops = [p.edits[0].op for p in first.plans]
    assert len(set(ops)) >= 4  # not mostly substitute/insert, which have 52 letters each


def test_balanced_order_takes_each_group_in_turn():
    class Plan:
        def __init__(self, group):
            self.group = group

    plans = [Plan("a")] * 10 + [Plan("b")] * 2 + [Plan("c")]
    order = balanced_order(plans, random.Random(0))
    assert sorted(order) == list(range(13))
    assert {plans[i].group for i in order[:3]} == {"a", "b", "c"}


def test_a_family_with_only_a_sampler_is_sampled():
    deterministic = sampled_neighbours(lambda q, rng: FAMILIES["naturalizing"].sampler(q), budget=8)
    hood = neighbourhood("q", "what is the heat of the flow", deterministic, budget=8, seed=1, family="custom")
    assert len(hood.texts) == 1 and hood.total is None  # one distinct variant; a sample says nothing of the rest

    def never(query, rng):
        raise NoLegalEdit("nothing to change")

    assert neighbourhood("q", QUERY, sampled_neighbours(never, 8), budget=8, seed=1, family="custom").texts == ()


# -- settings -----------------------------------------------------------------------------------
def test_worst_case_settings_are_family_keys():
    configs = family_configs(
        {"worst_case_neighbours": 12, "misspelling": {"worst_case_threshold": 0.4, "worst_case_margin": 3}, "case": {"worst_case_threshold": "off"}},
        worst_case_thresholds={"reordering": 0.2},
    )
    assert configs["misspelling"].worst_case_threshold == 0.4 and configs["misspelling"].margin == 3
    assert configs["reordering"].worst_case_threshold == 0.2 and configs["reordering"].margin == 5  # k // 2
    assert configs["case"].worst_case_threshold is None and configs["case"].worst_case_neighbours == 12
    assert family_configs({})["whitespace"].worst_case_neighbours == 8
    with pytest.raises(RobustestError, match="worst_case_margin = 11 is beyond k = 10"):
        family_configs({"misspelling": {"worst_case_margin": 11}})
    with pytest.raises(RobustestError, match="worst_case_threshold = 30: 30 looks like a percentage"):
        family_configs({"misspelling": {"worst_case_threshold": 30}})
    with pytest.raises(RobustestError, match="--robustest-worst-case-thresholds: 'typos' is not a family"):
        family_configs({}, worst_case_thresholds={"typos": 0.3})


# -- the measurement on real retrievers ----------------------------------------------------------
@pytest.fixture(scope="module")
def index(minilm, cranfield_dir, cache_dir):
    return CorpusIndex(minilm, load_beir(cranfield_dir), cache=EmbeddingCache(cache_dir))


@pytest.fixture(scope="module")
def misspelled(index):
    return worst_case_search(index, index.evaluate(), "misspelling", T.one_typo_plans, budget=12, max_queries=30, seed=1999)


def test_minilm_misspelling_worst_case_on_cranfield(index, misspelled):
    """Checked independently: every reported break really pushes the relevant documents out
    of the top 10, and every searched query started at rank <= 5."""
    result = misspelled
    assert len(result.qids) == 30 and result.eligible > 30 and result.margin == 5
    assert (result.clean_ranks <= 5).all() and (result.neighbours == 12).all()
    assert 0 < result.broken_count < 30  # one typo breaks some queries, not all
    lo, hi = result.share_ci()
    assert lo <= result.share <= hi and hi - lo > 0
    assert result.median_rank_loss >= 0 and len(result.counterexamples) == result.broken_count
    qrels = index.dataset.qrels
    for example in result.counterexamples:
        (before, after) = index.retrieve([(example["query_id"], example["query"]), (example["query_id"], example["variant"])], k=100)
        assert first_relevant(before, qrels[example["query_id"]]) == example["rank_before"] <= 5
        rank = first_relevant(after, qrels[example["query_id"]])
        assert rank is None or rank > 10
        assert example["rank_after"] == (str(rank) if rank else f"> {result.depth}")
    ranks = [e["rank_before"] for e in result.counterexamples]
    assert ranks == sorted(ranks)  # the best-ranked queries first


def test_a_query_not_reported_broken_survives_every_variant_tried(index, misspelled):
    qid = next(q for q, broken in zip(misspelled.qids, misspelled.broken) if not broken)
    query = index.dataset.queries[qid]
    hood = neighbourhood(qid, query, T.one_typo_plans, budget=12, seed=1999, family="misspelling")
    runs = index.retrieve([(qid, t) for t in hood.texts], k=10)
    assert all(first_relevant(run, index.dataset.qrels[qid]) is not None for run in runs)
    worst = max(first_relevant(run, index.dataset.qrels[qid]) for run in runs)
    assert worst == misspelled.worst_ranks[misspelled.qids.index(qid)]


def test_the_gate_judges_the_share_broken(misspelled):
    gate = assert_worst_case(misspelled, 1.0)
    assert gate.verdict is Verdict.PASS and gate.n_queries == 30 and gate.drop_rate == pytest.approx(misspelled.share)
    with pytest.raises(RobustnessError) as failure:
        assert_worst_case(misspelled, 0.01)
    message = str(failure.value)
    assert message.startswith("misspelling worst case: FAIL - broken by one edit (k = 10)") and "rank 1 -> " in message
    with pytest.raises(NotJudged, match="not judged - 30 queries could be searched, fewer than min_queries = 40"):
        assert_worst_case(misspelled, 0.5, min_queries=40)


def test_a_lexical_retriever_is_blind_to_case_and_whitespace(cranfield_dir):
    """BM25 lowercases and splits on whitespace: no such edit can move any document."""
    from robustest.retrievers.bm25 import BM25Retriever

    index = CorpusIndex(BM25Retriever(), load_beir(cranfield_dir), k=100)
    clean = index.evaluate()
    for family in ("case", "whitespace"):
        result = worst_case_search(index, clean, family, FAMILIES[family].neighbours, budget=8, max_queries=20, seed=1)
        assert len(result.qids) == 20 and result.broken_count == 0 and (result.rank_losses == 0).all()


def test_margin_must_fit_inside_k(index):
    with pytest.raises(ValueError, match="margin=11 must be between 1 and k=10"):
        worst_case_search(index, index.evaluate(), "misspelling", T.one_typo_plans, margin=11)


# -- in the suites ---------------------------------------------------------------------------------
def run_worst_case_suite(pytester, cache_dir, dataset, *args, table=""):
    settings = "worst_case_queries = 15\nworst_case_neighbours = 8\nmin_queries = 5\n" + table
    return pytester.runpytest_subprocess(*query_suite_args(pytester, cache_dir, dataset, settings), "-m", "misspelling or reordering", "-k", "worst_case", *args)


def test_suites_report_the_worst_case_and_save_it(pytester, cache_dir, small_cranfield, tmp_path):
    out = tmp_path / "run.json"
    result = run_worst_case_suite(pytester, cache_dir, small_cranfield, f"--robustest-save={out}")
    result.assert_outcomes(passed=2, deselected=result.parseoutcomes()["deselected"])
    result.stdout.fnmatch_lines(
        [
            "worst case of one edit (queries with a relevant document at rank <= margin; broken: none left in the top k)",
            "  misspelling: one edit breaks * of * queries (*%, 95% CI [[]*, *[]]); median rank loss *; k = 10, margin 5; * variants (up to 8 per query, seed 1999)*",
        ]
    )
    saved = json.loads(out.read_text())["worst_case"]
    assert set(saved) == {"misspelling", "reordering"}
    m = saved["misspelling"]
    assert m["queries"] == len(m["per_query"]) <= 15 and m["neighbours_per_query"] == 8 and 0 <= m["share_broken"] <= 1
    assert all(q["clean_rank"] <= 5 for q in m["per_query"].values())


def test_a_worst_case_threshold_makes_it_a_gate(pytester, cache_dir, small_cranfield):
    # k = 1: the top document of a query must stay on top, which one typo often breaks
    table = "[tool.robustest.misspelling]\nk = 1\n"
    result = run_worst_case_suite(pytester, cache_dir, small_cranfield, "--robustest-worst-case-thresholds=misspelling=0.001,reordering=0.9", table=table)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1 and outcomes.get("failed") == 1, result.stdout.str()
    result.stdout.fnmatch_lines(["*misspelling worst case: FAIL - broken by one edit (k = 1)*", "misspelling worst case * fail", "reordering worst case * pass"])


def test_queries_without_any_variant_are_reported_not_searched(index):
    from robustest.worst_case import format_worst_case

    result = worst_case_search(index, index.evaluate(), "nothing", lambda q: [], budget=4, max_queries=5)
    assert result.qids == [] and result.eligible > 0 and np.isnan(result.share)
    assert format_worst_case(result) == [f"nothing: no query searched ({result.eligible} had a relevant document at rank <= 5, none a variant)"]
    assert result.as_dict()["share_broken"] is None


def test_the_html_report_shows_the_search(misspelled):
    from robustest.report import worst_case_section

    saved = json.loads(json.dumps(misspelled.as_dict()))  # as the run file holds it
    page = worst_case_section({"misspelling": saved})
    assert "<h2>Worst case of one edit</h2>" in page and f">{misspelled.share * 100:.1f}<" in page
    assert "Smallest counterexamples" in page and saved["counterexamples"][0]["query_id"] in page
    assert worst_case_section(None) == "" and worst_case_section({"misspelling": "edited by hand"}) == ""
    assert "<td" in worst_case_section({"misspelling": {}})  # missing numbers show as dashes
