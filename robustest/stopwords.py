"""robustest's English stopword list, shipped as data: what typos and swaps leave alone,
what naturalizing drops, and what the GloVe-average retriever leaves out."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def english_stopwords() -> frozenset[str]:
    """NLTK's current English list (198 words)."""
    text = resources.files("robustest").joinpath("resources/stopwords_en.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())
