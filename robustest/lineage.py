"""The accepted line of a baseline: its anchor (the first accepted run) and the runs accepted since.

`--robustest-update-baseline` moves a baseline forward only when the run was shown safe: every
test passed, every gate and every comparison passed outright (an inconclusive one could hide a
regression, a "not judged" one measured nothing), and every family of the baseline was compared.
Each step may still lose up to the tolerance, so a run is also compared with the anchor at the
same tolerance: a chain of accepted checkpoints can never end more than the tolerance below the
first one (`Regression.reference == "anchor"`).

The anchor travels inside the baseline file (`lineage`), as the numbers a comparison needs and no
texts (the variant texts are the baseline's, replayed unchanged along the whole chain).
"""

from __future__ import annotations

from typing import Any, Mapping

ANCHOR = "anchor"


def compact(run: Mapping[str, Any]) -> dict[str, Any]:
    """What a later comparison needs of a run file: per-query clean scores and each family's
    clean and perturbed scores per seed."""
    retriever = run.get("retriever") or {}
    return {
        "created": run.get("created"),
        "retriever": {"resolved": retriever.get("resolved") or retriever.get("name"), "fingerprint": retriever.get("fingerprint")},
        "dataset": (run.get("dataset") or {}).get("fingerprint"),
        "effectiveness": dict(run.get("effectiveness") or {}),
        "per_query": dict(run.get("per_query") or {}),
        "families": {
            name: {key: record[key] for key in ("measure", "seeds", "clean", "perturbed")}
            for name, record in (run.get("families") or {}).items()
        },
    }


def entry(run: Mapping[str, Any]) -> dict[str, Any]:
    """One accepted run in the chain: when, which retriever, its clean scores."""
    about = compact(run)
    return {"created": about["created"], "retriever": about["retriever"], "effectiveness": about["effectiveness"]}


def anchor_of(baseline: Mapping[str, Any]) -> dict[str, Any]:
    """The first accepted run of the baseline's line: its stored anchor, or the baseline itself
    (a run saved with --robustest-save and never replaced is its own anchor)."""
    lineage = baseline.get("lineage") or {}
    return lineage.get("anchor") or compact(baseline)


def has_own_anchor(baseline: Mapping[str, Any]) -> bool:
    """The anchor is an earlier run than the baseline (comparing with it adds something)."""
    return bool((baseline.get("lineage") or {}).get("anchor"))


def lineage_after(baseline: Mapping[str, Any]) -> dict[str, Any]:
    """The lineage a run gated against `baseline` carries: the same anchor, the chain so far."""
    chain = (baseline.get("lineage") or {}).get("accepted") or [entry(baseline)]
    return {"anchor": anchor_of(baseline), "accepted": list(chain)}


def accepted(run: Mapping[str, Any]) -> dict[str, Any]:
    """`run` (a run file carrying `lineage_after` its baseline) as the new baseline: the chain
    gains this run."""
    lineage = dict(run.get("lineage") or {"anchor": compact(run), "accepted": []})
    return {**run, "lineage": {**lineage, "accepted": [*lineage["accepted"], entry(run)]}}


def compare_with_anchor(baseline: Mapping[str, Any], per_query: Mapping[str, Any], families: Mapping[str, Any], measure: str, tolerance: float) -> list:
    """This run against the anchor of `baseline`'s line: the clean `measure` and every family
    both measured, paired as against the baseline (the variant texts are the same)."""
    from dataclasses import replace

    from .comparison import compare_effectiveness, compare_family

    if not has_own_anchor(baseline):
        return []  # the baseline is the anchor: the baseline comparisons already are these
    anchor = anchor_of(baseline)
    found = []
    if measure in anchor["per_query"] and measure in per_query:
        found.append(compare_effectiveness(measure, anchor["per_query"][measure], per_query[measure], tolerance=tolerance))
    for family in sorted(set(anchor["families"]) & set(families)):
        try:
            found.append(compare_family(family, anchor["families"][family], families[family], tolerance=tolerance))
        except ValueError:  # no seed or query in common: nothing to compare
            continue
    return [replace(r, name=r.name.replace("vs baseline", "vs anchor"), reference=ANCHOR) for r in found]


def update_refusal(run, passed: bool) -> str | None:
    """Why `run` (a engine.finished.FinishedRun gated against a saved baseline) must not replace
    it, or None when it was shown safe."""
    if not passed:
        return "this run did not pass"
    if run.missing:
        return "results are missing (" + "; ".join(run.missing) + ")"
    judged = [*run.gates, *run.regressions]
    open_ = [r.name for r in judged if r.verdict.value != "pass"]
    if open_:
        shown = ", ".join(open_[:3]) + (f" and {len(open_) - 3} more" if len(open_) > 3 else "")
        return f"not shown safe: {len(open_)} of {len(judged)} gates and comparisons did not pass outright ({shown})"
    if run.not_judged:
        return f"not judged: {', '.join(sorted(run.not_judged))}"
    baseline = run.reference.run or {}
    compared = {r.family for r in run.regressions if r.reference != ANCHOR}
    uncompared = sorted(set(baseline.get("families") or {}) - compared)
    if uncompared:
        return f"the baseline's {', '.join(uncompared)} not compared in this run: run every family the baseline has (no -m/-k selection)"
    if "" not in compared:
        return "the clean comparison was not made"
    return None
