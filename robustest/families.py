"""Per-family gate settings: defaults, then `[tool.robustest.<family>]` in pyproject.toml,
then the command line.

A gate asserts: the drop rate of the measure, (clean - perturbed) / clean averaged over the
seeds, is at most `threshold`, judged on a paired bootstrap CI (pass / fail / inconclusive).

Why these default thresholds (policy, not measurements of any one model):
- misspelling 0.20: the paper's typos touch ~10% of the words; retrievers trained without
  noise commonly lose 10-30% of nDCG@10 on BEIR under such typos (Penha et al. 2022), so
  losing more than a fifth marks a retriever as fragile rather than ordinary.
- synonymizing 0.15, paraphrasing 0.20: WordNet synonyms (even behind the semantic guard)
  and generated paraphrases do not
  always keep the sense, so part of any drop is the perturbation's fault, not the model's.
- reordering 0.05: swapping two words rarely changes what is asked; a bag-of-words model
  loses nothing, so a dense model should lose little.
- naturalizing 0.10: dropping stopwords and case turns questions into keyword queries, a
  shift in style that real users make all the time.
- case, punctuation, whitespace 0.05: meaning-preserving surface noise.
- poisoning 0.30 (ASR@20, not a drop rate): with N = 10 adversarial passages injected (0.2%
  of the default collection), at most 30% of unseen test queries may find one in their top 20.
  Relevant text chosen with no attack (the random-gold control) reaches ~1% there, and an
  attacker with no model access who pastes the queries they have seen (query copy) ~25% on
  all-MiniLM-L6-v2: a white-box attack clearly beyond that marks a retriever that is easy to
  poison. The CPU default runs 30 HotFlip iterations, a weak attacker (the paper: 5,000), so
  passing is necessary, not sufficient; raise `iterations` where there is time or a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from .errors import RobustestError
from .perturb.protocol import PAPER_SEEDS

PAPER_FAMILIES = ("misspelling", "reordering", "synonymizing", "paraphrasing", "naturalizing")
NOISE_FAMILIES = ("case", "punctuation", "whitespace")
DEFAULT_THRESHOLDS = {
    "misspelling": 0.20,
    "reordering": 0.05,
    "synonymizing": 0.15,
    "paraphrasing": 0.20,
    "naturalizing": 0.10,
    "case": 0.05,
    "punctuation": 0.05,
    "whitespace": 0.05,
    "poisoning": 0.30,
}
# Corpus poisoning's own keys ([tool.robustest.poisoning], --family-set=poisoning.KEY=VALUE),
# with defaults sized for a CPU: `pytest suites/` finishes in a few minutes on the default
# collection. The paper: passages 10 and 50, tokens 50, pool 100, iterations 5000.
POISONING_DEFAULTS: dict[str, Any] = {
    "passages": (10,),  # adversarial passages per seed (N); one gate per N
    "tokens": 50,  # length of each passage (L)
    "iterations": 30,  # HotFlip iterations per passage
    "pool": 20,  # HotFlip candidates evaluated per iteration
    "attacks": ("hotflip", "query_copy", "keyword_stuffing", "random_gold"),  # measured and reported
    "gated": ("hotflip",),  # attacks with an ASR gate
    "train_split": "train",  # the attacker's queries: this split when the dataset has it...
    "train_fraction": 0.5,  # ...else this share of the judged queries (the rest is attacked)
}
POISONING_SEEDS = (1999, 5)  # each seed is a full attack; more seeds on a GPU
POISONING_K = 20  # the gate's ASR@k


@dataclass(frozen=True)
class FamilyConfig:
    family: str
    threshold: float
    measure: str = "nDCG@10"
    seeds: tuple[int, ...] = PAPER_SEEDS
    k: int = 10  # property tests: a relevant document in the clean top k must stay there
    max_edits: int = 1  # property tests: edits per variant
    confidence: float = 0.95
    extra: dict[str, Any] = field(default_factory=dict)


KEYS = {"threshold": float, "measure": str, "seeds": tuple, "k": int, "max_edits": int, "confidence": float}
FAMILY_KEYS = {"poisoning": {"passages": "ints", "tokens": int, "iterations": int, "pool": int, "attacks": "strs", "gated": "strs", "train_split": str, "train_fraction": float}}


def family_configs(table: Mapping[str, Any], *, seeds=None, thresholds=None) -> dict[str, FamilyConfig]:
    """Defaults, overridden by the `[tool.robustest]` table (top-level keys apply to every
    family, `[tool.robustest.<family>]` to one), overridden by command-line values."""
    common = {k: v for k, v in table.items() if not isinstance(v, dict)}
    unknown = set(common) - set(KEYS)
    unknown |= {k for k, v in table.items() if isinstance(v, dict) and k not in DEFAULT_THRESHOLDS}
    if unknown:
        raise RobustestError(
            f"[tool.robustest] has unknown key(s) {', '.join(sorted(unknown))}; "
            f"use {', '.join(KEYS)} or a family table ({', '.join(DEFAULT_THRESHOLDS)})"
        )
    configs = {}
    for family, threshold in DEFAULT_THRESHOLDS.items():
        own = dict(table.get(family, {}))
        extra = _checked_extra(family, {k: own.pop(k) for k in list(own) if k in FAMILY_KEYS.get(family, {})})
        defaults = {"seeds": POISONING_SEEDS, "k": POISONING_K} if family == "poisoning" else {}
        values = {"threshold": threshold, **defaults, **_checked(common, "[tool.robustest]"), **_checked(own, f"[tool.robustest.{family}]")}
        config = FamilyConfig(family, **values, extra=extra)
        cli = {"seeds": seeds} if seeds is not None else {}
        if thresholds and family in thresholds:
            cli["threshold"] = thresholds[family]
        configs[family] = replace(config, **cli)
    return configs


def _checked(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if key not in KEYS:
            family = where.rpartition(".")[2].rstrip("]")
            raise RobustestError(f"{where}: unknown key {key!r}; use {', '.join([*KEYS, *FAMILY_KEYS.get(family, ())])}")
        try:
            out[key] = tuple(int(v) for v in value) if KEYS[key] is tuple else KEYS[key](value)
        except (TypeError, ValueError):
            raise RobustestError(f"{where}: {key} = {value!r} is not a valid {KEYS[key].__name__}") from None
    if "confidence" in out and not 0 < out["confidence"] < 1:
        raise RobustestError(f"{where}: confidence = {out['confidence']} must be between 0 and 1")
    return out


def _checked_extra(family: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """A family's own keys (poisoning's passages, iterations, ...) over its defaults."""
    if family != "poisoning":
        return {}
    out = dict(POISONING_DEFAULTS)
    where = f"[tool.robustest.{family}]"
    for key, value in values.items():
        kind = FAMILY_KEYS[family][key]
        try:
            if kind == "ints":
                out[key] = tuple(int(v) for v in ([value] if isinstance(value, (int, str)) else value))
            elif kind == "strs":
                out[key] = tuple(str(v) for v in ([value] if isinstance(value, str) else value))
            else:
                out[key] = kind(value)
        except (TypeError, ValueError):
            raise RobustestError(f"{where}: {key} = {value!r} is not valid ({'whole numbers' if kind == 'ints' else getattr(kind, '__name__', kind)})") from None
    from .attacks.poisoning import ATTACKS

    for key in ("attacks", "gated"):
        unknown = [a for a in out[key] if a not in ATTACKS]
        if unknown:
            raise RobustestError(f"{where}: {key} names unknown attack(s) {', '.join(unknown)}; use {', '.join(ATTACKS)}")
    if not out["passages"] or min(out["passages"]) < 1:
        raise RobustestError(f"{where}: passages = {list(out['passages'])} must be one or more positive numbers, e.g. [10, 50]")
    for key in ("tokens", "pool"):
        if out[key] < 1:
            raise RobustestError(f"{where}: {key} = {out[key]} must be at least 1")
    if out["iterations"] < 0:
        raise RobustestError(f"{where}: iterations = {out['iterations']} must be 0 or more")
    if not 0 < out["train_fraction"] < 1:
        raise RobustestError(f"{where}: train_fraction = {out['train_fraction']} must be between 0 and 1")
    return out


def parse_thresholds(value: str) -> dict[str, float]:
    """`misspelling=0.2,reordering=0.05`."""
    out = {}
    for part in str(value).split(","):
        family, _, number = part.strip().partition("=")
        if family not in DEFAULT_THRESHOLDS:
            raise ValueError(f"{family!r} is not a family ({', '.join(DEFAULT_THRESHOLDS)})")
        try:
            out[family] = float(number)
        except ValueError:
            raise ValueError(f"{part!r}: write FAMILY=NUMBER, e.g. misspelling=0.2") from None
    return out


def parse_seeds(value: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(v) for v in str(value).split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a comma-separated list of integers, e.g. 1999,5,27") from None
    if not seeds:
        raise ValueError("no seed given")
    return seeds


def parse_guard(value: str) -> float | None:
    if str(value).strip().lower() in ("off", "none", "no"):
        return None
    try:
        threshold = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a cosine in [-1, 1] or 'off'") from None
    if not -1 <= threshold <= 1:
        raise ValueError(f"{value!r} is not a cosine in [-1, 1] or 'off'")
    return threshold


def parse_family_set(value: str) -> dict[str, dict[str, Any]]:
    """`misspelling.k=20,reordering.measure=RR@10,case.seeds=1/2`: per-family settings from the
    command line, in the shape of `[tool.robustest.<family>]` (checked by `family_configs`)."""
    table: dict[str, dict[str, Any]] = {}
    for part in str(value).split(","):
        name, _, raw = part.strip().partition("=")
        family, _, key = name.partition(".")
        if not raw or not key:
            raise ValueError(f"{part!r}: write FAMILY.KEY=VALUE, e.g. misspelling.k=20")
        if family not in DEFAULT_THRESHOLDS:
            raise ValueError(f"{family!r} is not a family ({', '.join(DEFAULT_THRESHOLDS)})")
        many = key == "seeds" or FAMILY_KEYS.get(family, {}).get(key) in ("ints", "strs")
        table.setdefault(family, {})[key] = raw.split("/") if many else raw
    return table


def merge_tables(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
    return merged


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


def parse_rate(value: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number between 0 and 1, e.g. 0.3") from None
    if not 0 <= number <= 1:
        raise ValueError(f"{value!r} must be between 0 and 1 (a share of the test queries)")
    return number


# --poison-* option (settings.py) -> poisoning key
POISON_OPTIONS = {"poison_passages": "passages", "poison_length": "tokens", "poison_iterations": "iterations", "poison_pool": "pool"}


def poisoning_config(config: FamilyConfig, settings: Mapping[str, Any]) -> FamilyConfig:
    """The poisoning config with the `--poison-*` options (command line or ini) applied: they
    win over `[tool.robustest.poisoning]`, `--family-set` and `--seeds`/`--thresholds`."""
    extra = dict(config.extra)
    for option, key in POISON_OPTIONS.items():
        if settings.get(option) is not None:
            extra[key] = settings[option]
    changes: dict[str, Any] = {"extra": extra}
    if settings.get("poison_seeds"):
        changes["seeds"] = tuple(settings["poison_seeds"])
    if settings.get("poison_threshold") is not None:
        changes["threshold"] = float(settings["poison_threshold"])
    return replace(config, **changes)
