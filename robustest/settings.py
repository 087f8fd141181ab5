"""Every robustest setting in one table: its command-line option, ini key, default and parser.

The pytest plugin registers each as `--name` and as the ini key `robustest_name`
(pyproject.toml `[tool.pytest.ini_options]`, pytest.ini, ...); the command line wins over the
ini file, which wins over the default. Parsers run at the door and raise `RobustestError`
naming the option and the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from .errors import RobustestError


def parse_positive_int(value: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise ValueError(f"{value!r} must be at least 1")
    return number


def parse_bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not true/false")


def parse_choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return parse


def parse_optional_bool(value: str) -> bool | None:
    return None if str(value).strip().lower() == "auto" else parse_bool(value)


def parse_measure_list(value: str) -> tuple[str, ...]:
    from .metrics import parse_measures

    names = tuple(v.strip() for v in str(value).split(",") if v.strip())
    if not names:
        raise ValueError("no measure given")
    parse_measures(names)
    return names


def parse_floor(value: str) -> tuple[str, float] | None:
    """`0.3` (for the first measure) or `nDCG@10:0.3`; `none` for no floor."""
    text = str(value).strip()
    if text.lower() in ("", "none"):
        return None
    measure, _, number = text.rpartition(":")
    try:
        return (measure or "", float(number))
    except ValueError:
        raise ValueError(f"{value!r} is not a number or MEASURE:NUMBER, e.g. nDCG@10:0.3") from None


def parse_optional_float(value: str) -> float | None:
    """A number, or none/off for no value (an optional gate that is off)."""
    text = str(value).strip().lower()
    if text in ("", "none", "off"):
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a number (or none)") from None


def parse_tolerance(value: str) -> float:
    """0.02 or 2%: a fraction of drop rate or of the clean score."""
    text = str(value).strip()
    try:
        number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a number such as 0.02 or 2%") from None
    if not 0 <= number < 1:
        raise ValueError(f"{value!r} must be at least 0 and below 1 (100%)")
    return number


def parse_device(value: str) -> str:
    """Syntax only, at the door; whether that device exists is checked when the model loads."""
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", str(value)):
        raise ValueError(f"{value!r} is not a device; use auto, cpu, cuda, cuda:N or mps")
    return str(value)


def _lazy(name: str) -> Callable[[str], Any]:
    """A parser from families.py, imported on use (it pulls in the perturbation package)."""

    def parse(value: str) -> Any:
        from . import families

        return getattr(families, name)(value)

    parse.__name__ = name
    return parse


def text(value: str) -> str:
    return str(value)


def argparse_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse` as an argparse type: its message, not argparse's generic one, reaches the user."""
    import argparse

    def convert(value):
        try:
            return parse(value)
        except (ValueError, RobustestError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


@dataclass(frozen=True)
class Setting:
    name: str  # attribute name; the option is --name-with-dashes, the ini key robustest_name
    default: Any
    help: str
    parse: Callable[[str], Any] = text
    flag: bool = False  # a switch: --name sets True
    metavar: str | None = None

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def ini_key(self) -> str:
        return self.name if self.name.startswith("robustest_") else "robustest_" + self.name


SETTINGS = (
    Setting("retriever", "default", "retriever under test: default, bm25, a preset, a model folder or .gguf, module:factory, or a Hugging Face id", metavar="ID"),
    Setting("dataset", "default", "test collection: default (embedded WordNet senses), a BEIR folder, or irds:<ir_datasets id>", metavar="PATH"),
    Setting("split", "test", "qrels split of the dataset (qrels/<split>.tsv)", metavar="NAME"),
    Setting("device", "auto", "device for encoding: auto (CUDA when present), cpu, cuda, cuda:N", parse_device, metavar="DEVICE"),
    Setting("dtype", "auto", "model dtype: auto (float32 on CPU, bfloat16/float16 on GPU), float32, bfloat16, float16", parse_choice("auto", "float32", "bfloat16", "float16")),
    Setting("batch_size", 32, "texts per forward pass", parse_positive_int, metavar="N"),
    Setting("pooling", None, "override pooling: mean, cls, last, max, mean_no_prompt", parse_choice("mean", "cls", "last", "max", "mean_no_prompt")),
    Setting("max_length", None, "override the maximum tokens per text", parse_positive_int, metavar="N"),
    Setting("cache_dir", None, "where corpus embeddings and built datasets are cached (default: ROBUSTEST_CACHE_DIR or the user cache dir)", metavar="DIR"),
    Setting("no_cache", False, "do not read or write the embedding cache", parse_bool, flag=True),
    Setting("max_queries", None, "evaluate at most N queries, a fixed subsample chosen by query id", parse_positive_int, metavar="N"),
    Setting("top_k", 1000, "documents retrieved per query", parse_positive_int, metavar="K"),
    Setting("measures", ("nDCG@10", "R@100", "RR@10"), "comma-separated ir-measures measures to report; the first is the headline", parse_measure_list, metavar="LIST"),
    Setting("exclude_self_matches", None, "drop a retrieved document whose id equals the query id (BEIR convention): auto (on for BEIR data), yes, no", parse_optional_bool, metavar="auto|yes|no"),
    Setting("effectiveness_floor", None, "fail the effectiveness suite below this score: 0.3 (headline measure) or nDCG@10:0.3", parse_floor, metavar="FLOOR"),
    Setting("allow_download", False, "let the retriever be downloaded from the Hugging Face hub (HF_HUB_OFFLINE still wins)", parse_bool, flag=True),
    Setting("faiss_gpu", False, "search on the GPU (needs a FAISS GPU build)", parse_bool, flag=True),
    Setting("seeds", None, "perturbation seeds for every family (default: the paper's 1999,5,27,2016,2026)", _lazy("parse_seeds"), metavar="LIST"),
    Setting("thresholds", None, "gate thresholds on the drop rate, e.g. misspelling=0.2,reordering=0.05 (defaults: see README)", _lazy("parse_thresholds"), metavar="LIST"),
    Setting("family_set", None, "per-family settings, e.g. misspelling.k=20,reordering.measure=RR@10 (keys as in [tool.robustest.<family>])", _lazy("parse_family_set"), metavar="LIST"),
    Setting("inconclusive", "pass", "what an inconclusive gate does: pass (with a warning) or fail", parse_choice("pass", "fail")),
    Setting("properties", "report", "property searches: report counterexamples (xfail) or strict (fail)", parse_choice("report", "strict")),
    Setting("synonym_guard", 0.7, "synonymizing keeps a variant only if the embedded MiniLM gives it cosine >= this with the original (the paper: USE >= 0.7); off to disable", _lazy("parse_guard"), metavar="COS|off"),
    Setting("paraphraser", None, "local seq2seq model folder for the paraphrasing family", metavar="PATH"),
    Setting("poison_passages", None, "corpus poisoning: adversarial passages injected per seed (N), one gate per number (default 10; the paper: 10,50)", _lazy("parse_passages"), metavar="LIST"),
    Setting("poison_length", None, "corpus poisoning: tokens per adversarial passage (L, default 50)", parse_positive_int, metavar="N"),
    Setting("poison_iterations", None, "corpus poisoning: HotFlip iterations per passage (default 30, CPU-sized; the paper: 5000)", _lazy("parse_iterations"), metavar="N"),
    Setting("poison_pool", None, "corpus poisoning: HotFlip candidates encoded per iteration (default 20; the paper: 100)", parse_positive_int, metavar="N"),
    Setting("poison_seeds", None, "corpus poisoning: attack seeds, each a full attack (default 1999,5)", _lazy("parse_seeds"), metavar="LIST"),
    Setting("poison_threshold", None, "corpus poisoning: the gate's maximum ASR@20, a share of the test queries (default 0.3)", _lazy("parse_rate"), metavar="ASR"),
    Setting("robustest_save", None, "write the run's results to this JSON file", metavar="PATH"),
    Setting("baseline", None, "gate against this saved run (--robustest-save of an earlier checkpoint): same variant texts, paired comparison", metavar="RUN.json"),
    Setting("compare_to", None, "gate against a second retriever measured in this session (any --retriever value)", metavar="ID"),
    Setting("regression_tolerance", 0.02, "how much worse than the baseline passes: drop-rate points and clean-score points, as a fraction (0.02) or percent (2%)", parse_tolerance, metavar="T"),
    Setting("geometry_sample", 2000, "geometry suite: corpus embeddings sampled (seeded) for IsoScore, average cosine and uniformity", parse_positive_int, metavar="N"),
    Setting("geometry_max_average_cosine", None, "geometry suite: fail when the average cosine of random document pairs exceeds this (off by default)", parse_optional_float, metavar="COS"),
    Setting("geometry_min_isoscore", None, "geometry suite: fail when the IsoScore of the corpus embeddings is below this (off by default)", parse_optional_float, metavar="ISO"),
    Setting("robustest_html", None, "write an HTML report of the run (tables and plots, one self-contained file) to this path", metavar="PATH"),
)
BY_NAME = {s.name: s for s in SETTINGS}


def resolve_settings(cli: dict[str, Any], ini: dict[str, str]) -> dict[str, Any]:
    """Command line, then ini file, then default; ini values are parsed here, CLI values by argparse."""
    values = {}
    for setting in SETTINGS:
        value = cli.get(setting.name)
        if value is None:
            raw = ini.get(setting.name)
            if raw:
                try:
                    value = setting.parse(raw)
                except (ValueError, RobustestError) as exc:
                    raise RobustestError(f"ini key {setting.ini_key} = {raw!r}: {exc}") from None
        values[setting.name] = setting.default if value is None else value
    return values
