"""Measure corpus poisoning: inject adversarial passages into the clean index, count ASR@k.

The corpus is not re-encoded: the adversarial passages are encoded with the retriever's
`encode_documents` and compared with each test query, and a passage is in the query's top k
when it scores above the k-th clean document (strictly: a tie leaves the clean document in
place). That is exactly the top k of the clean index with the passages added (the tests check
it against a FAISS index holding both), without copying the index.

ASR@k (Zhong et al. 2023) is the share of test queries with *any* adversarial passage in the
top k. Each seed draws its own clusters and passages; the paper reports ASR@20 for N = 10 and
50 passages as mean +- std over seeds, and robustest adds a bootstrap CI over test queries.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import RobustestError
from ..poisoning_config import ATTACKS  # the names settings accept; each is implemented below
from ..retrieval import CorpusIndex
from ..retrievers.vectors import encode_checked
from .hotflip import HotFlipConfig, hotflip_passages
from .injection import keyword_stuffing_passages, query_copy_passages, random_gold_passages
from .passages import AdversarialPassage
from .store import PassageCache
from .targets import KMEANS_ITERATIONS, AttackQueries, Cluster, as_index_vectors, cluster_queries

CONTROL = "random_gold"
KS = (5, 10, 20, 50)
FORMAT_VERSION = 1  # bump when passage generation changes: it is part of the cache key


@dataclass
class CleanRanking:
    """The clean ranking every adversarial passage has to break into, computed once."""

    qids: list[str]
    vectors: np.ndarray  # test query vectors as the index compares them
    scores: list[np.ndarray]  # per query: clean top-K scores, best first (self-matches left out)
    depth: int

    def kth(self, k: int) -> np.ndarray:
        """Score of the k-th clean document per query; -inf when fewer than k were retrieved."""
        return np.array([s[k - 1] if len(s) >= k else -np.inf for s in self.scores])

    def hits(self, passage_vectors: np.ndarray, similarity: str, ks: Sequence[int]) -> tuple[dict[int, np.ndarray], np.ndarray]:
        """({k: (n,) bool, any passage in the top k}, (n,) rank of the best passage, 0 when
        beyond the depth)."""
        adversarial = self.vectors @ as_index_vectors(passage_vectors, similarity).T  # (n, m)
        best = adversarial.max(axis=1) if adversarial.shape[1] else np.full(len(self.qids), -np.inf)
        hits = {k: best > self.kth(k) for k in ks}
        ranks = np.array([1 + int(np.count_nonzero(s >= b)) for s, b in zip(self.scores, best)])
        ranks[ranks > self.depth] = 0
        return hits, ranks


def clean_ranking(index: CorpusIndex, test: dict[str, str], depth: int) -> CleanRanking:
    pairs = list(test.items())
    runs = index.retrieve(pairs, k=depth)
    vectors = as_index_vectors(index.query_vectors(pairs), index.retriever.similarity)  # encoded once, by `retrieve`
    return CleanRanking([q for q, _ in pairs], vectors, [np.fromiter(r.values(), dtype=np.float64) for r in runs], depth)


@dataclass
class AttackResult:
    """One attack at one N over the seeds: `hits[k][s, i]` says whether any of seed s's
    passages reached the top k of test query `qids[i]`."""

    attack: str
    n_passages: int
    seeds: tuple[int, ...]
    qids: list[str]
    hits: dict[int, np.ndarray]
    best_rank: np.ndarray  # (seeds, queries): rank of the best passage, 0 when beyond the depth
    passages: tuple[tuple[AdversarialPassage, ...], ...]  # per seed
    seconds: float  # generating the passages (0 for cached ones)
    cached: tuple[bool, ...]
    per_passage_hits: tuple[np.ndarray, ...] = field(default=(), repr=False)  # per seed: (m,) test queries each reaches at top k

    @property
    def name(self) -> str:
        return f"{self.attack} (N={self.n_passages})"

    def asr(self, k: int) -> np.ndarray:
        """ASR@k per seed."""
        return self.hits[k].mean(axis=1)

    def summary(self, k: int) -> tuple[float, float]:
        """Mean and population std over seeds of ASR@k, as the paper reports it."""
        rates = self.asr(k)
        return float(rates.mean()), float(rates.std(ddof=0))

    def strongest(self, n: int = 3) -> list[dict[str, Any]]:
        """The passages that reached the most test queries (at the gate's k), best first."""
        rows = []
        for seed, passages, counts in zip(self.seeds, self.passages, self.per_passage_hits):
            for p, c in zip(passages, counts):
                rows.append({"seed": seed, "cluster": p.cluster, "queries_reached": int(c), "text": p.text})
        rows.sort(key=lambda r: (-r["queries_reached"], r["seed"], r["cluster"]))
        return rows[:n]

    def as_dict(self) -> dict[str, Any]:
        """The run file's form (`"poisoning"` entry): ASR keyed by k as a string, as read by
        `robustest report` and `robustest analyze`."""
        ks = sorted(self.hits)
        return {
            "attack": self.attack,
            "n_passages": self.n_passages,
            "seeds": list(self.seeds),
            "test_queries": len(self.qids),
            "asr": {str(k): self.summary(k)[0] for k in ks},
            "asr_std": {str(k): self.summary(k)[1] for k in ks},
            "asr_by_seed": {str(k): [float(x) for x in self.asr(k)] for k in ks},
            "seconds": round(self.seconds, 3),
            "cached": list(self.cached),
            "adversarial_passages": {str(s): [p.as_dict() for p in ps] for s, ps in zip(self.seeds, self.passages)},
        }


class Poisoning:
    """One poisoning measurement: the test ranking, each seed's clusters, each attack's passages.

    Everything is computed on first use and kept; HotFlip passages are also kept on disk
    (`PassageCache`). `gate_k` is the k whose per-passage reach `AttackResult.strongest` reports.
    """

    def __init__(
        self,
        index: CorpusIndex,
        queries: AttackQueries,
        *,
        hotflip: HotFlipConfig = HotFlipConfig(),
        seeds: Sequence[int] = (1999,),
        ks: Sequence[int] = KS,
        gate_k: int = 20,
        cache: PassageCache | None = None,
        progress: bool = True,
    ):
        if hasattr(index.retriever, "build_searcher"):
            raise RobustestError(
                f"corpus poisoning needs a dense retriever (vectors to cluster and to inject); {index.retriever.name} is lexical"
            )
        if not queries.test:
            raise RobustestError("no test queries to attack")
        self.index = index
        self.queries = queries
        self.hotflip = hotflip
        self.seeds = tuple(int(s) for s in seeds)
        self.ks = tuple(sorted(set(int(k) for k in ks) | {int(gate_k)}))
        self.gate_k = int(gate_k)
        self.cache = cache or PassageCache(None)
        self.progress = progress
        self._ranking: CleanRanking | None = None
        self._train_vectors: np.ndarray | None = None
        self._clusters: dict[tuple[int, int], list[Cluster]] = {}
        self._results: dict[tuple[str, int], AttackResult] = {}

    @property
    def retriever(self):
        return self.index.retriever

    @property
    def results(self) -> dict[tuple[str, int], AttackResult]:
        """What has been measured so far, by (attack, N)."""
        return dict(self._results)

    @property
    def ranking(self) -> CleanRanking:
        if self._ranking is None:
            self._ranking = clean_ranking(self.index, self.queries.test, max(self.ks))
        return self._ranking

    def clusters(self, seed: int, n: int) -> list[Cluster]:
        if (seed, n) not in self._clusters:
            qids = list(self.queries.train)
            if self._train_vectors is None:
                self._train_vectors = encode_checked(self.retriever, "encode_queries", [self.queries.train[q] for q in qids], qids)
            self._clusters[(seed, n)] = cluster_queries(qids, self._train_vectors, n, seed=seed, similarity=self.retriever.similarity)
        return self._clusters[(seed, n)]

    def cache_parts(self, attack: str, n: int, seed: int) -> dict:
        return {
            "version": FORMAT_VERSION,
            "retriever": self.retriever.fingerprint,
            "dataset": self.index.dataset.fingerprint,
            "train_queries": self.queries.fingerprint,
            "attack": attack,
            "passages": n,
            "seed": seed,
            "kmeans_iterations": KMEANS_ITERATIONS,
            "params": self.hotflip.as_dict(),
        }

    def passages(self, attack: str, n: int, seed: int) -> tuple[list[AdversarialPassage], bool]:
        """(passages, from the cache?) for one attack, N and seed."""
        tokens = self.hotflip.tokens
        if attack == "hotflip":
            def make():
                return hotflip_passages(self.retriever, self.queries, self.clusters(seed, n), self.hotflip, seed=seed, progress=self.progress)

            return self.cache.load_or_compute(self.cache_parts(attack, n, seed), make)
        if attack == "query_copy":
            return query_copy_passages(self.retriever, self.queries, self.clusters(seed, n), tokens=tokens), False
        if attack == "keyword_stuffing":
            return keyword_stuffing_passages(self.retriever, self.queries, self.clusters(seed, n), tokens=tokens), False
        if attack == "random_gold":
            return random_gold_passages(self.retriever, self.queries, n, tokens=tokens, seed=seed), False
        raise RobustestError(f"unknown attack {attack!r}; use one of {', '.join(ATTACKS)}")

    def run(self, attack: str, n: int) -> AttackResult:
        """The attack at N passages over every seed (computed once)."""
        if (attack, n) in self._results:
            return self._results[(attack, n)]
        ranking = self.ranking
        similarity = self.retriever.similarity
        hits = {k: np.zeros((len(self.seeds), len(ranking.qids)), dtype=bool) for k in self.ks}
        ranks = np.zeros((len(self.seeds), len(ranking.qids)), dtype=int)
        per_seed, cached, reach = [], [], []
        seconds = 0.0
        for s, seed in enumerate(self.seeds):
            started = time.perf_counter()
            passages, hit = self.passages(attack, n, seed)
            if not hit:
                seconds += time.perf_counter() - started
            vectors = encode_checked(self.retriever, "encode_documents", [p.text for p in passages])
            seed_hits, seed_ranks = ranking.hits(vectors, similarity, self.ks)
            for k in self.ks:
                hits[k][s] = seed_hits[k]
            ranks[s] = seed_ranks
            reach.append(self._reach(vectors, similarity))
            per_seed.append(tuple(passages))
            cached.append(hit)
        result = AttackResult(attack, n, self.seeds, ranking.qids, hits, ranks, tuple(per_seed), seconds, tuple(cached), tuple(reach))
        self._results[(attack, n)] = result
        return result

    def _reach(self, vectors: np.ndarray, similarity: str) -> np.ndarray:
        """Per passage: how many test queries it alone reaches at the gate's k."""
        scores = self.ranking.vectors @ as_index_vectors(vectors, similarity).T
        return (scores > self.ranking.kth(self.gate_k)[:, None]).sum(axis=0)

    def describe(self) -> dict[str, Any]:
        return {
            "queries": self.queries.describe(),
            "hotflip": self.hotflip.as_dict(),
            "seeds": list(self.seeds),
            "ks": list(self.ks),
        }
