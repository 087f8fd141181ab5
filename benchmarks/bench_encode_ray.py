"""`robustest encode` on Ray against the one-process encode, side by side in one run.

On cranfield (1,400 passages) with the default retriever (all-MiniLM-L6-v2), each from an
empty cache:

  one-process  `encode_corpus(workers=1)`: the encode a suite run does on a cache miss
  ray-1        the Ray path with 1 actor (local Ray started for the call)
  ray-2        the Ray path with 2 actors (`robustest encode --workers 2`)

Each reports wall time (the whole call: Ray start, actor start and model load, encoding, shard
writes, assembly, the cache entry), Ray start-up, and passages/s. The Ray entries are checked
equal to the one-process entry to 1e-5.

Two measurements apart from the model, as inputs of the scale estimate (docs/how-to/scale-out.md):

  per-shard  the Ray path with 1 actor and a retriever that costs nothing (zero vectors of
             dimension 384), over 1 to 140 shards: a line through wall time against shards
             gives the overhead per shard (its slope) and per call (its intercept)
  assembly   what this process does with the vectors: writing shards of 10,000 x 1,024 float32
             (temporary file, fsync, rename, checksum) and assembling them into the cache entry
             (copy, checksum, manifest), in GB/s, on 1 GiB of random vectors

Contention: this is a 2-core machine others may share. A thread samples the CPU time of this
process and all its descendants (the Ray processes); `other_cores` is the cores everything
else kept busy meanwhile, from /proc/stat. Above ~0.2 the timings are contended.

    python benchmarks/bench_encode_ray.py [--repeat 1] [--skip-per-shard] [--skip-assembly] [--out PATH]

Writes benchmarks/results/NNNN_encode_ray.json (next free number) and prints a table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing
# The Ray actors import the zero-cost retriever below from this folder (module:factory).
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)

from common import cranfield_path, machine_info, next_results_path  # noqa: E402

from robustest import __version__  # noqa: E402
from robustest.cache import EmbeddingCache  # noqa: E402
from robustest.data import load_dataset  # noqa: E402
from robustest.encode import ShardFolder, encode_corpus, plan_shards  # noqa: E402
from robustest.files import write_json  # noqa: E402
from robustest.retrievers.resolve import LoadOptions, resolve_retriever  # noqa: E402

SCHEMA = 1
NAME = "encode_ray"
PER_SHARD_DOCS = (1400, 350, 50, 10)  # 1, 4, 28 and 140 shards of cranfield
ASSEMBLY_SHAPE = (262_144, 1024)  # 1 GiB of float32
ASSEMBLY_SHARD = 10_000  # robustest's largest shard (encode_shards.SHARD_DOCS)


class ZeroCost:
    """A retriever whose encode costs nothing: what is left of a Ray encode is its overhead."""

    name = "zero-cost"
    similarity = "dot"
    fingerprint = "zero-cost-384"
    dimension = 384

    def encode_documents(self, texts):
        return np.zeros((len(texts), self.dimension), dtype=np.float32)

    encode_queries = encode_documents


def zero_cost():
    return ZeroCost()


class CpuAccount:
    """CPU seconds used by this process tree (sampled: Ray's processes exit with the call)
    and by the whole machine, to tell what else ran meanwhile."""

    def __init__(self, every: float = 0.25):
        import psutil

        self.psutil = psutil
        self.every = every
        self.root = psutil.Process()
        self.seen: dict[int, float] = {}
        self.start_tree = self._tree_now()
        self.start_busy = busy_seconds()
        self.started = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _tree_now(self) -> dict[int, float]:
        found = {}
        for proc in [self.root, *self.root.children(recursive=True)]:
            try:
                t = proc.cpu_times()
                found[proc.pid] = t.user + t.system
            except self.psutil.Error:
                pass
        return found

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            self.seen.update(self._tree_now())

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        self.seen.update(self._tree_now())
        wall = time.perf_counter() - self.started
        tree = sum(self.seen.values()) - sum(self.start_tree.get(pid, 0.0) for pid in self.seen)
        busy = busy_seconds() - self.start_busy
        return {"own_cores": tree / wall, "other_cores": max(0.0, (busy - tree) / wall)}


def busy_seconds() -> float:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def timed_encode(dataset, resolution, options, *, workers: int, ray: bool, shard_docs: int | None = None, load=None) -> tuple[dict, np.ndarray]:
    """One encode from an empty cache: its numbers and the stored vectors."""
    with tempfile.TemporaryDirectory(prefix="robustest-bench-ray-") as tmp:
        cache = EmbeddingCache(Path(tmp))
        account = CpuAccount()
        if ray and workers == 1:  # `robustest encode` runs 1 worker in-process; measure Ray's own overhead
            from robustest.encode_ray import encode_on_ray

            result = encode_on_ray(dataset, resolution, options, cache, workers=1, address=None, shard_docs=shard_docs,
                                   load=load or (lambda: resolution.load(options)), started=time.perf_counter())
        else:
            result = encode_corpus(dataset, resolution, options, cache, workers=workers, shard_docs=shard_docs, load=load)
        cpu = account.stop()
        vectors = np.array(np.load(result.path, allow_pickle=False))
    docs = result.rows
    row = {
        "workers": workers,
        "ray": ray,
        "shards": result.shards,
        "wall_s": result.seconds,
        "ray_start_s": result.ray_start_s,
        "passages_per_s": docs / result.seconds,
        "passages_per_s_after_ray_start": docs / (result.seconds - (result.ray_start_s or 0.0)),
        **cpu,
    }
    return row, vectors


def compare_modes(dataset, repeat: int) -> dict:
    options = LoadOptions(progress=False)
    resolution = resolve_retriever("default", options)
    started = time.perf_counter()
    retriever = resolution.load(options)
    model_load_s = time.perf_counter() - started
    runs = {"one-process": [], "ray-1": [], "ray-2": []}
    reference = None
    for _ in range(repeat):
        row, reference = timed_encode(dataset, resolution, options, workers=1, ray=False, load=lambda: retriever)
        runs["one-process"].append(row)
        for workers in (1, 2):
            row, vectors = timed_encode(dataset, resolution, options, workers=workers, ray=True)
            row["max_abs_difference"] = float(np.abs(vectors - reference).max())
            assert row["max_abs_difference"] <= 1e-5, f"ray-{workers} differs from the one-process encode by {row['max_abs_difference']}"
            runs[f"ray-{workers}"].append(row)
    return {"model_load_s": model_load_s, "runs": runs, "retriever": {"spec": "default", "resolved": resolution.label, **retriever.describe()}}


def per_shard(dataset) -> dict:
    options = LoadOptions(progress=False)
    resolution = resolve_retriever("bench_encode_ray:zero_cost", options)
    rows = []
    for shard_docs in PER_SHARD_DOCS:
        row, _ = timed_encode(dataset, resolution, options, workers=1, ray=True, shard_docs=shard_docs)
        rows.append(row)
    shards = np.array([r["shards"] for r in rows], dtype=float)
    walls = np.array([r["wall_s"] - r["ray_start_s"] for r in rows])
    slope, intercept = np.polyfit(shards, walls, 1)
    return {
        "runs": rows,
        "per_shard_s": float(slope),
        "per_call_s_besides_ray_start": float(intercept),
        "ray_start_s_mean": float(np.mean([r["ray_start_s"] for r in rows])),
    }


def assembly() -> dict:
    """Shard writes and assembly of 1 GiB, as this process does them after the actors."""
    vectors = np.random.default_rng(0).standard_normal(ASSEMBLY_SHAPE, dtype=np.float32)
    gb = vectors.nbytes / 1e9
    shards = plan_shards(len(vectors), workers=1, shard_docs=ASSEMBLY_SHARD)
    with tempfile.TemporaryDirectory(prefix="robustest-bench-assembly-") as tmp:
        cache = EmbeddingCache(Path(tmp))
        folder = ShardFolder(cache.root / "k.shards", "k")
        started = time.perf_counter()
        for shard in shards:
            folder.write(shard, vectors[shard.start : shard.stop])
        written = time.perf_counter()
        result = cache.load_or_compute({"bench": "assembly"}, lambda: folder.assemble(shards))
        folder.remove()
        assembled = time.perf_counter()
        assert np.array_equal(result.array, vectors)
    write_s, assemble_s = written - started, assembled - written
    return {
        "gigabytes": gb,
        "shards": len(shards),
        "shard_writes_s": write_s,
        "shard_writes_gb_per_s": gb / write_s,
        "assemble_and_store_s": assemble_s,
        "assemble_and_store_gb_per_s": gb / assemble_s,
    }


def best(rows: list[dict]) -> dict:
    return min(rows, key=lambda r: r["wall_s"])


def table(report: dict) -> str:
    head = f"{'mode':<12} {'wall s':>8} {'Ray start s':>11} {'shards':>6} {'passages/s':>10} {'other cores':>11}"
    lines = [head, "-" * len(head)]
    for mode, rows in report["compare"]["runs"].items():
        for r in rows:
            start = f"{r['ray_start_s']:.1f}" if r["ray_start_s"] is not None else "-"
            lines.append(f"{mode:<12} {r['wall_s']:>8.1f} {start:>11} {r['shards']:>6} {r['passages_per_s']:>10.1f} {r['other_cores']:>11.2f}")
    if "per_shard" in report:
        p = report["per_shard"]
        lines.append(f"per shard {p['per_shard_s'] * 1000:.1f} ms; per call {p['per_call_s_besides_ray_start']:.1f} s besides a {p['ray_start_s_mean']:.1f} s Ray start (zero-cost retriever)")
    if "assembly" in report:
        a = report["assembly"]
        lines.append(f"assembly of {a['gigabytes']:.2f} GB: shard writes {a['shard_writes_gb_per_s']:.2f} GB/s, assemble + store {a['assemble_and_store_gb_per_s']:.2f} GB/s")
    return "\n".join(lines)


def versions() -> dict:
    import ray
    import torch
    import transformers

    return {"robustest": __version__, "ray": ray.__version__, "torch": torch.__version__, "transformers": transformers.__version__, "numpy": np.__version__}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="passes of the three modes, interleaved (default 1)")
    parser.add_argument("--skip-per-shard", action="store_true")
    parser.add_argument("--skip-assembly", action="store_true")
    parser.add_argument("--out", type=Path, help="results file (default: benchmarks/results/NNNN_encode_ray.json)")
    args = parser.parse_args(argv)
    if not cranfield_path().is_dir():
        print(f"no cranfield at {cranfield_path()} (set ROBUSTEST_DATA_DIR)", file=sys.stderr)
        return 1
    os.environ.setdefault("TQDM_DISABLE", "1")
    dataset = load_dataset(str(cranfield_path()))
    account = CpuAccount()
    report = {
        "schema": SCHEMA,
        "benchmark": NAME,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "dataset": {"name": "cranfield", "documents": len(dataset.doc_ids)},
        "versions": versions(),
    }
    report["compare"] = compare_modes(dataset, args.repeat)
    if not args.skip_per_shard:
        report["per_shard"] = per_shard(dataset)
    if not args.skip_assembly:
        report["assembly"] = assembly()
    import torch

    report["machine"] = machine_info(torch_threads=torch.get_num_threads(), **account.stop())
    out = args.out or next_results_path(NAME)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, report)
    print(table(report))
    if report["machine"]["other_cores"] > 0.2:
        print(f"warning: other processes kept {report['machine']['other_cores']:.1f} cores busy on average; the timings are contended")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
