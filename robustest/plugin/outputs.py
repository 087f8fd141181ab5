"""The files a run writes when it ends: the run file, the HTML report, TREC runs."""

from __future__ import annotations

from ..errors import RobustestError


def write_outputs(session) -> list[str]:
    """Write what the settings ask for; return one message per file that could not be written."""
    from .record import run_file

    s, errors = session.settings, []
    run = run_file(session) if (s.save or s.html) else None
    if s.save:
        from ..runs import save_run

        try:
            save_run(s.save, run)
        except RobustestError as exc:
            errors.append(f"results not saved: {exc}")
    if s.html:
        from ..report import write_html

        # The reference (a saved baseline or the --robustest-compare-to retriever) is drawn beside this run.
        reference = session.reference
        try:
            write_html(run, s.html, None if reference is None else reference.run)
        except RobustestError as exc:
            errors.append(f"HTML report not written: {exc}")
    if s.trec_run:
        try:
            write_trec_runs(session)
        except RobustestError as exc:
            errors.append(f"TREC run not written: {exc}")
    return errors


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
