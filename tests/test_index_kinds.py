"""Index kinds beyond one flat index (issue 14.3): sharded flat search equals one flat index,
approximate IVF/HNSW report their recall against exact search (checked against a recall
computed here from the two runs), flat stays the default and unchanged, GPU wiring (simulated:
no GPU here), and one clear line for each mistake."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from robustest.cache import EmbeddingCache
from robustest.data import load_beir
from robustest.errors import RobustestError
from robustest.index import DenseSearcher, IndexSpec, check_fits, default_nlist, default_nprobe, plan_line, prepare
from robustest.retrieval import CorpusIndex
from robustest.trec import clean_runs, read_trec_run

EFFECTIVENESS = Path(__file__).resolve().parent.parent / "suites" / "test_effectiveness.py"
DEPTH = 100  # the depth the default measures score (R@100)


def random_vectors(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def assert_same_ranking(scores_a, ids_a, scores_b, ids_b):
    """Equal scores, row by row; where the ids differ, the score is tied within its row (the
    order among equal scores is arbitrary)."""
    np.testing.assert_array_equal(scores_a, scores_b)
    for row_scores, row_a, row_b in zip(scores_a, ids_a, ids_b):
        values, counts = np.unique(row_scores, return_counts=True)
        tied = set(values[counts > 1].tolist())
        assert all(score in tied for score in row_scores[row_a != row_b].tolist())


def recall_of(found: dict, exact: dict, k: int) -> float:
    """Mean over queries of |found top k & exact top k| / |exact top k|: plain set arithmetic."""
    shares = []
    for qid, truth in exact.items():
        top = list(truth)[:k]
        shares.append(len(set(list(found[qid])[:k]) & set(top)) / len(top))
    return sum(shares) / len(shares)


# -- the kind and its parameters ------------------------------------------------------------
def test_index_spec_parses_to_a_canonical_text():
    assert str(IndexSpec.parse("flat")) == "flat" and IndexSpec.parse("flat").exact
    assert str(IndexSpec.parse(" HNSW : efsearch=256, m=16")) == "hnsw:M=16,efSearch=256"
    assert str(IndexSpec.parse("ivf:nprobe=8,nlist=100")) == "ivf:nlist=100,nprobe=8"
    assert not IndexSpec.parse("ivf").exact


@pytest.mark.parametrize(
    "text,message",
    [
        ("foo", "'foo' is not an index kind; use flat (exact, the default), ivf or hnsw"),
        ("ivf:nprobe=0", "nprobe must be at least 1"),
        ("ivf:nlist=many", "nlist must be a whole number"),
        ("hnsw:M=1", "M must be at least 2"),
        ("hnsw:nprobe=4", "hnsw takes M, efSearch, efConstruction"),
        ("flat:nlist=4", "flat takes no parameters"),
    ],
)
def test_bad_index_specs_say_what_to_write(text, message):
    with pytest.raises(ValueError) as info:
        IndexSpec.parse(text)
    assert message in str(info.value)


def test_default_parameters_hold_for_any_corpus_size():
    assert [default_nlist(n) for n in (1, 38, 39, 150, 1400, 10**6, 8_841_823)] == [1, 1, 1, 3, 35, 4000, 11894]
    assert all(n // default_nlist(n) >= 39 for n in (39, 1400, 10**6))  # FAISS wants >= 39 training vectors per list
    assert [default_nprobe(n) for n in (1, 3, 35, 4000, 10**5)] == [1, 3, 16, 250, 2048]  # tiny corpora: every list (exact); FAISS GPU probes <= 2048
    assert IndexSpec.parse("ivf:nprobe=64").resolved(1400) == {"nlist": 35, "nprobe": 35}  # nprobe never exceeds nlist
    assert IndexSpec.parse("hnsw:efSearch=64").resolved(10) == {"M": 32, "efSearch": 64, "efConstruction": 40}


def test_more_shards_or_lists_than_documents_is_one_line_with_the_fix():
    with pytest.raises(RobustestError, match=r"--robustest-index-shards=11 is more shards than the 10 documents of toy; use at most 10"):
        check_fits(IndexSpec(), 11, 10, "toy")
    with pytest.raises(RobustestError, match=r"--robustest-index=ivf:nlist=50 asks for more IVF lists than the 10 documents of toy; use nlist=10 at most, or leave nlist out"):
        check_fits(IndexSpec.parse("ivf:nlist=50"), 1, 10, "toy")
    with pytest.raises(RobustestError, match="splits a flat index"):
        DenseSearcher(random_vectors(20), "cosine", index="hnsw", shards=2)


# -- random vectors: shards, determinism, recall --------------------------------------------
@pytest.mark.parametrize("shards", [2, 3, 7])
def test_shards_equal_one_flat_index_on_random_vectors(shards):
    docs, queries = random_vectors(1000), random_vectors(50, seed=1)
    flat, sharded = DenseSearcher(docs, "cosine"), DenseSearcher(docs, "cosine", shards=shards)
    assert sharded.describe() == {"kind": "flat", "exact": True, "shards": shards, "gpus": 0}
    assert_same_ranking(*flat.search(queries, 20), *sharded.search(queries, 20))
    assert sharded.search(queries, 5000)[1].shape == (50, 1000)  # k beyond the corpus: every document, as flat


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_indexes_are_built_deterministically(kind):
    docs, queries = random_vectors(3000, seed=2), random_vectors(100, seed=3)
    first, second = DenseSearcher(docs, "cosine", index=kind), DenseSearcher(docs, "cosine", index=kind)
    np.testing.assert_array_equal(first.search(queries, 50)[1], second.search(queries, 50)[1])


def test_hnsw_searches_at_least_k_candidates():
    """efSearch below k would return a poor top k (FAISS does not raise it itself)."""
    docs, queries = random_vectors(2000, seed=4), random_vectors(40, seed=5)
    exact = DenseSearcher(docs, "dot").search(queries, 300)[1]
    found = DenseSearcher(docs, "dot", index="hnsw:efSearch=16").search(queries, 300)[1]
    assert np.mean([len(set(a) & set(b)) / 300 for a, b in zip(found, exact)]) > 0.9


def test_flat_default_is_todays_index():
    """The default path is one IndexFlatIP over the prepared vectors, as before this change."""
    import faiss

    docs, queries = random_vectors(500, seed=6), random_vectors(30, seed=7)
    today = faiss.IndexFlatIP(32)
    today.add(prepare(docs, True))
    searcher = DenseSearcher(docs, "cosine")
    assert type(searcher.index) is faiss.IndexFlatIP and searcher.shards == 1 and searcher.gpus == 0
    expected = today.search(prepare(queries, True), 10)
    for got, want in zip(searcher.search(queries, 10), expected):
        np.testing.assert_array_equal(got, want)


# -- GPU: no GPU here, so the wiring is checked against a simulated FAISS GPU build ---------------
class FakeClonerOptions:
    shard = False


@pytest.fixture
def two_fake_gpus(monkeypatch):
    """The installed faiss made to look like a GPU build with two GPUs; cloning records its
    arguments and keeps the CPU index (what a real clone searches like)."""
    import faiss

    clones = []

    def clone(index, co=None, ngpu=-1):
        clones.append({"shard": co.shard, "ngpu": ngpu, "type": type(index).__name__})
        return index

    monkeypatch.setattr(faiss, "StandardGpuResources", object, raising=False)
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 2)
    monkeypatch.setattr(faiss, "GpuMultipleClonerOptions", FakeClonerOptions, raising=False)
    monkeypatch.setattr(faiss, "index_cpu_to_all_gpus", clone, raising=False)
    return clones


def test_a_faiss_gpu_build_is_used_automatically_and_shards_across_gpus(two_fake_gpus):
    docs, queries = random_vectors(3000, seed=8), random_vectors(10, seed=9)
    searcher = DenseSearcher(docs, "cosine", use_gpu=None, shards=4)
    # One flat index, sharded by FAISS's cloner across both GPUs (the CPU shards are not built).
    assert two_fake_gpus == [{"shard": True, "ngpu": 2, "type": "IndexFlatIP"}]
    assert searcher.describe() == {"kind": "flat", "exact": True, "shards": 1, "gpus": 2}
    assert searcher.label() == "flat on 2 GPUs, sharded across them"
    assert searcher.search(queries, 5)[1].shape == (10, 5)
    with pytest.raises(RobustestError, match="at most 2048 documents per query on a GPU"):
        searcher.search(queries, 3000)
    assert "index flat on 2 GPUs, sharded across them (a FAISS GPU build" in plan_line("flat", 1, None)
    assert DenseSearcher(docs, "cosine", use_gpu=False).gpus == 0  # robustest_faiss_gpu = no


def test_a_gpu_that_cannot_hold_the_index_is_one_line(two_fake_gpus, monkeypatch):
    import faiss

    def out_of_memory(index, co=None, ngpu=-1):
        raise RuntimeError("Error in virtual void* faiss::gpu::StandardGpuResourcesImpl::allocMemory\nFailed to cudaMalloc 1610612736 bytes")

    monkeypatch.setattr(faiss, "index_cpu_to_all_gpus", out_of_memory, raising=False)
    with pytest.raises(RobustestError, match=r"FAISS could not put the index on 2 GPU\(s\): Failed to cudaMalloc .*; search on the CPU \(ini robustest_faiss_gpu = no"):
        DenseSearcher(random_vectors(100), "cosine", use_gpu=None)


def test_hnsw_stays_on_the_cpu_unless_a_gpu_is_demanded(two_fake_gpus):
    searcher = DenseSearcher(random_vectors(400), "cosine", use_gpu=None, index="hnsw")
    assert searcher.gpus == 0 and two_fake_gpus == []
    assert "on the CPU (FAISS has no GPU HNSW)" in plan_line("hnsw", 1, None)
    with pytest.raises(RobustestError, match="FAISS has no GPU HNSW index; use --robustest-index=ivf"):
        DenseSearcher(random_vectors(400), "cosine", use_gpu=True, index="hnsw")
    DenseSearcher(random_vectors(400), "cosine", use_gpu=None, index="ivf")
    assert two_fake_gpus[-1]["type"] == "IndexIVFFlat"


def test_no_gpu_build_here_means_cpu_and_an_unchanged_header():
    assert DenseSearcher(random_vectors(50), "cosine", use_gpu=None).gpus == 0
    assert plan_line("flat", 1, None) is None  # the default header gains no line
    assert plan_line("flat", 3, None) == "robustest: index flat, 3 shards: exact search"
    assert plan_line("ivf:nprobe=8", 1, None).startswith("robustest: index ivf (nprobe=8): APPROXIMATE search, the other parameters chosen")
    with pytest.raises(RobustestError, match="--robustest-faiss-gpu needs a FAISS GPU build"):
        DenseSearcher(random_vectors(50), "cosine", use_gpu=True)


# -- cranfield with all-MiniLM-L6-v2 ----------------------------------------------------------
@pytest.fixture(scope="module")
def cranfield(cranfield_dir):
    return load_beir(cranfield_dir)


@pytest.fixture(scope="module")
def flat_index(minilm, cranfield, cache_dir):
    return CorpusIndex(minilm, cranfield, cache=EmbeddingCache(cache_dir))


def sibling(flat_index, **options) -> CorpusIndex:
    """Another index over the same cached vectors, sharing the encoded queries."""
    other = CorpusIndex(flat_index.retriever, flat_index.dataset, cache=flat_index.cache, **options)
    other._query_vectors, other._query_bytes = flat_index._query_vectors, flat_index._query_bytes
    return other


@pytest.mark.parametrize("shards", [2, 3, 8])
def test_shards_equal_one_flat_index_on_cranfield(flat_index, shards):
    queries = list(flat_index.dataset.queries.items())
    vectors = flat_index.query_vectors(queries)
    sharded = sibling(flat_index, shards=shards)
    assert_same_ranking(*flat_index.searcher.search(vectors, 1000), *sharded.searcher.search(vectors, 1000))
    assert sharded.retrieve(queries) == flat_index.retrieve(queries)  # ids and scores of every run, 1000 deep
    ours, theirs = flat_index.evaluate(), sharded.evaluate()
    np.testing.assert_array_equal(ours.scores["nDCG@10"], theirs.scores["nDCG@10"])


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_recall_on_cranfield_is_high_and_recomputes(flat_index, kind):
    queries = list(flat_index.dataset.queries.items())
    approximate = sibling(flat_index, index=kind)
    recall = approximate.recall_against_exact(queries, (10, DEPTH))
    found = dict(zip(flat_index.dataset.queries, approximate.retrieve(queries, DEPTH)))
    exact = dict(zip(flat_index.dataset.queries, flat_index.retrieve(queries, DEPTH)))
    assert recall[DEPTH] == pytest.approx(recall_of(found, exact, DEPTH), abs=1e-12)
    assert recall[10] == pytest.approx(recall_of(found, exact, 10), abs=1e-12)
    assert recall[DEPTH] >= 0.9 and recall[10] >= 0.9, recall


# -- through the plugin (pytester) and `robustest evaluate` ---------------------------------------
def run_effectiveness(pytester, cranfield_dir, cache_dir, tmp_path, name, *options):
    saved, trec = tmp_path / f"{name}.json", tmp_path / f"{name}.trec"
    result = pytester.runpytest_subprocess(
        str(EFFECTIVENESS), "-p", "no:cacheprovider",
        f"--robustest-dataset={cranfield_dir}", f"--robustest-cache-dir={cache_dir}",
        f"--robustest-top-k={DEPTH}",  # the TREC run then holds the depth the scores use
        f"--robustest-save={saved}", f"--robustest-trec-run={trec}", *options,
    )
    result.assert_outcomes(passed=1)
    return result, json.loads(saved.read_text()), read_trec_run(trec)


@pytest.mark.parametrize("kind,label", [("ivf", "ivf (nlist=35, nprobe=16)"), ("hnsw", "hnsw (M=32, efSearch=128, efConstruction=40)")])
def test_plugin_reports_recall_in_header_summary_and_run_file(pytester, cranfield_dir, cache_dir, tmp_path, flat_index, kind, label):
    result, saved, approximate_runs = run_effectiveness(pytester, cranfield_dir, cache_dir, tmp_path, kind, f"--robustest-index={kind}")
    result.stdout.fnmatch_lines([
        f"robustest: index {kind}: APPROXIMATE search, parameters chosen from the corpus size; every score is approximate*",
        "*= robustest =*",
        f"APPROXIMATE search, {label}: recall@100 against exact search 0.9* (@10: *) over the 225 clean queries (k = 100: the depth the scores use)*",
    ])
    index = saved["index"]
    assert index["kind"] == kind and index["exact"] is False and saved["settings"]["index"] == kind
    assert index["recall"]["k"] == DEPTH and index["recall"]["queries"] == 225
    exact_runs = clean_runs(flat_index, DEPTH)
    independent = recall_of(approximate_runs, exact_runs, DEPTH)
    assert index["recall"]["value"] == pytest.approx(independent, abs=1e-12)
    assert index["recall"]["at"]["10"] == pytest.approx(recall_of(approximate_runs, exact_runs, 10), abs=1e-12)
    assert independent >= 0.9


def test_plugin_default_is_flat_with_an_unchanged_header_and_todays_runs(pytester, cranfield_dir, cache_dir, tmp_path, flat_index):
    result, saved, runs = run_effectiveness(pytester, cranfield_dir, cache_dir, tmp_path, "flat")
    output = result.stdout.str()
    assert "robustest: index" not in output and "APPROXIMATE" not in output
    assert saved["index"] == {"kind": "flat", "exact": True, "shards": 1, "gpus": 0}
    today = clean_runs(flat_index, DEPTH)
    assert list(runs) == list(today)
    for qid in today:  # the TREC file holds repr'd scores: the very floats
        assert list(runs[qid].items()) == list(today[qid].items())


def test_evaluate_prints_the_recall_line(small_cranfield, cache_dir, capsys):
    from robustest.cli import main

    code = main(["evaluate", f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={cache_dir}", "--index=hnsw:efSearch=64"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "robustest: index hnsw (efSearch=64): APPROXIMATE search" in out
    assert re.search(r"APPROXIMATE search, hnsw \(M=32, efSearch=64, efConstruction=40\): recall@100 against exact search (1\.0000|0\.99\d\d) \(@10: ", out), out


def assert_one_clear_error(result, *fragments):
    text = result.stdout.str() + "\n" + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, text
    assert "Traceback" not in text and "INTERNALERROR" not in text and "encoding" not in text, text
    assert len([line for line in text.splitlines() if line.startswith("ERROR:")]) == 1, text
    # pytest reports a value argparse refuses on the line after its usage line
    message = next(line for line in text.splitlines() if line.startswith("ERROR:") and "usage:" not in line or ": error: argument" in line)
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(
    "options,fragments",
    [
        (["--robustest-index=foo"], ["--robustest-index", "'foo' is not an index kind; use flat (exact, the default), ivf or hnsw"]),
        (["--robustest-index-shards=0"], ["--robustest-index-shards", "'0' must be at least 1"]),
        (["--robustest-index=ivf", "--robustest-index-shards=2"], ["--robustest-index-shards=2 splits a flat index", "drop --robustest-index-shards"]),
        (["--robustest-index-shards=151"], ["--robustest-index-shards=151 is more shards than the 150 documents of small-cranfield; use at most 150"]),
        (["--robustest-index=ivf:nlist=500"], ["more IVF lists than the 150 documents", "use nlist=150 at most, or leave nlist out"]),
        (["--robustest-faiss-gpu", "--robustest-index=hnsw"], ["FAISS has no GPU HNSW index"]),
    ],
)
def test_index_mistakes_are_one_clear_line_before_encoding(pytester, small_cranfield, tmp_path, options, fragments):
    result = pytester.runpytest_subprocess(
        str(EFFECTIVENESS), "-p", "no:cacheprovider", f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={tmp_path / 'cache'}", *options
    )
    assert_one_clear_error(result, *fragments)
    embeddings = tmp_path / "cache" / "embeddings"
    assert not embeddings.exists() or not any(embeddings.iterdir())
