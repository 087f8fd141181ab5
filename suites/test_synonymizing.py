"""Synonymizing: WordNet synonyms replace ~10% of the words (part of speech from WordNet's
most frequent sense), stopwords and short words kept."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from robustest import strategies as rst

pytestmark = pytest.mark.synonymizing


def test_synonymizing_drop_rate(robustness):
    robustness.gate("synonymizing")


@pytest.mark.robustest_property
@rst.property_settings()
@given(data=st.data())
def test_synonyms_keep_a_relevant_document_in_the_top_k(robustness, data):
    qid, query, plans = data.draw(rst.plan_batches(robustness.stable_queries("synonymizing"), rst.synonym_swaps))
    robustness.keeps_relevant_in_top_k("synonymizing", qid, query, plans)
