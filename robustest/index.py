"""Exact nearest-neighbour search over corpus embeddings with FAISS.

Flat inner product: exact, so a measured robustness drop is the model's, not the index's.
Cosine retrievers are L2-normalised first. GPU search is used when asked for and a FAISS GPU
build is installed.
"""

from __future__ import annotations

import numpy as np

from .errors import RobustestError


def check_faiss_gpu() -> None:
    """Asked before any encoding (the plugin's start-up), and again where the index is built."""
    import faiss

    if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() == 0:
        raise RobustestError("--robustest-faiss-gpu needs a FAISS GPU build and a GPU: pip install faiss-gpu-cu12 (instead of faiss-cpu), or drop the option")


class DenseSearcher:
    def __init__(self, embeddings: np.ndarray, similarity: str, use_gpu: bool = False):
        import faiss

        self.normalize = similarity == "cosine"
        vectors = prepare(embeddings, self.normalize)
        if vectors.ndim != 2:
            raise RobustestError(f"cannot index corpus vectors of shape {vectors.shape}: pass a 2-D array (documents, dimension)")
        index = faiss.IndexFlatIP(vectors.shape[1])
        if use_gpu:
            check_faiss_gpu()
            self._resources = faiss.StandardGpuResources()
            index = faiss.index_cpu_to_gpu(self._resources, 0, index)
        index.add(vectors)
        self.index = index
        self.n_docs, self.dimension = vectors.shape

    def search(self, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        shape = np.shape(query_vectors)
        if len(shape) != 2 or shape[1] != self.dimension:  # FAISS would fail with a bare assertion
            raise RobustestError(f"query vectors of shape {shape} do not fit an index of dimension {self.dimension}: pass (queries, {self.dimension})")
        scores, indices = self.index.search(prepare(query_vectors, self.normalize), min(k, self.n_docs))
        return scores, indices


def prepare(vectors: np.ndarray, normalize: bool) -> np.ndarray:
    import faiss

    out = np.array(vectors, dtype=np.float32, order="C", copy=True)  # FAISS normalises in place
    if normalize:
        faiss.normalize_L2(out)
    return out
