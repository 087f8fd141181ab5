"""Black-box corpus poisoning: passages written without gradients, and the control.

Each attack gets the same clusters and the same length budget as HotFlip (L tokens of the
retriever's tokenizer, L words for retrievers without one), so the numbers compare at equal N:

- **query copy**: a passage made of its cluster's training queries, nearest the centroid
  first, until L (what an attacker who has seen the queries can write without a model);
- **keyword stuffing**: the cluster's most frequent content words (stopwords and words under
  three letters left out), most frequent first, repeated until L;
- **random gold** (the control): the gold passage of a randomly chosen training query, cut
  (or continued with further random gold passages) to L. It is a relevant document for some
  training query, so a clearly higher ASR than this one means the attack, not the choice of
  text, made the passage rank.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

import numpy as np

from ..errors import RobustestError
from .passages import AdversarialPassage, LengthBudget
from .targets import AttackQueries, Cluster

_WORD = re.compile(r"[a-z0-9]+")


def query_copy_passages(retriever, queries: AttackQueries, clusters: Sequence[Cluster], *, tokens: int) -> list[AdversarialPassage]:
    budget = LengthBudget(retriever, tokens)
    return [
        AdversarialPassage(budget.fill([queries.train[q] for q in c.query_ids], repeat=True), "query_copy", c.index, c.query_ids)
        for c in clusters
    ]


def keywords(texts: Sequence[str]) -> list[str]:
    """Content words by frequency (ties: first seen first)."""
    from ..stopwords import english_stopwords

    stop = english_stopwords()
    counts: Counter = Counter()
    first: dict[str, int] = {}
    for text in texts:
        for word in _WORD.findall(text.lower()):
            if len(word) >= 3 and word not in stop:
                counts[word] += 1
                first.setdefault(word, len(first))
    return sorted(counts, key=lambda w: (-counts[w], first[w]))


def keyword_stuffing_passages(retriever, queries: AttackQueries, clusters: Sequence[Cluster], *, tokens: int) -> list[AdversarialPassage]:
    budget = LengthBudget(retriever, tokens)
    passages = []
    for c in clusters:
        words = keywords([queries.train[q] for q in c.query_ids]) or [queries.train[q] for q in c.query_ids]
        passages.append(AdversarialPassage(budget.fill([" ".join(words)], repeat=True), "keyword_stuffing", c.index, c.query_ids))
    return passages


def random_gold_passages(retriever, queries: AttackQueries, n: int, *, tokens: int, seed: int) -> list[AdversarialPassage]:
    """`n` passages, each the gold passage of a random training query (no query twice)."""
    with_gold = sorted(queries.gold)
    if not with_gold:
        raise RobustestError("the random-gold control needs training queries with a judged relevant document; none has one")
    rng = np.random.default_rng([int(seed) % (2**32), 7])
    order = [with_gold[i] for i in rng.permutation(len(with_gold))]
    budget = LengthBudget(retriever, tokens)
    passages = []
    for i in range(n):
        picked = order[i % len(order)]
        rest = order[i + 1 :] + order[: i + 1]  # continued with other random gold passages
        text = budget.fill([queries.gold[picked]] + [queries.gold[q] for q in rest[:20]], repeat=True)
        passages.append(AdversarialPassage(text, "random_gold", i, (picked,)))
    return passages
