"""A registered family gated like a built-in one: drop rate of nDCG@10 over the seeds, with its
threshold from [tool.robustest.abbreviations] or --robustest-thresholds=abbreviations=0.1."""

import pytest


@pytest.mark.abbreviations
def test_abbreviations_cost_little(robustness):
    robustness.gate("abbreviations")
