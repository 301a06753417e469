"""API keys: with `charrnn serve --api-key KEY` (or $CHARRNN_API_KEY) every /api and /v1 request
must carry `Authorization: Bearer KEY`, the header the openai client sends; anything else is
answered 401 with the one-line JSON error of that path (OpenAI's object under /v1). /health, the page
and its static files stay open, so the page can load and ask for the key. The key is compared in
constant time (hmac.compare_digest), so the time of a refusal says nothing of how much of it matched.
"""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

from charrnn.serve.errors import error_body

PROTECTED = ("/api/", "/v1/")


class ApiKey:
    """ASGI middleware: 401 for a protected path without the right bearer key."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app, self.key = app, key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED) or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        given = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, token = given.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.key):
            return await self.app(scope, receive, send)
        message = ("this server needs an API key: send the header `Authorization: Bearer KEY`" if not given
                   else "the API key is not right")
        body = json.dumps(error_body(scope["path"], 401, message)).encode()
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"www-authenticate", b'Bearer realm="charrnn"')]})
        await send({"type": "http.response.body", "body": body})
