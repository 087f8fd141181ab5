"""Draws per second of robustest's typo strategies: before and after caching their builds.

Hypothesis builds a fresh `plans(query)` strategy on every draw of `perturbed_queries` and
`plan_batches` (their flatmap), and validating it runs the deferred build. Before, that
build listed every legal typo edit of every editable word of the query (up to 52 x length
per word and op), and `perturbed_queries` did it for all queries to find those with an edit;
now the (word, op) pairs come from a per-query cache and the built strategies are shared.

Both implementations run side by side in one process: OLD is a verbatim copy of the earlier
functions (below), NEW is `robustest.strategies`. Each run is a `hypothesis.find` with a
condition that never holds, generate phase only, derandomized, so it draws exactly
`--examples` examples; OLD and NEW must draw the very same examples (checked), and a
search that shrinks must end at the same example (checked). Before every run the caches
of both sides are cleared (cold: each run pays its own first builds) and gc runs; gc is
off during the run. Queries: cranfield's 225 (`$ROBUSTEST_DATA_DIR/cranfield`).

    python benchmarks/bench_strategies.py [--examples 300] [--repeats 3] [--out PATH]

Writes benchmarks/results/NNNN_strategies.json (next free number) and prints a table.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from common import cpu_model, cranfield_path, machine_info, next_results_path  # noqa: E402
from hypothesis import HealthCheck, Phase, find, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.errors import InvalidArgument, NoSuchExample  # noqa: E402

from robustest import __version__  # noqa: E402
from robustest import strategies as rst  # noqa: E402
from robustest.data import load_beir  # noqa: E402
from robustest.files import write_json  # noqa: E402  (temp file + os.replace)
from robustest.perturb import typos as T  # noqa: E402
from robustest.perturb.words import split_words  # noqa: E402

SCHEMA = 1
NAME = "strategies"


# ---- OLD: the strategies as they were before the caches (copied verbatim) --------------------


def old_typo_edits(query: str, ops: tuple[str, ...]) -> st.SearchStrategy[T.Typo]:
    words = split_words(query)
    pairs = [(i, op) for i in T.editable_words(query) for op in ops if T.legal_edits(words[i].text, op)]
    if not pairs:
        raise InvalidArgument(f"no word of {query!r} can be misspelled by {', '.join(ops)} (stopwords and words under {T.MIN_WORD_LENGTH} letters are kept)")
    pairs.sort(key=lambda p: (ops.index(p[1]), p[0]))

    @st.composite
    def edit(draw):
        i, op = draw(st.sampled_from(pairs))
        return draw(st.sampled_from(T.legal_edits(words[i].text, op, i)))

    return edit()


def old_typos(query: str, *, min_edits: int = 1, max_edits: int = 1, ops: tuple[str, ...] = T.OPS) -> st.SearchStrategy[T.TypoPlan]:
    def build():
        rst._check_edits(min_edits, max_edits)
        if not ops or set(ops) - set(T.OPS):
            raise InvalidArgument(f"ops={ops!r} must be a non-empty subset of {T.OPS}")
        ordered = tuple(op for op in T.OPS if op in ops)
        edits = st.lists(old_typo_edits(query, ordered), min_size=min_edits, max_size=max_edits, unique_by=lambda e: e.word)
        return edits.map(lambda chosen: T.TypoPlan(tuple(sorted(chosen))))

    return st.deferred(build)


def old_perturbed_queries(queries, plans=old_typos):
    from robustest.perturb.base import NoLegalEdit

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
        return st.sampled_from(ids).flatmap(lambda q: plans(queries[q]).map(lambda plan: rst.PerturbedQuery(q, queries[q], plan)))

    return st.deferred(build)


def old_plan_batches(queries, plans, *, max_size: int = 8):
    return old_perturbed_queries(queries, plans).flatmap(
        lambda item: st.lists(plans(item[1]), min_size=1, max_size=max_size, unique=True).map(lambda batch: rst.PlanBatch(item[0], item[1], batch))
    )


# ---- the runs ---------------------------------------------------------------------------------

SIDES = {
    "old": {"perturbed_queries": lambda qs: old_perturbed_queries(qs, old_typos), "plan_batches": lambda qs: old_plan_batches(qs, old_typos)},
    "new": {"perturbed_queries": lambda qs: rst.perturbed_queries(qs, rst.typos), "plan_batches": lambda qs: rst.plan_batches(qs, rst.typos)},
}
# A shrinking search, as tests/test_shrinking.py runs one: up to three typos, shrunk to the
# simplest example whose misspelled query has a "z".
SHRINK = {
    "old": lambda qs: old_perturbed_queries(qs, lambda q: old_typos(q, max_edits=3)),
    "new": lambda qs: rst.perturbed_queries(qs, lambda q: rst.typos(q, max_edits=3)),
}

drawn: list = []


def record(example) -> bool:
    """The condition of every run: the same function object, so derandomized runs of both
    sides draw from the same seed. Never true: find draws exactly max_examples examples."""
    drawn.append(repr(example))
    return False


def has_z(item) -> bool:
    return "z" in item.plan.apply(item.query) and "z" not in item.query


def clear_caches() -> None:
    split_words.cache_clear()
    for name in ("_typo_pairs", "_edit_choices", "_typo_plans"):
        getattr(rst, name).cache_clear()
    T.has_legal_edit.cache_clear()


def timed_find(strategy, examples: int) -> tuple[list, float]:
    drawn.clear()
    clear_caches()
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        try:
            find(strategy, record, settings=settings(max_examples=examples, database=None, derandomize=True, deadline=None,
                                                     phases=[Phase.generate], suppress_health_check=list(HealthCheck)))
        except NoSuchExample:
            pass
        return list(drawn), time.perf_counter() - start
    finally:
        gc.enable()


def timed_build(strategy) -> float:
    """Building and validating the top-level strategy alone (the deferred build runs here)."""
    clear_caches()
    start = time.perf_counter()
    strategy.validate()
    return time.perf_counter() - start


def shrunk(side: str, queries) -> tuple[str, float]:
    clear_caches()
    start = time.perf_counter()
    found = find(SHRINK[side](queries), has_z, settings=settings(max_examples=300, database=None, derandomize=True, deadline=None,
                                                                 suppress_health_check=list(HealthCheck)))
    return repr(found), time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=300, help="draws per run (default 300, as tests/test_shrinking.py)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="results file (default: benchmarks/results/NNNN_strategies.json)")
    args = parser.parse_args(argv)

    dataset = load_beir(cranfield_path())
    queries = dict(dataset.queries)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None

    results = {}
    for kind in ("perturbed_queries", "plan_batches"):
        runs = {"old": [], "new": []}
        builds = {"old": [], "new": []}
        examples = {}
        for _ in range(args.repeats):  # alternate, so drift in machine load hits both alike
            for side in ("old", "new"):
                builds[side].append(timed_build(SIDES[side][kind](queries)))
                got, seconds = timed_find(SIDES[side][kind](queries), args.examples)
                examples.setdefault(side, got)
                if got != examples[side]:
                    raise SystemExit(f"{side} {kind}: a derandomized run drew different examples")
                runs[side].append({"draws": len(got), "seconds": seconds, "draws_per_s": len(got) / seconds})
        if examples["old"] != examples["new"]:
            raise SystemExit(f"{kind}: OLD and NEW drew different examples")
        median = {side: statistics.median(r["draws_per_s"] for r in runs[side]) for side in runs}
        results[kind] = {
            "draws_per_run": len(examples["new"]),
            "same_examples": True,
            "old": {"runs": runs["old"], "median_draws_per_s": median["old"], "median_build_s": statistics.median(builds["old"])},
            "new": {"runs": runs["new"], "median_draws_per_s": median["new"], "median_build_s": statistics.median(builds["new"])},
            "ratio": median["new"] / median["old"],
        }

    shrink = {side: shrunk(side, queries) for side in ("old", "new")}
    if shrink["old"][0] != shrink["new"][0]:
        raise SystemExit(f"shrinking ended apart: old {shrink['old'][0]}, new {shrink['new'][0]}")

    from importlib.metadata import version

    report = {
        "schema": SCHEMA,
        "benchmark": NAME,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(load_avg_before=load_before),
        "versions": {"robustest": __version__, "hypothesis": version("hypothesis")},
        "queries": {"dataset": "cranfield", "count": len(queries)},
        "settings": {"examples": args.examples, "repeats": args.repeats, "phases": ["generate"], "derandomize": True,
                     "typos": "rst.typos (max_edits=1, the six ops)"},
        "timing": "wall time of one find() per run, caches of both sides cleared, gc.collect() before and gc off during each run; "
                  "build_s: validating the top-level strategy alone",
        "results": results,
        "shrinking": {"strategy": "perturbed_queries(queries, typos(q, max_edits=3)), condition: the variant gains a 'z'",
                      "same_result": True, "found": shrink["new"][0],
                      "old_s": shrink["old"][1], "new_s": shrink["new"][1]},
    }
    out = args.out or next_results_path(NAME)
    write_json(out, report)

    print(f"cranfield, {len(queries)} queries; {args.examples} draws per run, median of {args.repeats}; {cpu_model()}, {os.cpu_count()} CPUs")
    print("| strategy | old draws/s | new draws/s | ratio | old build s | new build s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for kind, r in results.items():
        print(f"| {kind}(queries, typos) | {r['old']['median_draws_per_s']:,.1f} | {r['new']['median_draws_per_s']:,.1f} | "
              f"{r['ratio']:.1f}x | {r['old']['median_build_s']:.3f} | {r['new']['median_build_s']:.4f} |")
    print(f"shrinking search (max_edits=3, 'z' gained): same result on both sides, old {shrink['old'][1]:.2f} s, new {shrink['new'][1]:.2f} s")
    print(f"  -> {shrink['new'][0]}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
