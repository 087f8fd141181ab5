"""The HTML report: built from a real run (MiniLM on a small cranfield), every section, escaped
user text, the CLI and plugin entry points, and a render in headless Chromium whose plots
must decode."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest

from headless_browser import chromium, headless
from robustest.cli import main as cli_main
from robustest.report import render_html, write_html
from robustest.runs import load_run as read_run

SUITES = Path(__file__).resolve().parent.parent / "suites"
FAMILIES = ("misspelling", "reordering")
THRESHOLDS = {"misspelling": 0.2, "reordering": 0.05}


def build_run(index, clean, family_runs) -> dict:
    """A run dict as --robustest-save writes it (robustest.runs' family records), from real per-query scores."""
    from robustest import __version__
    from robustest.runs import RUN_SCHEMA, family_record
    from robustest.stats import apply_holm, evaluate_gate

    gates = apply_holm(
        evaluate_gate(f"{name} drop rate", fr.clean, fr.perturbed, THRESHOLDS[name], seeds=fr.seeds, family=name, measure=fr.measure)
        for name, fr in family_runs.items()
    )
    families = {name: family_record(fr) for name, fr in family_runs.items()}
    retriever = index.retriever
    return {
        "schema": RUN_SCHEMA,
        "robustest_version": __version__,
        "created": "2026-11-26T01:02:03Z",
        "retriever": {"spec": "default", "resolved": retriever.name, "kind": "embedded", "name": retriever.name, "fingerprint": retriever.fingerprint},
        "dataset": index.dataset.describe(),
        "settings": {},
        "effectiveness": clean.aggregate(),
        "per_query": {m: clean.by_query(m) for m in clean.scores},
        "queries": dict(index.dataset.queries),  # the original texts, for the worst-query tables
        "families": families,
        "gates": [g.as_dict() for g in gates],
    }


@pytest.fixture(scope="module")
def real_run(minilm, small_cranfield, cache_dir) -> dict:
    from robustest.cache import EmbeddingCache
    from robustest.data import load_beir
    from robustest.perturb.protocol import PAPER_SEEDS
    from robustest.retrieval import CorpusIndex
    from robustest.stability import run_family

    index = CorpusIndex(minilm, load_beir(small_cranfield), cache=EmbeddingCache(cache_dir), k=100)
    clean = index.evaluate(measures=["nDCG@10", "R@100"])
    runs = {f: run_family(index, f, PAPER_SEEDS, "nDCG@10", clean) for f in FAMILIES}
    return build_run(index, clean, runs)


def images(page: str) -> list[str]:
    return re.findall(r'<img src="(data:image/png;base64,[A-Za-z0-9+/=]+)"', page)


def test_report_of_a_real_run_has_every_section_and_only_inline_resources(real_run, tmp_path):
    path = write_html(real_run, tmp_path / "report.html")
    page = path.read_text(encoding="utf-8")
    for heading in ("Effectiveness (clean queries)", "Gates", "Drop rate per family", "Clean vs perturbed, per query", "Worst queries"):
        assert f">{heading}</h2>" in page, heading
    for absent in ("Corpus poisoning", "Embedding geometry", "Comparison with the baseline"):
        assert absent not in page  # sections whose data the run does not have are left out
    # One bar chart and one scatter per family, all inline PNGs; nothing fetched from elsewhere.
    assert len(images(page)) == 1 + len(FAMILIES) == page.count("<img ")
    assert not re.search(r'(src|href)="(?!data:)', page)
    for gate in real_run["gates"]:
        assert f">{gate['name']}<" in page
        assert f'verdict {gate["verdict"]}">{gate["verdict"]}<' in page
        assert f"{gate['drop_rate_mean'] * 100:.2f} ± {gate['drop_rate_std'] * 100:.2f}" in page
    assert f"{real_run['effectiveness']['nDCG@10']:.4f}" in page
    # The worst misspelling row is the (query, seed) with the largest fall in nDCG@10.
    fam = real_run["families"]["misspelling"]
    drops = [(fam["clean"][q] - x, q, s) for s, row in fam["perturbed"].items() for q, x in row.items()]
    _, qid, seed = max(drops)
    variant = fam["variants"][seed][qid]
    worst_table = page.split(">misspelling</h3>")[1].split("</table>")[0]
    first_row = worst_table.split("<tr>")[2]
    assert f"<td>{qid}</td>" in first_row and f"<td>{seed}</td>" in first_row
    assert variant["text"].replace("'", "&#x27;").replace('"', "&quot;") in re.sub(r"</?mark>", "", first_row)
    assert "<mark>" in first_row  # the misspelt word is highlighted


def test_query_texts_are_escaped(real_run, tmp_path):
    run = copy.deepcopy(real_run)
    fam = run["families"]["misspelling"]
    seed, qid = next((s, q) for s, row in fam["perturbed"].items() for q in row)
    fam["perturbed"][seed][qid] = -1.0  # make it the worst row so it is shown
    fam["variants"][seed][qid] = {"text": "<script>alert('x')</script>", "edit": "<b>bold</b> & co", "original": '"><img src=x>'}
    run["retriever"]["resolved"] = "<i>model</i>"
    page = render_html(run)
    assert "<script>alert" not in page and "<b>bold" not in page and "<img src=x>" not in page and "<i>model" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in page
    assert "&quot;&gt;&lt;img src=x&gt;" in page


def extra_sections(run: dict) -> dict:
    """The run with a poisoning, geometry and comparison block, as other suites record them."""
    run = copy.deepcopy(run)
    run["poisoning"] = {
        "hotflip": {"n_passages": 10, "seeds": [1999, 5], "asr": {"5": 0.1, "10": 0.2, "20": 0.35, "50": 0.5}, "asr_std": {"5": 0.02, "10": 0.03, "20": 0.04, "50": 0.05}}
    }
    run["geometry"] = {"isoscore": 0.0123, "average_cosine": 0.2718, "uniformity": -2.5, "spectral_norm_max": 9.87}
    # Shaped like robustest.comparison.Regression.as_dict() in a run's "comparison" block.
    regression = {"family": "misspelling", "measure": "nDCG@10", "tolerance": 0.02, "n_queries": 20, "seeds": [1999, 5], "confidence": 0.95}
    run["comparison"] = {
        "reference": {"kind": "saved run", "path": "runs/ckpt-1000.json", "retriever": {"resolved": "ckpt-1000", "fingerprint": "f" * 64}, "created": "2026-11-25T00:00:00Z"},
        "tolerance": 0.02,
        "regressions": [
            regression | {"name": "misspelling drop rate vs baseline", "baseline": 0.05, "current": 0.111, "difference": 0.061, "difference_ci": [0.021, 0.1],
                          "p_value": 0.002, "p_adjusted": 0.004, "verdict": "fail", "note": "fail: the checkpoint's drop rate is worse by 6.10 points"},
            regression | {"name": "nDCG@10 vs baseline", "family": "", "seeds": [], "baseline": 0.42, "current": 0.421, "difference": -0.001,
                          "difference_ci": [-0.01, 0.008], "p_value": 0.9, "p_adjusted": 0.9, "verdict": "pass", "note": "pass"},
        ],
    }  # fmt: skip
    return run


def test_baseline_poisoning_geometry_and_comparison_sections(real_run, tmp_path):
    run = extra_sections(real_run)
    baseline = copy.deepcopy(real_run)
    baseline["families"]["misspelling"]["drop_rates"] = [0.01] * 5
    page = render_html(run, baseline)
    assert len(images(page)) == 1 + len(FAMILIES) + 1  # drop rates (paired), scatters, ASR
    assert "Grey: the baseline run" in page and "<td>baseline</td>" in page
    poisoning = page.split(">Corpus poisoning</h2>")[1]
    assert "<th>ASR@20 (%)</th>" in poisoning and "35.0 ± 4.0" in poisoning
    geometry = page.split(">Embedding geometry</h2>")[1]
    assert "<td>isoscore</td>" in geometry and "0.0123" in geometry
    comparison = page.split(">Comparison with the baseline</h2>")[1].split("</ul>")[0]
    assert "<b>ckpt-1000</b> <code>ffffffffffff</code> saved run runs/ckpt-1000.json" in comparison
    fail_row = comparison.split("<td>misspelling drop rate vs baseline</td>")[1].split("</tr>")[0]
    assert ">+6.10<" in fail_row and "[2.10, 10.00]" in fail_row and 'verdict fail">fail<' in fail_row and ">0.004<" in fail_row
    assert 'verdict pass">pass<' in comparison.split("<td>nDCG@10 vs baseline</td>")[1]
    assert "worse by 6.10 points" in comparison  # the failing comparison's note
    # A run not gated against a baseline has "comparison": None.
    assert ">Comparison with the baseline<" not in render_html(real_run | {"comparison": None})


def test_drop_rate_chart_draws_each_gates_threshold_and_ci(real_run):
    from robustest.plots import drop_rate_figure
    from robustest.report import drop_rate_gates, seed_drop_rates

    asr_gate = {"name": "hotflip ASR@20", "family": "hotflip", "statistic": "ASR@20", "threshold": 0.3, "drop_rate_ci": [0.1, 0.2]}
    gates = drop_rate_gates(real_run | {"gates": real_run["gates"] + [asr_gate]})
    assert sorted(gates) == sorted(FAMILIES)  # an attack success rate is not a drop rate: not on this chart
    rates = seed_drop_rates(real_run)
    for baseline in (None, rates):
        ax = drop_rate_figure(rates, baseline, gates).axes[0]
        drawn = {line.get_gid(): line.get_xydata() for line in ax.lines if line.get_gid()}
        bars = ax.patches[-len(FAMILIES) :]  # this run's bars come last (after the baseline's)
        for family, bar in zip(FAMILIES, bars):
            gate = gates[family][0]
            left, right = bar.get_x(), bar.get_x() + bar.get_width()
            threshold = drawn[f"threshold:{family}"]
            assert np.allclose(threshold[:, 1], 100 * THRESHOLDS[family])
            assert threshold[0, 0] <= left and threshold[1, 0] >= right  # across the family's bars
            ci = drawn[f"ci:{family}"]
            assert np.allclose(ci[:, 1], [100 * v for v in gate["drop_rate_ci"]])
            assert left < ci[0, 0] == ci[1, 0] < right  # on this run's bar of that family
            assert np.allclose(drawn[f"estimate:{family}"][0], [ci[0, 0], 100 * gate["drop_rate"]])
            low, high = ax.get_ylim()
            assert low <= 100 * min(gate["drop_rate_ci"][0], 0) and high >= 100 * max(gate["drop_rate_ci"][1], THRESHOLDS[family])
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "gate threshold" in labels and "gate 95% CI (bootstrap over queries)" in labels
    # Without gates (a run that kept only seed drop rates) nothing of theirs is drawn.
    assert not [line for line in drop_rate_figure(rates).axes[0].lines if line.get_gid()]
    page = render_html(real_run)
    assert "Dashed red line: each gate&#x27;s threshold" in page.split(">Drop rate per family</h2>")[1]


def test_header_states_a_query_subsample(real_run, small_cranfield):
    from robustest.data import load_beir
    from robustest.data.types import subsample_queries

    full = load_beir(small_cranfield)
    assert full.describe()["subsample"] is None
    assert "query subsample" not in render_html(real_run)
    sub = subsample_queries(full, 12)
    assert sub.describe()["subsample"] == {"queries": 12, "of": 20} and len(sub.queries) == 12
    assert subsample_queries(sub, 5).describe()["subsample"] == {"queries": 5, "of": 20}  # of the full set
    page = render_html(real_run | {"dataset": sub.describe()})
    header = page.split(">Effectiveness (clean queries)</h2>")[0]
    assert "This run used a query subsample: 12 of the 20 judged queries" in header
    assert "12 queries" in header


def test_header_shows_the_environment(real_run, monkeypatch):
    from importlib import metadata

    from robustest.provenance import environment

    monkeypatch.setattr("sys.argv", ["pytest", "suites/", "--retriever=default", "-k", "it's"])
    env = environment()
    header = render_html(real_run | {"environment": env}).split(">Effectiveness (clean queries)</h2>")[0]
    assert f"torch {metadata.version('torch')}" in header and f"transformers {metadata.version('transformers')}" in header
    assert f"Python {env['python']['version']}" in header
    assert "<code>pytest suites/ --retriever=default -k &#x27;it&#x27;&quot;&#x27;&quot;&#x27;s&#x27;</code>" in header
    git = {"commit": "0123456789abcdef0123", "branch": "main", "dirty": True}
    header = render_html(real_run | {"environment": env | {"git": git}})
    assert "<code>0123456789ab</code> on main with uncommitted changes" in header
    assert "not in a git repository" in render_html(real_run | {"environment": env | {"git": None}})
    assert "git commit" not in render_html(real_run)  # older run files have no environment block


def test_a_run_without_families_still_reports(real_run):
    slim = {k: v for k, v in real_run.items() if k not in ("families", "gates")}
    page = render_html(slim)
    assert ">Effectiveness (clean queries)</h2>" in page and "<img " not in page
    # Gates alone (a run saved before families were stored) still give the bar chart.
    page = render_html(slim | {"gates": real_run["gates"]})
    assert len(images(page)) == 1


def test_cli_report_and_one_clear_error_for_a_bad_file(real_run, tmp_path, capsys):
    run_file = tmp_path / "run.json"
    run_file.write_text(json.dumps(extra_sections(real_run)))
    out = tmp_path / "out.html"
    assert cli_main(["report", str(run_file), "--html", str(out), "--baseline", str(run_file)]) == 0
    assert f"HTML report written to {out}" in capsys.readouterr().out
    assert len(images(out.read_text())) == 1 + len(FAMILIES) + 1
    assert read_run(run_file)["families"].keys() == real_run["families"].keys()

    broken = tmp_path / "broken.json"
    broken.write_text('{"schema": 2, "retriever": ')
    assert cli_main(["report", str(broken), "--html", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("robustest: error:") and "broken.json" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.html").exists()

    future = tmp_path / "future.json"
    future.write_text(json.dumps(real_run | {"schema": 99}))
    assert cli_main(["report", str(future), "--html", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert "schema 99" in err and len(err.strip().splitlines()) == 1


def test_report_renders_in_headless_chromium_with_its_plots(real_run, tmp_path):
    from matplotlib.image import imread

    from robustest.plots import RUN_COLOUR

    browser = chromium()
    page = write_html(extra_sections(real_run), tmp_path / "report.html", baseline=real_run)
    expected = len(images(page.read_text()))
    url = page.resolve().as_uri()

    dom = headless(browser, tmp_path, "--virtual-time-budget=10000", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom.stdout).group(0)
    assert 'data-images-ok="yes"' in body and f'data-images="{expected}"' in body, body  # every plot decoded

    shot = tmp_path / "shot.png"
    result = headless(browser, tmp_path, "--hide-scrollbars", "--window-size=1280,2600", f"--screenshot={shot}", url)
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (2600, 1280)
    assert pixels.std() > 0.05  # not a blank page
    # The plots' bars (this run's blue) are on screen, not just the tables.
    blue = np.array([int(RUN_COLOUR[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    assert np.sum(np.all(np.abs(pixels - blue) < 0.03, axis=-1)) > 2000


def test_plugin_writes_the_html_report(pytester, cache_dir, small_cranfield, tmp_path):
    def run(*args):
        return pytester.runpytest_subprocess(
            str(SUITES / "test_query_families.py"), str(SUITES / "test_effectiveness.py"), "-p", "no:cacheprovider",
            "-k", "(drop_rate and misspelling and not human and not instruction) or regression", f"--robustest-dataset={small_cranfield}", f"--robustest-cache-dir={cache_dir}", *args,
        )  # fmt: skip

    out, saved = tmp_path / "run.html", tmp_path / "run.json"
    result = run(f"--robustest-html={out}", f"--robustest-save={saved}")
    assert result.ret == 0 and result.parseoutcomes()["passed"] == 1, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines([f"HTML report written to {out}"])
    page = out.read_text(encoding="utf-8")
    assert "<td>misspelling drop rate</td>" in page and 'verdict pass">pass<' in page
    assert len(images(page)) == 2  # the drop-rate chart and the misspelling scatter
    assert "<mark>" in page.split(">misspelling</h3>")[1]  # originals are saved: edited words are marked
    # Gated against its own saved run: paired bars and the comparison section, all passing.
    gated = tmp_path / "gated.html"
    result = run(f"--robustest-html={gated}", f"--robustest-baseline={saved}")
    assert result.ret == 0, result.stdout.str()[-3000:]
    page = gated.read_text(encoding="utf-8")
    assert "Grey: the baseline run" in page
    comparison = page.split(">Comparison with the baseline</h2>")[1]
    assert "<td>misspelling drop rate vs baseline</td>" in comparison and 'verdict fail"' not in comparison
