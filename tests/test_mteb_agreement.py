"""robustest's clean scores equal MTEB's own retrieval evaluator's (mteb 2.x), to 1e-4.

On cranfield with all-MiniLM-L6-v2, MTEB encodes with sentence-transformers and scores with
pytrec_eval (nDCG@10, recall@100) and its own MRR@10; robustest encodes with its own encoder,
searches with FAISS and scores with ir-measures. The task is built by
robustest.integrations.mteb_task from the Dataset robustest loaded, so the ids, texts and
judgements are the same, and so is the rule that a document never answers a query of its own
id (robustest's exclude_self_matches, on for BEIR folders; MTEB's ignore_identical_ids).
"""

from __future__ import annotations

import re
import subprocess
import sys
import zlib
from dataclasses import replace

import numpy as np
import pytest

import robustest
from robustest.data import Dataset, load_beir

pytest.importorskip("mteb", reason="mteb is in the dev extra: pip install -e '.[dev]'")

from robustest.integrations.mteb_task import MTEB_NAMES, mteb_scores  # noqa: E402

MEASURES = list(MTEB_NAMES)  # nDCG@10, R@100, RR@10: robustest's default measures


def assert_agree(report, mteb: dict) -> None:
    ours = report.finished
    for measure in MEASURES:
        assert ours.effectiveness[measure] == pytest.approx(mteb["effectiveness"][measure], abs=1e-4), measure
        assert set(ours.per_query[measure]) == set(mteb["per_query"][measure]), measure
        differ = {q: (v, mteb["per_query"][measure][q]) for q, v in ours.per_query[measure].items()
                  if abs(v - mteb["per_query"][measure][q]) > 1e-4}
        assert not differ, f"{measure}: {len(differ)} queries differ, e.g. {list(differ.items())[:3]}"


def test_clean_scores_on_cranfield_equal_mteb(cranfield_dir, minilm_dir, cache_dir):
    """The full collection (1,400 documents, 225 queries). robustest's vectors may come from
    its cache; MTEB encodes the corpus itself every time (~45 s on 2 idle cores): its
    CachedEmbeddingWrapper puts a document's title in front of it twice (mteb 2.26.24)."""
    from sentence_transformers import SentenceTransformer

    dataset = load_beir(cranfield_dir)
    assert dataset.exclude_self_matches  # query ids 1-225 are also document ids; (225, 225) is judged
    report = robustest.check("default", dataset=dataset, families=[], cache_dir=str(cache_dir), verbose=False)
    model = SentenceTransformer(str(minilm_dir), device="cpu")
    assert model.max_seq_length == 256 and not any(model.prompts.values())  # robustest's length, no prompt
    assert_agree(report, mteb_scores(model, dataset))


class Hashing:
    """Hashed word counts, unit length: a retriever robustest and MTEB can both run in a blink."""

    dimension = 64

    def vectors(self, texts) -> np.ndarray:
        out = np.full((len(texts), self.dimension), 0.0, np.float32)
        out[:, 0] = 0.1
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                out[i, 1 + zlib.crc32(word.encode()) % (self.dimension - 1)] += 1
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def hashing_for_mteb():
    from mteb.models import ModelMeta
    from mteb.models.abs_encoder import AbsEncoder
    from mteb.models.model_meta import ScoringFunction

    class MtebHashing(AbsEncoder):
        mteb_model_meta = ModelMeta.create_empty({"name": "test/hashing", "similarity_fn_name": ScoringFunction.COSINE})

        def encode(self, inputs, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs):
            return Hashing().vectors([text for batch in inputs for text in batch["text"]])

    return MtebHashing()


TOY = Dataset(
    name="toy", source="memory", split="test",
    doc_ids=("q1", "d1", "d2", "d3", "d4", "d5"),
    titles=("", "wing", "", "heat", "", "flow"),
    texts=("lift of a wing", "lift of a wing in a slipstream", "wing flutter", "heat transfer in slabs",
           "slabs conduction heat", "laminar flow over a plate"),
    queries={"q1": "wing lift", "q2": "heat in slabs", "q3": "flow over a flat plate"},
    qrels={"q1": {"q1": 2, "d2": 0}, "q2": {"d4": 3, "d3": 1}, "q3": {"d5": 1, "d2": -1}},
    exclude_self_matches=True,
    excluded_docs={"q2": frozenset({"d4"})},
)


@pytest.mark.parametrize("exclude_self", [True, False], ids=["self-matches-excluded", "self-matches-kept"])
def test_exclusions_grades_and_titles_score_alike_in_both(exclude_self, cache_dir):
    """A document that shares the query's id, a query's excluded documents (BRIGHT's
    excluded_ids, which MTEB ranks out by reranking the rest), grades 0 and -1, and titles."""
    dataset = replace(TOY, exclude_self_matches=exclude_self)
    hashing = Hashing()
    report = robustest.check(hashing.vectors, dataset=dataset, families=[], name="hashing", cache_dir=str(cache_dir), verbose=False)
    mteb = mteb_scores(hashing_for_mteb(), dataset)
    assert_agree(report, mteb)
    # q1's one relevant document is the document q1: never retrieved for it when excluded
    assert report.finished.per_query["RR@10"]["q1"] == (0.0 if exclude_self else 1.0)
    assert report.finished.per_query["R@100"]["q2"] == 0.5  # d4 is excluded, so only d3 is found


def test_ties_are_broken_the_other_way_round_by_ir_measures_rr():
    """Why the agreement needs untied scores: for two documents of the same score, ir-measures'
    RR (its msmarco provider) ranks the smaller id first, MTEB's MRR and trec_eval the larger.
    Cranfield has no such tie that matters (the per-query scores above are equal)."""
    from mteb._evaluators.retrieval_metrics import mrr

    from robustest.metrics import per_query

    qrels, run = {"q": {"b": 1}}, {"q": {"a": 0.5, "b": 0.5}}
    assert per_query(qrels, run, ["RR@10"])["RR@10"]["q"] == 0.5
    assert mrr(qrels, run, [10])["MRR@10"] == [1.0]


def test_robustest_imports_mteb_only_when_asked():
    code = "import sys, robustest.integrations.mteb_task; assert not {'mteb', 'datasets'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)
