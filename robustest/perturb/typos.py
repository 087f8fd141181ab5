"""Misspelling: the six character operations of the paper, as edit plans.

The operations and their supports match TextAttack's word swaps (checked against TextAttack
itself in the tests):

    neighbor_swap  swap characters i and i+1            i in [0, len-2]
    substitute     replace character i by a letter      i in [0, len-1], a-zA-Z
    qwerty         replace character i by a QWERTY neighbour (letters only; case kept)
    delete         delete character i                   i in [0, len-1]
    insert         insert a letter before character i   i in [0, len-1], a-zA-Z
    fixed_qwerty   as qwerty, but a key without neighbours (digit, symbol) gets a random letter

An edit that would leave the word unchanged (swapping two equal letters, substituting a
letter by itself) is not a typo and is not a legal edit, as in TextAttack.
Words shorter than 3 characters and stopwords are never edited; max(int(0.1 * words), 1)
words change per query (the paper's settings).
"""

from __future__ import annotations

import random
import string
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

from .base import NoLegalEdit
from .words import english_stopwords, is_protected, replace_words, split_words

LETTERS = string.ascii_letters
# Simplest first: Hypothesis shrinks towards the first op.
OPS = ("delete", "neighbor_swap", "substitute", "insert", "qwerty", "fixed_qwerty")
CHAR_OPS = ("substitute", "insert", "qwerty", "fixed_qwerty")  # ops that choose a character
MIN_WORD_LENGTH = 3
WORD_FRACTION = 0.1

# Keys around each letter on a QWERTY keyboard, diagonals included.
QWERTY = {
    "q": "was", "w": "qeasd", "e": "wsdfr", "r": "edfgt", "t": "rfghy", "y": "tghju",
    "u": "yhjki", "i": "ujklo", "o": "iklp", "p": "ol", "a": "qwszx", "s": "qweadzx",
    "d": "werfcxs", "f": "ertgvcd", "g": "rtyhbvd", "h": "tyugjbn", "j": "yuikmnh",
    "k": "uiolmj", "l": "iopk", "z": "asx", "x": "sdzc", "c": "xdfv", "v": "cfgb",
    "b": "vghn", "n": "bhjm", "m": "njk",
}


def qwerty_neighbours(char: str) -> str:
    near = QWERTY.get(char.lower(), "")
    return near.upper() if char.isupper() else near


@dataclass(frozen=True, order=True)
class Typo:
    """One edit of one word: which word (index in the query's words), which op, where, what."""

    word: int
    op: str
    position: int
    char: str = ""


@dataclass(frozen=True)
class TypoPlan:
    edits: tuple[Typo, ...]
    family = "misspelling"

    def apply(self, query: str) -> str:
        return apply_typos(query, self)

    @property
    def group(self) -> tuple:
        """Which words and ops it edits (a worst-case sample takes each group in turn)."""
        return tuple((e.word, e.op) for e in self.edits)

    def describe(self, query: str) -> str:
        words = split_words(query)
        parts = [f"{e.op} in {words[e.word].text!r} -> {typo_word(words[e.word].text, e)!r}" for e in self.edits]
        return f"{len(self.edits)} typo{'s' if len(self.edits) != 1 else ''}: " + "; ".join(parts)


def positions(word: str, op: str) -> range:
    """Character positions `op` may edit in `word`."""
    if len(word) <= 1:
        return range(0)
    return range(len(word) - 1) if op == "neighbor_swap" else range(len(word))


def chars(word: str, op: str, position: int) -> str:
    """Characters `op` may write at `position` ("" for ops that write none)."""
    if op in ("substitute", "insert"):
        return LETTERS
    if op == "qwerty":
        return qwerty_neighbours(word[position])
    if op == "fixed_qwerty":
        return qwerty_neighbours(word[position]) or LETTERS
    return ""


def typo_word(word: str, edit: Typo) -> str:
    i, c = edit.position, edit.char
    if edit.op == "neighbor_swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if edit.op == "delete":
        return word[:i] + word[i + 1 :]
    if edit.op == "insert":
        return word[:i] + c + word[i:]
    if edit.op in ("substitute", "qwerty", "fixed_qwerty"):
        return word[:i] + c + word[i + 1 :]
    raise ValueError(f"unknown typo op {edit.op!r}; use one of {', '.join(OPS)}")


def is_legal(word: str, edit: Typo) -> bool:
    """Constant time (the sampler's hot path): the same answer as `edit in legal_edits(...)`."""
    if edit.op not in OPS or edit.position not in positions(word, edit.op):
        return False
    if edit.op in CHAR_OPS:
        if len(edit.char) != 1 or edit.char not in chars(word, edit.op, edit.position):
            return False
    elif edit.char:
        return False
    return typo_word(word, edit) != word


def _changes(word: str, op: str, i: int, c: str = "") -> bool:
    """`typo_word(word, Typo(0, op, i, c)) != word`, without building the edit."""
    if op == "neighbor_swap":
        return word[i] != word[i + 1]
    return op in ("delete", "insert") or c != word[i]


def legal_writes(word: str, op: str, i: int) -> tuple[str, ...]:
    """What `op` may write at position `i` of `word` so that the word changes ("" for an op
    that writes no character)."""
    return tuple(c for c in (chars(word, op, i) if op in CHAR_OPS else ("",)) if _changes(word, op, i, c))


def iter_legal_edits(word: str, op: str, index: int = 0) -> Iterator[Typo]:
    """Every edit of `word` by `op` that changes it, position by position, lazily."""
    for i in positions(word, op):
        for c in legal_writes(word, op, i):
            yield Typo(index, op, i, c)


def legal_edits(word: str, op: str, index: int = 0) -> list[Typo]:
    """Every edit of `word` by `op` that changes it, position by position."""
    return list(iter_legal_edits(word, op, index))


def one_typo_plans(query: str, ops: tuple[str, ...] = OPS) -> "OneTypoPlans":
    """Every plan of exactly one typo: the one-edit neighbourhood of `query` (worst_case.py),
    simplest op first, then the earliest word, position and character."""
    return OneTypoPlans(query, ops)


@lru_cache(maxsize=65536)
def _edit_offsets(word: str, op: str) -> tuple[int, ...]:
    """Legal edits of `word` by `op` before each position, and in all (the last entry)."""
    offsets = [0]
    for i in positions(word, op):
        offsets.append(offsets[-1] + len(legal_writes(word, op, i)))
    return tuple(offsets)


def nth_legal_edit(word: str, op: str, n: int, index: int = 0) -> Typo:
    """`legal_edits(word, op, index)[n]`, without listing the others."""
    offsets = _edit_offsets(word, op)
    i = bisect_right(offsets, n) - 1  # the position holding edit n
    return Typo(index, op, i, legal_writes(word, op, i)[n - offsets[i]])


class OneTypoPlans(Sequence):
    """The one-typo plans of a query as a sequence that makes a plan only when it is indexed:
    the worst-case search samples a few dozen of thousands. Its groups (one word, one op:
    `TypoPlan.group`) are contiguous; `group_ranges` lists them without making any plan."""

    def __init__(self, query: str, ops: tuple[str, ...] = OPS):
        words = split_words(query)
        self._groups = [(words[i].text, op, i) for op in ops for i in editable_words(query)]
        self._starts = [0]
        for word, op, _ in self._groups:
            self._starts.append(self._starts[-1] + _edit_offsets(word, op)[-1])

    def __len__(self) -> int:
        return self._starts[-1]

    def __getitem__(self, n):
        if isinstance(n, slice):
            return [self[j] for j in range(*n.indices(len(self)))]
        if n < 0:
            n += len(self)
        if not 0 <= n < len(self):
            raise IndexError(n)
        g = bisect_right(self._starts, n) - 1
        word, op, i = self._groups[g]
        return TypoPlan((nth_legal_edit(word, op, n - self._starts[g], i),))

    def group_ranges(self) -> list[range]:
        return [range(a, b) for a, b in zip(self._starts, self._starts[1:]) if b > a]


@lru_cache(maxsize=65536)
def has_legal_edit(word: str, op: str) -> bool:
    """`bool(legal_edits(word, op))` without listing them (up to 52 x length): stops at the first."""
    return next(iter_legal_edits(word, op), None) is not None


def variants(word: str, op: str) -> set[str]:
    """Every word `op` can make of `word` (its support)."""
    return {typo_word(word, e) for e in legal_edits(word, op)}


def editable_words(query: str, stopwords: frozenset[str] | None = None, min_length: int = MIN_WORD_LENGTH) -> list[int]:
    stopwords = english_stopwords() if stopwords is None else stopwords
    return [i for i, w in enumerate(split_words(query)) if not is_protected(w.text, stopwords, min_length)]


def words_to_change(query: str) -> int:
    return max(int(WORD_FRACTION * len(split_words(query))), 1)


def apply_typos(query: str, plan: TypoPlan) -> str:
    words = split_words(query)
    editable = set(editable_words(query))
    replacements = {}
    for edit in plan.edits:
        if edit.word not in editable or edit.word in replacements or not is_legal(words[edit.word].text, edit):
            raise ValueError(f"{edit} is not a legal edit of {query!r}")
        replacements[edit.word] = typo_word(words[edit.word].text, edit)
    return replace_words(query, replacements)


def random_edit(word: str, index: int, op: str, rng: random.Random) -> Typo | None:
    """TextAttack's random_one draw: a position uniformly, then a character uniformly; None
    when that draw changes nothing (a key without QWERTY neighbours, two equal letters)."""
    places = positions(word, op)
    if not places:
        return None
    i = rng.choice(places)
    allowed = chars(word, op, i)
    if op in CHAR_OPS and not allowed:
        return None
    edit = Typo(index, op, i, rng.choice(allowed) if allowed else "")
    return edit if typo_word(word, edit) != word else None


def sample_with_op(query: str, op: str, rng: random.Random, n_words: int | None = None) -> TypoPlan:
    """TextAttack's Augmenter with one op: edit `n_words` distinct editable words, each
    chosen uniformly among those the op can still change."""
    words = split_words(query)
    n_words = words_to_change(query) if n_words is None else n_words
    candidates = editable_words(query)
    edits = []
    while len(edits) < n_words:
        options = [e for i in candidates if (e := random_edit(words[i].text, i, op, rng)) is not None]
        if not options:
            break
        edit = rng.choice(options)
        edits.append(edit)
        candidates.remove(edit.word)
    if not edits:
        raise NoLegalEdit(f"no word of {query!r} can be misspelled by {op} (stopwords and words under {MIN_WORD_LENGTH} letters are kept)")
    return TypoPlan(tuple(sorted(edits)))


def sample_typos(query: str, rng: random.Random, ops: tuple[str, ...] = OPS) -> TypoPlan:
    """The paper's misspelling: one candidate per op, then one of the candidates."""
    plans = []
    for op in ops:
        try:
            plans.append(sample_with_op(query, op, rng))
        except NoLegalEdit:
            continue
    if not plans:
        raise NoLegalEdit(f"no word of {query!r} can be misspelled (only stopwords or words under {MIN_WORD_LENGTH} letters)")
    return rng.choice(plans)
