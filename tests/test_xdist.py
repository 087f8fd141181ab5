"""pytest-xdist: `pytest suites/ -n 2` gives one summary and one run file equal to the one-process
run, with the corpus encoded once; `--dist loadgroup` keeps a family's tests on one worker.
Real xdist workers, real MiniLM, real cranfield (a small slice)."""

import json
import re
from pathlib import Path

import pytest

import robustest

pytest.importorskip("xdist", reason="pytest-xdist is not installed (pip install 'robustest[dev]')")

SUITES = str(Path(robustest.__file__).parent / "suites")

# A plugin of the child runs (-p encodelog): one line per corpus encode, naming the process.
ENCODE_LOG_PLUGIN = """
import os
from robustest.retrievers.hf import HFEncoder

_encode = HFEncoder.encode_documents

def encode_documents(self, texts):
    with open(os.environ["ENCODE_LOG"], "a") as log:
        log.write(os.environ.get("PYTEST_XDIST_WORKER", "main") + "\\n")
    return _encode(self, texts)

HFEncoder.encode_documents = encode_documents
"""


def run_suites(pytester, cache, dataset, out: Path, log: Path, *args):
    pytester.makepyprojecttoml("[tool.robustest]\nmin_queries = 5\nworst_case_queries = 10\nworst_case_neighbours = 8\n")
    pytester.makepyfile(encodelog=ENCODE_LOG_PLUGIN)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ENCODE_LOG", str(log))
        mp.setenv("PYTHONPATH", str(pytester.path))
        mp.setenv("SOURCE_DATE_EPOCH", "1700000000")
        result = pytester.runpytest_subprocess(
            SUITES, "-p", "no:cacheprovider", "-p", "encodelog", f"--rootdir={pytester.path}", "-c", str(pytester.path / "pyproject.toml"),
            f"--robustest-dataset={dataset}", f"--robustest-cache-dir={cache}", "--robustest-seeds=1999,5",
            "-m", "not poisoning and not paraphrasing", f"--robustest-save={out}",
            f"--robustest-trec-run={out.with_suffix('.trec')}", "--robustest-trec-perturbed", *args,
        )
    return result, json.loads(out.read_text())


def comparable(run: dict) -> dict:
    """A run file without what differs by process: the machine and command line it ran with."""
    return {k: v for k, v in run.items() if k != "environment"}


def test_two_workers_give_one_summary_and_the_one_process_run_file(pytester, small_cranfield, tmp_path):
    cache = tmp_path / "cache"  # cold: the two workers race for the corpus encode
    log = tmp_path / "encodes.log"
    two, merged = run_suites(pytester, cache, small_cranfield, tmp_path / "two.json", log, "-n", "2")
    assert two.ret == 0 and two.parseoutcomes()["passed"] >= 15, two.stdout.str()
    assert log.read_text().split() in (["gw0"], ["gw1"]), "the corpus is encoded once, by one worker"
    out = two.stdout.str()
    assert len(re.findall(r"=+ robustest =+", out)) == 1
    assert "corpus embeddings cache: miss, now stored" in out
    assert out.count("results saved to") == 1

    one, alone = run_suites(pytester, cache, small_cranfield, tmp_path / "one.json", tmp_path / "one.log")
    assert one.ret == 0, one.stdout.str()
    assert not (tmp_path / "one.log").exists(), "the one-process run reads the workers' cache entry"
    alone["settings"]["cache_dir"] = merged["settings"]["cache_dir"]
    assert comparable(merged) == comparable(alone)
    # Holm ran over every gate of both workers: the same adjusted p-values as in one process
    assert len(merged["gates"]) == 8 and [g["p_adjusted"] for g in merged["gates"]] == [g["p_adjusted"] for g in alone["gates"]]
    for gate in merged["gates"]:
        assert re.search(rf"^{re.escape(gate['name'])}\s.*{gate['verdict']}$", out, re.M), gate["name"]
    # TREC runs: the clean run and each family's, as in one process (the same rankings; scores
    # to float32 rounding: the workers encode the variants in other batches)
    names = ["two.trec"] + [f"two.{family}.seed{seed}.trec" for family in merged["families"] for seed in (1999, 5)]
    for name in names:
        mine, theirs = trec_lines(tmp_path / name), trec_lines(tmp_path / name.replace("two", "one", 1))
        assert [line[:4] for line in mine] == [line[:4] for line in theirs], name
        assert [line[4] for line in mine] == pytest.approx([line[4] for line in theirs], abs=1e-6), name


def trec_lines(path: Path) -> list[tuple]:
    rows = [line.split() for line in path.read_text().splitlines()]
    assert rows, path
    return [(qid, q0, doc, rank, float(score)) for qid, q0, doc, rank, score, _ in rows]


def test_loadgroup_keeps_a_family_on_one_worker(pytester):
    pytester.makepyfile(
        test_families="""
        import os, pytest
        FAMILIES = ["misspelling", "case", "whitespace", "reordering"]

        @pytest.mark.parametrize("family", FAMILIES)
        def test_gate(family, record_property):
            record_property("worker", os.environ["PYTEST_XDIST_WORKER"])

        @pytest.mark.parametrize("family", FAMILIES)
        def test_search(family, record_property):
            record_property("worker", os.environ["PYTEST_XDIST_WORKER"])
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider", "--junitxml=report.xml")
    result.assert_outcomes(passed=8)
    xml = (pytester.path / "report.xml").read_text()
    workers = {}
    for name, family, worker in re.findall(r'name="(test_\w+)\[(\w+)\]".*?name="worker" value="(gw\d)"', xml, re.S):
        workers.setdefault(family, set()).add(worker)
    assert len(workers) == 4 and all(len(w) == 1 for w in workers.values()), workers


def test_merge_keeps_one_count_of_shared_draws_and_joins_tables():
    from robustest.engine.finished import FinishedRun, merge
    from robustest.settings import Settings

    def part(guards, extras, lines, poisoning):
        return FinishedRun(
            settings=Settings(), measures=("nDCG@10",), retriever_label="r", retriever={"fingerprint": "f"}, dataset={}, dataset_line="d",
            queries={}, cache_path=None, cache_hit=True, environment={}, effectiveness={}, per_query={},
            guards=guards, extras=extras, lines=lines, poisoning_lines=poisoning,
        )

    guard = {"model": "m", "threshold": 0.7, "accepted": 10, "rejected": 2, "is_retriever_under_test": False}
    a = part({"synonymizing": guard}, {"poisoning": {"hotflip": 1}, "geometry": {"x": 1}}, ["geometry: x"], ["p1"])
    b = part({"synonymizing": dict(guard)}, {"poisoning": {"random gold": 2}}, ["geometry: x", "other"], ["p1", "p2"])
    b.cache_hit = False
    merged = merge([a, b])
    assert merged.guards["synonymizing"]["accepted"] == 10  # both workers drew the same variants: counted once
    assert merged.extras == {"poisoning": {"hotflip": 1, "random gold": 2}, "geometry": {"x": 1}}
    assert merged.lines == ["geometry: x", "other"]
    assert merged.poisoning_lines == ["p1", "p2"]
    assert merged.cache_hit is False  # one worker encoded the corpus


def test_a_crashed_worker_is_named_in_the_summary(pytester, small_cranfield, tmp_path):
    """One worker dies mid-run: the others' results are still summarised and saved, and the
    summary says whose results are missing."""
    pytester.makepyfile(  # two modules: --dist loadscope gives each to its own worker
        test_gate='def test_gate(robustness):\n    robustness.gate("case")\n',
        test_crash="import os\n\ndef test_dies(robustness):\n    os._exit(3)\n",
    )
    pytester.makepyprojecttoml("[tool.robustest]\nmin_queries = 5\n")
    result = pytester.runpytest_subprocess(
        "-n", "2", "--dist", "loadscope", "--max-worker-restart=0", "-p", "no:cacheprovider", f"--rootdir={pytester.path}", "-c", str(pytester.path / "pyproject.toml"),
        "--retriever=bm25", f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={tmp_path / 'cache'}", "--robustest-seeds=1999",
        f"--robustest-save={tmp_path / 'run.json'}",
    )
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*= robustest =*", "results missing: worker gw? stopped*the robustness results of its tests are missing", "case drop rate *pass"])
    assert "case" in json.loads((tmp_path / "run.json").read_text())["families"]
