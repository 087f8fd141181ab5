"""The instruction families side by side, one row per kind: the table the terminal summary and
the HTML report show. Built from run-file family records (`acts_on: instruction`), so a saved
run renders the same table as the run that made it."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Mapping

SENSITIVITY = "instruction sensitivity"  # the kinds' mean, as `robustest analyze` names it


def is_instruction(family: Mapping[str, Any]) -> bool:
    return isinstance(family, Mapping) and family.get("acts_on") == "instruction"


def instruction_rows(families: Mapping[str, Mapping[str, Any]], verdicts: Mapping[str, str]) -> list[dict[str, Any]]:
    """Per instruction family: clean and perturbed mean score, drop rate (mean, std over seeds),
    the gate's verdict (`verdicts`: family -> verdict), how many distinct prompts were used and
    the most used one."""
    rows = []
    for name, family in families.items():
        if not is_instruction(family):
            continue
        variants = [v for by_query in (family.get("variants") or {}).values() for v in by_query.values() if isinstance(v, Mapping)]
        prompts = Counter(v.get("prompt") for v in variants if isinstance(v.get("prompt"), str))
        rows.append({
            "kind": name,
            "measure": family.get("measure", ""),
            "clean": mean(family.get("clean", {}).values()),
            "perturbed": mean(x for by_query in (family.get("perturbed") or {}).values() for x in by_query.values()),
            "drop_rate_mean": family.get("drop_rate_mean"),
            "drop_rate_std": family.get("drop_rate_std"),
            "verdict": verdicts.get(name, "not gated"),
            "prompts": len(prompts),
            "example": prompts.most_common(1)[0][0] if prompts else None,
        })
    return rows


def sensitivity(rows: list[dict[str, Any]]) -> float | None:
    """The mean drop rate of the kinds: one number for how much the instruction matters."""
    values = [r["drop_rate_mean"] for r in rows if finite(r["drop_rate_mean"])]
    return sum(values) / len(values) if values else None


def mean(values) -> float | None:
    kept = [float(v) for v in values if finite(v)]
    return sum(kept) / len(kept) if kept else None


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def clipped(prompt: str | None, width: int = 60) -> str:
    if prompt is None:
        return "-"
    text = repr(prompt)
    return text if len(text) <= width else text[: width - 4] + "...'"
