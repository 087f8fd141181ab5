"""BM25, the lexical baseline every dense retriever should be compared with (via bm25s)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..fingerprints import digest_json


class BM25Retriever:
    """Not a vector model: robustest asks it for a searcher over the corpus instead."""

    name = "BM25"
    similarity = "bm25"

    def __init__(self, k1: float = 1.5, b: float = 0.75):
        self.k1, self.b = k1, b

    @property
    def fingerprint(self) -> str:
        import bm25s

        return digest_json({"kind": "bm25s", "version": bm25s.__version__, "k1": self.k1, "b": self.b, "stopwords": "en"})

    def describe(self) -> dict:
        return {"name": self.name, "fingerprint": self.fingerprint, "k1": self.k1, "b": self.b}

    def build_searcher(self, documents: Sequence[str]) -> "BM25Searcher":
        import bm25s

        model = bm25s.BM25(k1=self.k1, b=self.b)
        model.index(bm25s.tokenize(list(documents), stopwords="en", show_progress=False), show_progress=False)
        return BM25Searcher(model, len(documents))


class BM25Searcher:
    def __init__(self, model, n_docs: int):
        self.model, self.n_docs = model, n_docs

    def search(self, texts: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        import bm25s

        k = min(k, self.n_docs)
        tokens = bm25s.tokenize(list(texts), stopwords="en", return_ids=False, show_progress=False)
        indices, scores = self.model.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return np.asarray(scores, dtype=np.float32), np.asarray(indices, dtype=np.int64)
