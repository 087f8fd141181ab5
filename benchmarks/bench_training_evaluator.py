"""What one RobustnessEvaluator evaluation costs during training, by corpus size.

all-MiniLM-L6-v2 on cranfield, the evaluator's defaults (50 queries; misspelling, naturalizing,
reordering; the paper's five seeds), for each `--documents` budget: an evaluation after the
weights moved (the corpus encoded again) and one of the same weights (the corpus vectors from
memory), timed side by side, alternating, `--repeats` times; medians and their ratio.

    python benchmarks/bench_training_evaluator.py [--documents 200,700,1400] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from common import cranfield_path, machine_info, next_results_path
from sentence_transformers import SentenceTransformer

from robustest.data import load_beir
from robustest.integrations.sentence_transformers import RobustnessEvaluator
from robustest.retrievers.resolve import LoadOptions, resolve_default


def nudge(model) -> None:
    """Move one weight: the next evaluation sees new weights, as after a training step."""
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] += 1e-4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", default="200,700,1400", help="max_documents budgets, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = SentenceTransformer(str(resolve_default(LoadOptions()).folder.model_dir), device="cpu")
    dataset = load_beir(cranfield_path())
    rows = []
    for budget in (int(b) for b in args.documents.split(",")):
        evaluator = RobustnessEvaluator(dataset, max_documents=budget)
        evaluator(model)  # warm: tokenizer, WordNet-free families, first allocations
        moved, same = [], []
        for _ in range(args.repeats):
            nudge(model)
            start = time.perf_counter()
            evaluator(model)
            moved.append(time.perf_counter() - start)
            start = time.perf_counter()
            evaluator(model)
            same.append(time.perf_counter() - start)
        row = {
            "max_documents": budget, "documents": len(evaluator.dataset.doc_ids), "queries": len(evaluator.dataset.queries),
            "families": evaluator.families, "seconds_weights_moved": round(statistics.median(moved), 2),
            "seconds_same_weights": round(statistics.median(same), 2),
            "ratio": round(statistics.median(moved) / statistics.median(same), 2),
        }
        rows.append(row)
        print(json.dumps(row))
    path = next_results_path("training_evaluator")
    path.write_text(json.dumps({"model": "all-MiniLM-L6-v2", "dataset": "cranfield", "repeats": args.repeats, "rows": rows, "machine": machine_info()}, indent=2) + "\n", encoding="utf-8")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
