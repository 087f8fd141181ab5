"""`robustest analyze` on real run files: three real retrievers (all-MiniLM-L6-v2 with mean,
CLS and max pooling) on real cranfield text, saved by the same code as --robustest-save, and
one run written by the shipped suites through pytest."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from robustest.cli import main

SUITES = Path(__file__).resolve().parent.parent / "suites"
SEEDS = (1999, 5)
POOLINGS = ("mean", "cls", "max")


def save_real_run(path, dataset_dir, cache_dir, pooling):
    """Clean scores, the misspelling family and the geometry of one retriever, saved as the
    plugin saves a run (engine.record.run_file) without the pytest round trip."""
    from robustest.geometry import index_geometry
    from robustest.engine.record import run_file
    from robustest.engine.session import RobustestSession
    from robustest.runs import save_run
    from robustest.settings import Settings

    settings = Settings(dataset=str(dataset_dir), cache_dir=str(cache_dir), pooling=pooling, seeds=SEEDS, measures=("nDCG@10",))
    session = RobustestSession(settings)
    session.clean_evaluation
    session.checks.run("misspelling")
    session.checks.add("geometry", index_geometry(session.corpus_index, sample=150))
    return save_run(path, run_file(session))


@pytest.fixture(scope="module")
def run_files(small_cranfield, cache_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    return [save_real_run(folder / f"minilm-{p}.json", small_cranfield, cache_dir, p) for p in POOLINGS]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_analyze_end_to_end(run_files, tmp_path, capsys):
    out = tmp_path / "analysis"
    assert main(["analyze", *map(str, run_files), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    text = captured.out
    runs = [json.loads(p.read_text()) for p in run_files]
    labels = [f"all-MiniLM-L6-v2 (pooling={p})" for p in POOLINGS]  # names clash: the differing setting tells them apart
    assert [r["model"] for r in read_csv(out / "runs.csv")] == labels
    assert "robustest analyze: 3 runs, 3 models, 1 datasets" in text
    assert "one dataset: its random intercept cannot be estimated" in text

    # One dataset, every model on every query: the marginal means are the plain means.
    means = {r["score"] + "|" + r["model"]: float(r["emm"]) for r in read_csv(out / "marginal_means.csv")}
    for run, label in zip(runs, labels):
        clean = np.mean(list(run["per_query"]["nDCG@10"].values()))
        assert means[f"clean nDCG@10|{label}"] == pytest.approx(clean, abs=1e-6)
        perturbed = run["families"]["misspelling"]["perturbed"]
        per_query = {}
        for seed_scores in perturbed.values():
            for q, v in seed_scores.items():
                per_query.setdefault(q, []).append(v)
        expected = np.mean([np.mean(v) for v in per_query.values()])
        assert means[f"misspelling nDCG@10|{label}"] == pytest.approx(expected, abs=1e-6)
        assert f"misspelling drop rate {run['families']['misspelling']['drop_rate_mean'] * 100:.2f}%" in text

    joint = read_csv(out / "joint_tests.csv")
    assert {(r["score"], r["term"]) for r in joint} == {("clean nDCG@10", "model"), ("misspelling nDCG@10", "model")}
    assert len(read_csv(out / "contrasts.csv")) == 2 * 3
    scores = read_csv(out / "scores.csv")
    assert len(scores) == 3 * 20 and set(scores[0]) == {"model", "dataset", "query", "factor", "clean nDCG@10", "misspelling nDCG@10"}

    geometry = read_csv(out / "geometry.csv")
    assert [g["model"] for g in geometry] == labels
    assert all(0 < float(g["isoscore"]) < 1 and float(g["spectral_norm_max"]) > 0 for g in geometry)
    assert geometry[0]["isoscore"] == str(runs[0]["geometry"]["isoscore"])
    correlations = read_csv(out / "correlations.csv")
    assert {c["target"] for c in correlations} == {"misspelling drop rate"}
    assert all(c["n"] == "3" and not c["partial_pearson"] for c in correlations)
    for c in correlations:  # the three share their weights: spectral norms are constant
        assert bool(c["pearson"]) == (not c["metric"].startswith("spectral_norm")), c
    assert "not enough models for a partial correlation (n = 3; needs 4)" in text

    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["geometry_vs_misspelling_drop_rate.png", "marginal_means.png"]
    assert all((out / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert (out / "summary.txt").read_text() == text.split("\n\nwrote ")[0]


def test_analyze_by_a_query_type_from_a_factor_file(run_files, tmp_path, capsys):
    run = json.loads(run_files[0].read_text())
    dataset = run["dataset"]["name"]
    qtype = {q: ("short" if len(t.split()) <= 12 else "long") for q, t in run["queries"].items()}
    factor_file = tmp_path / "types.csv"
    factor_file.write_text("dataset,query,qtype\n" + "".join(f"{dataset},{q},{t}\n" for q, t in qtype.items()))
    out = tmp_path / "by-type"
    assert main(["analyze", *map(str, run_files), "--out", str(out), "--factor", "qtype", "--factor-file", str(factor_file)]) == 0
    text = capsys.readouterr().out
    assert "joint test qtype" in text and "joint test model:qtype" in text
    cells = read_csv(out / "cell_means.csv")
    for path, pooling in zip(run_files, POOLINGS):
        data = json.loads(path.read_text())
        label = f"all-MiniLM-L6-v2 (pooling={pooling})"
        for level in ("short", "long"):
            values = [v for q, v in data["per_query"]["nDCG@10"].items() if qtype[q] == level]
            (cell,) = [c for c in cells if c["score"] == "clean nDCG@10" and c["model"] == label and c["level"] == level]
            assert float(cell["emm"]) == pytest.approx(np.mean(values), abs=1e-6)
    assert (out / "cell_means_clean_ndcg_10.png").exists()


def test_attack_success_rates_join_the_correlations(run_files, tmp_path):
    from robustest.analyze import analyze_runs

    edited = []
    for path, asr in zip(run_files, (0.2, 0.5, 0.4)):
        data = json.loads(path.read_text())
        data["poisoning"] = {"hotflip": {"n_passages": 10, "asr": {"5": asr / 2, "10": asr / 1.5, "20": asr, "50": asr}}}
        edited.append(tmp_path / path.name)
        edited[-1].write_text(json.dumps(data))
    analysis = analyze_runs(edited)
    rows = [c for c in analysis.correlations if c["target"] == "hotflip ASR@20"]
    assert {r["metric"] for r in rows} >= {"isoscore", "average_cosine", "uniformity", "alignment", "spectral_norm_mean"}
    cosines = {g["model"]: g["average_cosine"] for g in analysis.geometry}
    from scipy import stats

    (cos_row,) = [r for r in rows if r["metric"] == "average_cosine"]
    assert cos_row["kendall"] == pytest.approx(stats.kendalltau(list(cosines.values()), [0.2, 0.5, 0.4])[0])
    assert "hotflip ASR@20 0.500" in analysis.text


@pytest.mark.parametrize(
    "make, args, message",
    [
        (lambda d: None, ["missing.json"], "missing.json does not exist"),
        (lambda d: (d / "broken.json").write_text('{"schema": 2, '), ["broken.json"], "broken.json is not valid JSON"),
        (lambda d: None, ["a.json", "a.json"], "are both runs of"),
        (lambda d: None, ["a.json", "--factor", "qtype"], "--factor=qtype needs --factor-file"),
        (lambda d: (d / "t.csv").write_text("dataset,other\nx,y\n"), ["a.json", "--factor", "qtype", "--factor-file", "t.csv"], "has no column 'qtype'"),
    ],
)
def test_user_mistakes_are_one_clear_line(run_files, tmp_path, capsys, make, args, message):
    (tmp_path / "a.json").write_text(run_files[0].read_text())
    make(tmp_path)
    argv = [str(tmp_path / a) if a.endswith((".json", ".csv")) else a for a in args]
    assert main(["analyze", *argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("robustest: error: ") and message in err[0], err


def test_geometry_suite_records_and_gates(pytester, small_cranfield, cache_dir, tmp_path):
    """The shipped suite through pytest: the summary line, the saved run, the optional gate."""
    saved = tmp_path / "run.json"
    result = pytester.runpytest_subprocess(
        str(SUITES / "test_effectiveness.py"), str(SUITES / "test_geometry.py"), "-p", "no:cacheprovider",
        f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={cache_dir}", f"--robustest-save={saved}",
        "--robustest-geometry-max-average-cosine=0.01",
    )  # fmt: skip
    out = result.stdout.str()
    result.assert_outcomes(passed=1, failed=1)
    assert "anisotropic embeddings: average cosine" in out and "(--robustest-geometry-max-average-cosine)" in out
    assert "geometry: isoscore=" in out
    geometry = json.loads(saved.read_text())["geometry"]
    assert 0 < geometry["isoscore"] < 1 and geometry["linear_layers"] == 36
    from robustest.settings import Settings

    defaults = Settings()
    assert defaults.geometry_max_average_cosine is None and defaults.geometry_min_isoscore is None
