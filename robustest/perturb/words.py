"""Words of a query, with their character spans, split the way TextAttack splits them.

TextAttack (which the paper's perturbations were built on) splits on whitespace, trims
`'-_*@` from word ends and keeps runs of word characters plus those five inside a word.
Keeping the spans lets an edit replace one word and leave the rest of the query, its
punctuation and spacing included, exactly as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..stopwords import english_stopwords  # noqa: F401  (robustest.perturb.english_stopwords, as before)

INNER = "'-_*@"
WORD = re.compile(r"[\w'\-_*@]+")


@dataclass(frozen=True)
class Word:
    text: str
    start: int
    end: int


@lru_cache(maxsize=4096)
def split_words(query: str) -> tuple[Word, ...]:
    found = []
    for chunk in re.finditer(r"\S+", query):
        for match in WORD.finditer(chunk.group()):
            text = match.group()
            left = len(text) - len(text.lstrip(INNER))
            text = text.strip(INNER)
            if text:
                start = chunk.start() + match.start() + left
                found.append(Word(text, start, start + len(text)))
    return tuple(found)


def replace_words(query: str, replacements: dict[int, str]) -> str:
    """The query with word i replaced by `replacements[i]`, everything else untouched."""
    words = split_words(query)
    beyond = sorted(i for i in replacements if not 0 <= i < len(words))
    if beyond:  # a plan made for another query: say so, not IndexError
        raise ValueError(f"word {beyond[0]} is not among the {len(words)} words of {query!r}")
    out, cursor = [], 0
    for i in sorted(replacements):
        out += [query[cursor : words[i].start], replacements[i]]
        cursor = words[i].end
    out.append(query[cursor:])
    return "".join(out)


def drop_words(query: str, indices: set[int]) -> str:
    """The query without the given words; whitespace runs left behind collapse to one space."""
    return " ".join(replace_words(query, {i: "" for i in indices}).split())




def is_protected(word: str, stopwords: frozenset[str], min_length: int) -> bool:
    """TextAttack's StopwordModification + MinWordLength: stopwords (matched case-sensitively,
    as TextAttack does) and words shorter than `min_length` are never edited."""
    return word in stopwords or len(word) < min_length
