"""charrnn.train(): flags -> a prepared run -> its engine -> the loop, alone or as one rank under torchrun.

    charrnn.train("input.txt", hidden=256, max_time=120, out="runs/mine")   # Python
    charrnn train input.txt --hidden 256 --max-time 120 --out runs/mine     # CLI, same thing
"""

from __future__ import annotations

from charrnn.flags import field_names
from charrnn.model_config import ModelConfig
from charrnn.training import distributed
from charrnn.training.engines import engine_class
from charrnn.training.loop import Trainer, TrainResult
from charrnn.training.preparation import prepare
from charrnn.training.run_setup import RunSetup


def train(*inputs: str, **flags) -> TrainResult:
    """Train a run; keyword arguments are the CLI's flags with underscores (hidden=256, max_steps=500)."""
    model_flags = {k: flags.pop(k) for k in list(flags) if k in field_names(ModelConfig)}
    train_flags = {**flags, **({"inputs": [str(p) for p in inputs]} if inputs else {})}
    return run_training(train_flags, model_flags)


def run_training(train_flags: dict, model_flags: dict) -> TrainResult:
    """Prepare and train, in one process or as one rank of several under torchrun."""
    world = distributed.start()
    try:
        if world.is_main:  # rank 0 checks the flags, encodes the corpus and writes the run folder first
            setup = prepare(train_flags, model_flags)
        distributed.barrier()
        if not world.is_main:
            setup = prepare(train_flags, model_flags, main_process=False)
        return fit(setup)
    finally:
        distributed.stop()


def fit(setup: RunSetup) -> TrainResult:
    """Train a prepared run with the engine it asks for; the run folder's lock is let go at the end."""
    try:
        return Trainer(setup, engine_class(setup.config.engine)(setup)).fit()
    finally:
        if setup.lock is not None:
            setup.lock.release()
