"""The one exception type the user sees: a problem with their input, said in one line."""

import sys


class CharRNNError(Exception):
    """Bad input or an unusable file. The CLI prints `charrnn: error: <message>` and exits 2.

    The message is one line that says what is wrong and what to do about it; raising it
    never means "a bug in charrnn" (those stay ordinary exceptions with a traceback).
    """


def warn(message: str) -> None:
    """A one-line warning on stderr: something the user should know, but not a reason to stop."""
    print(f"charrnn: warning: {message}", file=sys.stderr, flush=True)
