"""The pytest entry point: options, ini keys, markers, fixtures and the hooks of a run.

A guest in every pytest run of an environment where robustest is installed, so: options are
all `--robustest-*` (but `--retriever`), help texts are escaped, and nothing heavy is imported
and nothing printed until a test that uses a robustest fixture is collected (or `--retriever`
is given). The state of a run lives in `RobustestSession` (what it loads) and `Record` (what
it measured); this module only routes pytest's calls to them.
"""

from __future__ import annotations

import pytest

from ..errors import RobustestError
from ..settings import Settings, check_output_paths, escaped_help, ini_key, option_help, option_name, options
from .workers import is_worker

RUN = pytest.StashKey["Run"]()
MARKED = pytest.StashKey[set]()  # families whose marker is registered
# Tests that request any of these need the model and the data: load both before they run.
# (`dataset` is not among them: a project may have a fixture of that name; ours is only used
# next to one of these.)
FIXTURES = {"robustest_session", "retriever_under_test", "corpus_index", "clean_evaluation", "robustness"}
MARKERS = {
    "robustest": "a robustness test of the retriever under test",
    "geometry": "embedding geometry of the retriever (IsoScore, average cosine, uniformity, alignment, spectral norms)",
    "robustest_property": "a Hypothesis search for a counterexample (xfail unless --robustest-properties=strict)",
    "robustest_reference": "a comparison with --robustest-baseline or --robustest-compare-to (deselected without one)",
    "robustest_uses": "robustest_uses(kind): the test's `family` parameter asks for robustness.run (kind 'run') or "
    "robustness.worst_case ('worst_case'); the texts of all such tests are encoded in one batch",
}


class Run:
    """Per pytest run: the settings, and the session once robustest is active."""

    def __init__(self, config: pytest.Config, settings: Settings, table: dict, table_error: RobustestError | None):
        self.config = config
        self.settings = settings
        self.table, self.table_error = table, table_error  # [tool.robustest], or why it is unreadable
        self.unregistered: dict[str, str] = {}  # families named before any conftest registered them -> where
        self.active = False  # a robustest test was collected, or --retriever was given
        self._session = None
        self.outputs: list[str] = []  # what was written at the end (save, html, trec), or why not
        self.finished = None  # finished.FinishedRun: what the summary and the run file report
        self.header: list[str] = []  # under pytest-xdist, the workers' header, printed with the summary
        self._parts = None  # under pytest-xdist, on the controller: workers.Parts

    @property
    def parts(self):
        if self._parts is None:
            from .workers import Parts

            self._parts = Parts()
        return self._parts

    @property
    def session(self):
        if self._session is None:
            from ..engine.session import RobustestSession

            if self.table_error is not None:
                raise self.table_error
            self._session = RobustestSession(self.settings, self.table)
        return self._session

    @property
    def started(self) -> bool:
        return self._session is not None


def pytest_addoption(parser: pytest.Parser) -> None:
    from ..settings import argparse_type

    group = parser.getgroup("robustest", "robustness tests for dense retrievers")
    for name, default, option in options():
        dest, help_text = "robustest_" + name, option_help(default, option, name)
        if option.flag:
            group.addoption(option_name(name), action="store_const", const=True, default=None, dest=dest, help=help_text)
        else:
            group.addoption(option_name(name), type=argparse_type(option.parse), default=None, dest=dest, metavar=option.metavar, help=help_text)
        parser.addini(ini_key(name), help=escaped_help(option.help), default="")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    register_hypothesis_profiles(config)  # before Hypothesis' own plugin loads --hypothesis-profile
    from ..families import FAMILIES, GROUPS

    for name, description in {**MARKERS, **GROUPS}.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    register_family_markers(config)
    cli = {name: config.getoption("robustest_" + name) for name, _, _ in options()}
    ini = {name: config.getini(ini_key(name)) for name, _, _ in options()}
    try:
        settings = Settings.from_sources(cli, ini)
        check_output_paths(settings)
    except RobustestError as exc:
        raise pytest.UsageError(str(exc)) from None
    try:
        table, table_error = project_table(config), None
    except RobustestError as exc:  # a malformed pyproject.toml is not ours to report unless robustest runs
        table, table_error = {}, exc
    run = config.stash[RUN] = Run(config, settings, table, table_error)
    run.active = cli["retriever"] is not None
    if run.active or table or any(v is not None for v in cli.values()) or any(ini.values()):
        # A robustest user: check the family settings now (cheap), one clear line before collection.
        try:
            if table_error is not None:
                raise table_error
            run.unregistered = check_family_settings(settings, table)
        except RobustestError as exc:
            raise pytest.UsageError(str(exc)) from None


def check_family_settings(settings: Settings, table: dict) -> dict[str, str]:
    """Check the family settings of the project table and the command line. A family no
    conftest has registered yet is left out and returned (name -> where it was named): pytest
    loads a conftest.py of a test folder only when it collects that folder, after configure."""
    from ..families import FAMILIES, family_configs
    from ..family_config import leaving_out, merge_tables, unregistered

    by_name = {"thresholds": settings.thresholds, "worst_case_thresholds": settings.worst_case_thresholds}
    later = unregistered(table, FAMILIES, family_set=settings.family_set, **by_name)
    merged, by_name = leaving_out(later, merge_tables(table, settings.family_set or {}), **by_name)
    family_configs(merged, seeds=settings.seeds, **by_name)
    return later


def check_registered_families(config: pytest.Config) -> None:
    """Once collection has loaded every conftest: the families named before they were
    registered must be registered now, and their settings are checked."""
    run = get_run(config)
    if not run.unregistered:
        return
    from ..families import FAMILIES
    from ..family_config import how_to_register

    missing = sorted(name for name in run.unregistered if name not in FAMILIES)
    if missing:
        name = missing[0]
        raise pytest.UsageError(
            f"{where_named(config, name, run.unregistered[name])} names no registered family ({', '.join(FAMILIES)}): {how_to_register(str(config.rootpath))}"
        )
    try:
        run.unregistered = check_family_settings(run.settings, run.table)
    except RobustestError as exc:
        raise pytest.UsageError(str(exc)) from None


def where_named(config: pytest.Config, name: str, where: str) -> str:
    if where == "table":
        return f"[tool.robustest.{name}] in {pyproject_path(config)}"
    return f"{name!r} in {option_name(where)} (or the ini key {ini_key(where)})"


def register_family_markers(config: pytest.Config) -> None:
    """A marker per family of the registry, including families that conftests registered
    since the last call (`-m abbreviations` works like `-m misspelling`)."""
    from ..families import FAMILIES

    known = config.stash.setdefault(MARKED, set())
    for name, family in FAMILIES.items():
        if name not in known:
            config.addinivalue_line("markers", f"{name}: {family.description or name + ' (a registered family)'}")
            known.add(name)


def pytest_collectstart(collector: pytest.Collector) -> None:
    if RUN in collector.config.stash:  # families registered by a conftest of a subfolder
        register_family_markers(collector.config)


def register_hypothesis_profiles(config: pytest.Config) -> None:
    """`--hypothesis-profile=robustest-ci` / `robustest-dev`; Hypothesis is imported only then."""
    profile = config.getoption("hypothesis_profile", None)
    if profile and str(profile).startswith("robustest-"):
        from hypothesis import settings

        settings.register_profile("robustest-ci", derandomize=True, deadline=None, print_blob=True, max_examples=50)
        settings.register_profile("robustest-dev", deadline=None, max_examples=100)


def project_table(config: pytest.Config) -> dict:
    """`[tool.robustest]` of the project's pyproject.toml, if there is one."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    path = pyproject_path(config)
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("robustest", {})
    except (OSError, ValueError) as exc:
        raise RobustestError(f"{path} is not readable TOML ({exc})") from None


def pyproject_path(config: pytest.Config):
    return config.inipath if config.inipath and config.inipath.name == "pyproject.toml" else config.rootpath / "pyproject.toml"


def get_run(config: pytest.Config) -> Run:
    return config.stash[RUN]


def get_session(config: pytest.Config):
    """The run's RobustestSession (created on first use; nothing loads until asked)."""
    return get_run(config).session


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run = get_run(config)
    # A family that encodes documents (the documents group) runs only when -m names it or its group.
    from ..families import FAMILIES, selected_by

    skipped = [f.name for f in FAMILIES.values() if f.opt_in and not selected_by(config.option.markexpr, f)]
    if skipped:
        unused = [item for item in items if any(item.get_closest_marker(name) for name in skipped)]
        if unused:
            config.hook.pytest_deselected(items=unused)
            items[:] = [item for item in items if item not in unused]
    if not (run.settings.baseline or run.settings.compare_to):
        # Comparisons need a reference; without one they are not tests of anything.
        unused = [item for item in items if item.get_closest_marker("robustest_reference")]
        if unused:
            config.hook.pytest_deselected(items=unused)
            items[:] = [item for item in items if not item.get_closest_marker("robustest_reference")]
    if run.settings.properties == "strict":
        return
    reason = "a counterexample is expected for real models; the gates decide (--robustest-properties=strict to fail)"
    for item in items:
        if item.get_closest_marker("robustest_property"):
            # A plain `assert` in a user's property counts like a RobustnessError (a subclass).
            item.add_marker(pytest.mark.xfail(raises=AssertionError, strict=False, reason=reason))


def pytest_collection_finish(session: pytest.Session) -> None:
    check_registered_families(session.config)
    run = get_run(session.config)
    run.active = run.active or any(FIXTURES & set(getattr(item, "fixturenames", ())) for item in session.items)
    if not run.active:
        return
    from ..engine import summary

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    try:
        rs = run.session
        rs.checks.planned = planned_families(session.items)
        if is_worker(session.config):  # other families' tests may run on other workers: prefetch one family at most
            from .workers import groups_families

            rs.checks.prefetch_one_family = True
            rs.checks.planned = rs.checks.planned if groups_families(session.config) else {}
        if reporter is not None and session.config.get_verbosity() >= 0:
            for line in summary.header_lines(rs):
                reporter.write_line(line)
        if not session.config.option.collectonly and session.items:
            install_progress(session.config)
            rs.prepare()
            if reporter is not None and session.config.get_verbosity() >= 0 and not is_worker(session.config):
                for line in rs.power_lines(rs.checks.planned.get("run") or None):  # before the corpus encode
                    reporter.write_line(line)
    except RobustestError as exc:
        raise pytest.UsageError(str(exc)) from None


def planned_families(items: list[pytest.Item]) -> dict[str, set[str]]:
    """kind -> the `family` parameters of the collected tests marked robustest_uses(kind)."""
    planned: dict[str, set[str]] = {}
    for item in items:
        marker = item.get_closest_marker("robustest_uses")
        family = getattr(item, "callspec", None) and item.callspec.params.get("family")
        if marker and marker.args and isinstance(family, str):
            planned.setdefault(marker.args[0], set()).add(family)
    return planned


def install_progress(config: pytest.Config) -> None:
    """Long steps (encodes, HotFlip) report through pytest's terminal writer, which output
    capture does not swallow: a live line on a terminal, plain lines in CI logs."""
    from .. import progress

    if is_worker(config):
        from .workers import install_worker_progress

        return install_worker_progress(config)
    if config.pluginmanager.get_plugin("terminalreporter") is None:
        return  # no terminal (-p no:terminal): the default sink, stderr, stays
    writer = UncapturedWriter(config)
    stream = getattr(writer.writer, "_file", None)
    live = bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())
    progress.set_sink(progress.TerminalSink(writer, live=live, verbosity=config.get_verbosity()))


class UncapturedWriter:
    """pytest's terminal writer with output capture suspended around each write, as pytest's
    own live logging does: inside a running test, fd capture would swallow it otherwise."""

    def __init__(self, config: pytest.Config):
        self.writer = config.get_terminal_writer()
        self.capture = config.pluginmanager.getplugin("capturemanager")

    def write(self, text: str, *, flush: bool = False) -> None:
        if self.capture is None:
            self.writer.write(text, flush=flush)
            return
        with self.capture.global_and_fixture_disabled():
            self.writer.write(text, flush=flush)

    @property
    def fullwidth(self) -> int:
        return self.writer.fullwidth

    @property
    def width_of_current_line(self) -> int:
        return self.writer.width_of_current_line


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """Each gate a test judged becomes JUnit XML properties of that test (--junitxml), so CI
    systems show the numbers next to the verdict; a gate that refused to judge is a skip."""
    outcome = yield from judged_call(item)
    refusal = outcome.exception
    from ..errors import NotJudged

    if isinstance(refusal, NotJudged):  # no evidence either way: neither a pass nor a failure
        outcome.force_exception(pytest.skip.Exception(str(refusal), _use_item_location=True))


def judged_call(item: pytest.Item):
    run = get_run(item.config)
    if not run.started:
        return (yield)
    record = run.session.record
    before = record.judged()
    if item.get_closest_marker("robustest_property"):
        from .. import progress

        try:
            run.session.clean_evaluation  # a cold corpus encode reports on its own, not inside the search
        except Exception:  # noqa: BLE001 - the test meets the same error and reports it
            pass
        # A search runs many examples: say so when it runs long (each example's encode stays silent).
        with progress.task(f"property search {item.name}", None, unit="examples", announce=False) as search:
            run.session.checks.search = search
            outcome = yield
            run.session.checks.search = None
    else:
        outcome = yield
    from ..engine.summary import junit_properties

    seen = {id(r) for r in before}
    for result in record.judged():
        if id(result) not in seen:
            item.user_properties.extend(junit_properties(result))
    return outcome


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A user mistake met inside a test (a retriever returning NaN, a bad family name) is
    reported as its one-line message, not a frame dump: the message says what to fix. A failing
    gate is reported as the test's line and the gate's message, without robustest's frames
    (--tb=long or --fulltrace show them). A property search's outcome is kept for the summary."""
    from ..errors import RobustnessError
    from . import failures

    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and call.excinfo.errisinstance(RobustestError):
        report.longrepr = f"RobustestError: {call.excinfo.value}"
        if call.when == "setup":  # a session fixture failed: every later test would repeat it
            item.session.shouldstop = f"robustest: {call.excinfo.value}"
    elif call.excinfo is not None and call.excinfo.errisinstance(RobustnessError) and report.longrepr is not None and failures.shortens(item.config):
        report.longrepr = failures.short_failure(item, call.excinfo, report.longrepr)
    run = get_run(item.config)
    if run.started and item.get_closest_marker("robustest_property"):
        failures.note_property_search(item, call, run.session.record)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """pytest-xdist, on the controller: with --dist loadgroup, a family's tests share a worker."""
    from .workers import family_scheduler, groups_families

    return family_scheduler(config, log) if groups_families(config) else None


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """pytest-xdist, on the controller: a worker finished (or crashed); keep what it measured."""
    get_run(node.config).parts.receive(node, error)


def pytest_sessionfinish(session: pytest.Session) -> None:
    from ..engine.outputs import write_outputs

    config = session.config
    run = get_run(config)
    if run.started:
        run.session.keep_learned()
    if run._parts is not None:  # the pytest-xdist controller: the workers' parts make the run
        merged = run.parts.merged()
        if merged is None:
            return
        run.finished, run.header, trec = merged
    elif run.started and run.session.measured:
        from ..engine.finished import FinishedRun
        from ..engine.outputs import write_trec_outputs

        if run.session.reference is not None:  # gated whatever -m/-k selected
            try:
                run.session.checks.ensure_clean_regression()
            except RobustestError as exc:
                run.outputs.append(f"ERROR: the clean comparison with the reference: {exc}")
        run.finished, trec = FinishedRun.of(run.session), write_trec_outputs(run.session)
        if is_worker(config):
            from ..engine.summary import header_lines
            from .workers import send

            return send(config, run.finished, header_lines(run.session), trec)
    else:
        return
    finished = run.finished
    finished.judge_anchor()
    late = finished.failed_outside_tests()
    if late and session.exitstatus == pytest.ExitCode.OK:  # a comparison no selected test judged failed
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    finished.passed = session.exitstatus == pytest.ExitCode.OK
    run.outputs += write_outputs(finished, passed=finished.passed) + trec
    if any(line.startswith("ERROR") for line in run.outputs):
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    run = get_run(config)
    if run.finished is None:
        return
    from ..engine.summary import summary_lines

    terminalreporter.section("robustest")
    for line in [*run.header, *summary_lines(run.finished)]:
        terminalreporter.line(line)
    for line in run.outputs:
        terminalreporter.line(line, red=line.startswith("ERROR"))


def pytest_unconfigure(config: pytest.Config) -> None:
    if RUN in config.stash and config.stash[RUN].active:
        from .. import progress

        progress.set_sink(None)


@pytest.fixture(scope="session")
def robustest_session(request: pytest.FixtureRequest):
    """The run's settings and everything it loaded (robustest.engine.session)."""
    return get_session(request.config)


@pytest.fixture(scope="session")
def retriever_under_test(robustest_session):
    """The retriever chosen with --retriever, loaded once per run."""
    return robustest_session.retriever


@pytest.fixture(scope="session")
def dataset(robustest_session):
    """The test collection chosen with --robustest-dataset/--robustest-split (judged queries only)."""
    return robustest_session.dataset


@pytest.fixture(scope="session")
def corpus_index(robustest_session):
    """The corpus encoded once (cached) and indexed; `.evaluate(queries)` scores any queries."""
    return robustest_session.corpus_index


@pytest.fixture(scope="session")
def clean_evaluation(robustest_session):
    """Per-query scores of the unperturbed queries, computed once per run."""
    return robustest_session.clean_evaluation


@pytest.fixture(scope="session")
def robustness(robustest_session):
    """Gates and property searches for the shipped suites (robustest.engine.checks)."""
    return robustest_session.checks
