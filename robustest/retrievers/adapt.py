"""Any model object as a Retriever, for `robustest.check(model, ...)`.

    a Retriever                        used as it is (robustest.retrievers.base)
    a sentence-transformers model      its encode_query / encode_document (or encode), its similarity
    encode_queries + encode_documents  an object that only encodes: the rest is filled in
    a plain function texts -> array    the same function for queries and documents

What the cache needs is a fingerprint that changes when the vectors could change. An object
that brings none gets one from its own outputs on a fixed probe (so retrained weights get new
cache entries), or from the `name` you give, which you then change when the model changes.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import RobustestError
from .base import REQUIRED_MEMBERS, SIMILARITIES, check_retriever

# Fixed texts, queries and passages alike; their vectors identify a model that names no fingerprint.
PROBE = (
    "what causes the boundary layer to separate from a curved surface",
    "symptoms of type 2 diabetes in adults",
    "The Eiffel Tower was completed in 1889 for the World's Fair in Paris.",
    "how do i reset a forgotten password",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "1 2 3 4 5 6 7 8 9 10",
    "",
    "Ünïcödé, punctuation; and-hyphens!",
)
PROBE_DIGITS = 4  # outputs rounded before hashing: the same model on another BLAS hashes the same


def as_retriever(model: Any, name: str | None = None, similarity: str | None = None) -> Any:
    """`model` as a Retriever; one error naming what it lacks when it is none of the above."""
    if all(hasattr(model, member) for member in REQUIRED_MEMBERS) or hasattr(model, "build_searcher"):
        return check_retriever(model, "robustest.check(retriever=...)")
    if is_sentence_transformer(model):
        return SentenceTransformerRetriever(model, name, similarity)
    if hasattr(model, "encode_queries") and hasattr(model, "encode_documents"):
        return EncoderRetriever(model.encode_queries, model.encode_documents, name or type(model).__name__, similarity, given_fingerprint=getattr(model, "fingerprint", None))
    if callable(model) and not isinstance(model, type):
        return EncoderRetriever(model, model, name or getattr(model, "__name__", type(model).__name__), similarity)
    raise RobustestError(
        f"robustest.check(retriever=...) got {type(model).__name__}: pass a --retriever string (a model folder, "
        "'default', a preset or a Hugging Face id), a sentence-transformers model, an object with "
        "encode_queries(texts) and encode_documents(texts), or a function texts -> array"
    )


def is_sentence_transformer(model: Any) -> bool:
    return any(c.__name__ == "SentenceTransformer" for c in type(model).__mro__) and hasattr(model, "encode")


class EncoderRetriever:
    """Two encode functions (texts -> 2-D array) as a Retriever."""

    def __init__(self, queries: Callable, documents: Callable, name: str, similarity: str | None, *, given_fingerprint: str | None = None, about: dict | None = None):
        self._queries, self._documents = queries, documents
        self.name = name
        self.similarity = similarity or "cosine"
        if self.similarity not in SIMILARITIES:
            raise RobustestError(f"robustest.check: similarity={self.similarity!r} is not one of {', '.join(SIMILARITIES)}")
        self._about = about or {}
        probe_d = self.encode_documents(list(PROBE))
        probe_q = self.encode_queries(list(PROBE))
        if probe_q.shape[1] != probe_d.shape[1]:
            raise RobustestError(f"{name}: query vectors have {probe_q.shape[1]} dimensions and document vectors {probe_d.shape[1]}; they must match")
        self.dimension = int(probe_d.shape[1])
        self.fingerprint = given_fingerprint if isinstance(given_fingerprint, str) else probe_fingerprint(name, self.similarity, probe_q, probe_d, self._about)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return as_matrix(self._queries(list(texts)), len(texts), self.name, "queries")

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return as_matrix(self._documents(list(texts)), len(texts), self.name, "documents")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "similarity": self.similarity, "dimension": self.dimension, "fingerprint_from": "outputs on a fixed probe", **self._about}


class SentenceTransformerRetriever(EncoderRetriever):
    """A sentence-transformers model: its query/document prompts and its similarity function."""

    def __init__(self, model: Any, name: str | None, similarity: str | None):
        encode = lambda prompt: lambda texts: model.encode(texts, prompt_name=prompt, convert_to_numpy=True, show_progress_bar=False)  # noqa: E731
        prompts = getattr(model, "prompts", None) or {}
        # encode_query/encode_document (sentence-transformers 5) pick the model's own prompts.
        queries = getattr(model, "encode_query", None) or encode("query" if "query" in prompts else None)
        documents = getattr(model, "encode_document", None) or encode("document" if "document" in prompts else None)
        wrap = lambda f: lambda texts: f(texts, convert_to_numpy=True, show_progress_bar=False)  # noqa: E731
        chosen = similarity or st_similarity(model)
        label = name or model_label(model)
        about = {"sentence_transformers": {"prompts": dict(prompts), "max_seq_length": getattr(model, "max_seq_length", None)}}
        super().__init__(wrap(queries), wrap(documents), label, chosen, about=about)
        self._model = model
        default = getattr(model, "default_prompt_name", None)
        self.query_prompt = prompts.get("query", prompts.get(default, "") if default else "") or ""

    def encode_queries_with_prompts(self, texts: Sequence[str], prompts: Sequence[str]) -> np.ndarray:
        """Each query after its own prompt (sentence-transformers' `prompt=`), one call per prompt."""
        out: np.ndarray | None = None
        groups: dict[str, list[int]] = {}
        for i, prompt in enumerate(prompts):
            groups.setdefault(prompt, []).append(i)
        for prompt, rows in groups.items():
            vectors = as_matrix(self._model.encode([texts[i] for i in rows], prompt=prompt, convert_to_numpy=True, show_progress_bar=False), len(rows), self.name, "queries")
            out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32) if out is None else out
            out[rows] = vectors
        return out if out is not None else np.empty((0, self.dimension), dtype=np.float32)


def st_similarity(model: Any) -> str:
    name = getattr(model, "similarity_fn_name", None) or "cosine"
    name = str(getattr(name, "value", name))
    if name in ("cosine", "dot"):
        return name
    raise RobustestError(f"the sentence-transformers model scores by {name} similarity; robustest searches by cosine or dot: pass similarity='cosine' or 'dot'")


def model_label(model: Any) -> str:
    """The model's hub id, else the folder it was loaded from, else its class name."""
    card = getattr(model, "model_card_data", None)
    for name in (getattr(card, "base_model", None), getattr(card, "model_id", None)):
        if name:
            return str(name)
    try:
        return str(model[0].auto_model.config.name_or_path) or type(model).__name__
    except (AttributeError, IndexError, KeyError, TypeError):
        return type(model).__name__


def probe_fingerprint(name: str, similarity: str, queries: np.ndarray, documents: np.ndarray, about: dict) -> str:
    h = hashlib.sha256()
    h.update(repr((name, similarity, sorted(map(str, about.items())))).encode())
    for vectors in (queries, documents):
        h.update(np.round(np.asarray(vectors, dtype=np.float64), PROBE_DIGITS).tobytes())
    return h.hexdigest()


def as_matrix(vectors: Any, n: int, name: str, what: str) -> np.ndarray:
    if hasattr(vectors, "detach"):  # a torch tensor
        vectors = vectors.detach().float().cpu().numpy()
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] != n:
        raise RobustestError(f"{name}: encoding {n} {what} returned shape {array.shape}; return one row per text (shape ({n}, dimension))")
    return array
