"""Content-addressed caches: one store (`ContentStore`) and its users, here corpus embeddings.

An entry lives at `<root>/<kind>/<digest>.<ext>`. The digest is built from everything that
determines the entry (for embeddings: the retriever's and the corpus' fingerprints) plus the
entry format's version, so a changed model, prompt, corpus or setting never reads stale data.
Files are written to a temporary file and renamed into place, under a file lock per entry; a
second process waiting on that lock says so. Nothing is pickled. The HotFlip passage cache
(attacks/store.py) is the other user.

Every entry carries a checksum that is checked on load. A damaged entry (truncated, zeroed,
edited, an odd manifest, a shape that does not fit) is never used: one `CacheDamageWarning`
names the file, and the entry is recomputed and overwritten. Temporary files of a killed
writer are removed when a store opens its folder (files.remove_leftovers).

Embeddings are an `.npy` array plus a JSON manifest written last (an entry without a
manifest is incomplete) holding the array's shape and the blake2b digest of its bytes;
arrays load memory-mapped.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np

from .errors import RobustestError
from .files import atomic_write, remove_leftovers, write_json
from .fingerprints import digest_json
from .paths import writable_dir
from .progress import file_lock

FORMAT = 2  # embedding entries; bumping it gives every entry a new key (2: checksummed)

T = TypeVar("T")


class CacheDamageWarning(UserWarning):
    """A cache entry was damaged; it is rebuilt."""


class Damaged(Exception):
    """Raised by a store user's `load` for an entry that is there but cannot be used."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = " ".join(reason.split())  # one line, whatever the library's message was


def warn_damaged(what: str, damage: Damaged) -> None:
    warnings.warn(CacheDamageWarning(f"damaged {what} {damage.path} ({damage.reason}); rebuilding it"), stacklevel=3)


class ContentStore:
    """Entries `<root>/<kind>/<key>.<ext>`, `key` the digest of a dict of parts and the
    entry format. `root=None` is a disabled store: every call computes, nothing is written."""

    def __init__(self, root: Path | None, kind: str, purpose: str, format: int):
        """`purpose` names the store in messages (an unwritable folder, a damaged entry)."""
        self.root = None if root is None else writable_dir(Path(root) / kind, purpose)
        self.format = format
        self.purpose = purpose
        if self.root is not None:
            remove_leftovers(self.root)

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
        """(value, whether it came from the store). `load(key)` gives the entry, None when it
        is missing, or raises `Damaged`; `save(key, value)` writes it and returns what to hand
        back. `waiting_for` ends "waiting for another process to finish ..." while the lock is held."""
        if self.root is None:
            return compute(), False
        key = self.key(parts)
        try:
            value = load(key)
        except Damaged:
            value = None  # perhaps another process is writing it: judge under the lock
        if value is not None:
            return value, True
        with file_lock(self.file(key, "lock"), waiting_for):
            try:
                value = load(key)  # another process may have written it while we waited
            except Damaged as damage:
                warn_damaged(f"{self.purpose} entry", damage)
                value = None
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
        """The record, None when there is none; `Damaged` when it is not one of ours."""
        path = self.file(key, ext)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:  # ValueError: not UTF-8, not JSON
            raise Damaged(path, f"unreadable: {exc}") from None
        if not isinstance(record, dict) or record.get("format") != self.format:
            raise Damaged(path, "not a robustest cache record of this format")
        return record


def array_digest(array: np.ndarray) -> str:
    """blake2b of a C-ordered array's bytes (about 1 GB/s: hashing never dominates a load)."""
    return hashlib.blake2b(np.ascontiguousarray(array).data).hexdigest()


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

    def load_or_compute(
        self, parts: dict, compute: Callable[[], np.ndarray], what: str = "", shape: tuple[int, int] | None = None
    ) -> CacheResult:
        """`what` names the vectors in messages (e.g. "1,033 documents with all-MiniLM-L6-v2");
        `shape`, when given, is the (rows, dimension) a stored entry must have."""

        def save(key: str, array: np.ndarray) -> np.ndarray:
            array = np.ascontiguousarray(array, dtype=np.float32)
            check_finite(array, what)
            self.store.file(key, "json").unlink(missing_ok=True)  # incomplete until the new manifest
            self.store.write(key, "npy", lambda f: np.save(f, array, allow_pickle=False))
            manifest = {"shape": list(array.shape), "dtype": "float32", "blake2b": array_digest(array), "created": time.time()}
            self.store.write_record(key, "json", parts, manifest)  # last: it marks the entry complete
            return np.load(self.store.file(key, "npy"), mmap_mode="r", allow_pickle=False)

        array, hit = self.store.load_or_compute(
            parts, compute, load=lambda key: self._load(key, shape), save=save, waiting_for=f"encoding {what or 'the same vectors'}"
        )
        return CacheResult(array, hit, None if self.root is None else self.store.file(self.key(parts), "npy"))

    def _load(self, key: str, expected: tuple[int, int] | None) -> np.ndarray | None:
        npy, manifest = self.store.file(key, "npy"), self.store.read_record(key, "json")
        if manifest is None:
            if npy.exists():
                raise Damaged(npy, "no manifest beside it")
            return None
        shape, checksum = manifest.get("shape"), manifest.get("blake2b")
        valid_shape = isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)
        if not valid_shape or not isinstance(checksum, str) or manifest.get("dtype") != "float32":
            raise Damaged(self.store.file(key, "json"), "the manifest lacks a valid shape, dtype or checksum")
        array = load_array(npy)
        if array.dtype != np.float32 or not array.flags.c_contiguous:
            raise Damaged(npy, f"holds {array.dtype} in {'C' if array.flags.c_contiguous else 'Fortran'} order, not float32 in C order")
        if list(array.shape) != shape:
            raise Damaged(npy, f"shape {tuple(array.shape)}, the manifest says {tuple(shape)}")
        if expected is not None and tuple(array.shape) != tuple(expected):
            raise Damaged(npy, f"shape {tuple(array.shape)}, expected {tuple(expected)}")
        if array_digest(array) != checksum:
            raise Damaged(npy, "checksum mismatch")
        return array


def load_array(npy: Path, missing: str = "missing") -> np.ndarray:
    """A stored array, memory-mapped; `Damaged` when it is missing or not a readable array."""
    try:
        return np.load(npy, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise Damaged(npy, missing) from None
    except Exception as exc:  # truncated, empty, garbage: numpy raises many kinds
        raise Damaged(npy, f"unreadable: {exc}") from None


def check_finite(array: np.ndarray, what: str, chunk: int = 65_536) -> None:
    """NaN or infinite vectors are never cached (they would poison every later run).
    Checked `chunk` rows at a time: an assembled corpus may be larger than memory."""
    rows = np.concatenate([
        start + np.flatnonzero(~np.isfinite(array[start : start + chunk]).all(axis=tuple(range(1, array.ndim))))
        for start in range(0, len(array), chunk)
    ] or [np.zeros(0, dtype=np.int64)])
    if len(rows):
        raise RobustestError(
            f"the vectors of {what or 'the corpus'} hold NaN or infinite values ({len(rows):,} of {len(array):,} rows, "
            f"first row {rows[0]}); they are not cached. The model's output overflowed or is broken: "
            "try --robustest-dtype=float32, or check the checkpoint"
        )
