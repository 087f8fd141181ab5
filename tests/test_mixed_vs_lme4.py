"""robustest.mixed against the paper's own tool: R's lme4 and emmeans, on one real table.

The table: per-query nDCG@10 of two real retrievers (the embedded all-MiniLM-L6-v2 and the
BM25 baseline) on two real collections: the embedded WordNet-senses default, 40 queries picked
by the max-queries subsample with a 300-document corpus cut from its 5,000 (the queries'
answers and their other senses first), and the suite's small cranfield (20 queries, 150
documents; other tests encode it into the same session cache). The factor is defined by the
query text: short or long, at most or above the median word count of its dataset's queries.
The design is unbalanced (40 and 20 queries, uneven short/long splits) and all three variance
components are away from zero, so the full nested model is compared, not its boundary case.

Both sides fit `score ~ model * factor + (1 | dataset/query)` by REML. emmeans is told to use
asymptotic degrees of freedom (robustest's normal theory), which leaves the covariance of the
fixed effects as lme4 estimates it (Kenward-Roger, emmeans' default once pbkrtest is
installed, would inflate it; Satterthwaite changes only the degrees of freedom).

Tolerances: the two REML optima agree to about 1e-6 relative in the variances on this table
(5e-5 on a larger one tried while writing this: statsmodels' stopping rule; lme4 runs with
tight tolerances here), and the standard errors and F ratios follow them. The margins below
are several times the worst of that, and an order of magnitude under what statsmodels' own
`cov_params()` (the whole observed Hessian inverted) gave on this table: standard errors
0.29% and the query-length F 0.55% away from lme4 + emmeans (robustest.mixed now computes
lme4's covariance itself).
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from dataclasses import replace

import numpy as np
import pytest

QUERIES = {"wordnet-senses": 40, "cranfield": 20}  # the first through the max-queries subsample
DOCUMENTS = 300  # of the default collection's 5,000: judged documents first, then their other senses
MEASURE = "nDCG@10"

EMM_ABS = 1e-4  # the marginal means, in nDCG units (they agree to about 1e-8)
SE_REL = 2e-4  # their standard errors (about 1e-6)
VAR_REL = 5e-4  # the variance components (about 1e-6)
F_REL = 5e-4  # the joint tests' F ratios and p-values (about 1e-6)

R_FIT = r"""
suppressPackageStartupMessages({library(lme4); library(emmeans)})
args <- commandArgs(trailingOnly = TRUE)
out <- args[2]
d <- read.csv(args[1], colClasses = c("character", "character", "character", "character", "numeric"))
for (col in c("model", "dataset", "query", "factor")) d[[col]] <- factor(d[[col]])
# lmer's default: REML. Tight tolerances so the optimum, not the stopping rule, is compared.
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 2e-4, rhoend = 2e-10, maxfun = 1e5))
m <- lmer(score ~ model * factor + (1 | dataset/query), data = d, REML = TRUE, control = ctrl)
emm_options(lmer.df = "asymptotic")
mm <- as.data.frame(emmeans(m, ~ model))
cm <- as.data.frame(emmeans(m, ~ model * factor))
write.csv(data.frame(model = mm$model, emm = mm$emmean, se = mm$SE), file.path(out, "model_means.csv"), row.names = FALSE)
write.csv(data.frame(model = cm$model, level = cm$factor, emm = cm$emmean, se = cm$SE), file.path(out, "cell_means.csv"), row.names = FALSE)
jt <- as.data.frame(joint_tests(m))
# joint_tests prints F.ratio rounded to 3 decimals; its p-value comes from the unrounded F, so
# the F to full precision is the p-value's quantile (df2 is Inf here: the chi-square / df1).
jt$F.exact <- qf(jt$p.value, jt$df1, jt$df2, lower.tail = FALSE)
write.csv(data.frame(term = jt[["model term"]], df1 = jt$df1, df2 = jt$df2, F = jt$F.ratio, F_exact = jt$F.exact, p = jt$p.value), file.path(out, "joint_tests.csv"), row.names = FALSE)
vc <- as.data.frame(VarCorr(m))
write.csv(data.frame(group = vc$grp, variance = vc$vcov), file.path(out, "variances.csv"), row.names = FALSE)
write.csv(data.frame(reml = isREML(m) * 1, loglik = as.numeric(logLik(m)), singular = isSingular(m) * 1), file.path(out, "fit.csv"), row.names = FALSE)
"""


@pytest.fixture(scope="module")
def rscript() -> str:
    path = shutil.which("Rscript")
    if path is None:
        pytest.skip("Rscript is not installed: `make r` installs r-base-core, r-cran-lme4 and r-cran-emmeans (make test does)")
    check = subprocess.run([path, "-e", "library(lme4); library(emmeans)"], capture_output=True, text=True, timeout=120)
    if check.returncode != 0:
        missing = [p for p in ("lme4", "emmeans") if f"no package called ‘{p}’" in check.stderr or f"no package called '{p}'" in check.stderr]
        pytest.skip(
            f"R lacks the package(s) {', '.join(missing) or 'lme4/emmeans'} ({check.stderr.strip().splitlines()[-1] if check.stderr.strip() else 'library() failed'}): "
            "`make r` installs r-cran-lme4 and r-cran-emmeans (make test does)"
        )
    return path


def small_default_collection(full):
    """The default collection's queries cut by the max-queries subsample, and a corpus of
    their answers, then the other senses of the answers' lemmas (the hard negatives), then the
    rest in corpus order, up to `DOCUMENTS`. A document is `lemma, lemma: gloss`."""
    from robustest.data.types import subsample_queries

    def lemmas(text):
        return set(text.split(": ", 1)[0].split(", "))

    picked = subsample_queries(full, QUERIES["wordnet-senses"])
    judged = {d for judgements in picked.qrels.values() for d in judgements}
    wanted = set().union(*(lemmas(t) for d, t in zip(full.doc_ids, full.texts) if d in judged))
    order = [i for i, d in enumerate(full.doc_ids) if d in judged]
    order += [i for i, (d, t) in enumerate(zip(full.doc_ids, full.texts)) if d not in judged and lemmas(t) & wanted]
    chosen = set(order)
    order += [i for i in range(len(full.doc_ids)) if i not in chosen]
    keep = sorted(order[: max(DOCUMENTS, len(judged))])
    return replace(
        picked,
        doc_ids=tuple(full.doc_ids[i] for i in keep),
        titles=tuple(full.titles[i] for i in keep),
        texts=tuple(full.texts[i] for i in keep),
    )


def query_length(queries: dict[str, str]) -> dict[str, str]:
    words = {q: len(t.split()) for q, t in queries.items()}
    median = float(np.median(list(words.values())))
    return {q: "short" if n <= median else "long" for q, n in words.items()}


@pytest.fixture(scope="module")
def table(minilm, small_cranfield, cache_dir):
    """One row per (model, dataset, query): the real per-query nDCG@10 table."""
    import pandas as pd

    from robustest.cache import EmbeddingCache
    from robustest.data import load_beir, load_dataset
    from robustest.retrieval import CorpusIndex
    from robustest.retrievers.resolve import LoadOptions, resolve_retriever

    opts = LoadOptions(cache_dir=cache_dir, progress=False)
    bm25 = resolve_retriever("bm25", opts).load(opts)
    datasets = {
        "wordnet-senses": small_default_collection(load_dataset("default", cache_dir=cache_dir)),
        "cranfield": load_beir(small_cranfield),
    }
    rows = []
    for name, dataset in datasets.items():
        levels = query_length(dataset.queries)
        for retriever in (minilm, bm25):
            evaluation = CorpusIndex(retriever, dataset, cache=EmbeddingCache(cache_dir)).evaluate(measures=[MEASURE])
            for qid, score in zip(evaluation.qids, evaluation.scores[MEASURE]):
                rows.append({"model": retriever.name, "dataset": name, "query": qid, "factor": levels[qid], "score": float(score)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def fits(table, rscript, tmp_path_factory):
    import warnings

    from robustest.mixed import MixedModelWarning, fit_mixed

    folder = tmp_path_factory.mktemp("lme4")
    table.to_csv(folder / "scores.csv", index=False)
    (folder / "fit.R").write_text(R_FIT)
    done = subprocess.run([rscript, str(folder / "fit.R"), str(folder / "scores.csv"), str(folder)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"Rscript failed:\n{done.stderr}"
    r = {name: read_csv(folder / f"{name}.csv") for name in ("model_means", "cell_means", "joint_tests", "variances", "fit")}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MixedModelWarning)
        ours = fit_mixed(table)
    ours.warnings = [str(w.message) for w in caught if issubclass(w.category, MixedModelWarning)]
    ours.r_stderr = done.stderr
    return ours, r


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_table_is_real_and_complete(table):
    assert sorted(table["dataset"].unique()) == ["cranfield", "wordnet-senses"]
    assert sorted(table["model"].unique()) == ["BM25", "all-MiniLM-L6-v2"]
    counts = table.groupby(["model", "dataset", "factor"]).size()
    assert len(counts) == 2 * 2 * 2 and (counts >= 5).all(), counts
    sizes = table.groupby(["model", "dataset"]).size()
    assert all(sizes[(model, dataset)] == n for model in ("BM25", "all-MiniLM-L6-v2") for dataset, n in QUERIES.items())
    assert table["score"].between(0, 1).all() and table["score"].std() > 0.1
    # The two models rank differently: their per-query scores are not the same numbers.
    wide = table.pivot_table(index=["dataset", "query"], columns="model", values="score")
    assert (wide["BM25"] != wide["all-MiniLM-L6-v2"]).mean() > 0.3


def test_both_fit_the_same_model_by_reml(fits, table):
    ours, r = fits
    (fit,) = r["fit"]
    assert fit["reml"] == "1"
    assert ours.n_obs == len(table) and ours.n_datasets == 2 and ours.n_queries == sum(QUERIES.values())
    # Neither side is on the boundary: the dataset intercept is in both fits, not dropped.
    assert ours.converged and not ours.warnings, ours.notes
    assert fit["singular"] == "0", ours.r_stderr
    assert ours.random_effects == f"intercepts for 2 datasets and {sum(QUERIES.values())} queries within them"


def test_estimated_marginal_means_and_standard_errors_agree(fits):
    ours, r = fits
    pairs = [(ours_row, r_row) for ours_row in ours.model_means for r_row in r["model_means"] if r_row["model"] == ours_row["model"]]
    pairs += [
        (ours_row, r_row)
        for ours_row in ours.cell_means
        for r_row in r["cell_means"]
        if (r_row["model"], r_row["level"]) == (ours_row["model"], ours_row["factor"])
    ]
    assert len(pairs) == 2 + 2 * 2
    for mine, theirs in pairs:
        assert mine["emm"] == pytest.approx(float(theirs["emm"]), abs=EMM_ABS), (mine, theirs)
        assert mine["se"] == pytest.approx(float(theirs["se"]), rel=SE_REL), (mine, theirs)


def test_variance_components_agree(fits):
    ours, r = fits
    theirs = {row["group"]: float(row["variance"]) for row in r["variances"]}
    assert set(theirs) == {"query:dataset", "dataset", "Residual"}
    assert ours.variances["residual"] == pytest.approx(theirs["Residual"], rel=VAR_REL)
    assert ours.variances["query"] == pytest.approx(theirs["query:dataset"], rel=VAR_REL)
    assert ours.variances["dataset"] == pytest.approx(theirs["dataset"], rel=VAR_REL)
    assert theirs["dataset"] > 0.05 * theirs["Residual"]  # a real component, not the boundary


def test_joint_tests_agree(fits):
    """emmeans reports F = Wald chi-square / df1 with df2 infinite (asymptotic df), rounded to
    3 decimals; the unrounded F is recovered from its p-value. robustest reports the same F
    next to its chi-square (= F * df1) and the chi-square p-value."""
    ours, r = fits
    theirs = {row["term"]: row for row in r["joint_tests"]}
    mine = {row["term"]: row for row in ours.joint_tests}
    assert set(mine) == set(theirs) == {"model", "factor", "model:factor"}
    for term, row in mine.items():
        other = theirs[term]
        assert row["df"] == int(other["df1"]) and other["df2"] == "Inf"
        assert row["F"] == pytest.approx(float(other["F_exact"]), rel=F_REL), (term, row, other)
        assert row["F"] == pytest.approx(float(other["F"]), abs=5e-4 + F_REL * row["F"])  # as printed, rounded
        assert row["chi2"] == pytest.approx(float(other["F_exact"]) * row["df"], rel=F_REL)
        assert row["p"] == pytest.approx(float(other["p"]), rel=F_REL, abs=1e-12)
