"""OpenAI-compatible endpoints: /v1/models and /v1/completions (legacy completions, tokens = characters).

    from openai import OpenAI
    client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused")
    client.completions.create(model="shakespeare", prompt="ROMEO:", max_tokens=100, temperature=0.8)

The answers have the shapes the official client parses: a `text_completion` with choices
[{text, index, logprobs: null, finish_reason: "stop" | "length"}] and usage counted in characters;
streamed, one `data: {...}` chunk per piece of a choice, a last chunk per choice with its finish
reason, then `data: [DONE]`. An error after the stream has begun is a `data: {"error": {...}}` chunk,
which the client raises. The API key is not checked: bind to 127.0.0.1 (the default).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException

from charrnn.errors import CharRNNError
from charrnn.generation.streaming import random_seed, stop_list
from charrnn.serve.errors import TimeLimit
from charrnn.serve.responses import OPENAI_ERRORS, STREAMED, event_stream, server_of, sse
from charrnn.serve.schemas import CompletionRequest

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])


@router.get("/models", responses=OPENAI_ERRORS)
async def models(request: Request) -> dict:
    created = int(time.time())
    return {"object": "list", "data": [{"id": name, "object": "model", "created": created, "owned_by": "charrnn"}
                                       for name in server_of(request).models]}


@router.post("/completions", responses={**OPENAI_ERRORS, **STREAMED})
async def completions(req: CompletionRequest, request: Request):
    """Legacy completions: `max_tokens` characters after `prompt`, `n` choices."""
    if req.logprobs is not None:
        raise HTTPException(400, "logprobs are not supported by this server: leave them out")
    if req.best_of not in (None, 1):
        raise HTTPException(400, "best_of is not supported by this server: leave it out")
    server = server_of(request)
    entry = server.model(req.model)
    prompt = req.prompt if isinstance(req.prompt, str) else req.prompt[0]
    options = req.options()
    n, length = req.n or 1, 16 if req.max_tokens is None else req.max_tokens
    seed = random_seed() if req.seed is None else req.seed
    deadline = server.deadline()
    writing = server.write(entry, prompt, length, options, seed, n, stop_list(req.stop), bool(req.stream))
    head = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
            "model": entry.name}
    echo = prompt if req.echo else ""

    if not req.stream:
        await writing.finish_all(deadline)
        texts, finishes = writing.transcript.texts, writing.transcript.finish
        written = sum(len(t) for t in texts)
        return {**head, "choices": [{"text": echo + text, "index": i, "logprobs": None, "finish_reason": finish}
                                    for i, (text, finish) in enumerate(zip(texts, finishes))],
                "usage": {"prompt_tokens": len(prompt), "completion_tokens": written,
                          "total_tokens": len(prompt) + written}}

    def chunk(index: int, text: str, finish: str | None = None) -> str:
        return sse({**head, "choices": [{"text": text, "index": index, "logprobs": None, "finish_reason": finish}]})

    async def events() -> AsyncIterator[str]:
        try:
            for i in range(n if echo else 0):
                yield chunk(i, echo)
            async with aclosing(writing.pieces(deadline)) as pieces:
                async for new in pieces:
                    for i, text in new.items():
                        yield chunk(i, text)
        except (TimeLimit, CharRNNError) as e:
            yield sse({"error": {"message": str(e), "type": "server_error" if isinstance(e, TimeLimit)
                                 else "invalid_request_error", "code": None}})
            yield sse("[DONE]")
            return
        for i, finish in enumerate(writing.transcript.finish):
            yield chunk(i, "", finish)
        yield sse("[DONE]")

    return await event_stream(events())
