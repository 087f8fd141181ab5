"""The content-addressed store and its two users (corpus embeddings, HotFlip passages):
atomic, never stale, never pickled, and readable by the layout existing caches have."""

import json

import numpy as np
import pytest

from robustest.attacks.passages import AdversarialPassage
from robustest.attacks.store import PassageCache
from robustest.cache import ContentStore, EmbeddingCache, array_digest
from robustest.errors import RobustestError
from robustest.fingerprints import digest_json

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


# -- the shared store: keys and layout as caches written before it have them ---------------

EMBEDDING_KEY = "aa7d918d731c703e7d2730ee0c90baf5f64ff98b6cb6c85017c1790bef6f5d09"  # sha256 of {"format": 2, **PARTS}
PASSAGE_PARTS = {"attack": "hotflip", "seed": 1}
PASSAGE_KEY = "c83a9ed673707c92ea7ddc16da577f62c7d4f68e3251fc715f80ae6db3d03164"


def passages():
    return [AdversarialPassage(text="a b", method="hotflip", cluster=0, query_ids=("q1",), token_ids=(7, 8), trace=(0.1, 0.2), accepted=(1,), extra={})]


def test_an_embedding_entry_written_by_hand_in_the_existing_layout_is_a_hit(tmp_path):
    folder = tmp_path / "embeddings"
    folder.mkdir()
    np.save(folder / f"{EMBEDDING_KEY}.npy", vectors(4))
    (folder / f"{EMBEDDING_KEY}.json").write_text(json.dumps({"format": 2, "key": PARTS, "shape": [5, 3], "dtype": "float32", "blake2b": array_digest(vectors(4)), "created": 0}))
    result = EmbeddingCache(tmp_path).load_or_compute(PARTS, lambda: pytest.fail("recomputed"))
    assert result.hit and result.path == folder / f"{EMBEDDING_KEY}.npy"
    np.testing.assert_array_equal(result.array, vectors(4))


def test_the_passage_cache_keeps_its_layout_and_reads_its_own_entries(tmp_path):
    cache = PassageCache(tmp_path)
    path = tmp_path / "attacks" / f"{PASSAGE_KEY}.json"
    assert cache.path(PASSAGE_PARTS) == path
    assert cache.load_or_compute(PASSAGE_PARTS, passages) == (passages(), False)
    records = [p.as_dict() for p in passages()]
    assert json.loads(path.read_text()) == {"format": 2, "key": PASSAGE_PARTS, "passages": records, "sha256": digest_json(records)}
    assert PassageCache(tmp_path).load_or_compute(PASSAGE_PARTS, lambda: pytest.fail("recomputed")) == (passages(), True)
    path.write_text('{"format": 2, "passages": [{"text": 1}]}')  # damaged: recomputed, rewritten
    assert PassageCache(tmp_path).load_or_compute(PASSAGE_PARTS, passages) == (passages(), False)
    assert PassageCache(None).path(PASSAGE_PARTS) is None
    assert PassageCache(None).load_or_compute(PASSAGE_PARTS, passages) == (passages(), False)


def test_the_store_is_one_file_per_entry_under_its_kind(tmp_path):
    store = ContentStore(tmp_path, "things", "thing cache", format=3)
    calls = []

    def save(key, value):
        store.write_record(key, "json", {"n": 1}, {"value": value})
        return value

    def load(key):
        record = store.read_record(key, "json")
        return None if record is None else record["value"]

    def compute():
        calls.append(1)
        return [1, 2]

    assert store.load_or_compute({"n": 1}, compute, load=load, save=save, waiting_for="x") == ([1, 2], False)
    assert store.load_or_compute({"n": 1}, compute, load=load, save=save, waiting_for="x") == ([1, 2], True)
    assert calls == [1] and store.key({"n": 1}) != ContentStore(tmp_path, "things", "thing cache", format=4).key({"n": 1})
    assert sorted(p.name for p in (tmp_path / "things").iterdir()) == sorted(f"{store.key({'n': 1})}.{e}" for e in ("json", "lock"))
    off = ContentStore(None, "things", "thing cache", format=3)
    assert off.load_or_compute({"n": 1}, compute, load=load, save=save, waiting_for="x") == ([1, 2], False) and calls == [1, 1]
