"""Misspelling: the paper's six character operations on ~10% of the words (at least one),
stopwords and words under three letters kept, seeds 1999, 5, 27, 2016, 2026."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from robustest import strategies as rst

pytestmark = pytest.mark.misspelling


def test_misspelling_drop_rate(robustness):
    robustness.gate("misspelling")


@pytest.mark.robustest_property
@rst.property_settings()
@given(data=st.data())
def test_typos_keep_a_relevant_document_in_the_top_k(robustness, data):
    edits = robustness.config("misspelling").max_edits
    qid, query, plans = data.draw(rst.plan_batches(robustness.stable_queries("misspelling"), lambda q: rst.typos(q, max_edits=edits)))
    robustness.keeps_relevant_in_top_k("misspelling", qid, query, plans)
