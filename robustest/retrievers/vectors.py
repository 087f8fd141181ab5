"""Check the vectors a retriever returns before robustest indexes, caches or measures them.

Any retriever, built in or a user's `module:factory` object, can return the wrong thing: a
list, a 1-D array for one text, integers, half precision that overflowed to inf, NaN from a
pooling over no tokens. FAISS would fail on it with a bare AssertionError, or worse, search
it silently. `checked_vectors` turns every such case into one line naming the retriever, the
call and the first bad row, and hands back a float32 array of shape (texts, dimension).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import RobustestError


def encode_checked(retriever, call: str, texts: Sequence[str], ids: Sequence[str] | None = None, *, dimension: int | None = None) -> np.ndarray:
    """`retriever.<call>(texts)` ("encode_queries" or "encode_documents"), checked.
    `ids` name the rows in the message; `dimension` is what the vectors must match besides
    the retriever's declared dimension (the corpus' when encoding queries)."""
    texts = list(texts)
    return checked_vectors(getattr(retriever, call)(texts), retriever, call, len(texts), ids, dimension=dimension)


def checked_vectors(vectors, retriever, call: str, n: int, ids: Sequence[str] | None = None, *, dimension: int | None = None) -> np.ndarray:
    """`vectors` (what `call` returned for `n` texts) as a float32 (n, dim) array, or a
    RobustestError saying what is wrong with them."""
    what, whats = ("document", "documents") if "document" in call else ("query", "queries") if "quer" in call else ("text", "texts")
    name = getattr(retriever, "name", type(retriever).__name__)

    def fail(problem: str, fix: str) -> RobustestError:
        return RobustestError(f"retriever {name}: {call} returned {problem}; {fix}")

    array = to_numpy(vectors, fail)
    if array.dtype.kind != "f" and array.dtype.name != "bfloat16":
        raise fail(f"{type(vectors).__name__} of dtype {array.dtype}", "it must return floating-point vectors (float32, float16, bfloat16 or float64)")
    if array.ndim != 2:
        raise fail(f"shape {array.shape} for {n:,} {whats}", f"it must return a 2-D array, one row per text: shape ({n}, dimension)")
    if array.shape[0] != n:
        raise fail(f"{array.shape[0]:,} rows for {n:,} {whats}", "it must return one row per text, in order")
    declared = declared_dimension(retriever)
    if declared is not None and array.shape[1] != declared:
        raise fail(f"vectors of dimension {array.shape[1]}, but its dimension says {declared}", "make the two agree")
    if dimension is not None and array.shape[1] != dimension:
        raise fail(
            f"vectors of dimension {array.shape[1]}, but the corpus vectors have dimension {dimension}",
            "queries and documents must be vectors of one space",
        )
    with np.errstate(over="ignore"):  # a float64 too large for float32 becomes inf: reported below
        array = np.asarray(array, dtype=np.float32)  # float16/bfloat16/float64 are fine; FAISS wants float32
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        kind = "NaN" if np.isnan(array[row]).any() else "infinity"
        label = f" ({what} {ids[row]!r})" if ids is not None else ""
        raise fail(
            f"{kind} in row {row} of {n:,}{label}",
            f"{int((~finite).sum()):,} row(s) not finite: check the model's dtype (float16 overflows: try --robustest-dtype=float32) and its pooling (a text with no tokens)",
        )
    return array


def to_numpy(vectors, fail) -> np.ndarray:
    if hasattr(vectors, "detach") and hasattr(vectors, "is_floating_point"):  # a torch tensor
        tensor = vectors.detach().cpu()  # numpy has no bfloat16 and cannot read GPU memory
        vectors = (tensor.float() if tensor.is_floating_point() else tensor).numpy()
    try:
        return np.asarray(vectors)
    except (TypeError, ValueError) as exc:  # ragged rows, or not array-like at all
        raise fail(f"a {type(vectors).__name__} that is not an array ({(str(exc).splitlines() or [type(exc).__name__])[0]})", "it must return one vector per text, all of one length") from None


def declared_dimension(retriever) -> int | None:
    """The retriever's `dimension`, if it declares a usable one."""
    try:
        value = getattr(retriever, "dimension", None)
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
