"""The semantic guard: a variant counts only if an encoder still finds it close to the query.

The paper keeps a WordNet swap only when the Universal Sentence Encoder gives it cosine >= 0.7
with the original. `SemanticGuard` plays that role with any encoder: `GuardModel` loads any
retriever spec on first use (`--robustest-guard-model`, default the embedded
all-MiniLM-L6-v2). The guard should be independent of the retriever under test: one built on
the tested model keeps exactly the variants that model already finds close, so the family's
drop rate reads low. When they are the same model, `share_vectors` lets the guard read and
fill the corpus index's query vectors instead of loading and running the model twice.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Mapping, Sequence

from .base import NoLegalEdit, rng_for

Sampler = Callable[[str, random.Random], Any]


class GuardModel:
    """A retriever spec resolved now (cheap) and loaded on first encode."""

    def __init__(self, spec: str, options):
        from ..retrievers.resolve import resolve_retriever

        self.spec = spec
        self.options = options
        self.resolution = resolve_retriever(spec, options)
        self._model = None

    def __repr__(self) -> str:
        return f"GuardModel({self.label})"

    @property
    def label(self) -> str:
        return self.resolution.label

    @property
    def fingerprint(self) -> str | None:
        """The encoder's fingerprint, known before loading for Hugging Face models."""
        if self._model is not None:
            return getattr(self._model, "fingerprint", None)
        return self.resolution.fingerprint(self.options)

    @property
    def model(self):
        if self._model is None:
            self._model = self.resolution.load(self.options)
            if not hasattr(self._model, "encode_queries"):
                from ..errors import RobustestError

                raise RobustestError(f"--robustest-guard-model={self.spec} is lexical ({self.label}): the guard needs an encoder; pass a dense model")
        return self._model

    def encode_queries(self, texts: Sequence[str]):
        return self.model.encode_queries(texts)


class IndexQueries:
    """The query vectors of a corpus index as an encoder: the guard and the retrieval share
    one memo when the guard's model is the retriever under test."""

    def __init__(self, index, label: str):
        self.index = index
        self.label = label

    def encode_queries(self, texts: Sequence[str]):
        return self.index.query_vectors([("(guard)", t) for t in texts])


class SemanticGuard:
    """Keep a variant only if it stays close to the original query in an encoder's space.

    `encoder` is anything with `encode_queries(texts) -> np.ndarray` (every robustest
    retriever, a GuardModel). For each query the wrapped sampler draws `tries` plans, encodes
    the original and the variants in one batch, and keeps the first plan whose variant has
    cosine >= `threshold`; plans looked at before it count as rejected. NoLegalEdit when none
    passes.
    """

    MEMORY = 200_000  # texts whose unit vectors are kept (~300 MB at dimension 384)

    def __init__(self, encoder, threshold: float = 0.7, tries: int = 10):
        if tries < 1:
            raise ValueError(f"tries={tries} must be at least 1")
        self.encoder = encoder
        self.threshold = threshold
        self.tries = tries
        self.accepted = 0
        self.rejected = 0
        self.is_retriever_under_test = False  # set by share_vectors
        # text -> unit vector: each seed re-scores the same originals, and one batch for a
        # whole query set beats a small batch per query by an order of magnitude on a CPU.
        self._vectors: dict = {}

    @classmethod
    def default(cls, threshold: float = 0.7, tries: int = 10) -> "SemanticGuard":
        """A guard on the embedded all-MiniLM-L6-v2 (loads in a few seconds, on first use)."""
        from ..retrievers.resolve import LoadOptions

        return cls(GuardModel("default", LoadOptions(progress=False)), threshold, tries)

    @property
    def label(self) -> str:
        """The guard's model, for headers and run files."""
        return getattr(self.encoder, "label", None) or getattr(self.encoder, "name", None) or type(self.encoder).__name__

    @property
    def fingerprint(self) -> str | None:
        return getattr(self.encoder, "fingerprint", None)

    def share_vectors(self, index) -> None:
        """The guard's model is `index`'s retriever: encode through the index's query memo."""
        self.encoder = IndexQueries(index, self.label)
        self.is_retriever_under_test = True

    def describe(self) -> dict:
        return {
            "model": self.label,
            "fingerprint": self.fingerprint,
            "threshold": self.threshold,
            "is_retriever_under_test": self.is_retriever_under_test,
            "accepted": self.accepted,
            "rejected": self.rejected,
        }

    @property
    def rejection_rate(self) -> float:
        """Share of the plans looked at that were rejected; nan before any was."""
        seen = self.accepted + self.rejected
        return self.rejected / seen if seen else float("nan")

    def prefetch(self, texts: Sequence[str]) -> None:
        """Encode, in one batch, every text of `texts` not encoded yet."""
        import numpy as np

        new = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if not new:
            return
        if len(self._vectors) + len(new) > self.MEMORY:
            self._vectors.clear()
        vectors = np.asarray(self.encoder.encode_queries(new), dtype=np.float64)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        self._vectors.update(zip(new, vectors))

    def cosines(self, original: str, variants: Sequence[str]):
        """Cosine of each variant with the original, in the encoder's space."""
        import numpy as np

        self.prefetch([original, *variants])
        if not variants:
            return np.zeros(0)
        return np.stack([self._vectors[v] for v in variants]) @ self._vectors[original]

    def keep_close(self, items: Sequence[tuple[str, Sequence[str]]]) -> list:
        """For each (original, variants): which variants stay at cosine >= threshold; all
        texts encoded in one batch."""
        self.prefetch([t for original, variants in items for t in (original, *variants)])
        return [self.cosines(original, variants) >= self.threshold for original, variants in items]

    def draws_to_score(self, queries: Mapping[str, str], family: str, seed: int, sampler: Sampler) -> list[str]:
        """Every text `wrap(sampler)` will score for one seed of the protocol (the same draws:
        the same per-query generators)."""
        texts = []
        for qid in sorted(queries):
            try:
                plans = draw(sampler, queries[qid], rng_for(seed, family, qid), self.tries)
            except NoLegalEdit:
                continue
            texts += [queries[qid], *(p.apply(queries[qid]) for p in plans)]
        return texts

    def prefetch_draws(self, queries: Mapping[str, str], family: str, seeds: int | Sequence[int], sampler: Sampler) -> None:
        """Encode in one batch every text `wrap(sampler)` will score for these seeds, so that
        it then only looks vectors up."""
        seeds = [seeds] if isinstance(seeds, int) else seeds
        self.prefetch([t for seed in seeds for t in self.draws_to_score(queries, family, seed, sampler)])

    def wrap(self, sampler: Sampler) -> Sampler:
        def guarded(query: str, rng: random.Random):
            plans = draw(sampler, query, rng, self.tries)
            texts = sorted({p.apply(query) for p in plans})  # encode each distinct variant once
            score = dict(zip(texts, self.cosines(query, texts)))
            for plan in plans:
                if score[plan.apply(query)] >= self.threshold:
                    self.accepted += 1
                    return plan
                self.rejected += 1
            raise NoLegalEdit(f"none of {len(plans)} variants of {query!r} kept cosine >= {self.threshold} with it")

        guarded.guard = self
        guarded.unguarded = sampler
        return guarded


def draw(sampler: Sampler, query: str, rng: random.Random, tries: int) -> list:
    """Up to `tries` plans; NoLegalEdit only when not even the first can be drawn."""
    plans = [sampler(query, rng)]
    for _ in range(tries - 1):
        try:
            plans.append(sampler(query, rng))
        except NoLegalEdit:
            break
    return plans
