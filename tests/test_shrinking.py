"""Shrinking on real data: a fragile property of the real embedded model fails, and what
Hypothesis reports is the smallest perturbation that breaks it."""

import pytest
from hypothesis import HealthCheck, find, given, settings

from robustest import strategies as rst
from robustest.cache import EmbeddingCache
from robustest.data import load_beir
from robustest.retrieval import CorpusIndex

SETTINGS = settings(max_examples=300, database=None, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def index(minilm, small_cranfield, cache_dir):
    return CorpusIndex(minilm, load_beir(small_cranfield), cache=EmbeddingCache(cache_dir))


@pytest.fixture(scope="module")
def first_place(index):
    queries = list(index.dataset.queries.items())
    return {qid: next(iter(run)) for (qid, _), run in zip(queries, index.retrieve(queries))}


def test_top_document_under_typos_shrinks_to_one_edit(index, first_place):
    def top_moves(item):
        qid, query, plan = item
        return next(iter(index.retrieve([(qid, plan.apply(query))])[0])) != first_place[qid]

    qid, query, plan = find(rst.perturbed_queries(index.dataset.queries, lambda q: rst.typos(q, max_edits=3)), top_moves, settings=SETTINGS)
    assert len(plan.edits) == 1, plan
    assert top_moves((qid, query, plan))
    assert plan.describe(query).startswith("1 typo: ")


def test_the_failing_given_test_reports_one_edit(index, first_place):
    @SETTINGS
    @given(rst.perturbed_queries(index.dataset.queries, lambda q: rst.typos(q, max_edits=3)))
    def top_document_stays_first(item):
        qid, query, plan = item
        variant = plan.apply(query)
        now = next(iter(index.retrieve([(qid, variant)])[0]))
        assert now == first_place[qid], f"{plan.describe(query)}: top document {first_place[qid]} -> {now}"

    with pytest.raises(AssertionError, match=r"^1 typo: \w+ in '[^']+' -> '[^']+': top document") as failure:
        top_document_stays_first()
    assert "typos" not in str(failure.value).split(":")[0]
