"""What the two encoders of `robustest encode` share (encode.py here, encode_ray.py on Ray):
the result, the check that the retriever has vectors at all, and the shards on disk that a
Ray encode writes, resumes from and assembles (see encode.py on how a shard counts).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from .cache import Damaged, array_digest, load_array, warn_damaged
from .errors import RobustestError
from .files import atomic_write, remove_leftovers, write_json

SHARD_DOCS = 10_000  # documents per shard at most: each is one result Ray hands back
SHARDS_PER_WORKER = 4  # at least this many shards per worker, so one slow shard leaves no worker idle


class NothingToEncode(RobustestError):
    """The retriever is lexical (BM25): it searches the texts themselves, there are no vectors."""


@dataclass(frozen=True)
class EncodeResult:
    path: Path  # the cache entry (.npy; its manifest is the .json beside it)
    rows: int
    dimension: int
    cached: bool  # the entry was already there: nothing was encoded
    seconds: float  # wall time of the whole call
    workers: int  # 1: in this process
    shards: int = 0  # shards Ray encoded in this call
    reused_shards: int = 0  # complete shards a killed earlier run had left
    ray_start_s: float | None = None  # starting (or connecting to) Ray, when it was needed


def check_dense(retriever) -> None:
    if hasattr(retriever, "build_searcher"):
        raise NothingToEncode(lexical_message(retriever.name))


def lexical_message(name: str) -> str:
    return f"{name} is lexical: it searches the texts themselves and has no vectors to encode; nothing to do"


@dataclass(frozen=True)
class Shard:
    index: int
    start: int  # first document (position in the corpus)
    stop: int  # one past the last

    @property
    def rows(self) -> int:
        return self.stop - self.start


def plan_shards(documents: int, workers: int, shard_docs: int | None = None) -> list[Shard]:
    """Consecutive ranges covering the corpus: `shard_docs` each (default: at least
    SHARDS_PER_WORKER per worker, at most SHARD_DOCS documents each)."""
    if shard_docs is None:
        shard_docs = min(SHARD_DOCS, -(-documents // (workers * SHARDS_PER_WORKER)))
    if isinstance(shard_docs, bool) or not isinstance(shard_docs, int) or shard_docs < 1:
        raise RobustestError(f"shard_docs={shard_docs!r} must be a whole number >= 1")
    starts = range(0, documents, shard_docs)
    return [Shard(i, start, min(start + shard_docs, documents)) for i, start in enumerate(starts)]


class ShardFolder:
    """`<entry>.shards/`: one `.npy` per shard and its manifest `.json`, written last."""

    def __init__(self, path: Path, key: str):
        self.path = path
        self.key = key
        self.path.mkdir(parents=True, exist_ok=True)
        remove_leftovers(self.path)  # temporary files of a killed writer

    def file(self, shard: Shard, ext: str) -> Path:
        return self.path / f"{shard.start:012d}-{shard.stop:012d}.{ext}"

    def write(self, shard: Shard, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != shard.rows:
            raise RobustestError(f"a Ray worker returned shape {vectors.shape} for documents {shard.start}-{shard.stop - 1}; expected {shard.rows} rows")
        self.file(shard, "json").unlink(missing_ok=True)  # incomplete until the new manifest
        atomic_write(self.file(shard, "npy"), lambda f: np.save(f, vectors, allow_pickle=False))
        manifest = {"key": self.key, "start": shard.start, "stop": shard.stop, "shape": list(vectors.shape), "blake2b": array_digest(vectors)}
        write_json(self.file(shard, "json"), manifest)

    def read(self, shard: Shard, dimension: int | None = None) -> np.ndarray | None:
        """The shard's vectors, or None when it is not complete (then its files are removed);
        a manifest that does not fit its file warns as cache damage."""
        try:
            return self._read(shard, dimension)
        except Damaged as damage:
            warn_damaged("encode shard", damage)
        except FileNotFoundError:
            pass  # never written, or a killed run wrote the vectors but not the manifest
        self.discard(shard)
        return None

    def _read(self, shard: Shard, dimension: int | None) -> np.ndarray:
        manifest_path, npy = self.file(shard, "json"), self.file(shard, "npy")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise Damaged(manifest_path, f"unreadable: {exc}") from None
        expected = {"key": self.key, "start": shard.start, "stop": shard.stop}
        if not isinstance(manifest, dict) or any(manifest.get(k) != v for k, v in expected.items()):
            raise Damaged(manifest_path, "not the manifest of this entry's shard")
        vectors = load_array(npy, missing="missing beside its manifest")
        shape_ok = vectors.ndim == 2 and len(vectors) == shard.rows and list(vectors.shape) == manifest.get("shape")
        if vectors.dtype != np.float32 or not shape_ok or (dimension is not None and vectors.shape[1] != dimension):
            raise Damaged(npy, f"holds {vectors.dtype} of shape {vectors.shape}, not {shard.rows} float32 rows of the manifest's shape")
        if array_digest(vectors) != manifest.get("blake2b"):
            raise Damaged(npy, "checksum mismatch")
        return vectors

    def discard(self, shard: Shard) -> None:
        for ext in ("json", "npy"):  # the manifest first: without it the vectors never count
            self.file(shard, ext).unlink(missing_ok=True)

    def complete(self, shards: Iterable[Shard]) -> list[Shard]:
        """The shards already on disk and complete (a killed earlier run's); the others' files are removed."""
        return [s for s in shards if self.file(s, "json").exists() and self.read(s) is not None]

    def assemble(self, shards: list[Shard]) -> np.ndarray:
        """Every shard, checked again, copied in document order into one float32 array on disk
        (memory-mapped: a corpus larger than memory assembles too)."""
        first = self.read(shards[0])
        if first is None:
            raise RobustestError(f"shard {self.file(shards[0], 'npy')} vanished before assembly; run robustest encode again")
        out = np.lib.format.open_memmap(self.path / "assembly.npy", mode="w+", dtype=np.float32, shape=(shards[-1].stop, first.shape[1]))
        for shard in shards:
            vectors = self.read(shard, first.shape[1])
            if vectors is None:
                raise RobustestError(f"shard {self.file(shard, 'npy')} is damaged or gone after encoding; run robustest encode again")
            out[shard.start : shard.stop] = vectors
        out.flush()
        return out

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
