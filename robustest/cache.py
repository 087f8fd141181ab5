"""Content-addressed caches: one store (`ContentStore`) and its users, here corpus embeddings.

An entry lives at `<root>/<kind>/<digest>.<ext>`. The digest is built from everything that
determines the entry (for embeddings: the retriever's and the corpus' fingerprints) plus the
entry format's version, so a changed model, prompt, corpus or setting never reads stale data.
Files are written to a temporary file and renamed into place, under a file lock per entry; a
second process waiting on that lock says so. A missing or damaged entry is recomputed.
Nothing is pickled. The HotFlip passage cache (attacks/store.py) is the other user.

Embeddings are an `.npy` array plus a JSON manifest written last (an entry without a
manifest is incomplete); arrays load memory-mapped.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np

from .files import atomic_write, write_json
from .fingerprints import digest_json
from .paths import writable_dir
from .progress import file_lock

FORMAT = 1  # embedding entries; bumping it gives every entry a new key

T = TypeVar("T")


class ContentStore:
    """Entries `<root>/<kind>/<key>.<ext>`, `key` the digest of a dict of parts and the
    entry format. `root=None` is a disabled store: every call computes, nothing is written."""

    def __init__(self, root: Path | None, kind: str, purpose: str, format: int):
        """`purpose` names the store in the message for an unwritable folder."""
        self.root = None if root is None else writable_dir(Path(root) / kind, purpose)
        self.format = format

    def key(self, parts: dict) -> str:
        return digest_json({"format": self.format, **parts})

    def file(self, key: str, ext: str) -> Path:
        return self.root / f"{key}.{ext}"

    def load_or_compute(
        self,
        parts: dict,
        compute: Callable[[], T],
        *,
        load: Callable[[str], T | None],
        save: Callable[[str, T], T],
        waiting_for: str,
    ) -> tuple[T, bool]:
        """(value, whether it came from the store). `load(key)` gives the entry, or None when
        it is missing or damaged; `save(key, value)` writes it and returns what to hand back.
        `waiting_for` ends "waiting for another process to finish ..." while the lock is held."""
        if self.root is None:
            return compute(), False
        key = self.key(parts)
        value = load(key)
        if value is not None:
            return value, True
        with file_lock(self.file(key, "lock"), waiting_for):
            value = load(key)  # another process may have written it while we waited
            if value is not None:
                return value, True
            return save(key, compute()), False

    def write(self, key: str, ext: str, write: Callable[[Any], None]) -> None:
        """`write(binary_file)`, atomically."""
        atomic_write(self.file(key, ext), write)

    def write_record(self, key: str, ext: str, parts: dict, body: dict) -> None:
        """A JSON record: the format, the parts the key was built from (so a person can tell
        what an entry is), then `body`."""
        write_json(self.file(key, ext), {"format": self.format, "key": parts, **body})

    def read_record(self, key: str, ext: str) -> dict | None:
        try:
            record = json.loads(self.file(key, ext).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None


@dataclass(frozen=True)
class CacheResult:
    array: np.ndarray
    hit: bool
    path: Path | None  # None when caching is off


class EmbeddingCache:
    def __init__(self, root: Path | None):
        """`root=None` turns caching off: every call computes."""
        self.store = ContentStore(root, "embeddings", "embedding cache", FORMAT)
        self.root = self.store.root

    def key(self, parts: dict) -> str:
        return self.store.key(parts)

    def load_or_compute(self, parts: dict, compute: Callable[[], np.ndarray], what: str = "") -> CacheResult:
        """`what` names the vectors for the message shown while another process computes them
        (e.g. "1,033 documents with all-MiniLM-L6-v2")."""

        def save(key: str, array: np.ndarray) -> np.ndarray:
            array = np.ascontiguousarray(array, dtype=np.float32)
            self.store.write(key, "npy", lambda f: np.save(f, array, allow_pickle=False))
            manifest = {"shape": list(array.shape), "dtype": "float32", "created": time.time()}
            self.store.write_record(key, "json", parts, manifest)  # last: it marks the entry complete
            return np.load(self.store.file(key, "npy"), mmap_mode="r", allow_pickle=False)

        array, hit = self.store.load_or_compute(
            parts, compute, load=self._load, save=save, waiting_for=f"encoding {what or 'the same vectors'}"
        )
        return CacheResult(array, hit, None if self.root is None else self.store.file(self.key(parts), "npy"))

    def _load(self, key: str) -> np.ndarray | None:
        manifest = self.store.read_record(key, "json")
        if manifest is None:
            return None
        try:
            array = np.load(self.store.file(key, "npy"), mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            return None  # missing or damaged: recompute and overwrite
        return array if list(array.shape) == manifest.get("shape") else None
