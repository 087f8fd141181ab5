"""Human misspellings: the errors people make, not the keys they hit by accident.

For a word with entries in a published list of real misspellings (the English list nlpaug
ships, from Belinkov & Bisk's natural noise collected from Wikipedia edit histories; the
`human` extra installs it), one of them. For any other word, one error of a kind people make,
drawn with the weights estimated from that same list; within a kind, each candidate weighs as
often as people make that letter edit (a confusion table counted from the list's one-edit pairs,
after Kernighan, Church & Gale's noisy channel) and err at that place in a word (rarely the first
letter) (`resources/human_typo_mix.json`, rebuilt by benchmarks/estimate_human_typo_mix.py):

    vowel       a confusable vowel, or ie <-> ei            separate -> seperate, receive -> recieve
    doubling    a consonant doubled or undoubled            accommodate -> accomodate, until -> untill
    dropped     a consonant left out                        environment -> enviroment
    transposed  two neighbouring letters swapped            their -> thier
    silent      a silent letter dropped                     knowledge -> nowledge, climb -> clim
    suffix      a common suffix confusion                   responsible -> responsable
    real_word   one edit that lands on another word,        from -> form, lose -> loose
                weighted by how common that word is (wordfreq)
    keyboard    a QWERTY neighbour in place of a letter     (the paper's qwerty operator)

Words to change, and which words may change, follow the misspelling family (the paper's ~10%,
no stopwords, at least 3 letters), so the two families differ only in how a word is misspelt.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .base import NoLegalEdit
from .words import replace_words, split_words

KINDS = ("vowel", "doubling", "dropped", "transposed", "silent", "suffix", "real_word", "keyboard")
VOWELS = {"a": "e", "e": "ai", "i": "ey", "o": "ua", "u": "o", "y": "i"}
SILENT = (("wh", "w"), ("gh", "g"), ("rh", "r"), ("kn", "n"), ("mb", "m"), ("wr", "r"), ("gn", "n"), ("ps", "s"), ("mn", "m"))
SUFFIXES = (
    ("able", "ible"), ("ible", "able"), ("ance", "ence"), ("ence", "ance"), ("ant", "ent"), ("ent", "ant"),
    ("ancy", "ency"), ("ency", "ancy"), ("ise", "ize"), ("ize", "ise"), ("tion", "sion"), ("sion", "tion"),
    ("ful", "full"), ("ly", "ley"), ("er", "or"), ("or", "er"), ("ar", "er"), ("al", "le"), ("ary", "ery"), ("ery", "ary"),
)
CONSONANTS = set("bcdfghjklmnpqrstvwxz")
REAL_WORD_ZIPF = 3.0  # a word seen at least once per million words counts as a word (wordfreq's Zipf scale)
LIST_PACKAGE, LIST_FILE = "nlpaug", "res/word/spelling/spelling_en.txt"
INSTALL = "pip install 'robustest[human]' (nlpaug's list of real misspellings and wordfreq)"


class MissingHumanModel(RuntimeError):
    """The list of real misspellings or the word frequencies are not installed."""


@lru_cache(maxsize=1)
def misspelling_list() -> dict[str, tuple[str, ...]]:
    """Correct word (lowercase) -> its real misspellings, from nlpaug's list (read from the
    installed package's files; nlpaug itself is not imported)."""
    import importlib.util

    spec = importlib.util.find_spec(LIST_PACKAGE)
    path = Path(list(spec.submodule_search_locations)[0]) / LIST_FILE if spec and spec.submodule_search_locations else None
    if path is None or not path.is_file():
        raise MissingHumanModel(f"human_misspelling needs a list of real misspellings: {INSTALL}")
    return parse_list(path.read_text(encoding="utf-8"))


def parse_list(text: str) -> dict[str, tuple[str, ...]]:
    """Lines 'correct misspelling misspelling ...'; a misspelling equal to its word, or not made
    of letters, is left out."""
    found: dict[str, set[str]] = {}
    for line in text.splitlines():
        word, *wrong = line.split()
        if not word.isalpha():
            continue
        keep = {w.lower() for w in wrong if w.isalpha() and w.lower() != word.lower()}
        if keep:
            found.setdefault(word.lower(), set()).update(keep)
    return {w: tuple(sorted(v)) for w, v in found.items()}


def zipf(word: str) -> float:
    try:
        from wordfreq import zipf_frequency
    except ImportError:
        raise MissingHumanModel(f"human_misspelling weighs real-word errors by word frequency: {INSTALL}") from None
    return zipf_frequency(word, "en")


@lru_cache(maxsize=1)
def estimates() -> dict:
    """What was estimated from the list (resources/human_typo_mix.json): each kind's weight, and
    where in a word people err (`position_weights`, by tenth of the word)."""
    return json.loads(resources.files("robustest").joinpath("resources/human_typo_mix.json").read_text(encoding="utf-8"))


def mixture() -> dict[str, float]:
    return {k: float(estimates()["weights"][k]) for k in KINDS}


POSITION_BINS = 10


def first_difference(word: str, other: str) -> int:
    return next((i for i, (a, b) in enumerate(zip(word, other)) if a != b), min(len(word), len(other)))


def position_bin(word: str, other: str) -> int:
    """Which tenth of `word` the first difference from `other` falls in."""
    return min(POSITION_BINS * first_difference(word, other) // max(len(word), 1), POSITION_BINS - 1)


def where_weight(word: str, other: str) -> float:
    """How often people err at that place of a word, relative to elsewhere (rarely the first letter)."""
    return float(estimates()["position_weights"][position_bin(word, other)])


def single_edit(word: str, other: str) -> tuple[str, str, str] | None:
    """The one edit that makes `other` of `word`, as a confusion-table key, or None when it
    takes more: ("del", before, x) x left out after `before`; ("ins", before, y) y put in after
    `before`; ("sub", x, y) y typed for x; ("trans", x, y) xy typed as yx. "^" is the word's start."""
    if len(other) == len(word) - 1:
        i = first_difference(word, other)
        return ("del", ("^" + word)[i], word[i]) if word[:i] + word[i + 1 :] == other else None
    if len(other) == len(word) + 1:
        i = first_difference(word, other)
        return ("ins", ("^" + other)[i], other[i]) if other[:i] + other[i + 1 :] == word else None
    if len(other) == len(word):
        diff = [i for i, (a, b) in enumerate(zip(word, other)) if a != b]
        if len(diff) == 1:
            return ("sub", word[diff[0]], other[diff[0]])
        i = diff[0] if diff else 0
        if len(diff) == 2 and diff[1] == i + 1 and word[i] == other[i + 1] and word[i + 1] == other[i]:
            return ("trans", word[i], word[i + 1])
    return None


def edit_context(edit: tuple[str, str, str]) -> str:
    """The letters of a correct word an edit needs: two for a deletion or transposition, the
    one before for an insertion, the one replaced for a substitution (Kernighan, Church & Gale's
    normalisation)."""
    kind, x, y = edit
    return x + y if kind in ("del", "trans") else x


def channel_weight(word: str, other: str) -> float:
    """How often people make the one edit that turns `word` into `other`, per chance to make it,
    from the list's confusion counts (add-half smoothing: an edit never seen is rare, not
    impossible). An edit of several letters (some suffix confusions) weighs as one edit seen
    once in a letter's worth of chances (`several`)."""
    edit = single_edit(word, other)
    table = estimates()["channel"]
    if edit is None:
        return table["several"]
    made = table["edits"].get(" ".join(edit), 0)
    return (made + 0.5) / (table["letters"].get(edit_context(edit), 0) + 1)


# -- the kinds: every misspelling of a word each one can make ---------------------------------


def vowel_errors(word: str) -> set[str]:
    """A confusable vowel in place of a vowel, or ie <-> ei."""
    out = set()
    for i, c in enumerate(word):
        for other in VOWELS.get(c, ""):
            out.add(word[:i] + other + word[i + 1 :])
    for pair, swapped in (("ie", "ei"), ("ei", "ie")):
        for m in re.finditer(pair, word):
            out.add(word[: m.start()] + swapped + word[m.end() :])
    return out - {word}


def doubling_errors(word: str) -> set[str]:
    out = set()
    for i, c in enumerate(word):
        if c not in CONSONANTS:
            continue
        if i + 1 < len(word) and word[i + 1] == c:
            out.add(word[:i] + word[i + 1 :])  # undoubled
        elif 0 < i and (i + 1 == len(word) or word[i + 1] != c) and word[i - 1] != c:
            out.add(word[: i + 1] + c + word[i + 1 :])  # doubled
    return out - {word}


def silent_errors(word: str) -> set[str]:
    out = {word[:-1]} if len(word) > 3 and word.endswith("e") and word[-2] in CONSONANTS else set()
    for pair, kept in SILENT:
        for m in re.finditer(pair, word):
            out.add(word[: m.start()] + kept + word[m.end() :])
    return out - {word}


def suffix_errors(word: str) -> set[str]:
    return {word[: -len(a)] + b for a, b in SUFFIXES if word.endswith(a) and len(word) > len(a) + 2} - {word}


def one_edits(word: str) -> set[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + c + b[1:] for a, b in splits if b for c in letters}
    out |= {a + c + b for a, b in splits for c in letters}
    return out - {word}


@lru_cache(maxsize=4096)
def real_word_errors(word: str) -> dict[str, float]:
    """Other words one edit away, each with its frequency (10 ** Zipf), for a weighted draw."""
    return {w: 10 ** z for w in sorted(one_edits(word)) if (z := zipf(w)) >= REAL_WORD_ZIPF}


def operator_errors(op: str):
    """Every word one of the paper's operators (robustest.perturb.typos) makes of a word."""
    from .typos import variants

    return lambda word: variants(word, op) - {word}


def dropped_consonants(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i, c in enumerate(word) if c in CONSONANTS} - {word}


GENERATED = {
    "vowel": vowel_errors, "doubling": doubling_errors, "dropped": dropped_consonants, "transposed": operator_errors("neighbor_swap"),
    "silent": silent_errors, "suffix": suffix_errors, "keyboard": operator_errors("qwerty"),
}


def errors_of(word: str, kind: str) -> list[str]:
    """Every misspelling of the lowercase `word` that `kind` makes, sorted."""
    if kind == "real_word":
        return sorted(real_word_errors(word))
    return sorted(GENERATED[kind](word))


def classify(correct: str, wrong: str) -> str:
    """Which kind made `wrong` of `correct` (the first that can, in KINDS order, real words
    first), or "other" (several edits at once). How the mixture is estimated."""
    correct, wrong = correct.lower(), wrong.lower()
    if wrong in one_edits(correct) and zipf(wrong) >= REAL_WORD_ZIPF:
        return "real_word"
    for kind in ("suffix", "silent", "doubling", "transposed", "vowel", "dropped", "keyboard"):
        if wrong in GENERATED[kind](correct):
            return kind
    return "other"


# -- the plan and the sampler ---------------------------------------------------------------


@dataclass(frozen=True)
class HumanTypo:
    word: int  # index among the query's words
    original: str
    typo: str
    kind: str  # "listed" or one of KINDS


@dataclass(frozen=True)
class HumanTypoPlan:
    edits: tuple[HumanTypo, ...]

    def apply(self, query: str) -> str:
        words = split_words(query)
        for e in self.edits:
            if e.word >= len(words) or words[e.word].text != e.original:
                raise ValueError(f"this misspelling of {e.original!r} was made for another query, not {query!r}")
        return replace_words(query, {e.word: e.typo for e in self.edits})

    def describe(self, query: str) -> str:
        return "; ".join(f"{e.kind} {e.original!r} -> {e.typo!r}" for e in self.edits)


def cased(template: str, word: str) -> str:
    """`word` in the case of `template` (Title, UPPER or lower)."""
    if template.isupper() and len(template) > 1:
        return word.upper()
    return word[:1].upper() + word[1:] if template[:1].isupper() else word


def misspell_word(word: str, rng: random.Random) -> tuple[str, str] | None:
    """(misspelling, kind) of one word, or None when no kind can change it."""
    key = word.lower()
    listed = misspelling_list().get(key)
    if listed:
        return cased(word, rng.choice(listed)), "listed"
    weights = mixture()
    options = [(kind, errors_of(key, kind)) for kind in KINDS]
    options = [(kind, found) for kind, found in options if found and weights[kind] > 0]
    if not options:
        return None
    kind, found = rng.choices(options, weights=[weights[k] for k, _ in options])[0]
    frequency = real_word_errors(key) if kind == "real_word" else {}
    likely = [where_weight(key, w) * channel_weight(key, w) * frequency.get(w, 1.0) for w in found]
    typo = rng.choices(found, weights=likely)[0]
    return cased(word, typo), kind


def sample_human_typos(query: str, rng: random.Random) -> HumanTypoPlan:
    """The human_misspelling family's sampler: as many words as the misspelling family changes
    (the paper's ~10%, at least one), chosen uniformly among the editable ones, each misspelt
    the way people misspell it."""
    from .typos import editable_words, words_to_change

    words = split_words(query)
    candidates = editable_words(query)
    rng.shuffle(candidates)
    edits = []
    for i in candidates:
        if len(edits) == words_to_change(query):
            break
        made = misspell_word(words[i].text, rng)
        if made is not None and made[0] != words[i].text:
            edits.append(HumanTypo(i, words[i].text, *made))
    if not edits:
        raise NoLegalEdit(f"no word of {query!r} can be misspelt (only stopwords or words under 3 letters)")
    return HumanTypoPlan(tuple(sorted(edits, key=lambda e: e.word)))


def one_human_typo_plans(query: str) -> list[HumanTypoPlan]:
    """Every plan one human misspelling away, listed ones first, then by kind: the worst-case
    search's neighbourhood."""
    from .typos import editable_words

    words = split_words(query)
    plans = []
    for i in editable_words(query):
        text, key = words[i].text, words[i].text.lower()
        seen = set()
        for kind, found in (("listed", misspelling_list().get(key, ())), *((k, errors_of(key, k)) for k in KINDS)):
            for typo in found:
                typo = cased(text, typo)
                if typo != text and typo not in seen:
                    seen.add(typo)
                    plans.append(HumanTypoPlan((HumanTypo(i, text, typo, kind),)))
    return plans
