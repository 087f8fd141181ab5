"""Adversarial passages as values: the text that gets injected, and how it was made."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence


@dataclass(frozen=True)
class AdversarialPassage:
    """One injected passage.

    `trace` is the attack's objective (mean similarity to the cluster's training queries) after
    each iteration, `trace[0]` the initial one; `accepted` lists the iterations (1-based) whose
    token swap was kept. Black-box passages have a one-element trace and no token ids.
    """

    text: str
    method: str
    cluster: int
    query_ids: tuple[str, ...] = ()
    token_ids: tuple[int, ...] | None = None
    trace: tuple[float, ...] = ()
    accepted: tuple[int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def objective(self) -> float | None:
        return self.trace[-1] if self.trace else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "method": self.method,
            "cluster": self.cluster,
            "query_ids": list(self.query_ids),
            "token_ids": None if self.token_ids is None else list(self.token_ids),
            "trace": [float(x) for x in self.trace],
            "accepted": list(self.accepted),
            **({"extra": self.extra} if self.extra else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AdversarialPassage":
        ids = d.get("token_ids")
        return cls(
            text=d["text"],
            method=d["method"],
            cluster=int(d["cluster"]),
            query_ids=tuple(d.get("query_ids", ())),
            token_ids=None if ids is None else tuple(int(i) for i in ids),
            trace=tuple(float(x) for x in d.get("trace", ())),
            accepted=tuple(int(i) for i in d.get("accepted", ())),
            extra=dict(d.get("extra", {})),
        )


class LengthBudget:
    """Cut texts to the attack's length: L tokens of the retriever's tokenizer when it has one
    (Hugging Face retrievers), else L whitespace-separated words."""

    def __init__(self, retriever, length: int):
        self.length = length
        tokenizer = getattr(retriever, "tokenizer", None)
        self.unit = "tokens" if tokenizer is not None else "words"
        self._tokenizer = tokenizer

    def pieces(self, text: str) -> list:
        if self._tokenizer is None:
            return text.split()
        return self._tokenizer(text, add_special_tokens=False)["input_ids"]

    def join(self, pieces: Sequence) -> str:
        if self._tokenizer is None:
            return " ".join(pieces)
        return self._tokenizer.decode(list(pieces), clean_up_tokenization_spaces=False).strip()

    def fill(self, texts: Sequence[str], repeat: bool = True) -> str:
        """The first L pieces of the texts in order; cycled when they are shorter than L."""
        pieces: list = []
        for text in texts:
            pieces += self.pieces(text)
            if len(pieces) >= self.length:
                break
        if not pieces:
            return ""
        while repeat and len(pieces) < self.length:
            pieces += pieces[: self.length - len(pieces)]
        return self.join(pieces[: self.length])

