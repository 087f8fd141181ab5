"""Every dataset form robustest reads, each made from real cranfield data by the real library
that writes it (pyarrow parquet, datasets' save_to_disk, csv, json), must load as the same
Dataset as the BEIR folder and give the same nDCG@10 with the embedded model."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest

from robustest.cache import EmbeddingCache
from robustest.data import load_beir, load_dataset
from robustest.errors import RobustestError
from robustest.retrieval import CorpusIndex

datasets = pytest.importorskip("datasets")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def beir(small_cranfield):
    return load_beir(small_cranfield)


@pytest.fixture(scope="module")
def reference_ndcg(minilm, beir, cache_dir):
    return ndcg10(minilm, beir, cache_dir)


def ndcg10(model, dataset, cache_dir) -> float:
    return CorpusIndex(model, dataset, cache=EmbeddingCache(cache_dir)).evaluate(measures=["nDCG@10"]).mean("nDCG@10")


# --- writers: the BEIR Dataset in each form ---------------------------------------------------

def qrels_rows(ds):
    return [(q, d, s) for q, judged in ds.qrels.items() for d, s in judged.items()]


def write_mteb(ds, root: Path, subsets=(None,)) -> Path:
    """An MTEB repo as snapshot_download leaves it: parquet files named by README.md's configs."""
    configs = []
    for subset in subsets:
        prefix = f"{subset}-" if subset else ""
        sub = root / (subset or ".")
        for config, split, table in (
            ("corpus", "corpus", {"_id": list(ds.doc_ids), "title": list(ds.titles), "text": list(ds.texts)}),
            ("queries", "queries", {"_id": list(ds.queries), "text": list(ds.queries.values())}),
            ("qrels" if subset else "default", "test", dict(zip(("query-id", "corpus-id", "score"), map(list, zip(*qrels_rows(ds)))))),
        ):
            if config != "corpus" and table is not None and "score" in table:
                table["score"] = [float(s) for s in table["score"]]  # MTEB stores float64 scores
            folder = sub / config
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table(table), folder / f"{split}-00000-of-00001.parquet")
            rel = folder.relative_to(root).as_posix()
            configs.append(f"- config_name: {prefix}{config}\n  data_files:\n  - split: {split}\n    path: {rel}/{split}-*\n")
    (root / "README.md").write_text("---\nconfigs:\n" + "".join(configs) + "---\n# cranfield, MTEB style\n", encoding="utf-8")
    return root


def write_hf_cache(ds, cache: Path, repo_id: str, revision: str) -> Path:
    """The MTEB folder placed as huggingface_hub caches a dataset repo: files in blobs/,
    symlinked from snapshots/<revision>/, refs/main naming the revision."""
    repo = cache / ("datasets--" + repo_id.replace("/", "--"))
    staging = write_mteb(ds, cache / "staging")
    snapshot = repo / "snapshots" / revision
    (repo / "blobs").mkdir(parents=True)
    for n, f in enumerate(sorted(p for p in staging.rglob("*") if p.is_file())):
        blob = repo / "blobs" / f"{n:040x}"
        shutil.move(f, blob)
        link = snapshot / f.relative_to(staging)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    shutil.rmtree(staging)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    return snapshot


def write_saved(ds, root: Path) -> Path:
    """save_to_disk: corpus and queries as Datasets, the qrels as a DatasetDict by split."""
    datasets.Dataset.from_dict({"_id": list(ds.doc_ids), "title": list(ds.titles), "text": list(ds.texts)}).save_to_disk(str(root / "corpus"))
    datasets.Dataset.from_dict({"_id": list(ds.queries), "text": list(ds.queries.values())}).save_to_disk(str(root / "queries"))
    q, d, s = map(list, zip(*qrels_rows(ds)))
    datasets.DatasetDict({"test": datasets.Dataset.from_dict({"query-id": q, "corpus-id": d, "score": s})}).save_to_disk(str(root / "qrels"))
    return root


def write_saved_dict(ds, root: Path) -> Path:
    """One DatasetDict.save_to_disk folder: entries corpus, queries and the qrels' split."""
    q, d, s = map(list, zip(*qrels_rows(ds)))
    datasets.DatasetDict({
        "corpus": datasets.Dataset.from_dict({"_id": list(ds.doc_ids), "title": list(ds.titles), "text": list(ds.texts)}),
        "queries": datasets.Dataset.from_dict({"_id": list(ds.queries), "text": list(ds.queries.values())}),
        "test": datasets.Dataset.from_dict({"query-id": q, "corpus-id": d, "score": s}),
    }).save_to_disk(str(root))
    return root


def write_pyserini(ds, root: Path) -> Path:
    """Pyserini's shapes: corpus JSONL id/contents, headerless topics TSV, TREC qrels."""
    root.mkdir(parents=True)
    with open(root / "corpus.jsonl", "w", encoding="utf-8") as f:
        for did, title, text in zip(ds.doc_ids, ds.titles, ds.texts):
            f.write(json.dumps({"id": did, "title": title, "contents": text}) + "\n")
    with open(root / "topics.tsv", "w", encoding="utf-8") as f:
        for qid, text in ds.queries.items():
            f.write(f"{qid}\t{text}\n")
    with open(root / "qrels.txt", "w", encoding="utf-8") as f:
        for q, d, s in qrels_rows(ds):
            f.write(f"{q} 0 {d} {s}\n")
    return root


CUSTOM_FIELDS = "id=doc,title=heading,text=body2,query_id=num,query=question,score=grade"


def write_custom_csv(ds, root: Path) -> Path:
    """CSV files with names nothing recognises: only a mapping reads them (the qrels' 'num'
    and 'doc' columns are found through query_id and id)."""
    (root / "qrels").mkdir(parents=True)
    for name, header, rows in (
        ("corpus.csv", ("doc", "heading", "body2"), zip(ds.doc_ids, ds.titles, ds.texts)),
        ("queries.csv", ("num", "question"), ds.queries.items()),
        ("qrels/test.csv", ("num", "doc", "grade"), qrels_rows(ds)),
    ):
        with open(root / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
    return root


def mteb_task_repo(name: str):
    mteb = pytest.importorskip("mteb")
    meta = mteb.get_task(name).metadata.dataset
    return meta["path"], meta["revision"]


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """An empty Hugging Face hub cache for this test (huggingface_hub reads the constant per call)."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    return cache


# --- every form gives the BEIR folder's Dataset and nDCG@10 -----------------------------------

def form_mteb(ds, tmp_path, cache):
    return str(write_mteb(ds, tmp_path / "scifact-like")), None


def form_mteb_subset(ds, tmp_path, cache):
    return str(write_mteb(ds, tmp_path / "multi", subsets=("en", "fr"))) + "#fr", None


def form_mteb_task(ds, tmp_path, cache):
    repo_id, revision = mteb_task_repo("SciFact")
    write_hf_cache(ds, cache, repo_id, revision)
    return "mteb:SciFact", None


def form_hf_repo(ds, tmp_path, cache):
    write_hf_cache(ds, cache, "someone/cranfield-mteb", "a" * 40)
    return "hf:someone/cranfield-mteb", None


def form_saved(ds, tmp_path, cache):
    return str(write_saved(ds, tmp_path / "saved")), None


def form_saved_dict(ds, tmp_path, cache):
    return str(write_saved_dict(ds, tmp_path / "saved-dict")), None


def form_pyserini(ds, tmp_path, cache):
    return str(write_pyserini(ds, tmp_path / "pyserini")), None


def form_custom_csv(ds, tmp_path, cache):
    from robustest.data.fields import parse_dataset_fields

    return str(write_custom_csv(ds, tmp_path / "custom")), parse_dataset_fields(CUSTOM_FIELDS)


FORMS = [form_mteb, form_mteb_subset, form_mteb_task, form_hf_repo, form_saved, form_saved_dict, form_pyserini, form_custom_csv]


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.__name__.removeprefix("form_"))
def test_every_form_loads_as_the_beir_folder(form, beir, reference_ndcg, minilm, cache_dir, tmp_path, hf_cache):
    spec, fields = form(beir, tmp_path, hf_cache)
    ds = load_dataset(spec, "test", fields=fields)
    assert ds.doc_ids == beir.doc_ids
    assert ds.titles == beir.titles and ds.texts == beir.texts
    assert ds.queries == beir.queries
    assert ds.qrels == beir.qrels
    assert ds.fingerprint == beir.fingerprint
    assert ds.exclude_self_matches is True and ds.notes == beir.notes
    assert ndcg10(minilm, ds, cache_dir) == pytest.approx(reference_ndcg, abs=1e-9)
    assert reference_ndcg > 0.2  # a real retrieval, not an empty one


def test_mteb_task_name_is_the_task(beir, hf_cache):
    repo_id, revision = mteb_task_repo("SciFact")
    write_hf_cache(beir, hf_cache, repo_id, revision)
    ds = load_dataset("mteb:SciFact")
    assert ds.name == "SciFact" and ds.source == "mteb:SciFact"


# --- convert ----------------------------------------------------------------------------------

def test_convert_through_the_cli_writes_a_beir_folder(beir, tmp_path, capsys):
    from robustest.cli import main

    source = write_custom_csv(beir, tmp_path / "custom")
    out = tmp_path / "out" / "cranfield-beir"
    assert main(["convert", str(source), str(out), "--fields", CUSTOM_FIELDS]) == 0
    assert f"wrote {out}: {len(beir.doc_ids)} documents, {len(beir.queries)} judged queries" in capsys.readouterr().out
    back = load_beir(out)
    assert back.fingerprint == beir.fingerprint and back.qrels == beir.qrels
    assert sorted(p.name for p in out.parent.iterdir()) == ["cranfield-beir"]  # no staging folder left


def test_convert_refuses_a_non_empty_folder_unless_forced(beir, tmp_path, capsys):
    from robustest.cli import main

    source = write_pyserini(beir, tmp_path / "pyserini")
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["convert", str(source), str(out)]) == 2
    err = capsys.readouterr().err
    assert f"robustest: error: {out} is not empty" in err and "--force" in err and "Traceback" not in err
    assert (out / "notes.txt").read_text() == "keep me"
    assert main(["convert", str(source), str(out), "--force"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["corpus.jsonl", "qrels", "queries.jsonl"]
    assert load_beir(out).fingerprint == beir.fingerprint


def test_convert_of_bad_input_writes_nothing(beir, tmp_path, capsys):
    from robustest.cli import main

    source = write_custom_csv(beir, tmp_path / "custom")  # no mapping: its columns are not found
    out = tmp_path / "out"
    assert main(["convert", str(source), str(out)]) == 2
    assert "no column for the document id" in capsys.readouterr().err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["custom"]


# --- bad input ----------------------------------------------------------------------------------

def test_missing_column_names_file_columns_and_the_exact_fix(beir, tmp_path):
    root = write_custom_csv(beir, tmp_path / "custom")
    partial = "id=doc,title=heading"
    from robustest.data.fields import parse_dataset_fields

    with pytest.raises(RobustestError) as info:
        load_dataset(str(root), fields=parse_dataset_fields(partial))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{root / 'corpus.csv'}: no column for the document text")
    assert "its columns are doc, heading, body2" in message
    fix = message.split("pass --robustest-dataset-fields=")[1]
    assert fix == "id=doc,title=heading,text=body2"
    # Following the advice gets past the corpus, to the next unrecognised file.
    with pytest.raises(RobustestError, match=r"queries\.csv: no column for the query id .* its columns are num, question"):
        load_dataset(str(root), fields=parse_dataset_fields(fix))


def test_a_mapped_column_that_is_not_there(beir, tmp_path):
    root = write_pyserini(beir, tmp_path / "pyserini")
    with pytest.raises(RobustestError) as info:
        load_dataset(str(root), fields={"text": "body"})
    assert str(info.value).startswith(f"{root / 'corpus.jsonl'}: no column 'body' (--robustest-dataset-fields text=body); its columns are id, title, contents")


def test_unknown_field_key_is_refused_at_the_door(capsys):
    from robustest.cli import main
    from robustest.data.fields import parse_dataset_fields
    from robustest.settings import Settings

    with pytest.raises(ValueError, match="unknown key 'docid'; the known keys are id, title, text, query_id, query, qrels_query_id, qrels_doc_id, score"):
        parse_dataset_fields("docid=id")
    with pytest.raises(RobustestError, match="ini key robustest_dataset_fields = 'body=x': unknown key 'body'"):
        Settings.from_sources({}, {"dataset_fields": "body=x"})
    with pytest.raises(SystemExit):
        main(["convert", "a", "b", "--fields", "text"])
    assert "'text' is not KEY=COLUMN" in capsys.readouterr().err


def test_two_subsets_and_none_chosen(beir, tmp_path, hf_cache):
    root = write_mteb(beir, tmp_path / "multi", subsets=("en", "fr"))
    with pytest.raises(RobustestError) as info:
        load_dataset(str(root))
    assert str(info.value) == (
        f"{root} holds 2 subsets (en, fr); pick one by ending the dataset with #SUBSET, e.g. --robustest-dataset={root}#en"
    )
    with pytest.raises(RobustestError, match=r"no subset 'de'; its subsets: en, fr"):
        load_dataset(f"{root}#de")


def test_missing_qrels_split_lists_the_splits(beir, tmp_path, hf_cache):
    root = write_mteb(beir, tmp_path / "m")
    with pytest.raises(RobustestError, match=r"\[config default\] has no split 'dev'; pass one of the splits it has: test \(--robustest-split\)"):
        load_dataset(str(root), "dev")
    saved = write_saved(beir, tmp_path / "s")
    with pytest.raises(RobustestError, match=r"qrels has no split 'dev'; pass one of the splits it has: test"):
        load_dataset(str(saved), "dev")
    one = write_saved_dict(beir, tmp_path / "d")
    with pytest.raises(RobustestError, match=r"d \(its qrels\) has no split 'dev'; pass one of the splits it has: test"):
        load_dataset(str(one), "dev")


def test_datasets_not_installed(beir, tmp_path, monkeypatch):
    import builtins

    root = write_mteb(beir, tmp_path / "m")
    real_import = builtins.__import__

    def without_datasets(name, *args, **kwargs):
        if name == "datasets" or name.startswith("datasets."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_datasets)
    with pytest.raises(RobustestError) as info:
        load_dataset(str(root))
    assert str(info.value) == "an MTEB dataset folder is read with the datasets package, which is not installed; run pip install 'robustest[hf]'"


def test_repo_not_in_the_cache(hf_cache):
    with pytest.raises(RobustestError) as info:
        load_dataset("hf:someone/not-cached")
    message = str(info.value)
    assert message.startswith("dataset repo someone/not-cached is not in the local Hugging Face cache")
    assert str(hf_cache) in message and "hf download --repo-type dataset someone/not-cached" in message


def test_unknown_mteb_task():
    pytest.importorskip("mteb")
    with pytest.raises(RobustestError, match=r"mteb:NoSuchTaskXyz: not an MTEB task"):
        load_dataset("mteb:NoSuchTaskXyz")


def test_an_empty_table_file(tmp_path):
    (tmp_path / "corpus.csv").write_text("")
    (tmp_path / "queries.csv").write_text("qid,query\n1,x\n")
    (tmp_path / "qrels.csv").write_text("qid,docid,rel\n1,d,1\n")
    with pytest.raises(RobustestError, match=rf"^{tmp_path / 'corpus.csv'} is empty; write the corpus into it, one per line$"):
        load_dataset(str(tmp_path))


def test_unrecognised_folder_lists_what_was_looked_for(tmp_path):
    (tmp_path / "notes.md").write_text("hello")
    with pytest.raises(RobustestError) as info:
        load_dataset(str(tmp_path))
    message = str(info.value)
    for form in ("a BEIR folder", "an MTEB folder", "a save_to_disk folder", "or tables"):
        assert form in message


def test_shared_checks_apply_to_tables(beir, tmp_path):
    """A duplicate id or an unknown judged document reads as in a BEIR folder (build.py)."""
    root = write_pyserini(beir, tmp_path / "p")
    with open(root / "qrels.txt", "a", encoding="utf-8") as f:
        f.write(f"{next(iter(beir.queries))} 0 no-such-doc 1\n")
    with pytest.raises(RobustestError, match=r"qrels\.txt:\d+: unknown corpus-id 'no-such-doc', not in corpus\.jsonl; fix the ids in qrels\.txt"):
        load_dataset(str(root))
    saved = write_saved(beir, tmp_path / "s")
    dup = datasets.Dataset.from_dict({"_id": ["1", "1"], "text": ["a", "b"]})
    shutil.rmtree(saved / "queries")
    dup.save_to_disk(str(saved / "queries"))
    with pytest.raises(RobustestError, match=r"queries row 2: duplicate _id '1' \(first on row 1\); ids must be unique"):
        load_dataset(str(saved))


def test_mteb_and_hf_specs_pick_the_collections_instruction():
    from robustest.retrievers.presets import task_instruction

    scifact, source = task_instruction("mteb:SciFact")
    assert source == "E5/Qwen3 task for scifact"
    assert task_instruction("hf:mteb/scifact@" + "a" * 40 + "#en")[0] == scifact
    assert task_instruction("mteb:NoSuchTask")[1].startswith("no known task for 'mteb:NoSuchTask'")
