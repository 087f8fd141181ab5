"""The public assertion API: gates over a family run, and per-query checks.

Each raises `RobustnessError` (an AssertionError) whose message shows the gate, its
threshold, the estimate with its CI and verdict, the three worst examples (original text,
variant, and the best relevant document's rank before -> after; the same variant under several
seeds is one example) and where to see every variant. Short on purpose: a few lines per failure.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import INCONCLUSIVE_MODES, InconclusiveWarning, NotJudged, RobustnessError, enforce
from .stability import FamilyRun
from .stats import GateResult, evaluate_gate

__all__ = [
    "INCONCLUSIVE_MODES", "InconclusiveWarning", "RobustnessError", "assert_attack_success", "assert_drop_rate", "assert_invariant",
    "assert_rank_stable", "assert_top_k_unchanged", "assert_worst_case", "format_gate", "format_rate_gate", "require_perturbed",
]
MIN_QUERIES = 10  # a gate over fewer perturbed queries is no evidence either way
EXAMPLES = 3  # worst examples in a failure message; the run file and the HTML report have them all
MORE = "every variant and score: --robustest-save=run.json (the run file) or --robustest-html=report.html"
MORE_PASSAGES = "every passage and ASR@k: --robustest-save=run.json (the run file) or --robustest-html=report.html"
VERDICT_VERBS = {"pass": "passes", "fail": "fails", "inconclusive": "is inconclusive"}


def _seeds(row: dict) -> str:
    """"seed 5", or "seeds 1999, 5" for one example merged over seeds (FamilyRun.worst(merge_seeds=True))."""
    seeds = row.get("seeds") or (row["seed"],)
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"


def _clip(text: str, width: int = 100) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _pair(original: str, variant: str, width: int = 100) -> str:
    """'original' -> 'variant', each clipped to `width` around where they first differ."""
    if len(original) <= width and len(variant) <= width:
        return f"{original!r} -> {variant!r}"
    first = next((i for i, (a, b) in enumerate(zip(original, variant)) if a != b), min(len(original), len(variant)))
    start = max(0, min(first - width // 3, max(len(original), len(variant)) - width))
    cut = lambda t: ("..." if start else "") + _clip(t[start:], width - (3 if start else 0))  # noqa: E731
    return f"{cut(original)!r} -> {cut(variant)!r}"


def format_gate(gate: GateResult, worst: Sequence[dict] = ()) -> str:
    lo, hi = gate.drop_rate_ci
    lines = [
        f"{gate.name}: {gate.verdict.value.upper()} - drop rate of {gate.measure} {gate.drop_rate_mean * 100:.2f}% "
        f"± {gate.drop_rate_std * 100:.2f} over seeds {', '.join(map(str, gate.seeds))} "
        f"(threshold {gate.threshold * 100:.1f}%, {gate.confidence:.0%} CI [{lo * 100:.2f}%, {hi * 100:.2f}%], "
        f"{gate.n_queries} queries, p = {gate.p_value:.3g})",
        f"  {gate.note}",
    ]
    if worst:
        lines.append(f"  worst queries (seeds: original -> variant (edit); {gate.measure} before -> after; best relevant rank before -> after):")
        for w in worst:
            lines.append(
                f"    [{w['query_id']}, {_seeds(w)}] {_pair(w['original'], w['variant'])} "
                f"({_clip(w['edit'], 60)}); {w['before']:.3f} -> {w['after']:.3f}; rank {w['rank_before']} -> {w['rank_after']}"
            )
        lines.append(f"  {MORE}")
    return "\n".join(lines)


def _decide(gate: GateResult, run: FamilyRun, inconclusive: str) -> GateResult:
    __tracebackhide__ = True
    return enforce(gate, inconclusive, lambda g: format_gate(g, run.worst(EXAMPLES, merge_seeds=True)), stacklevel=4)


def require_perturbed(run: FamilyRun, min_queries: int = MIN_QUERIES) -> None:
    """Refuse to judge a run in which fewer than `min_queries` queries got a variant: a
    perturbation that applies to almost nothing would otherwise pass by default. Raises
    `NotJudged`, which decides nothing either way (a skip under pytest)."""
    __tracebackhide__ = True
    n = run.perturbed_queries
    if n >= min_queries:
        return
    reasons = run.skip_reasons()
    skipped = f"; {len(reasons)} had no variant, e.g. " + "; ".join(f"{q}: {why}" for q, why in list(reasons.items())[:2]) if reasons else ""
    raise NotJudged(
        f"{run.family}: not judged - {n} of {len(run.qids)} queries were perturbed, fewer than min_queries = {min_queries}{skipped}. "
        f"A gate over so few queries is no evidence either way: use more queries, a perturbation that applies to more of them, "
        f"or a lower min_queries ([tool.robustest.{run.family}] min_queries = N, or min_queries= of the assertion)"
    )


def assert_drop_rate(
    run: FamilyRun, threshold: float, *, confidence: float = 0.95, inconclusive: str = "pass", name: str | None = None,
    min_queries: int = MIN_QUERIES,
) -> GateResult:
    """The paper's stability gate: drop rate (clean - perturbed) / clean of `run.measure`,
    averaged over seeds, at most `threshold`, judged on a paired bootstrap CI over queries.
    Refuses to pass when fewer than `min_queries` queries were perturbed."""
    __tracebackhide__ = True
    require_perturbed(run, min_queries)
    gate = evaluate_gate(
        name or f"{run.family} drop rate",
        run.clean,
        run.perturbed,
        threshold,
        seeds=run.seeds,
        family=run.family,
        measure=run.measure,
        confidence=confidence,
    )
    return _decide(gate, run, inconclusive)


def rank_indicators(run: FamilyRun, k: int) -> tuple[np.ndarray, np.ndarray]:
    """1 where the best relevant document is in the top k: clean (n,) and perturbed (s, n,
    NaN without a variant), kept to the queries whose clean top k holds a relevant document."""
    clean_top, perturbed_top = run.rankings(k)
    hit = lambda docs, q: float(any(run.qrels[q].get(d, 0) > 0 for d in docs))  # noqa: E731
    clean = np.array([hit(clean_top[q], q) for q in run.qids])
    perturbed = np.array([[np.nan if docs is None else hit(docs, q) for docs, q in zip(row, run.qids)] for row in perturbed_top])
    keep = clean == 1
    return clean[keep], perturbed[:, keep]


def assert_rank_stable(
    run: FamilyRun, k: int, threshold: float, *, confidence: float = 0.95, inconclusive: str = "pass", min_queries: int = MIN_QUERIES
) -> GateResult:
    """Of the queries with a relevant document in the clean top k (any k: runs are deepened
    when the measure's cutoff is shallower), the share that lose it under the perturbation is
    at most `threshold` (same CI and verdict logic as the drop rate)."""
    __tracebackhide__ = True
    require_perturbed(run, min_queries)
    clean, perturbed = rank_indicators(run, k)
    if clean.size == 0:
        raise NotJudged(f"{run.family}: not judged - no query has a relevant document in its clean top {k}; rank stability@{k} cannot be judged (use a larger k)")
    gate = evaluate_gate(
        f"{run.family} rank stability@{k}", clean, perturbed, threshold, seeds=run.seeds, family=run.family, measure=f"top-{k} hit", confidence=confidence
    )
    return _decide(gate, run, inconclusive)


def assert_top_k_unchanged(
    run: FamilyRun, k: int = 1, threshold: float = 0.0, *, confidence: float = 0.95, inconclusive: str = "pass",
    min_queries: int = MIN_QUERIES, name: str | None = None,
) -> GateResult:
    """The perturbation leaves the top-k documents alone: the share of (query, seed) variants
    whose set of top-k document ids differs from the clean query's is at most `threshold`,
    judged on a bootstrap CI over queries. With the default `threshold=0`, one changed query is
    a counterexample and fails; a tolerated share (e.g. 0.05) is judged on the CI. Relevance
    judgements play no part: this is about which documents come back."""
    __tracebackhide__ = True
    from dataclasses import replace

    from .stats import Verdict, evaluate_rate_gate

    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k={k!r} must be a whole number >= 1")
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold={threshold!r} is a tolerated share of changed queries, in [0, 1]")
    require_perturbed(run, min_queries)
    clean_top, perturbed_top = run.rankings(k)
    changed = np.array([[np.nan if docs is None else float(set(docs) != set(clean_top[q])) for docs, q in zip(row, run.qids)] for row in perturbed_top])
    gate = evaluate_rate_gate(
        name or f"{run.family} top-{k} unchanged", changed, threshold, seeds=run.seeds, statistic=f"top-{k} changed", family=run.family, confidence=confidence
    )
    if threshold == 0 and gate.drop_rate_mean > 0:  # "never" is refuted by one example: no interval needed
        note = (
            f"{int(np.nansum(changed))} variant(s) changed the top {k}; the tolerated share is 0, and one counterexample "
            f"refutes \"never\": p = 0, whatever the interval"
        )
        gate = replace(gate, verdict=Verdict.FAIL, note=note, p_value=0.0)
    examples = lambda g: format_top_k_gate(g, _changed_examples(run, changed, clean_top, perturbed_top))  # noqa: E731 - only on failure
    return enforce(gate, inconclusive, examples, stacklevel=3)


def _changed_examples(run: FamilyRun, changed: np.ndarray, clean_top, perturbed_top, n: int = EXAMPLES) -> list[dict]:
    """The first n changed variants; the same variant of a query under several seeds is one."""
    position = {q: i for i, q in enumerate(run.qids)}
    rows: dict[tuple[str, str], dict] = {}
    for s, p in enumerate(run.perturbations):
        for v in p.variants:
            i = position[v.query_id]
            if changed[s, i] != 1:
                continue
            if (v.query_id, v.text) in rows:
                rows[(v.query_id, v.text)]["seeds"].append(p.seed)
            elif len(rows) < n:
                rows[(v.query_id, v.text)] = {
                    "query_id": v.query_id, "seed": p.seed, "seeds": [p.seed], "original": v.original, "variant": v.text,
                    "before": clean_top[v.query_id], "after": perturbed_top[s, i],
                }
    return list(rows.values())


def format_top_k_gate(gate: GateResult, examples: Sequence[dict] = ()) -> str:
    lo, hi = gate.drop_rate_ci
    lines = [
        f"{gate.name}: {gate.verdict.value.upper()} - {gate.drop_rate_mean * 100:.2f}% of variants changed the {gate.statistic.split()[0]} documents "
        f"(tolerated {gate.threshold * 100:.1f}%, {gate.confidence:.0%} CI [{lo * 100:.2f}%, {hi * 100:.2f}%], {gate.n_queries} queries, "
        f"seeds {', '.join(map(str, gate.seeds))})",
        f"  {gate.note}",
    ]
    if examples:
        lines.append("  changed (seed: original -> variant; top documents before -> after):")
        lines += [f"    [{e['query_id']}, {_seeds(e)}] {_pair(e['original'], e['variant'])}: {e['before'][:5]} -> {e['after'][:5]}" for e in examples]
        lines.append(f"  {MORE}")
    return "\n".join(lines)


def assert_invariant(run: FamilyRun, delta: float, *, min_queries: int = MIN_QUERIES) -> None:
    """Per query and seed: the measure falls by at most `delta` (no statistics: every pair counts)."""
    __tracebackhide__ = True
    require_perturbed(run, min_queries)
    drops = run.clean[None, :] - run.perturbed
    bad = int(np.nansum(drops > delta))
    if bad:
        worst = [w for w in run.worst(EXAMPLES, merge_seeds=True) if w["before"] - w["after"] > delta]
        lines = [f"{run.family}: {bad} (query, seed) pairs lose more than {delta} {run.measure}:"]
        lines += [
            f"  [{w['query_id']}, {_seeds(w)}] {_pair(w['original'], w['variant'])}: {w['before']:.3f} -> {w['after']:.3f}, "
            f"rank {w['rank_before']} -> {w['rank_after']}" for w in worst
        ]
        raise RobustnessError("\n".join(lines + [f"  {MORE}"]))


def format_rate_gate(gate: GateResult, strongest: Sequence[dict] = (), k: int = 20, control=None) -> str:
    """The message of a poisoning gate: the rate over seeds, its CI and verdict (the gate's note
    gives the random-gold control beside it when there is one), what the control means for the
    verdict (`control`: a RateDifference of attack minus control), and the passages that
    reached the most test queries."""
    lo, hi = gate.drop_rate_ci
    lines = [
        f"{gate.name}: {gate.verdict.value.upper()} - {gate.statistic} {gate.drop_rate_mean * 100:.2f}% "
        f"± {gate.drop_rate_std * 100:.2f} over seeds {', '.join(map(str, gate.seeds))} "
        f"(threshold {gate.threshold * 100:.1f}%, {gate.confidence:.0%} CI [{lo * 100:.2f}%, {hi * 100:.2f}%], "
        f"{gate.n_queries} test queries, p = {gate.p_value:.3g})",
        f"  {gate.note}",
    ]
    explained = control_explanation(gate, control)
    if explained:
        lines.append(f"  {explained}")
    if strongest:
        lines.append(f"  strongest adversarial passages (test queries each one reaches in the top {k} on its own):")
        for row in strongest:
            lines.append(f"    [seed {row['seed']}, cluster {row['cluster']}] {row['queries_reached']} queries: {_clip(row['text'], 160)!r}")
        lines.append(f"  {MORE_PASSAGES}")
    return "\n".join(lines)


def control_note(statistic: str, control_rate: float, difference, control: str = "random_gold") -> str:
    """The control beside a poisoning gate, e.g. "random_gold control ASR@20 70.00%; attack
    minus control +10.00 points (95% CI [-2.00, 21.00]), not significant"."""
    lo, hi = difference.ci
    significant = "significant" if difference.significant else "not significant"
    return (
        f"{control} control {statistic} {control_rate * 100:.2f}%; attack minus control {difference.estimate * 100:+.2f} points "
        f"({difference.confidence:.0%} CI [{lo * 100:.2f}, {hi * 100:.2f}]), {significant}"
    )


NOTHING_ADDED = "the retriever also ranks random gold passages this high: the attack adds nothing significant"


def adds_nothing(gate: GateResult, difference) -> bool:
    """A poisoning gate that does not pass while its attack is not significantly above the
    random-gold control (`difference`: attack minus control): the gate speaks of the retriever,
    not of the attack."""
    return difference is not None and not difference.significant and gate.verdict.value != "pass"


def control_explanation(gate: GateResult, difference) -> str | None:
    """Why such a gate (`adds_nothing`) says little about the attack; None otherwise."""
    if not adds_nothing(gate, difference):
        return None
    return (
        f"{NOTHING_ADDED} (the gate {VERDICT_VERBS[gate.verdict.value]} on how far any relevant passage injected into the "
        "corpus gets, not on the attack)"
    )


def assert_attack_success(
    result, threshold: float, *, k: int = 20, confidence: float = 0.95, inconclusive: str = "pass", name: str | None = None,
    control=None,
) -> GateResult:
    """Corpus-poisoning gate: ASR@k of an attack (a `robustest.attacks.AttackResult`), the share
    of test queries with an adversarial passage in their top k, averaged over seeds, at most
    `threshold`, judged on a bootstrap CI over test queries (pass / fail / inconclusive).
    `control`: the random-gold control's AttackResult on the same test queries and seeds; the
    gate's note and message then give its ASR@k and the attack's difference from it (paired
    CI), and say so when the attack is not significantly above it."""
    from dataclasses import replace

    from .stats import compare_rates, evaluate_rate_gate

    if k not in result.hits:
        raise ValueError(f"ASR@{k} was not measured; the run has k in {sorted(result.hits)}")
    gate = evaluate_rate_gate(
        name or f"poisoning {result.attack} ASR@{k} N={result.n_passages}",
        result.hits[k].astype(float),
        threshold,
        seeds=result.seeds,
        statistic=f"ASR@{k}",
        family="poisoning",
        confidence=confidence,
    )
    difference = None
    if control is not None:
        if k not in control.hits or control.hits[k].shape != result.hits[k].shape or list(control.qids) != list(result.qids):
            raise ValueError(f"the control {control.attack} was not measured on the same seeds and test queries at ASR@{k}")
        difference = compare_rates(result.hits[k], control.hits[k], confidence=confidence)
        gate = replace(gate, note=f"{gate.note}; {control_note(gate.statistic, control.summary(k)[0], difference, control.attack)}")
    return enforce(gate, inconclusive, lambda g: format_rate_gate(g, result.strongest(EXAMPLES), k, difference))


def assert_worst_case(result, threshold: float, *, inconclusive: str = "pass", min_queries: int = MIN_QUERIES, name: str | None = None) -> GateResult:
    """The worst-case one-edit search (a `robustest.worst_case.WorstCase`): one edit breaks at
    most `threshold` of the searched queries (their relevant document leaves the top k),
    judged on a bootstrap CI over queries. Fewer than `min_queries` searched queries: not judged."""
    __tracebackhide__ = True
    from .stats import evaluate_rate_gate
    from .worst_case import format_worst_case

    n = len(result.qids)
    if n < min_queries:
        raise NotJudged(
            f"{result.family} worst case: not judged - {n} queries could be searched, fewer than min_queries = {min_queries} "
            f"({result.eligible} had a relevant document at rank <= {result.margin}). Use more queries, a wider worst_case_margin, "
            f"or a lower min_queries ([tool.robustest.{result.family}])"
        )
    gate = evaluate_rate_gate(
        name or f"{result.family} worst case",
        result.broken[None, :].astype(np.float64),
        threshold,
        seeds=(result.seed,),
        statistic=f"broken by one edit (k = {result.k})",
        family=result.family,
        confidence=result.confidence,
    )
    message = lambda g: format_rate_gate(g).split("\n")[0] + f"\n  {g.note}\n  " + "\n  ".join(format_worst_case(result, examples=EXAMPLES) + [MORE])  # noqa: E731
    return enforce(gate, inconclusive, message, stacklevel=3)
