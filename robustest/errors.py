"""The one exception type for user mistakes.

Anything a user can fix (a wrong option, a missing file, a malformed line) raises
`RobustestError` with a message that names the problem and the fix. The pytest plugin
and the CLI turn it into one line and a non-zero exit, never a traceback.
"""


class RobustestError(Exception):
    """A problem the user can fix; the message says what and how."""
