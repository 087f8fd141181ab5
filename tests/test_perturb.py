"""Properties of the perturbation operators on real queries (cranfield and the default collection)."""

import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robustest import strategies as rst
from robustest.families import sampler
from robustest.perturb import PAPER_SEEDS, NoLegalEdit, perturb_queries, split_words
from robustest.perturb import typos as T
from robustest.perturb.wordops import plan_naturalize, sample_swap
from robustest.perturb.words import english_stopwords

FALLBACK = [
    "What similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft?",
    "the structural and aeroelastic problems associated with flight of high speed aircraft .",
    "heat conduction in composite slabs",
    "Is it the case that the boundary layer separates?",
]


@pytest.fixture(scope="module")
def real_queries(shared_data_dir):
    from robustest.data import load_beir

    return sorted(load_beir(shared_data_dir / "cranfield").queries.values()) + FALLBACK


def damerau(a: str, b: str) -> int:
    """Optimal-string-alignment distance, written out independently of robustest."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


def kind_of_edit(before: str, after: str) -> set[str]:
    """Which ops could have turned `before` into `after` in one edit."""
    kinds = set()
    if len(after) == len(before) - 1:
        kinds.add("delete")
    if len(after) == len(before) + 1:
        kinds.add("insert")
    if len(after) == len(before):
        diff = [i for i in range(len(before)) if before[i] != after[i]]
        if len(diff) == 2 and diff[1] == diff[0] + 1 and before[diff[0]] == after[diff[1]]:
            kinds.add("neighbor_swap")
        if len(diff) == 1:
            kinds |= {"substitute", "fixed_qwerty"}
            if after[diff[0]] in T.qwerty_neighbours(before[diff[0]]):
                kinds.add("qwerty")
    return kinds


query_and_seed = st.tuples(st.integers(0, 10**6), st.integers(0, 2**32 - 1))


def check_typo_variant(query: str, plan, variant: str) -> None:
    """`variant` is `query` with each planned word replaced by a one-edit typo of its kind,
    and every other character (other words, punctuation, spacing) untouched."""
    words = split_words(query)
    assert len({e.word for e in plan.edits}) == len(plan.edits)
    rebuilt, cursor = "", 0
    for edit in sorted(plan.edits, key=lambda e: e.word):
        word = words[edit.word].text
        assert word not in english_stopwords() and len(word) >= 3
        new = T.typo_word(word, edit)
        assert damerau(word, new) == 1 and edit.op in kind_of_edit(word, new), (word, new, edit)
        rebuilt += query[cursor : words[edit.word].start] + new
        cursor = words[edit.word].end
    assert variant == rebuilt + query[cursor:]


@settings(max_examples=300, deadline=None)
@given(query_and_seed)
def test_a_misspelling_changes_only_the_chosen_words_by_one_edit_of_its_kind(real_queries, pick):
    query = real_queries[pick[0] % len(real_queries)]
    try:
        plan = T.sample_typos(query, random.Random(pick[1]))
    except NoLegalEdit:
        assert T.editable_words(query) == []
        return
    assert 1 <= len(plan.edits) <= T.words_to_change(query)
    check_typo_variant(query, plan, plan.apply(query))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_strategy_typos_are_legal_and_apply_is_deterministic(real_queries, data):
    query = data.draw(st.sampled_from([q for q in real_queries if T.editable_words(q)]))
    plan = data.draw(rst.typos(query, max_edits=3))
    assert plan.apply(query) == plan.apply(query) == T.apply_typos(query, plan)
    check_typo_variant(query, plan, plan.apply(query))


@settings(max_examples=200, deadline=None)
@given(query_and_seed)
def test_reordering_is_a_permutation_of_the_words(real_queries, pick):
    query = real_queries[pick[0] % len(real_queries)]
    try:
        plan = sample_swap(query, random.Random(pick[1]))
    except NoLegalEdit:
        return
    before = [w.text for w in split_words(query)]
    after = [w.text for w in split_words(plan.apply(query))]
    assert sorted(before) == sorted(after) and before != after


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6))
def test_naturalizing_removes_only_stopwords(real_queries, pick):
    query = real_queries[pick % len(real_queries)]
    try:
        variant = plan_naturalize(query).apply(query)
    except NoLegalEdit:
        return
    kept = [w.text for w in split_words(variant)]
    expected = [w.text.lower() for w in split_words(query) if w.text.lower() not in english_stopwords()]
    assert kept == expected


def test_seeded_sampler_gives_identical_variants_for_identical_seeds(real_queries):
    queries = {str(i): q for i, q in enumerate(real_queries)}
    for family in ("misspelling", "reordering", "whitespace", "case"):
        runs = [perturb_queries(queries, family, seed, sampler(family)) for seed in PAPER_SEEDS]
        again = [perturb_queries(dict(reversed(list(queries.items()))), family, seed, sampler(family)) for seed in PAPER_SEEDS]
        assert [r.variants for r in runs] == [r.variants for r in again]  # order of queries does not matter
        texts = [tuple(v.text for v in r.variants) for r in runs]
        assert len(set(texts)) == len(PAPER_SEEDS)  # each seed gives its own variants


def test_no_legal_edit_is_reported_not_hidden():
    perturbed = perturb_queries({"a": "to be or not to be", "b": "heat conduction in slabs"}, "misspelling", 5, T.sample_typos)
    assert [v.query_id for v in perturbed.variants] == ["b"]
    assert "can be misspelled" in perturbed.skipped["a"]
    with pytest.raises(NoLegalEdit):
        plan_naturalize("the of and")


def test_apply_rejects_an_illegal_plan():
    with pytest.raises(ValueError, match="not a legal edit"):
        T.TypoPlan((T.Typo(0, "qwerty", 1, ""),)).apply("a1b")  # '1' has no QWERTY neighbour
    with pytest.raises(ValueError, match="not a legal edit"):
        T.TypoPlan((T.Typo(0, "delete", 0),)).apply("the heat")  # a stopword


def test_supports_match_their_definitions():
    assert T.variants("ab", "neighbor_swap") == {"ba"}
    assert T.variants("aa", "neighbor_swap") == set()
    assert T.variants("cat", "delete") == {"at", "ct", "ca"}
    assert len(T.variants("cat", "insert")) == 3 * 52 - 2  # 'ccat' and 'caat' arise twice
    assert T.variants("a1", "qwerty") == {"q1", "w1", "s1", "z1", "x1"}
    assert T.variants("a1", "fixed_qwerty") >= {"a" + c for c in string.ascii_letters if c != "1"} - {"a1"}


def test_words_keep_punctuation_and_spacing():
    query = "what's the 'lift-drag' ratio,  at Mach 2?"
    assert [w.text for w in split_words(query)] == ["what's", "the", "lift-drag", "ratio", "at", "Mach", "2"]
    plan = T.TypoPlan((T.Typo(3, "delete", 0),))
    assert plan.apply(query) == "what's the 'lift-drag' atio,  at Mach 2?"


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: rst.typos("heat flow", max_edits=0), "max_edits=0 < min_edits=1"),
        (lambda: rst.typos("heat flow", min_edits=0), "min_edits=0 must be at least 1"),
        (lambda: rst.typos("heat flow", ops=("teleport",)), "must be a non-empty subset"),
        (lambda: rst.typos("to be or not"), "can be misspelled"),
        (lambda: rst.swaps("heat"), "can swap"),
        (lambda: rst.whitespace("heat"), "allows no whitespace"),
    ],
)
def test_invalid_strategy_arguments(make, message):
    from hypothesis.errors import InvalidArgument

    strategy = make()  # lazy: nothing raised yet
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(")):
        strategy.validate()


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_is_legal_agrees_with_the_enumerated_edits(real_queries, data):
    query = data.draw(st.sampled_from(real_queries))
    word = data.draw(st.sampled_from([w.text for w in split_words(query)]))
    op = data.draw(st.sampled_from(T.OPS))
    edit = T.Typo(0, op, data.draw(st.integers(-1, len(word) + 1)), data.draw(st.sampled_from(["", "a", "Q", "1", "ab"])))
    assert T.is_legal(word, edit) == (edit in T.legal_edits(word, op))
