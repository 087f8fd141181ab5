"""Supervised HotFlip corpus poisoning (Zhong et al., EMNLP 2023), for any Hugging Face retriever.

For each k-means cluster of training queries (see targets.py) one passage of L tokens is
optimised to maximise its mean similarity to the cluster's queries, which for a fixed query
set is the similarity to one target vector. Each iteration:

1. the gradient of that similarity with respect to the passage's input embeddings is taken
   through the retriever's own forward pass (its passage prompt prepended, its pooling, its
   normalisation), so encoders and decoder-only LLMs are attacked the same way;
2. one position is picked at random and every vocabulary token is ranked by
   gradient · input-embedding (the first-order gain of swapping it in);
3. the top `pool` candidates are encoded in batches by the retriever itself, exactly as the
   passage will be indexed, and the best swap is kept only if it raises the similarity.

So the objective never decreases over accepted steps. Passages are text: a swap is a
candidate only if the passage still tokenizes to the same L tokens after decoding, so what is
optimised is what gets indexed (a token that would merge with its neighbour is skipped and
the next-ranked one taken).

Passages start from gold passages: the best judged document of the cluster's training query
nearest its centroid, continued with those of the next-nearest queries until L tokens.
The paper runs 5,000 iterations with 100 candidates; the default here is small enough for a
CPU (see `HotFlipConfig`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
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
    paper's setting)."""

    tokens: int = 50
    iterations: int = 50
    pool: int = 100
    init: str = "gold"

    def __post_init__(self):
        for name in ("tokens", "pool"):
            if getattr(self, name) < 1:
                raise RobustestError(f"HotFlip {name} = {getattr(self, name)} must be at least 1")
        if self.iterations < 0:
            raise RobustestError(f"HotFlip iterations = {self.iterations} must be 0 or more")
        if self.init not in INITS:
            raise RobustestError(f"HotFlip init = {self.init!r} must be one of {', '.join(INITS)}")

    def as_dict(self) -> dict:
        return asdict(self)


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
        self._allowed: torch.Tensor | None = None

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

    # -- the objective and its gradient ---------------------------------------------------
    def objective(self, texts: Sequence[str], cluster: Cluster) -> np.ndarray:
        """Mean similarity of each passage to the cluster's queries, through the retriever's
        own `encode_documents` (batched by its batch size): the vector that gets indexed."""
        return cluster.objective(self.retriever.encode_documents(list(texts)), self.similarity)

    def gradient(self, ids: Sequence[int], target: np.ndarray):
        """d(similarity to `target`)/d(input embedding) at each passage token: (L, dim)."""
        import torch

        vector, inputs, start = self.differentiable_vector(ids)
        score = (vector[0] * torch.as_tensor(target, device=vector.device)).sum()
        (grad,) = torch.autograd.grad(score, inputs)
        return grad[0, start : start + len(ids)].float()

    def differentiable_vector(self, ids: Sequence[int]):
        """The passage's vector as the index holds it, computed from its input embeddings so
        that gradients reach them: (vector (1, dim), input embeddings, where the passage's
        tokens start in the input)."""
        import torch

        batch = self.tokenizer(self.prompt + self.decode(ids), truncation=True, max_length=self.config.max_length, return_tensors="pt")
        start = locate(batch["input_ids"][0].tolist(), list(ids))
        if start is None:
            raise RobustestError(
                f"the passage's tokens are not intact in {self.retriever.name}'s input (truncated at "
                f"max length {self.config.max_length}?); use fewer tokens"
            )
        batch = batch.to(self.device)
        inputs = self.embedding(batch["input_ids"]).detach().requires_grad_(True)
        vector = self.retriever.embed(batch, self.prompt, inputs_embeds=inputs)  # the encoder's own forward, pooling, normalisation
        # The index L2-normalises cosine vectors (targets.as_index_vectors). Only when the encoder
        # has not: normalising twice moves the gradient in the last bits, and so the passages.
        if self.similarity == "cosine" and not self.config.normalize:
            vector = torch.nn.functional.normalize(vector, dim=-1)
        return vector, inputs, start

    def candidates(self, ids: list[int], position: int, grad_row, pool: int) -> list[list[int]]:
        """The `pool` best swaps at `position` by gradient · embedding that keep the passage intact."""
        import torch

        with torch.no_grad():
            gain = self.embedding.weight.float() @ grad_row.to(self.embedding.weight.device)
            gain = gain.masked_fill(~self.allowed, float("-inf"))
            gain[ids[position]] = float("-inf")
            order = torch.argsort(gain, descending=True).tolist()
            usable = int(torch.isfinite(gain).sum())
        chosen: list[list[int]] = []
        start = 0
        while len(chosen) < pool and start < usable:
            chunk = order[start : min(usable, start + 2 * pool)]
            start += len(chunk)
            swaps = [ids[:position] + [t] + ids[position + 1 :] for t in chunk]
            chosen += [s for s, ok in zip(swaps, self.round_trips(swaps)) if ok]
        return chosen[:pool]


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


def hotflip_passages(
    retriever,
    queries: AttackQueries,
    clusters: Sequence[Cluster],
    config: HotFlipConfig = HotFlipConfig(),
    *,
    seed: int,
    progress: bool = True,
    snapshots: Sequence[int] = (),
) -> list[AdversarialPassage]:
    """One adversarial passage per cluster (see the module docstring).

    `snapshots`: iterations after which to keep the passage's text as well (in
    `extra["snapshots"]`), to measure how ASR grows with iterations from one run."""
    box = WhiteBox(retriever)
    budget = box.config.max_length - len(box.prompt_ids) - 2  # room for [CLS]/[SEP] or BOS/EOS
    if config.tokens > budget:
        raise RobustestError(f"HotFlip tokens = {config.tokens} does not fit {retriever.name}'s max length {box.config.max_length}; use at most {budget}")
    box.allowed  # noqa: B018 - the vocabulary filter, built once, before any passage's clock starts
    passages = []
    n = len(clusters)
    description = f"HotFlip: {n} passage{'s' * (n != 1)} of {config.tokens} tokens, {config.iterations} iterations each, with {retriever.name}"
    with task(description, len(clusters) * config.iterations, unit="iterations", enabled=progress) as bar:
        for cluster in clusters:
            passages.append(hotflip_one(box, cluster, queries, config, seed, snapshots, bar))
    return passages


def hotflip_one(box: WhiteBox, cluster: Cluster, queries: AttackQueries, config: HotFlipConfig, seed: int, snapshots, bar) -> AdversarialPassage:
    """One cluster's passage; `bar` (a progress task) advances once per iteration."""
    started = time.perf_counter()
    rng = np.random.default_rng([int(seed) % (2**32), cluster.index])
    ids = initial_ids(box, cluster, queries, config)
    current = float(box.objective([box.decode(ids)], cluster)[0])
    trace, accepted = [current], []
    kept = {0: box.decode(ids)} if 0 in snapshots else {}
    for iteration in range(1, config.iterations + 1):
        grad = box.gradient(ids, cluster.target)
        position = int(rng.integers(len(ids)))
        swaps = box.candidates(ids, position, grad[position], config.pool)
        if swaps:
            scores = box.objective([box.decode(s) for s in swaps], cluster)
            best = int(np.argmax(scores))
            if scores[best] > current:
                ids, current = swaps[best], float(scores[best])
                accepted.append(iteration)
        trace.append(current)
        if iteration in snapshots:
            kept[iteration] = box.decode(ids)
        bar.advance()
    return AdversarialPassage(
        text=box.decode(ids),
        method="hotflip",
        cluster=cluster.index,
        query_ids=cluster.query_ids,
        token_ids=tuple(ids),
        trace=tuple(trace),
        accepted=tuple(accepted),
        extra={"seconds": round(time.perf_counter() - started, 3), **({"snapshots": kept} if kept else {})},
    )
