"""Robustness while a sentence-transformers model trains: `RobustnessEvaluator`::

    from robustest.integrations.sentence_transformers import RobustnessEvaluator

    evaluator = RobustnessEvaluator("path/to/beir/folder", runs_dir="runs/robustness")
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=pairs, loss=loss,
                                         evaluator=evaluator)

Each evaluation runs `robustest.check` on the model as it is at that step (clean nDCG@10 and
the drop rate of each family, with its confidence interval, on a fixed subsample) and returns
them as metrics the trainer logs (`eval_robustest_misspelling_drop_rate`, ...). With `runs_dir`
(or the trainer's output folder) each evaluation also saves a run file, `step-NNNNNNN.json`,
with the step in it: `robustest report runs/robustness --html series.html` draws the drop
rates against the training steps.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np
try:  # sentence-transformers 5.x
    from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator
except ImportError:  # 3.x and 4.x
    from sentence_transformers.evaluation import SentenceEvaluator

from ..errors import RobustestError

# Cheap on a CPU and needing nothing beyond the base install: the query families of the paper
# that run offline with no model of their own.
DEFAULT_FAMILIES = ("misspelling", "naturalizing", "reordering")


def metric_name(measure: str) -> str:
    """The run file's measure as sentence-transformers' InformationRetrievalEvaluator names its
    metrics: nDCG@10 -> ndcg@10, RR@10 -> mrr@10, R@100 -> recall@100 (MTEB's names, with @)."""
    from ..mteb_results import METRIC_KEYS

    base, _, cutoff = measure.partition("@")
    return f"{METRIC_KEYS.get(base, base.lower())}{'@' + cutoff if cutoff else ''}"


def weights_fingerprint(model: Any) -> str:
    """A digest of every parameter and buffer: two steps share it only when no weight moved
    (a probe of rounded outputs could miss a small step)."""
    import torch

    digest = hashlib.sha256()
    for key, tensor in model.state_dict().items():
        digest.update(key.encode())
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return digest.hexdigest()


class RobustnessEvaluator(SentenceEvaluator):
    """A sentence-transformers evaluator that measures robustness with robustest.

    dataset: a --robustest-dataset string (a BEIR folder, ``"default"``, ``mteb:<Task>``, ...)
        or a loaded ``robustest.data.Dataset``.
    families: the query families to measure (default: misspelling, naturalizing, reordering).
    max_queries: the queries every evaluation uses, chosen by a hash of their ids, so steps are
        compared on the same data.
    max_documents: the documents every evaluation encodes: every one judged for those queries,
        then others chosen by a hash of their ids.
    seeds: perturbation seeds (default: the paper's five; one variant per query per seed).
    runs_dir: where each evaluation's run file goes (default: a ``robustest`` folder in the
        evaluation folder the trainer passes, ``<output_dir>/eval/robustest``; none without one).
    name: the metrics' prefix (``robustest`` -> ``eval_robustest_ndcg@10`` in the trainer's logs).
    options: any robustest setting, as for ``robustest.check`` (thresholds, ``similarity``...).

    The corpus is encoded again only when the weights changed since the last evaluation (the
    vectors are kept in memory, keyed by a digest of the weights; nothing goes to the disk cache).
    The primary metric, for ``load_best_model_at_end``, is ``perturbed_ndcg@10``: nDCG@10 under
    the perturbations, the mean over families and seeds (higher is better).
    """

    def __init__(
        self,
        dataset: Any = "default",
        families: Sequence[str] = DEFAULT_FAMILIES,
        *,
        max_queries: int | None = 50,
        max_documents: int | None = 2000,
        seeds: Sequence[int] | None = None,
        runs_dir: str | Path | None = None,
        name: str = "robustest",
        similarity: str | None = None,
        **options: Any,
    ):
        super().__init__()
        from ..data.types import Dataset, subsample_documents, subsample_queries

        if isinstance(families, str):
            families = [families]
        self.families = list(families)
        if not self.families:
            raise RobustestError("RobustnessEvaluator(families=[]): name at least one query family, e.g. ['misspelling']")
        from ..families import FAMILIES

        gated = [name for name, f in FAMILIES.items() if f.gated]
        unknown = [f for f in self.families if f not in gated]
        if unknown:  # before any data is loaded, not at the first evaluation
            raise RobustestError(f"RobustnessEvaluator(families=...): {', '.join(map(repr, unknown))} is not a query family; choose from {', '.join(gated)}")
        if isinstance(dataset, str):
            from ..data import load_dataset

            dataset = load_dataset(dataset, cache_dir=options.get("cache_dir"))
        if not isinstance(dataset, Dataset):
            raise RobustestError(f"RobustnessEvaluator(dataset=...) got {type(dataset).__name__}: pass a dataset string (a folder, 'default', mteb:<Task>) or a robustest.data.Dataset")
        self.dataset = subsample_documents(subsample_queries(dataset, max_queries), max_documents)
        self.seeds = None if seeds is None else list(seeds)
        self.runs_dir = None if runs_dir is None else Path(runs_dir)
        self.name = name
        self.similarity = similarity
        self.options = options
        self.primary_metric = "perturbed_ndcg@10"
        self.greater_is_better = True
        self.documents_encoded = 0  # documents the model encoded (not taken from memory), over all evaluations
        self.reports: list = []  # each evaluation's robustest.Report, oldest first
        self._corpus: tuple[str, dict[str, np.ndarray]] | None = None  # weights digest, text -> vector

    def __call__(self, model: Any, output_path: str | None = None, epoch: float = -1, steps: int = -1) -> dict[str, float]:
        from ..checking import check
        from ..runs import save_run

        retriever = self.retriever(model)
        # The corpus vectors live in memory (MemoisedRetriever): a disk entry per step would pile up.
        report = check(retriever, self.dataset, families=self.families, seeds=self.seeds, verbose=False, **{**self.options, "no_cache": True})
        self.reports.append(report)
        folder = self.runs_dir or (Path(output_path) / "robustest" if output_path else None)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            run = {**report.run, "training": {"step": int(steps), "epoch": None if epoch is None or epoch < 0 else float(epoch)}}
            save_run(folder / f"step-{max(int(steps), 0):07d}.json", run)
        metrics = self.metrics(report)
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def metrics(self, report) -> dict[str, float]:
        """Clean scores, then each family's drop rate with its interval and its perturbed nDCG@10."""
        run = report.run
        out = {metric_name(m): float(v) for m, v in run["effectiveness"].items()}
        perturbed = []
        for row in report.gates:
            if row.kind != "drop rate" or row.family not in self.families:
                continue
            out[f"{row.family}_drop_rate"] = row.value
            out[f"{row.family}_drop_rate_ci_low"] = row.ci_low
            out[f"{row.family}_drop_rate_ci_high"] = row.ci_high
            family = run["families"].get(row.family)
            if family:
                score = float(np.mean([np.mean(list(seed.values())) for seed in family["perturbed"].values() if seed]))
                out[f"{row.family}_{metric_name(family['measure'])}"] = score
                perturbed.append(score)
        out["perturbed_ndcg@10"] = float(np.mean(perturbed)) if perturbed else float("nan")
        return out

    def retriever(self, model: Any):
        """The model as robustest's retriever, its corpus vectors reused while the weights stay."""
        from ..retrievers.adapt import is_sentence_transformer

        if not is_sentence_transformer(model):
            raise RobustestError(f"RobustnessEvaluator evaluates a sentence-transformers model, not {type(model).__name__}; for other models call robustest.check")
        digest = weights_fingerprint(model)
        if self._corpus is None or self._corpus[0] != digest:
            self._corpus = (digest, {})
        return MemoisedRetriever(model, self.similarity, digest, self._corpus[1], self)

    def get_config_dict(self) -> dict[str, Any]:
        return {"families": self.families, "queries": len(self.dataset.queries), "documents": len(self.dataset.doc_ids), "seeds": self.seeds}


class MemoisedRetriever:
    """A sentence-transformers model as a retriever whose fingerprint is its weights' digest and
    whose document vectors are kept for as long as those weights are."""

    def __init__(self, model: Any, similarity: str | None, digest: str, documents: dict, evaluator: RobustnessEvaluator):
        from ..retrievers.adapt import SentenceTransformerRetriever

        self._inner = SentenceTransformerRetriever(model, None, similarity)
        self._documents, self._evaluator = documents, evaluator
        self.name, self.similarity, self.dimension = self._inner.name, self._inner.similarity, self._inner.dimension
        self.query_prompt = self._inner.query_prompt
        self.fingerprint = f"weights:{digest}"

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._inner.encode_queries(texts)

    def encode_queries_with_prompts(self, texts: Sequence[str], prompts: Sequence[str]) -> np.ndarray:
        return self._inner.encode_queries_with_prompts(texts, prompts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._documents]
        if missing:
            self._evaluator.documents_encoded += len(missing)
            self._documents.update(zip(missing, self._inner.encode_documents(missing)))
        return np.stack([self._documents[t] for t in texts]) if texts else np.empty((0, self.dimension), dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        return {**self._inner.describe(), "fingerprint_from": "a digest of the weights"}

__all__ = ["RobustnessEvaluator"]
