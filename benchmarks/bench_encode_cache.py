"""Cold vs warm corpus-embedding cache: what the first run on a collection costs, and what
every later run costs.

For the default retriever (all-MiniLM-L6-v2) and each dataset:

  cold  a fresh, empty embedding cache: encode the corpus, store it, build the FAISS index,
        then evaluate every query of the dataset (the clean evaluation of a pytest run)
  warm  a new CorpusIndex on the same cache folder: load the stored vectors (a cache hit),
        build the index, evaluate every query again

Loading the model and the dataset happens once, before both, and is reported on its own.
Throughput: passages/s of the cold corpus encode, queries/s of query encode + search
(`CorpusIndex.retrieve` at the depth `evaluate` asks for, building the runs included;
scoring excluded). Load averages count this process too, so the results also say how many
cores other processes kept busy meanwhile (from /proc/stat): above ~0.2, re-run.

    python benchmarks/bench_encode_cache.py [--datasets cranfield,default] [--batch-size 32] [--out PATH]

Writes benchmarks/results/NNNN_encode_cache.json (next free number) and prints a table.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from common import cranfield_path, machine_info, next_results_path  # noqa: E402

from robustest import __version__  # noqa: E402
from robustest.cache import EmbeddingCache  # noqa: E402
from robustest.data import load_dataset  # noqa: E402
from robustest.files import write_json  # noqa: E402  (temp file + os.replace)
from robustest.paths import cache_root  # noqa: E402
from robustest.retrieval import CorpusIndex  # noqa: E402
from robustest.retrievers.resolve import LoadOptions, resolve_retriever  # noqa: E402

SCHEMA = 1
NAME = "encode_cache"
MEASURE = "nDCG@10"


class TimedIndex(CorpusIndex):
    """A CorpusIndex that records how long the corpus encode and each retrieve take."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timings: dict[str, float] = {}

    def _encode_corpus(self, *args, **kwargs):
        start = time.perf_counter()
        vectors = super()._encode_corpus(*args, **kwargs)
        self.timings["corpus_encode_s"] = time.perf_counter() - start
        return vectors

    def retrieve(self, *args, **kwargs):
        start = time.perf_counter()
        runs = super().retrieve(*args, **kwargs)
        self.timings["retrieve_s"] = time.perf_counter() - start
        return runs



def load(name: str):
    """The dataset, or None when cranfield is not on this machine."""
    if name == "default":
        return load_dataset("default", cache_dir=cache_root())
    if name == "cranfield":
        path = cranfield_path()
        return load_dataset(str(path)) if path.is_dir() else None
    raise ValueError(name)


def run_once(retriever, dataset, cache_dir: Path) -> dict:
    """Build the index (encode or cache load) and evaluate all queries; wall time of both."""
    gc.collect()
    index = TimedIndex(retriever, dataset, cache=EmbeddingCache(cache_dir))
    start = time.perf_counter()
    index.searcher  # encode + store, or load: then the FAISS index
    built = time.perf_counter()
    evaluation = index.evaluate(measures=[MEASURE])
    end = time.perf_counter()
    queries = len(dataset.queries)
    return {
        "cache_hit": index.cache_hit,
        "wall_s": end - start,
        "index_s": built - start,
        "evaluate_s": end - built,
        "corpus_encode_s": index.timings.get("corpus_encode_s"),
        "retrieve_s": index.timings["retrieve_s"],
        "queries_per_s": queries / index.timings["retrieve_s"],
        MEASURE: evaluation.mean(MEASURE),
    }


def bench_dataset(retriever, name: str) -> dict:
    start = time.perf_counter()
    dataset = load(name)
    load_s = time.perf_counter() - start
    if dataset is None:
        print(f"skipping {name}: no folder at {cranfield_path()} (set ROBUSTEST_DATA_DIR)", file=sys.stderr)
        return {"dataset": name, "skipped": f"no folder at {cranfield_path()}"}
    with tempfile.TemporaryDirectory(prefix="robustest-bench-") as tmp:
        cold = run_once(retriever, dataset, Path(tmp))
        warm = run_once(retriever, dataset, Path(tmp))
    assert cold["cache_hit"] is False, f"{name}: the cold run should miss the empty cache"
    assert warm["cache_hit"] is True, f"{name}: the warm run should hit the cache the cold run filled"
    assert abs(cold[MEASURE] - warm[MEASURE]) < 1e-9, f"{name}: cached vectors changed {MEASURE}"
    documents = len(dataset.doc_ids)
    return {
        "dataset": name,
        "source": dataset.source,
        "documents": documents,
        "queries": len(dataset.queries),
        "dataset_load_s": load_s,
        "passages_per_s": documents / cold["corpus_encode_s"],
        "cold": cold,
        "warm": warm,
        "speedup": cold["wall_s"] / warm["wall_s"],
    }


def busy_cpu_seconds() -> tuple[float, float] | None:
    """(CPU seconds all processes have used, CPU seconds this one has), from /proc/stat."""
    import resource

    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    busy = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    own = resource.getrusage(resource.RUSAGE_SELF)
    return busy, own.ru_utime + own.ru_stime


def other_cores(before, after, wall_s: float) -> float | None:
    """Cores other processes kept busy on average: above ~0.2 the timings are contended."""
    if before is None or after is None:
        return None
    return max(0.0, ((after[0] - before[0]) - (after[1] - before[1])) / wall_s)



def machine() -> dict:
    import torch

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return machine_info(cpus_usable=usable, torch_threads=torch.get_num_threads())


def versions() -> dict:
    import faiss
    import numpy
    import torch
    import transformers

    return {
        "robustest": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "faiss": faiss.__version__,
        "numpy": numpy.__version__,
    }



def table(results: list[dict]) -> str:
    head = f"{'dataset':<10} {'docs':>6} {'queries':>7} {'cold s':>8} {'warm s':>8} {'speedup':>7} {'passages/s':>10} {'queries/s':>9} {MEASURE:>8}"
    lines = [head, "-" * len(head)]
    for r in results:
        if "skipped" in r:
            lines.append(f"{r['dataset']:<10} skipped: {r['skipped']}")
            continue
        c, w = r["cold"], r["warm"]
        lines.append(
            f"{r['dataset']:<10} {r['documents']:>6} {r['queries']:>7} {c['wall_s']:>8.2f} {w['wall_s']:>8.2f} "
            f"{r['speedup']:>6.1f}x {r['passages_per_s']:>10.1f} {w['queries_per_s']:>9.1f} {w[MEASURE]:>8.4f}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="cranfield,default", help="comma-separated: cranfield, default")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, help="results file (default: benchmarks/results/NNNN_encode_cache.json)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = sorted(set(names) - {"cranfield", "default"})
    if unknown or not names:
        parser.error(f"--datasets: unknown {', '.join(unknown) or '(none given)'}; use cranfield and/or default")

    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    cpu_before, wall_before = busy_cpu_seconds(), time.perf_counter()
    opts = LoadOptions(batch_size=args.batch_size, progress=False)
    start = time.perf_counter()
    resolution = resolve_retriever("default", opts)
    retriever = resolution.load(opts)
    model_load_s = time.perf_counter() - start

    results = [bench_dataset(retriever, name) for name in names]
    contention = other_cores(cpu_before, busy_cpu_seconds(), time.perf_counter() - wall_before)
    report = {
        "schema": SCHEMA,
        "benchmark": NAME,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {**machine(), "load_avg_before": load_before, "other_processes_cores": contention},
        "versions": versions(),
        "retriever": {"spec": "default", "resolved": resolution.label, **retriever.describe()},
        "batch_size": args.batch_size,
        "model_load_s": model_load_s,
        "results": results,
    }
    out = args.out or next_results_path(NAME)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, report)

    m = report["machine"]
    print(f"{resolution.label} on {retriever.device}, batch {args.batch_size}, {m['cpu']}, "
          f"{m['cpu_count']} CPUs, torch threads {m['torch_threads']}; model load {model_load_s:.2f} s")
    print(table(results))
    if contention is not None and contention > 0.2:
        print(f"warning: other processes kept {contention:.1f} cores busy during the run; the timings are contended")
    print(f"wrote {out}")
    return 0 if any("skipped" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
