"""The one exception type for problems a user can cause and fix (bad file, bad config, missing folder).

The CLI prints its message on one line, without a traceback, and exits non-zero. Library code raises it
with a message that names the offending thing (path, key, value) and what was expected.
"""


class N2LDiffError(Exception):
    """A user-facing error with a one-line message."""
