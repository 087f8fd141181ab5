"""Queries encoded under another query prompt: what the instruction families measure.

A retriever that allows it (`HFEncoder`, a sentence-transformers model through
`robustest.check`, or a user's object with the same two members) has

    query_prompt                               the prompt it prefixes to every query now
    encode_queries_with_prompts(texts, prompts) each text encoded after its own prompt instead

The document side is untouched, so the corpus vectors and their cache stay as they are. A
`PromptedQuery` is how a (text, prompt) pair travels through the index in place of a text.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from ..errors import RobustestError

PROMPTED_CALL = "encode_queries_with_prompts"


class PromptedQuery(NamedTuple):
    """A query text to be encoded after `prompt` instead of the retriever's own query prompt."""

    text: str
    prompt: str


def query_text(query: str | PromptedQuery) -> str:
    return query.text if isinstance(query, PromptedQuery) else query


def can_change_query_prompt(retriever) -> bool:
    return callable(getattr(retriever, PROMPTED_CALL, None)) and isinstance(getattr(retriever, "query_prompt", None), str)


def can_change_document_prompt(retriever) -> bool:
    """`document_prompt` and `encode_documents_with_prompt(texts, prompt)`: the document side's twin."""
    return callable(getattr(retriever, "encode_documents_with_prompt", None)) and isinstance(getattr(retriever, "document_prompt", None), str)


def encode_query_inputs(retriever, queries: Sequence[str | PromptedQuery], ids: Sequence[str], *, dimension: int | None = None) -> np.ndarray:
    """Vectors of plain query texts (`encode_queries`) and prompted ones
    (`encode_queries_with_prompts`), in the order given, each kind in one call, checked."""
    from .vectors import checked_vectors, encode_checked

    plain = [i for i, q in enumerate(queries) if not isinstance(q, PromptedQuery)]
    prompted = [i for i, q in enumerate(queries) if isinstance(q, PromptedQuery)]
    if not prompted:
        return encode_checked(retriever, "encode_queries", list(queries), ids, dimension=dimension)
    if not can_change_query_prompt(retriever):
        name = getattr(retriever, "name", type(retriever).__name__)
        raise RobustestError(
            f"retriever {name} cannot encode queries under another prompt: it needs query_prompt and "
            f"{PROMPTED_CALL}(texts, prompts) (Hugging Face and sentence-transformers models have them)"
        )
    parts = []
    if plain:
        parts.append((plain, encode_checked(retriever, "encode_queries", [queries[i] for i in plain], [ids[i] for i in plain], dimension=dimension)))
    texts, prompts = [queries[i].text for i in prompted], [queries[i].prompt for i in prompted]
    vectors = getattr(retriever, PROMPTED_CALL)(texts, prompts)
    parts.append((prompted, checked_vectors(vectors, retriever, PROMPTED_CALL, len(texts), [ids[i] for i in prompted], dimension=dimension)))
    out = np.empty((len(queries), parts[0][1].shape[1]), dtype=np.float32)
    for rows, array in parts:
        out[rows] = array
    return out
