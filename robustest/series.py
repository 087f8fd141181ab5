"""A checkpoint series: several saved runs of one model as it trained, side by side.

`robustest report RUNS... --html OUT.html` with more than one run file (or a folder of them,
e.g. what `RobustnessEvaluator` writes) draws each family's drop rate with its confidence
interval and the gate's threshold against the training step, and the clean score beside it.
The step is the run file's `training.step` (RobustnessEvaluator writes it); runs without one
are placed in the order given, numbered from 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import RobustestError


def run_paths(given: Sequence[str | Path]) -> list[Path]:
    """Run files from files and folders (a folder: its *.json, by name)."""
    paths: list[Path] = []
    for item in map(Path, given):
        if item.is_dir():
            found = sorted(item.glob("*.json"))
            if not found:
                raise RobustestError(f"{item} holds no run files (*.json); pass run files saved with --robustest-save or by RobustnessEvaluator")
            paths += found
        else:
            paths.append(item)
    return paths


def in_step_order(runs: Sequence[Mapping[str, Any]]) -> list[tuple[float, Mapping[str, Any]]]:
    """(step, run) pairs: by training step when every run has one, else in the given order."""
    steps = [(run.get("training") or {}).get("step") for run in runs]
    if all(isinstance(s, (int, float)) for s in steps):
        return sorted(zip(steps, runs), key=lambda pair: pair[0])
    return [(float(i + 1), run) for i, run in enumerate(runs)]


def series_rows(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (step, drop-rate gate): the drop rate, its CI, the threshold and the verdict,
    with the run's clean score of the gate's measure."""
    rows = []
    for step, run in in_step_order(runs):
        clean = run.get("effectiveness") or {}
        for gate in run.get("gates") or []:
            if gate.get("statistic", "drop rate") != "drop rate":
                continue
            ci = gate.get("drop_rate_ci") or [None, None]
            rows.append({
                "step": step, "family": gate.get("family"), "measure": gate.get("measure"),
                "drop_rate": gate.get("drop_rate_mean"), "ci_low": ci[0], "ci_high": ci[1],
                "threshold": gate.get("threshold"), "verdict": gate.get("verdict"),
                "clean": clean.get(gate.get("measure")),
            })
    return rows


def series_chart(rows: Sequence[Mapping[str, Any]]) -> str:
    """One panel per family (drop rate and CI band against the step, the threshold dashed) and
    one of the clean score, as a PNG data URI."""
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    from .plots import CI_COLOUR, new_figure, to_data_uri

    families = list(dict.fromkeys(r["family"] for r in rows))
    fig = new_figure(4.2 * (len(families) + 1), 3.4)
    axes = fig.subplots(1, len(families) + 1, squeeze=False)[0]

    def number(v):
        return float("nan") if v is None else 100 * float(v)

    for ax, family in zip(axes, families):
        mine = [r for r in rows if r["family"] == family]
        x = np.array([r["step"] for r in mine], dtype=float)
        ax.fill_between(x, [number(r["ci_low"]) for r in mine], [number(r["ci_high"]) for r in mine], color=CI_COLOUR, alpha=0.25, label="95% CI", gid=f"ci:{family}")
        ax.plot(x, [number(r["drop_rate"]) for r in mine], marker="o", color="black", label="drop rate", gid=f"drop:{family}")
        threshold = mine[-1]["threshold"]
        if threshold is not None:
            ax.axhline(100 * threshold, color="#c0392b", linestyle="--", linewidth=1, label="threshold")
        ax.axhline(0, color="#999", linewidth=0.5)
        ax.set_title(family)
        ax.set_xlabel("training step")
        ax.set_ylabel(f"{mine[-1]['measure']} drop rate (%)")
    first = axes[0].get_legend_handles_labels()
    if first[0]:
        axes[0].legend(*first, fontsize=8)
    clean = {r["step"]: r["clean"] for r in rows if r["clean"] is not None}
    ax = axes[-1]
    ax.plot(sorted(clean), [clean[s] for s in sorted(clean)], marker="o", color="#2e86c1", gid="clean")
    ax.set_title("clean")
    ax.set_xlabel("training step")
    ax.set_ylabel(rows[0]["measure"] if rows else "score")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    return to_data_uri(fig)


def render_series_html(runs: Sequence[Mapping[str, Any]]) -> str:
    from .report import ci_text, esc, image, ncell, page, pct, retriever_label, table, verdict_badge

    rows = series_rows(runs)
    if not rows:
        raise RobustestError("none of these runs has a drop-rate gate; a checkpoint series needs runs of the query families")
    first = runs[0]
    title = f"robustest checkpoint series: {retriever_label(first)}"
    dataset = (first.get("dataset") or {}).get("name", "?")
    header = f"<h1>{esc(title)}</h1>\n<p>{len(runs)} runs on {esc(dataset)}; drop rates in %, the 95% CI over queries, the gate's threshold dashed.</p>"
    body = [[ncell(f"{r['step']:g}"), esc(r["family"]), ncell(pct(r["clean"], 4) if r["clean"] is not None else "–"), ncell(pct(r["drop_rate"])),
             ncell(ci_text([r["ci_low"], r["ci_high"]])), ncell(pct(r["threshold"], 1) + "%"), verdict_badge(r["verdict"])] for r in rows]  # fmt: skip
    head = ["step", "family", "clean (%)", "drop rate (%)", "95% CI (%)", "threshold", "verdict"]
    chart = f"<div class=\"plots\">{image(series_chart(rows), 'Drop rate against the training step')}</div>"
    return page(title, [header, "<h2>Drop rate against the training step</h2>", chart, table(head, body)])


def write_series_html(runs: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    from .report import write_page

    return write_page(path, render_series_html(runs))
