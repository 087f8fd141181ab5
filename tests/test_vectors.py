"""Vectors are checked as they come out of any retriever, before FAISS or the cache sees them:
one line naming the retriever, the call and the first bad row. Also the short reprs."""

import re
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from robustest.cache import EmbeddingCache
from robustest.data import load_beir
from robustest.errors import RobustestError
from robustest.index import DenseSearcher
from robustest.retrieval import CorpusIndex

HASHING_MODULE = '''
import re, zlib
import numpy as np

class HashingRetriever:
    """A user's own retriever: hashed word counts, L2-normalised by hand, so a text with no
    words becomes 0/0 = NaN (a real bug, not an injected one)."""

    similarity = "cosine"

    def __init__(self, size=64, declared="size", docs=None, queries=None, name="hashing"):
        self.size, self.name = size, name
        self.dimension = size if declared == "size" else declared
        self.docs, self.queries = docs or (lambda v: v), queries or (lambda v: v)

    @property
    def fingerprint(self):
        return f"hashing-{self.size}"

    def vectors(self, texts):
        out = np.zeros((len(texts), self.size), np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                out[i, zlib.crc32(word.encode()) % self.size] += 1
        with np.errstate(invalid="ignore"):
            return out / np.linalg.norm(out, axis=1, keepdims=True)

    def encode_documents(self, texts):
        return self.docs(self.vectors(texts))

    def encode_queries(self, texts):
        return self.queries(self.vectors(texts))


def make_nan_corpus():
    """For the CLI test: the corpus' 18th document encodes to NaN."""
    def poison(v):
        v = v.copy()
        v[17] = np.nan
        return v
    return HashingRetriever(docs=poison, name="nan-corpus")
'''

namespace: dict = {}
exec(compile(HASHING_MODULE, "hashing_retriever", "exec"), namespace)
HashingRetriever = namespace["HashingRetriever"]


@pytest.fixture(scope="module")
def small(small_cranfield):
    return load_beir(small_cranfield)


def with_empty_document(dataset, row=17):
    """The same collection with document `row` reduced to punctuation (no words)."""
    return replace(
        dataset,
        titles=dataset.titles[:row] + ("",) + dataset.titles[row + 1 :],
        texts=dataset.texts[:row] + ("-- ... --",) + dataset.texts[row + 1 :],
    )


def cache_entries(root):
    return sorted(p.name for p in (root / "embeddings").glob("*") if p.suffix in (".npy", ".json"))


def one_line_error(call) -> str:
    with pytest.raises(RobustestError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_nan_from_an_empty_text_is_one_line_and_never_cached(small, tmp_path):
    dataset = with_empty_document(small)
    cache = EmbeddingCache(tmp_path / "cache")
    message = one_line_error(lambda: CorpusIndex(HashingRetriever(), dataset, cache=cache).evaluate())
    n = len(dataset.doc_ids)
    assert message.startswith(
        f"retriever hashing: encode_documents returned NaN in row 17 of {n} (document {dataset.doc_ids[17]!r}); 1 row(s) not finite: check the model's dtype"
    ), message
    assert cache_entries(tmp_path / "cache") == []
    # the same retriever on the intact corpus is cached: the assertion above can fail
    CorpusIndex(HashingRetriever(), small, cache=cache).evaluate()
    assert len(cache_entries(tmp_path / "cache")) == 2


@pytest.mark.parametrize(
    "docs,declared,expected",
    [
        (lambda v: v[:, 0], "size", "encode_documents returned shape (150,) for 150 documents; it must return a 2-D array"),
        (lambda v: v[:-1], "size", "encode_documents returned 149 rows for 150 documents; it must return one row per text"),
        (lambda v: (v * 100).astype(np.int64), "size", "encode_documents returned ndarray of dtype int64; it must return floating-point vectors"),
        (lambda v: np.array(list(v), dtype=object), "size", "encode_documents returned ndarray of dtype object"),
        (lambda v: [str(row) for row in v], "size", "encode_documents returned list of dtype <U"),
        (lambda v: [row[: 10 + i % 2] for i, row in enumerate(v)], "size", "encode_documents returned a list that is not an array"),
        (lambda v: v[:, :32], "size", "encode_documents returned vectors of dimension 32, but its dimension says 64"),
        (lambda v: v, 100, "encode_documents returned vectors of dimension 64, but its dimension says 100"),
        (lambda v: v.astype(np.float64) * 1e39, "size", "encode_documents returned infinity in row 0 of 150 (document "),
    ],
    ids=["1-d", "rows", "int", "object", "str", "ragged", "narrower", "declared", "float32-overflow"],
)
def test_bad_corpus_vectors_are_one_line_before_faiss_and_the_cache(small, tmp_path, docs, declared, expected):
    assert len(small.doc_ids) == 150
    retriever = HashingRetriever(docs=docs, declared=declared)
    message = one_line_error(lambda: CorpusIndex(retriever, small, cache=EmbeddingCache(tmp_path)).evaluate())
    assert message.startswith("retriever hashing: ") and expected in message, message
    assert cache_entries(tmp_path) == []


def test_bad_query_vectors_name_the_query(small, tmp_path):
    q0, q1 = sorted(small.queries, key=int)[:2]
    index = CorpusIndex(HashingRetriever(), small, cache=EmbeddingCache(tmp_path))
    message = one_line_error(lambda: index.evaluate([(q0, "what is a boundary layer"), (q1, "?!")]))
    assert message.startswith(f"retriever hashing: encode_queries returned NaN in row 1 of 2 (query {q1!r})"), message
    # a retriever that declares no dimension is still held to the corpus' one
    narrow = HashingRetriever(declared=None, queries=lambda v: v[:, :48])
    index = CorpusIndex(narrow, small, cache=EmbeddingCache(tmp_path))
    message = one_line_error(lambda: index.evaluate([(q0, "boundary layer")]))
    assert "encode_queries returned vectors of dimension 48, but the corpus vectors have dimension 64" in message


@pytest.mark.parametrize(
    "convert",
    [lambda v: v.astype(np.float16), lambda v: v.astype(np.float64).tolist(), lambda v: torch.from_numpy(v).to(torch.bfloat16)],
    ids=["float16", "float64-lists", "torch-bfloat16"],
)
def test_other_float_types_are_accepted_as_float32(small, convert):
    reference = CorpusIndex(HashingRetriever(), small)
    reference.evaluate()
    index = CorpusIndex(HashingRetriever(docs=convert, queries=convert), small)
    evaluation = index.evaluate()
    assert index.embeddings.dtype == np.float32 and index.embeddings.shape == (150, 64)
    np.testing.assert_allclose(index.embeddings, reference.embeddings, atol=1e-2)
    assert len(evaluation.qids) == len(small.queries)


def test_dense_searcher_rejects_misshapen_vectors_itself():
    searcher = DenseSearcher(np.eye(4, dtype=np.float32), "dot")
    with pytest.raises(RobustestError, match=r"query vectors of shape \(2, 3\) do not fit an index of dimension 4"):
        searcher.search(np.ones((2, 3), dtype=np.float32), 2)
    with pytest.raises(RobustestError, match=r"cannot index corpus vectors of shape \(4,\)"):
        DenseSearcher(np.ones(4, dtype=np.float32), "dot")
    assert searcher.search(np.eye(4, dtype=np.float32)[:2], 1)[1].tolist() == [[0], [1]]


def test_the_cli_reports_bad_vectors_in_one_line(small_cranfield, tmp_path):
    (tmp_path / "hashing_retriever.py").write_text(HASHING_MODULE)
    result = subprocess.run(
        [sys.executable, "-m", "robustest.cli", "evaluate", "--retriever=hashing_retriever:make_nan_corpus",
         f"--dataset={small_cranfield}", f"--cache-dir={tmp_path / 'cache'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "AssertionError" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("robustest: error:")]
    assert len(errors) == 1 and "retriever nan-corpus: encode_documents returned NaN in row 17 of 150" in errors[0], result.stderr
    assert cache_entries(tmp_path / "cache") == []


def test_reprs_are_short_and_name_sizes_not_content(minilm, cranfield_dir, cache_dir):
    index = CorpusIndex(minilm, load_beir(cranfield_dir), cache=EmbeddingCache(cache_dir), k=100)
    assert repr(index) == "CorpusIndex(all-MiniLM-L6-v2 on cranfield: 1,400 docs, dim 384, k=100)"
    evaluation = index.evaluate(measures=["nDCG@10", "R@100"])
    text = repr(evaluation)
    assert re.fullmatch(r"Evaluation\(225 queries, nDCG@10=0\.\d{3}, R@100=0\.\d{3}\)", text), text
    assert len(repr(index)) < 200 and len(text) < 200
    assert evaluation.texts[0] not in text
