"""`charrnn serve`: the writer's web app and an HTTP API (its own and OpenAI-compatible) over trained runs.

    from charrnn.serve import create_app, Limits
    app = create_app("runs/", limits=Limits(max_rows=64))   # then: uvicorn.run(app)

    app.py          the app factory: models loaded at start-up, the page, /health, /api/*
    inside_api.py   looking inside: /api/models/{name}/metrics, /api/inspect, /api/neurons
    train_api.py    the studio's routes: /api/train (start, status, events, stop, resume), DELETE a model
    studio.py       training jobs: `charrnn train` children in the served folder, queued, resumable
    openai_api.py   /v1/models and /v1/completions, in the shapes the `openai` client parses
    schemas.py      the bounded pydantic request models
    registry.py     the served models: one run or a folder of runs, loaded at start-up
    scheduler.py    each model's batch: one thread steps every request's rows together; admission (429)
    writing.py      its jobs: text for /api/generate and /v1/completions, poems and names as plans
    jobs.py         the Server the handlers share; looking inside in worker threads, beside the batch
    limits.py       Limits: rows and queue of a batch, worker slots (429), the request-body cap (413)
    auth.py         --api-key: a Bearer key on /api and /v1, compared in constant time (401)
    responses.py    one-line JSON errors, Server-Sent Events
    errors.py       the time-limit exception and the error body (below the rest)
    docs.py         /docs: Swagger UI from the installed swagger-ui-bundle, nothing from a CDN
    static/         index.html, app.js, views.js, studio.js, style.css: plain files, no build step, no CDN

The `serve` command (flags, then uvicorn) is charrnn/commands/serve.py. See docs/serve.md.
"""

__all__ = ["Limits", "create_app"]


def __getattr__(name: str):
    # Lazy, so that `charrnn --help` (which adds the serve sub-command) does not import FastAPI.
    if name == "create_app":
        from charrnn.serve.app import create_app

        return create_app
    if name == "Limits":
        from charrnn.serve.limits import Limits

        return Limits
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
