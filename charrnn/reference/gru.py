"""The GRU cell, exactly as PyTorch computes it (gate order [r, z, n]).

    gx  = Wx x_t + bx                        (3H, 1) input side, blocks [r, z, n]
    gh  = Wh h_{t-1} + bh                    (3H, 1) hidden side, blocks [r, z, n]
    r   = sigmoid(gx_r + gh_r)               reset gate
    z   = sigmoid(gx_z + gh_z)               update gate
    n   = tanh(gx_n + r * gh_n)              candidate state
    h_t = (1 - z) * n + z * h_{t-1}

The reset gate multiplies the hidden side *including its bias* (r * (W_hn h + b_hn)), so
the two biases do not add up for the n block: unlike rnn and lstm, the GRU keeps both.

One layer's parameters (I is the input size: V for the first layer, H above it):

    Wx (3H, I)    Wh (3H, H)    bx (3H, 1)    bh (3H, 1)

State: (h,) with h (H, 1). These are PyTorch's weight_ih, weight_hh, bias_ih, bias_hh.
"""

from __future__ import annotations

import numpy as np

from .stack import Cell, num_layers, sigmoid, stack_loss_and_grads

PARAM_NAMES = ("Wx", "Wh", "bx", "bh")


def init_layer(rng: np.random.Generator, input_size: int, hidden: int, scale: float) -> dict:
    """Small random weights (N(0, scale^2)) and zero biases."""
    return {
        "Wx": rng.standard_normal((3 * hidden, input_size)) * scale,
        "Wh": rng.standard_normal((3 * hidden, hidden)) * scale,
        "bx": np.zeros((3 * hidden, 1)),
        "bh": np.zeros((3 * hidden, 1)),
    }


def step(layer: dict, x: np.ndarray, state: tuple) -> tuple[tuple, tuple]:
    """h = (1 - z) * n + z * h_prev.    x (I, 1), state (h_prev,) -> ((h,), cache)"""
    (h_prev,) = state
    gx_r, gx_z, gx_n = np.split(layer["Wx"] @ x + layer["bx"], 3)  # each (H, 1)
    gh_r, gh_z, gh_n = np.split(layer["Wh"] @ h_prev + layer["bh"], 3)  # each (H, 1)
    r = sigmoid(gx_r + gh_r)
    z = sigmoid(gx_z + gh_z)
    n = np.tanh(gx_n + r * gh_n)
    h = (1.0 - z) * n + z * h_prev  # (H, 1)
    return (h,), (x, h_prev, r, z, n, gh_n)


def step_backward(layer: dict, dh: np.ndarray, dstate: tuple, cache: tuple, dlayer: dict):
    """Gradients of one step; parameter gradients are added into `dlayer`.

    dh comes from above, dstate = (dh_next,) from the next step. Writing a_r, a_z, a_n for
    the pre-activations of r, z, n:

        dh    = dh + dh_next
        dn    = dh * (1 - z)       dz = dh * (h_prev - n)       dh_prev = dh * z  (+ below)
        da_n  = dn * (1 - n^2)     dr = da_n * gh_n
        da_r  = dr * r(1-r)        da_z = dz * z(1-z)
        dgx   = [da_r, da_z, da_n]            dgh = [da_r, da_z, da_n * r]      (3H, 1)
        dWx  += dgx x^T    dbx += dgx    dWh += dgh h_prev^T    dbh += dgh
        dx    = Wx^T dgx   dh_prev += Wh^T dgh

    Returns (dx (I, 1), (dh_prev (H, 1),)).
    """
    x, h_prev, r, z, n, gh_n = cache
    dh = dh + dstate[0]
    dn = dh * (1.0 - z)
    dz = dh * (h_prev - n)
    da_n = dn * (1.0 - n * n)
    dr = da_n * gh_n
    da_r = dr * r * (1.0 - r)
    da_z = dz * z * (1.0 - z)
    dgx = np.concatenate([da_r, da_z, da_n])  # (3H, 1)
    dgh = np.concatenate([da_r, da_z, da_n * r])  # (3H, 1): r scales the hidden side of n
    dlayer["Wx"] += dgx @ x.T
    dlayer["bx"] += dgx
    dlayer["Wh"] += dgh @ h_prev.T
    dlayer["bh"] += dgh
    dh_prev = dh * z + layer["Wh"].T @ dgh
    return layer["Wx"].T @ dgx, (dh_prev,)


GRU = Cell("gru", PARAM_NAMES, 1, init_layer, step, step_backward)


def gru_loss_and_grads(params: dict, inputs: list, targets: list, h_prev: np.ndarray):
    """The lossFun of a one-layer GRU.

    params:  Wx (3H, V), Wh (3H, H), bx (3H, 1), bh (3H, 1), Why (V, H), by (V, 1)
    inputs, targets: lists of T ids (an input of None is the zero vector)
    h_prev:  (H, 1), the hidden state before the first input
    Returns (loss, grads, h_last) with loss the sum over steps in nats and grads named
    dWx, dWh, dbx, dbh, dWhy, dby. For several layers use `charrnn.reference.loss_and_grads`.
    """
    if num_layers(GRU, params) != 1:
        raise ValueError("gru_loss_and_grads takes one layer; use loss_and_grads(params, 'gru', ...)")
    loss, grads, state = stack_loss_and_grads(GRU, params, inputs, targets, [(h_prev,)])
    return loss, grads, state[0][0]
