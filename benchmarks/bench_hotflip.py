"""HotFlip on a CPU: iterations per second for all-MiniLM-L6-v2, and one poisoning suite run.

1. **iterations/s**: `hotflip_passages` on the default collection's training queries (k-means
   seed 1999), for each candidate pool size: one iteration = one gradient through the model
   (batch 1) + ranking the vocabulary + `pool` candidates encoded by the retriever (in its
   batches of 32). The vocabulary filter (built once per retriever, ~1-2 s) is built before
   timing. iterations/s = iterations / the passages' own wall time.
2. **suite**: `pytest suites/test_poisoning.py` with its default settings on the default
   collection, in a subprocess, twice on one fresh cache folder: cold (the collection is built,
   the corpus encoded, every passage generated) and warm (everything read from the cache).

    python benchmarks/bench_hotflip.py [--pools 20,100] [--iterations 10] [--passages 2] [--no-suite] [--out PATH]

Writes benchmarks/results/NNNN_hotflip.json (next free number) and prints a table. Other
processes' CPU use during the run is recorded (as in bench_encode_cache.py): above ~0.2 cores
the timings are contended.
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

from bench_encode_cache import busy_cpu_seconds, machine, other_cores, versions  # noqa: E402
from common import next_results_path  # noqa: E402

from robustest.attacks import HotFlipConfig, cluster_queries, hotflip_passages, split_for_attack  # noqa: E402
from robustest.attacks.hotflip import WhiteBox  # noqa: E402
from robustest.data import load_dataset  # noqa: E402
from robustest.files import write_json  # noqa: E402
from robustest.paths import cache_root  # noqa: E402
from robustest.retrievers.resolve import LoadOptions, resolve_retriever  # noqa: E402

SCHEMA = 1
NAME = "hotflip"


def bench_iterations(retriever, queries, pool: int, iterations: int, passages: int) -> dict:
    qids = list(queries.train)
    vectors = retriever.encode_queries([queries.train[q] for q in qids])
    clusters = cluster_queries(qids, vectors, passages, seed=1999, similarity=retriever.similarity)
    config = HotFlipConfig(iterations=iterations, pool=pool)
    start = time.perf_counter()
    made = hotflip_passages(retriever, queries, clusters, config, seed=1999, progress=False)
    wall = time.perf_counter() - start
    seconds = sum(p.extra["seconds"] for p in made)
    done = iterations * len(made)
    return {
        "pool": pool,
        "tokens": config.tokens,
        "passages": len(made),
        "iterations": done,
        "seconds": seconds,
        "wall_s": wall,
        "iterations_per_s": done / seconds,
        "candidates_per_s": done * pool / seconds,
        "accepted_share": sum(len(p.accepted) for p in made) / done if done else 0.0,
        "objective_gain": sum(p.trace[-1] - p.trace[0] for p in made) / len(made),
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pools", default="20,100", help="candidate pool sizes, comma-separated")
    parser.add_argument("--iterations", type=int, default=10, help="HotFlip iterations per passage")
    parser.add_argument("--passages", type=int, default=2, help="passages (clusters) per pool size")
    parser.add_argument("--no-suite", action="store_true", help="skip the timed suite runs")
    parser.add_argument("--out", type=Path, help="results file (default: benchmarks/results/NNNN_hotflip.json)")
    args = parser.parse_args(argv)
    pools = [int(p) for p in args.pools.split(",") if p.strip()]

    load_before = os.getloadavg()
    cpu_before, wall_before = busy_cpu_seconds(), time.perf_counter()
    opts = LoadOptions(progress=False)
    retriever = resolve_retriever("default", opts).load(opts)
    dataset = load_dataset("default", cache_dir=cache_root())
    queries = split_for_attack(dataset)
    started = time.perf_counter()
    WhiteBox(retriever).allowed  # noqa: B018 - built once per retriever; not part of an iteration
    vocabulary_s = time.perf_counter() - started
    iterations = [bench_iterations(retriever, queries, pool, args.iterations, args.passages) for pool in pools]
    contention = other_cores(cpu_before, busy_cpu_seconds(), time.perf_counter() - wall_before)
    suite = {}
    if not args.no_suite:
        with tempfile.TemporaryDirectory(prefix="robustest-bench-") as tmp:
            suite = {"cold": bench_suite(Path(tmp)), "warm": bench_suite(Path(tmp))}
    report = {
        "schema": SCHEMA,
        "benchmark": NAME,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        # other processes' cores during the in-process iteration timings (the suite runs record their own)
        "machine": {**machine(), "load_avg_before": load_before, "other_processes_cores": contention},
        "versions": versions(),
        "retriever": retriever.describe(),
        "dataset": dataset.describe(),
        "vocabulary_filter_s": vocabulary_s,
        "hotflip": iterations,
        "suite": suite,
    }
    out = args.out or next_results_path(NAME)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, report)

    m = report["machine"]
    print(f"all-MiniLM-L6-v2 on {retriever.device}, {m['cpu']}, {m['cpu_count']} CPUs, torch threads {m['torch_threads']}")
    print(f"{'pool':>5} {'iterations':>10} {'seconds':>8} {'it/s':>6} {'candidates/s':>12} {'accepted':>8}")
    for r in iterations:
        print(f"{r['pool']:>5} {r['iterations']:>10} {r['seconds']:>8.1f} {r['iterations_per_s']:>6.2f} {r['candidates_per_s']:>12.1f} {r['accepted_share']:>8.0%}")
    for name, run in suite.items():
        print(f"suite {name}: {run['wall_s']:.1f} s (exit {run['exit_status']}, passages generated in {run['passages_generated_s']} s, other processes {run['other_processes_cores'] or 0:.2f} cores): {run['pytest_last_line']}")
    if contention is not None and contention > 0.2:
        print(f"warning: other processes kept {contention:.1f} cores busy during the run; the timings are contended")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
