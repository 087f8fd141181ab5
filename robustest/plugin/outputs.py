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
    run = run_file(session) if (s.save or s.html or s.update_baseline) else None
    if s.save and not (s.update_baseline and same_file(s.save, s.baseline)):
        try:
            lines.append(f"results saved to {save_run(s.save, run)}")
        except RobustestError as exc:
            lines.append(f"ERROR: results not saved: {exc}")
    if s.update_baseline and not passed:
        lines.append(f"baseline {s.baseline} kept: this run did not pass, so it does not replace the accepted baseline")
    elif s.update_baseline:
        try:
            lines.append(f"baseline {save_run(s.baseline, run)} replaced by this run (--robustest-update-baseline)")
        except RobustestError as exc:
            lines.append(f"ERROR: baseline not replaced: {exc}")
    if s.html:
        from ..report import write_html

        # The reference (a saved baseline or the --robustest-compare-to retriever) is drawn beside this run.
        reference = session.reference
        try:
            lines.append(f"HTML report written to {write_html(run, s.html, None if reference is None else reference.run)}")
        except RobustestError as exc:
            lines.append(f"ERROR: HTML report not written: {exc}")
    if s.trec_run:
        try:
            write_trec_runs(session)
            lines.append(f"TREC run written to {s.trec_run}")
        except RobustestError as exc:
            lines.append(f"ERROR: TREC run not written: {exc}")
    return lines


def write_trec_runs(session) -> None:
    """The clean run at the index's depth; with --robustest-trec-perturbed, each family's
    variants too, one file per seed beside it (PATH.<family>.seed<S>.<suffix>)."""
    from ..runs import family_record
    from ..trec import clean_runs, write_family_runs, write_trec_run

    s, index = session.settings, session.corpus_index
    tag = session.resolution.label
    write_trec_run(s.trec_run, clean_runs(index), tag)
    if s.trec_perturbed:
        for family, run in session.record.runs.items():
            write_family_runs(s.trec_run, index, family, family_record(run)["variants"], tag=tag)
