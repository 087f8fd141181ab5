"""Plans for users' own families: a substitution table and an arbitrary function of the query.

Both follow the sampler contract every family uses (robustest.families):
`sampler(query, rng) -> plan`, where the plan is a frozen value with a pure `apply(query)` and
`describe(query)`, and `NoLegalEdit` says the query offers nothing to change.
"""

from __future__ import annotations

import inspect
import random
import re
from dataclasses import dataclass
from typing import Callable, Mapping

from ..errors import RobustestError
from .base import NoLegalEdit


@dataclass(frozen=True)
class SubstitutionPlan:
    """Replace each `pattern` by its `replacement` (regular expressions, applied in order)."""

    rules: tuple[tuple[str, str], ...]
    ignore_case: bool = True

    def apply(self, query: str) -> str:
        flags = re.IGNORECASE if self.ignore_case else 0
        for pattern, replacement in self.rules:
            query = re.sub(pattern, replacement, query, flags=flags)
        return query

    def describe(self, query: str) -> str:
        return "; ".join(f"{_readable(p)!r} -> {r!r}" for p, r in self.rules)


def _readable(pattern: str) -> str:
    """`\\btemperature\\b` reads as `temperature` in a message."""
    inner = pattern[2:-2] if pattern.startswith(r"\b") and pattern.endswith(r"\b") else pattern
    return re.sub(r"\\(.)", r"\1", inner)


def substitution_sampler(table: Mapping[str, str], *, regex: bool = False, ignore_case: bool = True) -> Callable[[str, random.Random], SubstitutionPlan]:
    """A sampler replacing every entry of `table` found in the query (whole words, unless
    `regex`: then the keys are regular expressions and the values may use `\\1`)."""
    if not isinstance(table, Mapping) or not table:
        raise RobustestError(f"a substitution family needs a non-empty mapping of text -> replacement, got {table!r}")
    rules = []
    for key, value in table.items():
        if not isinstance(key, str) or not isinstance(value, str) or not key:
            raise RobustestError(f"substitution {key!r} -> {value!r}: both sides must be strings, the key non-empty")
        pattern = key if regex else rf"\b{re.escape(key)}\b"
        try:
            compiled = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
        except re.error as exc:
            raise RobustestError(f"substitution key {key!r} is not a valid regular expression ({exc})") from None
        rules.append((pattern, value, compiled))

    def sample(query: str, rng: random.Random | None = None) -> SubstitutionPlan:
        found = tuple((p, v) for p, v, c in rules if c.search(query))
        if not found:
            raise NoLegalEdit(f"none of {', '.join(repr(k) for k in list(table)[:5])}{', ...' if len(table) > 5 else ''} occurs in {query!r}")
        plan = SubstitutionPlan(found, ignore_case)
        if plan.apply(query) == query:
            raise NoLegalEdit(f"the substitutions leave {query!r} unchanged")
        return plan

    return sample


@dataclass(frozen=True)
class FunctionPlan:
    """The text a user's function made of one query (a function is not a value; its output is)."""

    function: str
    original: str
    text: str

    def apply(self, query: str) -> str:
        if query != self.original:
            raise ValueError(f"this {self.function} variant was made for {self.original!r}, not {query!r}")
        return self.text

    def describe(self, query: str) -> str:
        return self.function


def function_sampler(fn: Callable, label: str) -> Callable[[str, random.Random], FunctionPlan]:
    """A sampler from `fn(query) -> str` or `fn(query, rng) -> str` (the rng is seeded per
    seed, family and query). `fn` may raise NoLegalEdit, or return the query unchanged, to
    skip a query."""
    if not callable(fn):
        raise RobustestError(f"Family.from_function needs a function of the query, got {fn!r}")
    takes_rng = _positional_arity(fn) >= 2

    def sample(query: str, rng: random.Random) -> FunctionPlan:
        text = fn(query, rng) if takes_rng else fn(query)
        if not isinstance(text, str):
            raise RobustestError(f"{label} returned {type(text).__name__} for {query!r}; it must return the perturbed query as a str")
        if text == query:
            raise NoLegalEdit(f"{label} leaves {query!r} unchanged")
        return FunctionPlan(label, query, text)

    return sample


def _positional_arity(fn: Callable) -> int:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: assume fn(query)
        return 1
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return 2
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty for p in parameters)
