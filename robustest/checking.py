"""`robustest.check(...)`: the shipped suites' gates in one call, without pytest.

The same engine and defaults as `pytest --pyargs robustest.suites`: the clean-effectiveness
check, one drop-rate gate per query family (with a baseline, its paired comparison too), the
clean comparison with a baseline, and corpus poisoning when asked. The property and worst-case
searches are pytest's (Hypothesis drives them) and are not run here.
"""

from __future__ import annotations

import difflib
from typing import Any, Iterable, Sequence

from .errors import NotJudged, RobustestError, RobustnessError
from .settings import Settings


def check(
    retriever: Any = "default",
    dataset: Any = "default",
    *,
    families: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    max_queries: int | None = None,
    baseline: str | None = None,
    poisoning: bool = False,
    name: str | None = None,
    similarity: str | None = None,
    verbose: bool = True,
    **options: Any,
):
    """Test a retriever for robustness; returns a `robustest.Report`.

    retriever: a --retriever string (a model folder, ``"default"``, a preset, a Hugging Face id,
        ``module:factory``), a sentence-transformers model, an object with
        ``encode_queries(texts)`` and ``encode_documents(texts)``, or a function texts -> array.
    dataset: a --robustest-dataset string (``"default"``, a folder in any supported form,
        ``irds:<id>``, ``mteb:<Task>``) or a loaded ``robustest.data.Dataset``.
    families: the query families to gate (default: every one the shipped suites gate);
        ``[]`` gates none (clean effectiveness only).
    seeds: perturbation seeds (default: the paper's 1999, 5, 27, 2016, 2026).
    max_queries: a fixed subsample of at most this many queries, chosen by query id.
    baseline: a run file saved earlier (``Report.save``, ``--robustest-save``): every gate is
        also compared with it on the same variant texts.
    poisoning: also run the corpus-poisoning gates (minutes on a CPU).
    name: the retriever's name, for an object or function; without a fingerprint of its own,
        its cache entries are keyed by its outputs on a fixed probe.
    similarity: ``"cosine"`` or ``"dot"`` for an object or function (default: cosine, or the
        sentence-transformers model's own).
    verbose: print the run's header and progress as pytest would.
    options: any robustest setting by its name, e.g. ``regression_tolerance=0.01``,
        ``inconclusive="fail"``, ``cache_dir="..."`` (see the options reference).
    """
    object_retriever = retriever if not isinstance(retriever, str) else None
    object_dataset = dataset if not isinstance(dataset, str) else None
    chosen = {"seeds": seeds, "max_queries": max_queries, "baseline": baseline, **options}
    if object_retriever is None:
        chosen["retriever"] = retriever
    if object_dataset is None:
        chosen["dataset"] = dataset
    elif isinstance(getattr(object_dataset, "name", None), str):
        chosen.setdefault("dataset", object_dataset.name)  # picks a preset's task instruction
    return run_check(settings_of(chosen), retriever=object_retriever, dataset=object_dataset, families=families,
                     poisoning=poisoning, name=name, similarity=similarity, verbose=verbose)


def run_check(settings: Settings, *, retriever: Any = None, dataset: Any = None, families: Sequence[str] | None = None,
              poisoning: bool = False, name: str | None = None, similarity: str | None = None, verbose: bool = True):
    """`check` on parsed settings (what `robustest check` calls); `retriever`/`dataset`: objects
    that replace the settings' strings."""
    from .engine.finished import FinishedRun
    from .engine.outputs import write_outputs, write_trec_outputs
    from .engine.session import RobustestSession
    from .report_card import Outcome, Report
    from .settings import check_output_paths

    check_output_paths(settings)  # a bad save=/html=/trec_run=/per_query= path fails before any work
    session = RobustestSession(settings)
    if retriever is not None:
        session.resolution = object_resolution(retriever, name, similarity)
    if dataset is not None:
        session.dataset = subsampled(dataset, settings.max_queries)
    gated = chosen_families(session, families)
    session.checks.planned = {"run": set(gated)}  # their variants are encoded in one batch

    with reporting(session, verbose) as say:
        for line in session.power_lines(families=gated):
            say(line)
        outcomes = [judge("clean effectiveness", "", session.checks.clean_effectiveness)]
        for family in gated:
            reason = session.checks.no_resource_reason(family)
            if reason:
                outcomes.append(Outcome(f"{family} drop rate", family, "skipped", reason))
                continue
            outcomes.append(judge(f"{family} drop rate", family, lambda f=family: session.checks.gate(f)))
        if session.reference is not None:
            session.checks.ensure_clean_regression()
        if poisoning:
            outcomes += poison(session)
        finished = FinishedRun.of(session)
        trec = write_trec_outputs(session)  # needs the corpus index: while the session is here
    finished.judge_anchor()
    late = finished.failed_outside_tests()
    outcomes += [Outcome(r.name, r.family, "failed", r.note) for r in late]
    # As in a pytest run: a not-judged gate is a skip unless --robustest-not-judged=fail (then
    # it raised, like an inconclusive one under --robustest-inconclusive=fail).
    finished.passed = not any(o.status == "failed" for o in outcomes)
    report = Report(finished, outcomes)
    for line in write_outputs(finished, passed=finished.passed) + trec:  # save=, html=, update_baseline=, trec_run=, per_query=
        if line.startswith("ERROR"):
            raise RobustestError(line.removeprefix("ERROR: "))
        if verbose:
            print(line)
    return report


def settings_of(chosen: dict[str, Any]) -> Settings:
    """Settings from Python values: each goes through its option's parser, as a command-line
    value would, so a mistake reads the same in both places."""
    from .settings import options

    known = {name: option for name, _, option in options()}
    values: dict[str, Any] = {}
    for key, value in chosen.items():
        if value is None:
            continue
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]}=?" if close else "; the options reference lists them all"
            raise RobustestError(f"robustest.check got an unknown setting {key}={value!r}{hint}")
        option = known[key]
        if option.flag and isinstance(value, bool):
            values[key] = value
            continue
        try:
            values[key] = option.parse(as_text(value))
        except (ValueError, RobustestError) as exc:
            raise RobustestError(f"robustest.check({key}={value!r}): {exc}") from None
    return Settings.from_sources(values, {})


def as_text(value: Any) -> str:
    """A Python value as the option's text: [1, 2] -> "1,2", {"misspelling": 0.2} -> "misspelling=0.2"."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(map(str, value))
    return str(value)


def object_resolution(model: Any, name: str | None, similarity: str | None):
    from .retrievers.adapt import as_retriever
    from .retrievers.resolve import Resolution

    adapted = as_retriever(model, name, similarity)
    return Resolution(adapted.name, "object", adapted.name, f"your {type(model).__name__} object", build=lambda: adapted)


def subsampled(dataset: Any, max_queries: int | None):
    from .data.types import Dataset, subsample_queries

    if not isinstance(dataset, Dataset):
        raise RobustestError(
            f"robustest.check(dataset=...) got {type(dataset).__name__}: pass a dataset string (a folder, "
            "'default', irds:<id>, mteb:<Task>) or a robustest.data.Dataset (robustest.load_dataset)"
        )
    return subsample_queries(dataset, max_queries)


def chosen_families(session, families: Iterable[str] | None) -> list[str]:
    """The query families to gate: the shipped suites' by default, checked against the registry."""
    from .families import FAMILIES

    gated = [name for name, f in FAMILIES.items() if f.gated]
    if families is None:  # an opt-in family (the documents group) only when named
        return [f for f in gated if f in session.families and not FAMILIES[f].opt_in]
    if isinstance(families, str):
        families = [families]
    families = list(dict.fromkeys(families))
    unknown = [f for f in families if f not in gated]
    if unknown:
        raise RobustestError(f"robustest.check(families=...): {', '.join(map(repr, unknown))} is not a query family; choose from {', '.join(gated)}")
    return families


def judge(name: str, family: str, gate):
    """Run one gate as its test would: passed, failed (with its message) or not judged."""
    from .report_card import Outcome

    try:
        gate()
    except NotJudged as refusal:
        return Outcome(name, family, "not judged", str(refusal))
    except RobustnessError as failure:
        return Outcome(name, family, "failed", str(failure))
    return Outcome(name, family, "passed", "")


def poison(session) -> list:
    from .report_card import Outcome

    checks = session.checks.poisoning
    reason = checks.skip_reason()
    if reason:
        return [Outcome("poisoning", "poisoning", "skipped", reason)]
    outcomes = []
    for passages in checks.passages:
        for attack in checks.gated:
            label = f"poisoning {attack} N={passages}"
            why = checks.skip_reason(attack)
            outcomes.append(Outcome(label, "poisoning", "skipped", why) if why else judge(label, "poisoning", lambda a=attack, n=passages: checks.gate(a, n)))
    checks.measure_all()
    return outcomes


class reporting:
    """Print the run's header first and its progress as it goes (verbose), and turn the
    inconclusive warnings into lines, as a pytest run shows them."""

    def __init__(self, session, verbose: bool):
        self.session, self.verbose = session, verbose

    def __enter__(self):
        import warnings

        from . import progress
        from .engine.summary import header_lines

        self._caught = warnings.catch_warnings(record=True)
        self.warnings = self._caught.__enter__()
        warnings.simplefilter("always")
        self._quiet = None if self.verbose else progress.using(progress.TerminalSink(None, live=False, verbosity=-2))
        if self._quiet is not None:
            self._quiet.__enter__()
        for line in header_lines(self.session, guard=False):
            self.say(line)
        return self.say

    def say(self, line: str) -> None:
        if self.verbose:
            print(line, flush=True)

    def __exit__(self, *exc):
        from .errors import InconclusiveWarning

        if self._quiet is not None:
            self._quiet.__exit__(*exc)
        self._caught.__exit__(*exc)
        # An inconclusive gate is in the report's table; other warnings (a cache entry rebuilt) are lines.
        for message in dict.fromkeys(str(w.message) for w in self.warnings if issubclass(w.category, UserWarning) and not issubclass(w.category, InconclusiveWarning)):
            self.say(f"robustest: warning: {message}")
        return False


__all__ = ["check"]
