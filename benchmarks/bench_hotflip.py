"""HotFlip on a CPU: the lockstep implementation against the per-passage loop it replaced, for
all-MiniLM-L6-v2 on the default collection, plus the poisoning suite's own HotFlip budget.

1. **side by side**: for each candidate pool size, the same N clusters of the training
   queries (k-means seed 1999) and the same seed, run three ways:
   - `reference`: the per-passage loop robustest ran before lockstep, kept verbatim below
     (`reference_passages`): per passage and iteration one batch-1 gradient, a round-trip
     check of that passage's candidates, the pool encoded from decoded text;
   - `lockstep`: `hotflip_passages` with `screen=0`: batched gradients, gradient reuse, bulk
     round trips, candidates fed as ids, every candidate scored exactly. Expected to give
     the reference's passages token for token (`same_as_reference`);
   - `screened`: `hotflip_passages` with the default `screen` (bf16 screening where the CPU
     has native bf16, the best few re-scored in float32).
   iterations/s = passage-iterations / wall time of the call (the vocabulary filter, built
   once per retriever, is built before timing); ASR@20 of the passages on the collection's
   test queries, through `Poisoning`'s clean ranking as the suite measures it.
2. **suite budget**: the poisoning family's defaults (N, tokens, iterations, pool, seeds),
   HotFlip passages generated through `Poisoning` as the suite does, timed; their ASR@20
   against the random-gold control (difference and 95% CI). `--propose 30:5` measures the
   same with other iterations and pool (a candidate default) as well.
3. **suite** (unless --no-suite): `pytest suites/test_poisoning.py` with its default
   settings in a subprocess, twice on one fresh cache folder: cold and warm.

    python benchmarks/bench_hotflip.py [--pools 20,100] [--iterations 10] [--passages 10]
        [--seed 1999] [--no-budget] [--propose ITERATIONS:POOL] [--no-suite] [--out PATH]

Writes benchmarks/results/NNNN_hotflip.json (next free number) and prints a table. Other
processes' CPU use is recorded per measurement (as in bench_encode_cache.py): above ~0.2
cores the timings are contended.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing
sys.path.insert(0, str(REPO / "benchmarks"))

import numpy as np  # noqa: E402
from bench_encode_cache import busy_cpu_seconds, machine, other_cores, versions  # noqa: E402
from common import next_results_path  # noqa: E402

from robustest.attacks import CONTROL, HotFlipConfig, Poisoning, hotflip_passages, split_for_attack  # noqa: E402
from robustest.attacks.hotflip import WhiteBox, initial_ids, locate  # noqa: E402
from robustest.attacks.passages import AdversarialPassage  # noqa: E402
from robustest.cache import EmbeddingCache  # noqa: E402
from robustest.data import load_dataset  # noqa: E402
from robustest.families import FAMILIES  # noqa: E402
from robustest.files import write_json  # noqa: E402
from robustest.paths import cache_root  # noqa: E402
from robustest.retrieval import CorpusIndex  # noqa: E402
from robustest.retrievers.resolve import LoadOptions, resolve_retriever  # noqa: E402
from robustest.stats import compare_rates  # noqa: E402

SCHEMA = 2  # 2: reference vs lockstep side by side, the suite's HotFlip budget
NAME = "hotflip"


# -- the reference: robustest's per-passage HotFlip loop before lockstep, kept unchanged ------
# (WhiteBox.gradient, .differentiable_vector, .candidates and hotflip_one as they were; the
# text helpers it shares with the new code, decode/round_trips/allowed/objective, did not change.)


def reference_passages(retriever, queries, clusters, config: HotFlipConfig, seed: int) -> list[AdversarialPassage]:
    box = WhiteBox(retriever)
    box.allowed  # noqa: B018 - built before any passage's clock starts, as before
    return [reference_one(box, cluster, queries, config, seed) for cluster in clusters]


def reference_one(box: WhiteBox, cluster, queries, config: HotFlipConfig, seed: int) -> AdversarialPassage:
    started = time.perf_counter()
    rng = np.random.default_rng([int(seed) % (2**32), cluster.index])
    ids = initial_ids(box, cluster, queries, config)
    current = float(box.objective([box.decode(ids)], cluster)[0])
    trace, accepted = [current], []
    for iteration in range(1, config.iterations + 1):
        grad = reference_gradient(box, ids, cluster.target)
        position = int(rng.integers(len(ids)))
        swaps = reference_candidates(box, ids, position, grad[position], config.pool)
        if swaps:
            scores = box.objective([box.decode(s) for s in swaps], cluster)
            best = int(np.argmax(scores))
            if scores[best] > current:
                ids, current = swaps[best], float(scores[best])
                accepted.append(iteration)
        trace.append(current)
    return AdversarialPassage(
        text=box.decode(ids), method="hotflip", cluster=cluster.index, query_ids=cluster.query_ids, token_ids=tuple(ids),
        trace=tuple(trace), accepted=tuple(accepted), extra={"seconds": round(time.perf_counter() - started, 3)},
    )


def reference_gradient(box: WhiteBox, ids, target):
    import torch

    vector, inputs, start = reference_differentiable_vector(box, ids)
    score = (vector[0] * torch.as_tensor(target, device=vector.device)).sum()
    (grad,) = torch.autograd.grad(score, inputs)
    return grad[0, start : start + len(ids)].float()


def reference_differentiable_vector(box: WhiteBox, ids):
    import torch

    batch = box.tokenizer(box.prompt + box.decode(ids), truncation=True, max_length=box.config.max_length, return_tensors="pt")
    start = locate(batch["input_ids"][0].tolist(), list(ids))
    batch = batch.to(box.device)
    inputs = box.embedding(batch["input_ids"]).detach().requires_grad_(True)
    vector = box.retriever.embed(batch, box.prompt, inputs_embeds=inputs)
    if box.similarity == "cosine" and not box.config.normalize:
        vector = torch.nn.functional.normalize(vector, dim=-1)
    return vector, inputs, start


def reference_candidates(box: WhiteBox, ids, position, grad_row, pool):
    import torch

    with torch.no_grad():
        gain = box.embedding.weight.float() @ grad_row.to(box.embedding.weight.device)
        gain = gain.masked_fill(~box.allowed, float("-inf"))
        gain[ids[position]] = float("-inf")
        order = torch.argsort(gain, descending=True).tolist()
        usable = int(torch.isfinite(gain).sum())
    chosen = []
    start = 0
    while len(chosen) < pool and start < usable:
        chunk = order[start : min(usable, start + 2 * pool)]
        start += len(chunk)
        swaps = [ids[:position] + [t] + ids[position + 1 :] for t in chunk]
        chosen += [s for s, ok in zip(swaps, box.round_trips(swaps)) if ok]
    return chosen[:pool]


# -- measuring ------------------------------------------------------------------------------


class Clock:
    """Wall time of a block and the cores other processes kept busy meanwhile."""

    def __enter__(self):
        self.before, self.started = busy_cpu_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.started
        self.others = other_cores(self.before, busy_cpu_seconds(), self.wall)


def asr20(poisoning: Poisoning, passages) -> float:
    """Share of test queries with any of the passages in their top 20, as `Poisoning.run` counts it."""
    retriever = poisoning.retriever
    vectors = retriever.encode_documents([p.text for p in passages])
    hits, _ = poisoning.ranking.hits(vectors, retriever.similarity, (20,))
    return float(hits[20].mean())


def side_by_side(poisoning: Poisoning, pool: int, iterations: int, passages: int, seed: int) -> dict:
    retriever, queries = poisoning.retriever, poisoning.queries
    clusters = poisoning.clusters(seed, passages)
    ways = {
        "reference": lambda config: reference_passages(retriever, queries, clusters, config, seed),
        "lockstep": lambda config: hotflip_passages(retriever, queries, clusters, HotFlipConfig(**{**config.as_dict(), "screen": 0}), seed=seed, progress=False),
        "screened": lambda config: hotflip_passages(retriever, queries, clusters, config, seed=seed, progress=False),
    }
    config = HotFlipConfig(iterations=iterations, pool=pool)
    rows, made = {}, {}
    for way, run in ways.items():
        with Clock() as clock:
            made[way] = run(config)
        seconds = sum(p.extra["seconds"] for p in made[way])  # the vocabulary filter left out
        done = iterations * len(made[way])
        rows[way] = {
            "seconds": seconds,
            "wall_s": clock.wall,
            "other_processes_cores": clock.others,
            "iterations": done,
            "iterations_per_s": done / seconds if seconds else None,
            "accepted_share": sum(len(p.accepted) for p in made[way]) / done if done else 0.0,
            "objective_gain": float(np.mean([p.trace[-1] - p.trace[0] for p in made[way]])),
            "asr20": asr20(poisoning, made[way]),
            "screened_with": made[way][0].extra.get("screened_with") if made[way] else None,
        }
    same = [a.token_ids == b.token_ids and a.trace == b.trace for a, b in zip(made["reference"], made["lockstep"])]
    rows["lockstep"]["same_as_reference"] = all(same)
    base = rows["reference"]["iterations_per_s"]
    for way in ("lockstep", "screened"):
        rows[way]["speedup"] = rows[way]["iterations_per_s"] / base if base else None
    return {"pool": pool, "tokens": config.tokens, "screen": config.screen, "passages": len(clusters), "iterations_each": iterations, "seed": seed, "ways": rows}


def suite_budget(index: CorpusIndex, queries, iterations: int | None = None, pool: int | None = None) -> dict:
    """The suite's HotFlip settings through `Poisoning`, as the plugin builds it (no cache);
    `iterations`/`pool` replace the defaults' (a proposed default)."""
    family = FAMILIES["poisoning"]
    own, seeds = family.own_defaults, tuple(family.config_defaults["seeds"])
    n = own["passages"][0]
    config = HotFlipConfig(tokens=own["tokens"], iterations=iterations or own["iterations"], pool=pool or own["pool"])
    poisoning = Poisoning(index, queries, hotflip=config, seeds=seeds, progress=False)
    poisoning.ranking  # noqa: B018 - the clean ranking and the clusters are not HotFlip's time
    for seed in seeds:
        poisoning.clusters(seed, n)
    with Clock() as clock:
        hotflip = poisoning.run("hotflip", n)
    control = poisoning.run(CONTROL, n)
    d = compare_rates(hotflip.hits[20], control.hits[20])
    return {
        "settings": {**config.as_dict(), "passages": n, "seeds": list(seeds)},
        "hotflip_seconds": hotflip.seconds,  # passage generation, all seeds, as the suite reports it
        "wall_s": clock.wall,
        "other_processes_cores": clock.others,
        "hotflip_asr20": hotflip.summary(20)[0],
        "hotflip_asr20_by_seed": [float(x) for x in hotflip.asr(20)],
        f"{CONTROL}_asr20": control.summary(20)[0],
        "minus_control_asr20": {"estimate": d.estimate, "ci": list(d.ci), "significant": d.significant},
    }


def bench_suite(cache: Path) -> dict:
    import resource

    command = [sys.executable, "-m", "pytest", str(REPO / "suites" / "test_poisoning.py"), "-p", "no:cacheprovider", f"--robustest-cache-dir={cache}"]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_before = busy_cpu_seconds()
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    busy_after = busy_cpu_seconds()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    suite_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    others = None
    if busy_before and busy_after:  # cores busy with anything but the suite (and this process)
        others = max(0.0, ((busy_after[0] - busy_before[0]) - (busy_after[1] - busy_before[1]) - suite_cpu) / wall)
    tail = done.stdout.splitlines()[-1] if done.stdout else ""
    generated = re.search(r"passages generated in ([\d.]+) s", done.stdout)
    asr = re.search(r"^poisoning hotflip ASR@20 N=\d+ +([-\d.]+) ± ([\d.]+) .*?(pass|fail|inconclusive)$", done.stdout, re.M)
    return {
        "command": " ".join(command[1:]),
        "exit_status": done.returncode,
        "wall_s": wall,
        "other_processes_cores": others,
        "passages_generated_s": float(generated.group(1)) if generated else None,
        "hotflip_asr20_percent": None if asr is None else {"mean": float(asr.group(1)), "std": float(asr.group(2)), "verdict": asr.group(3)},
        "pytest_last_line": tail,
        "summary": [line for line in done.stdout.splitlines() if "poisoning" in line or "ASR" in line or line.startswith("  ")][-12:],
    }


def print_tables(report: dict) -> None:
    m = report["machine"]
    print(f"all-MiniLM-L6-v2 on {report['retriever']['device']}, {m['cpu']}, {m['cpu_count']} CPUs, torch threads {m['torch_threads']}")
    print(f"{'pool':>5} {'way':<10} {'passages x it':>13} {'seconds':>8} {'it/s':>6} {'x ref':>6} {'accepted':>8} {'gain':>7} {'ASR@20':>7} {'others':>6}")
    for r in report["hotflip"]:
        for way, w in r["ways"].items():
            speedup = f"{w['speedup']:.2f}" if "speedup" in w else "1.00"
            note = " (= reference)" if w.get("same_as_reference") else ""
            print(
                f"{r['pool']:>5} {way:<10} {str(r['passages']) + ' x ' + str(r['iterations_each']):>13} {w['seconds']:>8.1f} {w['iterations_per_s']:>6.2f} "
                f"{speedup:>6} {w['accepted_share']:>8.0%} {w['objective_gain']:>7.4f} {w['asr20']:>7.3f} {w['other_processes_cores'] or 0:>6.2f}{note}"
            )
    for name in ("suite_budget", "proposed_budget"):
        b = report.get(name)
        if not b:
            continue
        s, d = b["settings"], b["minus_control_asr20"]
        print(
            f"{name.replace('_', ' ')} ({s['passages']} passages x {s['iterations']} iterations x {s['pool']} candidates, seeds {s['seeds']}, screen {s['screen']}): "
            f"HotFlip {b['hotflip_seconds']:.1f} s, ASR@20 {b['hotflip_asr20']:.3f} vs {CONTROL} {b[CONTROL + '_asr20']:.3f} "
            f"({d['estimate']:+.3f}, 95% CI [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}]), other processes {b['other_processes_cores'] or 0:.2f} cores"
        )
    for name, run in report["suite"].items():
        print(f"suite {name}: {run['wall_s']:.1f} s (exit {run['exit_status']}, passages generated in {run['passages_generated_s']} s, other processes {run['other_processes_cores'] or 0:.2f} cores): {run['pytest_last_line']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pools", default="20,100", help="candidate pool sizes, comma-separated")
    parser.add_argument("--iterations", type=int, default=10, help="HotFlip iterations per passage")
    parser.add_argument("--passages", type=int, default=10, help="passages (clusters) per pool size")
    parser.add_argument("--seed", type=int, default=1999, help="k-means and HotFlip seed of the side-by-side runs")
    parser.add_argument("--no-budget", action="store_true", help="skip the suite-budget measurement")
    parser.add_argument("--propose", metavar="ITERATIONS:POOL", help="also measure the suite's budget with these HotFlip iterations and pool")
    parser.add_argument("--no-suite", action="store_true", help="skip the timed suite runs")
    parser.add_argument("--out", type=Path, help="results file (default: benchmarks/results/NNNN_hotflip.json)")
    args = parser.parse_args(argv)
    pools = [int(p) for p in args.pools.split(",") if p.strip()]

    load_before = os.getloadavg()
    cpu_before, wall_before = busy_cpu_seconds(), time.perf_counter()
    opts = LoadOptions(progress=False)
    retriever = resolve_retriever("default", opts).load(opts)
    dataset = load_dataset("default", cache_dir=cache_root())
    index = CorpusIndex(retriever, dataset, cache=EmbeddingCache(cache_root()))
    queries = split_for_attack(dataset)
    poisoning = Poisoning(index, queries, seeds=(args.seed,), progress=False)
    poisoning.ranking  # noqa: B018 - the clean ranking (corpus encoded or read from the cache), before timing
    started = time.perf_counter()
    WhiteBox(retriever).allowed  # noqa: B018
    vocabulary_s = time.perf_counter() - started
    side = [side_by_side(poisoning, pool, args.iterations, args.passages, args.seed) for pool in pools]
    budget = None if args.no_budget else suite_budget(index, queries)
    proposed = suite_budget(index, queries, *map(int, args.propose.split(":"))) if args.propose else None
    contention = other_cores(cpu_before, busy_cpu_seconds(), time.perf_counter() - wall_before)
    suite = {}
    if not args.no_suite:
        with tempfile.TemporaryDirectory(prefix="robustest-bench-") as tmp:
            suite = {"cold": bench_suite(Path(tmp)), "warm": bench_suite(Path(tmp))}
    report = {
        "schema": SCHEMA,
        "benchmark": NAME,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        # other processes' cores during the in-process measurements (each also records its own)
        "machine": {**machine(), "load_avg_before": load_before, "other_processes_cores": contention},
        "versions": versions(),
        "retriever": retriever.describe(),
        "dataset": dataset.describe(),
        "vocabulary_filter_s": vocabulary_s,
        "hotflip": side,
        "suite_budget": budget,
        "proposed_budget": proposed,
        "suite": suite,
    }
    out = args.out or next_results_path(NAME)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, report)
    print_tables(report)
    if contention is not None and contention > 0.2:
        print(f"warning: other processes kept {contention:.1f} cores busy during the run; the timings are contended")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
