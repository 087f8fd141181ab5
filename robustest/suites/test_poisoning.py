"""Corpus poisoning (Zhong et al. 2023): an attacker who has seen some queries (a train split,
or held-out queries) injects N adversarial passages into the corpus; the gate asks how many
*unseen* test queries then find one in their top 20 (ASR@20). HotFlip optimises each passage
through the retriever's gradients; query copy and keyword stuffing need none; random gold
passages are the control. Settings: [tool.robustest.poisoning] (passages, iterations, ...) or
--robustest-poison-passages, --robustest-poison-iterations, --robustest-poison-pool,
--robustest-poison-length, --robustest-poison-seeds, --robustest-poison-threshold."""

import pytest

from robustest.plugin.hooks import get_session

pytestmark = pytest.mark.poisoning


def pytest_generate_tests(metafunc):
    """One gate per gated attack and N (from the session's poisoning settings)."""
    if {"attack", "passages"} <= set(metafunc.fixturenames):
        poisoning = get_session(metafunc.config).checks.poisoning  # settings only: nothing loads yet
        cases = [(a, n) for n in poisoning.passages for a in poisoning.gated]
        metafunc.parametrize(("attack", "passages"), cases, ids=[f"{a}-N{n}" for a, n in cases])


@pytest.fixture(scope="module")
def poisoning(robustness):
    reason = robustness.poisoning.skip_reason()
    if reason:
        pytest.skip(reason)
    return robustness.poisoning


def test_attack_success_rate(poisoning, attack, passages):
    reason = poisoning.skip_reason(attack)
    if reason:
        pytest.skip(reason)
    poisoning.gate(attack, passages)


def test_every_attack_and_the_control_are_measured(poisoning):
    """The black-box attacks and the random-gold control, for the summary and results file."""
    for result in poisoning.measure_all():
        assert result.hits[poisoning.config.k].shape == (len(result.seeds), len(result.qids))
