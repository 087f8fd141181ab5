"""One encode for every variant text a suite run needs: the drop-rate gates and the worst-case
searches of the collected tests (marker robustest_uses) are made first and their texts encoded
in one batch; the numbers are those of each family run on its own. Real MiniLM, real cranfield."""

import json

import pytest
from conftest import query_suite_args


# A plugin of the child run (-p batchlog): records the size of every query batch the retriever encodes.
BATCH_LOG_PLUGIN = '''
import json, os
from robustest.retrievers.hf import HFEncoder

_encode = HFEncoder.encode_queries

def encode_queries(self, texts):
    texts = list(texts)
    with open(os.environ["BATCH_LOG"], "a") as log:
        log.write(json.dumps(len(texts)) + "\\n")
    return _encode(self, texts)

HFEncoder.encode_queries = encode_queries
'''


def run_suite(pytester, cache_dir, dataset, log, out, marks, tests, *args):
    suite = query_suite_args(pytester, cache_dir, dataset, "min_queries = 5\nworst_case_queries = 10\nworst_case_neighbours = 8\n")
    pytester.makepyfile(batchlog=BATCH_LOG_PLUGIN)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BATCH_LOG", str(log))
        mp.setenv("PYTHONPATH", str(pytester.path))
        result = pytester.runpytest_subprocess(*suite, "-p", "batchlog", "--robustest-seeds=1999,5", f"--robustest-save={out}", "-m", marks, "-k", tests, *args)
    batches = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, batches, json.loads(out.read_text())


def test_every_variant_text_is_encoded_in_one_batch_with_the_same_numbers(pytester, cache_dir, small_cranfield, tmp_path):
    together, batches, saved = run_suite(
        pytester, cache_dir, small_cranfield, tmp_path / "together.log", tmp_path / "together.json", "misspelling or reordering", "drop_rate or worst_case"
    )
    together.assert_outcomes(passed=4, deselected=together.parseoutcomes()["deselected"])
    clean = len(saved["queries"])
    variants = sum(len(v) for f in ("misspelling", "reordering") for v in saved["families"][f]["variants"].values())
    searched = sum(r["neighbours_tried"] for r in saved["worst_case"].values())
    # the clean queries, then everything else at once (distinct texts: a variant may repeat)
    assert batches[0] == clean and len(batches) == 2, batches
    assert searched < batches[1] <= variants + searched

    # Each family alone, one test at a time: the same variants, the same numbers.
    for family in ("misspelling", "reordering"):
        for test in ("drop_rate", "worst_case"):
            alone, _, one = run_suite(
                pytester, cache_dir, small_cranfield, tmp_path / f"{family}-{test}.log", tmp_path / f"{family}-{test}.json", family, test
            )
            alone.assert_outcomes(passed=1, deselected=alone.parseoutcomes()["deselected"])
            if test == "drop_rate":
                assert one["families"][family]["variants"] == saved["families"][family]["variants"]
                mine = next(g for g in one["gates"] if g["name"] == f"{family} drop rate")
                theirs = next(g for g in saved["gates"] if g["name"] == f"{family} drop rate")
                assert mine["drop_rate_mean"] == pytest.approx(theirs["drop_rate_mean"], abs=1e-6)
            else:
                assert one["worst_case"][family]["per_query"] == saved["worst_case"][family]["per_query"]


def test_a_lexical_retriever_runs_the_planned_families_without_encoding(pytester, cache_dir, small_cranfield, tmp_path):
    result, batches, saved = run_suite(
        pytester, cache_dir, small_cranfield, tmp_path / "bm25.log", tmp_path / "bm25.json", "reordering", "drop_rate or worst_case", "--retriever=bm25"
    )
    result.assert_outcomes(passed=2, deselected=result.parseoutcomes()["deselected"])
    assert batches == [] and saved["worst_case"]["reordering"]["queries"] > 0


BROKEN_FAMILY_PLUGIN = '''
from robustest import Family, register_family

def broken(query, rng):
    raise RuntimeError("my sampler broke")

register_family(Family("broken", broken, threshold=0.5))
'''


def test_a_family_that_fails_while_planned_fails_in_its_own_test(pytester, cache_dir, small_cranfield):
    suite = query_suite_args(pytester, cache_dir, small_cranfield, "min_queries = 5\n")
    pytester.makepyfile(brokenfamily=BROKEN_FAMILY_PLUGIN)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", str(pytester.path))
        result = pytester.runpytest_subprocess(*suite, "-p", "brokenfamily", "--robustest-seeds=1999,5", "-m", "broken or reordering", "-k", "drop_rate")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1 and outcomes.get("failed") == 1, result.stdout.str()
    result.stdout.fnmatch_lines(["*FAILED*test_drop_rate[[]broken[]]*my sampler broke*"])
    assert "test_drop_rate[reordering] FAILED" not in result.stdout.str()
