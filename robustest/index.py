"""Nearest-neighbour search over corpus embeddings with FAISS.

Flat inner product is the default: exact, so a measured robustness drop is the model's, not
the index's (the paper's numbers are exact). Cosine retrievers are L2-normalised first.

- Shards: a flat index split into N parts (FAISS IndexShards, searched in parallel); the
  merged results are the single index's.
- Approximate, opt-in: `ivf` (IndexIVFFlat) or `hnsw` (IndexHNSWFlat), with parameters
  chosen from the corpus size unless given (`ivf:nlist=256,nprobe=32`). Built deterministically:
  IVF's k-means is seeded, HNSW is built on one thread (parallel insertion order varies).
  The caller measures their recall against exact search (CorpusIndex.recall_against_exact).
- GPU: when the installed FAISS is a GPU build that sees a GPU (or when asked for, an error
  without one), the index built on the CPU is cloned onto every visible GPU, sharded across
  them. HNSW has no FAISS GPU version and stays on the CPU.

faiss is imported where an index is built or asked about, never at import: the plugin loads
this module's callers in every pytest run.
"""

from __future__ import annotations

import math
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np

from .errors import RobustestError

# Parameters each kind takes, by their FAISS names; flat takes none.
KINDS = {"flat": (), "ivf": ("nlist", "nprobe"), "hnsw": ("M", "efSearch", "efConstruction")}
MINIMUM = {"M": 2}  # HNSW's level sizes divide by log(M)
SEED = 1234  # k-means seed of IVF training (FAISS's own default, made explicit)
GPU_MAX_K = 2048  # FAISS GPU search returns at most this many results per query
INDEX_HELP = "use flat (exact, the default), ivf or hnsw, optionally with parameters, e.g. ivf:nlist=256,nprobe=32 or hnsw:M=32,efSearch=256"


@dataclass(frozen=True)
class IndexSpec:
    """An index kind and the parameters given for it (the rest are chosen per corpus)."""

    kind: str = "flat"
    params: tuple[tuple[str, int], ...] = ()

    @classmethod
    def parse(cls, text: "str | IndexSpec") -> "IndexSpec":
        """`flat`, `ivf`, `hnsw:M=32,efSearch=256`: ValueError naming what is wrong and the fix."""
        if isinstance(text, IndexSpec):
            return text
        kind, _, rest = str(text).strip().partition(":")
        kind = kind.strip().lower()
        if kind not in KINDS:
            raise ValueError(f"{text!r} is not an index kind; {INDEX_HELP}")
        given = dict(parse_param(kind, item) for item in rest.split(",") if item.strip())
        return cls(kind, tuple((name, given[name]) for name in KINDS[kind] if name in given))

    def __str__(self) -> str:
        return self.kind + (":" + ",".join(f"{k}={v}" for k, v in self.params) if self.params else "")

    @property
    def exact(self) -> bool:
        return self.kind == "flat"

    def resolved(self, n_docs: int) -> dict[str, int]:
        """The parameters in force for a corpus of `n_docs` documents."""
        given = dict(self.params)
        if self.kind == "ivf":
            nlist = given.get("nlist") or default_nlist(n_docs)
            return {"nlist": nlist, "nprobe": min(nlist, given.get("nprobe") or default_nprobe(nlist))}
        if self.kind == "hnsw":
            return {"M": 32, "efSearch": 128, "efConstruction": 40, **given}  # FAISS's M=32 defaults; efSearch raised for k=100
        return {}


def parse_param(kind: str, item: str) -> tuple[str, int]:
    name, _, value = item.partition("=")
    known = {n.lower(): n for n in KINDS[kind]}
    canonical = known.get(name.strip().lower())
    if canonical is None:
        takes = f"takes {', '.join(KINDS[kind])}" if KINDS[kind] else "takes no parameters"
        raise ValueError(f"{item.strip()!r}: {kind} {takes}; {INDEX_HELP}")
    minimum = MINIMUM.get(canonical, 1)
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{item.strip()!r}: {canonical} must be a whole number >= {minimum}, e.g. {canonical}=64") from None
    if number < minimum:
        raise ValueError(f"{item.strip()!r}: {canonical} must be at least {minimum}")
    return canonical, number


def default_nlist(n_docs: int) -> int:
    """4·sqrt(n) lists (FAISS's guideline), but at least 39 training vectors per list (below that
    FAISS warns and k-means is noise): a tiny corpus gets few lists, down to one."""
    return max(1, min(round(4 * math.sqrt(n_docs)), n_docs // 39))


def default_nprobe(nlist: int) -> int:
    """A sixteenth of the lists and at least 16 (recall@100 0.97 on cranfield with MiniLM,
    nlist 35); on a large corpus still a small share of it scanned. At most 2048, the most a
    FAISS GPU index probes."""
    return min(nlist, max(16, math.ceil(nlist / 16)), GPU_MAX_K)


def check_fits(spec: IndexSpec, shards: int, n_docs: int, where: str = "the corpus") -> None:
    """More shards or IVF lists than documents is a mistake: one line with the fix."""
    if shards > n_docs:
        raise RobustestError(f"--robustest-index-shards={shards} is more shards than the {n_docs:,} documents of {where}; use at most {n_docs} (or 1)")
    nlist = dict(spec.params).get("nlist")
    if nlist is not None and nlist > n_docs:
        raise RobustestError(
            f"--robustest-index={spec} asks for more IVF lists than the {n_docs:,} documents of {where}; "
            f"use nlist={n_docs} at most, or leave nlist out to have it chosen from the corpus size (nlist={default_nlist(n_docs)} here)"
        )


def checked_spec(index: "str | IndexSpec", shards: int, n_docs: int) -> IndexSpec:
    """The plugin checks these at the door; a direct caller of DenseSearcher meets the same lines."""
    try:
        spec = IndexSpec.parse(index)
    except ValueError as exc:
        raise RobustestError(f"--robustest-index: {exc}") from None
    if shards < 1:
        raise RobustestError(f"--robustest-index-shards={shards}: use 1 or more")
    if shards > 1 and not spec.exact:
        raise RobustestError(f"--robustest-index-shards splits a flat index; with --robustest-index={spec} use --robustest-index-shards=1")
    check_fits(spec, shards, n_docs)
    return spec


def check_faiss_gpu() -> None:
    """Asked before any encoding (the plugin's start-up), and again where the index is built."""
    if faiss_gpu_count() == 0:
        raise RobustestError("--robustest-faiss-gpu needs a FAISS GPU build and a GPU: pip install faiss-gpu-cu12 (instead of faiss-cpu), or drop the option")


def faiss_gpu_count() -> int:
    """GPUs the installed FAISS can search on: 0 for a CPU build."""
    import faiss

    return faiss.get_num_gpus() if hasattr(faiss, "StandardGpuResources") else 0


def gpus_for(use_gpu: bool | None, kind: str = "flat") -> int:
    """How many GPUs an index searches on. use_gpu: True asks for them (an error without),
    None takes them when there are (auto), False never. HNSW has no FAISS GPU version."""
    if use_gpu is False:
        return 0
    if use_gpu:
        check_faiss_gpu()
        if kind == "hnsw":
            raise RobustestError("--robustest-faiss-gpu: FAISS has no GPU HNSW index; use --robustest-index=ivf (or flat) on the GPU, or drop --robustest-faiss-gpu")
    return 0 if kind == "hnsw" else faiss_gpu_count()


class DenseSearcher:
    def __init__(self, embeddings: np.ndarray, similarity: str, use_gpu: bool | None = False, *, index: "str | IndexSpec" = "flat", shards: int = 1):
        self.normalize = similarity == "cosine"
        vectors = prepare(embeddings, self.normalize)
        if vectors.ndim != 2:
            raise RobustestError(f"cannot index corpus vectors of shape {vectors.shape}: pass a 2-D array (documents, dimension)")
        self.n_docs, self.dimension = vectors.shape
        self.spec = checked_spec(index, shards, self.n_docs)
        self.params = self.spec.resolved(self.n_docs)
        self.gpus = gpus_for(use_gpu, self.spec.kind)
        self.shards = 1 if self.gpus else shards  # on GPUs, FAISS shards across the GPUs instead
        self.index = on_gpus(build_index(vectors, self.spec.kind, self.params, self.shards), self.gpus)

    def search(self, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        shape = np.shape(query_vectors)
        if len(shape) != 2 or shape[1] != self.dimension:  # FAISS would fail with a bare assertion
            raise RobustestError(f"query vectors of shape {shape} do not fit an index of dimension {self.dimension}: pass (queries, {self.dimension})")
        k = min(k, self.n_docs)
        if self.gpus and k > GPU_MAX_K:
            raise RobustestError(f"FAISS searches at most {GPU_MAX_K} documents per query on a GPU, {k} were asked for: lower --robustest-top-k, or search on the CPU (ini robustest_faiss_gpu = no)")
        queries = prepare(query_vectors, self.normalize)
        if self.spec.kind == "hnsw":  # the candidate list must hold at least the k results
            import faiss

            params = faiss.SearchParametersHNSW(efSearch=max(self.params["efSearch"], k))
            return self.index.search(queries, k, params=params)
        return self.index.search(queries, k)

    def describe(self) -> dict:
        """How the corpus is searched, for the run file."""
        return {"kind": self.spec.kind, "exact": self.spec.exact, **self.params, "shards": self.shards, "gpus": self.gpus}

    def label(self) -> str:
        """`hnsw (M=32, efSearch=128, efConstruction=40)`, `flat, 4 shards`, `flat on 2 GPUs`."""
        return index_label(self.spec.kind, self.params, self.shards, self.gpus)


def index_label(kind: str, params: dict, shards: int, gpus: int) -> str:
    text = kind + (f" ({', '.join(f'{k}={v}' for k, v in params.items())})" if params else "")
    if shards > 1:
        text += f", {shards} shards"
    if gpus:
        text += f" on {gpus} GPU{'s' if gpus > 1 else ''}" + (", sharded across them" if gpus > 1 else "")
    return text


def build_index(vectors: np.ndarray, kind: str, params: dict, shards: int):
    """The CPU index of `kind` holding `vectors` (prepared: float32, normalised for cosine)."""
    import faiss

    index = empty_index(faiss, vectors.shape[1], kind, params, shards)
    if kind == "ivf":
        index.train(vectors)
    with one_thread(faiss) if kind == "hnsw" else nullcontext():  # parallel HNSW insertion builds a different graph each run
        index.add(vectors)  # IndexShards splits the vectors into contiguous parts
    return index


def empty_index(faiss, dim: int, kind: str, params: dict, shards: int):
    if kind == "ivf":
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, params["nlist"], faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = SEED
        index.nprobe = params["nprobe"]  # set on the CPU index: a GPU clone copies it
        return index
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, params["M"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = params["efConstruction"]
        return index
    if shards == 1:
        return faiss.IndexFlatIP(dim)
    index = faiss.IndexShards(dim, True, True)  # threaded; ids run on from shard to shard
    for _ in range(shards):
        index.add_shard(faiss.IndexFlatIP(dim))
    return index


def on_gpus(index, gpus: int):
    """The CPU index on the first `gpus` GPUs, sharded across them (FAISS's own cloner); the
    one code path that needs a GPU build, kept this small on purpose."""
    if not gpus:
        return index
    import faiss

    options = faiss.GpuMultipleClonerOptions()
    options.shard = True
    try:
        return faiss.index_cpu_to_all_gpus(index, co=options, ngpu=gpus)
    except RuntimeError as exc:  # out of GPU memory, or a parameter beyond FAISS GPU's limits
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise RobustestError(f"FAISS could not put the index on {gpus} GPU(s): {reason}; search on the CPU (ini robustest_faiss_gpu = no, or CUDA_VISIBLE_DEVICES=)") from None


@contextmanager
def one_thread(faiss):
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(threads)


def plan_line(index: str, shards: int, use_gpu: bool | None) -> str | None:
    """The start-up line saying how documents will be searched; None for one exact flat index
    on the CPU, so that the default run's header is unchanged."""
    spec = IndexSpec.parse(index)
    try:
        gpus = gpus_for(use_gpu, spec.kind)
    except RobustestError:
        return f"robustest: index {spec} on the GPU asked for, which FAISS does not see (see the error below)"
    if spec.exact and shards == 1 and not gpus:
        return None
    line = "robustest: index " + index_label(spec.kind, dict(spec.params), 1 if gpus else shards, gpus)
    if gpus:
        line += " (a FAISS GPU build" + ("; --robustest-index-shards applies on the CPU)" if shards > 1 else ")")
    if spec.exact:
        return line + ": exact search"
    if spec.kind == "hnsw" and use_gpu is None and faiss_gpu_count():
        line += " on the CPU (FAISS has no GPU HNSW)"
    chosen = "the other parameters" if spec.params else "parameters"
    return line + (
        f": APPROXIMATE search, {chosen} chosen from the corpus size; every score is approximate, its recall against "
        "exact search is measured on the clean queries and reported in the summary (--robustest-index=flat is exact)"
    )


def prepare(vectors: np.ndarray, normalize: bool) -> np.ndarray:
    import faiss

    out = np.array(vectors, dtype=np.float32, order="C", copy=True)  # FAISS normalises in place
    if normalize:
        faiss.normalize_L2(out)
    return out
