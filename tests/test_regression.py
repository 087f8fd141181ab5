"""Checkpoint gating: the run file, frozen variants, paired comparisons, --robustest-baseline/--robustest-compare-to."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from robustest.cache import EmbeddingCache
from robustest.comparison import compare_effectiveness, compare_family
from robustest.data import load_beir
from robustest.errors import RobustestError
from robustest.perturb.protocol import PAPER_SEEDS
from robustest.retrieval import CorpusIndex
from robustest.runs import RUN_SCHEMA, check_same_dataset, family_record, frozen_perturber, load_run, save_run
from robustest.settings import parse_tolerance
from robustest.stability import run_family
from robustest.stats import Verdict

SUITES = Path(__file__).resolve().parent.parent / "suites"
GATES = [str(SUITES / "test_effectiveness.py"), str(SUITES / "test_query_families.py"), "-k", "effectiveness or regression or (drop_rate and misspelling and not human and not instruction)"]


# -- statistics on synthetic records ---------------------------------------------------------
def record(clean, perturbed, seeds=(1, 2, 3)):
    qids = [f"q{i}" for i in range(len(clean))]
    return {
        "measure": "nDCG@10",
        "seeds": list(seeds),
        "clean": dict(zip(qids, map(float, clean))),
        "perturbed": {str(s): dict(zip(qids, map(float, row))) for s, row in zip(seeds, perturbed)},
        "variants": {str(s): {q: {"text": q, "edit": "x"} for q in qids} for s in seeds},
    }


def synthetic(n=300, drop=0.1, extra=0.0, seed=0):
    rng = np.random.default_rng(seed)
    clean = rng.uniform(0.2, 1.0, n)
    base = clean * (1 - drop) + rng.normal(0, 0.05, (3, n))
    worse = base - extra * clean + rng.normal(0, 0.05, (3, n))
    return record(clean, base), record(clean, worse)


def test_identical_runs_pass_with_a_zero_difference():
    base, _ = synthetic()
    r = compare_family("misspelling", base, base)
    assert r.verdict is Verdict.PASS and r.difference == 0 and r.difference_ci == (0.0, 0.0)


def test_a_large_regression_fails_and_names_its_size():
    base, worse = synthetic(extra=0.08)
    r = compare_family("misspelling", base, worse, tolerance=0.02)
    assert r.verdict is Verdict.FAIL
    assert r.difference_ci[0] > 0.02 and 0.05 < r.difference < 0.11
    assert "worse by" in r.note and "more than the tolerance of 2.00" in r.note


def test_a_regression_within_tolerance_passes_and_a_borderline_one_is_inconclusive():
    base, worse = synthetic(n=3000, extra=0.005)
    assert compare_family("misspelling", base, worse, tolerance=0.02).verdict is Verdict.PASS
    base, worse = synthetic(n=40, extra=0.02)
    assert compare_family("misspelling", base, worse, tolerance=0.02).verdict is Verdict.INCONCLUSIVE


def test_difference_is_the_mean_of_per_seed_drop_rate_differences():
    base, worse = synthetic(extra=0.03, seed=3)
    r = compare_family("misspelling", base, worse)
    clean = np.array(list(base["clean"].values()))
    per_seed = []
    for s in base["seeds"]:
        pb = np.array(list(base["perturbed"][str(s)].values()))
        pw = np.array(list(worse["perturbed"][str(s)].values()))
        per_seed.append((clean.mean() - pw.mean()) / clean.mean() - (clean.mean() - pb.mean()) / clean.mean())
    np.testing.assert_allclose(r.seed_differences, per_seed, rtol=1e-12)
    assert r.difference == pytest.approx(np.mean(per_seed))
    assert r.difference_ci[0] < r.difference < r.difference_ci[1]


def test_pairs_scored_by_only_one_run_are_left_out_of_both():
    base, worse = synthetic()
    del worse["perturbed"]["1"]["q0"]
    r = compare_family("misspelling", base, worse)
    trimmed = json.loads(json.dumps(base))
    del trimmed["perturbed"]["1"]["q0"]
    assert r.difference == pytest.approx(compare_family("misspelling", trimmed, worse).difference)


def test_clean_effectiveness_comparison():
    rng = np.random.default_rng(1)
    base = {f"q{i}": float(x) for i, x in enumerate(rng.uniform(0, 1, 200))}
    worse = {q: max(0.0, v - 0.1) for q, v in base.items()}
    r = compare_effectiveness("nDCG@10", base, worse)
    assert r.verdict is Verdict.FAIL and r.difference > 0.05
    assert compare_effectiveness("nDCG@10", base, base).verdict is Verdict.PASS


@pytest.mark.parametrize("value, expected", [("0.02", 0.02), ("2%", 0.02), ("0", 0.0)])
def test_tolerance_parses_fractions_and_percent(value, expected):
    assert parse_tolerance(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", ["two", "150%", "-0.1"])
def test_bad_tolerance_is_rejected(value):
    with pytest.raises(ValueError):
        parse_tolerance(value)


# -- run files ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_run(minilm, small_cranfield, cache_dir):
    dataset = load_beir(small_cranfield)
    index = CorpusIndex(minilm, dataset, cache=EmbeddingCache(cache_dir))
    clean = index.evaluate(measures=["nDCG@10"])
    return dataset, index, clean, run_family(index, "misspelling", PAPER_SEEDS, "nDCG@10", clean)


def test_frozen_variants_replay_the_same_texts_and_scores(real_run, minilm):
    dataset, index, clean, run = real_run
    saved = family_record(run)
    fresh = CorpusIndex(minilm, dataset, cache=EmbeddingCache(None))  # re-encoded corpus
    replay = run_family(fresh, "misspelling", PAPER_SEEDS, "nDCG@10", fresh.evaluate(measures=["nDCG@10"]), frozen_perturber(saved, "misspelling"))
    assert [v.text for p in replay.perturbations for v in p.variants] == [v.text for p in run.perturbations for v in p.variants]
    np.testing.assert_allclose(replay.perturbed, run.perturbed, atol=1e-6)
    assert family_record(replay)["variants"] == saved["variants"]


@pytest.mark.parametrize("seed", PAPER_SEEDS)
def test_the_embedded_model_gated_against_its_own_run_passes_for_each_seed(real_run, seed):
    """No false alarm: one seed at a time, the checkpoint is its own baseline."""
    dataset, index, clean, run = real_run
    baseline = family_record(run_family(index, "misspelling", (seed,), "nDCG@10", clean))
    replay = run_family(index, "misspelling", (seed,), "nDCG@10", clean, frozen_perturber(baseline, "misspelling"))
    result = compare_family("misspelling", baseline, family_record(replay))
    assert result.verdict is Verdict.PASS and result.seeds == (seed,)
    assert abs(result.difference) < 1e-6


def test_save_and_load_round_trip(tmp_path):
    base, _ = synthetic(n=5)
    run = {"schema": RUN_SCHEMA, "robustest_version": "x", "retriever": {}, "dataset": {}, "effectiveness": {}, "per_query": {}, "families": {"misspelling": base}}
    assert load_run(save_run(tmp_path / "run.json", run)) == run


def broken_runs(tmp_path, good: dict) -> dict[str, tuple[Path, str]]:
    text = json.dumps(good)
    cases = {
        "missing": (tmp_path / "nope.json", "does not exist"),
        "truncated": (text[: len(text) // 2], "is not valid JSON"),
        "not a run": (json.dumps([1, 2]), "is not a robustest run file"),
        "old schema": (json.dumps(dict(good, schema=1)), "save the baseline again"),
        "new schema": (json.dumps(dict(good, schema=99)), "upgrade robustest"),
        "no families": (json.dumps({k: v for k, v in good.items() if k != "families"}), "lacks families"),
        "damaged family": (json.dumps(dict(good, families={"misspelling": {"measure": "nDCG@10"}})), "family misspelling lacks"),
    }
    out = {}
    for name, (content, message) in cases.items():
        path = content if isinstance(content, Path) else tmp_path / f"{name.replace(' ', '_')}.json"
        if not isinstance(content, Path):
            path.write_text(content)
        out[name] = (path, message)
    return out


def test_every_broken_run_file_is_one_clear_error(tmp_path):
    base, _ = synthetic(n=5)
    good = {"schema": RUN_SCHEMA, "robustest_version": "x", "retriever": {}, "dataset": {}, "effectiveness": {}, "per_query": {}, "families": {"misspelling": base}}
    for name, (path, message) in broken_runs(tmp_path, good).items():
        with pytest.raises(RobustestError, match=message) as info:
            load_run(path)
        assert str(path) in str(info.value), name


def test_a_baseline_from_another_dataset_is_an_error(real_run):
    dataset = real_run[0]
    other = dict(dataset.describe(), fingerprint="0" * 64, name="scifact", queries=300)
    with pytest.raises(RobustestError, match="measured on scifact .test. with 300 queries, this run on small-cranfield"):
        check_same_dataset({"dataset": other}, dataset.describe(), "the baseline b.json")


# -- end to end through pytest -----------------------------------------------------------------
def run_gates(pytester, cache_dir, *args):
    return pytester.runpytest_subprocess(*GATES, "-p", "no:cacheprovider", f"--robustest-cache-dir={cache_dir}", *args)


@pytest.fixture(scope="module")
def saved_default_run(tmp_path_factory, cache_dir):
    """The embedded model's run on the embedded collection, saved as a baseline (in a subprocess)."""
    import subprocess
    import sys

    path = tmp_path_factory.mktemp("baseline") / "base.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *GATES, "-p", "no:cacheprovider", "-q", f"--robustest-cache-dir={cache_dir}", f"--robustest-save={path}"],
        capture_output=True, text=True, cwd=path.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return path


def test_gating_the_embedded_model_against_its_own_saved_run_passes(pytester, cache_dir, saved_default_run, tmp_path):
    again = tmp_path / "again.json"
    result = run_gates(pytester, cache_dir, f"--robustest-baseline={saved_default_run}", f"--robustest-save={again}", f"--junitxml={tmp_path / 'junit.xml'}")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(["regression vs *base.json*", "nDCG@10 vs baseline * pass", "misspelling drop rate vs baseline * +0.00 * pass"])
    comparison = load_run(again)["comparison"]
    misspelling = next(r for r in comparison["regressions"] if r["family"] == "misspelling")
    assert misspelling["seeds"] == list(PAPER_SEEDS) and max(map(abs, misspelling["seed_differences"])) < 1e-6
    # same variant texts as the baseline, query by query
    assert load_run(again)["families"]["misspelling"]["variants"] == load_run(saved_default_run)["families"]["misspelling"]["variants"]
    junit = (tmp_path / "junit.xml").read_text()
    assert 'name="robustest.misspelling_drop_rate_vs_baseline.verdict" value="pass"' in junit
    assert 'name="robustest.misspelling_drop_rate.mean"' in junit


@pytest.fixture(scope="module")
def typo_fragile_checkpoint(minilm_dir, tmp_path_factory) -> Path:
    """The embedded model with noise on its word-piece continuation embeddings ("##..."):
    whole words keep their vectors, so clean queries barely change, but misspellings, which
    split into word pieces, now land somewhere else - a checkpoint that lost typo robustness."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    target = tmp_path_factory.mktemp("checkpoint") / "typo-fragile"
    shutil.copytree(minilm_dir, target)
    model = AutoModel.from_pretrained(minilm_dir)
    # Sorted: a fast tokenizer's vocabulary dict comes in a different order in every process,
    # which gave each run a different checkpoint (and now and then a regression inside the tolerance).
    pieces = sorted(i for token, i in AutoTokenizer.from_pretrained(minilm_dir).get_vocab().items() if token.startswith("##"))
    weights = model.embeddings.word_embeddings.weight
    noise = torch.randn((len(pieces), weights.shape[1]), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        weights[pieces] += noise * weights.std() * 3.0
    model.save_pretrained(target)
    return target


def test_a_typo_fragile_checkpoint_fails_against_the_original(pytester, cache_dir, saved_default_run, typo_fragile_checkpoint):
    result = run_gates(pytester, cache_dir, f"--retriever={typo_fragile_checkpoint}", f"--robustest-baseline={saved_default_run}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    text = result.stdout.str()
    assert "misspelling drop rate vs baseline: FAIL" in text
    assert "the checkpoint's drop rate is worse by" in text and "more than the tolerance of 2.00" in text
    result.stdout.fnmatch_lines(["misspelling drop rate vs baseline * fail"])


def test_compare_to_a_second_retriever_in_the_same_session(pytester, cache_dir, typo_fragile_checkpoint, tmp_path):
    saved, html = tmp_path / "run.json", tmp_path / "report.html"
    result = run_gates(pytester, cache_dir, f"--retriever={typo_fragile_checkpoint}", "--robustest-compare-to=default", f"--robustest-save={saved}", f"--robustest-html={html}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    result.stdout.fnmatch_lines(["regression vs default (measured in this session)*", "misspelling drop rate vs baseline * fail"])
    assert load_run(saved)["comparison"]["reference"]["spec"] == "default"
    assert "Grey: the baseline run" in html.read_text()  # the reference's bars beside this run's


def test_bad_baselines_are_one_clear_line(pytester, cache_dir, saved_default_run, small_cranfield, tmp_path):
    from test_plugin import assert_one_clear_error

    broken = tmp_path / "broken.json"
    broken.write_text(saved_default_run.read_text()[:1000])
    assert_one_clear_error(run_gates(pytester, cache_dir, f"--robustest-baseline={broken}"), "is not valid JSON", "--robustest-save")
    future = tmp_path / "future.json"
    future.write_text(json.dumps(dict(json.loads(saved_default_run.read_text()), schema=99)))
    assert_one_clear_error(run_gates(pytester, cache_dir, f"--robustest-baseline={future}"), "schema 99", "upgrade robustest")
    assert_one_clear_error(
        run_gates(pytester, cache_dir, f"--robustest-baseline={saved_default_run}", f"--robustest-dataset={small_cranfield}"),
        "was measured on wordnet-senses [test] with 300 queries", "same --robustest-dataset",
    )
    assert_one_clear_error(run_gates(pytester, cache_dir, f"--robustest-baseline={saved_default_run}", "--robustest-compare-to=bm25"), "--robustest-baseline and --robustest-compare-to")


def test_encoder_settings_that_differ_from_the_baseline_are_named(tmp_path):
    from robustest.engine.reference import SavedReference

    base, _ = synthetic(n=5)
    run = {"schema": RUN_SCHEMA, "robustest_version": "x", "retriever": {"dtype": "float32", "pooling": "mean"}, "dataset": {}, "effectiveness": {}, "per_query": {}, "families": {"misspelling": base}}
    reference = SavedReference(str(save_run(tmp_path / "base.json", run)))
    assert reference.config_changes({"dtype": "bfloat16", "pooling": "mean"}) == ["dtype float32 -> bfloat16"]
    assert reference.config_changes({"dtype": "float32", "pooling": "mean"}) == []


def test_a_gated_run_never_overwrites_its_baseline(pytester, cache_dir, small_cranfield, tmp_path):
    """Baselines are sacred: --robustest-save on the baseline's own path is refused at
    start-up; --robustest-update-baseline replaces it only when every test passed."""
    suite = str(SUITES / "test_effectiveness.py")

    def run(*args):
        return pytester.runpytest_subprocess(
            suite, "-p", "no:cacheprovider", f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={cache_dir}", *args
        )

    base = tmp_path / "runs" / "latest.json"
    base.parent.mkdir()
    assert run(f"--robustest-save={base}").ret == 0
    accepted = base.read_bytes()

    from test_plugin import assert_one_clear_error

    same = run(f"--robustest-baseline={base}", f"--robustest-save={tmp_path / 'runs' / '..' / 'runs' / 'latest.json'}")
    assert_one_clear_error(same, "is the baseline this run is gated against", "--robustest-update-baseline")
    assert same.ret == pytest.ExitCode.USAGE_ERROR and base.read_bytes() == accepted

    failing = run(f"--robustest-baseline={base}", "--robustest-update-baseline", "--robustest-effectiveness-floor=0.99")
    assert failing.ret == pytest.ExitCode.TESTS_FAILED
    failing.stdout.fnmatch_lines([f"baseline {base} kept: this run did not pass*"])
    assert base.read_bytes() == accepted

    passing = run(f"--robustest-baseline={base}", "--robustest-update-baseline")
    assert passing.ret == 0, passing.stdout.str()[-2000:]
    passing.stdout.fnmatch_lines([f"baseline {base} replaced by this run (--robustest-update-baseline)"])
    replaced = json.loads(base.read_text())
    assert base.read_bytes() != accepted and replaced["comparison"]["reference"]["path"] == str(base)

    lonely = run("--robustest-update-baseline")
    assert_one_clear_error(lonely, "--robustest-update-baseline replaces the --robustest-baseline file")


def test_the_same_seeds_give_byte_identical_run_files_whatever_the_hash_seed(small_cranfield, cache_dir, tmp_path):
    """Nothing in a run may depend on Python's string hashing (set order, hash()-seeded choices).
    Plain subprocesses: pytester would add a different --basetemp to each command line."""
    import os
    import subprocess
    import sys

    out, saved = tmp_path / "run.json", []
    command = [
        sys.executable, "-m", "pytest", str(SUITES / "test_query_families.py"), "-q", "-p", "no:cacheprovider",
        f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={cache_dir}", "--robustest-seeds=1999,5",
        "-m", "(misspelling or synonymizing or whitespace) and not robustest_property", f"--robustest-save={out}",
        "--robustest-thresholds=misspelling=1,synonymizing=1,whitespace=1",
    ]
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "SOURCE_DATE_EPOCH": "1798675200"}
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        saved.append(tmp_path / f"run-{hash_seed}.json")
        shutil.move(out, saved[-1])
    assert saved[0].read_bytes() == saved[1].read_bytes()
    assert json.loads(saved[0].read_text())["created"] == "2026-12-31T00:00:00Z"
