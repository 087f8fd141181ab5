"""MTEB's own retrieval evaluator on the data robustest tested: `mteb_task`, `mteb_scores`.

    from sentence_transformers import SentenceTransformer
    from robustest import load_dataset
    from robustest.integrations.mteb_task import mteb_scores, mteb_task

    dataset = load_dataset("path/to/beir/folder")
    model = SentenceTransformer("path/to/model")
    result = mteb_scores(model, dataset)
    result["effectiveness"]   # {"nDCG@10": ..., "R@100": ..., "RR@10": ...}, as robustest names them
    mteb.evaluate(model, mteb_task(dataset))   # or the task alone, as any MTEB task

The task holds the dataset in memory (mteb 2.x's `dataset[subset][split]` of corpus, queries
and relevant_docs), so nothing is downloaded. It scores what robustest scores: documents read
as "title text"; with `exclude_self_matches` (BEIR data) a document whose id is the query's
never counts for it (mteb's `ignore_identical_ids`); a query's `excluded_docs` are ranked out
as mteb's BRIGHT tasks do, by reranking every other document (`top_ranked`).

Do not wrap the model in mteb's CachedEmbeddingWrapper (mteb 2.26.24): it joins each
document's title to its text a second time, so its scores are not these.
"""

from __future__ import annotations

from typing import Any

from ..data.types import Dataset
from ..errors import RobustestError
from ..mteb_results import mteb_metric

# robustest's default measures (ir-measures names) -> the keys of MTEB's score dict.
MTEB_NAMES = {m: mteb_metric(m) for m in ("nDCG@10", "R@100", "RR@10")}


def mteb_task(dataset: Dataset, *, name: str | None = None, language: str = "eng-Latn"):
    """An MTEB retrieval task (an `AbsTaskRetrieval`) over `dataset`'s one split, in memory.

    After `mteb.evaluate`, `task.per_query[(subset, split)]` holds MTEB's per-query scores
    (pytrec_eval's `ndcg_cut_10`, `recall_100`, ...), its run and its qrels."""
    mteb = _require_mteb()
    from mteb.abstasks.retrieval import AbsTaskRetrieval

    class RobustestRetrievalTask(AbsTaskRetrieval):
        metadata = mteb.TaskMetadata(
            name=name or f"robustest-{dataset.name}",
            description=f"{dataset.name} [{dataset.split}] as robustest loaded it, from {dataset.source}",
            dataset={"path": dataset.source, "revision": dataset.fingerprint},
            type="Retrieval",
            category="t2t",
            modalities=["text"],
            eval_splits=[dataset.split],
            eval_langs=[language],
            main_score="ndcg_at_10",
        )
        ignore_identical_ids = dataset.exclude_self_matches

        def __init__(self) -> None:
            super().__init__()
            self.per_query: dict[tuple[str, str], dict] = {}

        def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
            self.dataset = {"default": {dataset.split: split_data(dataset)}}
            self.data_loaded = True

        def task_specific_scores(self, scores, qrels, results, hf_split, hf_subset):
            self.per_query[(hf_subset, hf_split)] = {"scores": scores, "results": results, "qrels": qrels}
            return {}

    return RobustestRetrievalTask()


def split_data(dataset: Dataset) -> dict:
    """One split as mteb 2.x's retrieval evaluator reads it (a `RetrievalSplitData`)."""
    from datasets import Dataset as Table

    corpus = Table.from_dict({"id": list(dataset.doc_ids), "title": list(dataset.titles), "text": list(dataset.texts)})
    queries = Table.from_dict({"id": list(dataset.queries), "text": list(dataset.queries.values())})
    top_ranked = None
    if dataset.excluded_docs:  # mteb's BRIGHT tasks: rerank all documents but the excluded ones
        top_ranked = {q: [d for d in dataset.doc_ids if d not in dataset.excluded_docs.get(q, ())] for q in dataset.queries}
    qrels = {q: dict(docs) for q, docs in dataset.qrels.items()}
    return {"corpus": corpus, "queries": queries, "relevant_docs": qrels, "top_ranked": top_ranked}


def mteb_scores(model, dataset: Dataset, *, batch_size: int = 32, **evaluate_options: Any) -> dict:
    """Run `mteb.evaluate` on `dataset` and return {"effectiveness": means, "per_query":
    {measure: {qid: value}}, "scores": MTEB's whole score dict}, the measures named as robustest
    names them (MTEB_NAMES). MTEB rounds its nDCG and recall means to 5 decimals.

    `model`: a sentence-transformers model or anything `mteb.evaluate` takes. No results are
    cached (`cache=None`) unless `evaluate_options` says otherwise."""
    mteb = _require_mteb()
    from mteb._evaluators.retrieval_metrics import mrr

    task = mteb_task(dataset)
    options = {"cache": None, "show_progress_bar": False, "encode_kwargs": {"batch_size": batch_size, "show_progress_bar": False}}
    result = mteb.evaluate(model, task, **(options | evaluate_options))
    scores = result.task_results[0].scores[dataset.split][0]
    kept = task.per_query[("default", dataset.split)]
    run = kept["results"]
    rr = dict(zip(run, mrr(kept["qrels"], run, [10])["MRR@10"]))
    by_query = kept["scores"]
    return {
        "effectiveness": {m: float(scores[key]) for m, key in MTEB_NAMES.items()},
        "per_query": {
            "nDCG@10": {q: s["ndcg_cut_10"] for q, s in by_query.items()},
            "R@100": {q: s["recall_100"] for q, s in by_query.items()},
            "RR@10": rr,
        },
        "scores": scores,
    }


def _require_mteb():
    try:
        import mteb  # lazy and optional: robustest never imports it on its own
    except ImportError:
        raise RobustestError("the MTEB integration needs the mteb package (2.x); run pip install 'robustest[mteb]' (mteb 2.x and datasets)") from None
    return mteb

__all__ = ["mteb_scores", "mteb_task"]
