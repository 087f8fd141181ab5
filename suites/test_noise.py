"""Surface noise of real queries beyond the paper: case, punctuation, whitespace. Meaning is
unchanged, so a retriever should lose almost nothing."""

import pytest

pytestmark = pytest.mark.noise


@pytest.mark.parametrize("family", ["case", "punctuation", "whitespace"])
def test_noise_drop_rate(robustness, family):
    robustness.gate(family)
