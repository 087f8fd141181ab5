"""Supervised HotFlip corpus poisoning (Zhong et al., EMNLP 2023), for any Hugging Face retriever.

For each k-means cluster of training queries (see targets.py) one passage of L tokens is
optimised to maximise its mean similarity to the cluster's queries, which for a fixed query
set is the similarity to one target vector. Each iteration:

1. the gradient of that similarity with respect to the passage's input embeddings is taken
   through the retriever's own forward pass (its passage prompt prepended, its pooling, its
   normalisation), so encoders and decoder-only LLMs are attacked the same way;
2. one position is picked at random and every vocabulary token is ranked by
   gradient · input-embedding (the first-order gain of swapping it in);
3. the top `pool` candidates are encoded by the retriever itself, exactly as the passage will
   be indexed, and the best swap is kept only if it raises the similarity.

So the objective never decreases over accepted steps. Passages are text: a swap is a
candidate only if the passage still tokenizes to the same L tokens after decoding, so what is
optimised is what gets indexed (a token that would merge with its neighbour is skipped and
the next-ranked one taken).

All passages run in lockstep, which changes the cost and not the result: per iteration one
batched gradient pass over every passage whose tokens changed (an unchanged passage has the
same gradient, so it is kept), one bulk round-trip check of every passage's candidates, and
the candidates of all passages encoded together, fed as token ids (the round trip guarantees
they are what the text tokenizes to). Each passage draws its positions from its own random
stream (seed, cluster), so a passage is the same whichever clusters run beside it.

Screening (`HotFlipConfig.screen`): on a float32 model, where the hardware has fast bf16 (a
CPU with AVX512-BF16 or AMX, or a GPU), the pool is first scored under bf16/fp16 autocast and
only the best `screen` candidates are re-scored exactly, in float32 as indexed; a swap is
accepted only on an exact improvement, so the objective still never decreases. Encoding the
pool is most of an iteration, and bf16 encodes it about 1.7x faster on such CPUs. Elsewhere
(and with `screen=0`) every candidate is scored exactly; on a CPU that gave the passages of
the per-passage loop this replaced, token for token (benchmarks/bench_hotflip.py checks).

Passages start from gold passages: the best judged document of the cluster's training query
nearest its centroid, continued with those of the next-nearest queries until L tokens.
The paper runs 5,000 iterations with 100 candidates; the default here is small enough for a
CPU (see `HotFlipConfig`).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

from ..errors import RobustestError
from ..progress import task
from .passages import AdversarialPassage
from .targets import AttackQueries, Cluster

INITS = ("gold", "filler")
FILLER = "the"  # the `filler` initialisation (and padding when there is no gold text at all)


@dataclass(frozen=True)
class HotFlipConfig:
    """L = 50 tokens, 100 candidates and gold initialisation as in the paper; the paper's
    5,000 iterations take hours on a CPU, so the default is 50 (`iterations=5000` for the
    paper's setting). `screen`: candidates re-scored exactly after a reduced-precision pass
    over the pool, where the hardware has one (module docstring); 0 scores every candidate
    exactly. 1 suffices: bf16 reorders only near-ties, whose exact gains hardly differ, and
    on the default collection ASR@20 stayed the same (benchmarks/bench_hotflip.py)."""

    tokens: int = 50
    iterations: int = 50
    pool: int = 100
    init: str = "gold"
    screen: int = 1

    def __post_init__(self):
        for name in ("tokens", "pool"):
            if getattr(self, name) < 1:
                raise RobustestError(f"HotFlip {name} = {getattr(self, name)} must be at least 1")
        for name in ("iterations", "screen"):
            if getattr(self, name) < 0:
                raise RobustestError(f"HotFlip {name} = {getattr(self, name)} must be 0 or more")
        if self.init not in INITS:
            raise RobustestError(f"HotFlip init = {self.init!r} must be one of {', '.join(INITS)}")

    def as_dict(self) -> dict:
        return asdict(self)  # part of the passage cache key: every field changes the passages


class WhiteBox:
    """Gradient access to a Hugging Face retriever (robustest's `HFEncoder`): the tokenizer,
    the model and the encoder config that says how a passage becomes a vector."""

    def __init__(self, retriever):
        missing = [m for m in ("model", "tokenizer", "config", "embed", "encode_documents") if not hasattr(retriever, m)]
        if missing or not hasattr(retriever.model, "get_input_embeddings"):
            raise RobustestError(
                f"HotFlip needs gradients through the model: it attacks Hugging Face retrievers (default, "
                f"presets, model folders, .gguf files); {getattr(retriever, 'name', retriever)!r} "
                f"({type(retriever).__name__}) has no {', '.join(missing) or 'input embeddings'}. "
                "The black-box attacks (query_copy, keyword_stuffing) work on any dense retriever."
            )
        import torch

        self.retriever = retriever
        self.tokenizer = retriever.tokenizer
        self.model = retriever.model
        self.config = retriever.config
        self.similarity = retriever.similarity
        self.prompt = self.config.doc_prompt
        self.prompt_ids = self.encode_text(self.prompt) if self.prompt else []
        self.embedding = self.model.get_input_embeddings()
        self.device = self.embedding.weight.device
        self.batch_size = max(1, int(getattr(retriever, "batch_size", 32)))
        self._allowed: torch.Tensor | None = None
        self._frame: Frame | None = None

    # -- text <-> tokens ------------------------------------------------------------------
    def encode_text(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), clean_up_tokenization_spaces=False)

    def round_trips(self, candidates: Sequence[Sequence[int]]) -> list[bool]:
        """Whether each token sequence comes back unchanged from decode -> the retriever's
        tokenization (its passage prompt in front): only then is the optimised passage the
        indexed one."""
        texts = [self.prompt + self.decode(ids) for ids in candidates]
        encoded = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [list(e) == self.prompt_ids + list(ids) for e, ids in zip(encoded, candidates)]

    @property
    def allowed(self):
        """Vocabulary rows a swap may use: not special, visible, and a single token on re-encoding."""
        import torch

        if self._allowed is None:
            n_rows = self.embedding.weight.shape[0]
            ids = list(range(min(n_rows, len(self.tokenizer))))
            texts = [self.tokenizer.decode([i], clean_up_tokenization_spaces=False) for i in ids]
            encoded = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
            special = set(self.tokenizer.all_special_ids)
            ok = torch.zeros(n_rows, dtype=torch.bool)
            for i, text, e in zip(ids, texts, encoded):
                ok[i] = i not in special and bool(text.strip()) and list(e) == [i]
            self._allowed = ok.to(self.device)
        return self._allowed

    def settle(self, ids: Sequence[int], length: int) -> list[int]:
        """`ids` cut or cycled to `length` tokens that survive decode -> tokenize unchanged."""
        ids = list(ids) or self.encode_text(FILLER)
        for _ in range(5):
            while len(ids) < length:
                ids += ids[: length - len(ids)]
            ids = ids[:length]
            if self.round_trips([ids])[0]:
                return ids
            ids = self.encode_text(self.decode(ids))
        filler = self.encode_text(" ".join([FILLER] * length))[:length]
        if len(filler) == length and self.round_trips([filler])[0]:
            return filler
        raise RobustestError(
            f"cannot build a {length}-token passage that survives decoding and re-tokenizing with "
            f"{self.retriever.name}'s tokenizer (passage prompt {self.prompt!r}); try another tokens value"
        )

    # -- passages as model input ----------------------------------------------------------
    def fix_frame(self, passages: Sequence[Sequence[int]]) -> None:
        """Learn, from the retriever's own tokenization of the passages' text, what surrounds a
        passage's tokens in the model input (special tokens, the prompt). It depends only on
        the length, and every candidate round-trips, so from here on passages go to the model
        as ids: `model_input` makes exactly what the tokenizer would."""
        self._frame = None
        texts = [self.prompt + self.decode(ids) for ids in passages]
        encoded = self.tokenizer(texts, truncation=True, max_length=self.config.max_length)
        for row, ids in enumerate(passages):
            full = encoded["input_ids"][row]
            start = locate(full, list(ids))
            if start is None:
                raise self.not_intact()
            others = tuple((k, tuple(v[row])) for k, v in encoded.items() if k != "input_ids" and k in self.tokenizer.model_input_names)
            frame = Frame(tuple(full[:start]), tuple(full[start + len(ids) :]), others)
            if self._frame is None:
                self._frame = frame
            elif frame != self._frame:  # cannot happen with a length-only template; say so rather than guess
                raise RobustestError(f"{self.retriever.name}'s tokenizer frames passages of the same length differently; HotFlip cannot batch them")

    def not_intact(self) -> RobustestError:
        return RobustestError(
            f"the passage's tokens are not intact in {self.retriever.name}'s input (truncated at "
            f"max length {self.config.max_length}?); use fewer tokens"
        )

    def model_input(self, passages: Sequence[Sequence[int]]) -> dict:
        """The tokenized batch of these passages (all of the fixed length), on the model's device."""
        import torch

        frame = self._frame
        ids = [list(frame.head) + list(p) + list(frame.tail) for p in passages]
        batch = {"input_ids": torch.tensor(ids)}
        for key, row in frame.others:  # attention mask, token types: the same for every row
            batch[key] = torch.tensor([list(row)] * len(ids))
        return {k: v.to(self.device) for k, v in batch.items()}

    # -- the objective and its gradient ---------------------------------------------------
    def objective(self, texts: Sequence[str], cluster: Cluster) -> np.ndarray:
        """Mean similarity of each passage to the cluster's queries, through the retriever's
        own `encode_documents` (batched by its batch size): the vector that gets indexed."""
        return cluster.objective(self.retriever.encode_documents(list(texts)), self.similarity)

    @property
    def screen_dtype(self):
        """The autocast dtype of the screening pass; None where it would not be faster (a model
        already in half precision, a CPU without native bf16 dot products)."""
        import torch

        if self.embedding.weight.dtype != torch.float32:
            return None
        if self.device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if self.device.type == "cpu":
            fast = [getattr(torch.cpu, f, lambda: False)() for f in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
            return torch.bfloat16 if any(fast) else None
        return None

    def vectors(self, passages: Sequence[Sequence[int]], reduced: bool = False) -> np.ndarray:
        """The passages' vectors by the retriever's forward, in its batch size; `reduced`:
        under the screening autocast. A row's vector does not depend on the others in its
        batch (no padding: one length)."""
        import torch

        dtype = self.screen_dtype if reduced else None
        out = []
        for start in range(0, len(passages), self.batch_size):
            batch = self.model_input(passages[start : start + self.batch_size])
            autocast = torch.autocast(self.device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
            with torch.inference_mode(), autocast:
                out.append(self.retriever.embed(batch, self.prompt).float().cpu().numpy())
        return np.concatenate(out) if out else np.empty((0, self.retriever.dimension), dtype=np.float32)

    def objectives(self, pools: Sequence[Sequence[Sequence[int]]], clusters: Sequence[Cluster], reduced: bool = False) -> list[np.ndarray]:
        """Each pool's objective towards its cluster, all pools encoded together."""
        vectors = self.vectors([p for pool in pools for p in pool], reduced)
        ends = np.cumsum([len(pool) for pool in pools])
        return [cluster.objective(v, self.similarity) for v, cluster in zip(np.split(vectors, ends[:-1]), clusters)]

    def gradients(self, passages: Sequence[Sequence[int]], targets: Sequence[np.ndarray]) -> list:
        """d(similarity to its target)/d(input embedding) at each passage token: (L, dim) per
        passage. One forward/backward per batch: rows do not interact, so the gradient of the
        summed similarities is each passage's own."""
        import torch

        head, length = len(self._frame.head), len(passages[0]) if passages else 0
        grads = []
        for start in range(0, len(passages), self.batch_size):
            vector, inputs = self.differentiable_vectors(self.model_input(passages[start : start + self.batch_size]))
            target = torch.as_tensor(np.stack(targets[start : start + self.batch_size]), device=vector.device)
            (grad,) = torch.autograd.grad((vector * target).sum(), inputs)
            grads += [g[head : head + length].float() for g in grad]
        return grads

    def differentiable_vector(self, ids: Sequence[int]):
        """One passage's vector from its text, as `differentiable_vectors` computes it: (vector
        (1, dim), input embeddings, where the passage's tokens start in the input)."""
        batch = self.tokenizer(self.prompt + self.decode(ids), truncation=True, max_length=self.config.max_length, return_tensors="pt")
        start = locate(batch["input_ids"][0].tolist(), list(ids))
        if start is None:
            raise self.not_intact()
        vector, inputs = self.differentiable_vectors(batch.to(self.device))
        return vector, inputs, start

    def differentiable_vectors(self, batch):
        """The batch's vectors as the index holds them, computed from their input embeddings so
        that gradients reach them: (vectors (n, dim), input embeddings)."""
        import torch

        inputs = self.embedding(batch["input_ids"]).detach().requires_grad_(True)
        vector = self.retriever.embed(batch, self.prompt, inputs_embeds=inputs)  # the encoder's own forward, pooling, normalisation
        # The index L2-normalises cosine vectors (targets.as_index_vectors). Only when the encoder
        # has not: normalising twice moves the gradient in the last bits, and so the passages.
        if self.similarity == "cosine" and not self.config.normalize:
            vector = torch.nn.functional.normalize(vector, dim=-1)
        return vector, inputs

    def ranked_tokens(self, ids: list[int], position: int, grad_row):
        """Vocabulary tokens by first-order gain at `position` (best first), and how many are usable."""
        import torch

        with torch.no_grad():
            gain = self.embedding.weight.float() @ grad_row.to(self.embedding.weight.device)
            gain = gain.masked_fill(~self.allowed, float("-inf"))
            gain[ids[position]] = float("-inf")
            return torch.argsort(gain, descending=True), int(torch.isfinite(gain).sum())

    def candidate_pools(self, passages: Sequence[list[int]], positions: Sequence[int], grad_rows, pool: int) -> list[list[list[int]]]:
        """Per passage, the `pool` best swaps at its position that keep it intact; the round
        trips of all passages' next-ranked swaps checked in one tokenizer call per round."""
        ranked = [self.ranked_tokens(ids, p, g) for ids, p, g in zip(passages, positions, grad_rows)]
        chosen: list[list[list[int]]] = [[] for _ in passages]
        taken = [0] * len(passages)
        while True:
            swaps, owners = [], []
            for i, ((order, usable), ids, p) in enumerate(zip(ranked, passages, positions)):
                if len(chosen[i]) >= pool or taken[i] >= usable:
                    continue
                chunk = order[taken[i] : min(usable, taken[i] + 2 * pool)].tolist()
                taken[i] += len(chunk)
                swaps += [ids[:p] + [t] + ids[p + 1 :] for t in chunk]
                owners += [i] * len(chunk)
            if not swaps:
                return [c[:pool] for c in chosen]
            for swap, i, ok in zip(swaps, owners, self.round_trips(swaps)):
                if ok:
                    chosen[i].append(swap)


@dataclass(frozen=True)
class Frame:
    """What surrounds a passage's tokens in the model input: the tokens before (special, prompt)
    and after, and the other tokenizer outputs (attention mask, token types) for the full row."""

    head: tuple[int, ...]
    tail: tuple[int, ...]
    others: tuple[tuple[str, tuple[int, ...]], ...]


def locate(sequence: list[int], part: list[int]) -> int | None:
    """Start of the last occurrence of `part` in `sequence`, None when absent."""
    n = len(part)
    for start in range(len(sequence) - n, -1, -1):
        if sequence[start : start + n] == part:
            return start
    return None


def initial_ids(box: WhiteBox, cluster: Cluster, queries: AttackQueries, config: HotFlipConfig) -> list[int]:
    if config.init == "filler":
        return box.settle(box.encode_text(" ".join([FILLER] * config.tokens)), config.tokens)
    ids: list[int] = []
    # Gold passages of the cluster's queries, nearest the centroid first; the queries' own
    # text only when none has a judged document.
    texts = [queries.gold[q] for q in cluster.query_ids if q in queries.gold] or [queries.train[q] for q in cluster.query_ids]
    for text in texts:
        ids += box.encode_text(text)
        if len(ids) >= config.tokens:
            break
    return box.settle(ids, config.tokens)


@dataclass
class Run:
    """One passage's state during the lockstep: its tokens, objective, random stream, gradient."""

    cluster: Cluster
    ids: list[int]
    current: float
    rng: np.random.Generator
    trace: list[float]
    accepted: list[int] = field(default_factory=list)
    kept: dict[int, str] = field(default_factory=dict)
    grad: object = None  # the gradient at `ids`; None once a swap changed them


def hotflip_passages(
    retriever,
    queries: AttackQueries,
    clusters: Sequence[Cluster],
    config: HotFlipConfig = HotFlipConfig(),
    *,
    seed: int,
    progress: bool = True,
    snapshots: Sequence[int] = (),
    reuse_gradients: bool = True,
) -> list[AdversarialPassage]:
    """One adversarial passage per cluster, all in lockstep (see the module docstring).

    `snapshots`: iterations after which to keep the passage's text as well (in
    `extra["snapshots"]`), to measure how ASR grows with iterations from one run.
    `extra["seconds"]` is the lockstep's wall time divided by the number of passages (they
    share every batch, so no passage has a clock of its own). `reuse_gradients=False`
    recomputes every gradient every iteration: the same passages, slower (for tests)."""
    box = WhiteBox(retriever)
    budget = box.config.max_length - len(box.prompt_ids) - 2  # room for [CLS]/[SEP] or BOS/EOS
    if config.tokens > budget:
        raise RobustestError(f"HotFlip tokens = {config.tokens} does not fit {retriever.name}'s max length {box.config.max_length}; use at most {budget}")
    box.allowed  # noqa: B018 - the vocabulary filter, built once, before the clock starts
    n = len(clusters)
    description = f"HotFlip: {n} passage{'s' * (n != 1)} of {config.tokens} tokens, {config.iterations} iterations each, with {retriever.name}"
    started = time.perf_counter()
    with task(description, n * config.iterations, unit="iterations", enabled=progress) as bar:
        runs = start_runs(box, clusters, queries, config, seed, snapshots)
        for iteration in range(1, config.iterations + 1):
            if not reuse_gradients:
                for run in runs:
                    run.grad = None
            step(box, runs, config, iteration, snapshots)
            bar.advance(len(runs))
    seconds = round((time.perf_counter() - started) / max(1, n), 3)
    screened = box.screen_dtype if config.screen and config.screen < config.pool else None
    return [finish(box, run, seconds, screened) for run in runs]


def start_runs(box: WhiteBox, clusters: Sequence[Cluster], queries: AttackQueries, config: HotFlipConfig, seed: int, snapshots) -> list[Run]:
    """Every passage's start: its initial tokens, scored as indexed (`encode_documents`)."""
    starts = [initial_ids(box, cluster, queries, config) for cluster in clusters]
    if not starts:
        return []
    box.fix_frame(starts)
    texts = [box.decode(ids) for ids in starts]
    vectors = box.retriever.encode_documents(texts)
    runs = []
    for cluster, ids, text, vector in zip(clusters, starts, texts, vectors):
        current = float(cluster.objective(vector[None], box.similarity)[0])
        rng = np.random.default_rng([int(seed) % (2**32), cluster.index])  # the passage's own stream
        runs.append(Run(cluster, ids, current, rng, [current], kept={0: text} if 0 in snapshots else {}))
    return runs


def step(box: WhiteBox, runs: list[Run], config: HotFlipConfig, iteration: int, snapshots) -> None:
    """One lockstep iteration: gradients where the tokens changed, every passage's candidates,
    one exact comparison per passage."""
    stale = [run for run in runs if run.grad is None]
    if stale:
        for run, grad in zip(stale, box.gradients([r.ids for r in stale], [r.cluster.target for r in stale])):
            run.grad = grad
    positions = [int(run.rng.integers(len(run.ids))) for run in runs]
    pools = box.candidate_pools([r.ids for r in runs], positions, [r.grad[p] for r, p in zip(runs, positions)], config.pool)
    for run, best in zip(runs, best_swaps(box, runs, pools, config.screen)):
        if best is not None and best[1] > run.current:
            run.ids, run.current, run.grad = best[0], best[1], None
            run.accepted.append(iteration)
        run.trace.append(run.current)
        if iteration in snapshots:
            run.kept[iteration] = box.decode(run.ids)


def best_swaps(box: WhiteBox, runs: list[Run], pools: list[list[list[int]]], screen: int) -> list[tuple[list[int], float] | None]:
    """Per passage, its best candidate and exact objective (None for an empty pool). With
    screening, only the `screen` best by the reduced-precision pass are scored exactly; they
    keep their pool order, so ties go to the larger first-order gain as without screening."""
    clusters = [run.cluster for run in runs]
    finalists = list(pools)
    wide = [i for i, pool in enumerate(pools) if len(pool) > screen]
    if screen and wide and box.screen_dtype is not None:
        rough = box.objectives([pools[i] for i in wide], [clusters[i] for i in wide], reduced=True)
        for i, scores in zip(wide, rough):
            finalists[i] = [pools[i][j] for j in sorted(np.argsort(-scores, kind="stable")[:screen])]
    exact = box.objectives(finalists, clusters)
    return [(f[int(np.argmax(s))], float(np.max(s))) if f else None for f, s in zip(finalists, exact)]


def finish(box: WhiteBox, run: Run, seconds: float, screened) -> AdversarialPassage:
    extra = {"seconds": seconds, **({"snapshots": run.kept} if run.kept else {})}
    if screened is not None:
        extra["screened_with"] = str(screened).removeprefix("torch.")
    return AdversarialPassage(
        text=box.decode(run.ids),
        method="hotflip",
        cluster=run.cluster.index,
        query_ids=run.cluster.query_ids,
        token_ids=tuple(run.ids),
        trace=tuple(run.trace),
        accepted=tuple(run.accepted),
        extra=extra,
    )
