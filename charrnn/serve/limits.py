"""What one server will do at once: the batch of each model, the worker slots, the time limit and
the request-body cap.

Writing (text, poems, names) goes through each model's batch (scheduler.py): at most `max_rows`
rows stepped together, then at most `max_queue` requests waiting for rows, first come, first
served; past both, 429 with `Retry-After`. Looking inside a model (/api/inspect, /api/neurons)
runs in worker threads: each takes a slot before it starts and gives it back when its thread has
finished (not when the client goes away or the time limit answers), so the slots bound that work
really under way; when none is free, 429 at once. /health never waits behind either.

The body cap is an ASGI middleware: a Content-Length over the cap is refused before the body is
read, and a body sent without one (chunked) is counted as it arrives and refused once it passes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from charrnn.errors import CharRNNError
from charrnn.serve.errors import error_body


MIN_ROWS = 16  # a request writes up to 16 samples side by side (schemas.MAX_NUM): each must fit


@dataclass(frozen=True)
class Limits:
    max_rows: int = 64  # rows each model steps together (a request takes one per sample)
    max_queue: int = 256  # requests waiting for rows, per model; past rows and queue, 429
    max_concurrency: int = 4  # inspect and neurons requests under way at once (worker threads); more are 429
    timeout: float = 60.0  # seconds a request may take, waiting included, before it is answered 503
    max_body: int = 64 * 1024  # bytes of request body
    retry_after: int = 1  # seconds, in the Retry-After header of a 429
    max_upload: int = 20 * 1024 * 1024  # bytes of a POST /api/train body: the text to train on
    max_train_time: float = 600.0  # seconds a training job may train
    max_train_jobs: int = 1  # training jobs at once; the others wait
    train_queue: int = 8  # training jobs waiting; past it, 429

    def __post_init__(self) -> None:
        if not MIN_ROWS <= self.max_rows <= 4096:
            raise CharRNNError(f"--max-rows must be in [{MIN_ROWS}, 4096] (got {self.max_rows})")
        if not 0 <= self.max_queue <= 100_000:
            raise CharRNNError(f"--max-queue must be in [0, 100000] (got {self.max_queue})")
        if not 1 <= self.max_concurrency <= 256:
            raise CharRNNError(f"--max-concurrency must be in [1, 256] (got {self.max_concurrency})")
        if not 0 < self.timeout <= 3600:
            raise CharRNNError(f"--timeout must be in (0, 3600] seconds (got {self.timeout})")
        if not 1024 <= self.max_body <= 16 * 1024 * 1024:
            raise CharRNNError(f"--max-body must be in [1024, 16777216] bytes (got {self.max_body})")
        if not 1024 <= self.max_upload <= 1024**3:
            raise CharRNNError(f"--max-upload must be in [1024, 1073741824] bytes (got {self.max_upload})")
        if not 1 <= self.max_train_time <= 7 * 24 * 3600:
            raise CharRNNError(f"--max-train-time must be in [1, 604800] seconds (got {self.max_train_time})")
        if not 1 <= self.max_train_jobs <= 64 or not 0 <= self.train_queue <= 1000:
            raise CharRNNError(f"--max-train-jobs must be in [1, 64] and --train-queue in [0, 1000] "
                               f"(got {self.max_train_jobs} and {self.train_queue})")


class Slots:
    """A counter of generation requests under way; `take` never waits."""

    def __init__(self, size: int) -> None:
        self.size, self.busy = size, 0
        self._lock = threading.Lock()  # released from worker-thread callbacks too

    def take(self) -> bool:
        with self._lock:
            if self.busy >= self.size:
                return False
            self.busy += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self.busy -= 1


class BodyTooLarge(HTTPException):
    """Raised from inside `receive`, so FastAPI passes it through its body parsing as it is."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the server's limit of {limit} bytes")


class BodyLimit:
    """Refuse request bodies over `max_body` bytes (or the cap `paths` gives a path) with 413, whether
    announced or streamed."""

    def __init__(self, app: ASGIApp, max_body: int, paths: Mapping[str, int] | None = None) -> None:
        self.app, self.max_body, self.paths = app, max_body, dict(paths or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.paths.get(scope["path"], self.max_body)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await _send_error(scope, send, 413 if declared.isdigit() else 400,
                                     BodyTooLarge(limit).detail if declared.isdigit()
                                     else "Content-Length is not a number")
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as e:  # read outside FastAPI's handlers (e.g. by another middleware)
            if started:
                raise
            await _send_error(scope, send, 413, e.detail)


async def _send_error(scope: Scope, send: Send, status: int, message: str) -> None:
    body = json.dumps(error_body(scope["path"], status, message)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
