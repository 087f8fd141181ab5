"""The report's plots, each returned as a PNG `data:` URI so the HTML file stands alone.

Figures are built with matplotlib's object API on the Agg canvas (no pyplot): no display, no
global figure state, safe inside a pytest session or a CI job without a screen.
"""

from __future__ import annotations

import base64
import io
from typing import Mapping, Sequence

import numpy as np

# Colours: this run, the baseline (grey, so the eye goes to the run), and the diagonal.
RUN_COLOUR = "#2f6db5"
BASELINE_COLOUR = "#9a9a9a"
DIAGONAL_COLOUR = "#c0392b"
THRESHOLD_COLOUR = "#c0392b"  # a gate's threshold: above it the gate fails
CI_COLOUR = "#e67e22"  # a gate's CI, the uncertainty its verdict was decided on: unlike the black std bars


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def to_data_uri(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return png_data_uri(buffer.getvalue())


def png_data_uri(png: bytes) -> str:
    """A PNG already rendered (e.g. also written to a file) as a `data:` URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population std (ddof=0, as the paper reports over seeds)."""
    a = np.asarray([v for v in values if v is not None], dtype=float)
    if not len(a):
        return float("nan"), 0.0
    return float(a.mean()), float(a.std())


def drop_rate_bars(
    run: Mapping[str, Sequence[float]],
    baseline: Mapping[str, Sequence[float]] | None = None,
    gates: Mapping[str, Sequence[Mapping]] | None = None,
) -> str:
    return to_data_uri(drop_rate_figure(run, baseline, gates))


def drop_rate_figure(
    run: Mapping[str, Sequence[float]],
    baseline: Mapping[str, Sequence[float]] | None = None,
    gates: Mapping[str, Sequence[Mapping]] | None = None,
):
    """Drop rate (%) per family, mean over seeds with ±1 std error bars; with a baseline,
    paired bars per family (baseline left, this run right). `gates` (family -> this run's gate
    dicts, as in a run file's "gates") adds each gate's threshold, a line across the family,
    and its CI, the interval the verdict was decided on, beside this run's bar. Those artists
    carry gids "threshold:<family>", "ci:<family>" and "estimate:<family>"."""
    families = list(run) + [f for f in (baseline or {}) if f not in run]
    fig = _figure(max(4.5, 1.1 * len(families) + 2), 3.6)
    ax = fig.add_subplot()
    x = np.arange(len(families))
    series = [("this run", run, RUN_COLOUR)]
    if baseline is not None:
        series = [("baseline", baseline, BASELINE_COLOUR)] + series
    width = 0.8 / len(series)
    for j, (label, rates, colour) in enumerate(series):
        stats = [_mean_std(rates.get(f, ())) for f in families]
        means = [100 * m for m, _ in stats]
        stds = [100 * s for _, s in stats]
        offset = (j - (len(series) - 1) / 2) * width
        bars = ax.bar(x + offset, means, width, yerr=stds, capsize=4, color=colour, label=label, edgecolor="black", linewidth=0.5)
        for bar, m, s in zip(bars, means, stds):
            if np.isfinite(m):  # the value above its error bar, where it cannot be covered
                ax.annotate(f"{m:.1f}", (bar.get_x() + bar.get_width() / 2, max(m + s, 0)), ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    run_offset = (len(series) - 1) / 2 * width  # this run's bar is the last of each group
    drew_gates = _draw_gates(ax, families, x, x + run_offset, width, gates or {})
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlim(-0.8, len(families) - 0.2)  # one family: bars of a normal width, not the whole axis
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.12 * (high - low))  # room for the labels above the error bars
    ax.set_xticks(x, families, rotation=20 if len(families) > 4 else 0)
    ax.set_ylabel("drop rate (%)")
    ax.set_title("Drop rate per perturbation family (mean ± std over seeds)")
    ax.grid(axis="y", alpha=0.3)
    if baseline is not None or drew_gates:  # beside the axes: inside, it covers bars and labels
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def _draw_gates(ax, families: Sequence[str], groups, bars, width: float, gates: Mapping[str, Sequence[Mapping]]) -> bool:
    """Per family: each gate's threshold as a dashed line across the family's bars, and its CI
    (x100) with the estimate it brackets beside this run's bar. True when anything was drawn."""
    labelled: set[str] = set()  # one legend entry per kind of mark

    def label(kind: str, text: str) -> str | None:
        if kind in labelled:
            return None
        labelled.add(kind)
        return text

    for family, group, bar in zip(families, groups, bars):
        for k, g in enumerate(gates.get(family) or ()):
            threshold, ci = g.get("threshold"), g.get("drop_rate_ci")
            if _finite(threshold):
                ax.plot([group - 0.42, group + 0.42], [100 * threshold] * 2, color=THRESHOLD_COLOUR, linestyle="--", linewidth=1.6,
                        gid=f"threshold:{family}", label=label("threshold", "gate threshold"))  # fmt: skip
            if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(_finite(v) for v in ci):
                cx = bar + width * (0.22 + 0.12 * k)  # right of the std error bar; a second gate further right
                confidence = g.get("confidence") if _finite(g.get("confidence")) else 0.95
                ax.plot([cx, cx], [100 * ci[0], 100 * ci[1]], color=CI_COLOUR, linewidth=2.5, marker="_", markersize=9, markeredgewidth=2.5,
                        gid=f"ci:{family}", label=label("ci", f"gate {100 * confidence:.0f}% CI (bootstrap over queries)"))  # fmt: skip
                estimate = g.get("drop_rate", g.get("drop_rate_mean"))
                if _finite(estimate):
                    ax.plot([cx], [100 * estimate], marker="D", markersize=4, color=CI_COLOUR, gid=f"estimate:{family}")
    return bool(labelled)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value))


def clean_vs_perturbed(clean: Sequence[float], perturbed: Sequence[float], family: str, measure: str) -> str:
    """One point per query: clean score against its perturbed score (mean over seeds).
    Points under the diagonal are queries the perturbation hurt."""
    fig = _figure(3.8, 3.8)
    ax = fig.add_subplot()
    c = np.asarray(clean, dtype=float)
    p = np.asarray(perturbed, dtype=float)
    top = max(1.0, float(np.nanmax(np.concatenate([c, p]))) if len(c) else 1.0)
    ax.plot([0, top], [0, top], color=DIAGONAL_COLOUR, linewidth=1, linestyle="--", label="no change")
    ax.scatter(c, p, s=14, alpha=0.6, color=RUN_COLOUR, edgecolors="none")
    ax.set_xlim(-0.02 * top, 1.02 * top)
    ax.set_ylim(-0.02 * top, 1.02 * top)
    ax.set_aspect("equal")
    ax.set_xlabel(f"clean {measure}")
    ax.set_ylabel(f"perturbed {measure} (mean over seeds)")
    below = int(np.sum(p < c))
    ax.set_title(f"{family}: {below} of {len(c)} queries lower", fontsize=10)
    ax.grid(alpha=0.3)
    return to_data_uri(fig)


def asr_chart(attacks: Mapping[str, Mapping]) -> str:
    """ASR@k per attack: grouped bars over k with ±1 std over seeds."""
    ks = sorted({k for a in attacks.values() for k in (a.get("asr") or {})}, key=lambda k: float(k))
    fig = _figure(max(4.5, 1.2 * len(ks) + 2), 3.4)
    ax = fig.add_subplot()
    x = np.arange(len(ks))
    width = 0.8 / max(1, len(attacks))
    palette = [RUN_COLOUR, "#e67e22", "#27ae60", "#8e44ad", BASELINE_COLOUR]
    for j, (name, attack) in enumerate(attacks.items()):
        asr, std = attack.get("asr") or {}, attack.get("asr_std") or {}
        means = [100 * float(asr.get(k, np.nan)) for k in ks]
        errs = [100 * float(std.get(k) or 0.0) for k in ks]
        label = name + (f" (N = {attack['n_passages']})" if attack.get("n_passages") is not None else "")
        offset = (j - (len(attacks) - 1) / 2) * width
        ax.bar(x + offset, means, width, yerr=errs, capsize=4, color=palette[j % len(palette)], label=label, edgecolor="black", linewidth=0.5)
    ax.set_xticks(x, [f"ASR@{k}" for k in ks])
    ax.set_ylabel("ASR@k (%): queries with an\nadversarial passage in the top k", fontsize=9)
    ax.set_ylim(0, 100)
    ax.set_title("Corpus poisoning: attack success rate")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    return to_data_uri(fig)


# -- primitives for `robustest analyze`'s figures (robustest/figures.py) -----------------------

# One colour per model, the same in every figure of a page; no orange (the CI colour) and no red
# (the threshold colour), so neither is mistaken for a model.
MODEL_COLOURS = ("#2f6db5", "#27ae60", "#8e44ad", "#b03a64", "#16a085", "#7f6a00", "#5d6d7e", "#1b4f72")
DATASET_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def new_figure(width: float, height: float):
    """A figure on the Agg canvas with constrained layout (labels and legends never cut off)."""
    fig = _figure(width, height)
    fig.set_layout_engine("constrained")
    return fig


def colour(i: int) -> str:
    return MODEL_COLOURS[i % len(MODEL_COLOURS)]


def bars_with_intervals(
    ax, categories: Sequence[str], series: Mapping[str, Mapping[str, Mapping]], colours: Mapping[str, str] | None = None, scale: float = 100.0, spread: float = 2.0
) -> bool:
    """Grouped bars on `ax`: per category (x), one bar per series (label -> category -> {"mean",
    "std", "ci", "estimate"}), coloured by series (`colours`: label -> colour, else MODEL_COLOURS in order). The black error bar on a bar is ±1 std (over
    seeds); the orange whisker just right of it is the CI (`ci`, low and high) with a diamond at
    its `estimate`. Values are multiplied by `scale`. When some CIs are far wider than the bars
    (more than `spread` times the range of mean ± std) the axis keeps to the bars and a clipped
    whisker ends in an arrow labelled with its true end. Artists carry gids "bar:<label>:<category>"
    and "ci:<label>:<category>" (the whisker as drawn, clipped or not). True when a CI was clipped."""
    x = np.arange(len(categories))
    width = 0.8 / max(1, len(series))
    cells = []  # (bar centre, width, mean, std, ci, estimate, label, category)
    for j, (label, by_category) in enumerate(series.items()):
        offset = (j - (len(series) - 1) / 2) * width
        for i, category in enumerate(categories):
            v = by_category.get(category)
            if not v or not _finite(v.get("mean")):
                continue
            mean, std = scale * v["mean"], scale * (v.get("std") or 0.0)
            ci = v.get("ci")
            ci = (scale * ci[0], scale * ci[1]) if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(_finite(c) for c in ci) else None
            estimate = scale * v["estimate"] if _finite(v.get("estimate")) else mean
            ax.bar(x[i] + offset, mean, width, yerr=std, capsize=3, color=(colours or {}).get(label, colour(j)), edgecolor="black", linewidth=0.5,
                         label=label if i == min(k for k, c in enumerate(categories) if by_category.get(c)) else None, gid=f"bar:{label}:{category}")  # fmt: skip
            cells.append((x[i] + offset, width, mean, std, ci, estimate, label, category))
    core = [v for c in cells for v in (c[2] - c[3], c[2] + c[3])] + [0.0]
    low, high = min(core), max(core)
    span = (high - low) or 1.0
    every = core + [e for c in cells if c[4] for e in c[4]]
    clip = (max(every) - min(every)) > spread * span
    if clip:
        low, high = max(min(every), low - 0.5 * span), min(max(every), high + 0.5 * span)
    else:
        low, high = min(every), max(every)
    pad = 0.08 * ((high - low) or 1.0)
    low, high = low - pad, high + 2 * pad  # room for the whiskers' caps and the arrows' numbers
    ax.set_ylim(low, high)
    clipped = False
    for centre, w, mean, std, ci, estimate, label, category in cells:
        if ci is None:
            continue
        cx = centre + 0.3 * w
        lo, hi = max(ci[0], low), min(ci[1], high)
        ax.plot([cx, cx], [lo, hi], color=CI_COLOUR, linewidth=2, gid=f"ci:{label}:{category}", solid_capstyle="butt")
        for end, drawn, direction in ((ci[0], lo, -1), (ci[1], hi, 1)):
            if end == drawn:
                ax.plot([cx], [end], marker="_", markersize=7, markeredgewidth=2, color=CI_COLOUR)
            else:  # clipped: an arrow head at the axis edge and the true end beside it
                clipped = True
                ax.plot([cx], [drawn], marker="^" if direction > 0 else "v", markersize=5, color=CI_COLOUR, clip_on=False)
                ax.annotate(f"{end:.0f}", (cx, drawn), xytext=(4, -9 if direction > 0 else 3), textcoords="offset points", fontsize=7, color=CI_COLOUR,
                            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})  # fmt: skip
        if low <= estimate <= high:
            ax.plot([cx], [estimate], marker="D", markersize=3.5, color=CI_COLOUR)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, categories)
    ax.set_xlim(-0.6, len(categories) - 0.4)
    ax.grid(axis="y", alpha=0.3)
    return clipped
