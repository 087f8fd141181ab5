"""pytest wiring: options, ini keys, fixtures, header and summary. State lives in session.py."""

from __future__ import annotations

import pytest

from .errors import RobustestError
from .session import RobustestSession
from .settings import SETTINGS, argparse_type, resolve_settings

from .strategies import register_profiles

register_profiles()  # before Hypothesis' own plugin reads --hypothesis-profile

SESSION_KEY = pytest.StashKey[RobustestSession]()
# Tests that request any of these need the model and the data: load both before they run.
FIXTURES = {"robustest_session", "retriever_under_test", "dataset", "corpus_index", "clean_evaluation", "robustness"}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("robustest", "robustness tests for dense retrievers")
    for s in SETTINGS:
        default = "" if s.default in (None, False) else f" (default: {','.join(s.default) if isinstance(s.default, tuple) else s.default})"
        help_text = s.help + default + f"; ini: {s.ini_key}"
        dest = "robustest_opt_" + s.name
        if s.flag:
            group.addoption(s.option, action="store_const", const=True, default=None, dest=dest, help=help_text)
        else:
            group.addoption(s.option, type=argparse_type(s.parse), default=None, dest=dest, metavar=s.metavar, help=help_text)
        parser.addini(s.ini_key, help=s.help, default="")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "robustest: a robustness test of the retriever under test")
    cli = {s.name: config.getoption("robustest_opt_" + s.name) for s in SETTINGS}
    ini = {s.name: config.getini(s.ini_key) for s in SETTINGS}
    for family, what in MARKERS.items():
        config.addinivalue_line("markers", f"{family}: {what}")
    try:
        config.stash[SESSION_KEY] = RobustestSession(resolve_settings(cli, ini), robustest_table(config))
    except RobustestError as exc:
        raise pytest.UsageError(str(exc)) from None


MARKERS = {
    "misspelling": "query misspellings (the paper's six character operations)",
    "reordering": "two words of the query swapped",
    "synonymizing": "WordNet synonym swaps",
    "paraphrasing": "model-written paraphrases (needs --paraphraser)",
    "naturalizing": "lowercased queries without stopwords",
    "noise": "case, punctuation and whitespace noise",
    "poisoning": "corpus poisoning: adversarial passages injected into the corpus (HotFlip, black-box), ASR@k gates",
    "geometry": "embedding geometry of the retriever (IsoScore, average cosine, uniformity, alignment, spectral norms)",
    "robustest_property": "a Hypothesis search for a counterexample (xfail unless --properties=strict)",
    "robustest_reference": "a comparison with --baseline or --compare-to (deselected without one)",
}


def robustest_table(config: pytest.Config) -> dict:
    """`[tool.robustest]` of the project's pyproject.toml, if there is one."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    path = config.inipath if config.inipath and config.inipath.name == "pyproject.toml" else config.rootpath / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("robustest", {})
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(f"{path} is not readable TOML ({exc})") from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rs = get_session(config)
    if not (rs.settings["baseline"] or rs.settings["compare_to"]):
        # Comparisons need a reference; without one they are not tests of anything.
        unused = [item for item in items if item.get_closest_marker("robustest_reference")]
        if unused:
            config.hook.pytest_deselected(items=unused)
            items[:] = [item for item in items if not item.get_closest_marker("robustest_reference")]
    if rs.settings["properties"] == "strict":
        return
    from .assertions import RobustnessError

    reason = "a counterexample is expected for real models; the gates decide (--properties=strict to fail)"
    for item in items:
        if item.get_closest_marker("robustest_property"):
            item.add_marker(pytest.mark.xfail(raises=RobustnessError, strict=False, reason=reason))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """Each gate a test judged becomes JUnit XML properties of that test (--junitxml), so CI
    systems show the numbers next to the verdict."""
    checks = get_session(item.config).checks
    before = {id(r) for r in [*checks.gates, *checks.regressions]}
    yield
    for result in [*checks.gates, *checks.regressions]:
        if id(result) not in before:
            item.user_properties.extend(junit_properties(result))


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


def get_session(config: pytest.Config) -> RobustestSession:
    return config.stash[SESSION_KEY]


def pytest_report_header(config: pytest.Config) -> list[str]:
    return get_session(config).header_lines()


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    if any(FIXTURES & set(getattr(item, "fixturenames", ())) for item in session.items):
        try:
            get_session(session.config).prepare()
        except RobustestError as exc:
            raise pytest.UsageError(str(exc)) from None


def pytest_sessionfinish(session: pytest.Session) -> None:
    rs = get_session(session.config)
    path = rs.settings["robustest_save"]
    if path and rs.measured:
        try:
            rs.save(path)
        except RobustestError as exc:
            session.config.stash[SAVE_ERROR] = str(exc)
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
    html = rs.settings["robustest_html"]
    if html and rs.measured:
        from .report import write_html

        # The reference (a saved --baseline or the --compare-to retriever) is drawn beside this run.
        baseline = getattr(getattr(rs, "reference", None), "run", None)
        try:
            write_html(rs.results(), html, baseline)
        except RobustestError as exc:
            session.config.stash[HTML_ERROR] = str(exc)
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR


SAVE_ERROR = pytest.StashKey[str]()
HTML_ERROR = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    rs = get_session(config)
    lines = rs.summary_lines()
    if not lines:
        return
    terminalreporter.section("robustest")
    for line in lines:
        terminalreporter.line(line)
    path = rs.settings["robustest_save"]
    if SAVE_ERROR in config.stash:
        terminalreporter.line(f"ERROR: results not saved: {config.stash[SAVE_ERROR]}", red=True)
    elif path:
        terminalreporter.line(f"results saved to {path}")
    html = rs.settings["robustest_html"]
    if HTML_ERROR in config.stash:
        terminalreporter.line(f"ERROR: HTML report not written: {config.stash[HTML_ERROR]}", red=True)
    elif html:
        terminalreporter.line(f"HTML report written to {html}")


@pytest.fixture(scope="session")
def robustest_session(request: pytest.FixtureRequest) -> RobustestSession:
    """The run's settings and everything it loaded."""
    return get_session(request.config)


@pytest.fixture(scope="session")
def retriever_under_test(robustest_session: RobustestSession):
    """The retriever chosen with --retriever, loaded once per run."""
    return robustest_session.retriever


@pytest.fixture(scope="session")
def dataset(robustest_session: RobustestSession):
    """The test collection chosen with --dataset/--split (judged queries only)."""
    return robustest_session.dataset


@pytest.fixture(scope="session")
def corpus_index(robustest_session: RobustestSession):
    """The corpus encoded once (cached) and indexed; `.evaluate(queries)` scores any queries."""
    return robustest_session.corpus_index


@pytest.fixture(scope="session")
def clean_evaluation(robustest_session: RobustestSession):
    """Per-query scores of the unperturbed queries, computed once per run."""
    return robustest_session.clean_evaluation


@pytest.fixture(scope="session")
def robustness(robustest_session: RobustestSession):
    """Gates and property searches for the shipped suites (see robustest.checks)."""
    return robustest_session.checks
