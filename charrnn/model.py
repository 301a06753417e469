"""The model, and only the model: CharRNN, built from a ModelConfig (charrnn.model_config).

    ids (B, T) -> [embedding or one-hot] -> (B, T, E) -> [RNN | LSTM | GRU] x layers -> (B, T, H)
               -> [linear head] -> logits (B, T, V)

The output layer is either a full linear head (H x V), or, with `output="tied"`, a projection to
the embedding size whose result is scored against the embedding itself (Press & Wolf 2017):

    (B, T, H) -> [project H -> E] -> (B, T, E) -> [x embedding^T + bias] -> logits (B, T, V)

For a vocabulary of thousands of characters (Chinese) the full head dominates each step and each
character's row only learns when that character is the target; the tied head has E x V weights
instead of H x V, shared with the input, so every character's vector learns from both ends.

The recurrent stack is torch's fused nn.RNN / nn.LSTM / nn.GRU (cuDNN on a GPU, oneDNN on a CPU).
The one place where the cell types differ is the shape of the hidden state, and that difference
stays in this file: every caller sees the state as a tuple of (layers, B, H) tensors,
`(h, c)` for an LSTM and `(h,)` for an RNN or GRU.

While training, the regularisers (ModelConfig's dropouts, scaled by `strength`): variational
dropout on the stack's input, DropConnect on its recurrent weights, dropout between its layers
(torch's own) and before the output layer. Their masks come from keep_mask, which draws them
several times faster than bernoulli_ on a CPU.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from charrnn.model_config import ModelConfig

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}  # ModelConfig.cell -> the fused torch module
State = tuple[torch.Tensor, ...]

__all__ = ["CELLS", "CharRNN", "ModelConfig", "State", "detach_state", "dropout", "keep_mask", "locked_dropout",
           "select_state"]


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
        self.strength = 1.0  # of every dropout, while training (set_regularisation)
        if config.output == "tied":
            self.head = None
            self.project = nn.Linear(H, E, bias=False)
            self.output_bias = nn.Parameter(torch.zeros(V))
            # The embedding's rows are N(0, 1), as the input wants them. Scored against them
            # unscaled, the output turned over-confident within 10 steps at lr 1e-2 (a 363-character
            # corpus); scaled by 1/sqrt(E) it learned slower on tang-poems (5.74 vs 5.68 nats at
            # 115 s). 4/sqrt(E) did well on both (measured; benchmarks/README.md).
            self.output_scale = 4 * E ** -0.5
        else:
            self.head = nn.Linear(H, V)
        if config.cell == "lstm":
            # A forget-gate bias of 1 lets gradients flow through time from the first step
            # (Jozefowicz et al. 2015); torch's gate order is [input, forget, cell, output].
            for name, p in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    with torch.no_grad():
                        p[H:2 * H].fill_(1.0)

    def set_regularisation(self, strength: float) -> None:
        """Scale every dropout of the config by `strength` in [0, 1] while training (the trainer
        starts them late: a run that has not yet seen its text twice has nothing to memorise)."""
        self.strength = strength
        self.rnn.dropout = self.config.dropout * strength if self.config.layers > 1 else 0.0

    def init_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """Zero state for `batch_size` streams: (h, c) for an LSTM, (h,) otherwise."""
        device = device or self.device
        shape = (self.config.layers, batch_size, self.config.hidden)
        parts = 2 if self.config.cell == "lstm" else 1
        return tuple(torch.zeros(shape, device=device) for _ in range(parts))

    def forward(self, idx: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """idx (B, T) of token ids -> logits (B, T, V) and the state after the last step."""
        out, new_state = self.features(idx, state)
        return self.readout(dropout(out, self.config.dropout * self.strength, self.training)), new_state

    def features(self, idx: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """idx (B, T) -> the top layer's output (B, T, H) and the new state: the forward pass without
        its output layer (scoring applies that a few rows at a time)."""
        x = locked_dropout(self.embed(idx), self.config.input_dropout * self.strength, self.training)
        if state is not None:
            state = tuple(s.to(x.dtype) for s in state)
            rnn_state = state if self.config.cell == "lstm" else state[0]
        else:
            rnn_state = None
        out, new_state = self.recur(x, rnn_state)  # out (B, T, H)
        return out, new_state if isinstance(new_state, tuple) else (new_state,)

    def embed(self, idx: torch.Tensor) -> torch.Tensor:
        """ids (B, T) -> the recurrent stack's input (B, T, E), or one-hot (B, T, V)."""
        if self.embedding is None:
            return F.one_hot(idx.long(), self.config.vocab_size).to(self.rnn.weight_ih_l0.dtype)
        p = self.config.embed_dropout * self.strength
        if not (self.training and p > 0):
            return self.embedding(idx)
        # Embedding dropout (Gal & Ghahramani 2016): a dropped character is dropped wherever it
        # occurs in the batch, so the model cannot lean on any one character's vector.
        keep = keep_mask(self.embedding.weight, (self.config.vocab_size, 1), p)  # (V, 1)
        return F.embedding(idx, self.embedding.weight * keep)

    def recur(self, x: torch.Tensor, rnn_state) -> tuple[torch.Tensor, object]:
        """The recurrent stack, with DropConnect on its hidden-to-hidden weights while training
        (Merity et al. 2017): a dropped connection stays dropped for the whole sequence, which is
        what regularises the recurrence, and the fused kernel still runs."""
        p = self.config.weight_drop * self.strength
        if not (self.training and p > 0):
            return self.rnn(x, rnn_state)
        dropped = {name: dropout(w, p, training=True) for name, w in self.rnn.named_parameters()
                   if name.startswith("weight_hh")}
        return torch.func.functional_call(self.rnn, dropped, (x, rnn_state))

    def readout(self, out: torch.Tensor) -> torch.Tensor:
        """The top layer's output (B, T, H) -> logits (B, T, V)."""
        if self.head is None:  # tied: project to the embedding size, score against the embedding
            return F.linear(self.project(out) * self.output_scale, self.embedding.weight, self.output_bias)
        return self.head(out)

    @torch.no_grad()
    def set_output_prior(self, counts: torch.Tensor) -> None:
        """Start the output bias at the log unigram frequencies of the training targets (V,), so the
        first step already predicts them and training goes straight to learning from context
        (measured at 300 equal steps: val 1.75 against 2.00 on tinyshakespeare; on tang-poems it
        takes a full output off the unigram plateau). Characters never seen get half a count."""
        bias = self.output_bias if self.head is None else self.head.bias
        probs = counts.double().clamp_min(0.5) / counts.sum().clamp_min(1)
        bias.copy_(probs.log().to(bias.dtype))

    @property
    def device(self) -> torch.device:
        return self.rnn.weight_ih_l0.device

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def locked_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Variational dropout (Gal & Ghahramani 2016) on (B, T, F): one mask per sequence, the same at
    every time step, so a dropped unit is missing for the whole sequence rather than at random steps."""
    if not (training and p > 0):
        return x
    return x * keep_mask(x, (x.shape[0], 1, x.shape[2]), p)  # a (B, 1, F) mask


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Dropout, each element on its own: F.dropout's, with keep_mask's faster draw."""
    if not (training and p > 0):
        return x
    return x * keep_mask(x, x.shape, p)


def keep_mask(like: torch.Tensor, shape: tuple[int, ...] | torch.Size, p: float) -> torch.Tensor:
    """A dropout mask of `shape` in like's dtype and device: 0 with probability p (rounded to a
    multiple of 1/65536), else 1/(1 - p). Drawn as 16-bit integers, four from each 64-bit random
    number of torch's generator (so a seed and a resume give the same masks): on 2 CPU cores a
    million take 0.9 ms, against bernoulli_'s 7.9 ms, which was 17% of a regularised step."""
    n, cut = math.prod(shape), min(round(p * 65536), 65535)  # p < 1 keeps a 1/65536 chance
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=like.device).random_(-2**63, None)
    draws = words.view(torch.int16)[:n].view(shape)  # uniform over -32768..32767
    return (draws >= cut - 32768).to(like.dtype) * (65536 / (65536 - cut))


def detach_state(state: State) -> State:
    """Cut the graph at a batch boundary (truncated BPTT) but keep the values: the carried state."""
    return tuple(s.detach() for s in state)


def select_state(state: State, index: torch.Tensor | slice) -> State:
    """The state of some of the streams (index along the batch dimension)."""
    return tuple(s[:, index] for s in state)

