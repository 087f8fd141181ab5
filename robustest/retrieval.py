"""The core loop: encode the corpus once (cached), search, score per query.

`CorpusIndex.evaluate` is the one call the rest of robustest builds on: it takes any list of
(query id, text) pairs, e.g. every query of the dataset, or a hundred misspellings of one
query, encodes them in one batch, searches once and scores each against the qrels of its
query id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from .cache import EmbeddingCache
from .data.types import Dataset
from .errors import RobustestError
from .index import DenseSearcher
from .metrics import parse_measures, per_query
from .retrievers.vectors import encode_checked

DEFAULT_MEASURES = ("nDCG@10",)
QUERY_MEMORY = 512 * 2**20  # bytes of query vectors an index keeps


@dataclass
class Evaluation:
    """Scores for a list of queries, aligned with the input order (ids may repeat)."""

    qids: list[str]
    texts: list[str]
    runs: list[dict[str, float]]  # per query: doc id -> score, best first
    scores: dict[str, np.ndarray]  # measure -> one value per query

    def mean(self, measure: str) -> float:
        values = self.scores[measure]
        return float(values.mean()) if len(values) else 0.0

    def aggregate(self) -> dict[str, float]:
        return {m: self.mean(m) for m in self.scores}

    def by_query(self, measure: str) -> dict[str, float]:
        return dict(zip(self.qids, map(float, self.scores[measure])))

    def __repr__(self) -> str:
        # Sizes and means only: the default dataclass repr would print every text and run.
        parts = [f"{len(self.qids):,} queries", *(f"{m}={self.mean(m):.3f}" for m in self.scores)]
        return f"Evaluation({', '.join(parts)})"


def depth_needed(measures: Iterable[str], k: int) -> int:
    """How deep the runs must go: the largest cutoff when every measure has one (nDCG@10
    needs 10 documents, not 1000), else k. Scoring 1000 documents per query dominates
    the time of a perturbation run otherwise."""
    cutoffs = [m.params.get("cutoff") for m in parse_measures(measures)]
    return min(k, max(cutoffs)) if cutoffs and all(cutoffs) else k


def clip(name: str, width: int = 60) -> str:
    """A name that fits a repr (a local model's name is its full path)."""
    return name if len(name) <= width else "..." + name[-(width - 3):]


class CorpusIndex:
    def __init__(
        self,
        retriever,
        dataset: Dataset,
        *,
        cache: EmbeddingCache | None = None,
        k: int = 1000,
        use_gpu: bool = False,
        exclude_self_matches: bool | None = None,
    ):
        self.retriever = retriever
        self.dataset = dataset
        self.cache = cache or EmbeddingCache(None)
        self.k = k
        self.use_gpu = use_gpu
        self.exclude_self_matches = dataset.exclude_self_matches if exclude_self_matches is None else exclude_self_matches
        self.cache_hit: bool | None = None  # set once the corpus is indexed
        self.cache_path = None
        self.embeddings: np.ndarray | None = None  # the corpus vectors (memory-mapped when cached)
        self._searcher = None
        # Query text -> vector: a session asks for the same texts again and again (the clean
        # queries in every property example, a deterministic family under every seed).
        self._query_vectors: dict[str, np.ndarray] = {}
        self._query_bytes = 0

    def __repr__(self) -> str:
        # Never the texts or vectors; the dimension is known without encoding anything.
        dim = self.embeddings.shape[1] if self.embeddings is not None else getattr(self.retriever, "dimension", None)
        sizes = f"{len(self.dataset.doc_ids):,} docs" + (f", dim {dim}" if dim is not None else "") + f", k={self.k}"
        return f"CorpusIndex({clip(self.retriever.name)} on {clip(self.dataset.name)}: {sizes})"

    @property
    def searcher(self):
        if self._searcher is None:
            self._searcher = self._build()
        return self._searcher

    def _build(self):
        documents = self.dataset.documents
        if hasattr(self.retriever, "build_searcher"):  # lexical: no vectors to cache
            return self.retriever.build_searcher(documents)
        parts = {"retriever": self.retriever.fingerprint, "corpus": self.dataset.corpus_fingerprint}
        what = f"{len(documents):,} documents with {self.retriever.name}"
        dim = getattr(self.retriever, "dimension", None)
        shape = (len(documents), dim) if isinstance(dim, int) else None  # an entry of another shape is damage
        result = self.cache.load_or_compute(parts, lambda: self._encode_corpus(documents), what=what, shape=shape)
        self.cache_hit, self.cache_path, self.embeddings = result.hit, result.path, result.array
        return DenseSearcher(result.array, self.retriever.similarity, use_gpu=self.use_gpu)

    def _encode_corpus(self, documents: list[str]) -> np.ndarray:
        # Checked here, inside the cache's compute: bad vectors raise before anything is saved.
        return encode_checked(self.retriever, "encode_documents", documents, self.dataset.doc_ids)

    def retrieve(self, queries: Sequence[tuple[str, str]], k: int | None = None) -> list[dict[str, float]]:
        """Top-k documents for each (query id, text), best first (k defaults to the index's)."""
        k = self.k if k is None else k
        texts = [text for _, text in queries]
        self_match = self.exclude_self_matches
        excluded = self.dataset.excluded_docs  # per query, e.g. BRIGHT's excluded_ids
        none: frozenset[str] = frozenset()
        # Search deep enough that k documents remain after the exclusions.
        extra = int(self_match) + max((len(excluded.get(qid, none)) for qid, _ in queries), default=0)
        if isinstance(self.searcher, DenseSearcher):
            scores, indices = self.searcher.search(self.query_vectors(queries), k + extra)
        else:
            scores, indices = self.searcher.search(texts, k + extra)
        doc_ids = self.dataset.doc_ids
        runs = []
        for (qid, _), row_scores, row_indices in zip(queries, scores, indices):
            run = {}
            skip = excluded.get(qid, none)
            for score, index in zip(row_scores, row_indices):
                if index < 0:  # FAISS pads with -1 when k exceeds the corpus
                    continue
                doc_id = doc_ids[index]
                if self_match and doc_id == qid:  # BEIR: a document never answers itself (ArguAna, Quora)
                    continue
                if doc_id in skip:
                    continue
                run[doc_id] = float(score)
            runs.append(dict(list(run.items())[:k]))
        return runs

    def runs_at_depth(self, evaluation: Evaluation, k: int) -> list[dict[str, float]]:
        """The evaluation's runs when they reach k documents, else its queries retrieved again
        k deep (scored runs stop at the measure's cutoff)."""
        if min((len(r) for r in evaluation.runs), default=0) >= k:
            return evaluation.runs
        return self.retrieve(list(zip(evaluation.qids, evaluation.texts)), k=k)

    def query_vectors(self, queries: Sequence[tuple[str, str]]) -> np.ndarray:
        """The vectors of (query id, text) pairs; each distinct text is encoded once per index,
        in one batch with the other new texts, and kept (up to QUERY_MEMORY bytes)."""
        first_id: dict[str, str] = {}
        for qid, text in queries:
            if text not in self._query_vectors:
                first_id.setdefault(text, qid)
        if first_id:
            new = encode_checked(self.retriever, "encode_queries", list(first_id), list(first_id.values()), dimension=self.searcher.dimension)
            fresh = dict(zip(first_id, new))
            if self._query_bytes + new.nbytes <= QUERY_MEMORY:
                self._query_vectors.update(fresh)
                self._query_bytes += new.nbytes
        else:
            fresh = {}
        rows = [fresh[text] if text in fresh else self._query_vectors[text] for _, text in queries]
        return np.stack(rows) if rows else np.zeros((0, self.searcher.dimension), dtype=np.float32)

    def evaluate(
        self,
        queries: Sequence[tuple[str, str]] | Mapping[str, str] | None = None,
        measures: Iterable[str] = DEFAULT_MEASURES,
    ) -> Evaluation:
        """Retrieve and score; `queries` defaults to the dataset's own queries."""
        if queries is None:
            queries = self.dataset.queries
        pairs = list(queries.items()) if isinstance(queries, Mapping) else [tuple(q) for q in queries]
        unknown = sorted({qid for qid, _ in pairs if qid not in self.dataset.qrels})
        if unknown:
            raise RobustestError(f"query ids without judgements in {self.dataset.name}: {', '.join(unknown[:5])}")
        measures = list(measures)
        runs = self.retrieve(pairs, depth_needed(measures, self.k))
        # ir-measures scores each run under its own id; positions keep repeated query ids apart.
        keys = [str(i) for i in range(len(pairs))]
        qrels = {key: self.dataset.qrels[qid] for key, (qid, _) in zip(keys, pairs)}
        values = per_query(qrels, dict(zip(keys, runs)), measures)
        scores = {m: np.array([values[m][key] for key in keys], dtype=np.float64) for m in measures}
        return Evaluation([q for q, _ in pairs], [t for _, t in pairs], runs, scores)
