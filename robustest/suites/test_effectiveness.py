"""Clean effectiveness of the retriever under test.
Every robustness number is relative to this one, so it must be meaningful: the retriever has
to beat a random ranking of the same corpus by a clear margin (a broken checkpoint, a wrong
pooling or a tokenizer mismatch usually does not), and, when `--robustest-effectiveness-floor` is set,
reach that floor.
"""

import pytest


def test_clean_effectiveness(robustness):
    robustness.clean_effectiveness()


@pytest.mark.robustest_reference
def test_no_clean_regression(robustest_session, robustness):
    """With --robustest-baseline or --robustest-compare-to (deselected otherwise): the clean headline score is not
    significantly lower than the reference's by more than --robustest-regression-tolerance, paired by query."""
    robustness.clean_regression(robustest_session.measures[0])
