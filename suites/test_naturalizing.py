"""Naturalizing: the query lowercased and without stopwords, as people type keyword queries.
Deterministic, so every seed gives the same variant and the std over seeds is 0."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from robustest import strategies as rst

pytestmark = pytest.mark.naturalizing


def test_naturalizing_drop_rate(robustness):
    robustness.gate("naturalizing")


@pytest.mark.robustest_property
@rst.property_settings()
@given(data=st.data())
def test_keyword_form_keeps_a_relevant_document_in_the_top_k(robustness, data):
    qid, query, plan = data.draw(rst.perturbed_queries(robustness.stable_queries("naturalizing"), rst.naturalized))
    robustness.keeps_relevant_in_top_k("naturalizing", qid, query, [plan])
