"""The embedded WordNet sense-retrieval collection: shape, determinism, caching."""

import csv
import json
import shutil

import pytest

from robustest.data import wordnet
from robustest.data.default_collection import (
    BUILDER_VERSION,
    DEFAULT_DATASET_NAME,
    default_collection_path,
)
from robustest.data.wordnet import NLTK_DATA_ENV, load_wordnet

pytestmark = pytest.mark.skipif(
    wordnet.find_debian_wordnet() is None,
    reason="apt-get install -y --no-install-recommends wordnet-base wordnet-sense-index",
)

FILES = ["corpus.jsonl", "queries.jsonl", "qrels/test.tsv", "qrels/train.tsv", "README.md",
         "manifest.json"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache dir with the collection built once for the whole module."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(NLTK_DATA_ENV, raising=False)
        default_collection_path(root)
    return root


@pytest.fixture(scope="module")
def built(cache):
    return cache / "datasets" / f"{DEFAULT_DATASET_NAME}-v{BUILDER_VERSION}"


@pytest.fixture(scope="module")
def wn(cache):
    return load_wordnet(cache)


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def read_qrels(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    assert rows[0] == ["query-id", "corpus-id", "score"]
    return {q: d for q, d, score in rows[1:] if score == "1"}


def test_counts_and_manifest(built):
    corpus = read_jsonl(built / "corpus.jsonl")
    queries = read_jsonl(built / "queries.jsonl")
    test, train = read_qrels(built / "qrels/test.tsv"), read_qrels(built / "qrels/train.tsv")
    assert 3000 <= len(corpus) <= 6000
    assert (len(test), len(train), len(queries)) == (300, 600, 900)
    assert all(set(d) == {"_id", "title", "text"} and d["title"] == "" for d in corpus)
    assert all(set(q) == {"_id", "text"} for q in queries)
    assert len({d["_id"] for d in corpus}) == len(corpus)
    assert len({q["_id"] for q in queries}) == len(queries)

    manifest = json.loads((built / "manifest.json").read_text())
    assert manifest["builder_version"] == BUILDER_VERSION
    assert manifest["wordnet_version"] == "3.0"
    assert manifest["counts"]["documents"] == len(corpus)
    assert set(manifest["sha256"]) == set(FILES) - {"manifest.json"}


def test_qrels_point_at_real_queries_and_documents(built):
    doc_ids = {d["_id"] for d in read_jsonl(built / "corpus.jsonl")}
    query_ids = {q["_id"] for q in read_jsonl(built / "queries.jsonl")}
    for split in ("test", "train"):
        qrels = read_qrels(built / f"qrels/{split}.tsv")
        assert set(qrels) <= query_ids
        assert set(qrels.values()) <= doc_ids


def test_train_and_test_are_disjoint(built):
    texts = {q["_id"]: q["text"] for q in read_jsonl(built / "queries.jsonl")}
    test, train = read_qrels(built / "qrels/test.tsv"), read_qrels(built / "qrels/train.tsv")
    assert not set(test) & set(train)
    assert not {texts[q] for q in test} & {texts[q] for q in train}
    assert len({t.lower() for t in texts.values()}) == len(texts)  # no repeated example


def test_queries_are_examples_with_hard_negatives(built, wn):
    doc_ids = {d["_id"] for d in read_jsonl(built / "corpus.jsonl")}
    texts = {q["_id"]: q["text"] for q in read_jsonl(built / "queries.jsonl")}
    for qid, synset_name in read_qrels(built / "qrels/test.tsv").items():
        synset = wn.synset(synset_name)
        assert texts[qid] in [" ".join(e.split()) for e in synset.examples()]
        assert len(texts[qid].split()) >= 4
        other_senses = {s.name() for l in synset.lemma_names() for s in wn.synsets(l)}
        other_senses.discard(synset_name)
        assert other_senses & doc_ids, f"{qid}: no other sense of {synset_name} in the corpus"


def test_document_text(built, wn):
    docs = {d["_id"]: d["text"] for d in read_jsonl(built / "corpus.jsonl")}
    bank = next(n for n in sorted(docs) if "_" in wn.synset(n).lemma_names()[0])
    lemmas = ", ".join(l.replace("_", " ") for l in wn.synset(bank).lemma_names())
    assert docs[bank] == f"{lemmas}: {wn.synset(bank).definition()}"


def test_reused_then_rebuilt_identically(cache, built, tmp_path, monkeypatch):
    monkeypatch.delenv(NLTK_DATA_ENV, raising=False)
    before = {f: (built / f).stat() for f in FILES}
    assert default_collection_path(cache) == built
    after = {f: (built / f).stat() for f in FILES}
    assert {f: (s.st_ino, s.st_mtime_ns) for f, s in before.items()} == {
        f: (s.st_ino, s.st_mtime_ns) for f, s in after.items()
    }

    # A copy without its manifest (an interrupted build) is rebuilt, from scratch, in a
    # second folder: the files must come out byte for byte the same.
    other = tmp_path / "datasets" / built.name
    shutil.copytree(built, other)
    (other / "manifest.json").unlink()
    (other / "corpus.jsonl").write_text("half-written\n")
    assert default_collection_path(tmp_path) == other
    for f in FILES:
        assert (other / f).read_bytes() == (built / f).read_bytes(), f
    assert [p.name for p in other.parent.iterdir() if p.name.startswith(".")] == []
