"""Network: a trained network as one value, what every decoder, the step loop, scoring and
inspection take (as nanochat's `Engine(model, tokenizer)` is what its CLI, web server and
evaluations all generate through).

    network = Network(model, vocab, "stream")    # a CharRNN, its Vocabulary, and how it reads text
    network.device                               # where its weights are

The mode says how the network reads and writes: "stream" (one long text, a prime or a newline to
start from) or "lines" (every sample from <bos> to <eos>). Frozen, so that the callers sharing one
(the server's requests, a training run's evals) cannot swap a part of it under the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from charrnn.model import CharRNN
from charrnn.vocab import Vocabulary

MODES = ("stream", "lines")


@dataclass(frozen=True)
class Network:
    model: CharRNN
    vocab: Vocabulary
    mode: str

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"Network: mode {self.mode!r} is not one of {', '.join(MODES)}")
        if len(self.vocab) != self.model.config.vocab_size:
            raise ValueError(f"Network: the vocabulary has {len(self.vocab)} tokens, the model "
                             f"{self.model.config.vocab_size}")

    @property
    def device(self) -> torch.device:
        return self.model.device
