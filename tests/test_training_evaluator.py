"""RobustnessEvaluator: robustness measured while a sentence-transformers model trains.

Real fine-tunes of all-MiniLM-L6-v2 on cranfield (query, relevant document) pairs, with the
evaluator attached to SentenceTransformerTrainer and to model.fit; the run files it saves and
the checkpoint series `robustest report` draws from them."""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("sentence_transformers", reason="the sentence-transformers integration needs sentence-transformers (the dev extra)")

from robustest.cli import main  # noqa: E402
from robustest.data import load_beir  # noqa: E402
from robustest.data.types import subsample_documents, subsample_queries  # noqa: E402
from robustest.errors import RobustestError  # noqa: E402
from robustest.integrations.sentence_transformers import RobustnessEvaluator, metric_name, weights_fingerprint  # noqa: E402
from robustest.series import run_paths, series_rows  # noqa: E402

from conftest import validate_run_file  # noqa: E402

FAMILIES = ["misspelling", "reordering"]


@pytest.fixture(scope="module")
def cranfield(cranfield_dir):
    return load_beir(cranfield_dir)


def evaluator(cranfield, runs_dir=None) -> RobustnessEvaluator:
    return RobustnessEvaluator(cranfield, FAMILIES, max_queries=20, max_documents=150, seeds=[1999, 5], runs_dir=runs_dir)


def training_pairs(cranfield, held_out, n: int = 32):
    """(query, relevant document) pairs of queries the evaluator does not score."""
    from datasets import Dataset as HFDataset

    text = dict(zip(cranfield.doc_ids, cranfield.documents))
    pairs = [(cranfield.queries[q], text[d]) for q in sorted(cranfield.queries, key=int) if q not in held_out
             for d, grade in sorted(cranfield.qrels[q].items()) if grade > 0][:n]  # fmt: skip
    return HFDataset.from_dict({"anchor": [a for a, _ in pairs], "positive": [p for _, p in pairs]})


@pytest.fixture
def model(minilm_dir):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_dir), device="cpu")


def test_a_trainer_logs_drop_rates_at_each_evaluation_and_report_draws_the_series(cranfield, model, tmp_path, capsys):
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments, losses

    runs = tmp_path / "runs"
    robustness = evaluator(cranfield, runs)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "out"), num_train_epochs=1, per_device_train_batch_size=16, learning_rate=5e-5,
        eval_strategy="steps", eval_steps=1, save_strategy="no", logging_steps=1, report_to="none", use_cpu=True, seed=0,
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=training_pairs(cranfield, robustness.dataset.queries),
                                         loss=losses.MultipleNegativesRankingLoss(model), evaluator=robustness)  # fmt: skip
    trainer.train()

    logged = [h for h in trainer.state.log_history if "eval_robustest_misspelling_drop_rate" in h]
    assert [h["step"] for h in logged] == [1, 2]
    saved = sorted(runs.glob("*.json"))
    assert [p.name for p in saved] == ["step-0000001.json", "step-0000002.json"]
    for entry, path in zip(logged, saved):
        run = validate_run_file(path)
        assert run["training"]["step"] == entry["step"]
        assert entry["eval_robustest_ndcg@10"] == pytest.approx(run["effectiveness"]["nDCG@10"], abs=1e-12)
        for gate in run["gates"]:
            family = gate["family"]
            assert entry[f"eval_robustest_{family}_drop_rate"] == pytest.approx(gate["drop_rate_mean"], abs=1e-12)
            assert entry[f"eval_robustest_{family}_drop_rate_ci_low"] == pytest.approx(gate["drop_rate_ci"][0], abs=1e-12)
        assert math.isfinite(entry["eval_robustest_perturbed_ndcg@10"])
        assert set(run["families"]) == set(FAMILIES) and run["dataset"]["documents"] == len(robustness.dataset.doc_ids)
    # The weights moved between the two evaluations: the corpus was encoded twice, not more.
    assert robustness.documents_encoded == 2 * len(set(robustness.dataset.documents))
    # The steps differ in what they measured (the model trained in between).
    first, second = (json.loads(p.read_text())["effectiveness"]["nDCG@10"] for p in saved)
    assert first != second

    out = tmp_path / "series.html"
    assert main(["report", str(runs), "--html", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert "checkpoint series" in page and page.count("data:image/png;base64,") == 1
    rows = series_rows([json.loads(p.read_text()) for p in saved])
    assert [(r["step"], r["family"]) for r in rows] == [(1, f) for f in FAMILIES] + [(2, f) for f in FAMILIES]
    for r in rows:
        assert f"<td class=\"num\">{r['step']:g}</td><td>{r['family']}</td>" in page


def test_model_fit_takes_it_too_and_unchanged_weights_are_not_encoded_again(cranfield, model, tmp_path, monkeypatch):
    from sentence_transformers import losses
    from torch.utils.data import DataLoader

    from sentence_transformers import InputExample

    monkeypatch.chdir(tmp_path)  # model.fit's trainer writes under ./checkpoints unless told otherwise
    robustness = evaluator(cranfield)
    pairs = training_pairs(cranfield, robustness.dataset.queries, n=16)
    examples = [InputExample(texts=[a, p]) for a, p in zip(pairs["anchor"], pairs["positive"])]
    model.fit(train_objectives=[(DataLoader(examples, batch_size=16, shuffle=False), losses.MultipleNegativesRankingLoss(model))],
              evaluator=robustness, epochs=1, evaluation_steps=1, output_path=str(tmp_path / "fit"),
              checkpoint_path=str(tmp_path / "checkpoints"), show_progress_bar=False)  # fmt: skip
    assert robustness.reports, "model.fit never called the evaluator"
    # model.fit's output folder gets the run files when runs_dir is not given.
    assert sorted((tmp_path / "fit").rglob("step-*.json"))

    again = robustness(model)
    before = robustness.documents_encoded
    once_more = robustness(model)
    assert robustness.documents_encoded == before  # same weights: the corpus vectors from memory
    assert once_more == again


def test_weights_fingerprint_sees_the_smallest_step(model):
    import torch

    before = weights_fingerprint(model)
    assert weights_fingerprint(model) == before
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] += 1e-6
    assert weights_fingerprint(model) != before


def test_metric_names_follow_sentence_transformers():
    assert [metric_name(m) for m in ("nDCG@10", "RR@10", "R@100", "P@5", "AP")] == ["ndcg@10", "mrr@10", "recall@100", "precision@5", "map"]


def test_the_corpus_subsample_keeps_every_judged_document(cranfield):
    queries = subsample_queries(cranfield, 20)
    small = subsample_documents(queries, 150)
    judged = {d for docs in queries.qrels.values() for d in docs}
    assert judged <= set(small.doc_ids) and len(small.doc_ids) == max(150, len(judged))
    assert small.doc_ids == subsample_documents(queries, 150).doc_ids
    assert subsample_documents(queries, None) is queries and subsample_documents(queries, 10**6) is queries
    tiny = subsample_documents(queries, 1)  # the budget is below the judged documents: all judged kept
    assert set(tiny.doc_ids) == judged


def test_bad_input_is_one_clear_error(cranfield, tmp_path):
    with pytest.raises(RobustestError, match="at least one query family"):
        RobustnessEvaluator(cranfield, [])
    with pytest.raises(RobustestError, match="robustest.data.Dataset"):
        RobustnessEvaluator(42)
    with pytest.raises(RobustestError, match="sentence-transformers model"):
        evaluator(cranfield)(lambda texts: None)
    with pytest.raises(RobustestError, match="'misspeling' is not a query family"):
        RobustnessEvaluator(cranfield, ["misspeling"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(RobustestError, match="holds no run files"):
        run_paths([tmp_path / "empty"])

