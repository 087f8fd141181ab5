"""Read a model folder: which files hold the weights and how the folder says to pool.

A sentence-transformers folder (modules.json, 1_Pooling/config.json, ...) carries its own
pooling, normalisation, prompts and maximum length; a plain Hugging Face folder does not, so
robustest picks last-token pooling for decoder-only models and mean pooling otherwise, unless
`--pooling` says. A `.gguf` file (or a folder holding exactly one) is loaded through
transformers' GGUF support.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import RobustestError
from ..fingerprints import digest_json, file_digest
from .hf import EncoderConfig

ST_POOLING_MODES = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_lasttoken": "last",
}
ST_SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")
# Files in a training checkpoint that do not change the vectors and can be huge.
NOT_WEIGHTS = ("optimizer", "scheduler", "rng_state", "training_args", "trainer_state")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf", ".json", ".txt", ".model", ".jinja", ".tiktoken")


@dataclass(frozen=True)
class ModelFolder:
    model_dir: Path
    gguf_file: str | None
    config: EncoderConfig
    source: str  # how the encoder config was found, for the run header

    def weights_digest(self, memo_dir: Path | None) -> str:
        if self.gguf_file:
            files = [self.model_dir / self.gguf_file]
        else:
            # The folder itself and sentence-transformers module folders (1_Pooling, ...),
            # not nested checkpoints.
            candidates = [*self.model_dir.glob("*"), *self.model_dir.glob("[0-9]_*/*")]
            files = sorted(
                p
                for p in candidates
                if p.is_file() and p.suffix in WEIGHT_SUFFIXES and not p.name.startswith(NOT_WEIGHTS)
            )
        return digest_json({str(p.relative_to(self.model_dir)): file_digest(p, memo_dir) for p in files})


def inspect_model_path(path: Path, pooling: str | None = None) -> ModelFolder:
    if path.is_file():
        if path.suffix != ".gguf":
            raise RobustestError(f"--retriever={path} is a file but not a .gguf model; pass a model folder or a .gguf file")
        return ModelFolder(path.parent, path.name, EncoderConfig(pooling=pooling or "last"), "GGUF file")
    ggufs = sorted(p.name for p in path.glob("*.gguf"))
    if not (path / "config.json").exists():
        if len(ggufs) == 1:
            return ModelFolder(path, ggufs[0], EncoderConfig(pooling=pooling or "last"), "GGUF file")
        what = f"{len(ggufs)} .gguf files (pass one of them)" if ggufs else "no config.json"
        raise RobustestError(f"--retriever={path} is not a model folder: it has {what}")
    if (path / "modules.json").exists():
        config = sentence_transformers_config(path)
        if pooling:
            config = replace(config, pooling=pooling)
        return ModelFolder(path, None, config, "sentence-transformers config")
    decoder = is_decoder_only(path)
    chosen = pooling or ("last" if decoder else "mean")
    source = "--pooling" if pooling else f"no sentence-transformers config: {chosen} pooling for a {'decoder' if decoder else 'encoder'} (set --pooling)"
    return ModelFolder(path, None, EncoderConfig(pooling=chosen), source)


def is_decoder_only(path: Path) -> bool:
    config = read_json(path / "config.json")
    architectures = config.get("architectures") or []
    return bool(config.get("is_decoder")) or any("CausalLM" in a for a in architectures)


def sentence_transformers_config(path: Path) -> EncoderConfig:
    modules = read_json(path / "modules.json")
    pooling, normalize = "mean", False
    for module in modules:
        kind = module.get("type", "").rsplit(".", 1)[-1]
        if kind not in ST_SUPPORTED_MODULES:
            raise RobustestError(
                f"{path / 'modules.json'}: module {kind!r} is not supported (robustest handles "
                f"{', '.join(ST_SUPPORTED_MODULES)}); wrap the model with --retriever=module:factory"
            )
        if kind == "Pooling":
            pooling = st_pooling(path / module.get("path", "") / "config.json")
        normalize = normalize or kind == "Normalize"
    bert = read_json(path / "sentence_bert_config.json", missing_ok=True)
    st = read_json(path / "config_sentence_transformers.json", missing_ok=True)
    prompts = st.get("prompts") or {}
    similarity = "dot" if st.get("similarity_fn_name") in ("dot", "dot_product") and not normalize else "cosine"
    return EncoderConfig(
        pooling=pooling,
        normalize=normalize,
        similarity=similarity,
        query_prompt=prompts.get("query", ""),
        doc_prompt=prompts.get("document", prompts.get("passage", "")),
        max_length=int(bert.get("max_seq_length") or 512),
    )


def st_pooling(config_path: Path) -> str:
    config = read_json(config_path)
    modes = [name for key, name in ST_POOLING_MODES.items() if config.get(key)]
    others = [k for k, v in config.items() if k.startswith("pooling_mode") and v and k not in ST_POOLING_MODES]
    if len(modes) != 1 or others:
        raise RobustestError(
            f"{config_path}: pooling {', '.join(modes + others) or 'none'} is not supported; "
            f"exactly one of cls, mean, max, lasttoken is; pass --pooling to override"
        )
    if modes[0] == "mean" and config.get("include_prompt") is False:
        return "mean_no_prompt"
    return modes[0]


def read_json(path: Path, missing_ok: bool = False) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise RobustestError(f"{path} is missing; the model folder is incomplete") from None
    except (OSError, ValueError) as exc:
        raise RobustestError(f"{path} is not readable JSON ({exc}); re-download or re-save the model") from None
