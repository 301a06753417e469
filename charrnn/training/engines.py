"""The training engines: what the loop needs of one (Engine), and which there are by name (ENGINES,
what `--engine` chooses). Each owns what sets it apart: its defaults and its refusals, asked before
the run folder is written, and the precision its evals score in. Nothing else in training names one.

    torch    TorchEngine (torch_engine.py): AdamW, global-norm clipping, bf16 autocast, DDP
    numpy    NumpyEngine (numpy_engine.py): the reference engine's step, Adagrad in float64
"""

from __future__ import annotations

from typing import Protocol

import torch

from charrnn.data.batches import Batch
from charrnn.errors import CharRNNError
from charrnn.model import CharRNN, ModelConfig
from charrnn.training.config import TrainConfig
from charrnn.training.numpy_engine import NumpyEngine
from charrnn.training.run_setup import RunSetup
from charrnn.training.torch_engine import TorchEngine


class Engine(Protocol):
    """What the loop needs of an engine."""

    name: str  # its name in ENGINES, saved in trainer.safetensors
    device: torch.device
    per_sequence_loss: bool  # log the loss per sequence too (the numpy engine: min-char-rnn's number)
    eval_dtype: str  # the precision its evals score in (charrnn.device.autocast)

    # Before the engine is made, as class methods: preparation asks them before writing the run folder.
    @staticmethod
    def defaults(train_given: dict, model_given: dict) -> tuple[dict, dict]:
        """The flags with the engine's own defaults where the user gave none (before a preset's)."""

    @staticmethod
    def check(config: TrainConfig, model: ModelConfig, processes: int = 1) -> None:
        """Refuse, in one line, what the engine cannot honour (the model config resolved)."""

    def __init__(self, setup: RunSetup) -> None:
        """The engine for a prepared run: its weights (new, fine-tuned, or restored later) and optimizer."""

    def banner(self) -> str:
        """The engine's part of the line printed when training starts."""

    def regularise(self, strength: float) -> None:
        """Set the dropouts and the weight decay to `strength` (0..1) of their configured values."""

    def train_step(self, batch: Batch, lr: float) -> tuple[float, int, int]:
        """One update: (nats summed over this process's characters, characters, sequences)."""

    def current_model(self) -> CharRNN:
        """The weights as a CharRNN: what is evaluated, sampled and saved as best/last."""

    def trainer_tensors(self) -> dict[str, torch.Tensor]:
        """The engine's own part of trainer.safetensors (optimizer, carried state). Every rank calls it."""

    def restore(self, tensors: dict[str, torch.Tensor]) -> None:
        """Continue from a trainer.safetensors (written by this engine or the other)."""



ENGINES: dict[str, type[Engine]] = {"torch": TorchEngine, "numpy": NumpyEngine}


def engine_class(name: str) -> type[Engine]:
    if name not in ENGINES:
        raise CharRNNError(f"--engine {name!r}: choose {' or '.join(ENGINES)}")
    return ENGINES[name]
