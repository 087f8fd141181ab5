"""Content-addressed cache of corpus embeddings: `.npy` arrays plus a JSON manifest.

The key is a digest of everything that determines the vectors (retriever fingerprint and
corpus fingerprint), so a changed model, prompt or corpus can never read stale vectors.
Writes go to a temporary file and are renamed into place under a file lock; the manifest is
written last, so an entry without a manifest is incomplete and is recomputed. Arrays load
memory-mapped. Nothing is pickled.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .files import atomic_write
from .fingerprints import digest_json
from .paths import writable_dir

FORMAT = 1


@dataclass(frozen=True)
class CacheResult:
    array: np.ndarray
    hit: bool
    path: Path | None  # None when caching is off


class EmbeddingCache:
    def __init__(self, root: Path | None):
        """`root=None` turns caching off: every call computes."""
        self.root = None if root is None else writable_dir(Path(root) / "embeddings", "embedding cache")

    def key(self, parts: dict) -> str:
        return digest_json({"format": FORMAT, **parts})

    def load_or_compute(self, parts: dict, compute: Callable[[], np.ndarray]) -> CacheResult:
        if self.root is None:
            return CacheResult(compute(), False, None)
        from filelock import FileLock

        key = self.key(parts)
        array_path, manifest_path = self.root / f"{key}.npy", self.root / f"{key}.json"
        cached = self._load(array_path, manifest_path)
        if cached is not None:
            return CacheResult(cached, True, array_path)
        with FileLock(str(self.root / f"{key}.lock")):
            cached = self._load(array_path, manifest_path)  # another process may have written it
            if cached is not None:
                return CacheResult(cached, True, array_path)
            array = np.ascontiguousarray(compute(), dtype=np.float32)
            atomic_write(array_path, lambda f: np.save(f, array, allow_pickle=False))
            manifest = {"format": FORMAT, "key": parts, "shape": list(array.shape), "dtype": "float32", "created": time.time()}
            atomic_write(manifest_path, lambda f: f.write(json.dumps(manifest, indent=1).encode()))
        return CacheResult(np.load(array_path, mmap_mode="r", allow_pickle=False), False, array_path)

    @staticmethod
    def _load(array_path: Path, manifest_path: Path) -> np.ndarray | None:
        try:
            manifest = json.loads(manifest_path.read_text())
            array = np.load(array_path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            return None  # missing or damaged: recompute and overwrite
        if list(array.shape) != manifest.get("shape"):
            return None
        return array
