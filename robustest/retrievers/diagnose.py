"""Why a model folder does not load, in one line: the folder, the file and the likely fix.

transformers raises many kinds of errors for a broken folder (SafetensorError, TypeError from
a tokenizer without its vocabulary, RuntimeError for a size mismatch, ValueError from the GGUF
reader) and loads some broken folders without complaint: a config.json with more layers than
the weights gives random layers, one with fewer drops trained ones. `load_error` looks at
the folder once loading has failed (so a good folder pays nothing); `check_weights_fit`
catches the silent cases from transformers' own loading report.
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from pathlib import Path

from ..errors import RobustestError

# Files a tokenizer is read from (tokenizer_config.json alone is not enough).
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model")
AGAIN = "download or copy it again"
RESTORE = "restore the model's own config.json, or download the model again"


def describe(exc: BaseException) -> str:
    """`Type: first line`, or the size-mismatch line of a state-dict error (its first line
    only says which module)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    line = next((x for x in lines if x.startswith("size mismatch")), lines[0] if lines else "")
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def weight_files(model_dir: Path) -> list[str]:
    return sorted(p.name for p in [*model_dir.glob("*.safetensors"), *model_dir.glob("pytorch_model*.bin")])


def missing_parts(model_dir: Path) -> list[str]:
    missing = []
    if not weight_files(model_dir):
        missing.append("weights (model.safetensors or pytorch_model.bin)")
    if not any((model_dir / name).exists() for name in TOKENIZER_FILES):
        missing.append("tokenizer files (tokenizer.json, vocab.txt, tokenizer.model, ...)")
    return missing


def damaged_safetensors(model_dir: Path) -> tuple[str, str] | None:
    """(file, why) for the first .safetensors file whose header does not read; headers only."""
    from safetensors import safe_open

    for path in sorted(model_dir.glob("*.safetensors")):
        try:
            with safe_open(str(path), "np"):
                pass
        except Exception as exc:  # SafetensorError, OSError: the file is what is wrong
            return path.name, describe(exc)
    return None


def gguf_damage(path: Path) -> str | None:
    """Why the GGUF file does not parse, or None (also when the gguf package is missing)."""
    try:
        from gguf import GGUFReader
    except ImportError:
        return None
    try:
        GGUFReader(str(path))
    except Exception as exc:  # ValueError and friends from a cut or foreign file
        return describe(exc)
    return None


def load_error(model_dir: Path, gguf_file: str | None, part: str, exc: BaseException) -> RobustestError:
    """One line for a failure to load the `part` ("tokenizer" or "model") of a folder."""
    detail = describe(exc)
    if isinstance(exc, ImportError):
        return RobustestError(f"cannot load the {part} in {model_dir}: a package it needs is not installed ({detail}); install it")
    if gguf_file:
        path = model_dir / gguf_file
        damage = gguf_damage(path)
        if damage:
            return RobustestError(f"{path} is not a complete GGUF file ({damage}; {path.stat().st_size:,} bytes); it is truncated or corrupt: {AGAIN}")
        return RobustestError(
            f"cannot load the {part} of {path} ({detail}); transformers' GGUF support may not cover its "
            "architecture or quantisation: pass the original (safetensors) model folder instead"
        )
    missing = missing_parts(model_dir)
    if missing:
        return RobustestError(f"{model_dir} is not a complete model folder: it has no {' and no '.join(missing)}; copy the whole folder of the original model")
    if part == "tokenizer":
        present = [name for name in TOKENIZER_FILES if (model_dir / name).exists()]
        return RobustestError(f"cannot load the tokenizer in {model_dir} from {', '.join(present)} ({detail}); copy the tokenizer files again from the original model")
    damaged = damaged_safetensors(model_dir)
    if damaged:
        return RobustestError(f"{model_dir / damaged[0]} is damaged ({damaged[1]}); it is truncated or corrupt: {AGAIN}")
    return RobustestError(
        f"cannot load {', '.join(weight_files(model_dir))} in {model_dir} with its config.json ({detail}); "
        f"the config does not fit the weights: {RESTORE}"
    )


def layer_pattern(name: str) -> str:
    return re.sub(r"\.\d+\.", ".#.", name)


def check_weights_fit(model, info: dict, model_dir: Path, gguf_file: str | None) -> None:
    """Fail when the weights leave part of the model random, or hold layers it dropped.

    A missing pooler is fine: robustest pools the token states itself. Unexpected tensors
    that are not the model's own kind (a task head such as lm_head) are fine too."""
    source = str(model_dir / gguf_file) if gguf_file else f"{', '.join(weight_files(model_dir))} in {model_dir}"
    fix = "transformers' GGUF support does not cover this file fully: pass the original model folder" if gguf_file else f"config.json does not fit the weights: {RESTORE}"
    missing = [k for k in info.get("missing_keys", ()) if not k.startswith("pooler.")]
    if missing:
        raise RobustestError(f"{len(missing)} tensors of the model are not in {source} (e.g. {missing[0]}) and would be random; {fix}")
    own = {layer_pattern(name) for name, _ in model.named_parameters()}
    unused = [k for k in info.get("unexpected_keys", ()) if layer_pattern(k) in own]
    if unused:
        raise RobustestError(f"{len(unused)} tensors of {source} have no place in the model (e.g. {unused[0]}) and would be ignored; {fix}")


@contextmanager
def quiet_weight_report():
    """transformers logs missing and unexpected weights as a long warning; `check_weights_fit`
    says what matters about them in one line. A filter, not a level: transformers runs extra
    checks (and warns more) when its logger's level is raised."""
    logger = logging.getLogger("transformers.modeling_utils")
    report = WeightReportFilter()
    logger.addFilter(report)
    try:
        yield
    finally:
        logger.removeFilter(report)


class WeightReportFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Some weights of")
