"""Query perturbations, one gate and one property search per family of the registry
(robustest.families): misspelling (the paper's six character operations on ~10% of the words,
at least one), reordering (two words swap), synonymizing (WordNet synonyms behind a semantic
guard), paraphrasing (a local model, --robustest-paraphraser), naturalizing (lowercase, no
stopwords), and case, punctuation and whitespace noise. Seeds 1999, 5, 27, 2016, 2026.
Select one with its marker: `-m misspelling`, `-m noise`.
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


@by_family(f for f in FAMILIES.values() if f.perturbs_queries)
def test_drop_rate(perturbing, family):
    perturbing.gate(family)


@pytest.mark.robustest_property
@by_family(f for f in FAMILIES.values() if f.search and f.search != "variants")
@rst.property_settings()
@given(data=st.data())
def test_perturbations_keep_a_relevant_document_in_the_top_k(robustness, family, data):
    """Hypothesis draws batches of plans of one query, steers to the worst and shrinks a
    failure to the smallest edit."""
    cfg = robustness.config(family)
    strategy = getattr(rst, FAMILIES[family].search)
    plans = (lambda q: strategy(q, max_edits=cfg.max_edits)) if FAMILIES[family].search == "typos" else strategy
    qid, query, batch = data.draw(rst.plan_batches(robustness.stable_queries(family), plans))
    robustness.keeps_relevant_in_top_k(family, qid, query, batch)


@pytest.mark.robustest_property
@by_family(f for f in FAMILIES.values() if f.search == "variants")
def test_each_variant_keeps_a_relevant_document_in_the_top_k(perturbing, family):
    """A model-written variant cannot be drawn: check each one of the first seed's."""
    run = perturbing.run(family)
    stable = perturbing.stable_queries(family)
    for v in run.perturbations[0].variants:
        if v.query_id in stable:
            perturbing.keeps_relevant_in_top_k(family, v.query_id, v.original, [v.plan])
