"""A family's settings (`FamilyConfig`): defaults, then `[tool.robustest]` and
`[tool.robustest.<family>]` in pyproject.toml, then the command line.

Light on purpose: the plugin reads it in every pytest run, and it knows no family by name.
The registry (robustest.families) hands in its families; each entry is read for its name,
default threshold and measure, and its own keys (`own_keys`, `own_defaults`,
`config_defaults`, `check_keys`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Collection, Mapping

from .errors import RobustestError
from .settings import PAPER_SEEDS, parse_fraction, parse_seeds, parse_whole


def default_margin(k: int) -> int:
    """Searched queries start at rank <= k // 2 (at least 1): inside the top k, not on its edge."""
    return max(1, k // 2)


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
        return self.worst_case_margin or default_margin(self.k)


# -- values of a table: each parser takes what TOML or the command line gives and returns the
# value, or raises ValueError saying what is wrong and what to write instead.

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
def how_to_register(rootdir: str | None = None) -> str:
    """Where a family of one's own must be registered for its settings to be read: pytest reads
    a conftest.py below the rootdir only when it collects that folder."""
    rootdir_conftest = f"{rootdir}/conftest.py" if rootdir else "conftest.py"
    return (
        "register it with robustest.register_family in a conftest.py that pytest loads before collecting the tests that use it "
        f"(the rootdir's {rootdir_conftest}, or one in a test folder you pass), or in a plugin (-p module); "
        "with --pyargs, put the conftest.py in the installed package's test folder or use -p"
    )


CUSTOM_HINT = how_to_register()


def unregistered(table: Mapping[str, Any], families: Mapping[str, Any], **named: Mapping[str, Any] | None) -> dict[str, str]:
    """Family names that `families` does not hold -> where they were given: a family table of
    `table` ("table"), or the command-line option of `named` (thresholds=..., ...)."""
    found = {k: "table" for k, v in table.items() if isinstance(v, dict) and k not in families}
    for option, given in named.items():
        found.update({name: option for name in (given or {}) if name not in families and name not in found})
    return found


def leaving_out(names: Collection[str], table: Mapping[str, Any], **named: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The table less the family tables of `names`, and each of `named` less those names."""
    kept = {k: v for k, v in table.items() if not (isinstance(v, dict) and k in names)}
    return kept, {option: given and {k: v for k, v in given.items() if k not in names} for option, given in named.items()}


def family_configs(
    table: Mapping[str, Any], families: Mapping[str, Any], *, seeds=None, thresholds=None, worst_case_thresholds=None,
) -> dict[str, FamilyConfig]:
    """The config of every family in `families` (the registry): defaults, overridden by the
    `[tool.robustest]` table (top-level keys apply to every family, `[tool.robustest.<family>]`
    to one), overridden by command-line values."""
    common = {k: v for k, v in table.items() if not isinstance(v, dict)}
    unknown = set(common) - set(KEYS)
    unknown |= {k for k, v in table.items() if isinstance(v, dict) and k not in families}
    if unknown:
        raise RobustestError(
            f"[tool.robustest] has unknown key(s) {', '.join(sorted(unknown))}; "
            f"use {', '.join(KEYS)} or a family table ({', '.join(families)}); for a family of your own, {CUSTOM_HINT}"
        )
    for option, given in (("thresholds", thresholds), ("worst-case-thresholds", worst_case_thresholds)):
        unknown_names = sorted(set(given or {}) - set(families))
        if unknown_names:
            raise RobustestError(
                f"--robustest-{option}: {', '.join(map(repr, unknown_names))} is not a family ({', '.join(families)}); for a family of your own, {CUSTOM_HINT}"
            )
    configs = {}
    for name, entry in families.items():
        own = dict(table.get(name, {}))
        extra = _checked_extra(entry, {k: own.pop(k) for k in list(own) if k in entry.own_keys})
        values = {
            "threshold": entry.threshold, "measure": entry.measure, **entry.config_defaults,
            **_checked(common, "[tool.robustest]"), **_checked(own, f"[tool.robustest.{name}]", entry.own_keys),
        }
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


def _checked(values: Mapping[str, Any], where: str, own_keys: Mapping[str, str] = {}) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if key not in KEYS:
            raise RobustestError(f"{where}: unknown key {key!r}; use {', '.join([*KEYS, *own_keys])}")
        try:
            out[key] = KEYS[key](value)
        except ValueError as exc:
            raise RobustestError(f"{where}: {key} = {value!r}: {exc}") from None
    return out


def _items(value: Any) -> list:
    """A list key's items: a TOML list, one value, or the command line's `10/50`."""
    if isinstance(value, str):
        return value.split("/")
    return [value] if isinstance(value, int) else list(value)


def _checked_extra(entry: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """A family's own keys (poisoning's passages, iterations, ...) over its defaults."""
    if not entry.own_keys:
        return {}
    out = dict(entry.own_defaults)
    where = f"[tool.robustest.{entry.name}]"
    for key, value in values.items():
        kind = entry.own_keys[key]
        try:
            if kind == "ints":
                out[key] = tuple(parse_whole(v, minimum=0) for v in _items(value))
            elif kind == "strs":
                out[key] = tuple(parse_text(v) for v in _items(value))
            else:
                out[key] = KINDS[kind](value)
        except (TypeError, ValueError):
            raise RobustestError(f"{where}: {key} = {value!r} is not valid ({'whole numbers' if kind == 'ints' else kind})") from None
    if entry.check_keys:
        entry.check_keys(out, where)
    return out


def merge_tables(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
    return merged
