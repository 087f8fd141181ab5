"""Cache of generated adversarial passages: one JSON file per (retriever, dataset, attack, seed).

HotFlip passages take minutes to hours; the key is a digest of everything that changes them
(the retriever's fingerprint, the dataset's fingerprint, the training queries, the attack and
its parameters, the seed, and this format's version), so a changed model or setting never
reads stale passages. Stored through the shared `ContentStore` (cache.py): written atomically
under a lock; a damaged file is recomputed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..cache import ContentStore
from .passages import AdversarialPassage

FORMAT = 1


class PassageCache:
    def __init__(self, root: Path | None):
        """`root=None` turns caching off."""
        self.store = ContentStore(root, "attacks", "adversarial passage cache", FORMAT)
        self.root = self.store.root

    def key(self, parts: dict) -> str:
        return self.store.key(parts)

    def path(self, parts: dict) -> Path | None:
        return None if self.root is None else self.store.file(self.key(parts), "json")

    def load_or_compute(self, parts: dict, compute: Callable[[], list[AdversarialPassage]]) -> tuple[list[AdversarialPassage], bool]:
        """(passages, whether they came from the cache)."""

        def save(key: str, passages: list[AdversarialPassage]) -> list[AdversarialPassage]:
            self.store.write_record(key, "json", parts, {"passages": [p.as_dict() for p in passages]})
            return passages

        return self.store.load_or_compute(
            parts, compute, load=self._load, save=save, waiting_for="generating the same adversarial passages"
        )

    def _load(self, key: str) -> list[AdversarialPassage] | None:
        record = self.store.read_record(key, "json")
        try:
            return [AdversarialPassage.from_dict(p) for p in record["passages"]]
        except (ValueError, KeyError, TypeError):
            return None  # None record (TypeError), or a damaged one
