"""Word-level perturbations: reordering and naturalizing (the paper), and the noise of real
queries beyond it: case, punctuation, whitespace. Each is a plan (a frozen value) with a
pure `apply` and a seeded sampler that raises NoLegalEdit when the query offers nothing."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from .base import NoLegalEdit
from .typos import editable_words, words_to_change
from .words import drop_words, english_stopwords, replace_words, split_words


@dataclass(frozen=True)
class SwapPlan:
    """Reordering: each pair of word positions exchanges its words (TextAttack's WordInnerSwapRandom)."""

    pairs: tuple[tuple[int, int], ...]
    family = "reordering"

    def apply(self, query: str) -> str:
        words = [w.text for w in split_words(query)]
        for i, j in self.pairs:
            if max(i, j) >= len(words) or i == j:
                raise ValueError(f"cannot swap words {i} and {j} of {query!r}")
            words[i], words[j] = words[j], words[i]
        return replace_words(query, dict(enumerate(words)))

    def describe(self, query: str) -> str:
        words = split_words(query)
        return "; ".join(f"swap {words[i].text!r} and {words[j].text!r}" for i, j in self.pairs)

    @property
    def group(self) -> tuple[int, ...]:
        return tuple(i for i, _ in self.pairs)


def swap_pairs(query: str) -> list[tuple[int, int]]:
    """Every (editable word, other word) pair whose exchange changes the query."""
    words = [w.text for w in split_words(query)]
    return [(i, j) for i in editable_words(query) for j in range(len(words)) if j != i and words[j] != words[i]]


def swap_plans(query: str) -> list[SwapPlan]:
    """Every single exchange, each unordered pair once: reordering's one-edit neighbourhood."""
    seen: set[frozenset] = set()
    return [SwapPlan(((i, j),)) for i, j in swap_pairs(query) if not (frozenset((i, j)) in seen or seen.add(frozenset((i, j))))]


def sample_swap(query: str, rng: random.Random) -> SwapPlan:
    """Swap an editable word with a random other word, until max(int(0.1 n), 1) words moved."""
    words = [w.text for w in split_words(query)]
    candidates = editable_words(query)
    pairs, moved = [], set()
    while len(moved) < words_to_change(query):
        options = [(i, j) for i in candidates if i not in moved for j in range(len(words)) if j != i and j not in moved and words[j] != words[i]]
        if not options:
            break
        i, j = rng.choice(options)
        pairs.append((i, j))
        moved |= {i, j}
    if not pairs:
        raise NoLegalEdit(f"no two different words of {query!r} can swap (stopwords and words under 3 letters stay)")
    return SwapPlan(tuple(pairs))


@dataclass(frozen=True)
class NaturalizePlan:
    """Naturalizing: lowercase the query and drop its stopwords (these word positions)."""

    dropped: tuple[int, ...]
    family = "naturalizing"

    def apply(self, query: str) -> str:
        return drop_words(query, set(self.dropped)).lower()

    def describe(self, query: str) -> str:
        words = split_words(query)
        return f"lowercase, drop {', '.join(repr(words[i].text) for i in self.dropped) or 'no words'}"


def plan_naturalize(query: str, rng: random.Random | None = None) -> NaturalizePlan:
    """Deterministic: the rng is accepted only so every family samples alike."""
    stop = english_stopwords()
    words = split_words(query)
    dropped = tuple(i for i, w in enumerate(words) if w.text.lower() in stop)
    if len(dropped) == len(words):
        raise NoLegalEdit(f"{query!r} has only stopwords: naturalizing would leave nothing")
    plan = NaturalizePlan(dropped)
    if plan.apply(query) == query:
        raise NoLegalEdit(f"{query!r} is already lowercase and has no stopwords")
    return plan


CASES = ("lower", "upper", "title")


@dataclass(frozen=True)
class CasePlan:
    mode: str
    family = "case"

    def apply(self, query: str) -> str:
        return getattr(query, self.mode)()

    def describe(self, query: str) -> str:
        return f"{self.mode}case"


def case_plans(query: str) -> list[CasePlan]:
    return [CasePlan(m) for m in CASES if getattr(query, m)() != query]


def sample_case(query: str, rng: random.Random) -> CasePlan:
    modes = [p.mode for p in case_plans(query)]
    if not modes:
        raise NoLegalEdit(f"{query!r} has no letters whose case can change")
    return CasePlan(rng.choice(modes))


PUNCTUATION = set(string.punctuation)


@dataclass(frozen=True)
class PunctuationPlan:
    """Strip ASCII punctuation as people do when they type fast: apostrophes vanish
    ("don't" -> "dont"), other marks become spaces ("stress-strain" -> "stress strain")."""

    family = "punctuation"

    def apply(self, query: str) -> str:
        text = query.replace("'", "")
        return " ".join("".join(" " if c in PUNCTUATION else c for c in text).split())

    def describe(self, query: str) -> str:
        return "remove punctuation"


def plan_punctuation(query: str, rng: random.Random | None = None) -> PunctuationPlan:
    plan = PunctuationPlan()
    if not plan.apply(query).strip() or plan.apply(query) == query:
        raise NoLegalEdit(f"{query!r} has no punctuation to remove (or is only punctuation)")
    return plan


GAPS = ("  ", "\t", "\n", " \t ")


@dataclass(frozen=True)
class WhitespacePlan:
    """Replace the whitespace after word `gap` by `fill` (tokenizers should not care)."""

    gap: int
    fill: str
    family = "whitespace"

    def apply(self, query: str) -> str:
        words = split_words(query)
        if self.gap + 1 >= len(words):
            raise ValueError(f"{query!r} has no gap after word {self.gap}")
        left, right = words[self.gap].end, words[self.gap + 1].start
        between = query[left:right]
        core = between.strip()
        return query[:left] + (core + self.fill if core else self.fill) + query[right:]

    def describe(self, query: str) -> str:
        return f"whitespace after {split_words(query)[self.gap].text!r} -> {self.fill!r}"

    @property
    def group(self) -> int:
        return self.gap


def whitespace_plans(query: str) -> list[WhitespacePlan]:
    return [WhitespacePlan(gap, fill) for gap in range(len(split_words(query)) - 1) for fill in GAPS]


def sample_whitespace(query: str, rng: random.Random) -> WhitespacePlan:
    words = split_words(query)
    if len(words) < 2:
        raise NoLegalEdit(f"{query!r} has fewer than two words: no gap to change")
    return WhitespacePlan(rng.randrange(len(words) - 1), rng.choice(GAPS))
