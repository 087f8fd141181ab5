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


class InconclusiveWarning(UserWarning):
    """The data cannot tell whether the gate holds: more queries would."""


INCONCLUSIVE_MODES = ("pass", "fail")


def enforce(result, inconclusive: str, message, warning=None, *, stacklevel: int = 3):
    """The one verdict policy of every gate, assertion and regression: FAIL raises
    RobustnessError; INCONCLUSIVE raises too when `inconclusive` is "fail", else warns;
    PASS returns `result`. `message(result)` words the failure, `warning(result)` (default:
    the same) the warning; each is called only when needed."""
    import warnings

    __tracebackhide__ = True  # a failing gate's report shows the test, not this frame
    if inconclusive not in INCONCLUSIVE_MODES:
        raise ValueError(f"inconclusive={inconclusive!r} must be one of {INCONCLUSIVE_MODES}")
    verdict = result.verdict.value
    if verdict == "fail" or (verdict == "inconclusive" and inconclusive == "fail"):
        raise RobustnessError(message(result), result)
    if verdict == "inconclusive":
        warnings.warn(InconclusiveWarning((warning or message)(result)), stacklevel=stacklevel)
    return result
