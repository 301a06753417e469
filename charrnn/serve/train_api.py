"""The studio's routes: train a model from the page, watch it learn, write with it when it is done.

    POST   /api/train                  a job: {name, text | dataset, preset?, max_time?, max_steps?,
                                       mode?, cell?, hidden?, layers?} -> 202 and its status
    GET    /api/datasets               the named datasets a job may train on
    GET    /api/train                  every job's status
    GET    /api/train/{name}           {name, state, step, elapsed, max_time, best_val, last_sample, error}
    GET    /api/train/{name}/events    Server-Sent Events: `status`, `metrics` per line of metrics.jsonl
                                       (an eval's with its sample), then `end` with the job's status
    POST   /api/train/{name}/stop      saves and stops it, as Ctrl-C (queued: leaves the queue)
    POST   /api/train/{name}/resume    from its last checkpoint, exactly
    DELETE /api/models/{name}          a run this server trained: stopped, no longer served, removed

Training takes a machine's cores for minutes: it is on where the server listens on this machine
only, or with --api-key (every route here then needs the key), or with --allow-training said aloud
(commands/serve.py decides). A job's name is looked up, never made into a path but its own folder
in the served folder, after the schema has held it to [A-Za-z0-9_-]{1,64}.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Path, Request, Response
from starlette.exceptions import HTTPException

from charrnn import checkpoint
from charrnn.data.catalog import DATASETS
from charrnn.errors import CharRNNError
from charrnn.serve import schemas
from charrnn.serve.jobs import Server
from charrnn.serve.responses import TRAIN_ERRORS, event_stream, server_of, sse
from charrnn.serve.studio import Studio, TrainJob
from charrnn.training.config import PRESETS

router = APIRouter(prefix="/api", tags=["Training"])
Name = Path(max_length=64, description="a training job's name")
POLL = 0.25  # seconds between two reads of a job's metrics.jsonl for its events


def studio_of(request: Request) -> Studio:
    studio = request.app.state.studio
    if studio is None:
        raise HTTPException(403, request.app.state.training_off)
    return studio


def train_flags(req: schemas.TrainRequest, cap: float) -> tuple[list[str], float]:
    """`charrnn train`'s flags for the request, and its budget in seconds (the cap for a step budget)."""
    if (req.text is None) == (req.dataset is None):
        raise CharRNNError("give a text or a dataset to train on, one of them")
    preset_time = PRESETS[req.preset].get("max_time") if req.preset else None
    max_time = req.max_time if req.max_time is not None else None if req.max_steps else (preset_time or cap)
    if max_time is not None and max_time > cap:
        raise CharRNNError(f"max_time {max_time:g}: this server trains for at most {cap:g} s (--max-train-time)")
    flags = ["--dataset", req.dataset] if req.dataset else []
    for flag, value in (("--preset", req.preset), ("--max-time", max_time), ("--max-steps", req.max_steps),
                        ("--cell", req.cell), ("--hidden", req.hidden), ("--layers", req.layers)):
        if value is not None:
            flags += [flag, str(value)]
    if req.mode != "auto":
        flags += ["--mode", req.mode]
    return flags, max_time or cap


@router.post("/train", status_code=202, response_model=schemas.TrainStatus, responses=TRAIN_ERRORS)
async def train(req: schemas.TrainRequest, request: Request) -> dict:
    """Start (or queue) a training job. 409: the name is taken; 429: the training queue is full."""
    studio, server = studio_of(request), server_of(request)
    if req.name in server.models:
        raise HTTPException(409, f"{req.name!r} is taken: a model of that name is served here; choose another")
    flags, budget = train_flags(req, server.limits.max_train_time)
    return studio.submit(req.name, flags, budget, req.text).status()


@router.get("/datasets", response_model=list[schemas.DatasetInfo])
async def datasets() -> list[dict]:
    """The named datasets a job may train on (`charrnn datasets`)."""
    return [{"name": d.name, "mode": d.default_mode, "description": d.description} for d in DATASETS.values()]


@router.get("/train", response_model=list[schemas.TrainStatus], responses=TRAIN_ERRORS)
async def jobs(request: Request) -> list[dict]:
    return [job.status() for job in studio_of(request).jobs.values()]


@router.get("/train/{name}", response_model=schemas.TrainStatus, responses=TRAIN_ERRORS)
async def job(request: Request, name: str = Name) -> dict:
    return studio_of(request).job(name).status()


@router.post("/train/{name}/stop", response_model=schemas.TrainStatus, responses=TRAIN_ERRORS)
async def stop(request: Request, name: str = Name) -> dict:
    """Save and stop, as Ctrl-C does: the state is `stopped` once the trainer has saved (a moment)."""
    return studio_of(request).stop(name).status()


@router.post("/train/{name}/resume", response_model=schemas.TrainStatus, responses=TRAIN_ERRORS)
async def resume(request: Request, name: str = Name) -> dict:
    return studio_of(request).resume(name).status()


@router.get("/train/{name}/events", responses={**TRAIN_ERRORS, 200: {
    "content": {"text/event-stream": {}}, "description": "`status`, `metrics` events, then `end`"}})
async def events(request: Request, name: str = Name):
    """Every line of the job's metrics.jsonl as a `metrics` event (from the first), then `end` with
    its status once it is no longer queued or running."""
    job = studio_of(request).job(name)
    return await event_stream(_events(job, server_of(request)))


async def _events(job: TrainJob, server: Server) -> AsyncIterator[str]:
    metrics, offset, pending = job.folder / checkpoint.METRICS, 0, b""
    yield sse(job.status(), "status")
    while True:
        running = job.state in ("queued", "running")
        if metrics.exists():
            with open(metrics, "rb") as f:
                f.seek(offset)
                data = f.read()
            offset += len(data)
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                try:
                    yield sse(json.loads(line), "metrics")
                except ValueError:  # a line cut short by a kill: skipped, as read_metrics does
                    continue
        if not running:
            yield sse(job.status(), "end")
            return
        if server.stopping:
            yield sse({"error": "the server is stopping: try again in a moment"}, "error")
            return
        await asyncio.sleep(POLL)


@router.delete("/models/{name}", status_code=204, responses=TRAIN_ERRORS)
async def delete_model(request: Request, name: str = Name) -> Response:
    """Remove a run this server trained: its job stopped, the model no longer served, its folder gone.
    A run the server did not train is never removed (403)."""
    studio = studio_of(request)
    if not studio.made(name):
        raise HTTPException(403 if name in server_of(request).models else 404,
                            f"{name!r} was not trained by this server: it removes only the runs it trained")
    server_of(request).remove_model(name)
    await studio.delete(name)
    return Response(status_code=204)
