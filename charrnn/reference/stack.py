"""The stack: L layers of one cell unrolled over T time steps, a linear head and a softmax.

Each cell file (rnn.py, lstm.py, gru.py) gives one time step of one layer, forward and
backward. This file runs those steps over layers and time and adds the head and the loss,
the same way for every cell:

                     y_0          y_1                  y_T-1      y_t = Why h_t + by   (V, 1)
                      ^            ^                     ^         p_t = softmax(y_t)
    layer L-1  s --> [ ] -------> [ ] ---> ... -------> [ ] --> s
      ...             ^            ^                     ^
    layer 0    s --> [ ] -------> [ ] ---> ... -------> [ ] --> s
                      ^            ^                     ^
                     x_0          x_1                  x_T-1      x_t = one_hot(inputs[t])   (V, 1)

    loss = sum_t -log p_t[targets[t]]; each s on the left is the state passed in, on the
    right the state returned.

A layer's state s is a tuple: (h,) for rnn and gru, (h, c) for lstm, each part (H, 1).
Its h is the input of the layer above; the top layer's h feeds the head.

Backward visits the grid in reverse: t from T-1 down to 0, and inside one step from the top
layer down. A step receives two gradients: `dh` from above (the head, or the layer above's
input gradient) and `dstate` from the same layer one step later. Nothing flows back into
the `state` passed in: this is truncated backpropagation through time, as in min-char-rnn.

Parameters live in one flat dict, so the optimiser and `clip` are plain loops over names:

    layer 0:      the cell's names as they are      e.g. Wxh, Whh, bh
    layer k >= 1: the same names with "_k" added    e.g. Wxh_1, Whh_1, bh_1
    head:         Why (V, H), by (V, 1)

A one-layer rnn is therefore exactly min-char-rnn's dict. Gradients use the same names with
a "d" in front (dWxh, dWxh_1, dWhy, ...).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

HEAD_NAMES = ("Why", "by")


class Cell(NamedTuple):
    """What a cell file provides; the stack needs nothing else to run it."""

    name: str
    param_names: tuple[str, ...]  # one layer's: input weight, recurrent weight, bias(es)
    state_size: int  # 1: state is (h,), 2: state is (h, c)
    init_layer: Callable  # (rng, input_size, hidden, scale) -> dict of arrays
    step: Callable  # (layer, x, state) -> (state, cache)
    step_backward: Callable  # (layer, dh, dstate, cache, dlayer) -> (dx, dstate_prev)


def layer_key(name: str, k: int) -> str:
    """The flat-dict key of parameter `name` in layer `k`: "Wxh", "Wxh_1", "Wxh_2", ..."""
    return name if k == 0 else f"{name}_{k}"


def num_layers(cell: Cell, params: dict) -> int:
    """How many layers `params` holds, counted by the first parameter's keys."""
    k = 0
    while layer_key(cell.param_names[0], k) in params:
        k += 1
    if k == 0:
        raise ValueError(
            f"these are not {cell.name} parameters: no {cell.param_names[0]!r} among "
            f"{sorted(params)}"
        )
    return k


def split_params(cell: Cell, params: dict) -> tuple[list[dict], dict]:
    """Flat dict -> (one dict per layer with the cell's plain names, the head's dict).

    The arrays are the same objects (no copies), so in-place updates reach `params`.
    """
    layers = []
    for k in range(num_layers(cell, params)):
        missing = [layer_key(n, k) for n in cell.param_names if layer_key(n, k) not in params]
        if missing:
            raise ValueError(f"{cell.name} layer {k} is missing {missing}")
        layers.append({n: params[layer_key(n, k)] for n in cell.param_names})
    missing = [n for n in HEAD_NAMES if n not in params]
    if missing:
        raise ValueError(f"the head is missing {missing}")
    return layers, {n: params[n] for n in HEAD_NAMES}


def hidden_size(cell: Cell, layers: list[dict]) -> int:
    """H, read off the recurrent weight (the second name), whose shape is (gates * H, H)."""
    return layers[0][cell.param_names[1]].shape[1]


def zero_state(cell: Cell, hidden: int, layers: int) -> list[tuple[np.ndarray, ...]]:
    """The all-zero state: one tuple per layer of `state_size` arrays (H, 1)."""
    return [tuple(np.zeros((hidden, 1)) for _ in range(cell.state_size)) for _ in range(layers)]


def one_hot(index: int | None, size: int) -> np.ndarray:
    """Column (size, 1) with a 1 at `index`; None gives the zero vector (a "start" input)."""
    x = np.zeros((size, 1))
    if index is not None:
        if not 0 <= index < size:
            raise ValueError(f"id {index} is outside the vocabulary of {size}")
        x[index] = 1.0
    return x


def sigmoid(a: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-a)); its derivative is sigmoid(a) * (1 - sigmoid(a))."""
    return 1.0 / (1.0 + np.exp(-a))


def softmax(y: np.ndarray) -> np.ndarray:
    """p_i = exp(y_i) / sum_j exp(y_j), computed after subtracting max(y) so exp cannot overflow."""
    e = np.exp(y - np.max(y))
    return e / np.sum(e)


def check_state(cell: Cell, state, layers: int, hidden: int) -> list[tuple[np.ndarray, ...]]:
    """`state` as a new list of per-layer tuples (zeros for None), after checking its layout."""
    if state is None:
        return zero_state(cell, hidden, layers)
    state = list(state)
    if len(state) != layers:
        raise ValueError(f"the state has {len(state)} layers, the parameters have {layers}")
    for s in state:
        if len(s) != cell.state_size:
            raise ValueError(f"a {cell.name} layer state has {cell.state_size} parts, got {len(s)}")
        for part in s:
            if np.shape(part) != (hidden, 1):
                raise ValueError(f"state arrays must be columns ({hidden}, 1), got {np.shape(part)}")
    return state


def step_all_layers(cell: Cell, layers: list[dict], head: dict, input_id: int | None, state: list):
    """One time step through every layer and the head.

    Returns (y, new_state, caches, h_top): logits y (V, 1), the new per-layer state (a new
    list; `state` is not changed), one backward cache per layer, and the top layer's h (H, 1).
    """
    x = one_hot(input_id, head["Why"].shape[0])  # (V, 1)
    new_state, caches = [], []
    for layer, s in zip(layers, state):
        s, cache = cell.step(layer, x, s)
        new_state.append(s)
        caches.append(cache)
        x = s[0]  # this layer's h (H, 1) is the input of the layer above
    y = head["Why"] @ x + head["by"]  # (V, 1)
    return y, new_state, caches, x


def stack_forward(cell: Cell, params: dict, inputs: list, state=None):
    """Logits for every step: (logits (T, V), final state). Used for sampling and parity tests."""
    layers, head = split_params(cell, params)
    state = check_state(cell, state, len(layers), hidden_size(cell, layers))
    ys = []
    for input_id in inputs:
        y, state, _, _ = step_all_layers(cell, layers, head, input_id, state)
        ys.append(y[:, 0])
    return np.array(ys).reshape(len(inputs), head["Why"].shape[0]), state


def stack_loss_and_grads(cell: Cell, params: dict, inputs: list, targets: list, state=None):
    """Forward and backward through L layers and T steps.

    inputs:  T ids (None = the zero vector); targets: T ids, the character after each input.
    state:   one tuple per layer, or None for zeros.
    Returns (loss, grads, final_state): loss is the SUM over steps of -log p_t[target_t] in
    nats (min-char-rnn's convention; divide by T for nats per character), grads maps
    "d" + key to an array shaped like params[key].
    """
    if len(inputs) != len(targets) or len(inputs) == 0:
        raise ValueError(f"need as many targets as inputs, at least one: {len(inputs)} and {len(targets)}")
    layers, head = split_params(cell, params)
    vocab = head["Why"].shape[0]
    if not all(isinstance(t, (int, np.integer)) and 0 <= t < vocab for t in targets):
        raise ValueError(f"targets must be ids in [0, {vocab}), got {targets}")
    hidden = hidden_size(cell, layers)
    state = check_state(cell, state, len(layers), hidden)

    # Forward: keep what the backward pass needs.
    caches, tops, probs = [], [], []
    loss = 0.0
    for input_id, target in zip(inputs, targets):
        y, state, step_caches, h_top = step_all_layers(cell, layers, head, input_id, state)
        p = softmax(y)  # (V, 1)
        loss += -np.log(p[target, 0])
        caches.append(step_caches)
        tops.append(h_top)
        probs.append(p)

    # Backward: gradients accumulate (+=) into these, one dict per layer and one for the head.
    dlayers = [{n: np.zeros_like(a) for n, a in layer.items()} for layer in layers]
    dhead = {n: np.zeros_like(a) for n, a in head.items()}
    dstate = zero_state(cell, hidden, len(layers))  # from step t+1; none after the last step
    for t in reversed(range(len(inputs))):
        dy = probs[t].copy()  # (V, 1): d loss_t / d y_t = p_t - one_hot(target_t)
        dy[targets[t]] -= 1.0
        dhead["Why"] += dy @ tops[t].T
        dhead["by"] += dy
        dh = head["Why"].T @ dy  # (H, 1)
        for k in reversed(range(len(layers))):
            dh, dstate[k] = cell.step_backward(layers[k], dh, dstate[k], caches[t][k], dlayers[k])
        # dh is now d loss / d x_t for the one-hot input: not needed.

    grads = {"d" + layer_key(n, k): d for k, dlayer in enumerate(dlayers) for n, d in dlayer.items()}
    grads.update({"d" + n: d for n, d in dhead.items()})
    return float(loss), grads, state
