"""What a run prints: the header, the terminal summary (effectiveness, gates, regressions,
poisoning) and the JUnit properties of each judged gate. Formatting only."""

from __future__ import annotations

from ..errors import RobustestError
from ..fingerprints import short


def header_lines(session, guard: bool = True) -> list[str]:
    """What the run uses, before anything loads; `guard`: also the semantic guard (the suites)."""
    from .. import __version__

    s = session.settings
    try:
        retriever = session.resolution.describe(session.load_options)
    except RobustestError:
        retriever = f"{s.retriever} (cannot be resolved; see the error below)"
    device = s.device
    try:
        from ..retrievers.hf import resolve_device

        device = f"{device} -> {resolve_device(device)}" if device == "auto" else device
    except RobustestError:
        pass
    lines = [
        f"robustest {__version__}: retriever {retriever}",
        f"robustest: dataset {s.dataset}, split {s.split}, device {device}, cache {'off' if s.no_cache else session.cache_dir}",
    ]
    index = index_line(session)
    if index:
        lines.append(index)
    thresholds = [f"{family} keeps cosine >= {t}" for family, t in (("synonymizing", s.synonym_guard), ("paraphrasing", s.paraphrase_guard)) if t is not None]
    if guard and thresholds:
        lines.append(f"robustest: semantic guard {guard_description(session)}, " + ", ".join(thresholds))
    return lines


def index_line(session) -> str | None:
    """How documents will be searched (GPUs, shards, an approximate index); None for the default."""
    from ..index import plan_line

    lexical = getattr(session.__dict__.get("resolution"), "kind", None) == "bm25"  # resolved above; no vectors to index
    return None if lexical else plan_line(session.settings.index, session.settings.index_shards, session.settings.faiss_gpu)


def guard_description(session) -> str:
    """The guard's model, and whether it is the retriever under test (then its vectors are shared)."""
    s = session.settings
    try:
        from ..perturb.loaders import guard_load_options

        guard = session.guard_resolution
        retriever = session.resolution.fingerprint(session.load_options)  # None: not a packaged model, cannot be the guard
        same = retriever is not None and guard.fingerprint(guard_load_options(s)) == retriever
    except RobustestError:
        return f"{s.guard_model} (cannot be resolved; see the error below)"
    return f"{s.guard_model} -> {guard.label}" + (" (the retriever under test: pass --robustest-guard-model=ID for an independent one)" if same else "")


def summary_lines(run) -> list[str]:
    """The terminal summary of a engine.finished.FinishedRun."""
    cache = "off" if run.cache_path is None else ("hit" if run.cache_hit else "miss, now stored")
    if run.cache_hit is None:
        cache = "not used (lexical retriever)"
    from ..headline import headline

    lines = [
        f"verdict: {headline(run)}",
        f"retriever: {run.retriever_label} (fingerprint {short(run.retriever['fingerprint'])})",
        run.dataset_line,
        f"corpus embeddings cache: {cache}" + (f" ({run.cache_path})" if run.cache_path else ""),
    ]
    lines += [f"{m:>12} = {v:.4f}" for m, v in run.effectiveness.items()]
    lines += run.lines
    lines += worst_case_lines(run)
    lines += run.poisoning_lines
    lines += [f"results missing: {reason}" for reason in run.missing]
    return lines + gate_lines(run) + instruction_lines(run) + regression_lines(run) + property_lines(run)


def instruction_lines(run) -> list[str]:
    """The instruction families side by side, with the prompt each kind used most."""
    from ..instruction_table import SENSITIVITY, clipped, instruction_rows, sensitivity

    verdicts = {g.family: g.verdict.value for g in run.holm_gates() if g.name == f"{g.family} drop rate"}
    rows = instruction_rows(run.families, verdicts)
    if not rows:
        return []
    prompt = run.retriever.get("query_prompt")
    measure = rows[0]["measure"]
    lines = [
        "",
        f"{SENSITIVITY}: the prompts varied, the query texts as they were"
        + (f" (the model's prompt: {clipped(prompt, 90)})" if isinstance(prompt, str) else ""),
        f"  {'kind':26} {measure:>9} {'drop % (mean ± std)':>20}  {'verdict':12} {'prompts':>7}  most used prompt",
    ]
    for r in rows:
        value = f"{r['perturbed']:.4f}" if r["perturbed"] is not None else "n/a"
        drop = f"{r['drop_rate_mean'] * 100:8.2f} ± {r['drop_rate_std'] * 100:<6.2f}" if r["drop_rate_mean"] is not None else "n/a"
        lines.append(f"  {r['kind']:26} {value:>9} {drop:>20}  {r['verdict']:12} {r['prompts']:>7}  {clipped(r['example'], side=r['side'])}")
    overall = sensitivity(rows)
    if overall is not None:
        lines.append(f"  {'mean of the kinds':26} {'':>9} {overall * 100:8.2f}")
    return lines


def gate_lines(run) -> list[str]:
    gates = run.holm_gates()
    lines = [] if not gates else ["", f"{'gate':34} {'% (mean ± std over seeds)':>25} {'95% CI':>18} {'threshold':>9} {'p Holm':>8}  verdict"]
    for g in gates:
        lo, hi = g.drop_rate_ci
        lines.append(
            f"{g.name:34} {g.drop_rate_mean * 100:>14.2f} ± {g.drop_rate_std * 100:<8.2f} "
            f"[{lo * 100:6.2f}, {hi * 100:6.2f}] {g.threshold * 100:>8.1f}% {g.p_adjusted:>8.3g}  {g.verdict.value}"
        )
    lines += [f"  {g.name}: {g.note}" for g in gates if g.verdict.value == "inconclusive"]
    lines += guard_lines(run.guards)
    lines += [f"not judged: {reason}" for reason in run.not_judged.values()]
    for family, example in run.counterexamples.items():
        lines.append(f"smallest counterexample found ({family}): {example}")
    return lines


def guard_lines(guards: dict[str, dict]) -> list[str]:
    """`guards`: family -> SemanticGuard.describe()."""
    lines = []
    for family, guard in guards.items():
        drawn = guard["accepted"] + guard["rejected"]
        if drawn:
            lines.append(
                f"{family} guard ({guard['model']}, cosine >= {guard['threshold']}): rejected {guard['rejected'] / drawn:.1%} "
                f"of {drawn} drawn variants"
            )
        if guard["is_retriever_under_test"]:
            lines.append(
                f"warning: the {family} guard is the retriever under test: it keeps the variants this model already finds "
                f"close, so the {family} drop rate reads low; pass --robustest-guard-model with another encoder"
            )
    return lines


def worst_case_lines(run) -> list[str]:
    from ..worst_case import format_worst_case

    results = list(run.worst_cases.values())
    if not results:
        return []
    lines = ["", "worst case of one edit (queries with a relevant document at rank <= margin; broken: none left in the top k)"]
    for r in results:
        lines += ["  " + line for line in format_worst_case(r, examples=2)]
    return lines


def regression_lines(run) -> list[str]:
    regressions = run.holm_regressions()
    reference = run.reference
    if reference is None or not regressions:
        return []
    lines = [
        "",
        f"regression vs {reference.label} (checkpoint minus baseline; positive = worse)",
        f"{'comparison':34} {'baseline':>9} {'this run':>9} {'difference':>11} {'95% CI':>18} {'tolerance':>9} {'p Holm':>8}  verdict",
    ]
    if reference.changes:
        lines.insert(2, "encoder settings differ from the baseline's: " + "; ".join(reference.changes))
    for r in regressions:
        lo, hi = r.difference_ci
        lines.append(
            f"{r.name:34} {r.baseline * 100:>9.2f} {r.current * 100:>9.2f} {r.difference * 100:>+11.2f} "
            f"[{lo * 100:6.2f}, {hi * 100:6.2f}] {r.tolerance * 100:>9.2f} {r.p_adjusted:>8.3g}  {r.verdict.value}"
        )
    lines += [f"  {r.name}: {r.note}" for r in regressions if r.verdict.value == "inconclusive"]
    if any(r.reference == "anchor" for r in regressions):
        lines.append("  vs anchor: against the first accepted run of the baseline's line, so accepted checkpoints cannot drift below it")
    late = [r.name for r in regressions if r.name in run.untested and r.reference == "baseline"]
    if late:
        lines.append(f"  {', '.join(late)}: judged at the end of the run (no selected test judged it): a baseline's clean comparison is always gated")
    return lines


def poisoning_lines(poisoning) -> list[str]:
    from ..assertions import NOTHING_ADDED, VERDICT_VERBS, adds_nothing
    from ..attacks.poisoning import CONTROL

    m = poisoning.measurement
    h, q, k = m.hotflip, m.queries, poisoning.config.k
    lines = [
        "",
        f"corpus poisoning: {len(q.test)} test queries attacked; attacker's queries: {q.source}; "
        f"passages of {h.tokens} tokens; HotFlip {h.iterations} iterations x {h.pool} candidates; seeds {', '.join(map(str, m.seeds))}",
        f"  {'ASR % (mean ± std)':28}" + "".join(f"{f'@{j}':>16}" for j in m.ks),
    ]
    done = [(a, n) for n in poisoning.passages for a in poisoning.attacks if (a, n) in m.results]
    for a, n in done:
        r = m.results[(a, n)]
        lines.append(f"  {r.name:28}" + "".join(f"{r.summary(j)[0] * 100:>9.2f} ± {r.summary(j)[1] * 100:<4.1f}" for j in m.ks))
    for (a, n), d in poisoning.comparisons.items():
        lo, hi = d.ci
        lines.append(
            f"  {a} - {CONTROL} (N={n}): ASR@{k} {d.estimate * 100:+.2f} points, {d.confidence:.0%} CI [{lo * 100:.2f}, {hi * 100:.2f}]"
            + ("" if d.significant else " (not significantly above the control)")
        )
        gate = getattr(poisoning, "gates", {}).get((a, n))
        if gate is not None and adds_nothing(gate, d):
            control = m.results[(CONTROL, n)].summary(k)[0] if (CONTROL, n) in m.results else float("nan")
            lines.append(
                f"    so the gate {gate.name} {VERDICT_VERBS[gate.verdict.value]} at {gate.drop_rate_mean * 100:.2f}% "
                f"with {CONTROL} alone at {control * 100:.2f}%: {NOTHING_ADDED}"
            )
    generated = sum(r.seconds for r in m.results.values())
    cached = sum(c for r in m.results.values() for c in r.cached if r.attack == "hotflip")
    lines.append(f"  passages generated in {generated:.1f} s" + (f"; {cached} HotFlip passage sets read from the cache" if cached else ""))
    return lines


def property_lines(run) -> list[str]:
    """What each property search (marker robustest_property) found: a default run reports a
    counterexample as xfail and none as xpass, which say nothing on their own."""
    searches = run.extras.get("property_searches") or {}
    if not searches:
        return []
    if run.settings.properties == "strict":
        head = "property searches (--robustest-properties=strict: a counterexample fails the test)"
    else:
        head = (
            "property searches (reported, not gated: x = counterexample found, X = none found; "
            "--robustest-properties=strict fails on a counterexample)"
        )
    lines = ["", head]
    for name, search in searches.items():
        outcome, families, detail = search["outcome"], search.get("families") or [], search.get("detail", "")
        if outcome == "counterexample":
            text = f"counterexample found ({', '.join(families)}: the smallest is shown above)" if families else f"counterexample found: {detail}"
        elif outcome == "none found":
            text = "none found"
        else:
            text = f"{outcome}: {detail}"
        lines.append(f"  {name}: {text}")
    return lines


def junit_properties(result) -> list[tuple[str, str]]:
    """(name, value) pairs of a gate or regression: estimate, CI, threshold, verdict."""
    name = result.name.replace(" ", "_")
    if hasattr(result, "difference"):
        lo, hi = result.difference_ci
        values = {"baseline": result.baseline, "current": result.current, "difference": result.difference, "ci_low": lo, "ci_high": hi, "tolerance": result.tolerance}
    else:
        lo, hi = result.drop_rate_ci
        values = {"mean": result.drop_rate_mean, "std": result.drop_rate_std, "ci_low": lo, "ci_high": hi, "threshold": result.threshold}
    props = [(f"robustest.{name}.{k}", f"{v:.6g}") for k, v in values.items()]
    return props + [(f"robustest.{name}.p_value", f"{result.p_value:.4g}"), (f"robustest.{name}.verdict", result.verdict.value)]
