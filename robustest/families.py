"""The families registry (`FAMILIES`): every family robustest gates, in one place, with how
it perturbs, its default threshold, its marker and its worst-case neighbourhood. A new family
is one `Family` entry plus its operator (a sampler in perturb/). Its settings (defaults, then
`[tool.robustest.<family>]`, then the command line) are read by family_config.py; the models
some families perturb with load in perturb/loaders.py; poisoning's own keys are in
poisoning_config.py.

A gate asserts: the drop rate of the measure, (clean - perturbed) / clean averaged over the
seeds, is at most `threshold`, judged on a paired bootstrap CI (pass / fail / inconclusive).

Why these default thresholds (policy, not measurements of any one model):
- misspelling 0.20: the paper's typos touch ~10% of the words; retrievers trained without
  noise commonly lose 10-30% of nDCG@10 on BEIR under such typos (Penha et al. 2022), so
  losing more than a fifth marks a retriever as fragile rather than ordinary.
- synonymizing 0.15, paraphrasing 0.20: WordNet synonyms (even behind the semantic guard)
  and generated paraphrases do not
  always keep the sense, so part of any drop is the perturbation's fault, not the model's.
- human_misspelling 0.20: as misspelling, the same share of words changed; only the errors differ.
- reordering 0.05: swapping two words rarely changes what is asked; a bag-of-words model
  loses nothing, so a dense model should lose little.
- naturalizing 0.10: dropping stopwords and case turns questions into keyword queries, a
  shift in style that real users make all the time.
- case, punctuation, whitespace 0.05: meaning-preserving surface noise.
- document_prompt 0.10: as for a missing query prompt, on the document side.
- documents group (the judged documents changed, the queries not): OCR confusions on ~3% of the
  letters and human misspellings on ~10% of the words, 0.10 (a document says things redundantly,
  but its misspelt terms no longer match the query's); boilerplate put in front, 0.05 (nothing
  is lost); truncation to 64 words, 0.20 (content is lost, as a chunker loses it; what a
  retriever should keep is what the first words say).
- instruction families (the query prompt varies, the query does not): a reworded, misspelt or
  reformatted instruction says the same thing, 0.05; no prompt at all, or the generic web-search
  instruction in place of the task's, 0.10 (Qwen3-Embedding-0.6B loses ~7% of nDCG@10 on SCIDOCS
  without its prompts, as MTEB users report); another task's instruction is a real mistake that
  a model should survive with moderate loss, 0.15.
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
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Callable, Mapping

from . import family_config
from .errors import RobustestError
from .document_noise import DEFAULT_TOKENS, DocumentNoise, boilerplate, doc_typos, ocr_noise, truncation
from .document_prompt import DOCUMENTS_KEY, DocumentPromptFamily
from .family_config import KEYS, FamilyConfig, parse_measure
from .perturb.instructions import (
    InstructionPerturber, format_drift, generic_instruction, misspelt_instruction, other_task_instruction, remove_instruction, reworded_instruction,
)
from .perturb.human_typos import one_human_typo_plans, sample_human_typos
from .perturb.loaders import MissingResource, guarded_synonyms, human_misspellings, instruction_rewriter, model_paraphrases, require_human_model
from .perturb.protocol import Perturber, Sampler, SamplingPerturber
from .perturb.synonyms import one_synonym_plans, sample_synonyms
from .perturb.typos import one_typo_plans, sample_typos
from .perturb.wordops import case_plans, plan_naturalize, plan_punctuation, sample_case, sample_swap, sample_whitespace, swap_plans, whitespace_plans
from .poisoning_config import POISONING_DEFAULTS, POISONING_KEYS, check_poisoning_keys
from .settings import parse_fraction


@dataclass(frozen=True)
class Family:
    """One entry of the registry: everything robustest needs to gate and search a family.

    A family perturbs queries either with a `sampler(query, rng) -> plan`, or, when it needs
    a model, with `perturber(settings)` -> (queries, seed) -> Perturbed, built once per run.
    An instruction family perturbs the query prompt instead, with `instruction(prompt, rng) ->
    InstructionEdit` (robustest.perturb.instructions), the query text unchanged.
    A plan is a frozen value with a pure `apply(query) -> str` and `describe(query) -> str`;
    a sampler raises `robustest.perturb.NoLegalEdit` for a query it cannot change.
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
    instruction: Callable[[Any, Any], Any] | None = None  # (QueryPrompt, rng) -> InstructionEdit: perturbs the query prompt
    documents: Any = None  # a family measured on changed documents (document_prompt.DocumentPromptFamily)
    opt_in: bool = False  # it encodes documents: it runs only when -m names it or its group (or check(families=...) does)
    neighbours: Callable[[str], Any] | None = None  # every plan one edit away, simplest first (worst_case.py)
    group: str | None = None  # a second marker shared by related families (noise)
    own_keys: Mapping[str, str] = field(default_factory=dict)  # the family's own config keys -> kind
    own_defaults: Mapping[str, Any] = field(default_factory=dict)  # their defaults (FamilyConfig.extra)
    config_defaults: Mapping[str, Any] = field(default_factory=dict)  # FamilyConfig defaults of its own
    check_keys: Callable[[dict, str], None] | None = None  # validates the family's own keys

    @property
    def perturbs_queries(self) -> bool:
        return self.sampler is not None or self.perturber is not None or self.instruction is not None

    @property
    def gated(self) -> bool:
        """It has a drop-rate gate: it perturbs queries, their prompt, or the documents."""
        return self.perturbs_queries or self.documents is not None

    @property
    def model_written(self) -> bool:
        """Its variants come from a model (a perturber and no sampler): they cannot be
        enumerated or searched, so the suites check each variant of a run instead."""
        return self.sampler is None and self.perturber is not None

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


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "misspelling", sample_typos, threshold=0.20, description="query misspellings (the paper's six character operations)",
            neighbours=one_typo_plans,
        ),
        Family(
            "human_misspelling", sample_human_typos, threshold=0.20, perturber=human_misspellings, neighbours=one_human_typo_plans,
            description="query misspellings people make (real ones where a list has the word, else vowel, doubling, omission, real-word... errors)",
        ),
        Family("reordering", sample_swap, threshold=0.05, description="two words of the query swapped", neighbours=swap_plans),
        Family(
            "synonymizing", sample_synonyms, threshold=0.15, description="WordNet synonym swaps", perturber=guarded_synonyms,
            neighbours=one_synonym_plans,
        ),
        Family("paraphrasing", threshold=0.20, description="model-written paraphrases (--robustest-paraphraser; default SmolLM2-135M-Instruct)", perturber=model_paraphrases),
        Family("naturalizing", plan_naturalize, threshold=0.10, description="lowercased queries without stopwords", neighbours=lambda q: [plan_naturalize(q)]),
        Family("case", sample_case, threshold=0.05, description="the whole query lower-, upper- or title-cased", group="noise", neighbours=case_plans),
        Family("punctuation", plan_punctuation, threshold=0.05, description="punctuation removed", group="noise", neighbours=lambda q: [plan_punctuation(q)]),
        Family(
            "whitespace", sample_whitespace, threshold=0.05, description="a different run of whitespace between two words", group="noise",
            # Four fills per gap, and most tokenizers read every one the same: a small sample does.
            neighbours=whitespace_plans, config_defaults={"worst_case_neighbours": 8},
        ),
        *(
            Family(name, instruction=sample, threshold=threshold, description=f"query prompt: {about}", group="instruction")
            for name, sample, threshold, about in (
                ("instruction_removed", remove_instruction, 0.10, "none at all, the query alone"),
                ("instruction_generic", generic_instruction, 0.10, "the generic web-search instruction in place of the task's"),
                ("instruction_other_task", other_task_instruction, 0.15, "another task's instruction (BEIR, BRIGHT)"),
                ("instruction_reworded", reworded_instruction, 0.05, "the instruction reworded (templates; the paraphraser's when there is one)"),
                ("instruction_misspelling", misspelt_instruction, 0.05, "the instruction misspelt (the misspelling family's operators)"),
                ("instruction_format", format_drift, 0.05, "format drift: labels dropped or renamed, newlines, the space before the query"),
            )
        ),
        Family(
            "document_prompt", documents=DocumentPromptFamily(), threshold=0.10, group="instruction",
            description="the documents encoded again without the model's document prompt (the corpus, or `documents = N` of it)",
            own_keys=DOCUMENTS_KEY, own_defaults={"documents": 0},
        ),
        *(
            Family(name, documents=DocumentNoise(perturb, needs), threshold=threshold, group="documents", description=about, opt_in=True,
                   own_keys={**DOCUMENTS_KEY, **own}, own_defaults={"documents": 0, **{k: DEFAULT_TOKENS for k in own}})
            for name, perturb, needs, threshold, own, about in (
                ("ocr_noise", ocr_noise, None, 0.10, {}, "the judged documents with OCR character confusions (rn -> m, l -> 1, e -> c, ...)"),
                ("doc_typos", doc_typos, require_human_model, 0.10, {}, "the judged documents misspelt as people misspell (the human_misspelling model)"),
                ("truncation", truncation, None, 0.20, {"tokens": "int"}, "the judged documents cut to their first `tokens` words (64), as a chunker would"),
                ("boilerplate", boilerplate, None, 0.05, {}, "navigation or cookie-banner text put before the judged documents"),
            )
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
GROUPS = {
    "noise": "case, punctuation and whitespace noise",
    "instruction": "the query prompt perturbed, not the query (instruction-tuned retrievers)",
    "documents": "noise on the judged documents (OCR, typos, truncation, boilerplate), the queries as they are",
}
# Names a family cannot take: the plugin's other markers and the config keys of every family.
RESERVED = {"robustest", "geometry", "robustest_property", "robustest_reference", *GROUPS}
_REGISTERED_BY: dict[str, str] = {}  # custom family -> the module that registered it
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def register_family(family: Family, *, replace: bool = False) -> Family:
    """Add `family` to the registry, beside the built-ins and treated exactly like them: its
    gate in the shipped suites (`robustness.gate(name)`), its `-m` marker, its threshold in
    `--robustest-thresholds` and `[tool.robustest.<name>]`, the seeds, the summary, Holm, the
    run file, the HTML report and the baseline replay.

    Call it in a conftest.py or a plugin. The family's `[tool.robustest.<name>]` table and
    its command-line values are checked once collection has loaded every conftest, so the
    conftest may sit in any test folder pytest collects. Registering the same name
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
    if family.documents is None and (not family.perturbs_queries or not callable(family.sampler or family.perturber or family.instruction)):
        raise RobustestError(f"family {name!r} needs a sampler: a function (query, rng) -> plan, e.g. Family({name!r}, my_sampler)")
    try:
        parse_fraction(family.threshold)
        parse_measure(family.measure)
    except ValueError as exc:
        raise RobustestError(f"family {name!r}: {exc}") from None


def selected_by(markexpr: str, family: Family) -> bool:
    """Whether a -m expression names the family or its group (an opt-in family runs only then)."""
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", markexpr or ""))
    return family.name in words or (family.group is not None and family.group in words)


def sampler(family: str) -> Sampler:
    """The family's own sampler, for `perturb_queries`."""
    if family not in FAMILIES or FAMILIES[family].sampler is None:
        raise RobustestError(f"{family!r} has no sampler; families with one: {', '.join(n for n, f in FAMILIES.items() if f.sampler)}")
    return FAMILIES[family].sampler


def perturber(family: str, settings, query_prompt: Callable[[], Any] | None = None) -> Perturber:
    """How a run makes one seed's variants of `family` (may raise perturb.loaders.MissingResource).
    `query_prompt()`: the run's QueryPrompt, asked for by instruction families only."""
    entry = FAMILIES[family]
    if entry.instruction is not None:
        if query_prompt is None:
            raise MissingResource(f"{family} perturbs the query prompt: it needs a retriever to read it from")
        rewriter = instruction_rewriter(settings) if entry.instruction is reworded_instruction else None
        return InstructionPerturber(family, entry.instruction, query_prompt(), rewriter)
    return entry.perturber(settings) if entry.perturber else SamplingPerturber(family, entry.sampler)


def family_configs(table: Mapping[str, Any], **command_line) -> dict[str, FamilyConfig]:
    """The settings of every registered family (family_config.family_configs over FAMILIES):
    defaults, then the `[tool.robustest]` table, then the command line's values."""
    return family_config.family_configs(table, FAMILIES, **command_line)
