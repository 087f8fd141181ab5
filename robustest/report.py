"""One self-contained HTML report of a saved run: tables, and plots as inline PNGs.

`write_html(run, path, baseline=None)` takes the run as saved by `--robustest-save` (a plain
dict, see robustest/runs.py) and writes a single file with no external resources: CSS inline,
plots as base64 `data:` URIs (robustest/plots.py). Every section reads only the keys it needs
and is left out when they are missing, so a run of the effectiveness suite alone still makes a
report. Query texts are user data: everything printed goes through `html.escape`.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import RobustestError
from .files import atomic_write
from .fingerprints import short

WORST_QUERIES = 10

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1180px;color:#222;padding:0 16px}
h1{font-size:1.5em;margin-bottom:4px}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
h3{font-size:1.02em;margin:18px 0 6px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:0.9em}
th,td{border:1px solid #d5d5d5;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f5f8}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.meta td:first-child{font-weight:600;background:#fafafa}
.verdict{font-weight:700;border-radius:3px;padding:1px 6px;color:#fff;white-space:nowrap}
.pass{background:#2e8b57}.fail{background:#c0392b}.inconclusive{background:#d68910}.other{background:#777}
.plots{display:flex;flex-wrap:wrap;gap:12px}.plots img{border:1px solid #eee;max-width:100%}
.headline{font-size:1.1em;margin:6px 0 12px}
.subsample{background:#fff4d6;border-left:4px solid #d68910;padding:6px 10px}
.text{max-width:360px;word-break:break-word}mark{background:#ffe08a;padding:0 1px}.muted{color:#777}code{font-size:0.92em}
"""

# Marks <body data-images-ok="yes"> once every plot has decoded: a headless browser can
# then check the page with --dump-dom alone (tests/test_report.py does).
IMAGE_CHECK = """
window.addEventListener("load",function(){var imgs=Array.prototype.slice.call(document.images);
var ok=imgs.every(function(i){return i.complete&&i.naturalWidth>0;});
document.body.setAttribute("data-images",String(imgs.length));
document.body.setAttribute("data-images-ok",ok?"yes":"no");});
"""


def write_html(run: Mapping[str, Any], path: str | Path, baseline: Mapping[str, Any] | None = None) -> Path:
    return write_page(path, render_html(run, baseline))


def render_html(run: Mapping[str, Any], baseline: Mapping[str, Any] | None = None) -> str:
    sections = [
        header(run, baseline),
        effectiveness_section(run, baseline),
        gates_section(run.get("gates")),
        instruction_section(run),
        drop_rate_section(run, baseline),
        comparison_section(run.get("comparison")),
        scatter_section(run.get("families")),
        worst_section(run),
        worst_case_section(run.get("worst_case")),
        poisoning_section(run.get("poisoning")),
        geometry_section(run.get("geometry"), (baseline or {}).get("geometry")),
    ]
    return page(f"robustest report: {retriever_label(run)} on {dataset_label(run)}", sections)


def page(title: str, sections: Iterable[str]) -> str:
    """A whole HTML document: the style, the image check, the non-empty sections."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{esc(title)}</title><style>{CSS}</style><script>{IMAGE_CHECK}</script></head>\n<body>\n"
        + "\n".join(s for s in sections if s)
        + "\n</body></html>\n"
    )


def write_page(path: str | Path, text: str) -> Path:
    """Write an HTML page atomically; a folder that is not there is one clear error."""
    path = Path(path)
    if not path.parent.is_dir():
        what = "is a file, not a folder" if path.parent.exists() else "does not exist"
        raise RobustestError(f"cannot write the HTML report {path}: {path.parent} {what}; create the folder or write the report elsewhere")
    data = text.encode("utf-8")
    atomic_write(path, lambda f: f.write(data))
    return path


# -- small helpers ----------------------------------------------------------------------------


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def num(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if is_number(value) else "–"


def pct(value: Any, digits: int = 2) -> str:
    return f"{100 * value:.{digits}f}" if is_number(value) else "–"


def ci_text(ci: Any, scale: float = 100, digits: int = 2) -> str:
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(is_number(v) for v in ci):
        return f"[{ci[0] * scale:.{digits}f}, {ci[1] * scale:.{digits}f}]"
    return "–"


def verdict_badge(verdict: Any) -> str:
    text = str(verdict or "–")
    kind = text if text in ("pass", "fail", "inconclusive") else "other"
    return f'<span class="verdict {kind}">{esc(text)}</span>'


def table(head: Iterable[str], rows: Iterable[Iterable[str]], cls: str = "") -> str:
    """Cells are HTML already (escape them before); headers are escaped here."""
    out = [f'<table class="{cls}">' if cls else "<table>", "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>"]
    out += ["<tr>" + "".join(rows_cell(c) for c in row) + "</tr>" for row in rows]
    return "\n".join(out + ["</table>"])


def rows_cell(cell: str) -> str:
    # Cells starting with "<td" carry their own class; others are plain.
    return cell if cell.startswith("<td") else f"<td>{cell}</td>"


def ncell(text: str) -> str:
    return f'<td class="num">{text}</td>'


def image(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{esc(alt)}">'


def retriever_label(run: Mapping) -> str:
    r = run.get("retriever") or {}
    return str(r.get("resolved") or r.get("name") or r.get("spec") or "unknown retriever")


def dataset_label(run: Mapping) -> str:
    d = run.get("dataset") or {}
    return f"{d.get('name', 'unknown dataset')} [{d.get('split', '?')}]"


# -- sections --------------------------------------------------------------------------------


def header(run: Mapping, baseline: Mapping | None) -> str:
    r, d = run.get("retriever") or {}, run.get("dataset") or {}
    rows = [
        ("retriever", esc(retriever_label(run)) + (f' <span class="muted">({esc(r["spec"])})</span>' if r.get("spec") and r.get("spec") != retriever_label(run) else "")),
        ("fingerprint", f"<code>{esc(short(str(r.get('fingerprint', ''))))}</code>"),
        ("dataset", esc(d.get("name", "")) + (f' <span class="muted">{esc(d.get("source"))}</span>' if d.get("source") else "")),
        ("split", esc(d.get("split", ""))),
        ("size", f"{esc(d.get('documents', '?'))} documents, {esc(d.get('queries', '?'))} queries"),
        ("robustest", esc(run.get("robustest_version", ""))),
        ("created", esc(run.get("created", ""))),
    ]
    for key in ("pooling", "dtype", "device", "similarity", "max_length"):
        if r.get(key) is not None:
            rows.append((key, esc(r[key])))
    rows += environment_rows(run.get("environment"))
    if baseline is not None:
        br = baseline.get("retriever") or {}
        rows.append(
            ("baseline", f"{esc(retriever_label(baseline))} <code>{esc(short(str(br.get('fingerprint', ''))))}</code>, created {esc(baseline.get('created', '?'))}")
        )
    body = "\n".join(f"<tr><td>{esc(k)}</td><td>{v}</td></tr>" for k, v in rows)
    sample = subsample_sentence(run)
    note = f'\n<p class="subsample"><b>{esc(sample)}</b></p>' if sample else ""
    return f"<h1>robustest report</h1>\n{headline_html(run)}<table class=\"meta\">\n{body}\n</table>{note}"


def headline_html(run: Mapping) -> str:
    """The run's one verdict (robustest.headline), first: passed, failed or not shown safe."""
    verdict = run.get("verdict")
    if not isinstance(verdict, str) or not verdict:
        return ""
    word = verdict.split(" - ")[0]
    kind = {"PASSED": "pass", "FAILED": "fail", "NOT SHOWN SAFE": "inconclusive"}.get(word, "other")
    rest = verdict[len(word):].lstrip(" -")
    return f'<p class="headline"><span class="verdict {kind}">{esc(word)}</span> {esc(rest)}</p>\n'



def subsample_sentence(run: Mapping) -> str:
    """Says so when the run scored a subsample of the judged queries (the max_queries setting)."""
    sub = (run.get("dataset") or {}).get("subsample")
    if not isinstance(sub, dict):
        return ""
    return (
        f"This run used a query subsample: {sub.get('queries', '?')} of the {sub.get('of', '?')} judged queries "
        "(a fixed subsample chosen by query id). Every score, drop rate and verdict here is over these queries only."
    )


def environment_rows(env: Any) -> list[tuple[str, str]]:
    """Where the run was made (robustest.provenance.environment), for the header table."""
    if not isinstance(env, dict):
        return []
    rows = []

    def part(key: str) -> dict:  # a hand-edited file may hold anything: a part that is no object is left out
        value = env.get(key)
        return value if isinstance(value, dict) else {}

    py, packages = part("python"), part("packages")
    versions = [f"Python {py['version']}" + (f" ({py['implementation']})" if py.get("implementation") else "")] if py.get("version") else []
    versions += [f"{name} {v}" for name, v in packages.items() if v and name != "robustest"]
    if versions:
        rows.append(("versions", esc(", ".join(versions))))
    m = part("machine")
    if m:
        memory = m.get("memory_bytes")
        parts = [" ".join(str(m[k]) for k in ("system", "machine") if m.get(k)), m.get("processor"), f"{m['cpus']} CPUs" if m.get("cpus") else None,
                 f"{memory / 2**30:.1f} GiB" if is_number(memory) else None]  # fmt: skip
        rows.append(("machine", esc(", ".join(p for p in parts if p))))
    if isinstance(env.get("cuda_devices"), list) and env["cuda_devices"]:
        rows.append(("CUDA", esc(", ".join(map(str, env["cuda_devices"])))))
    git = env.get("git")
    if isinstance(git, dict) and git.get("commit"):
        text = f"<code>{esc(git['commit'][:12])}</code>" + (f" on {esc(git['branch'])}" if git.get("branch") else "")
        rows.append(("git commit", text + (" with uncommitted changes" if git.get("dirty") else "")))
    elif "git" in env:
        rows.append(("git commit", '<span class="muted">not in a git repository</span>'))
    if isinstance(env.get("command_line"), list) and env["command_line"]:
        import shlex

        rows.append(("command line", f"<code>{esc(shlex.join(str(a) for a in env['command_line']))}</code>"))
    return rows


def effectiveness_section(run: Mapping, baseline: Mapping | None) -> str:
    values = run.get("effectiveness") or {}
    if not values:
        return ""
    base = (baseline or {}).get("effectiveness") or {}
    head = ["measure", "clean (this run)"] + (["baseline", "difference"] if base else [])
    rows = []
    for measure, value in values.items():
        row = [esc(measure), ncell(num(value))]
        if base:
            b = base.get(measure)
            row += [ncell(num(b)), ncell(f"{value - b:+.4f}" if is_number(value) and is_number(b) else "–")]
        rows.append(row)
    return "<h2>Effectiveness (clean queries)</h2>\n" + table(head, rows)


def gates_section(gates: Any) -> str:
    if not gates:
        return ""
    rows = []
    for g in gates:
        p = g.get("p_adjusted", g.get("p_value"))
        rows.append(
            [
                esc(g.get("name", "")),
                esc(g.get("family", "")),
                esc(g.get("measure", "")),
                esc(g.get("statistic", "drop rate")),
                ncell(f"{pct(g.get('drop_rate_mean'))} ± {pct(g.get('drop_rate_std'))}"),
                ncell(ci_text(g.get("drop_rate_ci"))),
                ncell(pct(g.get("threshold"), 1) + "%"),
                ncell(f"{p:.3g}" if is_number(p) else "–"),
                verdict_badge(g.get("verdict")),
            ]
        )
    head = ["gate", "family", "measure", "statistic", "% (mean ± std over seeds)", "95% CI (%)", "threshold", "p (Holm)", "verdict"]
    notes = [f"<li>{esc(g.get('name', ''))}: {esc(g['note'])}</li>" for g in gates if g.get("note") and g.get("verdict") != "pass"]
    return "<h2>Gates</h2>\n" + table(head, rows) + (f"\n<ul>{''.join(notes)}</ul>" if notes else "")


def instruction_section(run: Mapping) -> str:
    """The instruction families side by side (robustest.instruction_table)."""
    from .instruction_table import SENSITIVITY, instruction_rows, sensitivity

    gates = run.get("gates") or []
    verdicts = {g.get("family"): g.get("verdict") for g in gates if isinstance(g, Mapping) and g.get("name") == f"{g.get('family')} drop rate"}
    rows = instruction_rows(run.get("families") or {}, verdicts)
    if not rows:
        return ""
    cells = [
        [
            esc(r["kind"]),
            ncell(num(r["perturbed"])),
            ncell(f"{pct(r['drop_rate_mean'])} ± {pct(r['drop_rate_std'])}"),
            verdict_badge(r["verdict"]) if r["verdict"] in ("pass", "fail", "inconclusive") else esc(r["verdict"]),
            ncell(str(r["prompts"])),
            f'<td class="text">{"documents: " if r["side"] == "documents" else ""}<code>{esc(repr(r["example"]))}</code></td>',
        ]
        for r in rows
    ]
    prompt = (run.get("retriever") or {}).get("query_prompt")
    intro = "The prompts varied; the query texts as they were."
    if isinstance(prompt, str):
        intro += f" The model's query prompt: <code>{esc(repr(prompt))}</code>."
    overall = sensitivity(rows)
    if overall is not None:
        intro += f" Mean drop rate of the kinds: {pct(overall)}%."
    head = ["kind", f"perturbed {rows[0]['measure']}", "drop % (mean ± std over seeds)", "verdict", "prompts", "most used prompt"]
    return f"<h2>{SENSITIVITY.capitalize()}</h2>\n<p>{intro}</p>\n" + table(head, cells)


def seed_drop_rates(run: Mapping | None) -> dict[str, list[float]]:
    """Per family, the drop rate of each seed: from `families`, else from the gates."""
    out: dict[str, list[float]] = {}
    for family, f in ((run or {}).get("families") or {}).items():
        if f.get("drop_rates"):
            out[family] = [v for v in f["drop_rates"] if is_number(v)]
    for g in (run or {}).get("gates") or []:
        family = g.get("family")
        # ASR gates (statistic "attack success rate") are not drop rates: not in this chart.
        if family and family not in out and g.get("seed_drop_rates") and g.get("statistic", "drop rate") == "drop rate":
            out[family] = [v for v in g["seed_drop_rates"] if is_number(v)]
    return out


def drop_rate_gates(run: Mapping) -> dict[str, list[Mapping]]:
    """This run's drop-rate gates by family, for their thresholds and CIs on the chart."""
    out: dict[str, list[Mapping]] = {}
    for g in run.get("gates") or []:
        if g.get("family") and g.get("statistic", "drop rate") == "drop rate":
            out.setdefault(g["family"], []).append(g)
    return out


def drop_rate_section(run: Mapping, baseline: Mapping | None) -> str:
    rates = seed_drop_rates(run)
    if not rates:
        return ""
    from .plots import drop_rate_bars

    base = seed_drop_rates(baseline) if baseline is not None else None
    gates = drop_rate_gates(run)
    caption = "Bars: mean drop rate over seeds; error bars: population std over seeds (as in the paper's charts)."
    if gates:
        caption += (
            " Dashed red line: each gate's threshold. Orange interval: the gate's confidence interval (paired bootstrap"
            " over queries) around its drop rate, the uncertainty its verdict was decided on: wholly below the line"
            " passes, wholly above fails, across it is inconclusive."
        )
    if base is not None:
        caption += " Grey: the baseline run; blue: this run."
    return (
        "<h2>Drop rate per family</h2>\n"
        f'<div class="plots">{image(drop_rate_bars(rates, base, gates), "drop rate per family")}</div>\n<p class="muted">{esc(caption)}</p>'
    )


def reference_text(comparison: Mapping) -> str:
    """Who the run was compared with: a saved run (SavedReference) or a retriever measured in
    the same session (LiveReference)."""
    ref = comparison.get("reference")
    if not isinstance(ref, dict):
        return ""
    r = ref.get("retriever") if isinstance(ref.get("retriever"), dict) else ref
    who = r.get("resolved") or r.get("name") or r.get("spec") or "?"
    parts = [f"<b>{esc(who)}</b>"]
    if r.get("fingerprint"):
        parts.append(f"<code>{esc(short(str(r['fingerprint'])))}</code>")
    if ref.get("path"):
        parts.append(f"saved run {esc(ref['path'])}" + (f", created {esc(ref['created'])}" if ref.get("created") else ""))
    elif ref.get("kind") == "retriever":
        parts.append("(retriever measured in the same session)")
    return "Compared with " + " ".join(parts)


def regressions_table(rows: list[dict]) -> str:
    """Rows shaped like robustest.comparison.Regression: checkpoint minus baseline, in points."""
    cells = []
    for r in rows:
        p = r.get("p_adjusted", r.get("p_value"))
        diff = r.get("difference")
        cells.append(
            [
                esc(r.get("name", r.get("family", ""))),
                ncell(pct(r.get("baseline"))),
                ncell(pct(r.get("current"))),
                ncell(f"{100 * diff:+.2f}" if is_number(diff) else "–"),
                ncell(ci_text(r.get("difference_ci"))),
                ncell(pct(r.get("tolerance"))),
                ncell(f"{p:.3g}" if is_number(p) else "–"),
                verdict_badge(r.get("verdict")),
            ]
        )
    head = ["comparison", "baseline", "this run", "difference (points)", "95% CI", "tolerance", "p (Holm)", "verdict"]
    notes = [f"<li>{esc(r.get('name', ''))}: {esc(r['note'])}</li>" for r in rows if r.get("note") and r.get("verdict") != "pass"]
    return table(head, cells) + (f"\n<ul>{''.join(notes)}</ul>" if notes else "")


def comparison_section(comparison: Any) -> str:
    """The run's "comparison" block: {"reference", "tolerance", "regressions"}, as the session
    writes it (None when the run was not gated)."""
    if not isinstance(comparison, dict) or not isinstance(comparison.get("regressions"), list):
        return ""
    rows = [r for r in comparison["regressions"] if isinstance(r, dict)]
    if not rows:
        return ""
    who = reference_text(comparison)
    sign = "Differences x100: this run's drop rate minus the baseline's, the baseline's clean score minus this run's; positive = worse."
    return "<h2>Comparison with the baseline</h2>\n" + f"<p>{who + '. ' if who else ''}{sign}</p>\n" + regressions_table(rows)


def perturbed_means(family: Mapping) -> dict[str, float]:
    """Per query, the mean perturbed score over the seeds that gave it a variant."""
    sums: dict[str, list[float]] = {}
    for scores in (family.get("perturbed") or {}).values():
        for qid, value in scores.items():
            if is_number(value):
                sums.setdefault(qid, []).append(value)
    return {q: sum(v) / len(v) for q, v in sums.items()}


def scatter_section(families: Any) -> str:
    if not families:
        return ""
    from .plots import clean_vs_perturbed

    images = []
    for name, f in families.items():
        clean, means = f.get("clean") or {}, perturbed_means(f)
        qids = [q for q in clean if q in means and is_number(clean[q])]
        if qids:
            uri = clean_vs_perturbed([clean[q] for q in qids], [means[q] for q in qids], name, f.get("measure", "score"))
            images.append(image(uri, f"clean vs perturbed scores, {name}"))
    if not images:
        return ""
    return "<h2>Clean vs perturbed, per query</h2>\n" + f'<div class="plots">{"".join(images)}</div>'


def original_text(run: Mapping, family: Mapping, variant: Mapping, qid: str) -> str | None:
    """The unperturbed query text, wherever this run keeps it."""
    for source in (variant, family.get("queries"), family.get("originals"), run.get("queries")):
        if isinstance(source, Mapping):
            text = source.get("original") if source is variant else source.get(qid)
            if isinstance(text, str):
                return text
    return None


def marked_variant(original: str | None, variant: str | None) -> str:
    """The variant, escaped, with the words that differ from the original in <mark>."""
    if variant is None:
        return ""
    if original is None:
        return esc(variant)
    import difflib

    before, after = original.split(), variant.split()
    out = []
    for op, _, _, j1, j2 in difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes():
        words = " ".join(esc(w) for w in after[j1:j2])
        if words:
            out.append(words if op == "equal" else f"<mark>{words}</mark>")
    return " ".join(out)


def variant_cell(row: Mapping) -> str:
    """The variant with its changed words marked; an instruction family's with the prompt it used."""
    if isinstance(row.get("prompt"), str):
        return f'<code>{esc(repr(row["prompt"]))}</code> {esc(row["variant"] or "")}'
    return marked_variant(row["original"], row["variant"])


def worst_rows(run: Mapping, family: Mapping, n: int = WORST_QUERIES) -> list[dict]:
    """The n (query, seed) pairs whose score fell most under this family."""
    clean = family.get("clean") or {}
    variants = family.get("variants") or {}
    rows = []
    for seed, scores in (family.get("perturbed") or {}).items():
        for qid, after in scores.items():
            before = clean.get(qid)
            if not (is_number(before) and is_number(after)):
                continue
            v = (variants.get(seed) or {}).get(qid) or {}
            if isinstance(v, str):
                v = {"text": v}
            rows.append(
                {
                    "query_id": qid,
                    "seed": seed,
                    "original": original_text(run, family, v, qid),
                    "variant": v.get("text"),
                    "prompt": v.get("prompt"),
                    "edit": v.get("edit"),
                    "clean": before,
                    "perturbed": after,
                }
            )
    rows.sort(key=lambda r: (r["perturbed"] - r["clean"], str(r["query_id"]), str(r["seed"])))
    return rows[:n]


def worst_section(run: Mapping) -> str:
    parts = []
    for name, f in (run.get("families") or {}).items():
        rows = worst_rows(run, f)
        if not rows:
            continue
        cells = [
            [
                esc(r["query_id"]),
                esc(r["seed"]),
                f'<td class="text">{esc(r["original"]) if r["original"] is not None else "<span class=muted>–</span>"}</td>',
                f'<td class="text">{variant_cell(r)}</td>',
                f'<td class="text">{esc(r["edit"])}</td>',
                ncell(num(r["clean"])),
                ncell(num(r["perturbed"])),
                ncell(f"{r['perturbed'] - r['clean']:+.4f}"),
            ]
            for r in rows
        ]
        head = ["query", "seed", "original", "variant", "edit", f"clean {f.get('measure', '')}".strip(), "perturbed", "change"]
        parts.append(f"<h3>{esc(name)}</h3>\n" + table(head, cells))
    return "<h2>Worst queries</h2>\n" + "\n".join(parts) if parts else ""


def worst_case_section(results: Any) -> str:
    """The worst-case one-edit searches: per family the share broken and its first counterexamples."""
    results = {k: v for k, v in (results if isinstance(results, dict) else {}).items() if isinstance(v, dict)}
    if not results:
        return ""
    rows, examples = [], []
    for name, r in results.items():
        ci = r.get("share_broken_ci") or [None, None]
        rows.append(
            [esc(name), ncell(esc(r.get("queries", "–"))), ncell(esc(r.get("broken", "–"))), ncell(pct(r.get("share_broken"), 1)),
             ncell(ci_text(ci, digits=1)), ncell(esc(r.get("median_rank_loss", "–"))),
             ncell(esc(r.get("neighbours_tried", "–")))]
        )
        for e in (r.get("counterexamples") or [])[:3]:
            if isinstance(e, dict):
                examples.append(
                    [esc(name), esc(e.get("query_id")), f'<td class="text">{marked_variant(e.get("query"), e.get("variant"))}</td>',
                     f'<td class="text">{esc(e.get("edit"))}</td>', ncell(f"{esc(e.get('rank_before'))} → {esc(e.get('rank_after'))}")]
                )
    first = next(iter(results.values()))
    intro = (
        f"<p>Queries with a relevant document at rank &le; {esc(first.get('margin'))}; broken: one edit leaves no relevant "
        f"document in the top {esc(first.get('k'))}. Up to {esc(first.get('neighbours_per_query'))} variants per query.</p>\n"
    )
    head = ["family", "queries", "broken", "share broken (%)", "95% CI", "median rank loss", "variants tried"]
    out = "<h2>Worst case of one edit</h2>\n" + intro + table(head, rows)
    if examples:
        out += "\n<h3>Smallest counterexamples</h3>\n" + table(["family", "query", "variant", "edit", "rank"], examples)
    return out


def poisoning_section(poisoning: Any) -> str:
    attacks = {
        k: {**v, "asr_std": v.get("asr_std") if _asr_table(v.get("asr_std")) else {}}
        for k, v in (poisoning if isinstance(poisoning, dict) else {}).items()
        if isinstance(v, dict) and v.get("asr") and _asr_table(v["asr"])
    }
    if not attacks:
        return ""
    from .plots import asr_chart

    ks = sorted({k for a in attacks.values() for k in a["asr"]}, key=lambda k: float(k))
    rows = []
    for name, a in attacks.items():
        std = a["asr_std"]
        rows.append(
            [esc(name), ncell(esc(a.get("n_passages", "–")))]
            + [ncell(f"{pct(a['asr'].get(k), 1)} ± {pct(std.get(k), 1)}" if k in a["asr"] else "–") for k in ks]
        )
    head = ["attack", "passages"] + [f"ASR@{k} (%)" for k in ks]
    return (
        "<h2>Corpus poisoning</h2>\n"
        + f'<div class="plots">{image(asr_chart(attacks), "attack success rate per k")}</div>\n'
        + table(head, rows)
    )


def _asr_table(asr: Any) -> bool:
    """ASR@k as saved: {"20": share, ...}; anything else (a hand-edited file) is left out."""
    if not isinstance(asr, dict):
        return False
    try:
        return all(math.isfinite(float(k)) and is_number(v) for k, v in asr.items())
    except ValueError:
        return False


def geometry_section(geometry: Any, baseline: Any = None) -> str:
    if not isinstance(geometry, dict) or not geometry:
        return ""
    base = baseline if isinstance(baseline, dict) else {}
    rows = []
    for key, value in geometry.items():
        if isinstance(value, (dict, list)):
            continue
        row = [esc(key), ncell(f"{value:.4g}") if is_number(value) else esc(value)]
        if base:
            b = base.get(key)
            row.append(ncell(f"{b:.4g}") if is_number(b) else "–")
        rows.append(row)
    head = ["property", "value"] + (["baseline"] if base else [])
    return "<h2>Embedding geometry</h2>\n" + table(head, rows)
