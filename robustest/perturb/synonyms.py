"""Synonymizing: swap words for WordNet synonyms or word-embedding neighbours, as edit plans.

WordNet candidates follow TextAttack's WordSwapWordNet (re-implemented; textattack is not
imported): every lemma name of every synset NLTK finds for the word (NLTK lowercases it and
reduces it to its base forms, so "flows" also gets "flow"), keeping only names without "_"
that TextAttack's tokenizer reads as one whole word (see `is_one_word`), and dropping the
word itself. Two changes, both documented arguments or rules:

- Part of speech. NLTK's POS tagger data is a download (not on offline machines), so with
  `pos="wordnet-majority"` (the default) a word keeps only the synsets of the part of speech
  it most often has in WordNet's sense-tagged corpus (the sum of `Lemma.count()` of its own
  lemmas per POS; ties keep every tied POS). A word with no counts keeps all its synsets.
  `pos="any"` is TextAttack's rule: every synset.
- Case. A replacement takes the case of the word it replaces (lower, UPPER, Title, else as
  WordNet spells it), as TextAttack's WordSwapEmbedding does; a replacement that differs
  from the word only in case is not a synonym and is dropped.

Sampling follows TextAttack's Augmenter (pct_words_to_swap=0.1): max(int(0.1 * words), 1)
distinct words change; each step picks uniformly among all (word, replacement) pairs still
open, as the Augmenter picks uniformly among its transformed texts, so a word with more
synonyms is likelier to be picked. Stopwords and words under 3 characters never change.

The paper guards WordNet swaps with the Universal Sentence Encoder (cosine >= 0.7);
`SemanticGuard` (robustest.perturb.guard) plays that role with any encoder, by default the
embedded all-MiniLM-L6-v2.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from .base import NoLegalEdit
from .typos import MIN_WORD_LENGTH, editable_words, words_to_change
from .words import replace_words, split_words
from .guard import SemanticGuard, draw  # noqa: F401  (robustest.perturb.synonyms.SemanticGuard predates perturb.guard)

if TYPE_CHECKING:
    from ..data.glove import GloVe

FAMILY = "synonymizing"
POS_MODES = ("wordnet-majority", "any")
POS_GROUP = {"n": "n", "v": "v", "a": "a", "s": "a", "r": "r"}  # satellite adjectives are adjectives

Sampler = Callable[[str, random.Random], Any]


@dataclass(frozen=True)
class SynonymPlan:
    """Word i of the query becomes `replacement`, for each (i, replacement) in `swaps`."""

    swaps: tuple[tuple[int, str], ...]
    family = FAMILY

    def apply(self, query: str) -> str:
        words = split_words(query)
        indices = [i for i, _ in self.swaps]
        if len(set(indices)) != len(indices) or any(i >= len(words) for i in indices):
            raise ValueError(f"{self} does not fit {query!r} ({len(words)} words)")
        return replace_words(query, dict(self.swaps))

    def describe(self, query: str) -> str:
        words = split_words(query)
        return "; ".join(f"{words[i].text!r} -> {new!r}" for i, new in self.swaps)

    @property
    def group(self) -> tuple[int, ...]:
        return tuple(i for i, _ in self.swaps)


def recover_case(candidate: str, reference: str) -> str:
    """`candidate` in the case of `reference`: TextAttack's recover_word_case."""
    if reference.islower():
        return candidate.lower()
    if reference.isupper() and len(reference) > 1:
        return candidate.upper()
    if reference[:1].isupper() and reference[1:].islower():
        return candidate.capitalize()
    return candidate


def is_one_word(name: str) -> bool:
    """`name` is one whole word to TextAttack's tokenizer (our split_words). Stricter than
    TextAttack's is_one_word, which only counts words: it would also keep "etc.", "'tween"
    (30 WordNet lemma names) and GloVe tokens like "'ve", whose punctuation then splits off."""
    return [w.text for w in split_words(name)] == [name]


def keep_candidates(word: str, names) -> tuple[str, ...]:
    """The replacements TextAttack would keep, in the word's case, sorted."""
    out = {recover_case(n, word) for n in names if "_" not in n and is_one_word(n)}
    return tuple(sorted(c for c in out if c.lower() != word.lower()))


# ---- WordNet ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _wordnet():
    # Loading parses WordNet's index files (seconds): on first use, never at import.
    from ..data.wordnet import load_wordnet

    return load_wordnet()


def check_pos(pos: str) -> None:
    if pos not in POS_MODES:
        raise ValueError(f"pos={pos!r} is not a part-of-speech mode; use one of {', '.join(POS_MODES)}")


def _lemma_count(lemma) -> int:
    try:
        return lemma.count()
    except (OSError, LookupError):  # a WordNet copy without cntlist.rev has no counts
        return 0


def majority_synsets(wn, word: str, synsets: list) -> list:
    """The synsets of the POS whose senses of `word` are most frequent in WordNet's tagged
    corpus; all of them when WordNet has no counts for the word."""
    lower = word.lower()
    forms = {p: {lower, wn.morphy(lower, p)} for p in "nvar"}  # the word and its base form per POS
    counts = Counter()
    for s in synsets:
        group = POS_GROUP[s.pos()]
        counts[group] += sum(_lemma_count(l) for l in s.lemmas() if l.name().lower() in forms[group])
    best = max(counts.values(), default=0)
    if best == 0:
        return synsets
    return [s for s in synsets if counts[POS_GROUP[s.pos()]] == best]


# WordNet's answers by POS mode and word: `_STORED` from a cache table (synonym_cache.py), so a
# warm run never parses WordNet; `_LEARNED` looked up in WordNet by this process, to be stored.
_STORED: dict[str, dict[str, tuple[str, ...]]] = {}
_LEARNED: dict[str, dict[str, tuple[str, ...]]] = {}
_ATTACHED: list = []  # a table to read on the first lookup (a SynonymCache), attached by a session


def attach(table) -> None:
    """Read `table` (`table.load()` calls `remember`) when a candidate is first asked for, so a
    run that draws no synonyms pays nothing for it."""
    _ATTACHED[:] = [table]


def remember(pos: str, table: Mapping[str, Sequence[str]]) -> None:
    """Answers stored by an earlier run with the same WordNet (synonym_cache.py)."""
    check_pos(pos)
    _STORED.setdefault(pos, {}).update((w, tuple(c)) for w, c in table.items())


def learned() -> dict[str, dict[str, tuple[str, ...]]]:
    """The answers this process looked up in WordNet, by POS mode, since `forget_learned`."""
    return {pos: dict(words) for pos, words in _LEARNED.items()}


def forget_learned() -> None:
    _LEARNED.clear()


@lru_cache(maxsize=65536)
def synonym_candidates(word: str, pos: str = "wordnet-majority") -> tuple[str, ...]:
    """Every replacement the WordNet swap may write for `word`, sorted (see module docstring)."""
    check_pos(pos)
    while _ATTACHED:
        _ATTACHED.pop().load()
    stored = _STORED.get(pos, {}).get(word)
    if stored is not None:
        return stored
    wn = _wordnet()
    synsets = wn.synsets(word.lower())
    if pos == "wordnet-majority":
        synsets = majority_synsets(wn, word, synsets)
    found = keep_candidates(word, (name for s in synsets for name in s.lemma_names()))
    _LEARNED.setdefault(pos, {})[word] = found
    return found


def synonym_options(query: str, pos: str = "wordnet-majority") -> list[tuple[int, str]]:
    """Every (editable word, WordNet replacement) pair of `query`."""
    words = split_words(query)
    return [(i, c) for i in editable_words(query) for c in synonym_candidates(words[i].text, pos)]


def one_synonym_plans(query: str, pos: str = "wordnet-majority") -> list[SynonymPlan]:
    """Every single-word WordNet swap: synonymizing's one-edit neighbourhood."""
    return [SynonymPlan((option,)) for option in synonym_options(query, pos)]


# ---- sampling -----------------------------------------------------------------------------


def sample_swaps(query: str, rng: random.Random, candidates: Callable[[str], Sequence[str]], source: str) -> SynonymPlan:
    """TextAttack's Augmenter over a word swap: max(int(0.1 n), 1) distinct editable words,
    each step uniform over the open (word, replacement) pairs."""
    words = split_words(query)
    options = {i: candidates(words[i].text) for i in editable_words(query)}
    options = {i: c for i, c in options.items() if c}
    swaps = []
    while options and len(swaps) < words_to_change(query):
        i, new = rng.choice([(i, c) for i in sorted(options) for c in options[i]])
        swaps.append((i, new))
        del options[i]
    if not swaps:
        raise NoLegalEdit(
            f"no word of {query!r} has a {source} (stopwords and words under {MIN_WORD_LENGTH} letters are kept)"
        )
    return SynonymPlan(tuple(sorted(swaps)))


def sample_synonyms(query: str, rng: random.Random, pos: str = "wordnet-majority") -> SynonymPlan:
    """The paper's WordNet synonym swap (unguarded); loads WordNet on first call."""
    check_pos(pos)
    return sample_swaps(query, rng, lambda w: synonym_candidates(w, pos), "WordNet synonym")


def wordnet_sampler(pos: str = "wordnet-majority", guard: "SemanticGuard | None" = None) -> Sampler:
    check_pos(pos)

    def sampler(query: str, rng: random.Random) -> SynonymPlan:
        return sample_synonyms(query, rng, pos)

    return guard.wrap(sampler) if guard is not None else sampler


# ---- word embeddings (GloVe) --------------------------------------------------------------

@lru_cache(maxsize=2)
def _glove(vocab_size: int | None = 100_000) -> GloVe:
    from ..data.glove import load_glove  # numpy and the vectors: only when a GloVe swap is drawn

    return load_glove(vocab_size=vocab_size)


@lru_cache(maxsize=65536)
def embedding_candidates(word: str, min_cos: float = 0.8, max_candidates: int = 50, vocab_size: int | None = 100_000) -> tuple[str, ...]:
    """GloVe neighbours of `word` usable as replacements (one word, not the word itself, in its
    case), nearest first. max_candidates=50 and min_cos=0.8 are TextAttack's EmbeddingAugmenter."""
    seen, out = {word.lower()}, []
    for name, _ in _glove(vocab_size).neighbours(word, min_cos, max_candidates):
        candidate = recover_case(name, word)
        if is_one_word(name) and candidate.lower() not in seen:
            seen.add(candidate.lower())
            out.append(candidate)
    return tuple(out)


def embedding_sampler(
    min_cos: float = 0.8, max_candidates: int = 50, guard: "SemanticGuard | None" = None, vocab_size: int | None = 100_000
) -> Sampler:
    """Word-embedding swap (GloVe, see robustest.data.glove.GloVe on counter-fitting); vectors load on first call."""
    from ..data.glove import glove_files

    glove_files()  # a missing package fails here, where the sampler is built, not mid-run

    def candidates(word: str) -> tuple[str, ...]:
        return embedding_candidates(word, min_cos, max_candidates, vocab_size)

    def sampler(query: str, rng: random.Random) -> SynonymPlan:
        return sample_swaps(query, rng, candidates, f"GloVe neighbour at cosine >= {min_cos}")

    return guard.wrap(sampler) if guard is not None else sampler
