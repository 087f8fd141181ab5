"""The caches verify what they read: every kind of damage to an embedding entry, a HotFlip
passage entry or the default collection is one warning line naming the file, then a rebuild;
never a crash, never a number from the damaged file. Leftover temporary files of killed
writers are removed; NaN vectors are never cached."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

from robustest.attacks.passages import AdversarialPassage
from robustest.attacks.store import PassageCache
from robustest.cache import CacheDamageWarning, ContentStore, EmbeddingCache
from robustest.data import wordnet
from robustest.data.default_collection import BUILDER_VERSION, DEFAULT_DATASET_NAME, _problem, default_collection_path
from robustest.errors import RobustestError
from robustest.files import HOST, STALE_AFTER, atomic_write, remove_leftovers, temp_path
from robustest.fingerprints import digest_json

PARTS = {"retriever": "r" * 64, "corpus": "c" * 64}


def vectors(seed=0, rows=5):
    return np.random.default_rng(seed).standard_normal((rows, 3)).astype(np.float32)


def rebuilt_once(call):
    """`call()` with every warning recorded: its value and the one damage warning's text."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = call()
    damage = [str(w.message) for w in caught if issubclass(w.category, CacheDamageWarning)]
    assert len(damage) == 1, [str(w.message) for w in caught]
    assert "\n" not in damage[0] and damage[0].endswith("; rebuilding it")
    return value, damage[0]


def quietly(call):
    """`call()`, failing on a damage warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheDamageWarning)
        return call()


# -- embeddings -------------------------------------------------------------------------------


def flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # the lowest bit of the last value: a tiny, plausible-looking change
    path.write_bytes(bytes(data))


def edit_manifest(**changes):
    def damage(npy, manifest):
        record = json.loads(manifest.read_text())
        record.update(changes)
        manifest.write_text(json.dumps({k: v for k, v in record.items() if v is not None}))

    return damage


EMBEDDING_DAMAGE = {
    # case: (damage(npy, manifest), which file the warning names, words in the reason)
    "array truncated": (lambda npy, m: npy.write_bytes(npy.read_bytes()[:-7]), "npy", "unreadable"),
    "array header only": (lambda npy, m: npy.write_bytes(npy.read_bytes()[:128]), "npy", "unreadable"),
    "array empty": (lambda npy, m: npy.write_bytes(b""), "npy", "unreadable"),
    "array zeroed": (lambda npy, m: npy.write_bytes(bytes(npy.stat().st_size)), "npy", "unreadable"),
    "array bytes changed": (lambda npy, m: flip_last_byte(npy), "npy", "checksum mismatch"),
    "array missing": (lambda npy, m: npy.unlink(), "npy", "missing"),
    "array float64": (lambda npy, m: np.save(npy, vectors().astype(np.float64)), "npy", "float64"),
    "array Fortran order": (lambda npy, m: np.save(npy, np.asfortranarray(vectors())), "npy", "Fortran order"),
    "array of other rows": (lambda npy, m: np.save(npy, vectors(9, rows=4)), "npy", "the manifest says (5, 3)"),
    "manifest missing": (lambda npy, m: m.unlink(), "npy", "no manifest"),
    "manifest not JSON": (lambda npy, m: m.write_text('{"shape": [5, 3], "dty'), "json", "unreadable"),
    "manifest not UTF-8": (lambda npy, m: m.write_bytes(b"\xff\xfe{}"), "json", "unreadable"),
    "manifest not an object": (lambda npy, m: m.write_text("[5, 3]"), "json", "not a robustest cache record"),
    "manifest of format 1": (edit_manifest(format=1), "json", "not a robustest cache record"),
    "manifest without checksum": (edit_manifest(blake2b=None), "json", "lacks"),
    "manifest without shape": (edit_manifest(shape=None), "json", "lacks"),
    "manifest shape a string": (edit_manifest(shape="5,3"), "json", "lacks"),
    "manifest shape negative": (edit_manifest(shape=[-5, 3]), "json", "lacks"),
    "manifest dtype": (edit_manifest(dtype="float16"), "json", "lacks"),
    "manifest shape": (edit_manifest(shape=[4, 3]), "npy", "the manifest says (4, 3)"),
    "manifest checksum": (edit_manifest(blake2b="0" * 128), "npy", "checksum mismatch"),
}


@pytest.mark.parametrize("case", EMBEDDING_DAMAGE)
def test_a_damaged_embedding_entry_is_one_warning_then_rebuilt(tmp_path, case):
    damage, named, reason = EMBEDDING_DAMAGE[case]
    npy = EmbeddingCache(tmp_path).load_or_compute(PARTS, vectors).path
    manifest = npy.with_suffix(".json")
    damage(npy, manifest)

    result, message = rebuilt_once(lambda: EmbeddingCache(tmp_path).load_or_compute(PARTS, lambda: vectors(3)))
    assert f"damaged embedding cache entry {npy.with_suffix('.' + named)} (" in message and reason in message
    assert not result.hit
    np.testing.assert_array_equal(result.array, vectors(3))  # the recomputed vectors, never the damaged ones

    again = quietly(lambda: EmbeddingCache(tmp_path).load_or_compute(PARTS, lambda: pytest.fail("recomputed")))
    assert again.hit and isinstance(again.array, np.memmap)
    np.testing.assert_array_equal(again.array, vectors(3))


def test_a_healthy_entry_is_a_silent_memory_mapped_hit_with_its_checksum_recorded(tmp_path):
    first = EmbeddingCache(tmp_path).load_or_compute(PARTS, vectors)
    manifest = json.loads(first.path.with_suffix(".json").read_text())
    assert manifest["format"] == 2 and manifest["shape"] == [5, 3] and len(manifest["blake2b"]) == 128
    hit = quietly(lambda: EmbeddingCache(tmp_path).load_or_compute(PARTS, lambda: pytest.fail("recomputed"), shape=(5, 3)))
    assert hit.hit and isinstance(hit.array, np.memmap) and not hit.array.flags.writeable
    np.testing.assert_array_equal(hit.array, vectors())


def test_an_entry_of_the_wrong_dimension_for_the_retriever_is_rebuilt(tmp_path):
    EmbeddingCache(tmp_path).load_or_compute(PARTS, vectors)
    wide = np.ones((5, 4), dtype=np.float32)
    result, message = rebuilt_once(lambda: EmbeddingCache(tmp_path).load_or_compute(PARTS, lambda: wide, shape=(5, 4)))
    assert "shape (5, 3), expected (5, 4)" in message and not result.hit
    np.testing.assert_array_equal(result.array, wide)


def test_entries_of_the_unchecksummed_format_are_not_read_and_not_reported(tmp_path):
    """Format 1 entries have other keys: they are simply recomputed, with no warning."""
    folder = tmp_path / "embeddings"
    folder.mkdir()
    old_key = "896b2d2710ca72a63c7d2ff95bd6a5f47b1762efc36344cac420fc8bea8c51c8"  # format 1's key of PARTS
    np.save(folder / f"{old_key}.npy", vectors(4))
    (folder / f"{old_key}.json").write_text(json.dumps({"format": 1, "key": PARTS, "shape": [5, 3], "dtype": "float32", "created": 0}))
    result = quietly(lambda: EmbeddingCache(tmp_path).load_or_compute(PARTS, vectors))
    assert not result.hit and result.path.name != f"{old_key}.npy"
    np.testing.assert_array_equal(result.array, vectors())


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_vectors_are_never_cached(tmp_path, bad):
    poisoned = vectors()
    poisoned[2, 1] = bad
    cache = EmbeddingCache(tmp_path)
    with pytest.raises(RobustestError, match=r"vectors of 5 documents with broken-model hold NaN or infinite values \(1 of 5 rows, first row 2\)"):
        cache.load_or_compute(PARTS, lambda: poisoned, what="5 documents with broken-model")
    assert [p.name for p in (tmp_path / "embeddings").iterdir() if not p.name.endswith(".lock")] == []
    assert not cache.load_or_compute(PARTS, vectors).hit  # the next run computes afresh


# -- HotFlip passages ---------------------------------------------------------------------------

PASSAGE_PARTS = {"attack": "hotflip", "seed": 1}


def passages(text="adversarial words"):
    return [AdversarialPassage(text=text, method="hotflip", cluster=0, query_ids=("q1",), token_ids=(7, 8), trace=(0.1, 0.2), accepted=(1,), extra={})]


def edit_record(change):
    def damage(path):
        record = json.loads(path.read_text())
        change(record)
        path.write_text(json.dumps(record))

    return damage


PASSAGE_DAMAGE = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:-20]), "unreadable"),
    "empty": (lambda p: p.write_bytes(b""), "unreadable"),
    "zeroed": (lambda p: p.write_bytes(bytes(p.stat().st_size)), "unreadable"),
    "not an object": (lambda p: p.write_text("[]"), "not a robustest cache record"),
    "no passages": (edit_record(lambda r: r.pop("passages")), "checksum mismatch"),
    "no checksum": (edit_record(lambda r: r.pop("sha256")), "checksum mismatch"),
    "a token id changed": (edit_record(lambda r: r["passages"][0]["token_ids"].__setitem__(0, 9)), "checksum mismatch"),
    "text changed": (edit_record(lambda r: r["passages"][0].update(text="other words")), "checksum mismatch"),
    "checksummed but not passages": (edit_record(lambda r: r.update(passages=[{"text": 1}], sha256=digest_json([{"text": 1}]))), "not a list of passages"),
}


@pytest.mark.parametrize("case", PASSAGE_DAMAGE)
def test_a_damaged_passage_entry_is_one_warning_then_rebuilt(tmp_path, case):
    damage, reason = PASSAGE_DAMAGE[case]
    cache = PassageCache(tmp_path)
    assert cache.load_or_compute(PASSAGE_PARTS, passages) == (passages(), False)
    path = cache.path(PASSAGE_PARTS)
    damage(path)

    value, message = rebuilt_once(lambda: PassageCache(tmp_path).load_or_compute(PASSAGE_PARTS, lambda: passages("fresh words")))
    assert message.startswith(f"damaged adversarial passage cache entry {path} (") and reason in message
    assert value == (passages("fresh words"), False)
    assert quietly(lambda: PassageCache(tmp_path).load_or_compute(PASSAGE_PARTS, lambda: pytest.fail("recomputed"))) == (passages("fresh words"), True)


# -- leftovers of killed writers ------------------------------------------------------------------


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def test_leftover_temporary_files_of_dead_writers_are_removed(tmp_path):
    folder = tmp_path / "embeddings"
    folder.mkdir()
    old = time.time() - STALE_AFTER - 60
    files = {
        "dead writer here": (f".a.npy.tmp-{dead_pid()}-{HOST}", None, False),
        "old format, dead": (f".a.json.tmp{dead_pid()}", old, False),
        "another host, old": (".b.npy.tmp-12-elsewhere.example", old, False),
        "another host, fresh": (".b.npy.tmp-12-elsewhere.example-2", None, True),  # may still be writing
        "live writer here": (f".c.npy.tmp-{os.getppid()}-{HOST}", None, True),
        "this process": (temp_path(folder / "d.npy").name, None, True),
        "an entry": ("e.npy", old, True),
        "a lock": ("e.lock", old, True),
    }
    for name, mtime, _ in files.values():
        (folder / name).write_bytes(b"x")
        if mtime:
            os.utime(folder / name, (mtime, mtime))
    EmbeddingCache(tmp_path)  # opening the store sweeps its folder
    kept = {case for case, (name, _, _) in files.items() if (folder / name).exists()}
    assert kept == {case for case, (_, _, keep) in files.items() if keep}


def test_a_write_removes_the_leftovers_of_its_own_file_only(tmp_path):
    mine, other = tmp_path / f".run.json.tmp-{dead_pid()}-{HOST}", tmp_path / f".other.json.tmp-{dead_pid()}-{HOST}"
    mine.write_bytes(b"half a run")
    other.write_bytes(b"half another")
    atomic_write(tmp_path / "run.json", lambda f: f.write(b"{}"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["run.json", other.name])
    remove_leftovers(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]
    remove_leftovers(tmp_path / "no such folder")  # nothing to do, no error


def test_a_failed_write_leaves_no_temporary_file(tmp_path):
    def fail(f):
        f.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(RobustestError, match="No space left on device"):
        atomic_write(tmp_path / "x.json", fail)
    assert list(tmp_path.iterdir()) == []


def test_a_store_user_that_finds_damage_rebuilds_under_the_lock(tmp_path):
    """The generic store: `load` raising Damaged is one warning, then compute and save."""
    from robustest.cache import Damaged

    store = ContentStore(tmp_path, "things", "thing cache", format=1)
    seen = []

    def load(key):
        seen.append(key)
        if len(seen) <= 2:  # damaged on the first look and under the lock
            raise Damaged(store.file(key, "json"), "bad\nthing")
        return None

    value, message = rebuilt_once(lambda: store.load_or_compute({"n": 1}, lambda: 7, load=load, save=lambda k, v: v, waiting_for="x"))
    assert value == (7, False) and len(seen) == 2 and "(bad thing)" in message


# -- the default collection -----------------------------------------------------------------------

COLLECTION_FILES = ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv", "qrels/train.tsv", "README.md")


def fake_collection(folder):
    """A folder with the files and a manifest like the builder's (the checks read only these)."""
    import hashlib

    (folder / "qrels").mkdir(parents=True)
    for name in COLLECTION_FILES:
        (folder / name).write_text(f"content of {name}\n")
    manifest = {"builder_version": BUILDER_VERSION, "sha256": {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in COLLECTION_FILES}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def edit_json(path, **changes):
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


COLLECTION_DAMAGE = {
    "corpus truncated": (lambda f: (f / "corpus.jsonl").write_text("content of"), "corpus.jsonl does not match its checksum"),
    "qrels emptied": (lambda f: (f / "qrels/test.tsv").write_bytes(b""), "qrels/test.tsv does not match its checksum"),
    "queries missing": (lambda f: (f / "queries.jsonl").unlink(), "cannot read queries.jsonl"),
    "manifest missing": (lambda f: (f / "manifest.json").unlink(), "no manifest.json"),
    "manifest not JSON": (lambda f: (f / "manifest.json").write_text("{"), "manifest.json unreadable"),
    "manifest not an object": (lambda f: (f / "manifest.json").write_text("[]"), "not this builder's"),
    "manifest of another builder": (lambda f: edit_json(f / "manifest.json", builder_version=0), "not this builder's"),
    "manifest without a file": (lambda f: edit_json(f / "manifest.json", sha256={"corpus.jsonl": "0"}), "not this builder's"),
}


def test_a_complete_collection_passes_its_check(tmp_path):
    assert _problem(fake_collection(tmp_path / "c")) is None


@pytest.mark.parametrize("case", COLLECTION_DAMAGE)
def test_each_damage_to_the_collection_is_named(tmp_path, case):
    damage, reason = COLLECTION_DAMAGE[case]
    folder = fake_collection(tmp_path / "c")
    damage(folder)
    assert reason in _problem(folder)


@pytest.mark.skipif(wordnet.find_debian_wordnet() is None, reason="apt-get install -y --no-install-recommends wordnet-base wordnet-sense-index")
def test_the_damaged_default_collection_is_one_warning_then_rebuilt_identically(tmp_path, monkeypatch):
    monkeypatch.delenv(wordnet.NLTK_DATA_ENV, raising=False)
    built = quietly(lambda: default_collection_path(tmp_path))
    assert built == tmp_path / "datasets" / f"{DEFAULT_DATASET_NAME}-v{BUILDER_VERSION}"
    original = {f: (built / f).read_bytes() for f in (*COLLECTION_FILES, "manifest.json")}
    corpus = built / "corpus.jsonl"
    corpus.write_bytes(original["corpus.jsonl"].replace(b"bank", b"bonk", 1))  # same size, one word changed
    killed_build = tmp_path / "datasets" / f".{built.name}-k1ll3d"  # what a killed build leaves
    killed_build.mkdir()

    path, message = rebuilt_once(lambda: default_collection_path(tmp_path))
    assert path == built
    assert message == f"damaged default collection {built} (corpus.jsonl does not match its checksum); rebuilding it"
    assert {f: (built / f).read_bytes() for f in original} == original
    assert [p.name for p in built.parent.iterdir() if p.name.startswith(".")] == []
    assert quietly(lambda: default_collection_path(tmp_path)) == built

