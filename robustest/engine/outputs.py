"""The files a run writes when it ends: the run file, the HTML report, the per-query table, TREC runs."""

from __future__ import annotations

from typing import Callable

from ..errors import RobustestError


def attempt(lines: list[str], write: Callable[[], object], done: str, failed: str) -> None:
    """One output: `done` names where it went (`write()` returns that), `failed` leads the error."""
    try:
        lines.append(f"{done} {write()}")
    except RobustestError as exc:
        lines.append(f"ERROR: {failed}: {exc}")


def write_outputs(run, passed: bool = True) -> list[str]:
    """Write the run file, baseline, HTML report and per-query table the settings ask for, from a
    engine.finished.FinishedRun; return one line per file: where it went, or why not
    ("ERROR: ..."). `passed`: every test of the run passed (the baseline may then move)."""
    from ..runs import save_run
    from ..settings import same_file
    from .record import run_file

    s, lines = run.settings, []
    stored = run_file(run) if (s.save or s.html or s.per_query or s.mteb_results or s.update_baseline) else None
    if s.save and not (s.update_baseline and same_file(s.save, s.baseline)):
        attempt(lines, lambda: save_run(s.save, stored), "results saved to", "results not saved")
    if s.update_baseline:
        from ..lineage import accepted, update_refusal

        refusal = update_refusal(run, passed)
        if refusal:
            lines.append(f"baseline {s.baseline} kept: {refusal}; it stays the accepted baseline")
        else:
            attempt(lines, lambda: f"{save_run(s.baseline, accepted(stored))} replaced by this run (--robustest-update-baseline)", "baseline", "baseline not replaced")
    if s.html:
        from ..report import write_html

        # The reference (a saved baseline or the --robustest-compare-to retriever) is drawn beside this run.
        reference = None if run.reference is None else run.reference.run
        attempt(lines, lambda: write_html(stored, s.html, reference), "HTML report written to", "HTML report not written")
    if s.per_query:
        from ..per_query import write_per_query

        attempt(lines, lambda: write_per_query(stored, s.per_query), "per-query table written to", "per-query table not written")
    if s.mteb_results:
        from ..mteb_results import write_mteb_results

        def mteb_files() -> str:
            paths = write_mteb_results(stored, s.mteb_results)
            return f"{paths[-1].parent} ({len(paths)} files)"

        attempt(lines, mteb_files, "MTEB results written to", "MTEB results not written")
    return lines


def write_trec_outputs(session) -> list[str]:
    """--robustest-trec-run: the clean run at the index's depth; with --robustest-trec-perturbed,
    each family this process ran, one file per seed beside it (PATH.<family>.seed<S>.<suffix>).
    Needs the corpus index, so it runs where the tests ran (each xdist worker: its families)."""
    from ..runs import family_record
    from ..trec import clean_runs, write_family_runs, write_trec_run

    s, index, lines = session.settings, session.corpus_index, []
    if not s.trec_run:
        return lines

    def write():
        tag = session.resolution.label
        path = write_trec_run(s.trec_run, clean_runs(index), tag)
        if s.trec_perturbed:
            for family, run in session.record.runs.items():
                write_family_runs(s.trec_run, index, family, family_record(run)["variants"], tag=tag)
        return path

    attempt(lines, write, "TREC run written to", "TREC run not written")
    return lines
