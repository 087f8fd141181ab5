"""Dense retrievers built from Hugging Face models: encoders and decoder-only LLMs alike.

The model gives token states; `EncoderConfig` says how to turn them into one vector per text
(pooling, prompts, padding side, normalisation, maximum length). Texts are sorted by length
before batching so that each batch pads as little as possible.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import RobustestError
from ..fingerprints import digest_json
from ..progress import file_lock, task
from ..threads import configure_torch_threads
from . import diagnose, pooling

FINGERPRINT_VERSION = 1


@dataclass(frozen=True)
class EncoderConfig:
    pooling: str = "mean"
    normalize: bool = True
    similarity: str = "cosine"
    query_prompt: str = ""
    doc_prompt: str = ""
    max_length: int = 512
    padding_side: str | None = None  # None: left for last-token pooling, else the tokenizer's

    def __post_init__(self):
        if self.pooling not in pooling.POOLINGS:
            raise RobustestError(
                f"pooling={self.pooling!r} is not supported; use one of {', '.join(pooling.POOLINGS)}"
            )
        if self.padding_side not in (None, "left", "right"):
            raise RobustestError(f"padding_side={self.padding_side!r} must be 'left' or 'right'")

    @property
    def effective_padding_side(self) -> str | None:
        if self.padding_side is None and self.pooling == "last":
            return "left"
        return self.padding_side


def documents_config(config: EncoderConfig) -> EncoderConfig:
    """The config a document's vector depends on: all but the query prompt (and the
    instruction filled into it). Without a query prompt it is the config itself, so the
    corpus cache of such a model is keyed as it always was."""
    return replace(config, query_prompt="")


def encoder_fingerprint(weights_digest: str, config: EncoderConfig, dtype: str, revision: str | None = None) -> str:
    """Everything that changes a vector: weights, pooling, prompts, length, side, dtype, and
    the hub revision when one is pinned (absent otherwise, so unpinned fingerprints stay)."""
    return digest_json(
        {
            "kind": "hf-encoder",
            "version": FINGERPRINT_VERSION,
            "weights": weights_digest,
            "config": asdict(config) | {"padding_side": config.effective_padding_side},
            "dtype": dtype,
        }
        | ({"revision": revision} if revision else {})
    )


def resolve_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise RobustestError(f"--robustest-device={device!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise RobustestError(f"--robustest-device={device} asked for CUDA, but torch sees no GPU; use --robustest-device=cpu")
    return device


def resolve_dtype(dtype: str, device: str) -> str:
    """fp32 on CPU (half precision there is slow and lossy); bf16, else fp16, on a GPU."""
    import torch

    if dtype != "auto":
        if dtype not in ("float32", "bfloat16", "float16"):
            raise RobustestError(f"--robustest-dtype={dtype!r} must be auto, float32, bfloat16 or float16")
        return dtype
    if device.startswith("cuda"):
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "float32"


class HFEncoder:
    """A Hugging Face model plus an `EncoderConfig`: implements the Retriever protocol."""

    def __init__(
        self,
        name: str,
        model_dir: str | os.PathLike,
        config: EncoderConfig,
        *,
        weights_digest: str,
        gguf_file: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 32,
        progress: bool = True,
        convert_cache: Path | None = None,
        revision: str | None = None,
        trust_remote_code: bool = False,
        threads: int | None = None,
    ):
        # Before the first forward pass: torch would otherwise start a thread per core of the
        # host, however few CPUs this process was given (robustest.threads).
        configure_torch_threads(threads)
        self.name = name
        self.revision = revision
        self.config = config
        self.similarity = config.similarity
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.batch_size = batch_size
        self.progress = progress
        self.weights_digest = weights_digest
        self.tokenizer, self.model = load_model(
            Path(model_dir), gguf_file, self.dtype, convert_cache / weights_digest if convert_cache and gguf_file else None,
            progress=progress,
            trust_remote_code=trust_remote_code,
        )
        self.model.to(self.device).eval()
        if self.tokenizer.pad_token is None:  # decoder-only tokenizers often have none
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        # We tokenize once, sort by length, then pad per batch: the warning about
        # "tokenize then pad" being slower does not apply.
        self.tokenizer.deprecation_warnings["Asking-to-pad-a-fast-tokenizer"] = True
        side = config.effective_padding_side
        if side:
            self.tokenizer.padding_side = side
        self._prompt_lengths: dict[str, int] = {}

    @property
    def fingerprint(self) -> str:
        return encoder_fingerprint(self.weights_digest, self.config, self.dtype, self.revision)

    @property
    def document_fingerprint(self) -> str:
        """The corpus cache's key: runs that differ only in the query prompt or instruction
        (the instruction families, --robustest-instruction) share the corpus' vectors."""
        return encoder_fingerprint(self.weights_digest, documents_config(self.config), self.dtype, self.revision)

    @property
    def dimension(self) -> int:
        return int(self.model.config.hidden_size)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "revision": self.revision,
            "device": self.device,
            "dtype": self.dtype,
            "dimension": self.dimension,
            **asdict(self.config),
            "padding_side": self.tokenizer.padding_side,
        }

    @property
    def query_prompt(self) -> str:
        return self.config.query_prompt

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts, self.config.query_prompt, what="queries")

    def encode_queries_with_prompts(self, texts: Sequence[str], prompts: Sequence[str]) -> np.ndarray:
        """Each query after its own prompt instead of the query prompt (retrievers/prompts.py)."""
        return self.encode(texts, list(prompts), what="queries")

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts, self.config.doc_prompt, what="documents")

    @property
    def document_prompt(self) -> str:
        return self.config.doc_prompt

    def encode_documents_with_prompt(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        """The documents after `prompt` instead of the document prompt (the document_prompt family)."""
        return self.encode(texts, prompt, what="documents")

    def encode(self, texts: Sequence[str], prompt: str | Sequence[str] = "", what: str = "texts") -> np.ndarray:
        """Each text after `prompt` (one for all, or one per text). `what` names the texts in
        progress lines ("encoding 1,033 documents with ...")."""
        import torch

        texts = list(texts)
        prompts = [prompt] * len(texts) if isinstance(prompt, str) else list(prompt)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        encoded = self.tokenizer(
            [p + t for p, t in zip(prompts, texts)], truncation=True, max_length=self.config.max_length
        )
        keys = [k for k in self.tokenizer.model_input_names if k in encoded]
        order = sorted(range(len(texts)), key=lambda i: -len(encoded["input_ids"][i]))
        # Silent unless the encode takes longer than a moment (see progress.py).
        description = f"encoding {len(texts):,} {what} with {self.name}"
        with task(description, len(texts), enabled=self.progress) as bar:
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                batch = self.tokenizer.pad(
                    {k: [encoded[k][i] for i in rows] for k in keys}, padding=True, return_tensors="pt"
                ).to(self.device)
                with torch.inference_mode():
                    vectors = self.embed(batch, prompt if isinstance(prompt, str) else [prompts[i] for i in rows])
                out[rows] = vectors.cpu().numpy()
                bar.advance(len(rows))
        return out

    def embed(self, batch, prompt: str | Sequence[str], inputs_embeds=None):
        """Vectors (float32 tensor) of a tokenized, padded batch of `prompt + text` (`prompt`:
        one for the batch or one per row): the forward pass, pooling and normalisation.
        HotFlip passes `inputs_embeds` (which then replace the batch's input ids) to take
        gradients through exactly this path."""
        import torch

        inputs = dict(batch)
        if inputs_embeds is not None:
            del inputs["input_ids"]
            inputs["inputs_embeds"] = inputs_embeds
        hidden = self.model(**inputs).last_hidden_state
        prefix: int | torch.Tensor = 0
        if self.config.pooling == "mean_no_prompt":
            prefix = self._prompt_length(prompt) if isinstance(prompt, str) else torch.tensor([self._prompt_length(p) for p in prompt], device=hidden.device)
        return pooling.pool(hidden, batch["attention_mask"], self.config.pooling, prefix=prefix, normalize=self.config.normalize)

    def _prompt_length(self, prompt: str) -> int:
        """Tokens the prompt occupies at the start of every text (special tokens included)."""
        if prompt not in self._prompt_lengths:
            self._prompt_lengths[prompt] = len(self.tokenizer(prompt)["input_ids"]) if prompt else 0
        return self._prompt_lengths[prompt]


def load_model(
    model_dir: Path, gguf_file: str | None, dtype: str, converted: Path | None, *, progress: bool = True, trust_remote_code: bool = False
):
    """Tokenizer and base model (no task head). A GGUF file is dequantised once and, when
    `converted` is given, kept there as safetensors: dequantising takes tens of seconds.
    The model folder's own code (auto_map) runs only with `trust_remote_code` (opt-in)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    if converted is not None and (converted / "config.json").exists():
        model_dir, gguf_file = converted, None
    extra = {"gguf_file": gguf_file} if gguf_file else {}
    if trust_remote_code:
        extra["trust_remote_code"] = True
    # Only dequantising is slow enough to report; a safetensors load takes a moment.
    what = f"dequantising {gguf_file}" + (" (once: kept as safetensors)" if converted is not None else "")
    with task(what, None, enabled=progress and bool(gguf_file)), diagnose.quiet_weight_report():
        # transformers raises many exception types for a broken folder: each becomes one line
        # naming the folder, the file and the fix (diagnose.py).
        try:
            tokenizer = AutoTokenizer.from_pretrained(model_dir, **extra)
        except Exception as exc:
            raise diagnose.load_error(model_dir, gguf_file, "tokenizer", exc) from None
        try:
            model, info = AutoModel.from_pretrained(model_dir, dtype=getattr(torch, dtype), output_loading_info=True, **extra)
        except Exception as exc:
            raise diagnose.load_error(model_dir, gguf_file, "model", exc) from None
    diagnose.check_weights_fit(model, info, model_dir, gguf_file)
    if gguf_file and converted is not None:
        save_converted(tokenizer, model, converted)
    return tokenizer, model


def save_converted(tokenizer, model, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(str(target) + ".lock", "saving the dequantised model"):
        if target.exists():
            return
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
