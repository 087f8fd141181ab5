"""The Ray path of `robustest encode`: a pool of Ray actors encodes a corpus shard by shard.

Ray Data runs the shards (`map_batches` over one row per shard, an actor pool of one actor per
worker). Each actor resolves and loads the retriever once and checks that its fingerprint is
the one the cache key was built from. Actors take one GPU each (`num_gpus=1`) when the cluster
has GPUs and the device is not `cpu`; on CPUs each actor gets its share of the cores as torch
threads (robustest/threads.py). Without `--ray-address` a local Ray is started for the call
with as many CPUs as workers, and shut down after it.

The vectors come back to this process, which writes each shard as it arrives (encode.py's
ShardFolder) and then assembles the entry: no node but this one needs the cache folder.
Every node needs robustest and the model (the same folder, or the Hugging Face cache).

Ray stays quiet: no dashboard, no worker logs on this terminal, no Ray Data progress bars or
execution logs; robustest's own progress line reports the encode.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Callable, Iterator

import numpy as np
import ray
import ray.data

from .cache import EmbeddingCache
from .encode_shards import EncodeResult, Shard, ShardFolder, check_dense, plan_shards
from .errors import RobustestError
from .fingerprints import short
from .progress import task
from .retrieval import cached_corpus_vectors, corpus_cache_parts, documents_fingerprint

QUIET_LOGGERS = ("ray", "ray.data")


@dataclass(frozen=True)
class WorkerPlan:
    """How each actor runs, decided once by this process."""

    gpus: bool  # one GPU per actor
    device: str  # what the actors load the model on: "cuda" (Ray picks the GPU) or "cpu"
    dtype: str  # explicit, so the fingerprint this process computes is the actors'
    threads: int  # torch CPU threads per actor
    num_cpus: float  # CPUs Ray reserves per actor


@dataclass(frozen=True)
class WorkerJob:
    """What an actor needs to load the retriever: small and picklable."""

    spec: str
    options: object  # LoadOptions
    fingerprint: str
    import_path: str  # this process's working folder: a module:factory retriever is imported from it


class RayCluster:
    """A local Ray started for the call, or a connection to `address`: started on first
    use (a cached entry needs no Ray), shut down at the end if this call started it."""

    def __init__(self, workers: int, address: str | None):
        self.workers = workers
        self.address = address
        self.start_s: float | None = None
        self._owned = False

    def start(self) -> None:
        if self.start_s is not None:
            return
        began = time.perf_counter()
        if not ray.is_initialized():  # else: the caller's own Ray session, left as it is
            where = f"connecting to Ray at {self.address}" if self.address else f"starting a local Ray ({self.workers} CPUs)"
            with task(where, None):
                self._init()
            self._owned = True
        self.start_s = time.perf_counter() - began

    def _init(self) -> None:
        quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR, "configure_logging": True}
        try:
            if self.address:
                ray.init(address=self.address, **quiet)
            else:
                ray.init(address="local", num_cpus=self.workers, **quiet)  # "local": never join a cluster someone else started here
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray"
            raise RobustestError(f"cannot start {where}: {first_line(exc)}") from None

    def resources(self) -> dict:
        self.start()
        return ray.cluster_resources()

    def close(self) -> None:
        if self._owned:
            ray.shutdown()
            self._owned = False


def encode_on_ray(dataset, resolution, options, cache: EmbeddingCache, *, workers: int, address: str | None, shard_docs: int | None, load: Callable[[], object], started: float) -> EncodeResult:
    cluster = RayCluster(workers, address)
    try:
        plan = worker_plan(options, cluster, workers)
        fingerprint, name, documents_key = driver_fingerprint(resolution, options, plan, load)
        key = cache.key(corpus_cache_parts(documents_key, dataset))
        shards = plan_shards(len(dataset.doc_ids), workers, shard_docs)
        job = WorkerJob(worker_spec(resolution), worker_options(options, plan, local=address is None), fingerprint, os.getcwd())
        counts = {}

        def encode() -> np.ndarray:  # a cache miss, under the entry's lock
            folder = ShardFolder(shard_folder(cache, key), key)
            cluster.start()
            counts.update(run_shards(dataset, shards, folder, job, plan, workers, name))
            return folder.assemble(shards)

        result = cached_corpus_vectors(cache, dataset, fingerprint=documents_key, name=name, dimension=None, encode=encode)
        shutil.rmtree(shard_folder(cache, key), ignore_errors=True)  # the entry holds every vector now
    finally:
        cluster.close()
    rows, dimension = result.array.shape
    return EncodeResult(
        result.path, rows, dimension, result.hit, time.perf_counter() - started, workers,
        shards=counts.get("encoded", 0), reused_shards=counts.get("reused", 0), ray_start_s=cluster.start_s,
    )


def shard_folder(cache: EmbeddingCache, key: str):
    return cache.root / f"{key}.shards"


def worker_plan(options, cluster: RayCluster, workers: int) -> WorkerPlan:
    """GPU actors when the device allows and the cluster (here: this machine) has GPUs."""
    from .retrievers.hf import resolve_device, resolve_dtype
    from .threads import available_cpus

    if cluster.address:
        resources = cluster.resources()
        gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 1))
    else:
        gpus, cpus = local_gpus(options.device), available_cpus()
    use_gpus = options.device != "cpu" and gpus > 0
    if options.device.startswith("cuda") and not use_gpus:
        if not cluster.address:
            resolve_device(options.device)  # raises: torch sees no GPU here
        raise RobustestError(f"--robustest-device={options.device} asks for GPUs, but the Ray cluster at {cluster.address} has none")
    if use_gpus and workers > gpus:
        raise RobustestError(f"--workers={workers} asks for {workers} GPU workers (one GPU each), but the cluster has {gpus} GPUs; pass --workers={gpus}")
    if not use_gpus:
        dtype = resolve_dtype(options.dtype, "cpu")
    elif options.dtype != "auto":
        dtype = options.dtype
    elif cluster.address:
        dtype = "bfloat16"  # the actors' GPUs are not visible here: what auto picks on any recent GPU
    else:
        dtype = resolve_dtype("auto", "cuda")
    threads = options.threads or max(1, cpus // workers)
    # Locally Ray has one CPU per worker (ray.init(num_cpus=workers)); on a cluster a CPU
    # actor reserves the cores its threads use, so Ray does not pack too many on one node.
    num_cpus = 1 if use_gpus or not cluster.address else threads
    return WorkerPlan(use_gpus, "cuda" if use_gpus else "cpu", dtype, threads, num_cpus)


def local_gpus(device: str) -> int:
    if device == "cpu":
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def driver_fingerprint(resolution, options, plan: WorkerPlan, load: Callable[[], object]) -> tuple[str, str, str]:
    """(fingerprint, name, corpus cache key) of the retriever the actors will load. A Hugging
    Face model's are known without loading it; any other retriever (module:factory, glove) is
    loaded here once. The actors check the fingerprint; the cache entry is keyed by the key."""
    if resolution.folder is not None:
        actors = replace(options, device="cpu", dtype=plan.dtype)
        return resolution.fingerprint(actors), resolution.label, resolution.document_fingerprint(actors)
    retriever = load()
    check_dense(retriever)
    return retriever.fingerprint, retriever.name, documents_fingerprint(retriever)


def worker_spec(resolution) -> str:
    """The --retriever string an actor resolves: a local folder by its absolute path (an
    actor's working folder is not this one)."""
    return resolution.label if resolution.kind == "local" else resolution.spec


def worker_options(options, plan: WorkerPlan, *, local: bool):
    # Another node may not have this cache folder: there each actor hashes the weights itself.
    return replace(options, device=plan.device, dtype=plan.dtype, threads=plan.threads, progress=False, cache_dir=options.cache_dir if local else None)


class ShardEncoder:
    """A Ray actor: loads the retriever once, then encodes one shard per call.

    A RobustestError (a model that does not load, NaN vectors) comes back as data, in the
    `error` column, so this process can show it as the one line it is: Ray keeps only the
    text of an exception raised in an actor, wrapped in its own."""

    def __init__(self, job: WorkerJob):
        self.retriever, self.error = None, ""
        try:
            self.retriever = load_worker_retriever(job)
        except RobustestError as exc:
            self.error = str(exc)

    def __call__(self, batch: dict) -> dict:
        from .retrievers.vectors import encode_checked

        error = self.error
        if not error:
            texts = [str(t) for t in batch["texts"][0]]
            ids = [str(i) for i in batch["ids"][0]]
            try:
                vectors = encode_checked(self.retriever, "encode_documents", texts, ids)
            except RobustestError as exc:
                error = str(exc)
        if error:
            vectors = np.zeros((0, 0), dtype=np.float32)
        return {"shard": batch["shard"], "vectors": vectors[None], "error": np.array([error])}


def load_worker_retriever(job: WorkerJob):
    from .retrievers.resolve import resolve_retriever
    from .threads import prefer_sleeping_threads

    prefer_sleeping_threads()  # before torch loads (threads.py)
    if job.import_path not in sys.path:
        sys.path.insert(0, job.import_path)
    retriever = resolve_retriever(job.spec, job.options).load(job.options)
    check_dense(retriever)
    if retriever.fingerprint != job.fingerprint:
        raise RobustestError(
            f"a Ray worker loaded --retriever={job.spec} with fingerprint {short(retriever.fingerprint)}, but the cache key "
            f"expects {short(job.fingerprint)}: that node has other weights or settings (install the same model on every node)"
        )
    return retriever


def run_shards(dataset, shards: list[Shard], folder: ShardFolder, job: WorkerJob, plan: WorkerPlan, workers: int, name: str) -> dict:
    """Encode the shards not already complete; write each as it comes back."""
    reused = folder.complete(shards)
    pending = [s for s in shards if s not in reused]
    total = len(dataset.doc_ids)
    gpus = " GPU" if plan.gpus else ""
    with task(f"encoding {total:,} documents with {name} on {workers} Ray{gpus} workers", total) as bar:
        bar.advance(sum(s.rows for s in reused))
        if pending:
            for shard, vectors in shard_results(dataset, pending, job, plan, workers):
                folder.write(shard, vectors)
                bar.advance(shard.rows)
    return {"encoded": len(pending), "reused": len(reused)}


def shard_results(dataset, pending: list[Shard], job: WorkerJob, plan: WorkerPlan, workers: int) -> Iterator[tuple[Shard, np.ndarray]]:
    documents, ids = dataset.documents, dataset.doc_ids
    by_index = {s.index: s for s in pending}
    rows = [{"shard": s.index, "ids": list(ids[s.start : s.stop]), "texts": documents[s.start : s.stop]} for s in pending]
    with quiet_ray_data():
        # One block per shard: an actor encodes a whole block, so blocks of several shards
        # would leave some actors idle.
        data = ray.data.from_items(rows, override_num_blocks=len(rows))
        encoded = data.map_batches(
            ShardEncoder,
            fn_constructor_kwargs={"job": job},
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=min(workers, len(rows))),
            num_cpus=plan.num_cpus,
            num_gpus=1 if plan.gpus else None,
            # A dead actor fails the call (the shards done so far are kept for the rerun).
            # It also stops the error line Ray logs for every actor that may be restarted.
            max_restarts=0,
        )
        try:
            for batch in encoded.iter_batches(batch_size=None, batch_format="numpy"):
                for index, vectors, error in zip(batch["shard"], batch["vectors"], batch["error"]):
                    if error:
                        raise RobustestError(str(error))
                    yield by_index[int(index)], np.asarray(vectors, dtype=np.float32)
        except RobustestError:
            raise
        except Exception as exc:  # anything else an actor raised (a bug, out of memory), as Ray wrapped it
            raise RobustestError(f"a Ray worker failed: {original_error(exc)}") from None


@contextmanager
def quiet_ray_data() -> Iterator[None]:
    """No progress bars, execution plans, statistics or error logs from Ray Data (an actor's
    error reaches the user as robustest's one line); all restored afterwards."""
    with warnings.catch_warnings():
        # Ray 2.51+ marks remote args such as max_restarts as deprecated in map_batches (they
        # still work, and older Rays have no other way); its DataContext warns about its own
        # renamed fields whenever it is copied.
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="ray")
        context = ray.data.DataContext.get_current()
        settings = {"enable_progress_bars": False, "print_on_execution_start": False, "enable_auto_log_stats": False}
        saved = {name: getattr(context, name) for name in settings if hasattr(context, name)}
        levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
        for name in saved:
            setattr(context, name, settings[name])
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        try:
            yield
        finally:
            for name, value in saved.items():
                setattr(context, name, value)
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)


def original_error(exc: BaseException) -> str:
    """The `Type: message` line of the exception an actor raised, from the text Ray keeps of
    it (the first such line that is not one of Ray's own wrappers)."""
    for line in str(exc).splitlines():
        name, sep, message = line.strip().partition(": ")
        if sep and re.fullmatch(r"[A-Za-z_][\w.]*(Error|Exception)", name) and not name.startswith("ray."):
            return f"{name}: {message}"
    return f"{type(exc).__name__}: {first_line(exc)}"


def first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0].strip() if lines else type(exc).__name__
