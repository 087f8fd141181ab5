"""robustest's exceptions, and the one place a verdict becomes pass, warning or failure.

Anything a user can fix (a wrong option, a missing file, a malformed line) raises
`RobustestError` with a message that names the problem and the fix. The pytest plugin
and the CLI turn it into one line and a non-zero exit, never a traceback. A gate that fails
raises `RobustnessError`, an AssertionError. Nothing here imports beyond the standard
library: the pytest plugin needs these names in every run.
"""


class RobustestError(Exception):
    """A problem the user can fix; the message says what and how."""


class RobustnessError(AssertionError):
    """A robustness gate failed; `.gate` holds the numbers (a GateResult or Regression)."""

    def __init__(self, message: str, gate=None):
        super().__init__(message)
        self.gate = gate


class NotJudged(Exception):
    """A gate that refused to judge (too few perturbed queries): no evidence either way. Under
    pytest the test is reported as skipped with this reason, unless the run treats "not judged"
    as a failure (--robustest-not-judged=fail, or --robustest-ci). Not an AssertionError: it
    neither passes nor fails a gate."""


class InconclusiveWarning(UserWarning):
    """The data cannot tell whether the gate holds: more queries would."""


INCONCLUSIVE_MODES = ("pass", "fail")


def enforce(result, inconclusive: str, message, warning=None, *, stacklevel: int = 3):
    """The one verdict policy of every gate, assertion and regression: FAIL raises
    RobustnessError; INCONCLUSIVE raises too when `inconclusive` is "fail", else warns;
    PASS returns `result`. `message(result)` words the failure, `warning(result)` (default:
    `one_line`, the name and the note) the warning; each is called only when needed. The
    warning names the first line outside robustest (the test that judged the gate)."""
    import warnings

    __tracebackhide__ = True  # a failing gate's report shows the test, not this frame
    if inconclusive not in INCONCLUSIVE_MODES:
        raise ValueError(f"inconclusive={inconclusive!r} must be one of {INCONCLUSIVE_MODES}")
    verdict = result.verdict.value
    if verdict == "fail" or (verdict == "inconclusive" and inconclusive == "fail"):
        raise RobustnessError(message(result), result)
    if verdict == "inconclusive":
        warnings.warn(InconclusiveWarning((warning or one_line)(result)), stacklevel=outside_robustest(stacklevel))
    return result


def one_line(result) -> str:
    """A gate's or regression's name and its note on one line, e.g. "naturalizing drop rate:
    inconclusive: the 95% CI [-0.03, 0.10] straddles 0.00; about 130 queries (now 20) would
    settle it": what an InconclusiveWarning says (the numbers are in the summary's table)."""
    return " ".join(f"{result.name}: {result.note}".split())


def outside_robustest(stacklevel: int) -> int:
    """`stacklevel` for warnings.warn called by the caller of this function, moved up past
    robustest's own frames (its shipped suites count as tests), so that a warning names the
    line of the test, not robustest's internals. Unchanged when no frame is outside."""
    import os
    import sys

    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    suites = os.path.join(package, "suites") + os.sep
    try:
        frame, level = sys._getframe(stacklevel), stacklevel  # 0: this function, 1: its caller (warn's stacklevel=1)
    except ValueError:
        return stacklevel
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if not path.startswith(package) or path.startswith(suites):
            return level
        frame, level = frame.f_back, level + 1
    return stacklevel
