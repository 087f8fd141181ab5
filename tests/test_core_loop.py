"""The core loop against independent computations on real data (cranfield, all-MiniLM-L6-v2)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from robustest.cache import EmbeddingCache
from robustest.data import load_beir
from robustest.retrieval import CorpusIndex

EFFECTIVENESS = Path(__file__).resolve().parent.parent / "suites" / "test_effectiveness.py"


@pytest.fixture(scope="module")
def cranfield_index(minilm, cranfield_dir, cache_dir):
    return CorpusIndex(minilm, load_beir(cranfield_dir), cache=EmbeddingCache(cache_dir))


def independent_ndcg10(model_dir, beir_dir):
    """sentence-transformers vectors, numpy brute force, pytrec_eval: nothing of robustest."""
    import pytrec_eval
    from sentence_transformers import SentenceTransformer

    docs = [json.loads(line) for line in open(beir_dir / "corpus.jsonl")]
    queries = [json.loads(line) for line in open(beir_dir / "queries.jsonl")]
    qrels = {}
    with open(beir_dir / "qrels" / "test.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    queries = [q for q in queries if q["_id"] in qrels]
    model = SentenceTransformer(str(model_dir), device="cpu")
    texts = [(d.get("title", "") + " " + d["text"]).strip() for d in docs]
    d_vec = model.encode(texts, normalize_embeddings=True, batch_size=64)
    q_vec = model.encode([q["text"] for q in queries], normalize_embeddings=True, batch_size=64)
    scores = q_vec @ d_vec.T
    run = {}
    for q, row in zip(queries, scores):
        top = np.argsort(-row, kind="stable")[:1001]
        # BEIR drops a retrieved document whose id is the query's own (on by default)
        hits = [(docs[i]["_id"], float(row[i])) for i in top if docs[i]["_id"] != q["_id"]][:1000]
        run[q["_id"]] = dict(hits)
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    return np.mean([v["ndcg_cut_10"] for v in per_query.values()]), d_vec


def test_ndcg_matches_an_independent_computation(pytester, cranfield_dir, minilm_dir, cache_dir, tmp_path):
    out = tmp_path / "run.json"
    result = pytester.runpytest_subprocess(
        str(EFFECTIVENESS),
        f"--robustest-dataset={cranfield_dir}",
        f"--robustest-cache-dir={cache_dir}",
        f"--robustest-save={out}",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*nDCG@10 = 0.*"])
    ours = json.loads(out.read_text())["effectiveness"]["nDCG@10"]
    reference, _ = independent_ndcg10(minilm_dir, cranfield_dir)
    assert abs(ours - reference) < 1e-6, (ours, reference)
    assert 0.2 < ours < 0.6  # MiniLM on cranfield: far above random, far below perfect


def test_faiss_top10_equals_numpy_brute_force(cranfield_index):
    from robustest.index import prepare

    searcher = cranfield_index.searcher
    docs = prepare(cranfield_index.embeddings, True)
    queries = list(cranfield_index.dataset.queries.values())
    q = prepare(cranfield_index.retriever.encode_queries(queries), True)
    f_scores, f_ids = searcher.search(q, 10)
    brute = q @ docs.T
    n_ids = np.argsort(-brute, axis=1, kind="stable")[:, :10]
    n_scores = np.take_along_axis(brute, n_ids, axis=1)
    np.testing.assert_allclose(f_scores, n_scores, atol=1e-5)
    for row in range(len(queries)):
        differ = f_ids[row] != n_ids[row]
        # where the ids differ, the scores must tie (order among equals is arbitrary)
        assert np.allclose(f_scores[row][differ], n_scores[row][differ], atol=1e-5)
        kth = n_scores[row, -1]
        untied = n_scores[row] > kth + 1e-5
        assert set(n_ids[row][untied]) <= set(f_ids[row])


class CountingRetriever:
    """Wraps a retriever to count corpus encodes: the cache is judged by calls, not time."""

    def __init__(self, inner):
        self.inner, self.document_calls = inner, 0
        self.name, self.similarity = inner.name, inner.similarity
        self.fingerprint, self.dimension = inner.fingerprint, inner.dimension

    def encode_queries(self, texts):
        return self.inner.encode_queries(texts)

    def encode_documents(self, texts):
        self.document_calls += 1
        return self.inner.encode_documents(texts)


def test_second_index_reuses_the_cached_corpus(minilm, small_cranfield, tmp_path):
    dataset = load_beir(small_cranfield)
    cache = EmbeddingCache(tmp_path)
    first = CorpusIndex(CountingRetriever(minilm), dataset, cache=cache)
    clean = first.evaluate()
    assert first.cache_hit is False and first.retriever.document_calls == 1
    stamp = first.cache_path.stat().st_mtime_ns

    second = CorpusIndex(CountingRetriever(minilm), dataset, cache=EmbeddingCache(tmp_path))
    again = second.evaluate()
    assert second.cache_hit is True and second.retriever.document_calls == 0
    assert second.cache_path == first.cache_path and first.cache_path.stat().st_mtime_ns == stamp
    np.testing.assert_allclose(clean.scores["nDCG@10"], again.scores["nDCG@10"])
    manifest = json.loads(first.cache_path.with_suffix(".json").read_text())
    assert manifest["key"]["retriever"] == minilm.fingerprint
    assert manifest["shape"] == [len(dataset.doc_ids), 384]


def test_evaluate_scores_repeated_query_ids_separately(cranfield_index):
    ds = cranfield_index.dataset
    qid = sorted(ds.queries, key=int)[0]
    ev = cranfield_index.evaluate([(qid, ds.queries[qid]), (qid, "zzz qqq"), (qid, ds.queries[qid])], measures=["nDCG@10", "R@100"])
    assert ev.qids == [qid, qid, qid]
    assert ev.scores["nDCG@10"][0] == ev.scores["nDCG@10"][2]
    assert ev.runs[0] == ev.runs[2] and len(ev.runs[0]) == 100  # as deep as R@100 needs
    assert ev.scores["nDCG@10"][1] <= ev.scores["nDCG@10"][0]
    assert qid not in ev.runs[0]  # BEIR: the document with the query's own id is never returned


def test_self_matches_are_kept_when_switched_off(minilm, cranfield_dir, cache_dir):
    ds = load_beir(cranfield_dir)
    keep = CorpusIndex(minilm, ds, cache=EmbeddingCache(cache_dir), exclude_self_matches=False, k=1400)
    qid = sorted(ds.queries, key=int)[0]
    assert qid in keep.retrieve([(qid, ds.queries[qid])])[0]
