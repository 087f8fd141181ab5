"""How HotFlip's attack success grows with iterations, against the black-box attacks and the
control, for all-MiniLM-L6-v2 on the default collection and on cranfield.

One HotFlip run per (dataset, seed) to the largest iteration count keeps each passage's text
at every checkpoint (`hotflip_passages(snapshots=...)`), so ASR@k at 0, 10, 20, ... iterations
comes from the same trajectory. Black-box attacks and the random-gold control use the same
clusters (same seed), N and length.

    python benchmarks/bench_poisoning_curve.py [--datasets default,cranfield] [--passages 10]
        [--checkpoints 0,10,20,30,40] [--pool 20] [--seeds 1999] [--out PATH]

Writes benchmarks/results/NNNN_poisoning_curve.json and prints one table per dataset.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import numpy as np  # noqa: E402
from bench_encode_cache import busy_cpu_seconds, machine, other_cores, versions  # noqa: E402
from common import cranfield_path, next_results_path  # noqa: E402

from robustest.attacks import ATTACKS, CONTROL, HotFlipConfig, Poisoning, hotflip_passages, split_for_attack  # noqa: E402
from robustest.cache import EmbeddingCache  # noqa: E402
from robustest.data import load_dataset  # noqa: E402
from robustest.files import write_json  # noqa: E402
from robustest.paths import cache_root  # noqa: E402
from robustest.retrieval import CorpusIndex  # noqa: E402
from robustest.retrievers.resolve import LoadOptions, resolve_retriever  # noqa: E402
from robustest.stats import compare_rates  # noqa: E402

NAME = "poisoning_curve"


def curve(retriever, name: str, passages: int, checkpoints: list[int], pool: int, seeds: list[int]) -> dict:
    dataset = load_dataset("default" if name == "default" else str(cranfield_path()), cache_dir=cache_root())
    index = CorpusIndex(retriever, dataset, cache=EmbeddingCache(cache_root()))
    queries = split_for_attack(dataset)
    poisoning = Poisoning(index, queries, hotflip=HotFlipConfig(iterations=max(checkpoints), pool=pool), seeds=seeds, progress=False)
    ranking = poisoning.ranking
    ks = poisoning.ks
    hits = {c: {k: [] for k in ks} for c in checkpoints}
    objective = {c: [] for c in checkpoints}
    seconds = 0.0
    for seed in seeds:
        made = hotflip_passages(retriever, queries, poisoning.clusters(seed, passages), poisoning.hotflip, seed=seed, progress=False, snapshots=checkpoints)
        seconds += sum(p.extra["seconds"] for p in made)
        for c in checkpoints:
            vectors = retriever.encode_documents([p.extra["snapshots"][c] for p in made])
            seed_hits, _ = ranking.hits(vectors, retriever.similarity, ks)
            for k in ks:
                hits[c][k].append(seed_hits[k])
            objective[c].append(float(np.mean([p.trace[c] for p in made])))
    others = {a: poisoning.run(a, passages) for a in ATTACKS if a != "hotflip"}
    control20 = others[CONTROL].hits[20]
    rows = []
    for c in checkpoints:
        h20 = np.array(hits[c][20], dtype=float)
        d = compare_rates(h20, control20)
        rows.append(
            {
                "iterations": c,
                "asr": {f"ASR@{k}": float(np.mean(hits[c][k])) for k in ks},
                "asr20_per_seed": [float(x) for x in h20.mean(axis=1)],
                "mean_objective": float(np.mean(objective[c])),
                "minus_control_asr20": {"estimate": d.estimate, "ci": list(d.ci), "significant": d.significant},
            }
        )
    return {
        "dataset": dataset.name,
        "documents": len(dataset.doc_ids),
        "queries": queries.describe(),
        "passages": passages,
        "pool": pool,
        "seeds": seeds,
        "hotflip_seconds": seconds,
        "iterations_per_s": max(checkpoints) * passages * len(seeds) / seconds if seconds else None,
        "hotflip": rows,
        "others": {a: {f"ASR@{k}": r.summary(k)[0] for k in ks} for a, r in others.items()},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="default,cranfield")
    parser.add_argument("--passages", type=int, default=10)
    parser.add_argument("--checkpoints", default="0,10,20,30,40")
    parser.add_argument("--pool", type=int, default=20)
    parser.add_argument("--seeds", default="1999")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    checkpoints = sorted({int(c) for c in args.checkpoints.split(",")})
    seeds = [int(s) for s in args.seeds.split(",")]
    cpu_before, wall_before = busy_cpu_seconds(), time.perf_counter()
    opts = LoadOptions(progress=False)
    retriever = resolve_retriever("default", opts).load(opts)
    results = [curve(retriever, name.strip(), args.passages, checkpoints, args.pool, seeds) for name in args.datasets.split(",")]
    contention = other_cores(cpu_before, busy_cpu_seconds(), time.perf_counter() - wall_before)
    report = {
        "schema": 1,
        "benchmark": NAME,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {**machine(), "other_processes_cores": contention},
        "versions": versions(),
        "retriever": retriever.describe(),
        "results": results,
    }
    out = args.out or next_results_path(NAME)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, report)
    for r in results:
        print(f"{r['dataset']} ({r['documents']} documents; {r['queries']['test_queries']} test queries; N = {r['passages']}, pool {r['pool']}, seeds {r['seeds']})")
        print(f"  {'attack':24} {'ASR@5':>7} {'ASR@10':>7} {'ASR@20':>7} {'ASR@50':>7}  ASR@20 minus control, 95% CI")
        for row in r["hotflip"]:
            a, d = row["asr"], row["minus_control_asr20"]
            print(f"  {'hotflip ' + str(row['iterations']) + ' it':24} {a['ASR@5']:>7.3f} {a['ASR@10']:>7.3f} {a['ASR@20']:>7.3f} {a['ASR@50']:>7.3f}  {d['estimate']:+.3f} [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}]")
        for name, a in r["others"].items():
            print(f"  {name:24} {a['ASR@5']:>7.3f} {a['ASR@10']:>7.3f} {a['ASR@20']:>7.3f} {a['ASR@50']:>7.3f}")
    if contention is not None and contention > 0.2:
        print(f"warning: other processes kept {contention:.1f} cores busy during the run; the timings are contended")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
