"""robustest's misspelling against TextAttack 0.3.11 itself, on real text (cranfield).

The paper built its perturbations with TextAttack; robustest reimplements them as edit plans.
These tests hold the two together:

- each op can produce exactly the words TextAttack's word swap can (its support), word by word;
- the words a query splits into and the words the constraints leave editable are TextAttack's;
- the TextAttack adapter (any Transformation as a robustest sampler) is seeded and pure.

`make test` installs textattack (the dev extra), so CI runs all of this.
"""

from __future__ import annotations

import importlib.util
import os
import random
import string
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from robustest.data import load_beir
from robustest.errors import RobustestError
from robustest.perturb import perturb_queries
from robustest.perturb.base import NoLegalEdit
from robustest.perturb.typos import OPS, editable_words, variants
from robustest.perturb.words import english_stopwords, replace_words, split_words

if importlib.util.find_spec("textattack") is None:
    pytest.skip("textattack is not installed: pip install -e '.[dev]' (make test does)", allow_module_level=True)

from robustest.perturb.textattack_adapter import (  # noqa: E402
    TEXTATTACK_OPS,
    TextAttackPlan,
    fixed_qwerty_class,
    paper_constraints,
    paper_misspelling_transformations,
    prepare_textattack,
    textattack_candidates,
    textattack_sampler,
)

N_WORDS = 1000
N_QUERIES = 300
# Ops whose letter TextAttack draws at random even with random_one=False: their support is
# the union over one transformation per letter (letters_to_insert=L). fixed_qwerty draws
# one only for keys without neighbours, where our subclass offers every letter.
LETTER_OPS = ("substitute", "insert")


@pytest.fixture(scope="module", autouse=True)
def textattack(cache_dir):
    """TextAttack, imported with robustest's stopword list in the test cache's NLTK folder."""
    return prepare_textattack(cache_dir)


def transformation(op: str, **kwargs):
    if op == "fixed_qwerty":
        return fixed_qwerty_class()(**kwargs)
    import textattack.transformations

    return getattr(textattack.transformations, TEXTATTACK_OPS[op])(**kwargs)


@pytest.fixture(scope="module")
def cranfield(cranfield_dir):
    return load_beir(cranfield_dir)


@pytest.fixture(scope="module")
def real_words(cranfield) -> list[str]:
    """1,000 distinct words (2+ characters) of the cranfield documents, as split for TextAttack.

    Cranfield is all lowercase, so a fifth of the words are Capitalized and a fifth UPPER:
    QWERTY keeps the case of the key it replaces, and that path must be covered too.
    """
    found = sorted({w.text for doc in cranfield.documents for w in split_words(doc) if len(w.text) >= 2})
    chosen = random.Random(2604).sample(found, N_WORDS)
    if not any(c.isupper() for w in chosen for c in w):
        chosen = [w.capitalize() if i % 5 == 1 else w.upper() if i % 5 == 3 else w for i, w in enumerate(chosen)]
    assert len(set(chosen)) == N_WORDS
    return chosen


@pytest.fixture(scope="module")
def real_queries(cranfield) -> list[str]:
    """300 real queries: cranfield's 225, then document titles (the same register) up to 300."""
    queries = [cranfield.queries[q] for q in sorted(cranfield.queries, key=int)]
    titles = [t for t in cranfield.titles if t.strip() and t not in queries]
    return (queries + titles)[:N_QUERIES]


def textattack_support(word: str, op: str, transformations) -> set[str]:
    """Every word TextAttack's swap can make of `word`. `_get_replacement_words` is the hook
    each WordSwap overrides; WordSwap itself then drops replacements equal to the word."""
    out = set()
    for t in transformations:
        out |= {r for r in t._get_replacement_words(word) if r != word}
    return out


@pytest.mark.parametrize("op", OPS)
def test_each_op_has_textattacks_support_on_real_words(op, real_words):
    if op in LETTER_OPS:
        ts = [transformation(op, random_one=False, letters_to_insert=letter) for letter in string.ascii_letters]
    else:
        ts = [transformation(op, random_one=False)]
    differ = []
    for word in real_words:
        ours, theirs = variants(word, op), textattack_support(word, op, ts)
        if ours != theirs:
            differ.append((word, sorted(ours - theirs)[:5], sorted(theirs - ours)[:5]))
    assert not differ, f"{len(differ)} of {len(real_words)} words differ (word, only ours, only TextAttack's): {differ[:5]}"


def test_real_words_cover_case_and_non_letters(real_words):
    """The sample reaches the branches that differ between ops: upper-case keys (QWERTY keeps
    case) and keys without QWERTY neighbours (digits, hyphens: fixed_qwerty's letters)."""
    assert sum(w.isupper() for w in real_words) >= 100
    assert sum(w[:1].isupper() and not w.isupper() for w in real_words) >= 100
    assert sum(not w.isalpha() for w in real_words) >= 10


def sentence_case(texts: list[str]) -> list[str]:
    return [t[:1].upper() + t[1:] for t in texts]


@pytest.mark.parametrize("case", ["as-is", "sentence-case"])
def test_words_are_textattacks_words(case, real_queries):
    from textattack.shared import AttackedText

    queries = real_queries if case == "as-is" else sentence_case(real_queries)
    differ = [(q, [w.text for w in split_words(q)], AttackedText(q).words) for q in queries if [w.text for w in split_words(q)] != AttackedText(q).words]
    assert not differ, differ[:3]


@pytest.mark.xfail(
    strict=True,
    reason="TextAttack's words_from_text also keeps its homoglyph set (` × ˗ ...) inside words; "
    "split_words does not, so a word next to one of them splits differently",
)
@pytest.mark.parametrize("text", ["`quoted` word", "3×4 matrix", "a˗b wing"])
def test_words_next_to_textattacks_homoglyph_characters(text):
    from textattack.shared import AttackedText

    assert [w.text for w in split_words(text)] == AttackedText(text).words


@pytest.mark.parametrize("case", ["as-is", "sentence-case"])
def test_editable_words_are_what_textattacks_constraints_leave(case, real_queries):
    """StopwordModification(our list) + MinWordLength(3) on AttackedText(query) leave exactly
    `editable_words(query)`. Sentence case matters: TextAttack matches stopwords
    case-sensitively, so 'What' may be edited where 'what' may not."""
    from textattack.shared import AttackedText

    queries = real_queries if case == "as-is" else sentence_case(real_queries)
    swap, constraints = transformation("qwerty"), paper_constraints()
    differ = []
    for q in queries:
        theirs = sorted(swap(AttackedText(q), constraints, return_indices=True))
        if editable_words(q) != theirs:
            differ.append((q, editable_words(q), theirs))
    assert not differ, differ[:3]
    assert all(editable_words(q) for q in queries[:50])  # real queries: something to edit


def test_paper_constraints_use_robustests_stopwords():
    stopword = paper_constraints()[0]
    assert stopword.stopwords == set(english_stopwords())


@pytest.mark.parametrize("op", ["delete", "neighbor_swap", "qwerty", "fixed_qwerty"])
def test_query_candidates_are_our_edits(op, real_queries):
    """Whole queries, through TextAttack's own text rebuilding: the texts one deterministic
    swap makes of a query are the query with one editable word replaced by one variant."""
    t, constraints = transformation(op, random_one=False), paper_constraints()
    for q in real_queries[::6]:
        words = split_words(q)
        ours = {replace_words(q, {i: v}) for i in editable_words(q) for v in variants(words[i].text, op)}
        assert set(textattack_candidates(t, q, constraints)) == ours, q


# --- the adapter ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def qwerty_sampler():
    return textattack_sampler(transformation("qwerty"), paper_constraints())


def test_seeded_sampler_is_reproducible_and_leaves_global_rngs_alone(qwerty_sampler, real_queries):
    queries = {str(i): q for i, q in enumerate(real_queries[:100])}
    random.seed(7)
    np.random.seed(7)
    py_state, np_state = random.getstate(), np.random.get_state()[1].copy()

    first = perturb_queries(queries, "textattack:WordSwapQWERTY", 1999, qwerty_sampler)
    assert random.getstate() == py_state
    assert (np.random.get_state()[1] == np_state).all()

    random.random(), np.random.rand()  # the caller's draws in between change nothing
    again = perturb_queries(queries, "textattack:WordSwapQWERTY", 1999, qwerty_sampler)
    assert [(v.query_id, v.text) for v in first.variants] == [(v.query_id, v.text) for v in again.variants]
    assert len(first.variants) >= 95  # real queries: nearly all have a word QWERTY can change


def test_different_seeds_give_different_variants(qwerty_sampler, real_queries):
    queries = {str(i): q for i, q in enumerate(real_queries[:100])}
    a = {v.query_id: v.text for v in perturb_queries(queries, "textattack:WordSwapQWERTY", 1999, qwerty_sampler).variants}
    b = {v.query_id: v.text for v in perturb_queries(queries, "textattack:WordSwapQWERTY", 5, qwerty_sampler).variants}
    shared = a.keys() & b.keys()
    assert sum(a[q] != b[q] for q in shared) >= 0.8 * len(shared)


@pytest.mark.parametrize(
    ("op", "query", "draws"),
    [("delete", "shock wave", 300), ("qwerty", "heat flow", 2000)],
)
def test_candidates_are_what_the_sampler_draws_from(op, query, draws):
    """One candidates call (random_one=False) = the union of many seeded sampler draws
    (random_one=True, TextAttack's default): same support, seen from both sides."""
    sampler = textattack_sampler(transformation(op), paper_constraints())
    seen = {sampler(query, random.Random(i)).text for i in range(draws)}
    assert seen == set(textattack_candidates(transformation(op, random_one=False), query, paper_constraints()))


def test_plan_is_a_value_for_its_query(qwerty_sampler):
    query = "heat flow"
    plan = qwerty_sampler(query, random.Random(1))
    assert isinstance(plan, TextAttackPlan)
    assert plan == qwerty_sampler(query, random.Random(1)) and hash(plan) == hash(qwerty_sampler(query, random.Random(1)))
    assert plan.family == "textattack:WordSwapQWERTY"
    assert plan.apply(query) == plan.text != query
    assert query in plan.describe(query) and plan.text in plan.describe(query)
    with pytest.raises(ValueError, match="made for 'heat flow'"):
        plan.apply("mass flow")


@pytest.mark.parametrize("query", ["what is the", "an ox in it", ""])
def test_nothing_to_change_is_no_legal_edit(qwerty_sampler, query):
    with pytest.raises(NoLegalEdit):
        qwerty_sampler(query, random.Random(0))


def test_paper_transformations_in_robustests_op_order():
    names = [type(t).__name__ for t in paper_misspelling_transformations()]
    assert names == [TEXTATTACK_OPS[op] for op in OPS]


def test_candidates_are_sorted_unique_and_stable():
    t = transformation("substitute")  # random_one=True: a random draw, made repeatable
    first = textattack_candidates(t, "heat transfer in slabs", paper_constraints())
    assert first == textattack_candidates(t, "heat transfer in slabs", paper_constraints())
    assert list(first) == sorted(set(first)) and "heat transfer in slabs" not in first


def test_missing_textattack_says_how_to_install(monkeypatch, tmp_path):
    import nltk

    monkeypatch.delenv("ROBUSTEST_NLTK_DATA", raising=False)
    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))
    monkeypatch.setitem(sys.modules, "textattack", None)  # `import textattack` now fails
    with pytest.raises(RobustestError, match=r"pip install 'robustest\[textattack\]'"):
        prepare_textattack(tmp_path)


def test_prepare_textattack_offline_in_a_fresh_process(tmp_path):
    """A fresh cache, no NLTK stopwords anywhere we control, a umask that makes folders
    group-writable (which NLTK refuses): the adapter module imports without TextAttack,
    and prepare_textattack writes our list where NLTK reads it, then imports TextAttack."""
    code = textwrap.dedent(
        """
        import os, stat, sys
        os.umask(0o002)
        import robustest.perturb, robustest.perturb.textattack_adapter as ta
        assert "textattack" not in sys.modules
        ta.prepare_textattack()
        import nltk
        from robustest.perturb.words import english_stopwords
        assert set(nltk.corpus.stopwords.words("english")) == english_stopwords()
        path = ta.install_stopwords()
        assert path.is_file() and not path.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        print(path)
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("ROBUSTEST_NLTK_DATA", "NLTK_DATA")}
    env["ROBUSTEST_CACHE_DIR"] = str(tmp_path / "cache")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == str(tmp_path / "cache" / "nltk_data" / "corpora" / "stopwords" / "english")


def test_a_textattack_transformation_as_a_strategy_shrinks_to_its_first_candidate():
    from hypothesis import find
    from textattack.transformations import WordSwapRandomCharacterDeletion

    from robustest import strategies as rst

    query = "heat transfer in laminar flow"
    strategy = rst.textattack(WordSwapRandomCharacterDeletion(random_one=False), query)
    plan = find(strategy, lambda p: True)
    every = rst_candidates(query)
    assert len(every) == sum(len(w) for w in query.split())  # one per character: no doubled letters
    assert plan.apply(query) == min(every) and plan.transformation_name == "WordSwapRandomCharacterDeletion"
    with pytest.raises(ValueError, match="made for"):
        plan.apply("another query")


def rst_candidates(query):
    from textattack.transformations import WordSwapRandomCharacterDeletion

    from robustest.perturb.textattack_adapter import textattack_candidates

    return textattack_candidates(WordSwapRandomCharacterDeletion(random_one=False), query)
