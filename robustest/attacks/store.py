"""Cache of generated adversarial passages: one JSON file per (retriever, dataset, attack, seed).

HotFlip passages take minutes to hours; the key is a digest of everything that changes them
(the retriever's fingerprint, the dataset's fingerprint, the training queries, the attack and
its parameters, the seed, and this format's version), so a changed model or setting never
reads stale passages. Stored through the shared `ContentStore` (cache.py): written atomically
under a lock, with the sha256 of the passages checked on load; a damaged file is reported
(`CacheDamageWarning`) and recomputed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..cache import ContentStore, Damaged
from ..fingerprints import digest_json
from .passages import AdversarialPassage

FORMAT = 2  # 2: records carry a checksum


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
            records = [p.as_dict() for p in passages]
            self.store.write_record(key, "json", parts, {"passages": records, "sha256": digest_json(records)})
            return passages

        return self.store.load_or_compute(
            parts, compute, load=self._load, save=save, waiting_for="generating the same adversarial passages"
        )

    def _load(self, key: str) -> list[AdversarialPassage] | None:
        record = self.store.read_record(key, "json")
        if record is None:
            return None
        path = self.store.file(key, "json")
        if "passages" not in record or digest_json(record["passages"]) != record.get("sha256"):
            raise Damaged(path, "checksum mismatch")
        try:
            return [AdversarialPassage.from_dict(p) for p in record["passages"]]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise Damaged(path, f"not a list of passages: {exc!r}") from None
