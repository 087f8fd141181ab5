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

from .cache import CacheResult, EmbeddingCache
from .data.types import Dataset
from .errors import RobustestError
from .index import DenseSearcher, IndexSpec
from .metrics import parse_measures, per_query
from .retrievers.prompts import PromptedQuery, encode_query_inputs, query_text
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


def mean_recall(found: Sequence[dict], exact: Sequence[dict], k: int) -> float:
    """Mean over queries of |found top k & exact top k| / |exact top k| (runs are best first)."""
    shares = []
    for run, truth in zip(found, exact):
        top = list(truth)[:k]
        if top:  # a query whose every document is excluded has nothing to find
            shares.append(len(set(list(run)[:k]) & set(top)) / len(top))
    return float(np.mean(shares)) if shares else 1.0


def clip(name: str, width: int = 60) -> str:
    """A name that fits a repr (a local model's name is its full path)."""
    return name if len(name) <= width else "..." + name[-(width - 3):]


def documents_fingerprint(retriever) -> str:
    """What keys a retriever's corpus vectors: its `document_fingerprint` when it has one (a
    Hugging Face encoder: all but the query prompt), else its fingerprint."""
    return getattr(retriever, "document_fingerprint", None) or retriever.fingerprint


def corpus_cache_parts(fingerprint: str, dataset: Dataset) -> dict:
    """The cache key of a corpus' vectors. `robustest encode` (encode.py) fills the entry under
    this key, so the next CorpusIndex on the same retriever and corpus is a cache hit."""
    return {"retriever": fingerprint, "corpus": dataset.corpus_fingerprint}


def cached_corpus_vectors(cache: EmbeddingCache, dataset: Dataset, *, fingerprint: str, name: str, dimension, encode) -> CacheResult:
    """The corpus' vectors from `cache`, else `encode()` stored there (under the entry's lock).
    `dimension` (None when not known before encoding) makes a stored entry of another shape damage."""
    rows = len(dataset.doc_ids)
    shape = (rows, dimension) if isinstance(dimension, int) else None
    what = f"{rows:,} documents with {name}"
    return cache.load_or_compute(corpus_cache_parts(fingerprint, dataset), encode, what=what, shape=shape)


class CorpusIndex:
    def __init__(
        self,
        retriever,
        dataset: Dataset,
        *,
        cache: EmbeddingCache | None = None,
        k: int = 1000,
        use_gpu: bool | None = False,
        index: str = "flat",
        shards: int = 1,
        exclude_self_matches: bool | None = None,
    ):
        self.retriever = retriever
        self.dataset = dataset
        self.cache = cache or EmbeddingCache(None)
        self.k = k
        self.use_gpu = use_gpu  # True: on the GPU (an error without one); None: when FAISS has one
        self.index_spec = IndexSpec.parse(index)  # flat (exact), ivf or hnsw with parameters
        self.shards = shards
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
        result = cached_corpus_vectors(
            self.cache,
            self.dataset,
            fingerprint=documents_fingerprint(self.retriever),
            name=self.retriever.name,
            dimension=getattr(self.retriever, "dimension", None),
            encode=lambda: self._encode_corpus(documents),
        )
        self.cache_hit, self.cache_path, self.embeddings = result.hit, result.path, result.array
        return self._dense_searcher(self.index_spec, self.shards)

    def _dense_searcher(self, spec: IndexSpec, shards: int) -> DenseSearcher:
        return DenseSearcher(self.embeddings, self.retriever.similarity, use_gpu=self.use_gpu, index=spec, shards=shards)

    def _encode_corpus(self, documents: list[str]) -> np.ndarray:
        # Checked here, inside the cache's compute: bad vectors raise before anything is saved.
        return encode_checked(self.retriever, "encode_documents", documents, self.dataset.doc_ids)

    def retrieve(self, queries: Sequence[tuple[str, str]], k: int | None = None) -> list[dict[str, float]]:
        """Top-k documents for each (query id, text), best first (k defaults to the index's)."""
        return self._ranked(self.searcher, queries, self.k if k is None else k)

    def _ranked(self, searcher, queries: Sequence[tuple[str, str]], k: int, rows: np.ndarray | None = None) -> list[dict[str, float]]:
        """`rows`: the corpus row of each of the searcher's vectors, when it holds only some documents."""
        texts = [text for _, text in queries]
        self_match = self.exclude_self_matches
        excluded = self.dataset.excluded_docs  # per query, e.g. BRIGHT's excluded_ids
        none: frozenset[str] = frozenset()
        # Search deep enough that k documents remain after the exclusions.
        extra = int(self_match) + max((len(excluded.get(qid, none)) for qid, _ in queries), default=0)
        if isinstance(searcher, DenseSearcher):
            scores, indices = searcher.search(self.query_vectors(queries), k + extra)
        else:  # a lexical retriever has no prompt: it searches the text
            scores, indices = searcher.search([query_text(t) for t in texts], k + extra)
        doc_ids = self.dataset.doc_ids
        runs = []
        for (qid, _), row_scores, row_indices in zip(queries, scores, indices):
            run = {}
            skip = excluded.get(qid, none)
            for score, index in zip(row_scores, row_indices):
                if index < 0:  # FAISS pads with -1 when k exceeds the corpus
                    continue
                doc_id = doc_ids[index if rows is None else rows[index]]
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

    def recall_against_exact(self, queries: Sequence[tuple[str, str]], depths: Iterable[int]) -> dict[int, float]:
        """How close an approximate index comes to exact search: per depth k, the mean share of
        each query's exact top k (flat search, the same exclusions) that this index's top k
        holds. The exact index is built for this and dropped: it holds a second copy of the
        corpus vectors."""
        if not isinstance(self.searcher, DenseSearcher):
            raise RobustestError(f"{self.retriever.name} searches without vectors: there is no exact nearest-neighbour search to compare with")
        depths = sorted(set(depths))
        found = self.retrieve(queries, depths[-1])
        exact = self._ranked(self._dense_searcher(IndexSpec(), 1), queries, depths[-1])
        return {k: mean_recall(found, exact, k) for k in depths}

    def query_vectors(self, queries: Sequence[tuple[str, str | PromptedQuery]]) -> np.ndarray:
        """The vectors of (query id, text) pairs; each distinct text is encoded once per index,
        in one batch with the other new texts, and kept (up to QUERY_MEMORY bytes). A text may
        be a PromptedQuery: encoded after its own prompt (the instruction families)."""
        first_id: dict = {}
        for qid, text in queries:
            if text not in self._query_vectors:
                first_id.setdefault(text, qid)
        if first_id:
            new = encode_query_inputs(self.retriever, list(first_id), list(first_id.values()), dimension=self.searcher.dimension)
            fresh = dict(zip(first_id, new))
            if self._query_bytes + new.nbytes <= QUERY_MEMORY:
                self._query_vectors.update(fresh)
                self._query_bytes += new.nbytes
        else:
            fresh = {}
        rows = [fresh[text] if text in fresh else self._query_vectors[text] for _, text in queries]
        return np.stack(rows) if rows else np.zeros((0, self.searcher.dimension), dtype=np.float32)

    def evaluate_with(
        self,
        vectors: np.ndarray,
        rows: np.ndarray | None = None,
        queries: Sequence[tuple[str, str]] | Mapping[str, str] | None = None,
        measures: Iterable[str] = DEFAULT_MEASURES,
    ) -> Evaluation:
        """`evaluate` against other document vectors, searched exactly: row i of `vectors` is
        document `rows[i]` (every document, in order, when `rows` is None). The document
        families score a corpus some of whose documents changed, or a sample of it, this way."""
        searcher = DenseSearcher(vectors, self.retriever.similarity, use_gpu=self.use_gpu)
        return self.evaluate(queries, measures, searcher=(searcher, rows))

    def evaluate(
        self,
        queries: Sequence[tuple[str, str]] | Mapping[str, str] | None = None,
        measures: Iterable[str] = DEFAULT_MEASURES,
        *,
        searcher: tuple | None = None,
    ) -> Evaluation:
        """Retrieve and score; `queries` defaults to the dataset's own queries. `searcher`:
        (a searcher, its rows) in place of the index's own (see `evaluate_with`)."""
        if queries is None:
            queries = self.dataset.queries
        pairs = list(queries.items()) if isinstance(queries, Mapping) else [tuple(q) for q in queries]
        unknown = sorted({qid for qid, _ in pairs if qid not in self.dataset.qrels})
        if unknown:
            raise RobustestError(f"query ids without judgements in {self.dataset.name}: {', '.join(unknown[:5])}")
        measures = list(measures)
        depth = depth_needed(measures, self.k)
        runs = self.retrieve(pairs, depth) if searcher is None else self._ranked(searcher[0], pairs, depth, searcher[1])
        # ir-measures scores each run under its own id; positions keep repeated query ids apart.
        keys = [str(i) for i in range(len(pairs))]
        qrels = {key: self.dataset.qrels[qid] for key, (qid, _) in zip(keys, pairs)}
        values = per_query(qrels, dict(zip(keys, runs)), measures)
        scores = {m: np.array([values[m][key] for key in keys], dtype=np.float64) for m in measures}
        return Evaluation([q for q, _ in pairs], [t for _, t in pairs], runs, scores)
