"""Training with the numpy engine: a reusable `fit`, and min-char-rnn's loop (`minimal_loop`).

One update is always the same three lines:

    loss, grads, state = loss_and_grads(params, cell, inputs, targets, state)
    clip(grads, clip_value)            # element-wise, in place
    optimizer.step(params, grads)      # in place

Carrying `state` from one chunk to the next while the gradient stops at the chunk border
is truncated backpropagation through time: the model sees an unbroken stream of text but
each backward pass is only seq_len steps long.
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from .model import init_params, init_state, loss_and_grads
from .optim import Adagrad, clip
from .sampling import sample


def fit(
    params: dict,
    cell: str,
    batches: Iterable[tuple[list, list]],
    optimizer,
    clip_value: float | None = 5.0,
    state=None,
    carry_state: bool = True,
    on_step: Callable[[int, float], None] | None = None,
):
    """Train `params` in place on (inputs, targets) pairs of id lists; one update per pair.

    carry_state=True: the pairs are consecutive chunks of one stream (min-char-rnn); each
                      starts from the state the previous one ended in, first from `state`.
    carry_state=False: every pair starts from `state` (None: zeros), e.g. one name per pair
                      with inputs [None, c1, c2, ...] and targets [c1, c2, ..., "\\n"].
    clip_value: element-wise gradient clip (None: no clipping).
    on_step(step, loss) is called after each update with the loss in nats per character.
    Returns (losses, state): the nats per character of every pair, and the last state.
    """
    start_state = state
    losses = []
    for step, (inputs, targets) in enumerate(batches):
        if not carry_state:
            state = start_state
        loss, grads, state = loss_and_grads(params, cell, inputs, targets, state)
        if clip_value is not None:
            clip(grads, clip_value)
        optimizer.step(params, grads)
        losses.append(loss / len(inputs))
        if on_step is not None:
            on_step(step, losses[-1])
    return losses, state


def minimal_loop(
    text: str,
    cell: str = "rnn",
    hidden: int = 100,
    layers: int = 1,
    seq_len: int = 25,
    lr: float = 0.1,
    iters: int = 10_000,
    seed: int = 0,
    print_every: int = 100,
    sample_len: int = 200,
    out: Callable[[str], None] = print,
) -> float:
    """min-char-rnn's training loop on `text`: Adagrad, clip 5, sample and loss every
    `print_every` iterations. Returns the final smoothed loss.

    The loss printed is min-char-rnn's: nats summed over one chunk of seq_len characters,
    smoothed as 0.999 * old + 0.001 * new, starting from the loss of a uniform guess.
    The vocabulary is the sorted set of characters in `text`.
    """
    if len(text) < 2:
        raise ValueError("the text needs at least 2 characters (an input and its target)")
    chars = sorted(set(text))
    char_to_ix = {ch: i for i, ch in enumerate(chars)}
    data = [char_to_ix[ch] for ch in text]
    vocab_size = len(chars)
    seq_len = min(seq_len, len(data) - 1)  # a short text is one short chunk
    out(f"data has {len(data)} characters, {vocab_size} unique.")

    params = init_params(cell, vocab_size, hidden, layers, seed)
    optimizer = Adagrad(lr)
    rng = np.random.default_rng(seed)
    smooth_loss = -np.log(1.0 / vocab_size) * seq_len  # loss at iteration 0
    p, state = 0, None
    for n in range(iters):
        if n == 0 or p + seq_len + 1 > len(data):
            p, state = 0, init_state(params, cell)  # go back to the start, forget the past
        inputs = data[p : p + seq_len]
        targets = data[p + 1 : p + seq_len + 1]

        if n % print_every == 0:
            ids = sample(params, cell, inputs[0], state, sample_len, 1.0, rng)
            out("----\n %s \n----" % "".join(chars[i] for i in ids))

        loss, grads, state = loss_and_grads(params, cell, inputs, targets, state)
        smooth_loss = smooth_loss * 0.999 + loss * 0.001
        if n % print_every == 0:
            out(f"iter {n}, loss: {smooth_loss:f}")

        clip(grads, 5.0)
        optimizer.step(params, grads)
        p += seq_len
    out(f"done: {iters} iterations, loss: {smooth_loss:f}")
    return float(smooth_loss)
