"""`robustest analyze`'s figures, and the page that gathers them (figures.html).

One `Chart` per figure, in page order: drop rate per family and model (bars: mean ± std over
seeds; whisker: the bootstrap CI over queries), the mixed model's estimated marginal means per
model and its cell means per model and factor level, ASR@k curves per model and N (poisoning),
and each geometry metric against each robustness target with analyze's correlation in the
panel title. A chart without data carries a one-line note instead of a figure. The figures are
drawn with robustest.plots' primitives; the page uses robustest.report's style and helpers and
holds every image as a `data:` URI, so it stands alone like the run report.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from . import plots
from .files import atomic_write
from .geometry import METRICS

PAGE = "figures.html"
PNG_DPI = 110
PAGE_WIDTH = 10.4  # inches: at PNG_DPI a figure this wide fills the page's column without being scaled down


@dataclass
class Chart:
    key: str  # the figure's id on the page (fig-<key>)
    title: str
    figure: Any = None  # a matplotlib Figure, None when there is no data
    caption: str = ""
    note: str = ""  # why there is no figure (one line)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def model_colours(a) -> dict[str, str]:
    """The same colour for a model in every figure: by its first appearance among the runs."""
    return {m: plots.colour(i) for i, m in enumerate(dict.fromkeys(r["model"] for r in a.runs))}


def grid(panels: int, panel_width: float, spare: float = 0.0) -> tuple[int, int, float]:
    """(rows, columns, figure width) for `panels` panels of about `panel_width` inches, as many
    per row as fit in PAGE_WIDTH (less `spare`, e.g. for shared labels), rows filled evenly."""
    most = max(1, min(panels, int((PAGE_WIDTH - spare) // panel_width)))
    rows = -(-panels // most)
    columns = -(-panels // rows)
    return rows, columns, min(PAGE_WIDTH, spare + columns * panel_width)


def _legend(fig, handles, labels, columns: int | None = None) -> None:
    fig.legend(handles, labels, loc="outside lower center", ncols=columns or min(len(labels), 4), frameon=False, fontsize=8)


# -- drop rate per family x model -----------------------------------------------------------------


def drop_rate_rows(runs) -> list[dict]:
    """Per run (analyze.Run) and family: the seed mean and std of the drop rate and its CI,
    from the run's drop-rate gate for the family when it has one (the interval its verdict
    was decided on), else a paired bootstrap over the saved per-query scores with the gate's
    defaults (stats.paired_bootstrap: 2,000 resamples, seed 0, 95%)."""
    rows = []
    for r in runs:
        gates = {g.get("family"): g for g in (r.data.get("gates") or []) if isinstance(g, dict) and g.get("statistic", "drop rate") == "drop rate"}
        for family, record in (r.data.get("families") or {}).items():
            if not _finite(record.get("drop_rate_mean")):
                continue
            row = {"model": r.model, "dataset": r.dataset, "family": family, "mean": record["drop_rate_mean"], "std": record.get("drop_rate_std") or 0.0}
            gate = gates.get(family)
            ci = (gate or {}).get("drop_rate_ci")
            if isinstance(ci, list) and len(ci) == 2 and all(_finite(v) for v in ci):
                row |= {"ci": tuple(ci), "estimate": gate.get("drop_rate"), "confidence": gate.get("confidence") or 0.95, "ci_from": "gate"}
            else:
                row |= bootstrap_ci(record)
            rows.append(row)
    return rows


def bootstrap_ci(record: Mapping[str, Any], confidence: float = 0.95) -> dict[str, Any]:
    """The drop rate's paired bootstrap CI from a family record (clean and per-seed scores)."""
    from .stats import paired_bootstrap

    clean = record.get("clean") or {}
    qids = [q for q, v in clean.items() if _finite(v)]
    seeds = list((record.get("perturbed") or {}).values())
    if not qids or not seeds:
        return {"ci": None, "estimate": None, "confidence": confidence, "ci_from": None}
    perturbed = np.array([[float(s[q]) if _finite(s.get(q)) else np.nan for q in qids] for s in seeds])
    try:
        boot = paired_bootstrap([clean[q] for q in qids], perturbed, confidence=confidence)
    except ValueError:  # no seed scored any query: nothing to resample
        return {"ci": None, "estimate": None, "confidence": confidence, "ci_from": None}
    return {"ci": boot.drop_rate_ci, "estimate": boot.drop_rate, "confidence": confidence, "ci_from": "bootstrap"}


def drop_rate_chart(a) -> Chart:
    title = "Drop rate per family and model"
    rows = drop_rate_rows(a.raw)
    if not rows:
        return Chart("drop_rates", title, note="No drop rates: none of the runs perturbed queries (run suites/test_query_families.py with --robustest-save).")
    colours = model_colours(a)
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    families = list(dict.fromkeys(r["family"] for r in rows))
    models = [m for m in colours if any(r["model"] == m for r in rows)]
    lines, columns, width = grid(len(datasets), max(3.6, 0.42 * len(families) * len(models) + 1.4))
    fig = plots.new_figure(width, 3.4 * lines + 0.5)
    axes = fig.subplots(lines, columns, squeeze=False).ravel()
    for ax in axes[len(datasets) :]:
        ax.set_visible(False)
    clipped = False
    for ax, dataset in zip(axes, datasets):
        series = {m: {r["family"]: r for r in rows if r["model"] == m and r["dataset"] == dataset} for m in models}
        clipped |= plots.bars_with_intervals(ax, families, {m: s for m, s in series.items() if s}, colours)
        ax.set_title(dataset, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.tick_params(axis="x", rotation=20 if len(families) > 3 else 0)
    measure = "drop rate of nDCG@10 (%)" if all(_family_measure(a.raw, f) == "nDCG@10" for f in families) else "drop rate (%)"
    for ax in axes[::columns]:
        ax.set_ylabel(measure)
    confidence = rows[0].get("confidence") or 0.95
    _legend(fig, *_model_handles(models, colours, ci=f"{confidence:.0%} CI (bootstrap over queries)", std="± 1 std over seeds"))
    from_gates = sum(r["ci_from"] == "gate" for r in rows)
    caption = (
        "Bars: the drop rate (clean − perturbed) / clean of each family, mean over seeds; black error bars: population std over"
        f" seeds (the paper's); orange whisker and diamond: the {confidence:.0%} paired bootstrap CI over queries and its estimate"
        f" ({from_gates} of {len(rows)} from the runs' gates" + (", the rest resampled from their per-query scores)." if from_gates < len(rows) else ").")
    )
    if clipped:
        caption += " A CI far wider than the bars is cut at the axis edge: the arrow's number is its true end (%)."
    return Chart("drop_rates", title, fig, caption)


def _family_measure(runs, family: str) -> str | None:
    for r in runs:
        record = (r.data.get("families") or {}).get(family)
        if record:
            return record.get("measure")
    return None


def _model_handles(models, colours, ci: str | None = None, std: str | None = None):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=colours[m], edgecolor="black", linewidth=0.5) for m in models]
    labels = list(models)
    if std:
        handles.append(Line2D([], [], color="black", marker="_", markersize=8, linewidth=1))
        labels.append(std)
    if ci:
        handles.append(Line2D([], [], color=plots.CI_COLOUR, marker="D", markersize=3.5, linewidth=2))
        labels.append(ci)
    return handles, labels


# -- mixed model: marginal and cell means ---------------------------------------------------------


def marginal_means_figure(fits, colours: Mapping[str, str] | None = None):
    """One panel per score, models on a shared axis (labelled once, on the left): each
    model's estimated marginal mean with its CI."""
    models = list(dict.fromkeys(m["model"] for f in fits for m in f.model_means))
    colours = colours or {m: plots.colour(i) for i, m in enumerate(models)}
    position = {m: i for i, m in enumerate(models)}
    rows, columns, width = grid(len(fits), 2.5, spare=0.075 * max(map(len, models)))
    fig = plots.new_figure(width, rows * (0.42 * len(models) + 1.0) + 0.2)
    axes = fig.subplots(rows, columns, sharey=True, squeeze=False).ravel()
    for ax in axes[len(fits) :]:
        ax.set_visible(False)
    for ax, fit in zip(axes, fits):
        for m in fit.model_means:
            drawn = ax.errorbar([m["emm"]], [position[m["model"]]], xerr=[[m["emm"] - m["ci_low"]], [m["ci_high"] - m["emm"]]], fmt="o", capsize=4,
                                color=colours.get(m["model"], "black"))  # fmt: skip
            drawn.lines[0].set_gid(f"emm:{fit.response}:{m['model']}")  # the point, not its caps
        ax.set_title(fit.response, fontsize=9)
        ax.set_xlabel(f"marginal mean ({fit.confidence:.0%} CI)", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(models)), models, fontsize=8)
    axes[0].set_ylim(len(models) - 0.5, -0.5)
    return fig


def cell_means_figure(fits, colours: Mapping[str, str] | None = None):
    """One panel per score: each model's mean at each factor level with its CI, joined by lines."""
    models = list(dict.fromkeys(m for f in fits for m in f.models))
    colours = colours or {m: plots.colour(i) for i, m in enumerate(models)}
    levels = max(len(f.levels) for f in fits)
    rows, columns, width = grid(len(fits), max(2.5, 0.6 * levels + 1.2))
    fig = plots.new_figure(width, 2.9 * rows + 0.5)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, fit in zip(axes, fits):
        x = np.arange(len(fit.levels))
        for j, model in enumerate(fit.models):
            cells = {c[fit.factor]: c for c in fit.cell_means if c["model"] == model}
            shown = [i for i, level in enumerate(fit.levels) if level in cells]
            est = [cells[fit.levels[i]]["emm"] for i in shown]
            err = [[cells[fit.levels[i]]["emm"] - cells[fit.levels[i]]["ci_low"] for i in shown], [cells[fit.levels[i]]["ci_high"] - cells[fit.levels[i]]["emm"] for i in shown]]
            shift = (j - (len(fit.models) - 1) / 2) * 0.06
            drawn = ax.errorbar(x[shown] + shift, est, yerr=err, fmt="o-", capsize=3, color=colours.get(model, "black"), markersize=4, linewidth=1.2)
            drawn.lines[0].set_gid(f"cells:{fit.response}:{model}")
        ax.set_xticks(x, fit.levels, rotation=15 if len(fit.levels) > 2 else 0, ha="right" if len(fit.levels) > 2 else "center")
        ax.set_xlim(-0.5, len(fit.levels) - 0.5)
        ax.set_title(fit.response, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.set_xlabel(fit.factor, fontsize=8)
    for ax in axes[len(fits) :]:
        ax.set_visible(False)
    for ax in axes[::columns]:
        ax.set_ylabel(f"cell mean ({fits[0].confidence:.0%} CI)", fontsize=8)
    from matplotlib.lines import Line2D

    _legend(fig, [Line2D([], [], color=colours.get(m, "black"), marker="o", markersize=4) for m in models], models)
    return fig


def marginal_means_chart(a) -> Chart:
    title = "Estimated marginal means per model (mixed model)"
    fits = list(a.fits.values())
    if not fits:
        first = next(iter(a.skipped.values()), "no scores")
        more = f" (and {len(a.skipped) - 1} more scores: see summary.txt)" if len(a.skipped) > 1 else ""
        return Chart("marginal_means", title, note=f"No marginal means: no mixed model was fitted; {first.rstrip('.')}{more}.")
    caption = (
        f"Per score, each model's estimated marginal mean with equal weights over the {a.factor} levels and its"
        f" {fits[0].confidence:.0%} CI (normal theory, fixed effects' covariance) from the fit of"
        " score ~ model × factor + (1 | dataset) + (1 | dataset:query). Perturbed scores are averaged over seeds per query."
    )
    return Chart("marginal_means", title, marginal_means_figure(fits, model_colours(a)), caption)


def cell_means_chart(a) -> Chart:
    title = f"Cell means per model and {a.factor}"
    fits = [f for f in a.fits.values() if len(f.levels) >= 2]
    if not a.fits:
        return Chart("cell_means", title, note="No cell means: no mixed model was fitted (see the marginal means).")
    if not fits:
        return Chart("cell_means", title, note=f"No cell means: the runs have one {a.factor} level (compare across two or more).")
    caption = f"Per score, each model's fitted mean at each {a.factor} level with its {fits[0].confidence:.0%} CI; lines only join a model's levels."
    return Chart("cell_means", title, cell_means_figure(fits, model_colours(a)), caption)


# -- corpus poisoning: ASR@k curves ---------------------------------------------------------------

NS_STYLES = ("-", "--", ":", "-.")


def asr_rows(runs) -> list[dict]:
    """Per run and poisoning entry: model, dataset, attack, N, and ASR@k mean and std over seeds."""
    rows = []
    for r in runs:
        for key, entry in (r.data.get("poisoning") or {}).items():
            if not isinstance(entry, dict) or not isinstance(entry.get("asr"), dict):
                continue
            try:
                points = sorted((int(k), float(v), float((entry.get("asr_std") or {}).get(k) or 0.0)) for k, v in entry["asr"].items() if _finite(v))
            except (TypeError, ValueError):
                continue  # a hand-edited entry with a k that is no number: left out, as the report does
            if points:
                attack = str(entry.get("attack") or key.split(" (")[0])
                rows.append({"model": r.model, "dataset": r.dataset, "attack": attack, "n": entry.get("n_passages"), "points": points})
    return rows


def asr_chart(a) -> Chart:
    title = "Corpus poisoning: ASR@k per model and N"
    rows = asr_rows(a.raw)
    if not rows:
        return Chart("asr_curves", title, note="No ASR@k curves: none of the runs has poisoning results (run suites/test_poisoning.py with --robustest-save).")
    colours = model_colours(a)
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    attacks = list(dict.fromkeys(r["attack"] for r in rows))
    ns = sorted({r["n"] for r in rows}, key=lambda n: (n is None, n or 0))
    style = {n: NS_STYLES[i % len(NS_STYLES)] for i, n in enumerate(ns)}
    ks = sorted({k for r in rows for k, _, _ in r["points"]})
    fig = plots.new_figure(min(PAGE_WIDTH, 2.5 * len(attacks) + 0.5), 2.5 * len(datasets) + 0.7)
    axes = fig.subplots(len(datasets), len(attacks), sharex=True, sharey=True, squeeze=False)
    for i, dataset in enumerate(datasets):
        for j, attack in enumerate(attacks):
            ax = axes[i, j]
            for r in rows:
                if r["dataset"] != dataset or r["attack"] != attack:
                    continue
                k, mean, std = (np.array(c) for c in zip(*r["points"]))
                drawn = ax.errorbar(k, 100 * mean, yerr=100 * std, color=colours[r["model"]], linestyle=style[r["n"]], marker="o", markersize=3.5, capsize=2, linewidth=1.3)
                drawn.lines[0].set_gid(f"asr:{r['model']}:{dataset}:{attack}:{r['n']}")
            ax.set_xscale("log")
            ax.set_xticks(ks, [str(k) for k in ks])
            ax.minorticks_off()
            ax.set_ylim(-3, 103)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=8)
            ax.set_title(f"{attack} · {dataset}" if len(datasets) > 1 else attack, fontsize=9)
            if i == len(datasets) - 1:
                ax.set_xlabel("k", fontsize=8)
            if j == 0:
                ax.set_ylabel("ASR@k (%)", fontsize=8)
    from matplotlib.lines import Line2D

    models = [m for m in colours if any(r["model"] == m for r in rows)]
    handles = [Line2D([], [], color=colours[m], marker="o", markersize=3.5) for m in models]
    handles += [Line2D([], [], color="black", linestyle=style[n]) for n in ns]
    _legend(fig, handles, models + [f"N = {n}" for n in ns], columns=min(len(handles), 5))
    missing = [f"{r['model']} on {r['dataset']}" for r in a.runs if not any(x["model"] == r["model"] and x["dataset"] == r["dataset"] for x in rows)]
    caption = (
        "ASR@k: the share of test queries with any adversarial passage in their top k, mean over seeds with ± 1 std;"
        " one colour per model, one line style per number of passages N (random_gold is the control)."
    )
    if missing:
        caption += f" No poisoning results in {', '.join(missing)}."
    return Chart("asr_curves", title, fig, caption)


# -- geometry against robustness ------------------------------------------------------------------


def _correlation_title(row: Mapping[str, Any] | None) -> str:
    if row is None:
        return "no correlation"
    if row.get("pearson") is None:
        note = str(row.get("note") or "")
        why = "constant values" if note.startswith("constant") else "needs ≥ 3 models"
        return f"n = {row['n']}: no correlation ({why})"
    return f"r = {row['pearson']:+.2f}, ρ = {row['spearman']:+.2f}, τ = {row['kendall']:+.2f} (n = {row['n']})"


def geometry_panels(a, target: str) -> tuple[list[str], list[str], list[str]]:
    """(the models with geometry and a value of `target`, the metrics to draw, the metrics left
    out because every one of those models has the same value, e.g. the spectral norms of
    poolings over one set of weights)."""
    geometry, targets, _ = a.by_model
    models = [m for m, g in geometry.items() if any(_finite(v) for v in g.values()) and _finite(targets[target].get(m))]
    metrics = [k for k in METRICS if any(_finite(geometry[m].get(k)) for m in models)]
    constant = [k for k in metrics if len({geometry[m][k] for m in models if _finite(geometry[m].get(k))}) < 2]
    return models, [k for k in metrics if k not in constant], constant


def geometry_figure(a, target: str):
    """Per geometry metric that differs between the models, one panel: each model's mean over
    its runs (filled, the units of the correlation in the title) and each run (model x dataset,
    hollow, marker by dataset)."""
    geometry, targets, _ = a.by_model
    models, metrics, _ = geometry_panels(a, target)
    colours = model_colours(a)
    datasets = list(dict.fromkeys(g["dataset"] for g in a.geometry))
    marker = {d: plots.DATASET_MARKERS[i % len(plots.DATASET_MARKERS)] for i, d in enumerate(datasets)}
    per_run = {(r["model"], r["dataset"]): r.get(target) for r in a.runs}
    correlations = {c["metric"]: c for c in a.correlations if c["target"] == target}
    rows, columns, width = grid(len(metrics), 3.3)
    fig = plots.new_figure(width, 2.45 * rows + 0.9)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    scale = 100.0  # drop rates and attack success rates are shares: shown in %
    for ax, metric in zip(axes, metrics):
        for g in a.geometry:
            y = per_run.get((g["model"], g["dataset"]))
            if g["model"] in models and _finite(g.get(metric)) and _finite(y):
                ax.scatter([g[metric]], [scale * y], s=28, marker=marker[g["dataset"]], facecolors="none", edgecolors=colours[g["model"]], linewidths=1.1,
                           gid=f"run:{metric}:{g['model']}:{g['dataset']}")  # fmt: skip
        for model in models:
            x, y = geometry[model].get(metric), targets[target][model]
            if _finite(x):
                ax.scatter([x], [scale * y], s=70, color=colours[model], edgecolors="black", linewidths=0.6, zorder=3, gid=f"model:{metric}:{model}")
        ax.set_title(_correlation_title(correlations.get(metric)), fontsize=8)
        ax.set_xlabel(metric.replace("_", " "), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.margins(0.15)
        ax.grid(alpha=0.3)
    for i, ax in enumerate(axes):
        if i >= len(metrics):
            ax.set_visible(False)
        elif i % columns == 0:
            ax.set_ylabel(f"{target} (%)", fontsize=8)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], linestyle="none", marker="o", markersize=8, color=colours[m], markeredgecolor="black") for m in models]
    handles += [Line2D([], [], linestyle="none", marker=marker[d], markersize=6, markerfacecolor="none", markeredgecolor="black") for d in datasets]
    _legend(fig, handles, [f"{m} (mean over datasets)" for m in models] + [f"one run on {d}" for d in datasets], columns=min(len(handles), 3))
    return fig


def geometry_charts(a) -> list[Chart]:
    """One chart per robustness target (each family's drop rate, each attack's ASR@20)."""
    if not a.geometry:
        return [Chart("geometry", "Geometry against robustness", note="No geometry figures: none of the runs has geometry (run suites/test_geometry.py with --robustest-save).")]
    geometry, targets, _ = a.by_model
    if not targets:
        return [Chart("geometry", "Geometry against robustness", note="No geometry figures: the runs have no drop rates or attack success rates to set against it.")]
    without = [m for m in dict.fromkeys(r["model"] for r in a.runs) if not any(_finite(v) for v in geometry.get(m, {}).values())]
    made, few, same = [], {}, []  # targets without a figure: too few models (target -> count), no metric that differs
    for target in targets:
        models, metrics, constant = geometry_panels(a, target)
        if len(models) < 2:
            few[target] = len(models)
            continue
        if not metrics:
            same.append(target)
            continue
        caption = (
            "Filled: a model's mean over its runs, the units of the correlation in each panel's title (Pearson r, Spearman ρ,"
            " Kendall τ across models; as in correlations.csv); hollow: one run (model × dataset)."
        )
        if constant:
            caption += f" The same for every model, not drawn: {', '.join(k.replace('_', ' ') for k in constant)}."
        if without:
            caption += f" No geometry: {', '.join(without)}."
        made.append(Chart(f"geometry_{_slug(target)}", f"Geometry against {target}", geometry_figure(a, target), caption))
    reasons = []
    if few:
        counts = " or ".join(str(n) for n in sorted(set(few.values())))
        reasons.append(f"{', '.join(few)}: {counts} model(s) with geometry and a value (a scatter needs two or more)")
    if same:
        reasons.append(f"{', '.join(same)}: every geometry metric is the same for the models with a value")
    if reasons:
        title = "Geometry against the other targets" if made else "Geometry against robustness"
        made.append(Chart("geometry_none", title, note="No geometry figure for " + "; for ".join(reasons) + "."))
    return made


# -- files ----------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "x"


def charts(a) -> list[Chart]:
    return [drop_rate_chart(a), marginal_means_chart(a), cell_means_chart(a), asr_chart(a), *geometry_charts(a)]


def png(fig) -> bytes:
    """The figure as PNG, cut to a 256-colour palette (Pillow, matplotlib's own dependency): a
    chart has few colours, and the page, which holds every figure, is about 2.5 times smaller."""
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=PNG_DPI, bbox_inches="tight")
    buffer.seek(0)
    with Image.open(buffer) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue()


def write_figures(a, out: Path) -> list[Path]:
    """Every chart rendered once: the PNG files analyze writes beside its CSVs (the marginal
    means, the cell means of each score with two or more factor levels, each robustness
    target against geometry), then the page of all charts, figures.html, last."""
    made = charts(a)
    images = {c.key: png(c.figure) for c in made if c.figure is not None}
    files = {"marginal_means": "marginal_means.png", **{c.key: f"{c.key.replace('geometry_', 'geometry_vs_', 1)}.png" for c in made if c.key.startswith("geometry_")}}
    written = []

    def write(path: Path, data: bytes) -> None:
        atomic_write(path, lambda f: f.write(data))
        written.append(path)

    for key, name in files.items():
        if key in images:
            write(out / name, images[key])
    colours = model_colours(a)
    for fit in a.fits.values():
        if len(fit.levels) >= 2:
            write(out / f"cell_means_{_slug(fit.response)}.png", png(cell_means_figure([fit], colours)))
    write(out / PAGE, render_page(a, made, images).encode("utf-8"))
    return written


def render_page(a, made: Sequence[Chart], images: Mapping[str, bytes] | None = None) -> str:
    """The page: the runs, then each chart (its image, or the note saying why it has none)."""
    from .report import CSS, IMAGE_CHECK, esc, image, ncell, num, table

    images = images if images is not None else {c.key: png(c.figure) for c in made if c.figure is not None}
    models = list(dict.fromkeys(r["model"] for r in a.runs))
    datasets = list(dict.fromkeys(r["dataset"] for r in a.runs))
    clean = f"clean {a.measure}"
    runs = table(
        ["model", "dataset", "queries", clean, "run file"],
        [[esc(r["model"]), esc(r["dataset"]), ncell(esc(r["queries"])), ncell(num(r.get(clean))), f"<code>{esc(Path(r['path']).name)}</code>"] for r in a.runs],
    )
    parts = [
        "<h1>robustest analyze: figures</h1>",
        f"<p>{len(a.runs)} runs: {len(models)} models on {len(datasets)} datasets; factor <b>{esc(a.factor)}</b>; measure {esc(a.measure)}."
        " The numbers behind every figure are in the CSV files beside this page.</p>",
        runs,
    ]
    for c in made:
        parts.append(f'<h2 id="{esc(c.key)}">{esc(c.title)}</h2>')
        if c.figure is None:
            parts.append(f'<p class="absent" data-figure="{esc(c.key)}">{esc(c.note)}</p>')
        else:
            parts.append(f'<figure id="fig-{esc(c.key)}">{image(plots.png_data_uri(images[c.key]), c.title)}<figcaption class="muted">{esc(c.caption)}</figcaption></figure>')
    style = CSS + "figure{margin:8px 0 20px}figure img{border:1px solid #eee;max-width:100%}.absent{color:#777;font-style:italic}\n"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>robustest analyze: {esc(', '.join(models))}</title><style>{style}</style><script>{IMAGE_CHECK}</script></head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )
