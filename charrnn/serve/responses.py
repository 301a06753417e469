"""What the server answers besides results: one-line JSON errors, and Server-Sent Events.

    /api/...   {"error": "length: Input should be less than or equal to 2000"}
    /v1/...    {"error": {"message": "...", "type": "invalid_request_error", "param": null, "code": null}}
               (OpenAI's shape, whose `message` the openai client puts in the exception it raises)

422: the body does not fit the schema (wrong type, out of range, unknown field; FastAPI's status,
with its long error list cut to one line); 400: input the library refuses (a CharRNNError, e.g. an
acrostic head the model has never seen); 404: an unknown model or path; 413: a body over the cap;
429 (with Retry-After): every slot busy; 503: past the time limit. A 500 is a bug in charrnn.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException

from charrnn.errors import CharRNNError
from charrnn.serve import schemas
from charrnn.serve.errors import TimeLimit, error_body, one_line
from charrnn.serve.jobs import Server

# The error answers each operation may give, for /docs and the schema: one-line JSON, OpenAI's object under /v1
ERRORS = {code: {"model": schemas.ErrorResponse} for code in (400, 401, 404, 413, 422, 429, 503)}
TRAIN_ERRORS = {**ERRORS, 403: {"model": schemas.ErrorResponse}, 409: {"model": schemas.ErrorResponse}}
OPENAI_ERRORS = {code: {"model": schemas.OpenAIErrorResponse} for code in ERRORS}
# With "stream": true the 200 answer is Server-Sent Events (its events are described in docs/serve.md)
SSE_EVENT = {"type": "object", "properties": {"event": {"type": "string"}, "data": {"type": "string"}},
             "description": "one event: its name (message, done, error) and its data, a JSON text"}
STREAMED = {200: {"content": {"text/event-stream": {"schema": SSE_EVENT}},
                  "description": "JSON, or Server-Sent Events with \"stream\": true"}}


def server_of(request: Request) -> Server:
    """The models, limits and workers of the app that got `request` (set by its lifespan)."""
    return request.app.state.server


def sse(data: dict | str, event: str | None = None) -> str:
    """One Server-Sent Event. JSON keeps its non-ASCII characters (the stream is UTF-8)."""
    body = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return (f"event: {event}\n" if event else "") + f"data: {body}\n\n"


async def event_stream(events: AsyncIterator[str]) -> StreamingResponse:
    """A text/event-stream response. The first event is awaited here, so a request that fails
    before writing anything is still answered with its 4xx status and a JSON body."""
    first = await anext(events, None)

    async def body() -> AsyncIterator[str]:
        async with aclosing(events):
            if first is not None:
                yield first
            async for event in events:
                yield event

    return StreamingResponse(body(), media_type="text/event-stream; charset=utf-8",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def validation_message(exc: RequestValidationError) -> str:
    """The first few problems of a request body, as `field: problem; ...` on one line."""
    by_field: dict[str, list[dict]] = {}
    for err in exc.errors():
        # loc: ("body", "stop", "list[constrained-str]", 0): keep field names and list positions
        loc = [str(x) for x in err.get("loc", ()) if isinstance(x, int) or (x != "body" and str(x).isidentifier())]
        by_field.setdefault(".".join(loc) or "body", []).append(err)
    parts = []
    for where, errs in by_field.items():
        # a union (str | list[str]) fails once per member: the member's own complaint beats "not a string"
        err = next((e for e in errs if not str(e.get("type", "")).endswith("_type")), errs[0])
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    more = f" (and {len(parts) - 3} more)" if len(parts) > 3 else ""
    return one_line("; ".join(parts[:3]) + more)


def error(request: Request, status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(request.url.path, status, message), status_code=status, headers=dict(headers or {}))


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(request, 422, validation_message(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error(request, exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(CharRNNError)
    async def refused(request: Request, exc: CharRNNError) -> JSONResponse:
        return error(request, 400, str(exc))

    @app.exception_handler(TimeLimit)
    async def too_long(request: Request, exc: TimeLimit) -> JSONResponse:
        return error(request, 503, str(exc))

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:  # logged with its traceback by the server
        return error(request, 500, "internal error (see the server's log)")
