"""A registered family needs no test of its own to be gated: the shipped suites'
`test_drop_rate[abbreviations]` gates its drop rate of nDCG@10 over the seeds (threshold from
[tool.robustest.abbreviations] or --robustest-thresholds=abbreviations=0.1) as soon as
conftest.py registers it. Calling robustness.gate("abbreviations") here as well would judge
that gate twice and report each failure twice. A test of your own checks something the drop
rate does not: here, that abbreviating rarely pushes every relevant document out of the top 10."""

import pytest


@pytest.mark.abbreviations
def test_abbreviations_keep_a_relevant_document_in_the_top_10(robustness):
    robustness.rank_stable("abbreviations", k=10, threshold=0.1)  # at most 10% of the queries lose it, judged on a CI
