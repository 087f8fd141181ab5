"""One verdict for a whole run, the first thing the summary and the report say.

A gate is a promise, so "could not decide" is never worded as safe:

- FAILED: a gate or comparison failed (or a test did);
- NOT SHOWN SAFE: nothing failed, but some gates or comparisons were inconclusive or not judged;
  with the number of queries that would settle the most demanding of them;
- PASSED: every gate and comparison was shown within its threshold.
"""

from __future__ import annotations

from .stats import _about, queries_needed


def undecided_queries(result) -> int | None:
    """About how many queries would settle an inconclusive gate or comparison (None: none would
    or it is decided)."""
    if result.verdict.value != "inconclusive":
        return None
    if hasattr(result, "difference"):
        lo, hi = result.difference_ci
        return queries_needed(result.n_queries, lo, hi, result.difference, result.tolerance)
    lo, hi = result.drop_rate_ci
    return queries_needed(result.n_queries, lo, hi, result.drop_rate, result.threshold)


def headline(run) -> str:
    """`run`: anything with `gates`, `regressions`, `not_judged` and `passed` (a
    engine.finished.FinishedRun)."""
    judged = [*run.gates, *run.regressions]
    failed = [r.name for r in judged if r.verdict.value == "fail"]
    open_ = [r for r in judged if r.verdict.value == "inconclusive"]
    total = len(judged) + len(run.not_judged)
    count = f"{total} gate{'s' if total != 1 else ''}" + (" and comparisons" if run.regressions else "")
    parts = []
    if failed:
        parts.append(f"{len(failed)} of {count} failed: {', '.join(failed[:3])}" + (f" and {len(failed) - 3} more" if len(failed) > 3 else ""))
    if open_:
        strict = getattr(getattr(run, "settings", None), "inconclusive", "pass") == "fail"
        parts.append(f"{len(open_)}{'' if failed else f' of {count}'} undecided (inconclusive{', which fails this run' if strict else ''})")
    if run.not_judged:
        parts.append(f"{len(run.not_judged)} not judged (too few perturbed queries)")
    needs = [k for k in map(undecided_queries, open_) if k is not None]
    n = max((r.n_queries for r in open_), default=0)
    tail = f"; about {_about(max(max(needs), n + 1))} queries (now {n}) would settle the undecided" if needs else ""
    if failed or run.passed is False:
        return "FAILED - " + ("; ".join(parts) if parts else "a test failed") + tail
    if parts:
        return "NOT SHOWN SAFE - " + "; ".join(parts) + tail
    if not judged:
        return "MEASURED - nothing was gated"
    return f"PASSED - all {count} shown within their thresholds"
