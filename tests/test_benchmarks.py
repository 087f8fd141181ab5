"""benchmarks/bench_suite.py: its phase clock adds up, its tests are put in the right phase,
and one small cold run (a hashing retriever, no model) goes end to end: the results file has
the phases, the forward-pass floor and the suite / evaluate ratio."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "bench_suite.py"

RETRIEVER_MODULE = '''
import re, zlib
import numpy as np

class Hashing:
    """Hashed word counts plus a constant component (a text without words is not 0/0)."""
    name, similarity, dimension, fingerprint = "bench-hashing", "cosine", 65, "bench-hashing-65"

    def vectors(self, texts):
        out = np.zeros((len(texts), self.dimension), np.float32)
        out[:, 0] = 0.1
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                out[i, 1 + zlib.crc32(word.encode()) % (self.dimension - 1)] += 1
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    encode_queries = encode_documents = vectors

def make():
    return Hashing()
'''


@pytest.fixture(scope="module")
def bench():
    saved = list(sys.path)  # the script puts the checkout and benchmarks/ on the path
    try:
        spec = importlib.util.spec_from_file_location("bench_suite_under_test", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path[:] = saved


def test_every_moment_goes_to_exactly_one_phase(bench):
    timeline = bench.Timeline("start-up", time.perf_counter())
    with timeline.phase("gates"):
        time.sleep(0.02)
        with timeline.phase("corpus encode"):
            time.sleep(0.02)
    timeline.switch_base("report")
    time.sleep(0.01)
    wall = timeline.close()
    assert set(timeline.totals) == {"start-up", "gates", "corpus encode", "report"}
    assert sum(timeline.totals.values()) == pytest.approx(wall, abs=1e-9)
    assert timeline.totals["corpus encode"] >= 0.02 and timeline.totals["gates"] >= 0.02


@pytest.mark.parametrize(
    ("name", "markers", "phase"),
    [
        ("test_drop_rate[misspelling]", {"misspelling"}, "gates"),
        ("test_a_typo_keeps_a_relevant_document_in_the_top_k", {"robustest_property", "misspelling"}, "worst-case searches"),
        ("test_worst_case_of_one_edit[case]", {"case", "noise"}, "worst-case searches"),
        ("test_attack_success_rate[hotflip-N10]", {"poisoning"}, "poisoning"),
        ("test_embedding_geometry", {"geometry"}, "geometry"),
        ("test_clean_effectiveness", set(), "effectiveness"),
        ("test_something_else", set(), "other tests"),
    ],
)
def test_tests_are_put_in_their_phase(bench, name, markers, phase):
    item = SimpleNamespace(name=name, originalname=name.split("[")[0], iter_markers=lambda: [SimpleNamespace(name=m) for m in markers])
    assert bench.classify(item) == phase


def test_a_small_cold_run_end_to_end(tmp_path, small_cranfield):
    (tmp_path / "bench_hashing.py").write_text(RETRIEVER_MODULE)
    out = tmp_path / "suite.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    command = [
        sys.executable, str(SCRIPT), "--dataset", str(small_cranfield), "--cold", "--no-poisoning",
        "--retriever", "bench_hashing:make", "--out", str(out),
        "--", "-k", "effectiveness or (drop_rate and (case or whitespace))",
    ]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert report["benchmark"] == "suite" and report["settings"]["cache"] == "cold"
    runs = {r["role"]: r for r in report["runs"]}
    assert set(runs) == {"evaluate", "suite"}
    suite = runs["suite"]
    assert suite["exit_status"] == 0
    assert sum(suite["phases"].values()) == pytest.approx(suite["wall_s"], rel=1e-6)
    assert suite["tests_per_phase"] == {"effectiveness": 1, "gates": 2}
    assert suite["corpus_cache_hit"] is False  # cold: the corpus was encoded in this run
    groups = {(g["call"], g["texts"]): g["count"] for g in suite["floor"]["groups"]}
    assert 0 < groups[("encode_documents", "corpus")] <= suite["documents"]  # distinct texts: blank documents count once
    assert groups[("encode_queries", "other")] >= suite["queries"]
    summary = report["summary"]
    assert summary["suite_over_evaluate"] > 0 and summary["suite_over_floor"] > 0
    assert "phase" in done.stdout and "suite / evaluate" in done.stdout


def test_reproduce_docs_reads_the_measured_table_of_the_performance_page():
    """benchmarks/reproduce_docs.py checks the drop rates printed in docs/explanation/performance.md:
    its parser finds every checked gate and clean score there (the page is the only copy)."""
    saved = list(sys.path)
    try:
        sys.path.insert(0, str(REPO / "benchmarks"))
        spec = importlib.util.spec_from_file_location("reproduce_docs_under_test", REPO / "benchmarks" / "reproduce_docs.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        expected = module.expected_from_page()
    finally:
        sys.path[:] = saved
    families = {"misspelling", "naturalizing", "case", "punctuation", "whitespace", "reordering", "synonymizing"}
    assert set(expected) == {"default", "cranfield"}
    for name, clean in (("default", 0.4401), ("cranfield", 0.3819)):
        assert set(expected[name]) == families | {"clean nDCG@10"}
        assert expected[name]["clean nDCG@10"] == clean
        for family in families:
            mean, std, low, high, verdict = expected[name][family]
            assert low <= high and std >= 0 and verdict in {"pass", "fail", "inconclusive"}
    assert expected["default"]["misspelling"] == (18.98, 2.13, 14.66, 23.17, "inconclusive")
    assert expected["cranfield"]["synonymizing"] == (7.68, 1.44, 5.25, 10.14, "pass")
