"""Scoring text: mean cross-entropy in nats per character over a whole split.

Stream mode scores the text as one carried-state stream: every character is predicted from
everything before it. One stream read one character at a time is slow (a matrix-vector product
per character), so by default the text is cut into `segments` pieces scored side by side, and
each piece is first fed the `burn_in` characters that precede it (not scored), so its state is
warmed on the same context the single stream would have had:

    text     |---- piece 0 ----|---- piece 1 ----|---- piece 2 ----|
    piece 1          [burn-in ]|scored ..........|
    piece 2                            [burn-in ]|scored ..........|

With a burn-in of a few hundred characters the result equals the single stream's to about
1e-3 nats (a test checks this); `segments=1` computes the single stream exactly.

Lines mode scores every line from <bos>, including its <eos> (the model must know when to stop).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from charrnn.batches import IGNORE, line_spans, pad_lines
from charrnn.common import autocast
from charrnn.model import CharRNN

SEGMENTS, BURN_IN, CHUNK = 32, 512, 512


def summary(total_nats: float, count: int) -> dict:
    loss = total_nats / max(count, 1)
    return {"loss_nats": loss, "bpc": loss / math.log(2), "perplexity": math.exp(min(loss, 700.0)), "chars": count}


@torch.inference_mode()
def score_stream(model: CharRNN, ids: np.ndarray, device: torch.device, dtype: str = "fp32",
                 segments: int = SEGMENTS, burn_in: int = BURN_IN) -> tuple[float, int]:
    """(sum of nats, predictions) for ids[1:] given everything before, as one carried-state stream."""
    n_pred = len(ids) - 1
    if n_pred <= 0:
        return 0.0, 0
    K = max(1, min(segments, n_pred // max(burn_in, 1)))  # pieces at least as long as the burn-in
    L = math.ceil(n_pred / K)
    starts = [k * L for k in range(K)]
    tokens = torch.from_numpy(ids.astype(np.int64))
    state = model.init_state(K, device)
    if K > 1:  # warm pieces 1..K-1 on the text just before them
        warm = torch.stack([tokens[s - min(burn_in, s): s][-burn_in:] for s in starts[1:]])  # (K-1, W)
        with autocast(device, dtype):
            _, warmed = model(warm.to(device))
        state = tuple(torch.cat([z[:, :1], w.to(z.dtype)], dim=1) for z, w in zip(state, warmed))
    x = torch.full((K, L), 0, dtype=torch.long)
    y = torch.full((K, L), IGNORE, dtype=torch.long)
    for k, s in enumerate(starts):
        n = min(L, n_pred - s)
        x[k, :n], y[k, :n] = tokens[s: s + n], tokens[s + 1: s + 1 + n]
    total = 0.0
    for t in range(0, L, CHUNK):
        with autocast(device, dtype):
            logits, state = model(x[:, t: t + CHUNK].to(device), state)  # (K, chunk, V)
        total += F.cross_entropy(logits.float().flatten(0, 1), y[:, t: t + CHUNK].to(device).flatten(),
                                 ignore_index=IGNORE, reduction="sum").item()
    return total, n_pred


@torch.inference_mode()
def score_lines(model: CharRNN, ids: np.ndarray, device: torch.device, dtype: str = "fp32",
                batch_size: int = 256, max_len: int = 100_000) -> tuple[float, int]:
    """(sum of nats, predictions) over every line of ids (each ending in <eos>), from <bos>."""
    spans = line_spans(ids)
    if len(spans) == 0:
        return 0.0, 0
    spans = spans[np.argsort(spans[:, 1] - spans[:, 0], kind="stable")]  # similar lengths pad less
    total, count = 0.0, 0
    for i in range(0, len(spans), batch_size):
        x, y = pad_lines(ids, spans[i: i + batch_size], max_len)
        with autocast(device, dtype):
            logits, _ = model(x.to(device))
        y = y.to(device)
        total += F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=IGNORE,
                                 reduction="sum").item()
        count += int((y != IGNORE).sum())
    return total, count


def score(model: CharRNN, ids: np.ndarray, mode: str, device: torch.device, dtype: str = "fp32",
          exact: bool = False) -> dict:
    """The summary dict (loss_nats, bpc, perplexity, chars) of a split, in eval mode. fp32 by default,
    whatever the training precision, so reported losses are comparable across machines."""
    was_training = model.training
    model.eval()
    try:
        if mode == "stream":
            total, count = score_stream(model, ids, device, dtype, segments=1 if exact else SEGMENTS)
        else:
            total, count = score_lines(model, ids, device, dtype)
    finally:
        model.train(was_training)
    return summary(total, count)

