"""Who the attacker sees and who is attacked: training queries, test queries, clusters.

A poisoning attack is built from *training* queries and judged on *test* queries it never
saw. The training queries come from another split of the collection (`qrels/train.tsv` of a
BEIR folder, as the default collection has), or, when there is none, from a fixed part of the
judged queries chosen by a hash of their id; the rest are the ones attacked. Either way a
query id or text that is also a test query is removed from the training side, so nothing of
a test query reaches the clustering.

Clusters follow Zhong et al. (2023): k-means (FAISS, 300 iterations, seeded) over the
retriever's embeddings of the training queries; each cluster gets one adversarial passage,
optimised towards the mean similarity to its queries. For a cosine retriever the query
vectors are L2-normalised first, so the centroid's inner product with a normalised passage
vector is exactly the mean cosine to the cluster's queries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from ..data.types import Dataset
from ..errors import RobustestError
from ..fingerprints import digest_json

KMEANS_ITERATIONS = 300  # as in Zhong et al. (2023) and the paper's reproduction


@dataclass(frozen=True)
class AttackQueries:
    """Training queries (clustered by the attacker) and test queries (attacked), disjoint.

    `gold` maps a training query id to the text of its best judged document (for the gold
    initialisation and the random-gold control); training queries without one are absent.
    """

    train: dict[str, str]
    test: dict[str, str]
    gold: dict[str, str]
    source: str  # where the training queries came from, for the summary and results file
    removed: int = 0  # training queries dropped because they are also test queries

    def __post_init__(self):
        shared = set(self.train) & set(self.test)
        if shared:  # cannot happen through attack_queries(); a hand-built object is checked too
            raise RobustestError(f"training and test queries share ids {sorted(shared)[:5]}: test queries must not be clustered")

    @property
    def fingerprint(self) -> str:
        return digest_json({"train": sorted(self.train.items()), "gold": sorted(self.gold.items())})

    def describe(self) -> dict:
        return {"source": self.source, "train_queries": len(self.train), "test_queries": len(self.test), "removed_overlap": self.removed}


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def _by_hash(qids: Sequence[str]) -> list[str]:
    return sorted(qids, key=lambda q: hashlib.sha256(("robustest-attack:" + q).encode()).hexdigest())


def best_gold(qrels: Mapping[str, Mapping[str, int]], qid: str) -> str | None:
    """The id of the query's highest-graded relevant document (ties: smallest id)."""
    judged = [(-g, d) for d, g in qrels.get(qid, {}).items() if g > 0]
    return min(judged)[1] if judged else None


def attack_queries(
    dataset: Dataset,
    *,
    train_queries: Mapping[str, str] | None = None,
    train_qrels: Mapping[str, Mapping[str, int]] | None = None,
    train_source: str = "",
    train_fraction: float = 0.5,
) -> AttackQueries:
    """Split the attacker's queries from the attacked ones.

    With `train_queries` (another split of the collection), every judged query of `dataset`
    is attacked and the training queries are those others, minus any whose id or text is a
    test query's. Without, a `train_fraction` of `dataset`'s queries, chosen by a hash of their
    id (the same on every machine, independent of the seeds), trains and the rest is attacked.
    """
    if not 0 < train_fraction < 1:
        raise RobustestError(f"poisoning train_fraction = {train_fraction} must be between 0 and 1")
    doc_text = dict(zip(dataset.doc_ids, dataset.documents))
    if train_queries:
        test = dict(dataset.queries)
        test_texts = {_normal(t) for t in test.values()}
        train = {q: t for q, t in train_queries.items() if q not in test and _normal(t) not in test_texts}
        removed = len(train_queries) - len(train)
        qrels = train_qrels or {}
        source = train_source or "another split"
    else:
        order = _by_hash(list(dataset.queries))
        n_train = int(round(train_fraction * len(order)))
        if n_train < 1 or n_train >= len(order):
            raise RobustestError(
                f"{dataset.name} has {len(order)} judged queries: too few to hold out {train_fraction:.0%} "
                "for the attacker and attack the rest; add a train split (qrels/train.tsv) or more queries"
            )
        train_ids = set(order[:n_train])
        test_texts = {_normal(t) for q, t in dataset.queries.items() if q not in train_ids}
        train = {q: t for q, t in dataset.queries.items() if q in train_ids and _normal(t) not in test_texts}
        removed = n_train - len(train)
        test = {q: t for q, t in dataset.queries.items() if q not in train_ids}
        qrels = dataset.qrels
        source = f"held out {len(train)} of the {len(dataset.queries)} judged {dataset.split} queries (no train split)"
    if not train:
        raise RobustestError(f"no training queries left for the attacker on {dataset.name} ({source})")
    gold = {}
    for q in train:
        doc = best_gold(qrels, q)
        if doc is not None and doc in doc_text:
            gold[q] = doc_text[doc]
    return AttackQueries(train=train, test=test, gold=gold, source=source, removed=removed)


@dataclass(frozen=True)
class Cluster:
    """One k-means cluster of training queries and the vector an attack aims at."""

    index: int
    query_ids: tuple[str, ...]  # members, closest to the centroid first
    target: np.ndarray = field(repr=False, compare=False)  # mean member vector (normalised members for cosine)

    def objective(self, passage_vectors: np.ndarray, similarity: str) -> np.ndarray:
        """Mean similarity of each passage vector to the cluster's queries."""
        return as_index_vectors(passage_vectors, similarity) @ self.target


def as_index_vectors(vectors: np.ndarray, similarity: str) -> np.ndarray:
    """Vectors as the FAISS index compares them: L2-normalised for cosine retrievers."""
    v = np.asarray(vectors, dtype=np.float32)
    if similarity == "cosine":
        v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
    return v


def cluster_queries(
    qids: Sequence[str],
    vectors: np.ndarray,
    n_clusters: int,
    *,
    seed: int,
    similarity: str,
    iterations: int = KMEANS_ITERATIONS,
) -> list[Cluster]:
    """k-means over the training query vectors (FAISS, seeded); empty clusters are dropped.

    All points are used (no subsampling) and FAISS' warning about few points per centroid is
    off: a few hundred training queries are normal here.
    """
    import faiss

    if n_clusters < 1:
        raise RobustestError(f"poisoning passages = {n_clusters}: at least one adversarial passage is needed")
    if n_clusters > len(qids):
        raise RobustestError(
            f"{n_clusters} adversarial passages need at least {n_clusters} training queries to cluster, "
            f"but there are {len(qids)}; use fewer passages or more training queries"
        )
    x = np.ascontiguousarray(as_index_vectors(vectors, similarity))
    kmeans = faiss.Kmeans(x.shape[1], n_clusters, niter=iterations, seed=int(seed) % (2**31), verbose=False)
    kmeans.cp.min_points_per_centroid = 1
    kmeans.cp.max_points_per_centroid = max(256, len(qids))
    kmeans.train(x)
    distances, assign = kmeans.index.search(x, 1)
    clusters = []
    for c in range(n_clusters):
        members = np.flatnonzero(assign[:, 0] == c)
        if members.size == 0:
            continue
        members = members[np.argsort(distances[members, 0], kind="stable")]
        clusters.append(Cluster(len(clusters), tuple(qids[i] for i in members), x[members].mean(axis=0)))
    return clusters


def split_for_attack(dataset: Dataset, *, train_split: str = "train", train_fraction: float = 0.5) -> AttackQueries:
    """`attack_queries` with the training queries of `train_split` when the dataset's folder
    has that split (the default collection has 600 train queries), else held-out queries."""
    from pathlib import Path

    from ..data.beir import load_split_queries

    folder = Path(dataset.source)
    if train_split and train_split != dataset.split and (folder / "qrels" / f"{train_split}.tsv").is_file():
        queries, qrels = load_split_queries(folder, train_split, set(dataset.doc_ids))
        return attack_queries(
            dataset, train_queries=queries, train_qrels=qrels, train_source=f"the {train_split} split ({len(queries)} judged queries)"
        )
    return attack_queries(dataset, train_fraction=train_fraction)
