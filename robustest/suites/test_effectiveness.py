"""Clean effectiveness of the retriever under test.

Every robustness number is relative to this one, so it must be meaningful: the retriever has
to beat a random ranking of the same corpus by a clear margin (a broken checkpoint, a wrong
pooling or a tokenizer mismatch usually does not), and, when `--robustest-effectiveness-floor` is set,
reach that floor.
"""

import numpy as np
import pytest

from robustest.random_ranking import paired_margin, random_ranking_scores
from robustest.metrics import parse_measures

MIN_T = 2.0  # about a one-sided 2.5% test on the paired per-query differences


def test_clean_effectiveness(robustest_session, robustness, dataset, clean_evaluation):
    measure = robustest_session.measures[0]
    floor = robustest_session.settings.effectiveness_floor
    ours = clean_evaluation.scores[measure]
    cutoff = parse_measures([measure])[0].params.get("cutoff") or robustest_session.settings.top_k
    by_query = random_ranking_scores(dataset, measure, depth=cutoff)
    random = np.array([by_query[q] for q in clean_evaluation.qids])
    margin, t = paired_margin(ours, random)
    robustness.add(
        "random_baseline",
        {measure: float(random.mean())},
        f"{measure:>12} of a random ranking = {random.mean():.4f} (margin {margin:+.4f}, paired t = {t:.1f})",
    )
    assert t > MIN_T and margin > 0, (
        f"{measure} = {ours.mean():.4f} is not clearly better than a random ranking "
        f"({random.mean():.4f}; paired t = {t:.2f} <= {MIN_T}): check the model, its pooling and prompts"
    )
    if floor is not None:
        floor_measure = floor[0] or measure
        value = clean_evaluation.mean(floor_measure)
        assert value >= floor[1], f"{floor_measure} = {value:.4f} is below the floor {floor[1]} (--robustest-effectiveness-floor)"


@pytest.mark.robustest_reference
def test_no_clean_regression(robustest_session, robustness):
    """With --robustest-baseline or --robustest-compare-to (deselected otherwise): the clean headline score is not
    significantly lower than the reference's by more than --robustest-regression-tolerance, paired by query."""
    robustness.clean_regression(robustest_session.measures[0])
