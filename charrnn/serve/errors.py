"""The server's own error pieces, below everything else in serve/: the time-limit exception and
the one-line JSON error body (responses.py sends it from the handlers, limits.py from the
body-size middleware)."""

from __future__ import annotations


class TimeLimit(Exception):
    """The request ran past the server's time limit (answered 503)."""


class Stopping(TimeLimit):
    """The server is shutting down (SIGTERM or Ctrl-C): answered 503, or an `error` event mid-stream."""


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def error_body(path: str, status: int, message: str) -> dict:
    """{"error": "..."}; under /v1/, OpenAI's {"error": {"message": "...", "type": ...}}."""
    if path.startswith("/v1/"):
        kind = "rate_limit_error" if status == 429 else "server_error" if status >= 500 else "invalid_request_error"
        return {"error": {"message": one_line(message), "type": kind, "param": None, "code": None}}
    return {"error": one_line(message)}
