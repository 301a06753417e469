"""The LSTM cell, with PyTorch's gate order [i, f, g, o] stacked in one weight matrix.

    z   = Wx x_t + Wh h_{t-1} + b            (4H, 1), four blocks of H rows:
    i   = sigmoid(z[0H:1H])                  input gate
    f   = sigmoid(z[1H:2H])                  forget gate
    g   = tanh(z[2H:3H])                     candidate cell values
    o   = sigmoid(z[3H:4H])                  output gate
    c_t = f * c_{t-1} + i * g                (H, 1) the cell (memory)
    h_t = o * tanh(c_t)                      (H, 1) the output

One layer's parameters (I is the input size: V for the first layer, H above it):

    Wx (4H, I)    Wh (4H, H)    b (4H, 1)

State: (h, c), each (H, 1). The rows are in PyTorch's order so that conversion is a copy;
PyTorch's two biases b_ih + b_hh are the one b here (see convert.py).
"""

from __future__ import annotations

import numpy as np

from .stack import Cell, num_layers, sigmoid, stack_loss_and_grads

PARAM_NAMES = ("Wx", "Wh", "b")


def init_layer(rng: np.random.Generator, input_size: int, hidden: int, scale: float) -> dict:
    """Small random weights (N(0, scale^2)) and zero biases."""
    return {
        "Wx": rng.standard_normal((4 * hidden, input_size)) * scale,
        "Wh": rng.standard_normal((4 * hidden, hidden)) * scale,
        "b": np.zeros((4 * hidden, 1)),
    }


def gates(layer: dict, x: np.ndarray, h_prev: np.ndarray):
    """The four gates (i, f, g, o), each (H, 1), from one stacked matrix product."""
    z = layer["Wx"] @ x + layer["Wh"] @ h_prev + layer["b"]  # (4H, 1)
    zi, zf, zg, zo = np.split(z, 4)
    return sigmoid(zi), sigmoid(zf), np.tanh(zg), sigmoid(zo)


def step(layer: dict, x: np.ndarray, state: tuple) -> tuple[tuple, tuple]:
    """c = f * c_prev + i * g;  h = o * tanh(c).    x (I, 1), state (h_prev, c_prev)"""
    h_prev, c_prev = state
    i, f, g, o = gates(layer, x, h_prev)
    c = f * c_prev + i * g  # (H, 1)
    tanh_c = np.tanh(c)
    h = o * tanh_c  # (H, 1)
    return (h, c), (x, h_prev, c_prev, i, f, g, o, tanh_c)


def step_backward(layer: dict, dh: np.ndarray, dstate: tuple, cache: tuple, dlayer: dict):
    """Gradients of one step; parameter gradients are added into `dlayer`.

    dh comes from above, dstate = (dh_next, dc_next) from the next step:

        dh  = dh + dh_next
        do  = dh * tanh(c)
        dc  = dc_next + dh * o * (1 - tanh(c)^2)
        di  = dc * g       df = dc * c_prev       dg = dc * i       dc_prev = dc * f
        dz  = [di * i(1-i), df * f(1-f), dg * (1-g^2), do * o(1-o)]      (4H, 1)
        dWx += dz x^T      dWh += dz h_prev^T      db += dz
        dx  = Wx^T dz      dh_prev = Wh^T dz

    Returns (dx (I, 1), (dh_prev, dc_prev)).
    """
    x, h_prev, c_prev, i, f, g, o, tanh_c = cache
    dh_next, dc_next = dstate
    dh = dh + dh_next
    do = dh * tanh_c
    dc = dc_next + dh * o * (1.0 - tanh_c * tanh_c)
    di, df, dg = dc * g, dc * c_prev, dc * i
    dz = np.concatenate(  # (4H, 1), back through each gate's nonlinearity
        [di * i * (1.0 - i), df * f * (1.0 - f), dg * (1.0 - g * g), do * o * (1.0 - o)]
    )
    dlayer["Wx"] += dz @ x.T
    dlayer["Wh"] += dz @ h_prev.T
    dlayer["b"] += dz
    return layer["Wx"].T @ dz, (layer["Wh"].T @ dz, dc * f)


LSTM = Cell("lstm", PARAM_NAMES, 2, init_layer, step, step_backward)


def lstm_loss_and_grads(params: dict, inputs: list, targets: list, state: tuple):
    """The lossFun of a one-layer LSTM.

    params:  Wx (4H, V), Wh (4H, H), b (4H, 1), Why (V, H), by (V, 1)
    inputs, targets: lists of T ids (an input of None is the zero vector)
    state:   (h, c), each (H, 1), before the first input
    Returns (loss, grads, (h, c)) with loss the sum over steps in nats and grads named
    dWx, dWh, db, dWhy, dby. For several layers use `charrnn.reference.loss_and_grads`.
    """
    if num_layers(LSTM, params) != 1:
        raise ValueError("lstm_loss_and_grads takes one layer; use loss_and_grads(params, 'lstm', ...)")
    loss, grads, new_state = stack_loss_and_grads(LSTM, params, inputs, targets, [tuple(state)])
    return loss, grads, new_state[0]
