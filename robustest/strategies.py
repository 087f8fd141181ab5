"""Hypothesis strategies over robustest's edit plans.

Each strategy draws a plan for a given query (`typos(query)`), or a query of a collection
together with a plan (`perturbed_queries(queries, typos)`). A plan's parts are drawn together
(which word, which op, which position, which character), simplest first, so a failing
example shrinks to the fewest edits, the simplest op, the earliest position:

    >>> from robustest import strategies as rst
    >>> rst.typos("heat transfer in laminar flow", max_edits=2).example()  # doctest: +SKIP
    TypoPlan(edits=(Typo(word=3, op='delete', position=0, char=''),))

Settings profiles: `robustest-ci` (derandomized, no deadline, failure blobs printed) and
`robustest-dev`; pick one with pytest's `--hypothesis-profile=robustest-ci` (the plugin
registers them, robustest.plugin.hooks).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Mapping, NamedTuple

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from .perturb import typos as T
from .perturb.wordops import GAPS, CASES, CasePlan, SwapPlan, WhitespacePlan, plan_naturalize, plan_punctuation, swap_pairs
from .perturb.words import split_words

__all__ = ["PerturbedQuery", "PlanBatch", "from_sampler", "typos", "swaps", "synonym_swaps", "case_changes", "whitespace", "naturalized", "punctuation_removed", "perturbed_queries", "plan_batches", "property_settings", "textattack"]


class PerturbedQuery(NamedTuple):
    """A drawn (query_id, query, plan); prints as the query and the plan's description, so a
    falsifying example reads as what was done to which query."""

    query_id: str
    query: str
    plan: Any

    def __repr__(self) -> str:
        return f"query {self.query_id} {self.query!r}: {_describe(self.plan, self.query)}"

    def _repr_pretty_(self, printer, cycle) -> None:  # Hypothesis prints draws with this
        printer.text(repr(self))


class PlanBatch(NamedTuple):
    """A drawn (query_id, query, [plan, ...]) for one query."""

    query_id: str
    query: str
    plans: list

    def __repr__(self) -> str:
        return f"query {self.query_id} {self.query!r}: [{'; '.join(_describe(p, self.query) for p in self.plans)}]"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


def _describe(plan: Any, query: str) -> str:
    try:
        return f"{plan.describe(query)} -> {plan.apply(query)!r}"
    except Exception:  # noqa: BLE001 - a repr must not fail; the plan's own repr will do
        return repr(plan)


def _check_edits(min_edits: int, max_edits: int) -> None:
    if not isinstance(min_edits, int) or not isinstance(max_edits, int):
        raise InvalidArgument(f"min_edits and max_edits must be integers, got min_edits={min_edits!r}, max_edits={max_edits!r}")
    if min_edits < 1:
        raise InvalidArgument(f"min_edits={min_edits} must be at least 1 (a plan with no edit is not a perturbation)")
    if max_edits < min_edits:
        raise InvalidArgument(f"Cannot have max_edits={max_edits} < min_edits={min_edits}")


# Hypothesis builds a fresh strategy for every draw of `perturbed_queries` and `plan_batches`
# (their flatmap calls `plans(query)`, and validation runs the deferred build). So what a
# build needs is computed once per query text and the built strategies are shared: a rebuild
# is a cache hit, and a validated strategy is never validated again.


@lru_cache(maxsize=65536)
def _typo_pairs(query: str, ops: tuple[str, ...]) -> tuple[tuple[int, str], ...]:
    """Every (word, op) pair of `query` with a legal edit, simplest op first (the order of
    `ops`), then earliest word: the order examples shrink in."""
    words = split_words(query)
    pairs = [(i, op) for i in T.editable_words(query) for op in ops if T.has_legal_edit(words[i].text, op)]
    return tuple(sorted(pairs, key=lambda p: (ops.index(p[1]), p[0])))


@lru_cache(maxsize=1024)
def _edit_choices(word: str, op: str, index: int) -> st.SearchStrategy[T.Typo]:
    # Bounded: substitute or insert alone make ~52 edits per letter (~60 kB for a 10-letter word).
    return st.sampled_from(T.legal_edits(word, op, index))


@st.composite  # defined once: decorating a function per query costs more than the draw
def _typo_edit(draw, words: tuple, pairs: st.SearchStrategy[tuple[int, str]]) -> T.Typo:
    i, op = draw(pairs)
    return draw(_edit_choices(words[i].text, op, i))


def _typo_edits(query: str, ops: tuple[str, ...]) -> st.SearchStrategy[T.Typo]:
    # Every (word, op) pair with a legal edit; positions and characters are drawn after it.
    pairs = _typo_pairs(query, ops)
    if not pairs:
        raise InvalidArgument(f"no word of {query!r} can be misspelled by {', '.join(ops)} (stopwords and words under {T.MIN_WORD_LENGTH} letters are kept)")
    return _typo_edit(split_words(query), st.sampled_from(pairs))


@lru_cache(maxsize=1024)
def _typo_plans(query: str, min_edits: int, max_edits: int, ops: tuple[str, ...]) -> st.SearchStrategy[T.TypoPlan]:
    edits = st.lists(_typo_edits(query, ops), min_size=min_edits, max_size=max_edits, unique_by=lambda e: e.word)
    return edits.map(lambda chosen: T.TypoPlan(tuple(sorted(chosen))))


def typos(query: str, *, min_edits: int = 1, max_edits: int = 1, ops: tuple[str, ...] = T.OPS) -> st.SearchStrategy[T.TypoPlan]:
    """Misspellings of `query`: between `min_edits` and `max_edits` words, each changed by
    one character edit of one of `ops` (default: the paper's six).

    Examples shrink towards fewer edited words, then towards `delete`, then towards earlier
    words and positions.
    """

    def build():  # deferred: a bad argument fails inside the test that uses it, not at import
        _check_edits(min_edits, max_edits)
        if not ops or set(ops) - set(T.OPS):
            raise InvalidArgument(f"ops={ops!r} must be a non-empty subset of {T.OPS}")
        ordered = tuple(op for op in T.OPS if op in ops)
        return _typo_plans(query, min_edits, max_edits, ordered)

    return st.deferred(build)


@lru_cache(maxsize=1024)
def _swap_plans(query: str) -> st.SearchStrategy[SwapPlan]:
    pairs = swap_pairs(query)
    if not pairs:
        raise InvalidArgument(f"no two different words of {query!r} can swap")
    return st.sampled_from(pairs).map(lambda p: SwapPlan((p,)))


def swaps(query: str) -> st.SearchStrategy[SwapPlan]:
    """One exchange of an editable word with another word of `query`. Shrinks towards the first words."""
    return st.deferred(lambda: _swap_plans(query))


def case_changes(query: str) -> st.SearchStrategy[CasePlan]:
    """Lower-, upper- or title-casing the whole query (those that change it)."""
    modes = [m for m in CASES if getattr(query, m)() != query]
    return st.deferred(lambda: st.sampled_from(modes).map(CasePlan) if modes else _none(query, "case"))


def whitespace(query: str) -> st.SearchStrategy[WhitespacePlan]:
    """A different run of whitespace between two words; shrinks to the first gap and a double space."""
    gaps = len(split_words(query)) - 1
    return st.deferred(
        lambda: st.builds(WhitespacePlan, st.integers(0, gaps - 1), st.sampled_from(GAPS)) if gaps > 0 else _none(query, "whitespace")
    )


def naturalized(query: str) -> st.SearchStrategy:
    """The one naturalized form of `query` (lowercase, stopwords dropped)."""
    return st.deferred(lambda: st.just(plan_naturalize(query)))


def punctuation_removed(query: str) -> st.SearchStrategy:
    return st.deferred(lambda: st.just(plan_punctuation(query)))


def _none(query: str, family: str):
    raise InvalidArgument(f"{query!r} allows no {family} perturbation")


def perturbed_queries(
    queries: Mapping[str, str], plans: Callable[[str], st.SearchStrategy] = typos
) -> st.SearchStrategy[tuple[str, str, object]]:
    """A `(query_id, query, plan)` triple (a `PerturbedQuery`): a query of `queries` (a dataset's `.queries`) and
    a plan drawn by `plans(query)`. Queries that allow no such plan are never drawn.
    Shrinks towards the first query id in sorted order, then towards the simplest plan."""
    from .perturb.base import NoLegalEdit

    def allowed(qid: str) -> bool:
        try:
            plans(queries[qid]).validate()
            return True
        except (InvalidArgument, NoLegalEdit):
            return False

    def build():
        ids = [q for q in sorted(queries) if allowed(q)]
        if not ids:
            raise InvalidArgument("none of the queries allows this perturbation")
        return st.sampled_from(ids).flatmap(lambda q: plans(queries[q]).map(lambda plan: PerturbedQuery(q, queries[q], plan)))

    return st.deferred(build)


def from_sampler(sampler: Callable) -> Callable[[str], st.SearchStrategy]:
    """Plans of any sampler `(query, rng) -> plan` (a registered family's, or your own) as a
    function `query -> strategy`, for `perturbed_queries` and `plan_batches`: each example
    draws a seed for the rng. Shrinks towards seed 0; a sampler has no smaller edit to offer,
    so write a strategy over your plan's parts when you want real shrinking."""
    import random

    from .perturb.base import NoLegalEdit

    def plans(query: str) -> st.SearchStrategy:
        def build():
            try:
                sampler(query, random.Random(0))
            except NoLegalEdit as reason:
                raise InvalidArgument(str(reason)) from None
            return st.integers(0, 2**32 - 1).map(lambda seed: sampler(query, random.Random(seed)))

        return st.deferred(build)

    return plans


@lru_cache(maxsize=1024)
def _synonym_plans(query: str, max_swaps: int) -> st.SearchStrategy:
    from .perturb.synonyms import SynonymPlan, synonym_options

    options = synonym_options(query)
    if not options:
        raise InvalidArgument(f"no word of {query!r} has a WordNet synonym")
    swaps = st.lists(st.sampled_from(options), min_size=1, max_size=max_swaps, unique_by=lambda o: o[0])
    return swaps.map(lambda chosen: SynonymPlan(tuple(sorted(chosen))))


def synonym_swaps(query: str, *, max_swaps: int = 1) -> st.SearchStrategy:
    """Replace up to `max_swaps` editable words by WordNet synonyms. Shrinks towards one swap
    of the first word, by its first synonym in sorted order."""

    def build():
        if not isinstance(max_swaps, int) or max_swaps < 1:
            raise InvalidArgument(f"max_swaps={max_swaps!r} must be a whole number, at least 1")
        return _synonym_plans(query, max_swaps)

    return st.deferred(build)


def plan_batches(queries: Mapping[str, str], plans: Callable[[str], st.SearchStrategy], *, max_size: int = 8) -> st.SearchStrategy:
    """`(query_id, query, [plan, ...])`: several distinct plans for one query, so a property
    can encode them in one batch. Shrinks towards one plan of the first query."""
    return perturbed_queries(queries, plans).flatmap(
        lambda item: st.lists(plans(item[1]), min_size=1, max_size=max_size, unique=True).map(lambda batch: PlanBatch(item[0], item[1], batch))
    )


def property_settings(**overrides) -> settings:
    """Settings for property searches that encode with a real model: no per-example
    deadline, slow generation tolerated. Call it where the test is defined (after pytest has
    loaded the Hypothesis profile), so `max_examples` and the rest follow the profile."""
    checks = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
    # One bug per search: a group of distinct failures would not be a RobustnessError. No
    # "explain" phase: its report names robustest's own lines, which tells a user nothing.
    options = {"deadline": None, "suppress_health_check": checks, "report_multiple_bugs": False, "phases": [p for p in Phase if p is not Phase.explain]}
    return settings(**{**options, **overrides})


def textattack(transformation, query: str, *, constraints=()) -> st.SearchStrategy:
    """Any TextAttack transformation (with its constraints) as a strategy: one of the texts
    it makes of `query` in one step, as a plan. Build the transformation with
    `random_one=False` so every candidate is available. Shrinks towards the first candidate
    in sorted order. Needs `pip install 'robustest[textattack]'`."""
    from .perturb.textattack_adapter import TextAttackPlan, textattack_candidates, transformation_name

    def build():
        texts = textattack_candidates(transformation, query, constraints)
        if not texts:
            raise InvalidArgument(f"{transformation_name(transformation)} makes no variant of {query!r}")
        name = transformation_name(transformation)
        return st.sampled_from(texts).map(lambda text: TextAttackPlan(text, name, query))

    return st.deferred(build)
