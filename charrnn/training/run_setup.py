"""RunSetup: a run ready for its first step, what preparation.py makes and the engines and the loop take."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from charrnn.data.batches import LineBatches, StreamBatches
from charrnn.data.corpus import Corpus
from charrnn.model_config import ModelConfig
from charrnn.training.config import TrainConfig
from charrnn.training.lock import RunLock


@dataclass
class RunSetup:
    config: TrainConfig
    model_config: ModelConfig
    corpus: Corpus
    batches: StreamBatches | LineBatches
    run_dir: Path
    init_weights: Path | None = None  # --init-from: the weights to start from
    lock: RunLock | None = None  # rank 0 holds the run folder while it trains (lock.py)
