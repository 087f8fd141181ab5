"""Reordering: two words of the query swap places (TextAttack's WordInnerSwapRandom)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from robustest import strategies as rst

pytestmark = pytest.mark.reordering


def test_reordering_drop_rate(robustness):
    robustness.gate("reordering")


@pytest.mark.robustest_property
@rst.property_settings()
@given(data=st.data())
def test_word_swaps_keep_a_relevant_document_in_the_top_k(robustness, data):
    qid, query, plans = data.draw(rst.plan_batches(robustness.stable_queries("reordering"), rst.swaps))
    robustness.keeps_relevant_in_top_k("reordering", qid, query, plans)
