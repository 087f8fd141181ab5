"""Query perturbations, per family of the registry (robustest.families): misspelling (the
paper's six character operations on ~10% of the words, at least one), reordering (two words
swap), synonymizing (WordNet synonyms behind a semantic guard), paraphrasing (a local model,
--robustest-paraphraser), naturalizing (lowercase, no stopwords), and case, punctuation and
whitespace noise; and, for instruction-tuned retrievers, the instruction group (the query prompt
varied, the query as it is; the documents without their prompt). Select one with its marker:
`-m misspelling`, `-m noise`, `-m instruction`.

- `test_drop_rate`: the paper's protocol, one random variant per query per seed (1999, 5, 27,
  2016, 2026), gated on the drop rate of nDCG@10.
- `test_worst_case_of_one_edit`: the adversarial counterpart: every variant one edit away (up
  to `worst_case_neighbours` per query, else a seeded sample) of each query ranked safely
  inside the top k; reports the share of queries one edit can break, gated only with a
  `worst_case_threshold` (--robustest-worst-case-thresholds).
- `test_a_typo_keeps_a_relevant_document_in_the_top_k`: one Hypothesis property search, the
  example to copy for your own: it draws batches of typo plans, steers to the worst with
  `target` and shrinks a failure to the smallest edit. Its budget is the Hypothesis profile's
  `max_examples` (100 by default, 50 with --hypothesis-profile=robustest-ci), at most 8
  variants each.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from robustest import strategies as rst
from robustest.families import FAMILIES


def by_family(families):
    marks = lambda f: [getattr(pytest.mark, f.name)] + ([getattr(pytest.mark, f.group)] if f.group else [])  # noqa: E731
    return pytest.mark.parametrize("family", [pytest.param(f.name, marks=marks(f), id=f.name) for f in families])


@pytest.fixture
def perturbing(robustness, family):
    reason = robustness.no_resource_reason(family)
    if reason:
        pytest.skip(reason)
    return robustness


@pytest.mark.robustest_uses("run")
@by_family(f for f in FAMILIES.values() if f.gated)
def test_drop_rate(perturbing, family):
    perturbing.gate(family)


@pytest.mark.robustest_uses("worst_case")
@by_family(f for f in FAMILIES.values() if f.neighbours is not None or f.sampler is not None)
def test_worst_case_of_one_edit(perturbing, family):
    perturbing.worst_case(family)


@pytest.mark.robustest_property
@pytest.mark.misspelling
@rst.property_settings()
@given(data=st.data())
def test_a_typo_keeps_a_relevant_document_in_the_top_k(robustness, data):
    cfg = robustness.config("misspelling")
    queries = robustness.stable_queries("misspelling", margin=cfg.margin)  # safely inside the top k
    qid, query, batch = data.draw(rst.plan_batches(queries, lambda q: rst.typos(q, max_edits=cfg.max_edits)))
    robustness.keeps_relevant_in_top_k("misspelling", qid, query, batch)


@pytest.mark.robustest_property
@by_family(f for f in FAMILIES.values() if f.model_written)
def test_each_variant_keeps_a_relevant_document_in_the_top_k(perturbing, family):
    """A model-written variant cannot be enumerated: check each one of the first seed's."""
    run = perturbing.run(family)
    stable = perturbing.stable_queries(family)
    for v in run.perturbations[0].variants:
        if v.query_id in stable:
            perturbing.keeps_relevant_in_top_k(family, v.query_id, v.original, [v.plan])
