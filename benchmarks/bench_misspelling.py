"""Misspelling variants per second: robustest's native sampler vs the paper's TextAttack pipeline.

Both make one misspelled variant per query per seed, on the same 1,000 real queries, in one
process, for each of the paper's five seeds:

  robustest   `perturb_queries(queries, "misspelling", seed, sample_typos)`: six ops as edit plans, one
              candidate per op, then one of the six (`robustest.perturb.typos.sample_typos`)
  textattack  TextAttack 0.3.11 as the paper ran it: one `Augmenter` per transformation
              (the six of `paper_misspelling_transformations()`, random_one=True) with
              StopwordModification + MinWordLength(3), pct_words_to_swap=0.1, one
              augmentation each; then one of the six (those that changed the query),
              with `random` and numpy seeded once per seed

Queries: the embedded default collection (test + train, 900), then cranfield's queries up
to 1,000 (or the default queries again when cranfield is not on this machine).
TextAttack's import and the construction of its augmenters are timed apart, not counted.
robustest's word-split cache is cleared before every seed, so no run reuses another's work;
the garbage collector is run before and switched off during each timed run (as `timeit` does).

    python benchmarks/bench_misspelling.py [--queries 1000] [--seeds 1999,5,27,2016,2026] [--out PATH]

Writes benchmarks/results/NNNN_misspelling.json (next free number) and prints a table.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from common import cpu_model, cranfield_path, machine_info, next_results_path  # noqa: E402

from robustest import __version__  # noqa: E402
from robustest.data import load_beir  # noqa: E402
from robustest.data.default_collection import default_collection_path  # noqa: E402
from robustest.files import write_json  # noqa: E402  (temp file + os.replace)
from robustest.perturb import PAPER_SEEDS, perturb_queries, sample_typos  # noqa: E402
from robustest.perturb.words import split_words  # noqa: E402

SCHEMA = 1
NAME = "misspelling"
TARGET_RATIO = 20.0



def real_queries(n: int) -> tuple[dict[str, str], dict[str, int]]:
    """n real queries {id: text} and how many came from each source."""
    root = default_collection_path()
    pool = []
    for split in ("test", "train"):
        data = load_beir(root, split)
        pool += [(f"default/{split}/{q}", data.queries[q]) for q in sorted(data.queries)]
    if cranfield_path().is_dir():
        cran = load_beir(cranfield_path())
        pool += [(f"cranfield/{q}", cran.queries[q]) for q in sorted(cran.queries, key=int)]
    chosen = []
    for i in range(n):  # cycle the pool when it is short, keeping ids distinct
        qid, text = pool[i % len(pool)]
        chosen.append((qid if i < len(pool) else f"{qid}#{i // len(pool)}", text))
    sources: dict[str, int] = {}
    for qid, _ in chosen:
        sources[qid.split("/")[0]] = sources.get(qid.split("/")[0], 0) + 1
    return dict(chosen), sources


def words_changed(original: str, text: str) -> int:
    a, b = [w.text for w in split_words(original)], [w.text for w in split_words(text)]
    if len(a) != len(b):
        return sum(x != y for x, y in zip(a, b)) + abs(len(a) - len(b))
    return sum(x != y for x, y in zip(a, b))


class TextAttackPaperPipeline:
    """The paper's misspelling with TextAttack: one augmentation per transformation, then one."""

    def __init__(self):
        from robustest.perturb.textattack_adapter import (
            paper_constraints,
            paper_misspelling_transformations,
            prepare_textattack,
        )

        prepare_textattack()
        from textattack.augmentation import Augmenter

        self.augmenters = [
            Augmenter(transformation=t, constraints=paper_constraints(), pct_words_to_swap=0.1,
                      transformations_per_example=1)
            for t in paper_misspelling_transformations()
        ]

    def run(self, queries: dict[str, str], seed: int) -> dict[str, str]:
        import numpy as np

        random.seed(seed)
        np.random.seed(seed)
        out = {}
        for qid in sorted(queries):
            query = queries[qid]
            candidates = [t for a in self.augmenters for t in a.augment(query)[:1] if t != query]
            if candidates:
                out[qid] = random.choice(candidates)
        return out


def run_robustest(queries: dict[str, str], seed: int) -> dict[str, str]:
    perturbed = perturb_queries(queries, "misspelling", seed, sample_typos)
    return {v.query_id: v.text for v in perturbed.variants}


def timed(run, queries, seed) -> tuple[dict[str, str], float]:
    """Wall time of one run, with the garbage collector off as `timeit` does: with TextAttack's
    stack loaded a full collection takes a noticeable fraction of a second, and would land
    in whichever run happens to cross the threshold."""
    split_words.cache_clear()
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        out = run(queries, seed)
        return out, time.perf_counter() - start
    finally:
        gc.enable()


def summary(variants: dict[str, str], seconds: float, queries: dict[str, str]) -> dict:
    changed = [words_changed(queries[q], t) for q, t in variants.items()]
    return {
        "variants": len(variants),
        "skipped": len(queries) - len(variants),
        "seconds": seconds,
        "variants_per_s": len(variants) / seconds,
        "mean_words_changed": sum(changed) / max(len(changed), 1),
    }




def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seeds", default=",".join(map(str, PAPER_SEEDS)))
    parser.add_argument("--out", type=Path, help="results file (default: benchmarks/results/NNNN_misspelling.json)")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]

    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    queries, sources = real_queries(args.queries)

    start = time.perf_counter()
    textattack = TextAttackPaperPipeline()  # imports TextAttack (flair, transformers, ...)
    textattack_setup_s = time.perf_counter() - start

    per_seed = []
    for seed in seeds:  # alternate, so drift in machine load hits both alike
        ours, ours_s = timed(run_robustest, queries, seed)
        theirs, theirs_s = timed(textattack.run, queries, seed)
        per_seed.append({
            "seed": seed,
            "robustest": summary(ours, ours_s, queries),
            "textattack": summary(theirs, theirs_s, queries),
            "ratio": (len(ours) / ours_s) / (len(theirs) / theirs_s),
        })

    def total(side: str) -> dict:
        n = sum(r[side]["variants"] for r in per_seed)
        s = sum(r[side]["seconds"] for r in per_seed)
        return {"variants": n, "seconds": s, "variants_per_s": n / s}

    ours_total, theirs_total = total("robustest"), total("textattack")
    ratio = ours_total["variants_per_s"] / theirs_total["variants_per_s"]
    from importlib.metadata import version

    report = {
        "schema": SCHEMA,
        "benchmark": NAME,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(load_avg_before=load_before),
        "versions": {"robustest": __version__, "textattack": version("textattack"), "numpy": version("numpy")},
        "queries": {"count": len(queries), "sources": sources},
        "seeds": seeds,
        "textattack_setup_s": textattack_setup_s,
        "timing": "wall time per seed; word-split cache cleared, gc.collect() before and gc off during each run",
        "per_seed": per_seed,
        "robustest": ours_total,
        "textattack": theirs_total,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
    }
    out = args.out or next_results_path(NAME)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, report)

    print(f"{len(queries)} queries ({', '.join(f'{k} {v}' for k, v in sources.items())}), seeds {seeds}; "
          f"{cpu_model()}; TextAttack import + setup {textattack_setup_s:.1f} s (not counted)")
    head = f"{'seed':>5} {'robustest v/s':>13} {'textattack v/s':>14} {'ratio':>7} {'words changed (ours/TA)':>24}"
    print(head)
    print("-" * len(head))
    for r in per_seed:
        o, t = r["robustest"], r["textattack"]
        print(f"{r['seed']:>5} {o['variants_per_s']:>13.0f} {t['variants_per_s']:>14.1f} {r['ratio']:>6.1f}x "
              f"{o['mean_words_changed']:>12.2f} / {t['mean_words_changed']:.2f}")
    verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
    print(f"{'all':>5} {ours_total['variants_per_s']:>13.0f} {theirs_total['variants_per_s']:>14.1f} {ratio:>6.1f}x"
          f"   ({verdict} the target of {TARGET_RATIO:.0f}x)")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
