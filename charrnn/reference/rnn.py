"""The vanilla (Elman) RNN cell of min-char-rnn: one tanh layer.

    h_t = tanh(Wxh x_t + Whh h_{t-1} + bh)

One layer's parameters (I is the input size: V for the first layer, H above it):

    Wxh (H, I)    Whh (H, H)    bh (H, 1)

State: (h,) with h (H, 1). PyTorch's nn.RNN has two biases, b_ih and b_hh, that are always
added together; here they are one, bh = b_ih + b_hh (see convert.py).

`rnn_loss_and_grads` is min-char-rnn's `lossFun`: same arguments, same dict names, same
return values; it runs through the general stack (stack.py) with this cell.
"""

from __future__ import annotations

import numpy as np

from .stack import Cell, num_layers, stack_loss_and_grads

PARAM_NAMES = ("Wxh", "Whh", "bh")


def init_layer(rng: np.random.Generator, input_size: int, hidden: int, scale: float) -> dict:
    """Small random weights (N(0, scale^2)) and zero bias, as in min-char-rnn."""
    return {
        "Wxh": rng.standard_normal((hidden, input_size)) * scale,
        "Whh": rng.standard_normal((hidden, hidden)) * scale,
        "bh": np.zeros((hidden, 1)),
    }


def step(layer: dict, x: np.ndarray, state: tuple) -> tuple[tuple, tuple]:
    """h = tanh(Wxh x + Whh h_prev + bh).    x (I, 1), state (h_prev,) -> ((h,), cache)"""
    (h_prev,) = state
    h = np.tanh(layer["Wxh"] @ x + layer["Whh"] @ h_prev + layer["bh"])  # (H, 1)
    return (h,), (x, h_prev, h)


def step_backward(layer: dict, dh: np.ndarray, dstate: tuple, cache: tuple, dlayer: dict):
    """Gradients of one step; parameter gradients are added into `dlayer`.

    dh is d loss / d h from above, dstate = (dh_next,) from the next step. With a the
    pre-activation (h = tanh(a)):

        da       = (dh + dh_next) * (1 - h^2)       tanh'(a) = 1 - tanh(a)^2
        dWxh    += da x^T         dWhh += da h_prev^T         dbh += da
        dx       = Wxh^T da       dh_prev = Whh^T da

    Returns (dx (I, 1), (dh_prev (H, 1),)).
    """
    x, h_prev, h = cache
    da = (dh + dstate[0]) * (1.0 - h * h)  # (H, 1)
    dlayer["Wxh"] += da @ x.T
    dlayer["Whh"] += da @ h_prev.T
    dlayer["bh"] += da
    return layer["Wxh"].T @ da, (layer["Whh"].T @ da,)


RNN = Cell("rnn", PARAM_NAMES, 1, init_layer, step, step_backward)


def rnn_loss_and_grads(params: dict, inputs: list, targets: list, h_prev: np.ndarray):
    """min-char-rnn's lossFun for a one-layer rnn.

    params:  Wxh (H, V), Whh (H, H), bh (H, 1), Why (V, H), by (V, 1)
    inputs, targets: lists of T ids (an input of None is the zero vector)
    h_prev:  (H, 1), the hidden state before the first input
    Returns (loss, grads, h_last): loss is the sum over the T steps of the cross-entropy in
    nats; grads has dWxh, dWhh, dbh, dWhy, dby. For several layers use
    `charrnn.reference.loss_and_grads`.
    """
    if num_layers(RNN, params) != 1:
        raise ValueError("rnn_loss_and_grads takes one layer; use loss_and_grads(params, 'rnn', ...)")
    loss, grads, state = stack_loss_and_grads(RNN, params, inputs, targets, [(h_prev,)])
    return loss, grads, state[0][0]
