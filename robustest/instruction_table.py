"""The instruction families side by side, one row per kind: the table the terminal summary and
the HTML report show. Built from run-file family records (`acts_on: instruction`), so a saved
run renders the same table as the run that made it."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Mapping

SENSITIVITY = "instruction sensitivity"  # the kinds' mean, as `robustest analyze` names it


def is_instruction(family: Mapping[str, Any]) -> bool:
    """A family of the instruction group: the query prompt varied, or the document prompt left out."""
    return isinstance(family, Mapping) and family.get("acts_on") in ("instruction", "document_prompt")


def instruction_rows(families: Mapping[str, Mapping[str, Any]], verdicts: Mapping[str, str]) -> list[dict[str, Any]]:
    """Per instruction family: clean and perturbed mean score, drop rate (mean, std over seeds),
    the gate's verdict (`verdicts`: family -> verdict), how many distinct prompts were used and
    the most used one."""
    from .families import FAMILIES

    order = {name: i for i, name in enumerate(FAMILIES)}
    rows = []
    for name, family in sorted(families.items(), key=lambda item: (order.get(item[0], len(order)), item[0])):
        if not is_instruction(family):
            continue
        variants = [v for by_query in (family.get("variants") or {}).values() for v in by_query.values() if isinstance(v, Mapping)]
        prompts = Counter(v.get("prompt") for v in variants if isinstance(v.get("prompt"), str))
        if family.get("acts_on") == "document_prompt":  # the documents went without their prompt
            prompts = Counter({"": 1})
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
            "side": "documents" if family.get("acts_on") == "document_prompt" else "queries",
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


def clipped(prompt: str | None, width: int = 60, side: str = "queries") -> str:
    if prompt is None:
        return "-"
    text = repr(prompt) if side == "queries" else f"documents: {prompt!r}"
    return text if len(text) <= width else text[: width - 4] + "...'"
