"""Corpus poisoning's own settings: the keys of `[tool.robustest.poisoning]` (and
`--robustest-family-set=poisoning.KEY=VALUE`), their defaults and checks, and the
`--robustest-poison-*` options that win over them.

The defaults are sized for a CPU: `pytest suites/` finishes in a few minutes on the default
collection. The paper: passages 10 and 50, tokens 50, pool 100, iterations 5000.
Light on purpose (no numpy): the registry reads it in every pytest run.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .errors import RobustestError
from .family_config import FamilyConfig

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
