"""The model by cell name: create parameters and state, run forward, get loss and gradients.

This is the entry point for everything outside the cell files: the cell is named by a
string ("rnn", "lstm", "gru") and the parameters are one flat dict (see stack.py for the
layout), so `init_params("rnn", V, 100)` gives exactly min-char-rnn's Wxh, Whh, Why, bh, by.

State is a list with one tuple per layer: [(h,), ...] for rnn and gru, [(h, c), ...] for
lstm, each array (H, 1). `None` means all zeros wherever a state is taken.
"""

from __future__ import annotations

import numpy as np

from .gru import GRU
from .lstm import LSTM
from .rnn import RNN
from .stack import (
    Cell,
    hidden_size,
    layer_key,
    split_params,
    stack_forward,
    stack_loss_and_grads,
    zero_state,
)

CELLS: dict[str, Cell] = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


def get_cell(name: str) -> Cell:
    """The Cell for "rnn", "lstm" or "gru"."""
    try:
        return CELLS[name]
    except KeyError:
        raise ValueError(f"unknown cell {name!r}: choose from {', '.join(CELLS)}") from None


def init_params(
    cell: str, vocab_size: int, hidden: int, layers: int = 1, seed: int = 0, scale: float = 0.01
) -> dict[str, np.ndarray]:
    """Fresh float64 parameters: weights N(0, scale^2) (min-char-rnn's 0.01), biases zero.

    Layer 0 reads the one-hot input (size vocab_size); layer k >= 1 reads layer k-1's h.
    """
    c = get_cell(cell)
    if vocab_size < 1 or hidden < 1 or layers < 1:
        raise ValueError(f"vocab_size, hidden and layers must be >= 1, got {vocab_size}, {hidden}, {layers}")
    rng = np.random.default_rng(seed)
    params = {}
    for k in range(layers):
        input_size = vocab_size if k == 0 else hidden
        for name, value in c.init_layer(rng, input_size, hidden, scale).items():
            params[layer_key(name, k)] = value
    params["Why"] = rng.standard_normal((vocab_size, hidden)) * scale
    params["by"] = np.zeros((vocab_size, 1))
    return params


def init_state(params: dict, cell: str) -> list[tuple[np.ndarray, ...]]:
    """The zero state for these parameters: one tuple per layer of (H, 1) arrays."""
    c = get_cell(cell)
    layers, _ = split_params(c, params)
    return zero_state(c, hidden_size(c, layers), len(layers))


def forward(params: dict, cell: str, inputs: list, state=None):
    """Logits of every step and the final state: (logits (T, V), state).

    inputs is a list of T ids; None stands for the zero vector (a "start of line" input).
    """
    return stack_forward(get_cell(cell), params, inputs, state)


def loss_and_grads(params: dict, cell: str, inputs: list, targets: list, state=None):
    """(loss, grads, state) for any cell and number of layers.

    loss is the SUM over the T steps of -log p(target) in nats; grads maps "d" + name to an
    array shaped like params[name]; state is the state after the last input.
    """
    return stack_loss_and_grads(get_cell(cell), params, inputs, targets, state)
