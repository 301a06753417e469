"""The app factory: `create_app(path)` loads the runs at start-up and serves the page and the API.

    GET  /                 the writer's page (static/: plain HTML, CSS and JS, every asset local)
    GET  /health           {"status": "ok", ...}, answered at any load
    GET  /api/models       the served models: shape, vocabulary, mode, best val loss, what they write
    POST /api/generate     continue a prime (JSON, or Server-Sent Events with "stream": true)
    POST /api/poem         regular Chinese poems: form, acrostic, rhyme (TrainedModel.poem)
    POST /api/names        names from a lines-mode run (TrainedModel.names)
    GET  /api/models/{name}/metrics, POST /api/inspect, POST /api/neurons   looking inside (inside_api.py)
    POST /api/train, GET /api/train[/{name}[/events]], ..., DELETE /api/models/{name}   the studio (train_api.py)
    GET  /v1/models, POST /v1/completions   OpenAI-compatible (openai_api.py)
    GET  /docs             the OpenAPI page: Swagger UI from the installed swagger-ui-bundle (docs.py)

Errors are one line of JSON with a 4xx status (responses.py); nothing a client sends is answered 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import aclosing, asynccontextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from charrnn import checkpoint
from charrnn.errors import CharRNNError
from charrnn.generation.streaming import prime_warning, random_seed, stop_list
from charrnn.serve import schemas
from charrnn.serve.auth import ApiKey
from charrnn.serve.docs import add_docs
from charrnn.serve.errors import TimeLimit
from charrnn.serve.inside_api import router as inside_router
from charrnn.serve.jobs import Server
from charrnn.serve.limits import BodyLimit, Limits
from charrnn.serve.openai_api import router as openai_router
from charrnn.serve.registry import load_models, serve_models
from charrnn.serve.responses import ERRORS, STREAMED, add_error_handlers, event_stream, server_of, sse
from charrnn.serve.studio import Studio, TrainJob
from charrnn.serve.train_api import router as train_router
from charrnn import views
from charrnn.trained import TrainedModel, load
from charrnn.version import __version__
from charrnn.writers.meter import check_poems
from charrnn.writers.names import NameRules
from charrnn.writers.poem_form import PoemForm, poem_lines

STATIC = Path(__file__).parent / "static"
TRAINING_OFF = ("training is off on this server: it listens beyond this machine without --api-key; start it with "
                "--api-key KEY (and send the key on every training route) or with --allow-training")
NAMES_BATCH = 32  # names drawn side by side in the batch (the library draws up to 256 at once)
INSIDE_STATIC = Path(views.__file__).parent / "static"
# The page may load nothing from elsewhere: the browser enforces "every asset local".
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; base-uri 'none'; "
                "form-action 'none'; frame-ancestors 'none'", "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer"}


def create_app(path: str | Path | None = None, *, models: Mapping[str, TrainedModel] | None = None,
               limits: Limits | None = None, cors: Sequence[str] = (), device: str = "auto",
               which: str = "best", api_key: str | None = None, training: bool = True) -> FastAPI:
    """An app serving the run (or folder of runs) at `path`, or already loaded `models` {name: model}.
    `api_key`: /api and /v1 need `Authorization: Bearer <api_key>` (auth.py). `training`: the studio
    trains models in the folder of runs at `path` (train_api.py; commands/serve.py says when)."""
    if (path is None) == (models is None):
        raise ValueError("give a run path or loaded models: one of them")
    limits = limits or Limits()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if models is not None:
            served = serve_models(models)
        else:
            served = await anyio.to_thread.run_sync(load_models, path, device, which)
        app.state.server = server = Server(served, limits)
        app.state.studio, app.state.training_off = None, TRAINING_OFF
        task = None
        if path is not None and checkpoint.is_run(path):
            app.state.training_off = f"this server serves one run ({Path(path).name}): serve a folder of runs to train"
        elif path is not None and training:
            async def done(job: TrainJob) -> None:  # the job's run, served from now on
                server.add_model(job.name, await anyio.to_thread.run_sync(load, job.folder, device, which))

            app.state.studio = studio = Studio(Path(path), limits.max_train_jobs, limits.train_queue,
                                               limits.max_train_time, done)
            task = asyncio.create_task(studio.run())
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                app.state.studio.close()
            server.close()

    app = FastAPI(title="charrnn", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Character-level language models that write: stories, poems, names. See docs/serve.md.")
    add_error_handlers(app)
    app.add_middleware(BodyLimit, max_body=limits.max_body, paths={"/api/train": limits.max_upload})
    if api_key:
        app.add_middleware(ApiKey, key=api_key)
    if cors:  # outermost, so that even the body cap's 413 carries the CORS headers
        app.add_middleware(CORSMiddleware, allow_origins=list(cors), allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "Authorization"])
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/inside", StaticFiles(directory=INSIDE_STATIC), name="inside")  # the renderer shared with --html
    _add_info_routes(app)
    _add_generate_route(app)
    _add_form_routes(app)
    app.include_router(inside_router)
    app.include_router(train_router)
    app.include_router(openai_router)
    add_docs(app)
    return app


def _add_info_routes(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    @app.get("/health")
    async def health(request: Request) -> dict:
        server = server_of(request)
        return {"status": "ok", "models": list(server.models), "busy": server.slots.busy,
                "max_concurrency": server.slots.size, "batches": {name: b.load for name, b in server.batches.items()}}

    @app.get("/api/models", response_model=list[schemas.ModelInfo], responses={401: ERRORS[401]})
    async def list_models(request: Request) -> list[dict]:
        return [entry.summary for entry in server_of(request).models.values()]



def _add_generate_route(app: FastAPI) -> None:
    @app.post("/api/generate", response_model=schemas.GenerateResponse, responses={**ERRORS, **STREAMED})
    async def generate(req: schemas.GenerateRequest, request: Request):
        """The continuation of `prime`. With `"stream": true`, Server-Sent Events: `{"index", "text"}`
        per piece, then `event: done` with the finish reasons, or `event: error`."""
        server = server_of(request)
        entry = server.model(req.model)
        options = req.options()  # 400 if refused
        seed = random_seed() if req.seed is None else req.seed
        warning = prime_warning(entry.network, req.prime)
        warnings = [warning] if warning else []
        deadline = server.deadline()
        writing = server.write(entry, req.prime, req.length, options, seed, req.num, stop_list(req.stop), req.stream)

        def done() -> dict:
            return {"model": entry.name, "seed": seed, "warnings": warnings,
                    "samples": [{"index": i, "text": t, "finish_reason": f}
                                for i, (t, f) in enumerate(zip(writing.transcript.texts, writing.transcript.finish))]}

        if not req.stream:
            await writing.finish_all(deadline)
            return done()

        async def events() -> AsyncIterator[str]:
            try:
                async with aclosing(writing.pieces(deadline)) as pieces:
                    async for new in pieces:
                        for i, text in new.items():
                            yield sse({"index": i, "text": text})
            except (TimeLimit, CharRNNError) as e:
                yield sse({"error": str(e)}, "error")
                return
            yield sse({"model": entry.name, "seed": seed, "finish_reasons": writing.transcript.finish,
                       "warnings": warnings},
                      "done")

        return await event_stream(events())


def _add_form_routes(app: FastAPI) -> None:
    @app.post("/api/poem", response_model=schemas.PoemResponse, responses=ERRORS)
    async def poem(req: schemas.PoemRequest, request: Request) -> dict:
        """Regular Chinese poems, by construction (see charrnn.writers.poems)."""
        server = server_of(request)
        entry = server.model(req.model)
        form = PoemForm.from_options(req.form, req.chars_per_line, req.lines, req.acrostic, req.rhyme, req.meter,
                                     req.rhyme_book, req.pattern, req.keywords)  # 400 early
        seed = random_seed() if req.seed is None else req.seed
        poems = await server.run_plan(entry, entry.model.poem_plan(form, req.num, seed=seed, options=req.options()),
                                      req.num)
        return {"model": entry.name, "seed": seed, "poems": [{"text": p.text, "lines": poem_lines(p.text)}
                                                             for p in poems]}

    @app.post("/api/poem/check", response_model=schemas.PoemCheckResponse, responses=ERRORS)
    async def check_poem(req: schemas.PoemCheckRequest) -> dict:
        """Each poem of the text, OK or each place it breaks regulated verse (see charrnn.writers.meter)."""
        results = check_poems(req.text, req.rhyme_book, req.meter)
        return {"poems": [{"poem": poem, "ok": not found, "violations": [vars(v) for v in found]}
                          for poem, found in results]}

    @app.post("/api/names", response_model=schemas.NamesResponse, responses=ERRORS)
    async def names(req: schemas.NamesRequest, request: Request) -> dict:
        """Names from a lines-mode run (see charrnn.writers.names)."""
        server = server_of(request)
        entry = server.model(req.model)
        NameRules(req.min_len, req.max_len, req.starts_with)  # 400 early
        seed = random_seed() if req.seed is None else req.seed
        batch = min(NAMES_BATCH, server.limits.max_rows)
        plan = entry.model.name_plan(req.num, new_only=req.new_only, min_len=req.min_len, max_len=req.max_len,
                                     starts_with=req.starts_with, batch=batch, seed=seed, options=req.options())
        result = await server.run_plan(entry, plan, min(batch, max(2 * req.num, 16) if req.new_only else req.num))
        return {"model": entry.name, "seed": seed, "names": [n.name for n in result.names],
                "summary": result.summary(), "warnings": result.warnings}
