"""`robustest encode`: the corpus vectors, pre-encoded in this process or by Ray actors, land in
the very entry a suite run reads, equal to a one-process encode.

Real parts throughout: cranfield, all-MiniLM-L6-v2, Ray Data with 2 local actors. The shard
tests use a small retriever of our own (vectors from each text's digest, `module:factory`),
so they check the sharding, not the model, in seconds.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from robustest.cache import CacheDamageWarning, EmbeddingCache, array_digest
from robustest.cli import main
from robustest.data import load_dataset
from robustest.encode import Shard, ShardFolder, encode_corpus, plan_shards
from robustest.retrieval import corpus_cache_parts
from robustest.retrievers.resolve import LoadOptions, resolve_retriever

pytest.importorskip("ray.data", reason="the Ray encode tests need the ray extra: pip install 'robustest[ray]'")

MEASURE = "nDCG@10"

FAKES = '''
import hashlib

import numpy as np


class DigestVectors:
    """Vectors from each text's blake2b digest: deterministic, no model, instant."""

    name = "digest-vectors"
    similarity = "cosine"
    fingerprint = "digest-vectors-1"
    dimension = 8

    def encode_documents(self, texts):
        rows = [np.frombuffer(hashlib.blake2b(t.encode(), digest_size=32).digest(), dtype=np.uint32) for t in texts]
        return (np.stack(rows) / 2**32).astype(np.float32) if rows else np.zeros((0, 8), np.float32)

    encode_queries = encode_documents


class NaNVectors(DigestVectors):
    name = "nan-vectors"
    fingerprint = "nan-vectors-1"

    def encode_documents(self, texts):
        return np.full((len(texts), 8), np.nan, dtype=np.float32)


def digest_vectors():
    return DigestVectors()


def nan_vectors():
    return NaNVectors()
'''


def run_cli(*args: str) -> tuple[int, str, str]:
    """`robustest ARGS` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()


def run_cli_process(*args: str) -> subprocess.CompletedProcess:
    """`robustest ARGS` in a fresh process: Ray starts and stops there, and every byte it
    writes to the terminal, from any process, is captured."""
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    return subprocess.run([sys.executable, "-m", "robustest.cli", *args], capture_output=True, text=True, env=env, timeout=900)


def entry_array(path: Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def entry_line(stdout: str) -> Path:
    return Path(next(line for line in stdout.splitlines() if line.startswith("robustest: entry ")).split("entry ", 1)[1])


def clean_score(dataset: Path, cache: Path) -> tuple[bool, float]:
    """What the next suite run sees: (cache hit, clean nDCG@10), through the plugin's session."""
    from robustest.engine.session import RobustestSession
    from robustest.settings import Settings

    session = RobustestSession(Settings.from_sources({"dataset": str(dataset), "cache_dir": str(cache)}, {}))
    score = session.clean_evaluation.mean(MEASURE)
    return session.corpus_index.cache_hit, score


@pytest.fixture(scope="module")
def one_process(cranfield_dir, cache_dir):
    """`robustest encode --workers 1` on cranfield: (cache folder, status, stdout). In the test
    run's shared cache: when another test has encoded cranfield there (in one process, the
    same way), this is a cache hit and the corpus is not encoded twice."""
    status, out, _ = run_cli("encode", "--dataset", str(cranfield_dir), "--cache-dir", str(cache_dir), "--workers", "1")
    return cache_dir, status, out


@pytest.fixture(scope="module")
def on_ray(cranfield_dir, tmp_path_factory):
    """`robustest encode --workers 2` on cranfield, 2 local Ray actors: (cache folder, the finished process)."""
    cache = tmp_path_factory.mktemp("ray-cache")
    return cache, run_cli_process("encode", "--dataset", str(cranfield_dir), "--cache-dir", str(cache), "--workers", "2")


def test_one_process_encode_writes_the_entry(one_process):
    cache, status, out = one_process
    assert status == 0
    path = entry_line(out)
    assert path.parent == cache / "embeddings" and path.exists()
    assert "1,400 x 384 float32 vectors, " in out
    assert ("encoded in" in out and "in this process" in out) or "already cached, nothing encoded" in out
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["shape"] == [1400, 384] and manifest["blake2b"] == array_digest(entry_array(path))


def test_ray_encode_with_two_workers_equals_the_one_process_encode(one_process, on_ray):
    cache, finished = on_ray
    assert finished.returncode == 0, finished.stderr
    path = entry_line(finished.stdout)
    assert "on 2 Ray workers" in finished.stdout and "1,400 x 384 float32 vectors" in finished.stdout
    # The same key: the entry a suite run on these settings looks up.
    assert path.name == entry_line(one_process[2]).name
    np.testing.assert_allclose(entry_array(path), entry_array(entry_line(one_process[2])), rtol=0, atol=1e-5)
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".shards")] == []  # assembled, then removed


def test_ray_is_quiet(on_ray):
    """Only robustest's own lines: no Ray start-up banner, dashboard, worker logs or Ray Data bars."""
    _, finished = on_ray
    lines = [line for line in (finished.stdout + finished.stderr).splitlines() if line.strip()]
    assert lines and all(line.startswith("robustest") for line in lines), lines
    assert not [line for line in lines if "warning" in line.lower()]
    assert any("encoding 1,400 documents with all-MiniLM-L6-v2 on 2 Ray workers" in line for line in lines)


def test_after_a_ray_encode_the_next_run_is_a_cache_hit_with_the_same_ndcg(cranfield_dir, one_process, on_ray):
    ray_hit, ray_score = clean_score(cranfield_dir, on_ray[0])
    one_hit, one_score = clean_score(cranfield_dir, one_process[0])
    assert ray_hit and one_hit
    assert abs(ray_score - one_score) <= 1e-6, (ray_score, one_score)


def test_encoding_again_is_a_cache_hit_without_starting_ray(cranfield_dir, on_ray):
    status, out, err = run_cli("encode", "--dataset", str(cranfield_dir), "--cache-dir", str(on_ray[0]), "--workers", "2")
    assert status == 0 and "already cached, nothing encoded" in out
    assert "Ray" not in err


# --- shards -------------------------------------------------------------------------------------


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    """A folder holding the fake retrievers' module, as the working folder (module:factory)."""
    folder = tmp_path / "fakes"
    folder.mkdir()
    (folder / "robustest_encode_fakes.py").write_text(textwrap.dedent(FAKES))
    monkeypatch.chdir(folder)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    return folder


def digest_reference(dataset) -> np.ndarray:
    import hashlib

    rows = [np.frombuffer(hashlib.blake2b(t.encode(), digest_size=32).digest(), dtype=np.uint32) for t in dataset.documents]
    return (np.stack(rows) / 2**32).astype(np.float32)


def test_plan_shards_covers_the_corpus_in_order():
    shards = plan_shards(1400, workers=2)
    assert len(shards) == 8 and shards[0] == Shard(0, 0, 175) and shards[-1].stop == 1400
    assert [s.start for s in shards[1:]] == [s.stop for s in shards[:-1]]
    assert [s.rows for s in plan_shards(10, 3, shard_docs=4)] == [4, 4, 2]


def test_an_incomplete_or_damaged_shard_is_never_used(tmp_path):
    shard = Shard(0, 0, 4)
    vectors = np.arange(12, dtype=np.float32).reshape(4, 3)

    def fresh() -> ShardFolder:
        folder = ShardFolder(tmp_path / "k.shards", "k")
        folder.write(shard, vectors)
        return folder

    folder = fresh()
    np.testing.assert_array_equal(folder.read(shard), vectors)
    # A run killed between the vectors and the manifest: silently encoded again.
    folder.file(shard, "json").unlink()
    assert folder.read(shard) is None and not folder.file(shard, "npy").exists()
    # A file changed after its manifest, a truncated file, another entry's or range's manifest: damage.
    for damage in ("checksum", "truncated", "key", "range"):
        folder = fresh()
        npy, manifest = folder.file(shard, "npy"), folder.file(shard, "json")
        if damage == "checksum":
            data = bytearray(npy.read_bytes())
            data[-1] ^= 1
            npy.write_bytes(bytes(data))
        elif damage == "truncated":
            npy.write_bytes(npy.read_bytes()[:-8])
        else:
            record = json.loads(manifest.read_text())
            record.update({"key": "other"} if damage == "key" else {"stop": 5})
            manifest.write_text(json.dumps(record))
        with pytest.warns(CacheDamageWarning, match="encode shard"):
            assert folder.read(shard) is None, damage
        assert not npy.exists() and not manifest.exists()


def test_ray_encode_redoes_partial_shards_and_keeps_complete_ones(small_cranfield, fakes, tmp_path):
    """A killed run left three shards: one complete (kept: the rerun resumes), one without its
    manifest and one damaged (both encoded again). 2 local Ray actors."""
    dataset = load_dataset(str(small_cranfield))
    options = LoadOptions(progress=False)
    resolution = resolve_retriever("robustest_encode_fakes:digest_vectors", options)
    cache = EmbeddingCache(tmp_path / "cache")
    key = cache.key(corpus_cache_parts("digest-vectors-1", dataset))
    shards = plan_shards(len(dataset.doc_ids), workers=2, shard_docs=40)
    reference = digest_reference(dataset)
    folder = ShardFolder(cache.root / f"{key}.shards", key)
    kept, partial, damaged = shards[:3]
    folder.write(kept, np.full((kept.rows, 8), 0.25, dtype=np.float32))  # complete: must be kept as it is
    folder.write(partial, np.zeros((partial.rows, 8), dtype=np.float32))
    folder.file(partial, "json").unlink()
    folder.write(damaged, reference[damaged.start : damaged.stop])
    np.save(folder.file(damaged, "npy"), np.zeros((damaged.rows, 8), dtype=np.float32))  # no longer its checksum

    with pytest.warns(CacheDamageWarning, match="checksum mismatch"):
        result = encode_corpus(dataset, resolution, options, cache, workers=2, shard_docs=40)
    assert (result.cached, result.rows, result.dimension) == (False, len(dataset.doc_ids), 8)
    assert (result.shards, result.reused_shards) == (len(shards) - 1, 1)
    stored = entry_array(result.path)
    np.testing.assert_array_equal(stored[: kept.stop], 0.25)
    np.testing.assert_array_equal(stored[kept.stop :], reference[kept.stop :])
    assert not folder.path.exists()


def test_a_worker_error_is_one_line(small_cranfield, fakes, tmp_path, capsys):
    status = main(["encode", "--retriever", "robustest_encode_fakes:nan_vectors", "--dataset", str(small_cranfield), "--cache-dir", str(tmp_path / "c"), "--workers", "2"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]
    assert status == 2 and len(errors) == 1, err
    assert errors[0].startswith("robustest: error: retriever nan-vectors: encode_documents returned NaN in row 0 of"), errors
    assert "(document '" in errors[0]


def test_a_second_encoder_waits_for_the_lock_and_says_so(small_cranfield, fakes, tmp_path, capsys):
    dataset = load_dataset(str(small_cranfield))
    cache = EmbeddingCache(tmp_path / "cache")
    lock = cache.store.file(cache.key(corpus_cache_parts("digest-vectors-1", dataset)), "lock")
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import sys, time\nfrom filelock import FileLock\nwith FileLock({str(lock)!r}):\n print('held', flush=True)\n time.sleep(2)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        status = main(["encode", "--retriever", "robustest_encode_fakes:digest_vectors", "--dataset", str(small_cranfield), "--cache-dir", str(tmp_path / "cache")])
    finally:
        holder.wait(timeout=30)
    out, err = capsys.readouterr()
    assert status == 0 and "in this process" in out
    assert "waiting for another process to finish encoding 150 documents with digest-vectors" in err
    np.testing.assert_array_equal(entry_array(entry_line(out)), digest_reference(dataset))


# --- the command's own errors ---------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_bad_workers_is_one_line(value, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["encode", "--workers", value])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and len(err.strip().splitlines()) == 1
    assert "argument --workers" in err


def test_without_ray_more_workers_say_how_to_install_it(small_cranfield, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` does where Ray is not installed
    status = main(["encode", "--dataset", str(small_cranfield), "--workers", "2"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.strip() == "robustest: error: --workers=2 encodes on Ray, which is not installed: pip install 'robustest[ray]'"


def test_a_lexical_retriever_has_nothing_to_encode(small_cranfield, tmp_path, capsys):
    status = main(["encode", "--retriever", "bm25", "--dataset", str(small_cranfield), "--cache-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0
    assert "robustest: BM25 is lexical: it searches the texts themselves and has no vectors to encode; nothing to do" in out


def test_no_cache_is_refused(small_cranfield, capsys):
    status = main(["encode", "--dataset", str(small_cranfield), "--no-cache"])
    assert status == 2
    assert capsys.readouterr().err.strip().endswith("drop --no-cache")


def test_the_encode_module_imports_neither_ray_nor_pytest():
    """Ray loads only on the Ray path; the core stays free of pytest and Hypothesis."""
    code = (
        "import sys\nimport robustest.encode, robustest.cli\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'pytest', '_pytest', 'hypothesis', 'torch'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
