"""The embedding cache: content-addressed, atomic, never stale, never pickled."""

import json

import numpy as np
import pytest

from robustest.cache import EmbeddingCache
from robustest.errors import RobustestError

PARTS = {"retriever": "r" * 64, "corpus": "c" * 64}


def vectors(seed=0):
    return np.random.default_rng(seed).standard_normal((5, 3)).astype(np.float32)


def test_miss_then_memory_mapped_hit(tmp_path):
    cache = EmbeddingCache(tmp_path)
    first = cache.load_or_compute(PARTS, vectors)
    calls = []
    second = EmbeddingCache(tmp_path).load_or_compute(PARTS, lambda: calls.append(1) or vectors(1))
    assert (first.hit, second.hit, calls) == (False, True, [])
    assert isinstance(second.array, np.memmap) and not second.array.flags.writeable
    np.testing.assert_array_equal(second.array, vectors())
    manifest = json.loads(first.path.with_suffix(".json").read_text())
    assert manifest["key"] == PARTS and manifest["shape"] == [5, 3]
    assert sorted(p.suffix for p in (tmp_path / "embeddings").iterdir() if not p.name.endswith(".lock")) == [".json", ".npy"]


def test_a_different_key_never_reads_another_entry(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.load_or_compute(PARTS, vectors)
    other = cache.load_or_compute({**PARTS, "retriever": "s" * 64}, lambda: vectors(2))
    assert not other.hit
    np.testing.assert_array_equal(other.array, vectors(2))


@pytest.mark.parametrize("damage", ["manifest-missing", "manifest-garbage", "array-truncated", "shape-mismatch"])
def test_a_damaged_entry_is_recomputed(tmp_path, damage):
    cache = EmbeddingCache(tmp_path)
    path = cache.load_or_compute(PARTS, vectors).path
    manifest = path.with_suffix(".json")
    if damage == "manifest-missing":
        manifest.unlink()
    elif damage == "manifest-garbage":
        manifest.write_text("{not json")
    elif damage == "array-truncated":
        path.write_bytes(path.read_bytes()[:40])
    else:
        manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "shape": [4, 3]}))
    again = EmbeddingCache(tmp_path).load_or_compute(PARTS, lambda: vectors(3))
    assert not again.hit
    np.testing.assert_array_equal(again.array, vectors(3))


def test_a_failed_compute_leaves_no_entry(tmp_path):
    cache = EmbeddingCache(tmp_path)

    def boom():
        raise RuntimeError("encoder crashed")

    with pytest.raises(RuntimeError):
        cache.load_or_compute(PARTS, boom)
    assert [p for p in (tmp_path / "embeddings").iterdir() if not p.name.endswith(".lock")] == []
    assert not cache.load_or_compute(PARTS, vectors).hit


def test_caching_off_computes_every_time_and_writes_nothing(tmp_path):
    cache = EmbeddingCache(None)
    assert not cache.load_or_compute(PARTS, vectors).hit
    assert cache.load_or_compute(PARTS, vectors).path is None


def test_an_unwritable_cache_folder_says_how_to_fix_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RobustestError, match="--robustest-cache-dir.*--robustest-no-cache"):
        EmbeddingCache(blocker / "cache")
