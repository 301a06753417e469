"""Sampling: feed the model its own output one character at a time.

At each step the logits y are divided by the temperature before the softmax,

    p = softmax(y / temperature)

so a temperature below 1 sharpens the distribution (towards the most likely character) and
above 1 flattens it; temperature 0 (or below) means argmax. The random choice uses only the
`rng` passed in, so the same generator state gives the same characters.
"""

from __future__ import annotations

import numpy as np

from .model import get_cell
from .stack import check_state, hidden_size, softmax, split_params, step_all_layers


def pick(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """One id from logits (V, 1) or (V,): argmax if temperature <= 0, else a draw from
    softmax(logits / temperature)."""
    y = np.asarray(logits, dtype=np.float64).ravel()
    if temperature <= 0:
        return int(np.argmax(y))
    p = softmax(y / temperature)
    return int(rng.choice(len(p), p=p))


def sample(
    params: dict,
    cell: str,
    seed_id: int | None,
    state=None,
    n: int = 200,
    temperature: float = 1.0,
    rng: np.random.Generator | None = None,
    stop_id: int | None = None,
) -> list[int]:
    """Generate up to n ids, starting from `seed_id` (None: the zero vector, "start of line").

    state is one tuple per layer (None: zeros); it is not modified. The seed itself is not
    part of the result, as in min-char-rnn. With stop_id, generation ends after that id
    (e.g. the newline ending a name). rng defaults to a fresh, unseeded generator.
    """
    c = get_cell(cell)
    layers, head = split_params(c, params)
    state = check_state(c, state, len(layers), hidden_size(c, layers))
    rng = np.random.default_rng() if rng is None else rng
    ids: list[int] = []
    input_id = seed_id
    for _ in range(n):
        y, state, _, _ = step_all_layers(c, layers, head, input_id, state)
        input_id = pick(y, temperature, rng)
        ids.append(input_id)
        if input_id == stop_id:
            break
    return ids
