"""Cache of generated adversarial passages: one JSON file per (retriever, dataset, attack, seed).

HotFlip passages take minutes to hours; the key is a digest of everything that changes them
(the retriever's fingerprint, the dataset's fingerprint, the training queries, the attack and
its parameters, the seed, and this format's version), so a changed model or setting never
reads stale passages. Files are written atomically under a lock; a damaged file is recomputed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from ..fingerprints import digest_json
from ..files import write_json
from ..paths import writable_dir
from .passages import AdversarialPassage

FORMAT = 1


class PassageCache:
    def __init__(self, root: Path | None):
        """`root=None` turns caching off."""
        self.root = None if root is None else writable_dir(Path(root) / "attacks", "adversarial passage cache")

    @staticmethod
    def key(parts: dict) -> str:
        return digest_json({"format": FORMAT, **parts})

    def path(self, parts: dict) -> Path | None:
        return None if self.root is None else self.root / f"{self.key(parts)}.json"

    def load_or_compute(self, parts: dict, compute: Callable[[], list[AdversarialPassage]]) -> tuple[list[AdversarialPassage], bool]:
        """(passages, whether they came from the cache)."""
        path = self.path(parts)
        if path is None:
            return compute(), False
        cached = self._load(path)
        if cached is not None:
            return cached, True
        from filelock import FileLock

        with FileLock(str(path.with_suffix(".lock"))):
            cached = self._load(path)  # another process may have made them meanwhile
            if cached is not None:
                return cached, True
            passages = compute()
            write_json(path, {"format": FORMAT, "key": parts, "passages": [p.as_dict() for p in passages]})
        return passages, False

    @staticmethod
    def _load(path: Path) -> list[AdversarialPassage] | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return [AdversarialPassage.from_dict(p) for p in data["passages"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None
