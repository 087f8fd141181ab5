"""load_beir on the real cranfield collection and on small malformed folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from robustest.data import load_beir, load_dataset
from robustest.errors import RobustestError


@pytest.fixture
def cranfield(shared_data_dir: Path) -> Path:
    path = shared_data_dir / "cranfield"
    if not path.is_dir():
        pytest.skip(f"{path} missing; set ROBUSTEST_DATA_DIR to a folder holding cranfield/")
    return path


def judged_query_ids(qrels_tsv: Path) -> set[str]:
    lines = qrels_tsv.read_text(encoding="utf-8").splitlines()[1:]  # skip the header
    return {line.split("\t")[0] for line in lines if line.strip()}


def test_cranfield_counts_and_ids(cranfield):
    ds = load_beir(cranfield)
    assert ds.name == "cranfield"
    assert ds.source == str(cranfield.absolute())
    assert ds.split == "test"
    assert ds.exclude_self_matches is True
    assert len(ds.doc_ids) == len(ds.titles) == len(ds.texts) == 1400
    assert set(ds.queries) == judged_query_ids(cranfield / "qrels" / "test.tsv")
    assert len(ds.queries) + ds.dropped_queries == 225
    docs = set(ds.doc_ids)
    assert set(ds.qrels) <= set(ds.queries)
    assert all(d in docs for judged in ds.qrels.values() for d in judged)
    assert sum(len(j) for j in ds.qrels.values()) == 1612
    assert any("blank" in n for n in ds.notes)  # docs 471 and 995 are empty in the source


def test_cranfield_fingerprint_stable_and_content_sensitive(cranfield, tmp_path):
    a, b = load_beir(cranfield), load_beir(cranfield)
    assert a.fingerprint == b.fingerprint
    assert a.corpus_fingerprint == b.corpus_fingerprint

    copy = tmp_path / "cranfield"
    shutil.copytree(cranfield, copy)
    corpus = copy / "corpus.jsonl"
    lines = corpus.read_text(encoding="utf-8").splitlines(keepends=True)
    doc = json.loads(lines[0])
    doc["text"] += " changed"
    lines[0] = json.dumps(doc) + "\n"
    corpus.write_text("".join(lines), encoding="utf-8")
    c = load_beir(copy)
    assert c.name == "cranfield"  # the folder name, not the path
    assert c.corpus_fingerprint != a.corpus_fingerprint
    assert c.fingerprint != a.fingerprint


# --- small hand-written folders ------------------------------------------------------

DOCS = [
    {"_id": "d1", "title": "T", "text": "one"},
    {"_id": "d2", "text": "two"},
    {"_id": "d3", "text": ""},
]
QUERIES = [
    {"_id": "q1", "text": "first"},
    {"_id": "q2", "text": "second"},
    {"_id": "q3", "text": "unjudged"},
]
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t0\n"


def write_jsonl(path: Path, rows) -> None:
    """Dicts become JSON lines; strings are written as they are (for broken lines)."""
    lines = [(r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows]
    path.write_text("".join(lines), encoding="utf-8")


def make_folder(root: Path, docs=DOCS, queries=QUERIES, qrels=QRELS, split="test") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_jsonl(root / "corpus.jsonl", docs)
    write_jsonl(root / "queries.jsonl", queries)
    (root / "qrels").mkdir(exist_ok=True)
    (root / "qrels" / f"{split}.tsv").write_text(qrels, encoding="utf-8")
    return root


def test_small_folder_drops_unjudged_queries(tmp_path):
    ds = load_beir(make_folder(tmp_path / "tiny"), exclude_self_matches=False, name="x")
    assert ds.name == "x" and ds.exclude_self_matches is False
    assert ds.doc_ids == ("d1", "d2", "d3")
    assert ds.titles == ("T", "", "")
    assert ds.documents == ["T one", "two", ""]
    # q2's only judgement is 0: still judged, kept; q3 has none: dropped and counted.
    assert ds.queries == {"q1": "first", "q2": "second"}
    assert ds.qrels == {"q1": {"d1": 1}, "q2": {"d2": 0}}
    assert ds.dropped_queries == 1
    assert ds.notes == ("1 documents have blank text and title",)


def test_int_ids_coerced_blank_lines_and_no_header(tmp_path):
    docs = [{"_id": 1, "text": "one"}, "", "   ", {"_id": 2, "text": "two", "title": None}]
    queries = [{"_id": 7, "text": "q"}]
    root = make_folder(tmp_path / "ints", docs=docs, queries=queries, qrels="7\t2\t1\n\n7\t1\t2\n")
    ds = load_beir(root)
    assert ds.doc_ids == ("1", "2")
    assert ds.titles == ("", "")
    assert ds.queries == {"7": "q"}
    assert ds.qrels == {"7": {"2": 1, "1": 2}}


def test_bom_and_crlf_tolerated(tmp_path):
    root = make_folder(tmp_path / "bom", qrels=QRELS.replace("\n", "\r\n"))
    corpus = root / "corpus.jsonl"
    corpus.write_bytes(b"\xef\xbb\xbf" + corpus.read_bytes().replace(b"\n", b"\r\n"))
    assert load_beir(root).doc_ids == ("d1", "d2", "d3")


BAD_DOCS_JSON = DOCS[:2] + ['{"_id": "d3", "text": "broken"']
MISSING_ID = DOCS[:1] + [{"text": "no id"}]
DUP_DOC = DOCS + [{"_id": "d2", "text": "again"}]
DUP_QUERY = QUERIES + [{"_id": "q1", "text": "again"}]


# Each case: how to break a good folder, the split to ask for, and what the message must hold
# (file:line where one applies, the problem, and a fix hint).
MALFORMED = {
    "bad json": (
        dict(docs=BAD_DOCS_JSON), "test", ["corpus.jsonl:3", "malformed JSON", "fix or remove"]
    ),
    "not an object": (
        dict(docs=DOCS[:1] + ["[1, 2]"]), "test", ["corpus.jsonl:2", "JSON object", "one object per"]
    ),
    "missing _id": (dict(docs=MISSING_ID), "test", ["corpus.jsonl:2", '"_id"', "every line needs"]),
    "bad _id type": (
        dict(queries=[{"_id": [1], "text": "x"}]), "test", ["queries.jsonl:1", "string or integer"]
    ),
    "missing text": (
        dict(queries=[{"_id": "q1"}]), "test", ["queries.jsonl:1", '"text"', "every line needs"]
    ),
    "duplicate doc": (
        dict(docs=DUP_DOC), "test", ["corpus.jsonl:4", "line 2", "'d2'", "must be unique"]
    ),
    "duplicate query": (
        dict(queries=DUP_QUERY), "test", ["queries.jsonl:4", "line 1", "must be unique"]
    ),
    "unknown doc": (
        dict(qrels=QRELS + "q1\tnope\t1\nq1\tnada\t1\n"),
        "test",
        ["test.tsv:4", "'nope'", "2 lines", "add the missing entries to corpus.jsonl"],
    ),
    "unknown query": (
        dict(qrels=QRELS + "zz\td1\t1\n"), "test", ["test.tsv:4", "query-id 'zz'", "queries.jsonl"]
    ),
    "bad score": (
        dict(qrels=QRELS + "q1\td2\thigh\n"), "test", ["test.tsv:4", "'high'", "whole numbers"]
    ),
    "float score": (dict(qrels=QRELS + "q1\td2\t1.5\n"), "test", ["test.tsv:4", "not an integer"]),
    "trec qrels": (
        dict(qrels="q1\t0\td1\t1\n"), "test", ["test.tsv:1", "3 tab-separated columns", "got 4"]
    ),
    "unknown split": ({}, "dev", ["dev.tsv", "no split 'dev'", "pass one of the splits it has: test"]),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_inputs(tmp_path, kind):
    overrides, split, expected = MALFORMED[kind]
    root = make_folder(tmp_path / "bad", **overrides)
    with pytest.raises(RobustestError) as info:
        load_beir(root, split)
    message = str(info.value)
    assert "\n" not in message
    assert ";" in message  # problem; fix
    for part in expected:
        assert part in message, (part, message)


def test_missing_folder_and_files(tmp_path):
    with pytest.raises(RobustestError, match=r"does not exist; pass a folder containing corpus\.jsonl"):
        load_beir(tmp_path / "nowhere")
    root = make_folder(tmp_path / "f")
    (root / "queries.jsonl").unlink()
    with pytest.raises(RobustestError, match=r"missing file .*queries\.jsonl: a BEIR folder needs"):
        load_beir(root)
    root = make_folder(tmp_path / "g")
    shutil.rmtree(root / "qrels")
    with pytest.raises(RobustestError, match=r"missing folder .*qrels: .*add qrels/test\.tsv"):
        load_beir(root)
    with pytest.raises(RobustestError, match="is a file, not a folder"):
        load_beir(tmp_path / "f" / "corpus.jsonl")


def test_invalid_utf8_names_line(tmp_path):
    root = make_folder(tmp_path / "enc")
    with open(root / "queries.jsonl", "ab") as fh:
        fh.write(b'{"_id": "q9", "text": "caf\xe9"}\n')
    with pytest.raises(RobustestError, match=r"queries\.jsonl:4: not valid utf-8.*re-save"):
        load_beir(root)


# --- load_dataset resolution ----------------------------------------------------------

def test_load_dataset_folder(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "mine")
    ds = load_dataset(str(root))
    assert ds.name == "mine" and ds.exclude_self_matches is True
    assert load_dataset(str(root), exclude_self_matches=False).exclude_self_matches is False
    monkeypatch.chdir(tmp_path)  # relative paths resolve against the working directory
    assert load_dataset("mine").source == str(root)


def test_load_dataset_not_found(tmp_path, monkeypatch, irds_home):  # may import ir_datasets
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RobustestError) as info:
        load_dataset("no-such-thing")
    assert str(info.value) == (
        f"dataset 'no-such-thing' not found: no folder at {tmp_path / 'no-such-thing'} "
        "(and it is not an ir_datasets id); pass a BEIR folder (corpus.jsonl, queries.jsonl, "
        "qrels/<split>.tsv), 'default', or irds:<id>"
    )


def test_load_dataset_default_uses_embedded_collection(tmp_path, monkeypatch):
    import sys
    import types

    # The embedded collection is another module's job; stand in for it with a tiny folder.
    root = make_folder(tmp_path / "cache" / "wordnet")
    fake = types.ModuleType("robustest.data.default_collection")
    seen = []
    fake.DEFAULT_DATASET_NAME = "wordnet-senses"
    fake.default_collection_path = lambda cache_dir=None: seen.append(cache_dir) or root
    monkeypatch.setitem(sys.modules, "robustest.data.default_collection", fake)
    for spec in ("default", ""):
        ds = load_dataset(spec, cache_dir=tmp_path / "cache")
        assert ds.name == "wordnet-senses" and ds.source == str(root)
    assert seen == [tmp_path / "cache"] * 2
