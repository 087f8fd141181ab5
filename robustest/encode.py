"""`robustest encode`: fill the embedding cache before a run, in this process or over Ray.

The entry written is the one `CorpusIndex` reads (`retrieval.corpus_cache_parts`: the
retriever's and the corpus' fingerprints), so the next suite or `robustest evaluate` run with
the same settings is a cache hit.

With one worker and no Ray address the corpus is encoded here, exactly as a suite run would
encode it. Otherwise a pool of Ray actors encodes it shard by shard (encode_ray.py); this
process writes each shard as it arrives into `<entry>.shards/` (temporary file + rename, a
manifest last), then assembles them in document order into the one entry through
`EmbeddingCache` (checksum, manifest). All of it runs under the entry's lock: a second
encoder, or a suite run that wants the same vectors, waits and says so.

A shard counts only with its manifest (written last), the entry key, the document range, the
shape and the checksum it must have. A killed run's half-written shard has no manifest and
is encoded again; one with a manifest that does not fit is reported as damaged and encoded
again. Complete shards of a killed run are kept: running the command again resumes.

Nothing here imports Ray: encode_ray.py does, and only the Ray path imports it.
"""

from __future__ import annotations

import time
from typing import Callable

from .cache import EmbeddingCache
from .encode_shards import EncodeResult, NothingToEncode, Shard, ShardFolder, check_dense, lexical_message, plan_shards  # noqa: F401  (robustest.encode's names)
from .errors import RobustestError

RAY_INSTALL = "pip install 'robustest[ray]'"


def check_workers(workers: int) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise RobustestError(f"--workers={workers!r} must be a whole number >= 1 (1 encodes in this process)")


def uses_ray(workers: int, ray_address: str | None) -> bool:
    return workers > 1 or bool(ray_address)


def require_ray(workers: int, ray_address: str | None) -> None:
    """Ray is an optional extra: say how to install it before anything loads."""
    if not uses_ray(workers, ray_address):
        return
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        why = f"--ray-address={ray_address}" if ray_address else f"--workers={workers}"
        raise RobustestError(f"{why} encodes on Ray, which is not installed: {RAY_INSTALL}") from None


def encode_corpus(
    dataset,
    resolution,
    options,
    cache: EmbeddingCache,
    *,
    workers: int = 1,
    ray_address: str | None = None,
    shard_docs: int | None = None,
    load: Callable[[], object] | None = None,
) -> EncodeResult:
    """Encode `dataset`'s corpus with the retriever `resolution` resolves to (loaded with
    `options`, a LoadOptions) into `cache`, unless the entry is already there.

    `workers` > 1 or a `ray_address` encodes on Ray (a local Ray started for the call when no
    address is given); `shard_docs` overrides the documents per shard. `load()` gives the
    retriever in this process (default `resolution.load(options)`): a caller that already
    holds it passes it on."""
    check_workers(workers)
    if cache.root is None:
        raise RobustestError("robustest encode fills the embedding cache, which --robustest-no-cache turns off; drop --no-cache")
    if not dataset.doc_ids:
        raise RobustestError(f"{dataset.name} has no documents to encode")
    if resolution.kind == "bm25":
        raise NothingToEncode(lexical_message(resolution.label))
    load = load or (lambda: resolution.load(options))
    started = time.perf_counter()
    if uses_ray(workers, ray_address):
        require_ray(workers, ray_address)
        from .encode_ray import encode_on_ray

        return encode_on_ray(dataset, resolution, options, cache, workers=workers, address=ray_address, shard_docs=shard_docs, load=load, started=started)
    return encode_here(dataset, load(), cache, started)


def encode_here(dataset, retriever, cache: EmbeddingCache, started: float) -> EncodeResult:
    """One process, one encode call: what a suite run would do on a cache miss."""
    from .retrieval import cached_corpus_vectors, documents_fingerprint
    from .retrievers.vectors import encode_checked

    check_dense(retriever)
    result = cached_corpus_vectors(
        cache,
        dataset,
        fingerprint=documents_fingerprint(retriever),
        name=retriever.name,
        dimension=getattr(retriever, "dimension", None),
        encode=lambda: encode_checked(retriever, "encode_documents", dataset.documents, dataset.doc_ids),
    )
    rows, dimension = result.array.shape
    return EncodeResult(result.path, rows, dimension, result.hit, time.perf_counter() - started, workers=1)
