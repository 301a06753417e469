"""Looking inside a served model: its training curves, each character's prediction, the units that
track things. What the page's Training and Inside tabs read.

    GET  /api/models/{name}/metrics   the run's metrics.jsonl as JSON (read anew each time: a run
                                      still training shows its progress)
    POST /api/inspect                 charrnn.inside.inspection for a text of at most 2,000
                                      characters: the keys of `charrnn inspect --json`
    POST /api/neurons                 charrnn.inside.neurons: the units that track a feature

The work runs in a worker thread with a slot (429 when none is free), beside the batch that writes
(on an accelerator, in the batch's thread between two steps: Server.inside).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from charrnn import checkpoint
from charrnn.inside.inspection import Unit
from charrnn.serve import schemas
from charrnn.serve.responses import ERRORS, server_of

router = APIRouter(prefix="/api", tags=["Inside"])


@router.get("/models/{name}/metrics", response_model=schemas.MetricsResponse, responses=ERRORS)
async def metrics(name: str, request: Request) -> dict:
    """Every line of the run's metrics.jsonl: {"step", "loss", "lr", "chars_per_s", "elapsed", "epochs",
    "regularisation"}, the
    evals' {"step", "val_loss", "val_bpc", "val_chars", "val_subset", "val_bf16", "elapsed"}; the last
    eval of a run whose evals scored a subset scores the whole split and adds "whole_val_loss",
    "whole_best_val_loss" and "best_step"."""
    entry = server_of(request).model(name)
    run_dir = entry.model.run_dir
    return {"model": entry.name, "records": checkpoint.read_metrics(run_dir) if run_dir is not None else []}


@router.post("/inspect", response_model=schemas.InspectResponse, responses=ERRORS)
async def inspect(req: schemas.InspectRequest, request: Request) -> dict:
    """For each character: surprisal, entropy, the top guesses; activations of the units asked for."""
    server = server_of(request)
    entry = server.model(req.model)
    units = [Unit.parse(u) for u in req.units]  # 400 early for a malformed unit

    result = await server.inside(entry, lambda: entry.model.inspect(req.text, top_k=req.top_k, units=units)
                                 .to_dict(units))
    return {"model": entry.name, **result}


@router.post("/neurons", response_model=schemas.NeuronsResponse, responses=ERRORS)
async def neurons(req: schemas.NeuronsRequest, request: Request) -> dict:
    """The units whose activation correlates most with a feature of the text (line position, brackets,
    quotes, ...), and the best unit for each feature."""
    server = server_of(request)
    entry = server.model(req.model)

    result = await server.inside(entry, lambda: entry.model.neuron_report(req.text, req.top, schemas.MAX_INSPECT)
                                 .to_dict())
    return {"model": entry.name, **result}
