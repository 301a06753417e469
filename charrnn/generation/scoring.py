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
2e-3 nats (a test checks this); `segments=1` computes the single stream exactly.

Lines mode scores every line from <bos>, including its <eos> (the model must know when to stop).

During training an eval may score a fixed subset of a large split (`max_chars`), so that evals cost
a small share of the run: in stream mode the first max_chars/32 characters of each of the 32
pieces, which lie evenly across the split; in lines mode a fixed random choice of whole lines
(seed 0, the same lines at every eval, so the curve is comparable). Pieces from all over the split
keep the standard error small; the end of a run scores the whole split, and reads the subset's
score off the same pass (score_split), which is what it compares with the evals' best.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from charrnn.data.batches import IGNORE, line_spans, pad_lines
from charrnn.device import autocast
from charrnn.generation.network import Network
from charrnn.model import CharRNN

SEGMENTS, BURN_IN, CHUNK = 32, 512, 512
LOGITS_PER_PIECE = 2**22  # logits computed at a time (16 MB in fp32; see nats)
LINE_CHUNK = 32  # steps of a batch of lines read at a time: the lines that ended drop out between them


def summary(total_nats: float, count: int) -> dict:
    loss = total_nats / max(count, 1)
    return {"loss_nats": loss, "bpc": loss / math.log(2), "perplexity": math.exp(min(loss, 700.0)), "chars": count}


@torch.inference_mode()
def score_stream(network: Network, ids: np.ndarray, dtype: str = "fp32", segments: int = SEGMENTS,
                 burn_in: int = BURN_IN, rank: int = 0, world_size: int = 1, max_chars: int = 0,
                 part_chars: int = 0) -> tuple[float, int, float, int]:
    """(sum of nats, predictions) for ids[1:] given everything before, as one carried-state stream
    (or, with max_chars, for the first max_chars/K characters of each of its K pieces), then the same
    two for the part that max_chars=part_chars would score, read off this pass (0, 0 without it).
    With several ranks, each scores the pieces k with k % world_size == rank (sum them afterwards)."""
    model, device = network.model, network.device
    n_pred = len(ids) - 1
    if n_pred <= 0:
        return 0.0, 0, 0.0, 0
    K = max(1, min(segments, n_pred // max(burn_in, 1)))  # pieces at least as long as the burn-in
    piece = math.ceil(n_pred / K)
    L = min(piece, math.ceil(max_chars / K)) if max_chars else piece
    part_len = min(L, math.ceil(part_chars / K)) if part_chars else 0  # each piece's first part_len
    starts = [k * piece for k in range(K) if k % world_size == rank]
    if not starts:
        return 0.0, 0, 0.0, 0
    state = model.init_state(len(starts), device)
    warm_rows = [i for i, s in enumerate(starts) if s > 0]
    if warm_rows:  # warm the pieces after the first on the text just before them
        warm = torch.stack([torch.from_numpy(ids[starts[i] - burn_in: starts[i]].astype(np.int64))
                            for i in warm_rows])  # (pieces, burn_in)
        with autocast(device, dtype):
            _, warmed = model(warm.to(device))
        state = tuple(z.index_copy(1, torch.tensor(warm_rows, device=device), w.to(z.dtype))
                      for z, w in zip(state, warmed))
    x = torch.full((len(starts), L), 0, dtype=torch.long)
    y = torch.full((len(starts), L), IGNORE, dtype=torch.long)
    count = part_count = 0
    for row, s in enumerate(starts):
        n = min(L, n_pred - s)
        x[row, :n] = torch.from_numpy(ids[s: s + n].astype(np.int64))
        y[row, :n] = torch.from_numpy(ids[s + 1: s + 1 + n].astype(np.int64))
        count, part_count = count + n, part_count + min(n, part_len)
    total = part_total = 0.0
    for t in range(0, L, CHUNK):
        part = None
        if t < part_len:  # the chunk's columns that lie in each piece's first part_len
            part = (torch.arange(t, min(t + CHUNK, L), device=device) < part_len).expand(len(starts), -1)
        with autocast(device, dtype):
            out, state = model.features(x[:, t: t + CHUNK].to(device), state)  # (pieces, chunk, H)
            chunk_total, chunk_part = nats(model, out, y[:, t: t + CHUNK].to(device), part)
        total, part_total = total + chunk_total, part_total + chunk_part
    return total, count, part_total, part_count


def nats(model: CharRNN, out: torch.Tensor, y: torch.Tensor, part: torch.Tensor | None = None) -> tuple[float, float]:
    """The summed cross-entropy of the output layer on features `out` (B, T, H) against y (B, T),
    and that of the positions where the mask `part` (B, T) is true (0 without one).
    Only the positions that are scored go through the output layer, not the padding after lines
    that end inside a chunk (7% of the positions of tang-poems' val split), LOGITS_PER_PIECE logits
    at a time: with thousands of characters the logits of a whole batch are hundreds of MB, and
    scoring in pieces was 1.5x faster than whole batches."""
    keep = y != IGNORE
    features, targets = out[keep], y[keep]  # (N, H), (N,)
    in_part = part[keep] if part is not None else None
    positions = max(1, LOGITS_PER_PIECE // model.config.vocab_size)
    total = part_total = 0.0
    for i in range(0, len(targets), positions):
        logits = model.readout(features[i: i + positions])
        losses = F.cross_entropy(logits.float(), targets[i: i + positions], reduction="none")
        total += losses.sum().item()
        if in_part is not None:
            part_total += losses[in_part[i: i + positions]].sum().item()
    return total, part_total


@torch.inference_mode()
def score_lines(network: Network, ids: np.ndarray, dtype: str = "fp32", batch_size: int = 256,
                max_len: int = 100_000, rank: int = 0, world_size: int = 1,
                part: np.ndarray | slice | None = None) -> tuple[float, int, float, int]:
    """(sum of nats, predictions) over every line of ids (each ending in <eos>), from <bos>, then the
    same two for the lines that the indices `part` choose (0, 0 without them), read off this pass.
    Lines are batched by length, and a batch is read LINE_CHUNK steps at a time, longest line first,
    so that the lines that have ended drop out: the steps computed are the characters scored, not
    batch x longest line (tang-poems' val split: 240,000 characters, padded to 413,000 before).
    With several ranks, each scores every world_size-th batch of lines."""
    model, device = network.model, network.device
    spans = line_spans(ids)
    in_part = np.zeros(len(spans), dtype=bool)
    if part is not None:
        in_part[part] = True
    order = np.argsort(spans[:, 1] - spans[:, 0], kind="stable")  # similar lengths pad less
    total, count, part_total, part_count = 0.0, 0, 0.0, 0
    for b, i in enumerate(range(0, len(spans), batch_size)):
        if b % world_size != rank:
            continue
        lines = order[i: i + batch_size][::-1]  # longest first
        x, y = pad_lines(ids, spans[lines], max_len)
        going = (y != IGNORE).sum(dim=1)  # each line's length, descending
        row_in_part = torch.from_numpy(in_part[lines].copy())
        count, part_count = count + int(going.sum()), part_count + int(going[row_in_part].sum())
        x, y, state, row_in_part = x.to(device), y.to(device), None, row_in_part.to(device)
        for t in range(0, x.shape[1], LINE_CHUNK):
            rows = int((going > t).sum())  # the lines still going: the first rows
            if state is not None:
                state = tuple(s[:, :rows].contiguous() for s in state)
            targets = y[:rows, t: t + LINE_CHUNK]
            chunk_part = row_in_part[:rows, None].expand_as(targets) if part is not None else None
            with autocast(device, dtype):
                out, state = model.features(x[:rows, t: t + LINE_CHUNK], state)
                chunk_total, chunk_part_total = nats(model, out, targets, chunk_part)
            total, part_total = total + chunk_total, part_total + chunk_part_total
    return total, count, part_total, part_count


def subset_lines(ids: np.ndarray, max_chars: int) -> np.ndarray:
    """The indices (in line_spans order) of a fixed random choice of whole lines with at most about
    max_chars tokens: the same lines for the same split, call after call."""
    spans = line_spans(ids)
    order = np.random.default_rng(0).permutation(len(spans))
    lengths = (spans[:, 1] - spans[:, 0])[order]
    return np.sort(order[: max(1, int(np.searchsorted(np.cumsum(lengths), max_chars, side="right")))])


def line_subset(ids: np.ndarray, max_chars: int) -> np.ndarray:
    """The ids of subset_lines' lines (each ending in <eos>), in their order in the split."""
    spans = line_spans(ids)
    return np.concatenate([ids[start:end] for start, end in spans[subset_lines(ids, max_chars)]])


def scores_part(n_ids: int, mode: str, max_chars: int, segments: int = SEGMENTS, burn_in: int = BURN_IN) -> bool:
    """Whether score_sums(..., max_chars) scores only part of a split of n_ids tokens (as it decides)."""
    if not max_chars:
        return False
    if mode != "stream":
        return n_ids > max_chars
    n_pred = n_ids - 1
    K = max(1, min(segments, n_pred // max(burn_in, 1)))
    return math.ceil(max_chars / K) < math.ceil(n_pred / K)


def score_sums(network: Network, ids: np.ndarray, dtype: str = "fp32", exact: bool = False, rank: int = 0,
               world_size: int = 1, max_chars: int = 0) -> tuple[float, int]:
    """(sum of nats, predictions) of a split, in eval mode; with max_chars > 0 and a larger split,
    of the fixed subset described above (scores_part says when). fp32 by default (`charrnn eval`,
    the Python API), so reported losses are comparable across machines; the training loop's evals
    pass the training precision, bf16 where it trains in bf16 (a test holds it within 1e-3 of fp32).
    With several ranks (torchrun), each scores its share; the caller sums the ranks' results."""
    with eval_mode(network.model):
        if network.mode == "stream":
            return score_stream(network, ids, dtype, segments=1 if exact else SEGMENTS,
                                rank=rank, world_size=world_size, max_chars=max_chars)[:2]
        if max_chars and len(ids) > max_chars:
            ids = line_subset(ids, max_chars)
        return score_lines(network, ids, dtype, rank=rank, world_size=world_size)[:2]


def score_split(network: Network, ids: np.ndarray, dtype: str, max_chars: int, rank: int = 0,
                world_size: int = 1) -> tuple[float, int, float, int]:
    """score_sums of the whole split, then of its subset with max_chars, both from one pass: the end
    of a run compares the last weights with the evals' best on the subset without scoring it again
    (tang-poems: 1.7 s of its 13 s last eval)."""
    with eval_mode(network.model):
        if network.mode == "stream":
            return score_stream(network, ids, dtype, rank=rank, world_size=world_size,
                                part_chars=max_chars or len(ids))
        part = subset_lines(ids, max_chars) if max_chars and len(ids) > max_chars else slice(None)  # or every line
        return score_lines(network, ids, dtype, rank=rank, world_size=world_size, part=part)


@contextmanager
def eval_mode(model: CharRNN) -> Iterator[None]:
    """The model in eval mode (no dropout) for the block, then back in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def score(network: Network, ids: np.ndarray, dtype: str = "fp32", exact: bool = False) -> dict:
    """The summary dict (loss_nats, bpc, perplexity, chars) of a text's ids, in one process."""
    return summary(*score_sums(network, ids, dtype, exact))
