"""How robustest's outcomes read under pytest (called from hooks.pytest_runtest_makereport):

- A failing gate (`RobustnessError`) is reported as the line of the test that judged it and the
  gate's message: no robustest frames, no source listing of robustest's code. `--tb=long`,
  `--tb=native` and `--fulltrace` keep pytest's full report. A plain `assert` keeps pytest's
  normal report.
- What each property search (marker `robustest_property`) found, kept for the summary
  (`summary.property_lines`) and the run file (`"property_searches"`): a default run reports
  them as xfail / xpass, which says nothing on its own.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]
SUITES = PACKAGE / "suites"  # the shipped suites are tests, like the user's own
SEEN = pytest.StashKey[dict]()  # the run's counterexamples when a property search started
SHORT_STYLES = ("auto", "short", "line")


def shortens(config: pytest.Config) -> bool:
    """Whether failures are reported short: pytest's default traceback styles, no --fulltrace."""
    option = config.option
    return getattr(option, "tbstyle", "auto") in SHORT_STYLES and not getattr(option, "fulltrace", False)


def is_robustest(path) -> bool:
    """A file of the robustest package, but not one of its shipped suites."""
    try:
        p = Path(path).resolve()
    except (OSError, ValueError):
        return False
    return PACKAGE in p.parents and SUITES not in p.parents


def user_location(item: pytest.Item, excinfo: pytest.ExceptionInfo) -> tuple[str, int, str]:
    """(path, 1-based line, function) of the last traceback entry outside robustest (the line
    of the test that called the gate), else the test item's own location."""
    for entry in reversed(excinfo.traceback):
        path = str(entry.path)
        if not os.path.isfile(path) or is_robustest(path):  # generated code (<string>) is neither
            continue
        return shown_path(item, path), entry.lineno + 1, entry.name
    path, lineno, domain = item.location
    return shown_path(item, str(item.config.rootpath / path)), (lineno or 0) + 1, domain


def shown_path(item: pytest.Item, path: str) -> str:
    """Relative to where pytest was started when that is shorter, as pytest shows paths."""
    try:
        relative = os.path.relpath(path, item.config.invocation_params.dir)
    except ValueError:  # another drive
        return path
    return relative if len(relative) < len(path) else path


def message_lines(exc: BaseException) -> list[str]:
    """The exception's message and its notes (Hypothesis adds the falsifying example as notes)."""
    notes = getattr(exc, "__notes__", None) or []
    return str(exc).splitlines() + [line for note in notes for line in str(note).splitlines()]


def short_failure(item: pytest.Item, excinfo: pytest.ExceptionInfo, longrepr):
    """pytest's report of a failing gate, as the test's location and the gate's message."""
    from _pytest._code.code import ExceptionChainRepr, ReprEntry, ReprFileLocation, ReprTraceback

    path, lineno, function = user_location(item, excinfo)
    lines = [f"E   {line}" for line in message_lines(excinfo.value)]
    entry = ReprEntry(lines, None, None, ReprFileLocation(path, lineno, f"in {function}"), "short")
    crash = ReprFileLocation(path, lineno, excinfo.exconly())
    short = ExceptionChainRepr([(ReprTraceback([entry], None, "short"), crash, None)])
    for section in getattr(longrepr, "sections", ()):
        short.addsection(*section)
    return short


def note_property_search(item: pytest.Item, call: pytest.CallInfo, record) -> None:
    """Keep what a property search found under `record.extras["property_searches"]`, keyed by
    the test's name: outcome ("counterexample", "none found", "skipped", "error"), the
    families whose counterexample it recorded, and a one-line detail."""
    if call.when == "setup":
        item.stash[SEEN] = dict(record.counterexamples)
        if call.excinfo is None:
            return
    elif call.when != "call":
        return
    seen = item.stash.get(SEEN, {})
    families = [family for family, example in record.counterexamples.items() if seen.get(family) is not example]
    excinfo, detail = call.excinfo, ""
    if excinfo is None:
        outcome = "none found"
    else:
        first = (message_lines(excinfo.value) or [""])[0]
        detail = first if len(first) <= 160 else first[:157] + "..."
        if excinfo.errisinstance(pytest.skip.Exception):
            outcome = "skipped"
        elif excinfo.errisinstance(AssertionError):  # a RobustnessError or the user's plain assert
            outcome = "counterexample"
        else:
            outcome, detail = "error", f"{excinfo.typename}: {detail}"
    searches = record.extras.setdefault("property_searches", {})
    searches[item.name] = {"outcome": outcome, "families": families, "detail": detail}
