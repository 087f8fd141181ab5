"""Read a model folder: which files hold the weights and how the folder says to pool.

A sentence-transformers folder (modules.json, 1_Pooling/config.json, ...) carries its own
pooling, normalisation, prompts (see `st_prompt_names`) and maximum length; a plain Hugging
Face folder does not, so robustest picks last-token pooling for decoder-only models and mean
pooling otherwise, unless `--robustest-pooling` says. A `.gguf` file (or a folder holding
exactly one) is loaded through transformers' GGUF support.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import RobustestError
from ..fingerprints import digest_json, file_digest
from ..progress import task
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
    remote_code: tuple[str, ...] = ()  # auto_map classes: the folder's own modelling code

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
        # A first hash of a large model reads gigabytes: seconds to minutes (then memoised).
        digests = {}
        with task(f"hashing the weights of {self.model_dir.name}", len(files), unit="files") as bar:
            for p in files:
                digests[str(p.relative_to(self.model_dir))] = file_digest(p, memo_dir)
                bar.advance()
        return digest_json(digests)


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
    remote = remote_code(path)
    if (path / "modules.json").exists():
        config, prompts_note = sentence_transformers_config(path)
        if pooling:
            config = replace(config, pooling=pooling)
        return ModelFolder(path, None, config, "sentence-transformers config" + prompts_note, remote)
    decoder = is_decoder_only(path)
    chosen = pooling or ("last" if decoder else "mean")
    source = "--robustest-pooling" if pooling else f"no sentence-transformers config: {chosen} pooling for a {'decoder' if decoder else 'encoder'} (set --robustest-pooling)"
    return ModelFolder(path, None, EncoderConfig(pooling=chosen), source, remote)


def remote_code(path: Path) -> tuple[str, ...]:
    """The classes a folder's `auto_map` (config.json, tokenizer_config.json) points to:
    Python code shipped with the model, which only runs with --robustest-trust-remote-code."""
    found: list[str] = []
    for name in ("config.json", "tokenizer_config.json"):
        auto_map = read_json(path / name, missing_ok=True).get("auto_map") or {}
        for value in auto_map.values():
            for ref in value if isinstance(value, list) else [value]:
                if ref and ref not in found:
                    found.append(ref)
    return tuple(found)


def is_decoder_only(path: Path) -> bool:
    config = read_json(path / "config.json")
    architectures = config.get("architectures") or []
    return bool(config.get("is_decoder")) or any("CausalLM" in a for a in architectures)


def sentence_transformers_config(path: Path) -> tuple[EncoderConfig, str]:
    """The encoder config of a sentence-transformers folder, and a note on its prompts."""
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
    query_name, doc_name, unused = st_prompt_names(st.get("prompts") or {}, st.get("default_prompt_name"))
    prompts = st.get("prompts") or {}
    similarity = "dot" if st.get("similarity_fn_name") in ("dot", "dot_product") and not normalize else "cosine"
    config = EncoderConfig(
        pooling=pooling,
        normalize=normalize,
        similarity=similarity,
        query_prompt=prompts.get(query_name) or "",
        doc_prompt=prompts.get(doc_name) or "",
        max_length=int(bert.get("max_seq_length") or 512),
    )
    note = ""
    if prompts:
        note = f"; prompts: query from {query_name or 'none'}, document from {doc_name or 'none'}"
        if unused:
            note += f"; prompts not used: {', '.join(unused)}"
    return config, note


QUERY_NAMES = ("query",)
DOC_NAMES = ("document", "passage", "corpus", "doc")
DOC_PARTS = ("document", "passage", "corpus")


def st_prompt_names(prompts: dict, default_name: str | None) -> tuple[str | None, str | None, list[str]]:
    """Which named sentence-transformers prompts robustest uses: (query name, document name, unused names).

    A folder's config_sentence_transformers.json has `prompts` (name -> prefix) and
    `default_prompt_name`. robustest maps them as sentence-transformers' own encode_query /
    encode_document do, and also understands names such as nomic's search_query/search_document:

      query prompt     "query"; else the first name containing "query" (search_query, ...);
                       else the default_prompt_name's prompt; else none
      document prompt  "document", "passage", "corpus" or "doc"; else the first name containing
                       "document", "passage" or "corpus" (search_document, ...); else the
                       default_prompt_name's prompt (sentence-transformers prefixes every text
                       with it when no prompt is named); else none

    Every other name (classification, clustering, ...) is unused and named in the run header.
    --robustest-query-prompt / --robustest-doc-prompt override the result.
    """
    names = list(prompts)
    default = default_name if default_name in prompts else None

    def pick(exact: tuple[str, ...], parts: tuple[str, ...]) -> str | None:
        for name in exact:
            if name in prompts:
                return name
        lowered = [(n, n.lower()) for n in names]
        return next((n for n, low in lowered if any(p in low for p in parts)), default)

    query = pick(QUERY_NAMES, ("query",))
    doc = pick(DOC_NAMES, DOC_PARTS)
    return query, doc, [n for n in names if n not in (query, doc)]


def st_pooling(config_path: Path) -> str:
    config = read_json(config_path)
    modes = [name for key, name in ST_POOLING_MODES.items() if config.get(key)]
    others = [k for k, v in config.items() if k.startswith("pooling_mode") and v and k not in ST_POOLING_MODES]
    if len(modes) != 1 or others:
        raise RobustestError(
            f"{config_path}: pooling {', '.join(modes + others) or 'none'} is not supported; "
            f"exactly one of cls, mean, max, lasttoken is; pass --robustest-pooling to override"
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
