"""Paraphrasing: a local seq2seq model (T5 paraphraser, or back-translation) rewrites each
query. Needs --paraphraser=PATH; without it these tests skip and say so."""

import pytest

pytestmark = pytest.mark.paraphrasing


@pytest.fixture(scope="module")
def paraphrasing(robustness):
    reason = robustness.no_resource_reason("paraphrasing")
    if reason:
        pytest.skip(reason)
    return robustness


def test_paraphrasing_drop_rate(paraphrasing):
    paraphrasing.gate("paraphrasing")


@pytest.mark.robustest_property
def test_paraphrases_keep_a_relevant_document_in_the_top_k(paraphrasing):
    """A paraphraser gives one variant per query: check them all, worst first."""
    run = paraphrasing.run("paraphrasing")
    stable = paraphrasing.stable_queries("paraphrasing")
    variants = [v for v in run.perturbations[0].variants if v.query_id in stable]
    for v in variants:
        paraphrasing.keeps_relevant_in_top_k("paraphrasing", v.query_id, v.original, [v.plan])
