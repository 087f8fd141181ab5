"""`robustest analyze`: several saved runs (models x datasets) read together.

From the runs' per-query scores it builds one long table (model, dataset, query, factor level,
clean score, each family's perturbed score averaged over seeds), fits a mixed model per score
(robustest.mixed), lays the runs' geometry side by side and correlates it with the drop rates
and attack success rates across models (robustest.correlations). Everything comes back as plain
data and text; `write_outputs` adds CSV tables, PNG plots and a page of every figure
(robustest.figures) in a folder.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .correlations import correlations_table, geometry_correlations
from .errors import RobustestError
from .files import atomic_write
from .fingerprints import short
from .geometry import METRICS
from .instruction_table import SENSITIVITY, is_instruction
from .mixed import MixedFit, MixedModelWarning, fit_mixed, means_table

ASR_K = "20"  # the paper's headline attack success rate


def read_run(path: str | Path) -> dict:
    """One saved run, validated by the run store (one clear error per broken file)."""
    from .runs import load_run

    return load_run(path)


@dataclass
class Run:
    path: str
    model: str
    dataset: str
    data: dict


SAME_MODEL_KEYS = ("fingerprint", "name", "resolved", "spec", "kind", "device")  # never a distinguishing setting


def label_runs(runs: Sequence[tuple[str, dict]]) -> list[Run]:
    """Name each run's model and dataset. Models that share a name are told apart by the
    settings that differ between them (e.g. `all-MiniLM-L6-v2 (pooling=cls)`), else by
    fingerprint; datasets by corpus fingerprint. Two runs of one model on one dataset are a
    mistake."""
    datas = [d for _, d in runs]
    rets = [d["retriever"] for d in datas]
    names = [_short_name(str(r.get("resolved") or r.get("name") or r.get("spec") or "retriever")) for r in rets]
    models = []
    for name, ret in zip(names, rets):
        group = [r for n, r in zip(names, rets) if n == name]
        if len({str(r.get("fingerprint")) for r in group}) < 2:
            models.append(name)
            continue
        keys = [k for k in ret if k not in SAME_MODEL_KEYS and isinstance(ret[k], (str, int, float, bool, type(None)))]
        differing = [k for k in keys if len({repr(r.get(k)) for r in group}) > 1]
        models.append(f"{name} ({', '.join(f'{k}={ret[k]}' for k in differing)})" if differing else f"{name} [{short(str(ret.get('fingerprint')))}]")
    # A dataset is its corpus: a run on a subsample of the queries is the same dataset.
    dnames = [str(d["dataset"].get("name") or "dataset") for d in datas]
    dprints = [str(d["dataset"].get("corpus_fingerprint") or d["dataset"].get("fingerprint") or "") for d in datas]
    datasets = [
        f"{n} [{short(fp)}]" if len({p for m, p in zip(dnames, dprints) if m == n}) > 1 else n for n, fp in zip(dnames, dprints)
    ]
    labelled = [Run(str(p), m, ds, d) for (p, d), m, ds in zip(runs, models, datasets)]
    seen: dict[tuple[str, str], str] = {}
    for r in labelled:
        key = (r.model, r.dataset)
        if key in seen:
            raise RobustestError(f"{seen[key]} and {r.path} are both runs of {r.model} on {r.dataset}; pass one run per model and dataset")
        seen[key] = r.path
    return labelled


def _short_name(name: str) -> str:
    """A model given as a path is named by its last part (`SmolLM2-135M-Instruct.Q4_1.gguf`)."""
    if "/" in name and (name.startswith(("/", "./", "../", "~")) or Path(name).exists()):
        return Path(name.rstrip("/")).name or name
    return name


def headline_measure(runs: Sequence[Run]) -> str:
    """nDCG@10 when every run has it, else the first measure they share."""
    shared = None
    for r in runs:
        names = list(r.data["per_query"])
        shared = names if shared is None else [m for m in shared if m in names]
    if not shared:
        raise RobustestError("the runs share no per-query measure; save them with the same --robustest-measures")
    return "nDCG@10" if "nDCG@10" in shared else shared[0]


def read_factor_file(path: str | Path, column: str) -> dict[tuple[str, str | None], str]:
    """{(dataset, query id or None): level} from a CSV with columns dataset, `column` and
    optionally query (a row without a query applies to the whole dataset)."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            rows = list(reader)
    except OSError as exc:
        raise RobustestError(f"cannot read factor file {path} ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise RobustestError(f"factor file {path} is not utf-8 ({exc.reason} at byte {exc.start}); save it as utf-8 CSV") from None
    except csv.Error as exc:
        raise RobustestError(f"factor file {path} is not readable CSV ({exc}); save it as CSV with columns dataset, {column} and optionally query") from None
    for needed in ("dataset", column):
        if needed not in header:
            raise RobustestError(f"factor file {path} has no column {needed!r} (it has {', '.join(header) or 'none'}); it needs dataset, {column} and optionally query")
    query_col = "query" if "query" in header else ("query_id" if "query_id" in header else None)
    mapping = {}
    for line, row in enumerate(rows, start=2):  # line 1 is the header (a row spanning lines counts as one)
        empty = [name for name in ("dataset", column) if not (row.get(name) or "").strip()]
        if empty:
            raise RobustestError(f"factor file {path}, row {line}: no {' and no '.join(empty)}; give every row a dataset and a {column}")
        qid = (row.get(query_col) or "").strip() if query_col else ""
        mapping[(row["dataset"].strip(), qid or None)] = row[column].strip()
    return mapping


def factor_level(mapping: Mapping[tuple[str, str | None], str], dataset: str, qid: str) -> str | None:
    level = mapping.get((dataset, qid))
    return mapping.get((dataset, None)) if level is None else level


def family_scores(family: Mapping[str, Any]) -> dict[str, float]:
    """Per query, the perturbed score averaged over the seeds that had a variant for it."""
    sums: dict[str, list[float]] = {}
    for by_query in (family.get("perturbed") or {}).values():
        for qid, value in by_query.items():
            if value is not None and math.isfinite(float(value)):
                sums.setdefault(str(qid), []).append(float(value))
    return {q: float(np.mean(v)) for q, v in sums.items()}


def score_table(runs: Sequence[Run], measure: str, factor: str = "dataset", factor_map=None) -> tuple[list[dict], list[str]]:
    """The long table, one row per (run, query), and the names of its score columns."""
    clean_name = f"clean {measure}"
    families = list(dict.fromkeys(f for r in runs for f in (r.data.get("families") or {})))
    columns = [clean_name] + [f"{f} {_family_measure(runs, f)}" for f in families]
    # The instruction families also as one score, their mean per query: the model's instruction sensitivity.
    column_of = dict(zip(families, columns[1:]))
    kinds = [f for f in families if any(is_instruction((r.data.get("families") or {}).get(f) or {}) for r in runs)]
    if kinds:
        columns.append(f"{SENSITIVITY} {_family_measure(runs, kinds[0])}")
    rows, unmapped = [], []
    for r in runs:
        per_query = r.data["per_query"].get(measure) or {}
        perturbed = {f: family_scores(fam) for f, fam in (r.data.get("families") or {}).items()}
        dataset_name = str(r.data["dataset"].get("name") or r.dataset)
        for qid, value in per_query.items():
            if factor == "dataset":
                level = r.dataset
            else:
                level = factor_level(factor_map, dataset_name, str(qid))
                if level is None:
                    level = factor_level(factor_map, r.dataset, str(qid))
                if level is None:
                    unmapped.append((r.dataset, qid))
                    continue
            row = {"model": r.model, "dataset": r.dataset, "query": str(qid), "factor": level, clean_name: _num(value)}
            for f, col in column_of.items():
                row[col] = perturbed.get(f, {}).get(str(qid), float("nan"))
            if kinds:
                values = [row[column_of[f]] for f in kinds if f in perturbed]
                values = [v for v in values if math.isfinite(v)]
                row[columns[-1]] = float(np.mean(values)) if values else float("nan")
            rows.append(row)
    if unmapped:
        ds, q = unmapped[0]
        raise RobustestError(f"the factor file gives no {factor} for {len(unmapped)} queries, e.g. dataset {ds!r} query {q!r}; add rows for them (a row without a query covers its dataset)")
    return rows, columns


def _family_measure(runs: Sequence[Run], family: str) -> str:
    for r in runs:
        fam = (r.data.get("families") or {}).get(family)
        if fam and fam.get("measure"):
            return str(fam["measure"])
    return "score"


def _num(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


@dataclass
class Analysis:
    runs: list[dict]  # model, dataset, path, queries, clean, drop rates, ASR@20
    measure: str
    factor: str
    scores: list[dict]
    score_columns: list[str]
    fits: dict[str, MixedFit]
    skipped: dict[str, str]  # score column -> why no model was fitted
    geometry: list[dict]  # model, dataset, metrics
    correlations: list[dict]
    by_model: tuple = ({}, {}, {})  # model-level geometry, targets, clean score (see model_level)
    warnings: list[str] = field(default_factory=list)
    text: str = ""
    written: list[str] = field(default_factory=list)
    raw: list[Run] = field(default_factory=list)  # the labelled runs as read, for the figures


def analyze_runs(
    paths: Sequence[str | Path],
    *,
    factor: str = "dataset",
    factor_file: str | Path | None = None,
    confidence: float = 0.95,
) -> Analysis:
    if not paths:
        raise RobustestError("robustest analyze needs at least one run file")
    factor_map = None
    if factor != "dataset":
        if factor_file is None:
            raise RobustestError(f"--factor={factor} needs --factor-file=CSV with columns dataset, {factor} and optionally query")
        factor_map = read_factor_file(factor_file, factor)
    runs = label_runs([(str(p), read_run(p)) for p in paths])
    measure = headline_measure(runs)
    scores, columns = score_table(runs, measure, factor, factor_map)
    fits, skipped, caught = {}, {}, []
    for column in columns:
        table = [{"model": r["model"], "dataset": r["dataset"], "query": r["query"], "factor": r["factor"], "score": r[column]} for r in scores]
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always", MixedModelWarning)
            try:
                fits[column] = fit_mixed(table, response=column, factor=factor, confidence=confidence, factor_is_dataset=factor == "dataset")
            except RobustestError as exc:
                skipped[column] = str(exc)
        caught += [str(w.message) for w in got if issubclass(w.category, MixedModelWarning)]
    summaries = [run_summary(r, measure) for r in runs]
    geometry = [{"model": r.model, "dataset": r.dataset, **{k: (r.data.get("geometry") or {}).get(k) for k in METRICS}} for r in runs if r.data.get("geometry")]
    by_model = model_level(runs, measure)
    correlations = geometry_correlations(*by_model) if geometry else []
    analysis = Analysis(summaries, measure, factor, scores, columns, fits, skipped, geometry, correlations, by_model, caught, raw=runs)
    analysis.text = render(analysis)
    return analysis


def run_summary(r: Run, measure: str) -> dict[str, Any]:
    families = r.data.get("families") or {}
    poisoning = r.data.get("poisoning") or {}
    effectiveness = r.data.get("effectiveness") or {}
    per_query = r.data["per_query"].get(measure) or {}
    clean = effectiveness.get(measure)
    if clean is None and per_query:
        clean = float(np.mean([_num(v) for v in per_query.values()]))
    return {
        "model": r.model,
        "dataset": r.dataset,
        "path": r.path,
        "queries": len(per_query),
        f"clean {measure}": clean,
        **{f"{f} drop rate": fam.get("drop_rate_mean") for f, fam in families.items()},
        **{f"{f} drop rate std": fam.get("drop_rate_std") for f, fam in families.items()},
        **instruction_summary(families),
        **{f"{a} ASR@{ASR_K}": (att.get("asr") or {}).get(ASR_K) for a, att in poisoning.items()},
    }


def instruction_summary(families: Mapping[str, Any]) -> dict[str, float]:
    """The mean drop rate of the run's instruction families, and its std over them ({} without any)."""
    rates = [float(f["drop_rate_mean"]) for f in families.values() if is_instruction(f) and f.get("drop_rate_mean") is not None]
    if not rates:
        return {}
    return {f"{SENSITIVITY} drop rate": float(np.mean(rates)), f"{SENSITIVITY} drop rate std": float(np.std(rates))}


def model_level(runs: Sequence[Run], measure: str):
    """Per model, the mean over its runs (datasets) of each geometry metric, each family's drop
    rate, each attack's ASR@20 and clean effectiveness: the units of the correlations."""

    def mean(values):
        values = [float(v) for v in values if v is not None and math.isfinite(float(v))]
        return float(np.mean(values)) if values else None

    by_model: dict[str, list[Run]] = {}
    for r in runs:
        by_model.setdefault(r.model, []).append(r)
    geometry, targets, control = {}, {}, {}
    for model, rs in by_model.items():
        geometry[model] = {k: mean((r.data.get("geometry") or {}).get(k) for r in rs) for k in METRICS}
        summaries = [run_summary(r, measure) for r in rs]
        control[model] = mean(s[f"clean {measure}"] for s in summaries)
        for key in dict.fromkeys(k for s in summaries for k in s if k.endswith(" drop rate") or k.endswith(f" ASR@{ASR_K}")):
            targets.setdefault(key, {})[model] = mean(s.get(key) for s in summaries)
    return geometry, targets, control


def _fmt(v, spec=".4f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def render(a: Analysis) -> str:
    models = list(dict.fromkeys(r["model"] for r in a.runs))
    datasets = list(dict.fromkeys(r["dataset"] for r in a.runs))
    lines = [f"robustest analyze: {len(a.runs)} runs, {len(models)} models, {len(datasets)} datasets; factor {a.factor}", "", "runs:"]
    extra = list(dict.fromkeys(k for r in a.runs for k in r if k.endswith(" drop rate") or k.endswith(f"ASR@{ASR_K}")))
    for r in a.runs:
        parts = [f"{a.measure} {_fmt(r.get(f'clean {a.measure}'))}"]
        for k in extra:
            if r.get(k) is None:
                continue
            if k.endswith(" drop rate"):
                parts.append(f"{k} {r[k] * 100:.2f}% ± {_fmt((r.get(k + ' std') or 0) * 100, '.2f')}")
            else:
                parts.append(f"{k} {r[k]:.3f}")
        lines.append(f"  {r['model']} on {r['dataset']} ({r['queries']} queries): " + ", ".join(parts))
    lines += ["", f"estimated marginal means (mixed model; equal weights over {a.factor} levels):"]
    for column in a.score_columns:
        if column in a.fits:
            lines.append(means_table(a.fits[column]))
        else:
            lines.append(f"{column}: not fitted: {a.skipped.get(column)}")
    if a.geometry:
        lines += ["", "geometry (seeded sample of each run's corpus embeddings):"]
        shown = [k for k in METRICS if any(g.get(k) is not None for g in a.geometry)]
        lines.append(f"  {'model':32} {'dataset':16} " + " ".join(f"{k.replace('spectral_norm_', 'sn_'):>14}" for k in shown))
        for g in a.geometry:
            lines.append(f"  {g['model']:32} {g['dataset']:16} " + " ".join(f"{_fmt(g.get(k), '.4g'):>14}" for k in shown))
        if any(k.startswith("spectral_norm_") for k in shown):
            lines.append("  (sn_: spectral norm of the nn.Linear weights)")
        lines += ["", "geometry vs robustness across models:"]
        lines.append(correlations_table(a.correlations) if a.correlations else "  no drop rates or attack results in the runs")
    else:
        lines += ["", "geometry: none of the runs has it (run suites/test_geometry.py with --robustest-save)"]
    return "\n".join(lines)


# -- files -------------------------------------------------------------------------------


def _write_csv(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> None:
    columns = list(columns or dict.fromkeys(k for r in rows for k in r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    data = buffer.getvalue().encode("utf-8")
    atomic_write(path, lambda f: f.write(data))


def write_outputs(a: Analysis, out: str | Path) -> list[Path]:
    """CSV tables, PNG plots, the printed text and the figures page (figures.html, every
    figure of robustest.figures) under `out` (created)."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RobustestError(f"cannot create output folder {out} ({exc.strerror or exc}); pass a writable --out") from None
    written = []

    def csv_file(name, rows, columns=None):
        path = out / name
        _write_csv(path, rows, columns)
        written.append(path)

    csv_file("runs.csv", a.runs)
    csv_file("scores.csv", a.scores, ["model", "dataset", "query", "factor", *a.score_columns])
    fits = list(a.fits.values())
    csv_file("marginal_means.csv", [{"score": f.response, **r} for f in fits for r in f.model_means])
    csv_file("cell_means.csv", [{"score": f.response, **{("level" if k == f.factor else k): v for k, v in r.items()}} for f in fits for r in f.cell_means])
    csv_file("contrasts.csv", [{"score": f.response, **r} for f in fits for r in f.contrasts])
    csv_file("joint_tests.csv", [{"score": f.response, **r} for f in fits for r in f.joint_tests])
    if a.geometry:
        csv_file("geometry.csv", a.geometry)
        csv_file("correlations.csv", a.correlations)
    text = a.text.encode("utf-8")
    atomic_write(out / "summary.txt", lambda f: f.write(text))
    written.append(out / "summary.txt")
    from .figures import write_figures

    written += write_figures(a, out)
    a.written = [str(p) for p in written]
    return written


def write_mteb_results(a: Analysis, folder: str | Path) -> list[Path]:
    """Every analyzed run's MTEB result files under `folder` (robustest.mteb_results)."""
    from . import mteb_results

    return [path for r in a.raw for path in mteb_results.write_mteb_results(r.data, folder)]
