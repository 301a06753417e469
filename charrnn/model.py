"""The model, and only the model: ModelConfig + CharRNN.

    ids (B, T) -> [embedding or one-hot] -> (B, T, E) -> [RNN | LSTM | GRU] x layers -> (B, T, H)
               -> [linear head] -> logits (B, T, V)

The recurrent stack is torch's fused nn.RNN / nn.LSTM / nn.GRU (cuDNN on a GPU, oneDNN on a CPU).
The one place where the cell types differ is the shape of the hidden state, and that difference
stays in this file: every caller sees the state as a tuple of (layers, B, H) tensors,
`(h, c)` for an LSTM and `(h,)` for an RNN or GRU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from charrnn.errors import CharRNNError

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
State = tuple[torch.Tensor, ...]


@dataclass
class ModelConfig:
    """The model's hyperparameters; saved in the run folder's config.json."""

    vocab_size: int = field(default=0, metadata={"cli": False})
    cell: str = field(default="lstm", metadata={"help": "recurrent cell", "choices": tuple(CELLS)})
    layers: int = field(default=2, metadata={"help": "stacked recurrent layers"})
    hidden: int = field(default=512, metadata={"help": "hidden units per layer"})
    embed: int = field(default=-1, metadata={
        "help": "input embedding size; 0 = one-hot input (as char-rnn); -1 = 64, or 256 above 256 characters"})
    dropout: float = field(default=0.0, metadata={"help": "dropout between layers and before the output"})

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise CharRNNError(f"--cell {self.cell!r}: choose one of {', '.join(CELLS)}")
        for name in ("layers", "hidden"):
            if getattr(self, name) <= 0:
                raise CharRNNError(f"--{name} must be > 0 (got {getattr(self, name)})")
        if self.embed < -1:
            raise CharRNNError(f"--embed must be >= 0, or -1 for automatic (got {self.embed})")
        if not 0.0 <= self.dropout < 1.0:
            raise CharRNNError(f"--dropout must be in [0, 1) (got {self.dropout})")

    def resolved(self, vocab_size: int) -> ModelConfig:
        """This config for a vocabulary of `vocab_size`, with the automatic embedding size decided."""
        embed = self.embed
        if embed == -1:
            # A learned embedding gets the stack past the early plateau at the unigram loss several
            # times sooner than one-hot input (whose input weights start tiny); measured on tinyshakespeare.
            embed = 64 if vocab_size <= 256 else 256
        return ModelConfig(**{**asdict(self), "vocab_size": vocab_size, "embed": embed})


class CharRNN(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.vocab_size <= 0 or config.embed < 0:
            raise ValueError("CharRNN needs a resolved config: use ModelConfig.resolved(vocab_size)")
        self.config = config
        V, E, H = config.vocab_size, config.embed, config.hidden
        self.embedding = nn.Embedding(V, E) if E > 0 else None
        self.rnn = CELLS[config.cell](input_size=E or V, hidden_size=H, num_layers=config.layers,
                                      dropout=config.dropout if config.layers > 1 else 0.0,
                                      batch_first=True)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(H, V)
        if config.cell == "lstm":
            # A forget-gate bias of 1 lets gradients flow through time from the first step
            # (Jozefowicz et al. 2015); torch's gate order is [input, forget, cell, output].
            for name, p in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    with torch.no_grad():
                        p[H:2 * H].fill_(1.0)

    def init_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """Zero state for `batch_size` streams: (h, c) for an LSTM, (h,) otherwise."""
        device = device or self.head.weight.device
        shape = (self.config.layers, batch_size, self.config.hidden)
        parts = 2 if self.config.cell == "lstm" else 1
        return tuple(torch.zeros(shape, device=device) for _ in range(parts))

    def forward(self, idx: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """idx (B, T) of token ids -> logits (B, T, V) and the state after the last step."""
        if self.embedding is not None:
            x = self.embedding(idx)  # (B, T, E)
        else:
            x = F.one_hot(idx.long(), self.config.vocab_size).to(self.head.weight.dtype)  # (B, T, V)
        if state is not None:
            state = tuple(s.to(x.dtype) for s in state)
            rnn_state = state if self.config.cell == "lstm" else state[0]
        else:
            rnn_state = None
        out, new_state = self.rnn(x, rnn_state)  # out (B, T, H)
        logits = self.head(self.drop(out))  # (B, T, V)
        new_state = new_state if isinstance(new_state, tuple) else (new_state,)
        return logits, new_state

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def detach_state(state: State) -> State:
    """Cut the graph at a batch boundary (truncated BPTT) but keep the values: the carried state."""
    return tuple(s.detach() for s in state)


def select_state(state: State, index: torch.Tensor | slice) -> State:
    """The state of some of the streams (index along the batch dimension)."""
    return tuple(s[:, index] for s in state)


def reset_streams(state: State, mask: torch.Tensor) -> State:
    """Zero the state of the streams where `mask` (B,) is true, e.g. where a new pass over the data begins."""
    keep = (~mask).to(state[0].dtype).view(1, -1, 1)
    return tuple(s * keep for s in state)
