"""MTEB result files (--robustest-mteb-results): a real run on the embedded model, read back by
mteb's own loader (mteb 2.x: TaskResult.from_disk, ResultCache.load_results)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import robustest
from robustest.errors import RobustestError
from robustest.files import TEMP_NAME
from robustest.mteb_results import model_folder, model_name, mteb_metric, mteb_result_files, write_mteb_results

mteb = pytest.importorskip("mteb")
from mteb.models.model_meta import ModelMeta  # noqa: E402
from mteb.results import TaskResult  # noqa: E402

FAMILIES = ["misspelling", "reordering"]
SEEDS = [1999, 5]
MODEL = "sentence-transformers/all-MiniLM-L6-v2"  # the embedded model, by its hub id


@pytest.fixture(scope="module")
def checked(small_cranfield, cache_dir, tmp_path_factory) -> Path:
    """One robustest.check run that saved its run file and wrote its MTEB files."""
    out = tmp_path_factory.mktemp("mteb-check")
    robustest.check("default", dataset=str(small_cranfield), families=FAMILIES, seeds=SEEDS, max_queries=20, cache_dir=str(cache_dir),
                    save=str(out / "run.json"), mteb_results=str(out / "mteb"), verbose=False)
    return out


def written(folder: Path) -> dict[str, dict]:
    return {str(p.relative_to(folder)): json.loads(p.read_text()) for p in sorted(folder.rglob("*.json"))}


def task_files(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.glob("results/*/*/*.json")) if p.name != "model_meta.json"]


def test_mteb_reads_every_file_with_the_run_files_scores(checked):
    run = json.loads((checked / "run.json").read_text())
    results = {r.task_name: r for r in map(TaskResult.from_disk, task_files(checked / "mteb"))}
    assert set(results) == {"small-cranfield", "small-cranfield-misspelling", "small-cranfield-reordering"}

    (clean,) = results["small-cranfield"].scores["test"]
    effectiveness = run["effectiveness"]
    assert clean["main_score"] == pytest.approx(effectiveness["nDCG@10"], abs=1e-9) == clean["ndcg_at_10"]
    assert clean["recall_at_100"] == pytest.approx(effectiveness["R@100"], abs=1e-9)
    assert clean["mrr_at_10"] == pytest.approx(effectiveness["RR@10"], abs=1e-9)
    assert clean["hf_subset"] == "default" and clean["languages"] == ["eng-Latn"] and clean["n_queries"] == 20
    assert results["small-cranfield"].get_score() == pytest.approx(effectiveness["nDCG@10"], abs=1e-9)

    gates = {g["family"]: g for g in run["gates"]}
    for family in FAMILIES:
        (scores,) = results[f"small-cranfield-{family}"].scores["test"]
        record, gate = run["families"][family], gates[family]
        # main_score is computed from the per-query scores; the gate's own means must agree.
        assert scores["main_score"] == pytest.approx(sum(gate["perturbed_means"]) / len(gate["perturbed_means"]), abs=1e-9)
        assert scores["clean_ndcg_at_10"] == pytest.approx(gate["clean_mean"], abs=1e-9)
        assert scores["drop_rate"] == pytest.approx(record["drop_rate_mean"], abs=1e-12)
        assert scores["drop_rate_std"] == pytest.approx(record["drop_rate_std"], abs=1e-12)
        assert [scores["drop_rate_ci_low"], scores["drop_rate_ci_high"]] == gate["drop_rate_ci"]
        assert (scores["verdict"], scores["threshold"], scores["p_holm"]) == (gate["verdict"], gate["threshold"], gate["p_adjusted"])
        assert scores["seeds"] == SEEDS and scores["family"] == family


def test_mteb_result_cache_finds_the_model_and_its_tasks(checked, monkeypatch):
    run = json.loads((checked / "run.json").read_text())
    fingerprint = run["retriever"]["fingerprint"]
    tasks = {"small-cranfield", "small-cranfield-misspelling", "small-cranfield-reordering"}

    (model,) = mteb.ResultCache(checked / "mteb").load_results(include_remote=False).model_results
    assert (model.model_name, model.model_revision) == (MODEL, fingerprint)
    assert {t.task_name for t in model.task_results} == tasks
    assert model.model_meta.embed_dim == 384

    # The older entry point reads $MTEB_CACHE; its default validation drops tasks mteb does not know.
    monkeypatch.setenv("MTEB_CACHE", str(checked / "mteb"))
    with pytest.warns(DeprecationWarning):
        (model,) = mteb.load_results(download_latest=False, validate_and_filter=False).model_results
    assert model.model_name == MODEL and {t.task_name for t in model.task_results} == tasks

    meta = (checked / "mteb" / "results" / model_folder(MODEL) / fingerprint / "model_meta.json").read_text()
    validated = ModelMeta.model_validate_json_resolved(meta)  # every field mteb requires is there
    assert (validated.name, validated.revision, validated.similarity_fn_name.value) == (MODEL, fingerprint, "cosine")


def test_the_pytest_option_writes_the_same_files(checked, small_cranfield, cache_dir, tmp_path):
    suite = Path(robustest.__file__).parent / "suites" / "test_query_families.py"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *(f"{suite}::test_drop_rate[{f}]" for f in FAMILIES), "-p", "no:cacheprovider",
         f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={cache_dir}", "--robustest-max-queries=20",
         f"--robustest-seeds={','.join(map(str, SEEDS))}", f"--robustest-mteb-results={tmp_path / 'mteb'}"],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert done.returncode in (0, 1), done.stdout[-3000:]
    assert "MTEB results written to" in done.stdout
    ours, theirs = written(tmp_path / "mteb"), written(checked / "mteb")
    assert set(ours) == set(theirs)
    for path, result in ours.items():
        if path.endswith("model_meta.json"):
            assert result == theirs[path]
            continue
        (a,), (b,) = result["scores"]["test"], theirs[path]["scores"]["test"]
        assert a.keys() == b.keys() and a["main_score"] == pytest.approx(b["main_score"], abs=1e-9)
        assert a.get("verdict") == b.get("verdict") and a.get("drop_rate") == pytest.approx(b.get("drop_rate"), abs=1e-9)


def test_analyze_writes_them_for_saved_run_files(checked, tmp_path, capsys):
    from robustest.cli import main

    assert main(["analyze", str(checked / "run.json"), "--out", str(tmp_path / "analysis"), "--mteb-results", str(tmp_path / "mteb")]) == 0
    assert "wrote 4 MTEB result files" in capsys.readouterr().out
    assert written(tmp_path / "mteb") == written(checked / "mteb")  # the same run file: the same files


def test_a_file_instead_of_a_folder_fails_before_any_work(tmp_path, capsys):
    from robustest.cli import main

    taken = tmp_path / "results.json"
    taken.write_text("mine")
    with pytest.raises(RobustestError, match=r"^--robustest-mteb-results=.*results\.json is a file; it names a folder"):
        robustest.check(lambda texts: 1 / 0, mteb_results=str(taken), verbose=False)  # the retriever never runs
    # analyze checks it before reading the runs: a missing run file is not what it reports
    assert main(["analyze", str(tmp_path / "nope.json"), "--out", str(tmp_path / "a"), "--mteb-results", str(taken)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--mteb-results=" in err and "is a file" in err
    assert taken.read_text() == "mine"


def test_a_rerun_replaces_the_files_whole(checked, tmp_path):
    run = json.loads((checked / "run.json").read_text())
    first = write_mteb_results(run, tmp_path)
    run["effectiveness"]["nDCG@10"] = 0.5
    second = write_mteb_results(run, tmp_path)
    assert first == second
    assert TaskResult.from_disk(second[0]).get_score() == 0.5
    assert not [p for p in tmp_path.rglob("*") if TEMP_NAME.match(p.name)]


def test_a_write_that_fails_leaves_no_folder_mteb_would_read(checked, tmp_path):
    run = json.loads((checked / "run.json").read_text())
    paths = [tmp_path / rel for rel in mteb_result_files(run)]
    paths[1].mkdir(parents=True)  # a folder where the second file goes: its rename fails
    with pytest.raises(RobustestError, match="cannot write"):
        write_mteb_results(run, tmp_path)
    assert json.loads(paths[0].read_text())["task_name"] == "small-cranfield"  # whole, or absent
    assert not paths[-1].exists()  # model_meta.json comes last: mteb skips a folder without it
    assert not mteb.ResultCache(tmp_path).load_results(include_remote=False).model_results
    assert not [p for p in tmp_path.rglob("*") if TEMP_NAME.match(p.name)]


@pytest.mark.parametrize("measure, key", [
    ("nDCG@10", "ndcg_at_10"), ("R@100", "recall_at_100"), ("RR@10", "mrr_at_10"), ("P@5", "precision_at_5"),
    ("AP@100", "map_at_100"), ("Success@10", "hit_rate_at_10"), ("AP", "map"), ("Judged@10", "judged_at_10"),
])
def test_measures_take_mtebs_metric_names(measure, key):
    assert mteb_metric(measure) == key


@pytest.mark.parametrize("retriever, name", [
    ({"kind": "default", "resolved": "all-MiniLM-L6-v2"}, MODEL),
    ({"kind": "hub", "resolved": "BAAI/bge-small-en-v1.5@main"}, "BAAI/bge-small-en-v1.5"),
    ({"kind": "preset", "resolved": "intfloat/e5-small-v2"}, "intfloat/e5-small-v2"),
    ({"kind": "local", "resolved": "/models/checkpoints/step-2000"}, "step-2000"),
    ({"kind": "bm25", "resolved": "BM25", "name": "BM25"}, "BM25"),
])
def test_model_names(retriever, name):
    assert model_name(retriever) == name


def test_an_mteb_task_keeps_its_name_and_revision(checked):
    run = json.loads((checked / "run.json").read_text())
    run["dataset"].update(source="mteb:SciFact", name="SciFact")
    files = mteb_result_files(run)
    clean = TaskResult.from_dict(files[next(p for p in files if p.endswith("/SciFact.json"))])
    assert clean.task_name == "SciFact" and clean.dataset_revision == mteb.get_task("SciFact").metadata.revision
    assert clean.validate_and_filter_scores().get_score() == pytest.approx(run["effectiveness"]["nDCG@10"])
    assert any(p.endswith("/SciFact-misspelling.json") for p in files)
