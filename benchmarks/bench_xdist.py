"""The suites in one process against pytest-xdist workers, side by side on one warm cache.

Runs `pytest <repo>/suites -m "not poisoning"` on a collection (default: cranfield's first 30
queries) in one process, with `-n N` (xdist's load scheduling) and with `-n N --dist loadgroup`
(a family's tests on one worker), interleaved over --repeat rounds so a busy moment of the
machine hits every mode alike. Records each run's wall time and whether its run file equals
the one-process run file (environment and time stamps aside).

    python benchmarks/bench_xdist.py [--dataset PATH] [--max-queries 30] [--workers 2] [--repeat 2] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, cranfield_path, machine_info, next_results_path

MODES = {"one process": [], "-n N": ["-n", "{workers}"], "-n N --dist loadgroup": ["-n", "{workers}", "--dist", "loadgroup"]}


def run_suites(dataset: str, max_queries: int, cache: Path, out: Path, extra: list[str]) -> float:
    command = [
        sys.executable, "-m", "pytest", str(REPO / "suites"), "-q", "-p", "no:cacheprovider", "-m", "not poisoning",
        f"--robustest-dataset={dataset}", f"--robustest-max-queries={max_queries}", f"--robustest-cache-dir={cache}",
        f"--robustest-save={out}", *extra,
    ]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"suite run failed ({' '.join(extra) or 'one process'}):\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return seconds


def comparable(path: Path) -> dict:
    return {k: v for k, v in json.loads(path.read_text()).items() if k != "environment"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(cranfield_path()))
    parser.add_argument("--max-queries", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = tmp / "cache"
        reference = tmp / "prime.json"
        prime = run_suites(args.dataset, args.max_queries, cache, reference, [])  # warms the corpus, paraphrase and model caches
        print(f"primed the cache in {prime:.1f} s", flush=True)
        walls: dict[str, list[float]] = {mode: [] for mode in MODES}
        equal: dict[str, bool] = {}
        for round_ in range(args.repeat):
            for mode, extra in MODES.items():
                out = tmp / f"{round_}-{len(walls[mode])}-{mode.replace(' ', '_')}.json"
                seconds = run_suites(args.dataset, args.max_queries, cache, out, [e.format(workers=args.workers) for e in extra])
                walls[mode].append(seconds)
                equal[mode] = equal.get(mode, True) and comparable(out) == comparable(reference)
                print(f"round {round_ + 1}: {mode:24} {seconds:6.1f} s, run file equal to one process: {equal[mode]}", flush=True)
    best = {mode: min(w) for mode, w in walls.items()}
    result = {
        "benchmark": "bench_xdist",
        "machine": machine_info(workers=args.workers),
        "dataset": args.dataset,
        "max_queries": args.max_queries,
        "walls_s": walls,
        "best_s": best,
        "ratio_to_one_process": {mode: best[mode] / best["one process"] for mode in MODES},
        "run_file_equal_to_one_process": equal,
    }
    path = Path(args.out) if args.out else next_results_path("xdist")
    path.write_text(json.dumps(result, indent=2) + "\n")
    for mode in MODES:
        print(f"{mode:24} best {best[mode]:6.1f} s  ({result['ratio_to_one_process'][mode]:.2f}x one process)")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
