"""The files a run writes when it ends: the run file, the HTML report, TREC runs."""

from __future__ import annotations

from ..errors import RobustestError


def write_outputs(session, passed: bool = True) -> list[str]:
    """Write what the settings ask for; return one line per file: where it went, or why not
    ("ERROR: ..."). `passed`: every test of the run passed (the baseline may then move)."""
    from ..runs import save_run
    from ..settings import same_file
    from .record import run_file

    s, lines = session.settings, []

    def attempt(write, done: str, failed: str) -> None:
        """One output: `done` names where it went (`write()` returns that), `failed` leads the error."""
        try:
            lines.append(f"{done} {write()}")
        except RobustestError as exc:
            lines.append(f"ERROR: {failed}: {exc}")

    run = run_file(session) if (s.save or s.html or s.update_baseline) else None
    if s.save and not (s.update_baseline and same_file(s.save, s.baseline)):
        attempt(lambda: save_run(s.save, run), "results saved to", "results not saved")
    if s.update_baseline and not passed:
        lines.append(f"baseline {s.baseline} kept: this run did not pass, so it does not replace the accepted baseline")
    elif s.update_baseline:
        attempt(lambda: f"{save_run(s.baseline, run)} replaced by this run (--robustest-update-baseline)", "baseline", "baseline not replaced")
    if s.html:
        from ..report import write_html

        # The reference (a saved baseline or the --robustest-compare-to retriever) is drawn beside this run.
        reference = None if session.reference is None else session.reference.run
        attempt(lambda: write_html(run, s.html, reference), "HTML report written to", "HTML report not written")
    if s.trec_run:
        attempt(lambda: write_trec_runs(session), "TREC run written to", "TREC run not written")
    return lines


def write_trec_runs(session):
    """The clean run at the index's depth; with --robustest-trec-perturbed, each family's
    variants too, one file per seed beside it (PATH.<family>.seed<S>.<suffix>)."""
    from ..runs import family_record
    from ..trec import clean_runs, write_family_runs, write_trec_run

    s, index = session.settings, session.corpus_index
    tag = session.resolution.label
    path = write_trec_run(s.trec_run, clean_runs(index), tag)
    if s.trec_perturbed:
        for family, run in session.record.runs.items():
            write_family_runs(s.trec_run, index, family, family_record(run)["variants"], tag=tag)
    return path
