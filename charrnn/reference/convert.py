"""Weights between the numpy engine and the PyTorch CharRNN, both ways, in numpy only.

Both sides are dicts of numpy arrays; the caller turns tensors into arrays
(`{k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}`) and back
(`model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})`, which also casts
to the model's dtype). No torch import here, so the reference engine runs without it.

Layer k's torch names end in `_l{k}`; its numpy names end in `_{k}` except layer 0 (see
stack.py). Weights are copied as they are: numpy keeps PyTorch's gate order (LSTM rows
[i, f, g, o], GRU rows [r, z, n]). Biases are columns (N, 1) in numpy and vectors (N,) in
torch.

    cell   numpy          PyTorch state dict
    ----   -------------  -------------------------------------------------------
    rnn    Wxh  (H, I)    rnn.weight_ih_l{k}
           Whh  (H, H)    rnn.weight_hh_l{k}
           bh   (H, 1)    rnn.bias_ih_l{k} + rnn.bias_hh_l{k}        (sum)
    lstm   Wx   (4H, I)   rnn.weight_ih_l{k}
           Wh   (4H, H)   rnn.weight_hh_l{k}
           b    (4H, 1)   rnn.bias_ih_l{k} + rnn.bias_hh_l{k}        (sum)
    gru    Wx   (3H, I)   rnn.weight_ih_l{k}
           Wh   (3H, H)   rnn.weight_hh_l{k}
           bx   (3H, 1)   rnn.bias_ih_l{k}
           bh   (3H, 1)   rnn.bias_hh_l{k}           (kept apart: r multiplies b_hn)
    all    Why  (V, H)    head.weight
           by   (V, 1)    head.bias
           (none)         embedding.weight (V, E)    folded in, see below

The rule behind the table: a numpy parameter is the SUM of its torch parameters. Going to
torch, the first gets the value and the others zeros (rnn and lstm: bias_hh = 0). Hence:
numpy -> torch -> numpy is exact; torch -> numpy -> torch gives the same function but
moves all of bias_hh into bias_ih. The gradient of each torch parameter equals the
gradient of the numpy parameter it sums into (what the parity tests check).

Embedding: the numpy engine feeds one-hot vectors, and a one-hot vector times a matrix is
a column of it, so an embedding followed by W_ih is the single input weight

    W_ih @ E.T     (G, E) @ (E, V) -> (G, V)

`from_torch_state_dict` folds a model's `embedding.weight` in this way (the same function,
up to float rounding of one product). `to_torch_state_dict` always produces the one-hot
model (config embed=0): there is no way back to a separate embedding. Dropout has no
parameters and is not part of the numpy engine (PyTorch's eval mode matches it).
"""

from __future__ import annotations

import numpy as np

from .model import get_cell
from .stack import layer_key, num_layers

# One layer: numpy name -> torch names (without "rnn." and "_l{k}") that sum into it.
LAYER_TABLE = {
    "rnn": {"Wxh": ("weight_ih",), "Whh": ("weight_hh",), "bh": ("bias_ih", "bias_hh")},
    "lstm": {"Wx": ("weight_ih",), "Wh": ("weight_hh",), "b": ("bias_ih", "bias_hh")},
    "gru": {"Wx": ("weight_ih",), "Wh": ("weight_hh",), "bx": ("bias_ih",), "bh": ("bias_hh",)},
}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}  # blocks of H rows in each weight and bias
HEAD_TABLE = {"Why": ("head.weight",), "by": ("head.bias",)}
EMBEDDING = "embedding.weight"


def torch_names(cell: str, layers: int) -> dict[str, tuple[str, ...]]:
    """Every numpy parameter name -> the torch state-dict names whose sum it is."""
    get_cell(cell)  # a clear error for an unknown cell
    names = {}
    for k in range(layers):
        for name, parts in LAYER_TABLE[cell].items():
            names[layer_key(name, k)] = tuple(f"rnn.{part}_l{k}" for part in parts)
    names.update(HEAD_TABLE)
    return names


def is_bias(name: str) -> bool:
    """Biases are named b...: columns (N, 1) in numpy, vectors (N,) in torch."""
    return name.startswith("b")


def to_torch_state_dict(params: dict, cell: str) -> dict[str, np.ndarray]:
    """numpy parameters -> the CharRNN state dict of a one-hot model (embed=0), as float64 copies."""
    layers = num_layers(get_cell(cell), params)
    state_dict = {}
    for name, parts in torch_names(cell, layers).items():
        value = np.array(params[name], dtype=np.float64)  # a copy
        if is_bias(name):
            value = value[:, 0]  # (N, 1) -> (N,)
        state_dict[parts[0]] = value
        for other in parts[1:]:
            state_dict[other] = np.zeros_like(value)
    return state_dict


def first_name(cell: str) -> str:
    """Layer 0's input weight: Wxh (rnn) or Wx (lstm, gru)."""
    return next(iter(LAYER_TABLE[cell]))


def count_torch_layers(state_dict: dict) -> int:
    """Layers in a torch state dict: how many rnn.weight_ih_l{k} there are."""
    k = 0
    while f"rnn.weight_ih_l{k}" in state_dict:
        k += 1
    return k


def check_gate_rows(state_dict: dict, cell: str, layers: int) -> None:
    """The key names of rnn, lstm and gru are the same: the row counts tell them apart."""
    for k in range(layers):
        hidden = np.shape(state_dict[f"rnn.weight_hh_l{k}"])[-1]
        rows = GATES[cell] * hidden
        for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            shape = np.shape(state_dict[f"rnn.{part}_l{k}"])
            if shape[0] != rows:
                raise ValueError(
                    f"rnn.{part}_l{k} has {shape[0]} rows; a {cell} with hidden size {hidden} "
                    f"has {rows} ({GATES[cell]} x {hidden}): is this another cell?"
                )


def from_torch_state_dict(state_dict: dict, cell: str, layers: int | None = None) -> dict[str, np.ndarray]:
    """A CharRNN state dict (arrays) -> numpy parameters (float64 copies).

    layers defaults to the number found in the state dict. An `embedding.weight` is folded
    into layer 0's input weight (see the module docstring). Missing or unexpected keys are
    an error, so a state dict of another cell or depth cannot half-load.
    """
    layers = count_torch_layers(state_dict) if layers is None else layers
    if layers < 1:
        raise ValueError(f"no rnn.weight_ih_l0 among {sorted(state_dict)}: not a CharRNN state dict")
    names = torch_names(cell, layers)
    expected = {part for parts in names.values() for part in parts}
    present = set(state_dict) - {EMBEDDING}
    if present != expected:
        missing, unexpected = sorted(expected - present), sorted(present - expected)
        raise ValueError(
            f"not a {layers}-layer {cell} state dict: missing {missing}, unexpected {unexpected}"
        )

    check_gate_rows(state_dict, cell, layers)

    params = {}
    for name, parts in names.items():
        value = np.array(state_dict[parts[0]], dtype=np.float64)  # a copy, never a view
        for other in parts[1:]:
            value = value + np.asarray(state_dict[other], dtype=np.float64)
        params[name] = value[:, None] if is_bias(name) else value  # bias (N,) -> (N, 1)

    first = first_name(cell)
    if EMBEDDING in state_dict:
        embedding = np.asarray(state_dict[EMBEDDING], dtype=np.float64)  # (V, E)
        if params[first].shape[1] != embedding.shape[1]:
            raise ValueError(
                f"embedding.weight is {embedding.shape} but rnn.weight_ih_l0 takes "
                f"{params[first].shape[1]} inputs"
            )
        params[first] = params[first] @ embedding.T  # (G, E) @ (E, V) -> (G, V)
    if params[first].shape[1] != params["Why"].shape[0]:
        raise ValueError(
            f"layer 0 takes {params[first].shape[1]} inputs but the head has "
            f"{params['Why'].shape[0]} outputs: a one-hot model needs both to be the vocabulary size"
        )
    return params


def to_torch_state(state: list) -> tuple[np.ndarray, ...]:
    """numpy state [(h, c), ...] (one tuple per layer) -> torch's (h, c), each (L, 1, H)."""
    parts = len(state[0])
    return tuple(np.stack([layer_state[j][:, 0] for layer_state in state])[:, None, :] for j in range(parts))


def from_torch_state(state: tuple) -> list[tuple[np.ndarray, ...]]:
    """torch's (h,) or (h, c), each (L, 1, H) for a batch of one -> numpy [(h, c), ...]."""
    layers, batch, _ = np.shape(state[0])
    if batch != 1:
        raise ValueError(f"the numpy engine runs one sequence at a time; this state has batch {batch}")
    return [tuple(np.array(part[k, 0][:, None], dtype=np.float64) for part in state) for k in range(layers)]

