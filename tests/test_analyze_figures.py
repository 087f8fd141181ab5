"""`robustest analyze`'s figures page on real run files: all-MiniLM-L6-v2 (mean, CLS and max
pooling) and the BM25 baseline on two real collections (small cranfield and a small slice of
the embedded default collection), saved by the plugin's own code; two MiniLM runs on cranfield
also measure a tiny real corpus poisoning. Each figure is checked against the numbers it
draws, a figure without data leaves a note, and the page renders in headless Chromium with
every image decoded."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest

from headless_browser import chromium, rendered_body
from robustest.analyze import analyze_runs, write_outputs
from robustest.cli import main
from robustest.figures import PAGE, asr_chart, cell_means_chart, drop_rate_chart, geometry_figure, marginal_means_chart
from robustest.plots import png_data_uri

SEEDS = (1999, 5)
FAMILIES = ("misspelling", "reordering")
MODELS = {"mean": "default", "cls": "default", "max": "default", "bm25": "bm25"}  # label -> --retriever


def save_run(path: Path, retriever: str, dataset: Path, cache_dir: Path, *, pooling: str | None = None, poisoning: bool = False) -> Path:
    """Clean scores, two families with their drop-rate gates, geometry (dense retrievers) and,
    if asked, a tiny corpus poisoning (2 HotFlip iterations, N = 2 and 3), saved as
    --robustest-save saves a run (engine.record.run_file) without the pytest round trip."""
    from robustest.errors import RobustnessError
    from robustest.geometry import index_geometry
    from robustest.engine.record import run_file
    from robustest.engine.session import RobustestSession
    from robustest.runs import save_run as save
    from robustest.settings import Settings

    poison = {"poison_passages": (2, 3), "poison_iterations": 2, "poison_pool": 6, "poison_length": 24, "poison_seeds": SEEDS}
    settings = Settings(retriever=retriever, dataset=str(dataset), cache_dir=str(cache_dir), pooling=pooling, seeds=SEEDS, measures=("nDCG@10",), **poison)
    session = RobustestSession(settings)
    session.clean_evaluation
    for family in FAMILIES:
        try:
            session.checks.gate(family)
        except RobustnessError:  # a failing gate is recorded all the same
            pass
    if not hasattr(session.retriever, "build_searcher"):  # dense: it has embeddings to measure
        session.checks.add("geometry", index_geometry(session.corpus_index, sample=150))
    if poisoning:
        session.checks.poisoning.measure_all()
    return save(path, run_file(session))


@pytest.fixture(scope="module")
def small_default(cache_dir, tmp_path_factory) -> Path:
    """A real slice of the embedded default collection: 24 test queries, their relevant senses
    and the first other senses, 240 documents in all."""
    from conftest import write_beir
    from robustest.data import load_beir
    from robustest.data.default_collection import default_collection_path

    full = load_beir(default_collection_path(cache_dir))
    qids = sorted(full.queries)[:24]
    keep = {d for q in qids for d in full.qrels[q]}
    for did in full.doc_ids:
        if len(keep) >= 240:
            break
        keep.add(did)
    docs = {d: (t, x) for d, t, x in zip(full.doc_ids, full.titles, full.texts) if d in keep}
    return write_beir(tmp_path_factory.mktemp("default") / "small-default", docs, {q: full.queries[q] for q in qids}, {q: full.qrels[q] for q in qids})


@pytest.fixture(scope="module")
def run_files(small_cranfield, small_default, cache_dir, tmp_path_factory) -> dict[tuple[str, str], Path]:
    folder = tmp_path_factory.mktemp("runs")
    files = {}
    for label, retriever in MODELS.items():
        for name, dataset in (("cranfield", small_cranfield), ("default", small_default)):
            pooling = None if label == "bm25" else label
            poisoning = label in ("mean", "cls") and name == "cranfield"
            files[(label, name)] = save_run(folder / f"{label}-{name}.json", retriever, dataset, cache_dir, pooling=pooling, poisoning=poisoning)
    return files


@pytest.fixture(scope="module")
def analysis(run_files):
    return analyze_runs(list(run_files.values()))


def label(a, path: Path) -> str:
    """The model label analyze gave the run saved at `path`."""
    return next(r.model for r in a.raw if r.path == str(path))


def figure_ids(page: str) -> list[str]:
    return re.findall(r'<figure id="fig-([a-z0-9_]+)"><img src="data:image/png;base64,[A-Za-z0-9+/=]+"', page)


@pytest.fixture(scope="module")
def cli_output(run_files, tmp_path_factory) -> tuple[Path, str]:
    """`robustest analyze` on every run: the output folder and what it printed."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("cli") / "analysis"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["analyze", *map(str, run_files.values()), "--out", str(out)]) == 0
    return out, printed.getvalue()


def test_cli_writes_the_page_beside_the_csvs_with_every_figure(cli_output):
    out, printed = cli_output
    assert f"figures: {out / PAGE} (every figure on one page)" in printed
    assert (out / PAGE).is_file() and (out / "runs.csv").is_file()  # the page sits beside the CSVs
    page = (out / PAGE).read_text(encoding="utf-8")
    targets = ["misspelling drop rate", "reordering drop rate", "hotflip (N=2) ASR@20", "hotflip (N=3) ASR@20"]
    expected = ["drop_rates", "marginal_means", "cell_means", "asr_curves"] + ["geometry_" + re.sub(r"[^a-z0-9]+", "_", t.lower()).strip("_") for t in targets]
    assert set(expected) <= set(figure_ids(page)), figure_ids(page)
    assert 'class="absent"' not in page
    assert page.count("<img ") == len(figure_ids(page))  # every image is one of the figures, inline
    assert not re.search(r'(src|href)="(?!data:)', page)
    # The PNGs analyze always wrote are still there, beside the page, the same images as on it.
    assert png_data_uri((out / "marginal_means.png").read_bytes()) in page
    assert {"marginal_means.png", "cell_means_clean_ndcg_10.png", "geometry_vs_misspelling_drop_rate.png"} <= {p.name for p in out.glob("*.png")}


def test_drop_rate_bars_are_the_seed_mean_and_std_with_the_gates_bootstrap_ci(analysis, run_files):
    chart = drop_rate_chart(analysis)
    datasets = list(dict.fromkeys(r["dataset"] for r in analysis.runs))
    assert [ax.get_title() for ax in chart.figure.axes if ax.get_visible()] == datasets
    checked = clipped = 0
    for ax in [ax for ax in chart.figure.axes if ax.get_visible()]:
        bars = {p.get_gid(): p for p in ax.patches if p.get_gid()}
        whiskers = {line.get_gid(): line.get_xydata() for line in ax.lines if str(line.get_gid()).startswith("ci:")}
        stds = {}
        for container in ax.containers:
            if hasattr(container, "errorbar") and container.errorbar is not None:
                (segment,) = container.errorbar.lines[2][0].get_segments()
                stds[container.patches[0].get_gid()] = (segment[1, 1] - segment[0, 1]) / 2
        for r in analysis.raw:
            if r.dataset != ax.get_title():
                continue
            gates = {g["family"]: g for g in r.data["gates"]}
            for family in FAMILIES:
                record, gid = r.data["families"][family], f"{r.model}:{family}"
                bar = bars[f"bar:{gid}"]
                assert bar.get_height() == pytest.approx(100 * record["drop_rate_mean"])
                assert stds[f"bar:{gid}"] == pytest.approx(100 * record["drop_rate_std"])
                ci = whiskers[f"ci:{gid}"]
                low, high = ax.get_ylim()
                want = np.clip([100 * v for v in gates[family]["drop_rate_ci"]], low, high)
                assert ci[:, 1] == pytest.approx(want)  # the gate's interval (clipped only at the axis edge)
                for end, drawn in zip([100 * v for v in gates[family]["drop_rate_ci"]], ci[:, 1]):
                    if end != pytest.approx(drawn):  # a clipped end: an arrow at the edge, labelled with the true end
                        clipped += 1
                        assert f"{end:.0f}" in {t.get_text() for t in ax.texts}
                assert bar.get_x() < ci[0, 0] < bar.get_x() + bar.get_width()  # beside this bar's std, on the bar
                checked += 1
    assert checked == len(run_files) * len(FAMILIES)
    assert clipped == 0 or "cut at the axis edge" in chart.caption
    assert f"{len(run_files) * len(FAMILIES)} of {len(run_files) * len(FAMILIES)} from the runs' gates" in chart.caption


def test_a_run_without_gates_gets_the_same_ci_from_its_saved_scores(analysis, run_files, tmp_path):
    """The fallback resamples the per-query scores the run file keeps, exactly as the gate did."""
    from robustest.figures import drop_rate_rows

    path = run_files[("bm25", "cranfield")]
    data = json.loads(path.read_text())
    gates = {g["family"]: g for g in data.pop("gates")}
    stripped = tmp_path / path.name
    stripped.write_text(json.dumps(data))
    (run,) = analyze_runs([stripped]).raw
    rows = drop_rate_rows([run])
    assert [r["ci_from"] for r in rows] == ["bootstrap"] * len(FAMILIES)
    for row in rows:
        assert row["ci"] == pytest.approx(tuple(gates[row["family"]]["drop_rate_ci"]), abs=1e-12)
        assert row["estimate"] == pytest.approx(gates[row["family"]]["drop_rate"])


def test_marginal_and_cell_means_are_the_mixed_models(analysis):
    fig = marginal_means_chart(analysis).figure
    fits = list(analysis.fits.values())
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == [f.response for f in fits]
    for ax, fit in zip(fig.axes, fits):
        points = {line.get_gid(): line.get_xydata()[0] for line in ax.lines if line.get_gid()}
        assert len(points) == len(fit.model_means) == len(MODELS)
        for m in fit.model_means:
            assert points[f"emm:{fit.response}:{m['model']}"][0] == pytest.approx(m["emm"])
    fig = cell_means_chart(analysis).figure
    for ax, fit in zip(fig.axes, fits):
        assert [t.get_text() for t in ax.get_xticklabels()] == fit.levels
        for model in fit.models:
            (line,) = [line for line in ax.lines if line.get_gid() == f"cells:{fit.response}:{model}"]
            want = [c["emm"] for level in fit.levels for c in fit.cell_means if c["model"] == model and c["dataset"] == level]
            assert line.get_ydata() == pytest.approx(want)


def test_asr_curves_per_model_and_n_from_the_real_poisoning(analysis, run_files):
    chart = asr_chart(analysis)
    saved = json.loads(run_files[("mean", "cranfield")].read_text())["poisoning"]
    assert set(saved) == {f"{a} (N={n})" for a in ("hotflip", "query_copy", "keyword_stuffing", "random_gold") for n in (2, 3)}
    lines = {line.get_gid(): line for ax in chart.figure.axes for line in ax.lines if line.get_gid()}
    assert len(lines) == 2 * len(saved)  # one curve per model, attack and N: two runs were attacked
    dataset = next(r.dataset for r in analysis.raw if r.path == str(run_files[("mean", "cranfield")]))
    for pooling in ("mean", "cls"):
        model = label(analysis, run_files[(pooling, "cranfield")])
        for entry in json.loads(run_files[(pooling, "cranfield")].read_text())["poisoning"].values():
            line = lines[f"asr:{model}:{dataset}:{entry['attack']}:{entry['n_passages']}"]
            ks = sorted(entry["asr"], key=int)
            assert list(line.get_xdata()) == [int(k) for k in ks]  # k on the x axis
            assert line.get_ydata() == pytest.approx([100 * entry["asr"][k] for k in ks])
        assert f"{model} on {dataset}" not in chart.caption.split("No poisoning results in ")[1]
    assert chart.figure.axes[0].get_xscale() == "log"
    assert f"{label(analysis, run_files[('max', 'cranfield')])} on {dataset}" in chart.caption.split("No poisoning results in ")[1]


def test_geometry_panels_carry_analyzes_correlation(analysis, run_files):
    from robustest.figures import geometry_panels
    from robustest.geometry import METRICS

    target = "misspelling drop rate"
    fig = geometry_figure(analysis, target)
    geometry, targets, _ = analysis.by_model
    rows = {c["metric"]: c for c in analysis.correlations if c["target"] == target}
    models, metrics, constant = geometry_panels(analysis, target)
    assert len(models) == 3 and label(analysis, run_files[("bm25", "default")]) not in models  # BM25 has no embeddings
    # The poolings share their weights: the spectral norms are one value, left out (analyze finds no correlation there).
    assert constant == [k for k in METRICS if k.startswith("spectral_norm_")] and all(rows[k]["note"].startswith("constant") for k in constant)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_xlabel().replace(" ", "_") for ax in panels] == metrics == ["isoscore", "average_cosine", "uniformity", "alignment"]
    for ax, metric in zip(panels, metrics):
        row = rows[metric]
        assert ax.get_title() == f"r = {row['pearson']:+.2f}, ρ = {row['spearman']:+.2f}, τ = {row['kendall']:+.2f} (n = 3)"
        points = {c.get_gid(): c.get_offsets()[0] for c in ax.collections if str(c.get_gid()).startswith("model:")}
        assert len(points) == 3
        for model in models:
            assert list(points[f"model:{metric}:{model}"]) == pytest.approx([geometry[model][metric], 100 * targets[target][model]])
        runs = [c for c in ax.collections if str(c.get_gid()).startswith("run:")]
        assert len(runs) == 6  # and each run (model x dataset) as a hollow point


def test_figures_without_data_leave_a_note(run_files, tmp_path):
    """BM25 alone on one dataset: no geometry, no poisoning, one factor level. A hand-edited
    poisoning entry whose k is no number is left out, not an error."""
    data = json.loads(run_files[("bm25", "cranfield")].read_text())
    data["poisoning"] = {"hotflip": {"n_passages": 3, "asr": {"twenty": 0.5}}}
    edited = tmp_path / "bm25.json"
    edited.write_text(json.dumps(data))
    out = tmp_path / "out"
    a = analyze_runs([edited])
    write_outputs(a, out)
    page = (out / PAGE).read_text(encoding="utf-8")
    assert figure_ids(page) == ["drop_rates", "marginal_means"]
    notes = dict(re.findall(r'<p class="absent" data-figure="([a-z_]+)">([^<]+)</p>', page))
    assert set(notes) == {"cell_means", "asr_curves", "geometry"}
    assert notes["asr_curves"].startswith("No ASR@k curves: none of the runs has poisoning results")
    assert notes["geometry"].startswith("No geometry figures: none of the runs has geometry")
    assert "one dataset level" in notes["cell_means"]
    # Without families: no drop-rate figure either, one more note.
    bare = copy.deepcopy(data) | {"families": {}, "gates": []}
    (tmp_path / "bare.json").write_text(json.dumps(bare))
    write_outputs(analyze_runs([tmp_path / "bare.json"]), out)
    page = (out / PAGE).read_text(encoding="utf-8")
    assert figure_ids(page) == ["marginal_means"] and 'data-figure="drop_rates">No drop rates' in page
    # One model with geometry (BM25 has none): nothing to scatter against, for every target.
    write_outputs(analyze_runs([run_files[("mean", "cranfield")], run_files[("bm25", "cranfield")]]), out)
    page = (out / PAGE).read_text(encoding="utf-8")
    assert "asr_curves" in figure_ids(page) and not [f for f in figure_ids(page) if f.startswith("geometry")]
    notes = dict(re.findall(r'<p class="absent" data-figure="([a-z0-9_]+)">([^<]+)</p>', page))
    assert notes["geometry_none"].startswith("No geometry figure for misspelling drop rate, reordering drop rate, hotflip (N=2) ASR@20, ")
    assert notes["geometry_none"].endswith(": 1 model(s) with geometry and a value (a scatter needs two or more).")


def test_the_page_renders_in_headless_chromium_with_every_image_decoded(cli_output, tmp_path):
    browser = chromium()
    page = cli_output[0] / PAGE
    expected = len(figure_ids(page.read_text(encoding="utf-8")))
    assert expected >= 7
    body = rendered_body(browser, tmp_path, page)
    assert 'data-images-ok="yes"' in body and f'data-images="{expected}"' in body, body
