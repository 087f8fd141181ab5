"""Do extra perturbation seeds settle baseline comparisons that the paper's five leave open?

Issue 24, item 3: "when a comparison is inconclusive because of variant noise (not query
count), draw more seeds up to a budget before deciding; keep it only if a measurement on a
30-query set shows it settles comparisons the fixed seeds leave open". This script is that
measurement.

  data        the first 30 judged cranfield queries (by int id) over the full corpus
              ($ROBUSTEST_DATA_DIR/cranfield, default ../shared/data/cranfield)
  baseline    the embedded all-MiniLM-L6-v2 (--retriever=default)
  checkpoints the same model with every parameter tensor noised: w + N(0, (a * std(w))^2),
              a in --noise (default 0.05, 0.15), torch generator seeded per checkpoint, saved
              with save_pretrained into a copy of the model folder, loaded as a local folder
  families    misspelling, reordering, synonymizing (behind the default semantic guard), one
              variant per query per seed, drawn once from the baseline's clean queries; each
              checkpoint replays the baseline's variants (runs.frozen_perturber): the paired
              design of --robustest-baseline
  seeds       the paper's 1999, 5, 27, 2016, 2026, then the first --extra-seeds positive
              integers not among them (1, 2, 3, 4, 6, ..., 16)

Per (checkpoint, family): comparison.compare_family (the plugin's regression gate: drop rate
of the checkpoint minus the baseline's, paired bootstrap over queries, 2000 resamples) at
--tolerance 0.02 and --confidence 0.95, with the 5 paper seeds and with all 20; for context
also with each disjoint block of 5 extra seeds. Then the variance of the per-(seed, query)
drop-rate difference

    d[s, q] = (cc_q - pc_sq) / mean_s(cc) - (cb_q - pb_sq) / mean_s(cb)

(mean over q of d[s, .] is exactly seed s's drop-rate difference) is split into the
between-query part (the spread of the queries' true mean differences) and the within-query,
between-seed part (variant noise), by a one-way random-effects ANOVA over the 20 seeds. The
CI's variance at S seeds is proportional to between + within / S, so the variant share at S
seeds says how much more seeds could still narrow the CI.

Timing: drawing the variants of the extra seeds, and scoring them with the baseline and with a
checkpoint (encode, search, score), per family; divided by the number of extra seeds. A gate
that draws extra seeds has to score them with both models (a saved baseline run holds only
its own seeds), so both are counted.

    python benchmarks/bench_seed_budget.py [--queries 30] [--noise 0.05,0.15] [--extra-seeds 15]
        [--families misspelling,reordering,synonymizing] [--tolerance 0.02] [--confidence 0.95]
        [--work-dir /tmp/robustest-seed-budget] [--out PATH]

Writes benchmarks/results/NNNN_seed_budget.json (next free number) and prints a table.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from common import cranfield_path, machine_info, next_results_path  # noqa: E402

import numpy as np  # noqa: E402

from robustest import __version__  # noqa: E402
from robustest.cache import EmbeddingCache  # noqa: E402
from robustest.comparison import compare_family  # noqa: E402
from robustest.data import load_beir  # noqa: E402
from robustest.families import perturber  # noqa: E402
from robustest.files import write_json  # noqa: E402
from robustest.perturb import PAPER_SEEDS  # noqa: E402
from robustest.retrieval import CorpusIndex  # noqa: E402
from robustest.retrievers.resolve import LoadOptions, resolve_retriever  # noqa: E402
from robustest.runs import family_record, frozen_perturber  # noqa: E402
from robustest.settings import Settings  # noqa: E402
from robustest.stability import perturb_seeds, score_family  # noqa: E402

SCHEMA = 1
NAME = "seed_budget"
MEASURE = "nDCG@10"


def first_queries(n: int):
    """Cranfield, the full corpus, only its first n judged queries by int id."""
    full = load_beir(cranfield_path())
    qids = sorted(full.queries, key=int)[:n]
    keep = set(qids)
    return replace(
        full,
        queries={q: full.queries[q] for q in qids},
        qrels={q: full.qrels[q] for q in qids},
        excluded_docs={q: d for q, d in full.excluded_docs.items() if q in keep},
        notes=full.notes + (f"the first {n} judged queries by id",),
        subsampled_from=len(full.queries),
    )


def extra_seeds(n: int) -> tuple[int, ...]:
    out, k = [], 1
    while len(out) < n:
        if k not in PAPER_SEEDS:
            out.append(k)
        k += 1
    return tuple(out)


def noised_checkpoint(model_dir: Path, folder: Path, scale: float, seed: int) -> dict:
    """A copy of the model folder whose every parameter tensor got N(0, (scale * its std)^2)."""
    import torch
    from transformers import AutoModel

    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(model_dir, folder)
    model = AutoModel.from_pretrained(model_dir, dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    tensors = 0
    with torch.no_grad():
        for p in model.parameters():
            if p.numel() > 1:
                p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * (scale * p.std()))
                tensors += 1
    model.save_pretrained(folder)
    return {"scale": scale, "seed": seed, "tensors_noised": tensors, "folder": str(folder)}


def restrict(record: dict, seeds) -> dict:
    """A family record (runs.family_record) cut to some of its seeds."""
    return {"measure": record["measure"], "seeds": list(seeds), "clean": record["clean"],
            "perturbed": {str(s): record["perturbed"][str(s)] for s in seeds}}


def merge(a: dict, b: dict) -> dict:
    """Two records of one model and family on disjoint seeds (the same clean scores)."""
    return {"measure": a["measure"], "seeds": a["seeds"] + b["seeds"], "clean": a["clean"],
            "variants": {**a["variants"], **b["variants"]}, "perturbed": {**a["perturbed"], **b["perturbed"]}}


def differences(base: dict, cur: dict, seeds) -> np.ndarray:
    """d[s, q]: per-query contributions to seed s's drop-rate difference (NaN: no variant)."""
    qids = sorted(set(base["clean"]) & set(cur["clean"]))
    cb = np.array([base["clean"][q] for q in qids])
    cc = np.array([cur["clean"][q] for q in qids])
    d = np.full((len(seeds), len(qids)), np.nan)
    for s, seed in enumerate(seeds):  # a clean mean of 0 (a broken checkpoint) gives NaN: no drop rate
        pb, pc = base["perturbed"][str(seed)], cur["perturbed"][str(seed)]
        valid = np.array([q in pb and q in pc for q in qids])
        if not valid.any():
            continue
        mb, mc = cb[valid].mean(), cc[valid].mean()
        for i, q in enumerate(qids):
            if valid[i]:
                with np.errstate(divide="ignore", invalid="ignore"):
                    d[s, i] = (cc[i] - pc[q]) / mc - (cb[i] - pb[q]) / mb
    return d


def decompose(d: np.ndarray) -> dict:
    """One-way random-effects ANOVA of d[s, q] with queries as groups: between-query variance
    of the true per-query differences and within-query (between-seed, variant) variance."""
    keep = (~np.isnan(d)).any(axis=0)
    d = d[:, keep]
    k = (~np.isnan(d)).sum(axis=0)
    means = np.nanmean(d, axis=0)
    df_within = int((k - 1).sum())
    within = float(np.nansum((d - means) ** 2) / df_within) if df_within > 0 else 0.0
    spread = float(np.var(means, ddof=1)) if means.size > 1 else 0.0
    between = max(spread - within * float(np.mean(1.0 / k)), 0.0)

    def share(s: int) -> float:
        total = between + within / s
        return within / s / total if total > 0 else 0.0

    def width_ratio(s_from: int, s_to: float) -> float:
        a, b = between + within / s_from, between + (within / s_to if s_to != math.inf else 0.0)
        return math.sqrt(b / a) if a > 0 else 1.0

    return {
        "queries": int(d.shape[1]), "seeds": int(d.shape[0]), "mean_seeds_per_query": float(k.mean()),
        "var_between_queries": between, "var_within_query": within, "var_of_query_means": spread,
        "variant_share_at_5": share(5), "variant_share_at_20": share(20),
        "predicted_width_ratio_20_vs_5": width_ratio(5, 20), "predicted_width_ratio_inf_vs_5": width_ratio(5, math.inf),
    }


def summary(r) -> dict:
    lo, hi = r.difference_ci
    return {"verdict": r.verdict.value, "difference": r.difference, "ci": [lo, hi], "width": hi - lo,
            "p_value": r.p_value, "n_queries": r.n_queries, "seeds": list(r.seeds),
            "seed_differences": list(r.seed_differences), "note": r.note}


def index_for(retriever, dataset, cache) -> tuple[CorpusIndex, object, float]:
    start = time.perf_counter()
    index = CorpusIndex(retriever, dataset, cache=cache)
    index.searcher  # noqa: B018 - encode (or load) the corpus and build the index now
    encode_s = time.perf_counter() - start
    return index, index.evaluate(dataset.queries, measures=[MEASURE]), encode_s


def scored(index, family, seeds, clean, perturb) -> tuple[dict, float, float]:
    """(record, draw seconds, score seconds) of one model on some seeds."""
    start = time.perf_counter()
    perturbations = perturb_seeds(clean, family, seeds, perturb)
    drawn = time.perf_counter()
    run = score_family(index, family, seeds, MEASURE, clean, perturbations)
    done = time.perf_counter()
    return family_record(run), drawn - start, done - drawn


def pct(x: float) -> str:
    return f"{x * 100:+.2f}"


def table(rows: list[dict]) -> str:
    head = (f"{'checkpoint':<10} {'family':<12} {'5 seeds: diff [CI]':<26} {'width':>6} {'verdict':<12} "
            f"{'20 seeds: diff [CI]':<26} {'width':>6} {'verdict':<12} {'var@5':>6} {'var@20':>6}")
    lines = [head, "-" * len(head)]
    for r in rows:
        a, b = r["seeds_5"], r["seeds_20"]
        ci = lambda s: f"{pct(s['difference'])} [{pct(s['ci'][0])}, {pct(s['ci'][1])}]"  # noqa: E731
        v = r["variance"]
        lines.append(
            f"{r['checkpoint']:<10} {r['family']:<12} {ci(a):<26} {a['width'] * 100:>6.2f} {a['verdict']:<12} "
            f"{ci(b):<26} {b['width'] * 100:>6.2f} {b['verdict']:<12} {v['variant_share_at_5']:>6.0%} {v['variant_share_at_20']:>6.0%}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--noise", default="0.05,0.15", help="noise scales a (x each tensor's std), comma-separated")
    parser.add_argument("--extra-seeds", type=int, default=15)
    parser.add_argument("--families", default="misspelling,reordering,synonymizing")
    parser.add_argument("--tolerance", type=float, default=0.02)
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/robustest-seed-budget"), help="checkpoints and caches")
    parser.add_argument("--out", type=Path, help="results file (default: benchmarks/results/NNNN_seed_budget.json)")
    args = parser.parse_args(argv)
    if not cranfield_path().is_dir():
        parser.error(f"cranfield not found at {cranfield_path()} (set ROBUSTEST_DATA_DIR)")
    scales = [float(x) for x in args.noise.split(",") if x.strip()]
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    paper, extra = tuple(PAPER_SEEDS), extra_seeds(args.extra_seeds)
    all_seeds = paper + extra
    started = time.perf_counter()

    import torch

    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    cache_dir = work / "cache"
    opts = LoadOptions(progress=False, cache_dir=cache_dir)
    cache = EmbeddingCache(cache_dir)
    settings = Settings(cache_dir=str(cache_dir))  # the synonym guard: default model, cosine 0.7
    dataset = first_queries(args.queries)

    t = time.perf_counter()
    resolution = resolve_retriever("default", opts)
    baseline = resolution.load(opts)
    load_s = time.perf_counter() - t
    models = {"baseline": {"retriever": baseline, "about": {"spec": "default", "resolved": resolution.label}, "load_s": load_s}}
    for i, a in enumerate(scales):
        name = f"a={a:g}"
        t = time.perf_counter()
        about = noised_checkpoint(Path(resolution.folder.model_dir), work / f"noised-{a:g}", a, seed=1000 + i)
        made_s = time.perf_counter() - t
        t = time.perf_counter()
        r = resolve_retriever(about["folder"], opts).load(opts)
        models[name] = {"retriever": r, "about": about, "make_s": made_s, "load_s": time.perf_counter() - t}
    print(f"models ready ({time.perf_counter() - started:.0f} s); torch threads {torch.get_num_threads()}", flush=True)

    for name, m in models.items():
        m["index"], m["clean"], m["encode_s"] = index_for(m["retriever"], dataset, cache)
        m["clean_mean"] = m["clean"].mean(MEASURE)
        print(f"  {name}: corpus {m['encode_s']:.1f} s (cache hit {m['index'].cache_hit}), clean {MEASURE} {m['clean_mean']:.4f}", flush=True)

    rows, timing = [], {}
    base = models["baseline"]
    for family in families:
        t = time.perf_counter()
        perturb = perturber(family, settings)
        perturber_s = time.perf_counter() - t
        rec_paper, draw_paper, score_paper = scored(base["index"], family, paper, base["clean"], perturb)
        rec_extra, draw_extra, score_extra = scored(base["index"], family, extra, base["clean"], perturb)
        base_rec = merge(rec_paper, rec_extra)
        ftime = {"perturber_s": perturber_s, "draw_paper_s": draw_paper, "draw_extra_s": draw_extra,
                 "baseline_score_paper_s": score_paper, "baseline_score_extra_s": score_extra, "checkpoint_score_extra_s": []}
        variants = {str(s): len(base_rec["perturbed"][str(s)]) for s in all_seeds}
        replay = frozen_perturber(base_rec, family)
        for name, m in models.items():
            if name == "baseline":
                continue
            cp, _, _ = scored(m["index"], family, paper, m["clean"], replay)
            ce, _, cs = scored(m["index"], family, extra, m["clean"], replay)
            ftime["checkpoint_score_extra_s"].append(cs)
            cur_rec = merge(cp, ce)
            cmp = lambda seeds: compare_family(family, restrict(base_rec, seeds), restrict(cur_rec, seeds),  # noqa: E731
                                               tolerance=args.tolerance, confidence=args.confidence)
            blocks = [extra[i:i + 5] for i in range(0, len(extra) - len(extra) % 5, 5)]
            row = {
                "checkpoint": name, "family": family,
                "variants_per_seed": variants,
                "seeds_5": summary(cmp(paper)),
                "seeds_20": summary(cmp(all_seeds)),
                "extra_blocks_of_5": [summary(cmp(b)) for b in blocks],
                "variance": decompose(differences(base_rec, cur_rec, all_seeds)),
                "variance_paper_seeds_only": decompose(differences(base_rec, cur_rec, paper)),
            }
            row["settled_by_20"] = row["seeds_5"]["verdict"] == "inconclusive" and row["seeds_20"]["verdict"] != "inconclusive"
            row["flipped"] = row["seeds_5"]["verdict"] != "inconclusive" and row["seeds_20"]["verdict"] not in ("inconclusive", row["seeds_5"]["verdict"])
            rows.append(row)
            print(f"  {name} {family}: 5 seeds {row['seeds_5']['verdict']}, 20 seeds {row['seeds_20']['verdict']}", flush=True)
        per_seed = (draw_extra + score_extra + float(np.mean(ftime["checkpoint_score_extra_s"]))) / len(extra)
        ftime["per_extra_seed_s"] = per_seed
        ftime["per_extra_seed_parts_s"] = {"draw": draw_extra / len(extra), "baseline_score": score_extra / len(extra),
                                           "checkpoint_score": float(np.mean(ftime["checkpoint_score_extra_s"])) / len(extra)}
        timing[family] = ftime

    inconclusive_5 = [r for r in rows if r["seeds_5"]["verdict"] == "inconclusive"]
    settled = [r for r in rows if r["settled_by_20"]]
    report = {
        "schema": SCHEMA,
        "benchmark": NAME,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(torch_threads=torch.get_num_threads(), torch=torch.__version__, robustest=__version__),
        "dataset": {**dataset.describe(), "path": str(cranfield_path()), "qids": sorted(dataset.queries, key=int)},
        "models": {n: {**m["about"], "load_s": m["load_s"], "make_s": m.get("make_s"), "corpus_encode_s": m["encode_s"],
                       "cache_hit": m["index"].cache_hit, "clean_" + MEASURE: m["clean_mean"],
                       "fingerprint": getattr(m["retriever"], "fingerprint", None)} for n, m in models.items()},
        "seeds": {"paper": list(paper), "extra": list(extra)},
        "tolerance": args.tolerance, "confidence": args.confidence, "n_resamples": 2000,
        "comparisons": rows,
        "counts": {"comparisons": len(rows), "inconclusive_at_5": len(inconclusive_5),
                   "settled_by_20": len(settled), "inconclusive_at_20": sum(r["seeds_20"]["verdict"] == "inconclusive" for r in rows),
                   "flipped": sum(r["flipped"] for r in rows)},
        "timing": timing,
        "wall_s": time.perf_counter() - started,
    }
    out = args.out or next_results_path(NAME)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, report)

    print(f"\n{len(dataset.queries)} cranfield queries, tolerance {args.tolerance * 100:.2f} points, {args.confidence:.0%} CI; "
          "drop-rate difference checkpoint - baseline in points; var@S: share of the CI's variance from variant noise at S seeds")
    print("clean " + MEASURE + ": " + ", ".join(f"{n} {m['clean_mean']:.4f}" for n, m in models.items()))
    print(table(rows))
    c = report["counts"]
    print(f"\ninconclusive at 5 seeds: {c['inconclusive_at_5']} of {c['comparisons']}; settled by 20 seeds: {c['settled_by_20']}; "
          f"still inconclusive at 20: {c['inconclusive_at_20']}; verdicts flipped pass<->fail: {c['flipped']}")
    for family, ft in timing.items():
        p = ft["per_extra_seed_parts_s"]
        print(f"per extra seed, {family}: {ft['per_extra_seed_s']:.2f} s (draw {p['draw']:.2f}, baseline score {p['baseline_score']:.2f}, "
              f"checkpoint score {p['checkpoint_score']:.2f})")
    print(f"decision: {'keep' if settled else 'do not build'} the extra-seed feature ({len(settled)} comparison(s) settled)")
    print(f"wrote {out} ({report['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
