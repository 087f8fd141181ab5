"""Paraphrasing: a seq2seq model rewrites the query; its output is the plan.

Two kinds, both from LOCAL model folders (robustest never downloads them):

- a paraphraser: one seq2seq model, e.g. a T5 fine-tuned for paraphrasing, with an optional
  input prefix ("paraphrase: ");
- back-translation: en -> pivot -> en through one many-to-many model (m2m100, NLLB: give the
  same folder twice or once) or two one-way models (Marian en-de and de-en).

Multilingual tokenizers need the source language set on the tokenizer (`src_lang`) and the
target language forced as the first generated token (`forced_bos_token_id`): m2m100 names
languages "en"/"de" and has `get_lang_id`; NLLB and mBART-50 use their language tokens
("deu_Latn", "de_DE") directly. Tokenizers without `src_lang` (T5, Marian) get no language.

Decoding is greedy (num_beams=1) or beam search, without sampling by default, so the output
is a function of the query and the model: every seed gets the same paraphrase. With
do_sample=True, generation is seeded (torch.manual_seed inside a forked RNG), but a sampled
output then also depends on which queries share its batch.

Causal (decoder-only) instruct models are in llm_paraphrase.py, which model a path holds in
paraphrase_models.py. `perturb_with_paraphraser` serves both, with an optional semantic guard
(synonyms.SemanticGuard) that drops paraphrases that drift from the query.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from ..errors import RobustestError
from .base import NoLegalEdit
from .protocol import Perturbed, Variant

FAMILY = "paraphrasing"
OPTION = "--robustest-paraphraser"


@dataclass(frozen=True)
class ParaphrasePlan:
    """The query becomes `text` (what the model wrote)."""

    text: str
    family = FAMILY

    def apply(self, query: str) -> str:
        return self.text

    def describe(self, query: str) -> str:
        return f"paraphrase {query!r} -> {self.text!r}"


def normalized(text: str) -> str:
    """The words of `text`, lowercased: a paraphrase that changes only case, spacing or
    punctuation is the query given back (those are the noise families' business)."""
    return " ".join(re.findall(r"\w+", text.lower()))


def plan_for(query: str, output: str) -> ParaphrasePlan:
    """The plan for a model output; NoLegalEdit when the model wrote nothing new."""
    text = output.strip()
    if not text:
        raise NoLegalEdit(f"the paraphraser wrote nothing for {query!r}")
    if normalized(text) == normalized(query):
        raise NoLegalEdit(f"the paraphraser gave {query!r} back unchanged (up to case, spacing and punctuation)")
    return ParaphrasePlan(text)


@dataclass
class Seq2Seq:
    """One seq2seq model used in one direction (source -> target language)."""

    model: object
    tokenizer: object
    path: str
    src_lang: str | None = None
    tgt_lang: str | None = None
    prefix: str = ""
    max_input_tokens: int = 256

    def forced_bos_token_id(self) -> int | None:
        """The target language's token, for tokenizers that have languages."""
        if self.tgt_lang is None or not hasattr(self.tokenizer, "src_lang"):
            return None
        return lang_token_id(self.tokenizer, self.tgt_lang, self.path)

    def encode(self, texts: Sequence[str]):
        if self.src_lang is not None and hasattr(self.tokenizer, "src_lang"):
            lang_token_id(self.tokenizer, self.src_lang, self.path)  # say clearly if unknown
            self.tokenizer.src_lang = self.src_lang  # sets the language token the encoder sees
        return self.tokenizer(
            [self.prefix + t for t in texts],
            return_tensors="pt", padding=True, truncation=True, max_length=self.max_input_tokens,
        )

    def generate_ids(self, texts: Sequence[str], *, num_beams: int = 1, max_new_tokens: int = 64, do_sample: bool = False, seed: int = 0):
        """Generated token ids for one batch, special tokens included."""
        import torch

        encoded = self.encode(texts)
        # Only what every seq2seq model takes: some tokenizers add token_type_ids, which generate refuses.
        batch = {k: encoded[k].to(self.model.device) for k in ("input_ids", "attention_mask") if k in encoded}
        forced = self.forced_bos_token_id()
        extra = {"forced_bos_token_id": forced} if forced is not None else {}
        cuda = [self.model.device.index or 0] if self.model.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda), torch.inference_mode():
            torch.manual_seed(seed)  # only sampling draws from it; greedy and beam are exact
            return self.model.generate(
                **batch, num_beams=num_beams, do_sample=do_sample, max_new_tokens=max_new_tokens, **extra
            )

    def generate(self, texts: Sequence[str], **options) -> list[str]:
        ids = self.generate_ids(texts, **options)
        return [t.strip() for t in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]


def lang_token_id(tokenizer, lang: str, path: str) -> int:
    """The id of language `lang`: m2m100's get_lang_id("de"), else the token itself
    (NLLB "deu_Latn", mBART-50 "de_DE")."""
    try:
        found = tokenizer.get_lang_id(lang) if hasattr(tokenizer, "get_lang_id") else tokenizer.convert_tokens_to_ids(lang)
    except KeyError:
        found = None
    if found is None or found == tokenizer.unk_token_id:
        raise RobustestError(
            f"{OPTION}={path}: its tokenizer has no language {lang!r}; "
            f"use its own language codes (m2m100: en, de; NLLB: eng_Latn, deu_Latn)"
        )
    return found


@dataclass
class Paraphraser:
    """A chain of seq2seq stages (one for a paraphraser, two for back-translation)."""

    stages: tuple[Seq2Seq, ...]
    num_beams: int = 1
    max_new_tokens: int = 64
    do_sample: bool = False

    @property
    def name(self) -> str:
        return " -> ".join(f"{s.path}" + (f" [{s.src_lang}->{s.tgt_lang}]" if s.tgt_lang else "") for s in self.stages)

    def paraphrase_many(self, texts: Sequence[str], batch_size: int = 16, seed: int = 0) -> list[str]:
        """Every text through every stage, in batches of similar length (less padding)."""
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be at least 1")
        out = list(texts)
        options = {"num_beams": self.num_beams, "max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample, "seed": seed}
        for stage in self.stages:
            order = sorted(range(len(out)), key=lambda i: (len(out[i]), i))
            result = [""] * len(out)
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                for i, text in zip(chunk, stage.generate([out[i] for i in chunk], **options)):
                    result[i] = text
            out = result
        return out

    def paraphrase(self, text: str, seed: int = 0) -> str:
        return self.paraphrase_many([text], 1, seed)[0]


def load_seq2seq(path, *, src_lang=None, tgt_lang=None, prefix="", device="auto", option=OPTION) -> Seq2Seq:
    """A local seq2seq model and its tokenizer; RobustestError naming `option` otherwise."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from ..retrievers.hf import resolve_device

    folder = Path(path).expanduser()
    hint = "a local folder holding a seq2seq model and its tokenizer (save_pretrained output, e.g. a T5 paraphraser or m2m100)"
    if not folder.is_dir():
        raise RobustestError(f"{option}={path}: no such folder; give {hint}")
    problem = seq2seq_problem(folder)
    if problem:
        raise RobustestError(f"{option}={path} is not a seq2seq model ({problem}); give {hint}")
    try:
        model = AutoModelForSeq2SeqLM.from_pretrained(folder, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise RobustestError(f"{option}={path} could not be loaded ({reason}); give {hint}") from None
    model.to(resolve_device(device)).eval()
    return Seq2Seq(model, tokenizer, str(path), src_lang, tgt_lang, prefix)


def seq2seq_problem(folder: Path) -> str:
    """Why `folder` holds no seq2seq model, judged from its config.json; "" when it may."""
    import json

    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES

    config = folder / "config.json"
    if not config.is_file():
        return "no config.json in it"
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (ValueError, AttributeError):
        return "its config.json is not a JSON object"
    if model_type not in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES:
        return f"its config.json says model_type {model_type!r}, which has no seq2seq generation head"
    return ""


def load_paraphraser(path, *, prefix: str = "", num_beams: int = 1, max_new_tokens: int = 64, do_sample: bool = False, device: str = "auto") -> Paraphraser:
    """A one-model paraphraser (e.g. T5 with prefix="paraphrase: ")."""
    return Paraphraser((load_seq2seq(path, prefix=prefix, device=device),), num_beams, max_new_tokens, do_sample)


def load_back_translator(
    path, back_path=None, *, source: str = "en", pivot: str = "de",
    num_beams: int = 1, max_new_tokens: int = 64, do_sample: bool = False, device: str = "auto",
) -> Paraphraser:
    """Back-translation source -> pivot -> source. One many-to-many model (m2m100, NLLB: leave
    back_path out) serves both directions; two one-way models (Marian) need both paths.
    Languages matter only to tokenizers that have them."""
    forward = load_seq2seq(path, src_lang=source, tgt_lang=pivot, device=device)
    if back_path is None or Path(back_path).expanduser().resolve() == Path(path).expanduser().resolve():
        backward = Seq2Seq(forward.model, forward.tokenizer, forward.path, pivot, source)  # loaded once
    else:
        backward = load_seq2seq(back_path, src_lang=pivot, tgt_lang=source, device=device)
    return Paraphraser((forward, backward), num_beams, max_new_tokens, do_sample)


def paraphraser_sampler(paraphraser: Paraphraser):
    """A protocol sampler, one query at a time; perturb_with_paraphraser batches instead."""

    def sampler(query: str, rng: random.Random) -> ParaphrasePlan:
        return plan_for(query, paraphraser.paraphrase(query, seed=rng.getrandbits(32)))

    return sampler


def perturb_with_paraphraser(queries: Mapping[str, str], paraphraser, seed: int, batch_size: int | None = None, guard=None) -> Perturbed:
    """protocol.perturb_queries for a paraphraser: every query in batches, one seed for all.
    A paraphraser with `outputs` and `plan_for` (a CausalParaphraser) judges its own raw
    outputs; `guard` (a synonyms.SemanticGuard) then drops paraphrases too far from the query."""
    qids = sorted(queries)
    texts = [queries[q] for q in qids]
    if hasattr(paraphraser, "outputs"):
        outputs, make = paraphraser.outputs(texts, batch_size, seed), paraphraser.plan_for
    else:
        outputs, make = paraphraser.paraphrase_many(texts, batch_size or 16, seed), plan_for
    plans, skipped = {}, {}
    for qid, output in zip(qids, outputs):
        try:
            plans[qid] = make(queries[qid], output)
        except NoLegalEdit as reason:
            skipped[qid] = str(reason)
    if guard is not None:
        for qid, reason in guard_paraphrases(guard, queries, plans).items():
            del plans[qid]
            skipped[qid] = reason
    variants = [Variant(qid, queries[qid], plans[qid].apply(queries[qid]), plans[qid]) for qid in qids if qid in plans]
    return Perturbed(FAMILY, seed, tuple(variants), dict(sorted(skipped.items())))


def guard_paraphrases(guard, queries: Mapping[str, str], plans: Mapping[str, ParaphrasePlan]) -> dict[str, str]:
    """{query id: why} for each paraphrase whose cosine with its query, in the guard's
    encoder, is below the guard's threshold; every text encoded in one batch."""
    guard.prefetch([t for qid, plan in plans.items() for t in (queries[qid], plan.text)])
    rejected = {}
    for qid, plan in plans.items():
        cosine = float(guard.cosines(queries[qid], [plan.text])[0])
        if cosine >= guard.threshold:
            guard.accepted += 1
            continue
        guard.rejected += 1
        rejected[qid] = f"the semantic guard rejected {plan.text!r} for {queries[qid]!r}: cosine {cosine:.3f} < {guard.threshold}"
    return rejected


class ParaphrasePerturber:
    """The paraphrasing family's perturber, (queries, seed) -> Perturbed, built once per run;
    `guard` (or None) is reported with the run like the synonym family's."""

    def __init__(self, paraphraser, guard=None):
        self.paraphraser, self.guard = paraphraser, guard

    def __call__(self, queries: Mapping[str, str], seed: int) -> Perturbed:
        return perturb_with_paraphraser(queries, self.paraphraser, seed, guard=self.guard)

    def describe(self) -> dict:
        """The paraphraser, for the run file, and a one-line `summary`."""
        about = self.paraphraser.describe() if hasattr(self.paraphraser, "describe") else {"model": self.paraphraser.name, "kind": "seq2seq"}
        sampled = about.get("sample", getattr(self.paraphraser, "do_sample", False))
        about.setdefault("summary", f"{about['kind']} paraphraser {about['model']}, {'sampled' if sampled else 'deterministic'} decoding")
        return about
