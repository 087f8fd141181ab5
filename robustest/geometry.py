"""Embedding geometry of a retriever: how its vectors fill the space, and how big its weights are.

The paper finds that geometry predicts lexical stability: models whose document vectors crowd
into a narrow cone (high average cosine, low IsoScore) lose more under typos. Measured here:

* IsoScore (Rudman et al. 2022): PCA-rotate the point cloud, take the variances along the
  principal axes Σ_D, scale them to Σ̂ = √n Σ_D / ‖Σ_D‖ (n = dimension), measure their distance
  from the all-ones vector δ = ‖Σ̂ − 1‖ / √(2(n − √n)), and map it to
  ι = ((n − δ²(n − √n))² − n) / (n(n − 1)): 1 when every direction carries the same variance,
  0 when one direction carries it all (computed from the covariance's trace and Frobenius
  norm, which fix the same number; see `isoscore`).
* average cosine over seeded random pairs of distinct documents;
* uniformity log E exp(−t‖x − y‖²) over all pairs, and alignment E ‖q − p‖^α over
  query–positive pairs (Wang & Isola 2020), both on L2-normalised vectors as they define them;
* the spectral norm (largest singular value) of every torch `nn.Linear`, summarised as mean,
  max, min, std and last (in module order); the BERT pooler and an LM head are left out, they
  play no part in the embedding.

Everything except the spectral norms reads a seeded sample of the cached corpus embeddings,
so two runs of one model on one corpus agree exactly. Plain numpy; torch only for the norms.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import RobustestError

DEFAULT_SAMPLE = 2000  # documents; uniformity looks at all sample² / 2 pairs
DEFAULT_PAIRS = 10_000  # random pairs for the average cosine
DEFAULT_SEED = 1999
EXCLUDED_LINEAR = ("pooler", "lm_head")
METRICS = (
    "isoscore",
    "average_cosine",
    "uniformity",
    "alignment",
    "spectral_norm_mean",
    "spectral_norm_max",
    "spectral_norm_min",
    "spectral_norm_std",
    "spectral_norm_last",
)


def _as_matrix(points: Any, what: str = "points") -> np.ndarray:
    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"{what} must be a 2-D array of at least two rows, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    return x


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def isoscore(points: Any) -> float:
    """IsoScore of a point cloud, rows = points: 1 isotropic, 0 all variance on one axis.

    The variances along the principal axes are the covariance's eigenvalues λ, and the score
    needs only Σλ = trace(C) and ‖λ‖ = ‖C‖_F (a rotation changes neither), so
    ‖Σ̂ − 1‖² = 2n − 2√n·trace(C)/‖C‖_F exactly, with no eigendecomposition. (tests/test_geometry.py
    checks this against the algorithm's explicit PCA steps.)"""
    x = _as_matrix(points)
    n = x.shape[1]
    if n < 2:
        raise ValueError("IsoScore needs at least two dimensions")
    centred = x - x.mean(axis=0)
    covariance = centred.T @ centred / (len(x) - 1)  # the ddof cancels in the ratio below
    frobenius = np.linalg.norm(covariance)
    if frobenius == 0:
        return 0.0  # every point equal: no direction carries variance
    distance_sq = max(2 * n - 2 * math.sqrt(n) * float(np.trace(covariance)) / frobenius, 0.0)
    delta_sq = distance_sq / (2 * (n - math.sqrt(n)))
    iota = ((n - delta_sq * (n - math.sqrt(n))) ** 2 - n) / (n * (n - 1))
    return float(np.clip(iota, 0.0, 1.0))  # only rounding can leave [0, 1]


def average_cosine(points: Any, pairs: int = DEFAULT_PAIRS, seed: int = DEFAULT_SEED) -> float:
    """Mean cosine similarity of `pairs` random pairs of distinct rows, drawn with `seed`."""
    x = _unit(_as_matrix(points))
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(x), pairs)
    j = (i + rng.integers(1, len(x), pairs)) % len(x)  # uniform over the other rows
    return float(np.einsum("ij,ij->i", x[i], x[j]).mean())


def uniformity(points: Any, t: float = 2.0) -> float:
    """log of the mean Gaussian potential exp(−t‖x − y‖²) over all pairs of distinct rows,
    on the unit sphere; lower is more uniform."""
    x = _unit(_as_matrix(points))
    gram = x @ x.T
    upper = np.triu_indices(len(x), k=1)
    exponents = -t * np.clip(2.0 - 2.0 * gram[upper], 0.0, None)
    top = exponents.max()
    return float(top + np.log(np.exp(exponents - top).mean()))  # log-mean-exp, overflow-safe


def alignment(queries: Any, positives: Any, alpha: float = 2.0) -> float:
    """Mean ‖q − p‖^α over aligned rows (query i with its positive i), on the unit sphere;
    lower means relevant pairs sit closer."""
    q = _unit(_as_matrix(queries, "queries"))
    p = _unit(_as_matrix(positives, "positives"))
    if q.shape != p.shape:
        raise ValueError(f"queries {q.shape} and positives {p.shape} must be aligned row by row")
    return float((np.linalg.norm(q - p, axis=1) ** alpha).mean())


def sample_rows(total: int, size: int = DEFAULT_SAMPLE, seed: int = DEFAULT_SEED) -> np.ndarray:
    """Sorted row indices of a seeded sample (all rows when there are no more than `size`)."""
    if total <= size:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, size, replace=False))


def linear_layers(model) -> list[tuple[str, Any]]:
    """(name, module) of every torch nn.Linear in module order, pooler and LM head excluded."""
    import torch

    return [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and not any(part in EXCLUDED_LINEAR for part in name.split("."))
    ]


def largest_singular_value(weight: np.ndarray) -> float:
    """sqrt of the top eigenvalue of the smaller Gram matrix, by Lanczos iteration (ARPACK,
    seeded start): a full SVD's number to ~1e-15 relative. A full LAPACK decomposition of each
    of an LLM's hundreds of layers took minutes on a busy 2-core machine (threads waiting on
    each other); this takes milliseconds per layer."""
    from scipy.sparse.linalg import eigsh

    w = np.asarray(weight, dtype=np.float64)
    if min(w.shape) == 1:
        return float(np.linalg.norm(w))
    gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    start = np.random.default_rng(0).normal(size=len(gram))
    top = eigsh(gram, k=1, which="LA", v0=start, tol=0, return_eigenvectors=False)[0]
    return math.sqrt(max(float(top), 0.0))


def spectral_norms(model) -> dict[str, float]:
    """Largest singular value of each nn.Linear's weight, by module name."""
    import torch

    norms = {}
    with torch.no_grad():
        for name, module in linear_layers(model):
            norms[name] = largest_singular_value(module.weight.detach().to("cpu", torch.float32).numpy())
    return norms


def spectral_summary(norms: Mapping[str, float]) -> dict[str, float | None]:
    """mean, max, min, population std and last of the per-layer norms (None without layers)."""
    keys = ("spectral_norm_mean", "spectral_norm_max", "spectral_norm_min", "spectral_norm_std", "spectral_norm_last")
    if not norms:
        return dict.fromkeys(keys)
    values = np.array(list(norms.values()))
    stats = (values.mean(), values.max(), values.min(), values.std(), values[-1])
    return {k: float(v) for k, v in zip(keys, stats)}


def embedding_geometry(
    embeddings: Any,
    *,
    query_vectors: Any = None,
    positive_rows: Sequence[int] | None = None,
    sample: int = DEFAULT_SAMPLE,
    pairs: int = DEFAULT_PAIRS,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """IsoScore, average cosine and uniformity of a seeded sample of `embeddings` (the corpus
    vectors); alignment when `query_vectors[i]` comes with its positive document's row
    `positive_rows[i]` of `embeddings`."""
    total = len(embeddings)
    if total < 2:
        raise RobustestError(f"geometry needs at least two corpus embeddings, got {total}")
    rows = sample_rows(total, sample, seed)
    x = np.asarray(embeddings[rows], dtype=np.float64)
    result: dict[str, Any] = {
        "isoscore": isoscore(x),
        "average_cosine": average_cosine(x, pairs, seed),
        "uniformity": uniformity(x),
        "alignment": None,
        "sample": int(len(rows)),
        "documents": int(total),
        "seed": int(seed),
    }
    if query_vectors is not None and positive_rows is not None and len(positive_rows):
        positives = np.asarray(embeddings[np.asarray(positive_rows)], dtype=np.float64)
        result["alignment"] = alignment(query_vectors, positives)
        result["alignment_pairs"] = int(len(positive_rows))
    return result


def positive_pairs(dataset) -> tuple[list[str], list[int]]:
    """(query id, corpus row) for every judged relevant document (relevance > 0)."""
    row = {doc_id: i for i, doc_id in enumerate(dataset.doc_ids)}
    qids, rows = [], []
    for qid in dataset.queries:
        for doc_id, rel in sorted(dataset.qrels.get(qid, {}).items()):
            if rel > 0 and doc_id in row:
                qids.append(qid)
                rows.append(row[doc_id])
    return qids, rows


def index_geometry(index, *, sample: int = DEFAULT_SAMPLE, pairs: int = DEFAULT_PAIRS, seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """The geometry of a `CorpusIndex`'s retriever: its cached corpus vectors, its queries
    (encoded once each) against their relevant documents, and its weights when it is a torch
    model (`.model`, as HFEncoder has); otherwise the spectral norms are None."""
    index.searcher  # encodes (or loads) the corpus vectors
    if index.embeddings is None:
        raise RobustestError(f"{index.retriever.name} has no embeddings (a lexical retriever): geometry needs a dense retriever")
    dataset = index.dataset
    qids, rows = positive_pairs(dataset)
    unique = list(dict.fromkeys(qids))
    from .retrievers.vectors import encode_checked

    vectors = encode_checked(index.retriever, "encode_queries", [dataset.queries[q] for q in unique], unique).astype(np.float64)
    position = {q: i for i, q in enumerate(unique)}
    query_vectors = vectors[[position[q] for q in qids]] if qids else None
    result = embedding_geometry(index.embeddings, query_vectors=query_vectors, positive_rows=rows, sample=sample, pairs=pairs, seed=seed)
    model = getattr(index.retriever, "model", None)
    norms = spectral_norms(model) if _is_torch_module(model) else {}
    result.update(spectral_summary(norms))
    result["linear_layers"] = len(norms)
    return result


def _is_torch_module(obj) -> bool:
    if obj is None:
        return False
    try:
        import torch
    except ImportError:
        return False
    return isinstance(obj, torch.nn.Module)


def geometry_line(geometry: Mapping[str, Any]) -> str:
    """One summary line: 'geometry: isoscore=0.123, average cosine=0.456, ...'."""
    parts = []
    for key in ("isoscore", "average_cosine", "uniformity", "alignment", "spectral_norm_mean", "spectral_norm_max"):
        value = geometry.get(key)
        parts.append(f"{key.replace('_', ' ')}=" + ("n/a" if value is None else f"{value:.4g}"))
    return "geometry: " + ", ".join(parts) + f" (sample of {geometry.get('sample')} documents)"
