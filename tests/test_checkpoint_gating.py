"""Checkpoint gating a team can trust (issue 24): a 30-query in-house set, checkpoints made by
noising the real all-MiniLM-L6-v2's weights, the shipped suites run through pytest.

- a baseline moves only when the run was shown safe: never on inconclusive or not judged, so a
  series of slightly worse checkpoints cannot walk it down;
- a chain of accepted runs stays within the tolerance of its anchor (the first accepted run);
- with a baseline, the clean comparison is gated whatever -m/-k select, and in `robustest evaluate`;
- the power of each comparison is printed before the corpus is encoded.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import noised_checkpoint, validate_run_file
from robustest.comparison import compare_effectiveness, compare_family
from robustest.lineage import accepted, anchor_of, compare_with_anchor, lineage_after, update_refusal
from robustest.runs import load_run

SUITES = Path(__file__).resolve().parent.parent / "suites"
# The clean comparison and one family: what a checkpoint gate needs, at a test's cost.
GATES = [str(SUITES / "test_effectiveness.py"), str(SUITES / "test_query_families.py"), "-k", "effectiveness or regression or (drop_rate and misspelling and not human and not instruction)"]


# -- the anchor: synthetic runs with tight CIs --------------------------------------------------
def run_file(clean: np.ndarray, perturbed: np.ndarray, created: str) -> dict:
    qids = [f"q{i}" for i in range(clean.size)]
    family = {
        "measure": "nDCG@10", "seeds": [1, 2],
        "clean": dict(zip(qids, clean.tolist())),
        "perturbed": {str(s): dict(zip(qids, row.tolist())) for s, row in zip((1, 2), perturbed)},
    }
    return {
        "created": created, "retriever": {"resolved": created, "fingerprint": created}, "dataset": {"fingerprint": "d"},
        "effectiveness": {"nDCG@10": float(clean.mean())}, "per_query": {"nDCG@10": dict(zip(qids, clean.tolist()))}, "families": {"misspelling": family},
    }


def checkpoint(base: np.ndarray, worse: float, rng) -> np.ndarray:
    return np.clip(base - worse + rng.normal(0, 0.002, base.size), 0, 1)


def finished(current: dict, baseline: dict, tolerance: float = 0.02) -> SimpleNamespace:
    """What update_refusal reads of a finished run gated against `baseline`."""
    regressions = [
        compare_effectiveness("nDCG@10", baseline["per_query"]["nDCG@10"], current["per_query"]["nDCG@10"], tolerance=tolerance),
        compare_family("misspelling", baseline["families"]["misspelling"], current["families"]["misspelling"], tolerance=tolerance),
        *compare_with_anchor(baseline, current["per_query"], current["families"], "nDCG@10", tolerance),
    ]
    return SimpleNamespace(gates=[], regressions=regressions, not_judged={}, missing=[], reference=SimpleNamespace(run=baseline))


def test_a_chain_of_accepted_steps_cannot_drift_past_the_tolerance_below_its_anchor():
    rng = np.random.default_rng(0)
    first = rng.uniform(0.2, 0.9, 2000)
    runs = [first] + [checkpoint(first, 0.012 * k, rng) for k in (1, 2, 3)]  # each step 1.2 points worse
    files = [run_file(c, np.clip(c[None, :] - 0.05, 0, 1).repeat(2, axis=0), f"v{i + 1}") for i, c in enumerate(runs)]

    baseline = files[0]  # saved with --robustest-save: its own anchor
    assert update_refusal(finished({**files[1], "lineage": lineage_after(baseline)}, baseline), passed=True) is None
    baseline = accepted({**files[1], "lineage": lineage_after(baseline)})  # v2 accepted: 1.2 points below v1
    assert anchor_of(baseline)["created"] == "v1" and [e["created"] for e in baseline["lineage"]["accepted"]] == ["v1", "v2"]

    # v3 is within the tolerance of v2 (1.2 points) but 2.4 below the anchor: refused.
    step = finished(files[2], baseline)
    by_name = {r.name: r for r in step.regressions}
    assert by_name["nDCG@10 vs baseline"].verdict.value == "pass"
    assert by_name["nDCG@10 vs anchor"].verdict.value == "fail" and by_name["nDCG@10 vs anchor"].reference == "anchor"
    refusal = update_refusal(step, passed=True)
    assert refusal.startswith("not shown safe") and "nDCG@10 vs anchor" in refusal
    assert anchor_of(baseline)["created"] == "v1"


def test_the_update_is_refused_on_anything_not_shown_safe():
    rng = np.random.default_rng(1)
    clean = rng.uniform(0.2, 0.9, 300)
    base = run_file(clean, np.clip(clean - 0.05, 0, 1)[None, :].repeat(2, axis=0), "v1")
    same = finished(base, base)
    assert update_refusal(same, passed=True) is None
    assert update_refusal(same, passed=False) == "this run did not pass"
    assert update_refusal(SimpleNamespace(**{**vars(same), "not_judged": {"reordering": "too few"}}), passed=True) == "not judged: reordering"
    only_clean = SimpleNamespace(**{**vars(same), "regressions": same.regressions[:1]})
    assert "misspelling not compared" in update_refusal(only_clean, passed=True)
    noisy = run_file(np.clip(clean + rng.normal(0, 0.3, clean.size), 0, 1), np.clip(clean - 0.05, 0, 1)[None, :].repeat(2, axis=0), "v2")
    assert update_refusal(finished(noisy, base), passed=True).startswith("not shown safe")


# -- end to end on a 30-query set --------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoints(minilm_dir, tmp_path_factory) -> dict[str, Path]:
    """v2: every weight noised at 0.5 x its std (wrecked); a series each about one nDCG@10 point
    below the one before on the 30-query set (0.06 ... 0.15 x std)."""
    root = tmp_path_factory.mktemp("checkpoints")
    made = {"v2": noised_checkpoint(minilm_dir, root / "v2", 0.5)}
    for scale in (0.06, 0.09, 0.12, 0.15):
        made[f"series-{scale}"] = noised_checkpoint(minilm_dir, root / f"series-{scale}", scale)
    return made


@pytest.fixture(scope="module")
def accepted_v1(thirty_query_set, cache_dir, tmp_path_factory) -> Path:
    """The embedded model's run on the 30-query set, the team's first accepted run."""
    import subprocess
    import sys

    path = tmp_path_factory.mktemp("runs") / "accepted.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *GATES, "-p", "no:cacheprovider", "-q", f"--robustest-dataset={thirty_query_set}",
         f"--robustest-cache-dir={cache_dir}", f"--robustest-save={path}"],
        capture_output=True, text=True, cwd=path.parent,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return path


def gate(pytester, thirty_query_set, cache_dir, *args):
    return pytester.runpytest_subprocess(
        *GATES, "-p", "no:cacheprovider", f"--robustest-dataset={thirty_query_set}", f"--robustest-cache-dir={cache_dir}", *args
    )


def test_a_series_of_slightly_worse_checkpoints_never_moves_the_baseline(pytester, thirty_query_set, cache_dir, accepted_v1, checkpoints, tmp_path):
    """Each checkpoint about one point worse than the one before: on 30 queries nothing can be
    shown safe, so no update accepts any of them and the anchor stays v1."""
    baseline = tmp_path / "accepted.json"
    baseline.write_bytes(accepted_v1.read_bytes())
    first = baseline.read_bytes()
    for scale in (0.06, 0.09, 0.12, 0.15):
        result = gate(pytester, thirty_query_set, cache_dir, f"--retriever={checkpoints[f'series-{scale}']}", f"--robustest-baseline={baseline}", "--robustest-update-baseline")
        text = result.stdout.str()
        assert f"baseline {baseline} kept: " in text, text[-3000:]
        assert "replaced by this run" not in text and "verdict: PASSED" not in text
        assert baseline.read_bytes() == first  # the anchor (v1, its own anchor) never moves
        assert "lineage" not in json.loads(baseline.read_text())


def test_a_wrecked_checkpoint_fails_on_its_clean_score_whatever_is_selected(pytester, thirty_query_set, cache_dir, accepted_v1, checkpoints, tmp_path):
    html, saved = tmp_path / "report.html", tmp_path / "run.json"
    result = gate(
        pytester, thirty_query_set, cache_dir, f"--retriever={checkpoints['v2']}", f"--robustest-baseline={accepted_v1}", "-m", "misspelling",
        f"--robustest-html={html}", f"--robustest-save={saved}",
    )
    text = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, text[-3000:]
    result.stdout.fnmatch_lines(["verdict: FAILED - *nDCG@10 vs baseline*", "nDCG@10 vs baseline * fail", "*nDCG@10 vs baseline: judged at the end of the run*"])
    run = load_run(saved)
    validate_run_file(saved)
    assert run["verdict"].startswith("FAILED") and run["comparison"]["judged_outside_tests"] == ["nDCG@10 vs baseline"]
    assert '<span class="verdict fail">FAILED</span>' in html.read_text()  # the report opens with the verdict


def test_evaluate_applies_a_baseline_and_refuses_suite_gates(thirty_query_set, cache_dir, accepted_v1, checkpoints, capsys):
    from robustest.cli import main

    common = [f"--dataset={thirty_query_set}", f"--cache-dir={cache_dir}", f"--baseline={accepted_v1}"]
    assert main(["evaluate", f"--retriever={checkpoints['v2']}", *common]) == 1
    out = capsys.readouterr().out
    assert "verdict: FAILED" in out and "nDCG@10 vs baseline" in out
    assert main(["evaluate", *common]) == 0  # the embedded model against its own run: difference 0
    assert "verdict: PASSED" in capsys.readouterr().out
    assert main(["evaluate", *common, "--robustest-thresholds=misspelling=0.1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--robustest-thresholds would gate nothing here" in err[0]


def test_the_power_of_each_comparison_is_printed_before_the_corpus_is_encoded(pytester, thirty_query_set, accepted_v1, checkpoints, tmp_path):
    fresh = tmp_path / "fresh-cache"  # the corpus is encoded in this run
    result = gate(pytester, thirty_query_set, fresh, f"--retriever={checkpoints['series-0.06']}", f"--robustest-baseline={accepted_v1}")
    lines = result.stdout.lines
    power = next(i for i, line in enumerate(lines) if "power of the comparisons with the baseline" in line)
    encoded = next(i for i, line in enumerate(lines) if "400 documents" in line)
    assert power < encoded, "\n".join(lines[:40])
    clean = next(line for line in lines[power:encoded] if "nDCG@10 vs baseline" in line)
    assert "30 queries resolve about ±" in clean and ("about " in clean or "within the tolerance" in clean)
    assert any("misspelling drop rate vs baseline" in line for line in lines[power:encoded])


def test_under_xdist_the_clean_comparison_is_gated_and_the_baseline_kept(pytester, thirty_query_set, cache_dir, accepted_v1, checkpoints, tmp_path):
    """Two workers, `-m misspelling`: no worker runs the clean comparison's test, each judges it
    at its end, and the controller fails the run on it and keeps the baseline."""
    baseline = tmp_path / "accepted.json"
    baseline.write_bytes(accepted_v1.read_bytes())
    result = gate(
        pytester, thirty_query_set, cache_dir, "-n", "2", f"--retriever={checkpoints['v2']}", f"--robustest-baseline={baseline}",
        "--robustest-update-baseline", "-m", "misspelling",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(["verdict: FAILED - *nDCG@10 vs baseline*", "*nDCG@10 vs baseline: judged at the end of the run*", f"baseline {baseline} kept: *"])
    assert baseline.read_bytes() == accepted_v1.read_bytes()
