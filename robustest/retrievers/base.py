"""The Retriever protocol: what robustest needs from any model it tests.

A dense retriever turns texts into vectors; robustest does the indexing, searching and
scoring. Anything with these members works, including a user's own object loaded with
`--retriever=module:factory`.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from ..errors import RobustestError

SIMILARITIES = ("cosine", "dot")


@runtime_checkable
class Retriever(Protocol):
    name: str
    similarity: str  # "cosine" (vectors are L2-normalised before inner product) or "dot"

    @property
    def fingerprint(self) -> str:
        """Changes whenever the vectors could change (weights, pooling, prompts, dtype...)."""

    @property
    def dimension(self) -> int: ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array of shape (len(texts), dimension)."""

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array of shape (len(texts), dimension)."""


REQUIRED_MEMBERS = ("name", "similarity", "fingerprint", "dimension", "encode_queries", "encode_documents")


def check_retriever(obj: object, origin: str) -> object:
    """Fail with one readable message when `obj` does not implement the Retriever protocol.

    Lexical retrievers (with a `build_searcher` method) only need name, similarity-free
    search and a fingerprint.
    """
    if hasattr(obj, "build_searcher"):
        required = ("name", "fingerprint", "build_searcher")
    else:
        required = REQUIRED_MEMBERS
    missing = [m for m in required if not hasattr(obj, m)]
    if missing:
        raise RobustestError(
            f"{origin} returned {type(obj).__name__}, which lacks {', '.join(missing)}; "
            f"a retriever needs {', '.join(REQUIRED_MEMBERS)} (see docs/tutorial/your-model-and-data.md, 'Your own retriever')"
        )
    if not hasattr(obj, "build_searcher") and obj.similarity not in SIMILARITIES:
        raise RobustestError(
            f"{origin}: similarity={obj.similarity!r} is not one of {', '.join(SIMILARITIES)}"
        )
    return obj
