"""How well the power estimate (robustest.power, printed before anything is encoded) matches the
CIs a gated run then realises, and what a 30- and a 225-query set decide (docs/explanation/gate-statistics.md).

Input: pairs of run files, a baseline saved with --robustest-save and a checkpoint's run gated
against it with --robustest-save. The figures in docs/explanation/gate-statistics.md came from cranfield (the first 30
judged queries over 400 documents, and all 225 over 1,400), all-MiniLM-L6-v2 as v1 and v3 = every
weight noised at 0.15 x its std (tests/conftest.py: noised_checkpoint), the shipped suites with
-m "not poisoning" --robustest-ci:

    pytest --pyargs robustest.suites --robustest-dataset=D -m "not poisoning" --robustest-save=v1.json
    pytest --pyargs robustest.suites --robustest-dataset=D -m "not poisoning" --retriever=v3 \\
        --robustest-baseline=v1.json --robustest-ci --robustest-save=v3.json

    python benchmarks/bench_gating_power.py NAME=v1.json:v3.json [NAME=...]

For each comparison: the resolution estimated from the baseline alone, the one realised by the
comparison's CI (half-width x (z_0.975 + z_0.8) / z_0.975), their ratio, and the verdict.
"""

from __future__ import annotations

import json
import sys
from statistics import NormalDist

from common import machine_info, next_results_path

from robustest.power import plans
from robustest.runs import load_run

Z = NormalDist().inv_cdf(0.975)
TO_RESOLUTION = (Z + NormalDist().inv_cdf(0.8)) / Z


def compare(name: str, baseline_path: str, candidate_path: str) -> dict:
    baseline, candidate = load_run(baseline_path), load_run(candidate_path)
    comparison = candidate["comparison"]
    tolerance = comparison["tolerance"]
    measure = next(iter(baseline["per_query"]))
    estimated = {p.name: p for p in plans(baseline, measure, list(baseline["families"]), tolerance)}
    rows = []
    for r in comparison["regressions"]:
        if r.get("reference", "baseline") != "baseline":
            continue
        lo, hi = r["difference_ci"]
        realised = (hi - lo) / 2 * TO_RESOLUTION
        plan = estimated.get(r["name"])
        rows.append({
            "comparison": r["name"], "n": r["n_queries"], "difference": r["difference"], "ci": [lo, hi], "verdict": r["verdict"],
            "estimated_resolution": None if plan is None else plan.resolution, "realised_resolution": realised,
            "ratio": None if plan is None or realised == 0 else plan.resolution / realised,
        })
    return {"name": name, "baseline": baseline_path, "candidate": candidate_path, "verdict": candidate.get("verdict"), "tolerance": tolerance, "rows": rows}


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    sets = []
    for arg in argv:
        name, _, pair = arg.partition("=")
        baseline, _, candidate = pair.partition(":")
        sets.append(compare(name, baseline, candidate))
    for s in sets:
        print(f"\n{s['name']}: {s['verdict']}")
        print(f"  {'comparison':36} {'n':>4} {'difference [95% CI]':>26} {'estimate':>9} {'realised':>9} {'ratio':>6}  verdict")
        for r in s["rows"]:
            lo, hi = r["ci"]
            est = "" if r["estimated_resolution"] is None else f"{r['estimated_resolution'] * 100:9.2f}"
            ratio = "" if r["ratio"] is None else f"{r['ratio']:6.2f}"
            print(f"  {r['comparison']:36} {r['n']:>4} {r['difference'] * 100:+7.2f} [{lo * 100:6.2f}, {hi * 100:6.2f}] {est:>9} {r['realised_resolution'] * 100:9.2f} {ratio:>6}  {r['verdict']}")
    path = next_results_path("gating_power")
    path.write_text(json.dumps({"benchmark": "gating_power", "machine": machine_info(), "sets": sets}, indent=1) + "\n")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
