"""The families registry (`FAMILIES`): every family robustest gates, in one place, with how
it perturbs, its default threshold, its marker and property search; and the per-family
settings: defaults, then `[tool.robustest.<family>]` in pyproject.toml, then the command line.
A new family is one `Family` entry plus its operator (a sampler in perturb/).

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
from typing import Any, Callable, Mapping

from .errors import RobustestError
from .perturb.protocol import PAPER_SEEDS, Perturbed, Sampler, perturb_queries
from .perturb.synonyms import sample_synonyms
from .perturb.typos import sample_typos
from .perturb.wordops import plan_naturalize, plan_punctuation, sample_case, sample_swap, sample_whitespace

Perturber = Callable[[Mapping[str, str], int], Perturbed]  # (queries, seed) -> one variant per query


class MissingResource(Exception):
    """A family needs something this run does not have (e.g. a paraphrase model)."""


@dataclass(frozen=True)
class Family:
    """One entry of the registry: everything robustest needs to gate and search a family.

    A family perturbs queries either with a `sampler` (query, rng) -> plan, or, when it needs
    a model, with `perturber(settings)` -> (queries, seed) -> Perturbed, built once per run.
    `search` names the Hypothesis strategy in robustest.strategies that the property search
    draws plans from, "variants" to check each variant of the family's run, None for none.
    """

    name: str
    threshold: float  # the default gate: maximum drop rate (poisoning: maximum ASR@k)
    description: str  # the pytest marker's help
    sampler: Sampler | None = None
    perturber: Callable[[Any], Perturber] | None = None
    search: str | None = None
    group: str | None = None  # a second marker shared by related families (noise)
    own_keys: Mapping[str, str] = field(default_factory=dict)  # the family's own config keys -> kind
    own_defaults: Mapping[str, Any] = field(default_factory=dict)  # their defaults (FamilyConfig.extra)
    config_defaults: Mapping[str, Any] = field(default_factory=dict)  # FamilyConfig defaults of its own
    check_keys: Callable[[dict, str], None] | None = None  # validates the family's own keys

    @property
    def perturbs_queries(self) -> bool:
        return self.sampler is not None or self.perturber is not None


class SamplingPerturber:
    """The paper's protocol with one sampler: one variant per query per seed."""

    def __init__(self, family: str, sampler: Sampler, guard=None):
        self.family, self.sampler, self.guard = family, sampler, guard

    def __call__(self, queries: Mapping[str, str], seed: int) -> Perturbed:
        return perturb_queries(queries, self.family, seed, self.sampler)


def guarded_synonyms(settings) -> SamplingPerturber:
    """WordNet swaps kept only if the embedded MiniLM still finds them close to the query
    (the paper: the Universal Sentence Encoder at 0.7); the same guard for every retriever."""
    from .perturb.synonyms import SemanticGuard, wordnet_sampler

    if settings.synonym_guard is None:
        return SamplingPerturber("synonymizing", wordnet_sampler())
    guard = SemanticGuard.default(settings.synonym_guard)
    return SamplingPerturber("synonymizing", guard.wrap(wordnet_sampler()), guard)


def model_paraphrases(settings) -> Perturber:
    if not settings.paraphraser:
        raise MissingResource(
            "paraphrasing needs a local seq2seq model: pass --robustest-paraphraser=PATH (a T5 paraphraser or a translation model)"
        )
    from .perturb.paraphrase import load_paraphraser, perturb_with_paraphraser

    paraphraser = load_paraphraser(settings.paraphraser, device=settings.device)
    return lambda queries, seed: perturb_with_paraphraser(queries, paraphraser, seed)


# Corpus poisoning's own keys ([tool.robustest.poisoning], --robustest-family-set=poisoning.KEY=VALUE),
# with defaults sized for a CPU: `pytest suites/` finishes in a few minutes on the default
# collection. The paper: passages 10 and 50, tokens 50, pool 100, iterations 5000.
ATTACKS = ("hotflip", "query_copy", "keyword_stuffing", "random_gold")  # robustest.attacks implements each
POISONING_DEFAULTS: dict[str, Any] = {
    "passages": (10,),  # adversarial passages per seed (N); one gate per N
    "tokens": 50,  # length of each passage (L)
    "iterations": 30,  # HotFlip iterations per passage
    "pool": 20,  # HotFlip candidates evaluated per iteration
    "attacks": ATTACKS,  # measured and reported
    "gated": ("hotflip",),  # attacks with an ASR gate
    "train_split": "train",  # the attacker's queries: this split when the dataset has it...
    "train_fraction": 0.5,  # ...else this share of the judged queries (the rest is attacked)
}
POISONING_KEYS = {"passages": "ints", "tokens": "int", "iterations": "int", "pool": "int", "attacks": "strs", "gated": "strs", "train_split": "str", "train_fraction": "float"}


def check_poisoning_keys(values: dict, where: str) -> None:
    for key in ("attacks", "gated"):
        unknown = [a for a in values[key] if a not in ATTACKS]
        if unknown:
            raise RobustestError(f"{where}: {key} names unknown attack(s) {', '.join(unknown)}; use {', '.join(ATTACKS)}")
    if not values["passages"] or min(values["passages"]) < 1:
        raise RobustestError(f"{where}: passages = {list(values['passages'])} must be one or more positive numbers, e.g. [10, 50]")
    for key in ("tokens", "pool"):
        if values[key] < 1:
            raise RobustestError(f"{where}: {key} = {values[key]} must be at least 1")
    if values["iterations"] < 0:
        raise RobustestError(f"{where}: iterations = {values['iterations']} must be 0 or more")
    if not 0 < values["train_fraction"] < 1:
        raise RobustestError(f"{where}: train_fraction = {values['train_fraction']} must be between 0 and 1")


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("misspelling", 0.20, "query misspellings (the paper's six character operations)", sample_typos, search="typos"),
        Family("reordering", 0.05, "two words of the query swapped", sample_swap, search="swaps"),
        Family("synonymizing", 0.15, "WordNet synonym swaps", sample_synonyms, perturber=guarded_synonyms, search="synonym_swaps"),
        Family("paraphrasing", 0.20, "model-written paraphrases (needs --robustest-paraphraser)", perturber=model_paraphrases, search="variants"),
        Family("naturalizing", 0.10, "lowercased queries without stopwords", plan_naturalize, search="naturalized"),
        Family("case", 0.05, "the whole query lower-, upper- or title-cased", sample_case, group="noise"),
        Family("punctuation", 0.05, "punctuation removed", plan_punctuation, group="noise"),
        Family("whitespace", 0.05, "a different run of whitespace between two words", sample_whitespace, group="noise"),
        Family(
            "poisoning", 0.30, "corpus poisoning: adversarial passages injected into the corpus (HotFlip, black-box), ASR@k gates",
            own_keys=POISONING_KEYS, own_defaults=POISONING_DEFAULTS, config_defaults={"seeds": (1999, 5), "k": 20},
            check_keys=check_poisoning_keys,
        ),
    )
}
DEFAULT_THRESHOLDS = {name: f.threshold for name, f in FAMILIES.items()}
GROUPS = {"noise": "case, punctuation and whitespace noise"}


def sampler(family: str) -> Sampler:
    """The family's own sampler (the default of `perturb_queries`)."""
    if family not in FAMILIES or FAMILIES[family].sampler is None:
        raise RobustestError(f"{family!r} has no sampler; families with one: {', '.join(n for n, f in FAMILIES.items() if f.sampler)}")
    return FAMILIES[family].sampler


def perturber(family: str, settings) -> Perturber:
    """How a run makes one seed's variants of `family` (may raise MissingResource)."""
    entry = FAMILIES[family]
    return entry.perturber(settings) if entry.perturber else SamplingPerturber(family, entry.sampler)


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
KINDS = {"int": int, "float": float, "str": str}


def family_configs(table: Mapping[str, Any], *, seeds=None, thresholds=None) -> dict[str, FamilyConfig]:
    """Defaults, overridden by the `[tool.robustest]` table (top-level keys apply to every
    family, `[tool.robustest.<family>]` to one), overridden by command-line values."""
    common = {k: v for k, v in table.items() if not isinstance(v, dict)}
    unknown = set(common) - set(KEYS)
    unknown |= {k for k, v in table.items() if isinstance(v, dict) and k not in FAMILIES}
    if unknown:
        raise RobustestError(
            f"[tool.robustest] has unknown key(s) {', '.join(sorted(unknown))}; "
            f"use {', '.join(KEYS)} or a family table ({', '.join(FAMILIES)})"
        )
    configs = {}
    for name, entry in FAMILIES.items():
        own = dict(table.get(name, {}))
        extra = _checked_extra(entry, {k: own.pop(k) for k in list(own) if k in entry.own_keys})
        values = {"threshold": entry.threshold, **entry.config_defaults, **_checked(common, "[tool.robustest]"), **_checked(own, f"[tool.robustest.{name}]")}
        config = FamilyConfig(name, **values, extra=extra)
        cli = {"seeds": seeds} if seeds is not None else {}
        if thresholds and name in thresholds:
            cli["threshold"] = thresholds[name]
        configs[name] = replace(config, **cli)
    return configs


def _checked(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if key not in KEYS:
            family = where.rpartition(".")[2].rstrip("]")
            own = FAMILIES[family].own_keys if family in FAMILIES else {}
            raise RobustestError(f"{where}: unknown key {key!r}; use {', '.join([*KEYS, *own])}")
        try:
            out[key] = tuple(int(v) for v in value) if KEYS[key] is tuple else KEYS[key](value)
        except (TypeError, ValueError):
            raise RobustestError(f"{where}: {key} = {value!r} is not a valid {KEYS[key].__name__}") from None
    if "confidence" in out and not 0 < out["confidence"] < 1:
        raise RobustestError(f"{where}: confidence = {out['confidence']} must be between 0 and 1")
    return out


def _checked_extra(entry: Family, values: Mapping[str, Any]) -> dict[str, Any]:
    """A family's own keys (poisoning's passages, iterations, ...) over its defaults."""
    if not entry.own_keys:
        return {}
    out = dict(entry.own_defaults)
    where = f"[tool.robustest.{entry.name}]"
    for key, value in values.items():
        kind = entry.own_keys[key]
        try:
            if kind == "ints":
                out[key] = tuple(int(v) for v in ([value] if isinstance(value, (int, str)) else value))
            elif kind == "strs":
                out[key] = tuple(str(v) for v in ([value] if isinstance(value, str) else value))
            else:
                out[key] = KINDS[kind](value)
        except (TypeError, ValueError):
            raise RobustestError(f"{where}: {key} = {value!r} is not valid ({'whole numbers' if kind == 'ints' else kind})") from None
    if entry.check_keys:
        entry.check_keys(out, where)
    return out


def parse_thresholds(value: str) -> dict[str, float]:
    """`misspelling=0.2,reordering=0.05`."""
    out = {}
    for part in str(value).split(","):
        family, _, number = part.strip().partition("=")
        if family not in FAMILIES:
            raise ValueError(f"{family!r} is not a family ({', '.join(FAMILIES)})")
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
        if family not in FAMILIES:
            raise ValueError(f"{family!r} is not a family ({', '.join(FAMILIES)})")
        many = key == "seeds" or FAMILIES[family].own_keys.get(key) in ("ints", "strs")
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


# --robustest-poison-* option (a Settings field) -> poisoning key
POISON_OPTIONS = {"poison_passages": "passages", "poison_length": "tokens", "poison_iterations": "iterations", "poison_pool": "pool"}


def poisoning_config(config: FamilyConfig, settings) -> FamilyConfig:
    """The poisoning config with the `--robustest-poison-*` options (command line or ini)
    applied: they win over `[tool.robustest.poisoning]`, `--robustest-family-set` and
    `--robustest-seeds`/`--robustest-thresholds`."""
    extra = dict(config.extra)
    for option, key in POISON_OPTIONS.items():
        if getattr(settings, option) is not None:
            extra[key] = getattr(settings, option)
    changes: dict[str, Any] = {"extra": extra}
    if settings.poison_seeds:
        changes["seeds"] = tuple(settings.poison_seeds)
    if settings.poison_threshold is not None:
        changes["threshold"] = float(settings.poison_threshold)
    return replace(config, **changes)
