"""robustest.check(): the shipped suites' gates in one call, on the same engine as pytest.

The real embedded model and the real cranfield collection throughout; the retriever adapters
(a sentence-transformers model, an encode-only object, a plain function) are checked against
the model folder the plugin loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import robustest
from robustest.errors import RobustestError
from robustest.retrievers.adapt import as_retriever

REPO = Path(__file__).resolve().parent.parent
SUITES = REPO / "suites"


def pytest_suites(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider"], cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def st_model(minilm_dir):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_dir), device="cpu")


@pytest.fixture(scope="module")
def st_report(st_model, cranfield_dir, cache_dir):
    return robustest.check(st_model, dataset=str(cranfield_dir), families=["misspelling"], max_queries=50, cache_dir=str(cache_dir), verbose=False)


def test_a_sentence_transformers_model_gives_the_drop_rate_the_suites_give(st_report, minilm_dir, cranfield_dir, cache_dir, tmp_path):
    """The issue's acceptance check: check(SentenceTransformer(folder), cranfield, misspelling,
    50 queries) == pytest suites/ -m misspelling on the same folder and settings; and the saved
    report is a baseline the suites gate against."""
    saved = tmp_path / "suite.json"
    done = pytest_suites(
        [str(SUITES), "-m", "misspelling", "-k", "drop_rate", f"--retriever={minilm_dir}", f"--robustest-dataset={cranfield_dir}",
         "--robustest-max-queries=50", f"--robustest-cache-dir={cache_dir}", f"--robustest-save={saved}"], tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    suite = json.loads(saved.read_text())
    ours = st_report.run
    assert ours["dataset"]["queries"] == suite["dataset"]["queries"] == 50
    assert ours["families"]["misspelling"]["variants"] == suite["families"]["misspelling"]["variants"]  # the same texts, seed by seed
    np.testing.assert_allclose(ours["families"]["misspelling"]["drop_rates"], suite["families"]["misspelling"]["drop_rates"], atol=1e-4)
    gate = {g["family"]: g for g in ours["gates"]}["misspelling"]
    suite_gate = {g["family"]: g for g in suite["gates"]}["misspelling"]
    assert gate["drop_rate_mean"] == pytest.approx(suite_gate["drop_rate_mean"], abs=1e-4)
    assert gate["verdict"] == suite_gate["verdict"]
    assert ours["effectiveness"]["nDCG@10"] == pytest.approx(suite["effectiveness"]["nDCG@10"], abs=1e-4)

    baseline = st_report.save(tmp_path / "from-check.json")
    gated = tmp_path / "gated.json"
    done = pytest_suites(
        [str(SUITES / "test_effectiveness.py"), str(SUITES / "test_query_families.py"), "-m", "misspelling or not robustest_property", "-k", "regression or (drop_rate and misspelling and not human and not instruction)",
         f"--retriever={minilm_dir}", f"--robustest-dataset={cranfield_dir}", "--robustest-max-queries=50", f"--robustest-cache-dir={cache_dir}",
         f"--robustest-baseline={baseline}", f"--robustest-save={gated}"], tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    comparison = json.loads(gated.read_text())["comparison"]
    names = {r["name"]: r for r in comparison["regressions"]}
    assert {r["family"] for r in names.values()} == {"", "misspelling"}, names
    assert all(r["verdict"] == "pass" for r in names.values()), names  # the same model on the same variants


def test_the_report_reads_as_rows_a_frame_a_file_and_html(st_report, tmp_path):
    assert st_report.passed is True
    assert st_report.verdict.startswith("PASSED")
    rows = {r.name: r for r in st_report.gates}
    gate = rows["misspelling drop rate"]
    assert gate.kind == "drop rate" and gate.measure == "nDCG@10" and gate.n_queries == 50
    assert gate.ci_low <= gate.value <= gate.ci_high and gate.threshold == pytest.approx(0.2)
    assert rows["clean effectiveness"].verdict == "pass"
    assert rows["clean effectiveness"].value == pytest.approx(st_report.run["effectiveness"]["nDCG@10"])
    frame = st_report.to_frame()
    assert list(frame["name"]) == [r.name for r in st_report.gates] and "ci_low" in frame.columns
    text = repr(st_report)
    assert text.startswith("<robustest.Report PASSED") and "misspelling drop rate" in text and "\n" not in text and len(text) < 300
    summary = str(st_report)
    assert summary.splitlines()[0].startswith("verdict: PASSED") and "misspelling drop rate" in summary
    html = st_report._repr_html_()
    assert "<table" in html and "data:image/png;base64," in html and "misspelling" in html
    written = st_report.html(tmp_path / "report.html")
    assert "misspelling drop rate" in written.read_text()
    saved = st_report.save(tmp_path / "run.json")
    from robustest.runs import load_run

    assert load_run(saved)["verdict"] == st_report.verdict


def test_a_baseline_from_check_gates_a_later_check(st_report, minilm_dir, cranfield_dir, cache_dir, tmp_path):
    """check(baseline=...) compares on the baseline's frozen variants; the folder the plugin
    loads against the sentence-transformers object of the same weights is no regression."""
    baseline = st_report.save(tmp_path / "base.json")
    report = robustest.check(str(minilm_dir), dataset=str(cranfield_dir), families=["misspelling"], max_queries=50,
                             baseline=str(baseline), cache_dir=str(cache_dir), verbose=False)
    kinds = {(r.kind, r.family): r for r in report.gates}
    assert ("comparison", "misspelling") in kinds and ("comparison", "") in kinds
    assert kinds[("comparison", "misspelling")].value == pytest.approx(0, abs=1e-4)
    assert report.passed


def test_a_function_or_an_encode_only_object_is_a_retriever(minilm, small_cranfield, cache_dir):
    """A plain texts -> array function gets a fingerprint from its outputs on a fixed probe
    (the plugin's AttributeError 'function' object has no attribute 'fingerprint' is gone)."""

    def encode(texts):
        return minilm.encode_documents(texts)

    class EncodeOnly:
        def encode_queries(self, texts):
            return minilm.encode_queries(texts)

        def encode_documents(self, texts):
            return minilm.encode_documents(texts)

    as_function = robustest.check(encode, dataset=str(small_cranfield), families=[], cache_dir=str(cache_dir), verbose=False)
    as_object = robustest.check(EncodeOnly(), dataset=str(small_cranfield), families=[], cache_dir=str(cache_dir), verbose=False)
    folder = robustest.check("default", dataset=str(small_cranfield), families=[], cache_dir=str(cache_dir), verbose=False)
    for report in (as_function, as_object):
        assert report.run["effectiveness"]["nDCG@10"] == pytest.approx(folder.run["effectiveness"]["nDCG@10"], abs=1e-4)
        assert report.passed
    assert as_function.run["retriever"]["name"] == "encode"
    assert as_function.run["retriever"]["fingerprint"] == as_retriever(encode).fingerprint  # the same function, the same key


def test_a_probe_fingerprint_follows_the_outputs_and_a_given_name():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(256, 8)).astype(np.float32)

    def hashed(texts, table=table):
        return np.stack([table[[ord(c) % 256 for c in t] or [0]].mean(axis=0) for t in texts])

    def changed(texts):
        return hashed(texts) + 0.01

    a, b, c = as_retriever(hashed), as_retriever(lambda texts: hashed(texts), name="hashed"), as_retriever(changed, name="hashed")
    assert a.dimension == 8 and a.similarity == "cosine"
    assert as_retriever(hashed).fingerprint == a.fingerprint
    assert b.fingerprint != c.fingerprint  # the same name, other outputs: another cache entry
    assert as_retriever(hashed, similarity="dot").fingerprint != a.fingerprint


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: robustest.check(42), "got int: pass a --retriever string"),
        (lambda: robustest.check(lambda texts: np.zeros((1, 3))), "returned shape (1, 3); return one row per text"),
        (lambda: robustest.check("default", regresion_tolerance=0.01), "unknown setting regresion_tolerance=0.01; did you mean regression_tolerance=?"),
        (lambda: robustest.check("default", families=["typo"]), "'typo' is not a query family; choose from misspelling"),
        (lambda: robustest.check("default", max_queries=0), "robustest.check(max_queries=0)"),
        (lambda: robustest.check("default", dataset=[1, 2]), "got list: pass a dataset string"),
    ],
    ids=["not-a-retriever", "wrong-shape", "misspelt-setting", "unknown-family", "bad-value", "not-a-dataset"],
)
def test_a_mistake_is_one_clear_error(call, message):
    with pytest.raises(RobustestError) as raised:
        call()
    assert message in str(raised.value)


def test_robustest_check_prints_the_summary_a_pytest_run_prints(small_cranfield, cache_dir, tmp_path):
    common = [f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={cache_dir}", "--robustest-seeds=1999,5"]
    cli = subprocess.run([sys.executable, "-m", "robustest.cli", "check", "--families", "misspelling", *common], capture_output=True, text=True, cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr[-2000:]
    # by node id: -k "misspelling" would also select human_misspelling and instruction_misspelling
    run = pytest_suites([str(SUITES / "test_effectiveness.py"), f"{SUITES / 'test_query_families.py'}::test_drop_rate[misspelling]", *common], tmp_path)
    assert run.returncode == 0, run.stdout[-2000:]
    section = run.stdout[run.stdout.index("verdict: "):]
    shared = [line for line in cli.stdout.splitlines() if line.startswith(("verdict:", "misspelling drop rate", "     nDCG@10 = ", "gate "))]
    assert len(shared) == 4, cli.stdout
    for line in shared:
        assert line in section, f"{line!r} not in pytest's summary:\n{section}"


def test_robustest_check_exits_1_when_a_gate_fails(small_cranfield, cache_dir, tmp_path):
    cli = subprocess.run(
        [sys.executable, "-m", "robustest.cli", "check", "--families", "misspelling", f"--dataset={small_cranfield}",
         f"--cache-dir={cache_dir}", "--seeds=1999,5", "--thresholds=misspelling=0.0001"], capture_output=True, text=True, cwd=tmp_path)
    assert cli.returncode == 1, cli.stdout[-2000:] + cli.stderr[-2000:]
    assert "verdict: FAILED" in cli.stdout and "failed: misspelling drop rate" in cli.stdout


def test_check_and_the_suites_read_a_table_dataset_through_its_field_mapping(small_cranfield, cache_dir, tmp_path):
    """--robustest-dataset-fields reaches the run (session), not only `robustest convert`."""
    from robustest.data import load_beir
    from test_dataset_formats import CUSTOM_FIELDS, write_custom_csv

    folder = write_custom_csv(load_beir(small_cranfield), tmp_path / "custom")
    mapping = dict(pair.split("=") for pair in CUSTOM_FIELDS.split(","))
    beir = robustest.check("default", dataset=str(small_cranfield), families=[], cache_dir=str(cache_dir), verbose=False)
    table = robustest.check("default", dataset=str(folder), dataset_fields=mapping, families=[], cache_dir=str(cache_dir), verbose=False)
    assert table.run["effectiveness"] == pytest.approx(beir.run["effectiveness"], abs=1e-9)
    saved = tmp_path / "suite.json"
    done = pytest_suites([str(SUITES / "test_effectiveness.py"), f"--robustest-dataset={folder}", f"--robustest-dataset-fields={CUSTOM_FIELDS}",
                          f"--robustest-cache-dir={cache_dir}", f"--robustest-save={saved}"], tmp_path)
    assert done.returncode == 0, done.stdout[-2000:]
    assert json.loads(saved.read_text())["effectiveness"] == pytest.approx(beir.run["effectiveness"], abs=1e-9)


def test_a_gate_that_cannot_judge_passes_only_outside_ci(small_cranfield, cache_dir):
    """Not judged (fewer perturbed queries than min_queries) decides nothing: the report passes
    but is NOT SHOWN SAFE, as the pytest run skips; with ci=True it fails, as --robustest-ci does."""
    options = dict(dataset=str(small_cranfield), families=["misspelling"], seeds=[1999], family_set={"misspelling.min_queries": 1000},
                   cache_dir=str(cache_dir), verbose=False)
    lenient = robustest.check("default", **options)
    assert lenient.passed is True and lenient.verdict.startswith("NOT SHOWN SAFE")
    row = {r.name: r for r in lenient.gates}["misspelling drop rate"]
    assert row.verdict == "not judged" and "1000" in row.note
    strict = robustest.check("default", ci=True, **options)
    assert strict.passed is False and strict.verdict.startswith("FAILED")


def test_outputs_asked_by_setting_are_written_and_a_bad_path_fails_before_any_work(small_cranfield, cache_dir, tmp_path):
    options = dict(dataset=str(small_cranfield), families=[], cache_dir=str(cache_dir), verbose=False)
    with pytest.raises(RobustestError, match="is a folder; name a file in it"):
        robustest.check(lambda texts: 1 / 0, save=str(tmp_path), **options)  # the retriever never runs: the path fails first
    out = tmp_path / "out"
    report = robustest.check("default", save=str(out / "run.json"), html=str(out / "run.html"), trec_run=str(out / "run.trec"), **options)
    assert json.loads((out / "run.json").read_text())["verdict"] == report.verdict
    assert "<html" in (out / "run.html").read_text().lower()
    first = (out / "run.trec").read_text().splitlines()[0].split()
    assert len(first) == 6 and first[1] == "Q0" and first[3] == "1"


def test_poisoning_on_gates_asr_and_an_object_without_gradients_is_skipped_with_the_reason(small_cranfield, cache_dir, minilm):
    options = dict(dataset=str(small_cranfield), families=[], poisoning=True, poison_iterations=2, poison_passages=[2], poison_pool=2,
                   poison_seeds=[1999], cache_dir=str(cache_dir), verbose=False)
    report = robustest.check("default", **options)
    rows = [r for r in report.gates if r.family == "poisoning"]
    assert rows and all(r.kind.startswith("ASR") or "attack" in r.kind for r in rows), rows
    assert all(0 <= r.value <= 1 for r in rows)
    assert "poisoning" in report.run  # the attacks and the random-gold control, as the suite stores them

    class EncodeOnly:
        def encode_queries(self, texts):
            return minilm.encode_queries(texts)

        def encode_documents(self, texts):
            return minilm.encode_documents(texts)

    skipped = robustest.check(EncodeOnly(), **options)
    hotflip = [o for o in skipped.outcomes if "hotflip" in o.name]
    assert hotflip and all(o.status == "skipped" and o.message for o in hotflip), skipped.outcomes
