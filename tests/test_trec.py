"""TREC run export: the format, its errors, and the real cranfield run scored by ir_measures
equal to robustest's own per-query nDCG@10."""

from __future__ import annotations

import ir_measures
import numpy as np
import pytest

from robustest.errors import RobustestError
from robustest.trec import clean_runs, family_run_path, read_trec_run, write_family_runs, write_trec_run


def test_six_columns_ranks_from_one_best_first_and_stable_ties(tmp_path):
    runs = {"q1": {"d3": 0.5, "d1": 0.9, "d2": 0.5, "d4": 0.5}, "q2": {"d9": -1.25}}
    path = write_trec_run(tmp_path / "run.trec", runs, tag="minilm")
    lines = [line.split() for line in path.read_text().splitlines()]
    assert lines == [
        ["q1", "Q0", "d1", "1", "0.9", "minilm"],
        ["q1", "Q0", "d3", "2", "0.5", "minilm"],  # ties keep the ranking's own order
        ["q1", "Q0", "d2", "3", "0.5", "minilm"],
        ["q1", "Q0", "d4", "4", "0.5", "minilm"],
        ["q2", "Q0", "d9", "1", "-1.25", "minilm"],
    ]
    back = read_trec_run(path)
    assert back == runs and list(back["q1"]) == ["d1", "d3", "d2", "d4"]
    # Pairs are accepted too, and scores survive to the last bit.
    score = float(np.float32(0.123456789))
    assert read_trec_run(write_trec_run(tmp_path / "pairs.trec", [("7", {"a": score})]))["7"]["a"] == score
    assert not list(tmp_path.glob(".*tmp*"))  # the atomic write left no temporary file


def test_clear_errors(tmp_path):
    missing = tmp_path / "no" / "such" / "run.trec"
    with pytest.raises(RobustestError, match=f"folder {tmp_path / 'no' / 'such'} does not exist"):
        write_trec_run(missing, {"q": {"d": 1.0}})
    with pytest.raises(RobustestError, match="query id q appears twice"):
        write_trec_run(tmp_path / "r.trec", [("q", {"d": 1.0}), ("q", {"d": 0.5})])
    with pytest.raises(RobustestError, match="document id 'a b'"):
        write_trec_run(tmp_path / "r.trec", {"q": {"a b": 1.0}})
    assert not (tmp_path / "r.trec").exists()
    assert write_trec_run(tmp_path / "t.trec", {"q": {"d": 1.0}}, tag=" ./ckpt 1200 ").read_text() == "q Q0 d 1 1.0 ./ckpt_1200\n"
    bad = tmp_path / "bad.trec"
    bad.write_text("q1 Q0 d1 1 0.5 t\nq1 Q0 d2 x 0.4 t\n")
    with pytest.raises(RobustestError, match="line 2"):
        read_trec_run(bad)


def test_family_run_paths_sit_beside_the_clean_run(tmp_path):
    assert family_run_path(tmp_path / "ckpt.trec", "misspelling", 1999) == tmp_path / "ckpt.misspelling.seed1999.trec"
    assert family_run_path("runs/ckpt", "reordering", 5).as_posix() == "runs/ckpt.reordering.seed5"


@pytest.fixture(scope="module")
def cranfield_index(minilm, cranfield_dir, cache_dir):
    from robustest.cache import EmbeddingCache
    from robustest.data import load_beir
    from robustest.retrieval import CorpusIndex

    return CorpusIndex(minilm, load_beir(cranfield_dir), cache=EmbeddingCache(cache_dir))


def test_cranfield_export_scored_by_ir_measures_equals_robustest(cranfield_index, tmp_path):
    index = cranfield_index
    evaluation = index.evaluate()
    ours = evaluation.by_query("nDCG@10")
    runs = clean_runs(index)
    assert len(runs) == len(index.dataset.queries) == 225
    assert all(len(r) == 1000 for r in runs.values())  # the full depth, not the evaluation's 10
    path = write_trec_run(tmp_path / "clean.trec", runs, tag="all-MiniLM-L6-v2")

    qrels = [ir_measures.Qrel(q, d, rel) for q, judged in index.dataset.qrels.items() for d, rel in judged.items()]
    theirs = {m.query_id: m.value for m in ir_measures.iter_calc([ir_measures.nDCG @ 10], qrels, ir_measures.read_trec_run(str(path)))}
    assert theirs.keys() == ours.keys()
    assert max(abs(theirs[q] - ours[q]) for q in ours) < 1e-9
    assert 0.2 < np.mean(list(theirs.values())) < 0.6  # a real ranking, not all zeros
    # The file's top 10 is the evaluation's run, in the same order.
    back = read_trec_run(path)
    for qid, run in zip(evaluation.qids, evaluation.runs):
        assert list(back[qid])[:10] == list(run)


def test_perturbed_runs_one_file_per_seed(cranfield_index, tmp_path):
    index = cranfield_index
    qids = sorted(index.dataset.queries, key=int)[:3]
    variants = {"1999": {q: {"text": index.dataset.queries[q].upper(), "edit": "upper"} for q in qids}, "5": {qids[0]: "heat transfer"}}
    paths = write_family_runs(tmp_path / "clean.trec", index, "shouting", variants, depth=20)
    assert paths == [tmp_path / "clean.shouting.seed1999.trec", tmp_path / "clean.shouting.seed5.trec"]
    first, second = (read_trec_run(p) for p in paths)
    assert list(first) == qids and all(len(r) == 20 for r in first.values())
    assert list(second) == [qids[0]]
    assert second[qids[0]] == index.retrieve([(qids[0], "heat transfer")], 20)[0]
    assert first[qids[0]] != second[qids[0]]  # a different query text, a different ranking


def test_plugin_writes_the_clean_and_perturbed_trec_runs(pytester, cache_dir, small_cranfield, tmp_path):
    """--robustest-trec-run through pytest: the clean run scores what the run file says, and
    --robustest-trec-perturbed adds one file per family and seed beside it."""
    import json
    from pathlib import Path

    suites = Path(__file__).resolve().parent.parent / "suites"
    out, saved = tmp_path / "clean.trec", tmp_path / "run.json"
    result = pytester.runpytest_subprocess(
        str(suites / "test_effectiveness.py"), str(suites / "test_query_families.py"), "-p", "no:cacheprovider",
        "-k", "effectiveness or (drop_rate and misspelling and not human and not instruction)", "--robustest-seeds=1999,5",
        f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={cache_dir}",
        f"--robustest-trec-run={out}", "--robustest-trec-perturbed", f"--robustest-save={saved}",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines([f"TREC run written to {out}"])
    run = json.loads(saved.read_text())
    qrels = [ir_measures.Qrel(q, d, r) for q, judged in _qrels(small_cranfield).items() for d, r in judged.items()]
    scored = {m.query_id: m.value for m in ir_measures.iter_calc([ir_measures.nDCG @ 10], qrels, ir_measures.read_trec_run(str(out)))}
    assert max(abs(scored[q] - v) for q, v in run["per_query"]["nDCG@10"].items()) < 1e-9
    for seed in (1999, 5):
        perturbed = read_trec_run(tmp_path / f"clean.misspelling.seed{seed}.trec")
        assert set(perturbed) == set(run["families"]["misspelling"]["variants"][str(seed)])
    assert not (tmp_path / "clean.misspelling.seed27.trec").exists()


def _qrels(folder):
    from robustest.data import load_beir

    return load_beir(folder).qrels
