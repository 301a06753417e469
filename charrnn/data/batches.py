"""Training batches for the two modes, with a position that can be saved and restored exactly.

Stream mode (truncated BPTT, as char-rnn): the text is cut into B strips, one per stream, and
the streams are read side by side, T characters a step:

    ids      a b c d e f g h i j k l m n o p q r s t u v w x
    strip 0  a b c d e f g h           step 0: x = a b c d   y = b c d e
    strip 1  i j k l m n o p                   x = i j k l   y = j k l m
    strip 2  q r s t u v w x           step 1: x = e f g h ...

Each step continues every strip where the last one stopped, so the hidden state carried over
from the last batch is the true context of the next. Each pass over the data (epoch) starts
the strips at a new offset in [0, T) so the chunk edges fall elsewhere, and resets the state.

Lines mode: each step takes B whole samples and pads them to the longest of them:

    x = <bos> c1 ... cn  pad pad        y = c1 ... cn <eos> -100 -100   (-100: no loss)

Every sample is taken exactly once per epoch, whole (unless the user's --seq-len is shorter). So
that one long poem does not make 31 short ones pad to its length, each epoch shuffles the
samples, sorts them by length within pools of POOL batches, cuts the pools into batches and
shuffles the batches: a batch holds samples of about one length, in a random order of batches.
The epoch's last batch, when the samples do not fill it, is topped up with empty rows (no loss).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from charrnn.errors import CharRNNError, warn
from charrnn.vocab import BOS, EOS

IGNORE = -100  # the target id that cross_entropy skips (padding)
POOL = 50  # lines mode: batches whose samples are sorted by length together (see above)


@dataclass
class Batch:
    x: torch.Tensor  # (B, T) input ids
    y: torch.Tensor  # (B, T) target ids, IGNORE where padded
    new_epoch: bool  # stream mode: the carried state must be reset before this batch


@dataclass
class Position:
    """Where the batches are: enough to continue exactly after a restart."""

    epoch: int = 0
    index: int = 0  # batches already taken in this epoch


def _epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    # Derived from (seed, epoch) rather than carried along, so a position alone restores it.
    return np.random.default_rng([seed, epoch])


class StreamBatches:
    def __init__(self, ids: np.ndarray, batch_size: int, seq_len: int, seed: int = 0) -> None:
        self.ids, self.B, self.T, self.seed = ids, batch_size, seq_len, seed
        # The shortest strip any epoch can have (offset T-1) must hold one step of T+1 characters.
        if (len(ids) - (seq_len - 1)) // batch_size < seq_len + 1:
            need = batch_size * (seq_len + 1) + seq_len - 1
            raise CharRNNError(f"the training text is too short for one batch: {len(ids):,} characters, "
                               f"need {need:,} for --batch-size {batch_size} x --seq-len {seq_len}; "
                               f"lower them or add text")
        self.position = Position()

    def _layout(self, epoch: int) -> tuple[int, int, int]:
        """(offset, strip length, steps) for an epoch."""
        offset = int(_epoch_rng(self.seed, epoch).integers(self.T)) if epoch > 0 else 0
        strip = (len(self.ids) - offset) // self.B
        return offset, strip, (strip - 1) // self.T

    def next(self) -> Batch:
        pos = self.position
        offset, strip, steps = self._layout(pos.epoch)
        if pos.index >= steps:
            pos.epoch, pos.index = pos.epoch + 1, 0
            offset, strip, steps = self._layout(pos.epoch)
        new_epoch = pos.index == 0
        start = offset + pos.index * self.T
        rows = np.stack([self.ids[start + b * strip: start + b * strip + self.T + 1] for b in range(self.B)])
        chunk = torch.from_numpy(rows.astype(np.int64))  # (B, T+1)
        pos.index += 1
        return Batch(chunk[:, :-1], chunk[:, 1:], new_epoch)

    def epoch_steps(self) -> int:
        """Steps in a pass over the training text (the first; a later one, starting at a random offset,
        may be a step shorter)."""
        return self._layout(0)[2]

    def epochs(self) -> float:
        """Passes over the training text so far, with the fraction of the current one."""
        pos = self.position
        return pos.epoch + pos.index / max(1, self._layout(pos.epoch)[2])


def line_spans(ids: np.ndarray) -> np.ndarray:
    """(N, 2) start/end of every sample; each sample ends with its <eos> (end exclusive)."""
    ends = np.flatnonzero(ids == EOS) + 1
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    return np.stack([starts, ends], axis=1)


def pad_lines(ids: np.ndarray, spans: np.ndarray, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples -> (x, y) of shape (B, L), L = longest sample + 1 (for <bos>), at most max_len."""
    lengths = np.minimum(spans[:, 1] - spans[:, 0], max_len)
    L = int(lengths.max())
    x = np.full((len(spans), L), EOS, dtype=np.int64)
    y = np.full((len(spans), L), IGNORE, dtype=np.int64)
    for row, ((start, _), n) in enumerate(zip(spans, lengths)):
        sample = ids[start: start + n]  # c1 .. cn <eos> (cut at max_len)
        x[row, 0] = BOS
        x[row, 1:n] = sample[: n - 1]
        y[row, :n] = sample
    return torch.from_numpy(x), torch.from_numpy(y)


class LineBatches:
    def __init__(self, ids: np.ndarray, batch_size: int, seq_len: int, seed: int = 0) -> None:
        self.ids, self.B, self.T, self.seed = ids, batch_size, seq_len, seed
        self.spans = line_spans(ids)
        if len(self.spans) < batch_size:
            raise CharRNNError(f"the training set has {len(self.spans)} lines, fewer than one batch "
                               f"(--batch-size {batch_size}); lower --batch-size or add lines")
        self.lengths = self.spans[:, 1] - self.spans[:, 0]  # with the <eos>; the row is one longer (<bos>)
        too_long = int((self.lengths > seq_len).sum())
        if too_long:
            warn(f"{too_long} of {len(self.spans)} lines are longer than --seq-len {seq_len} and are cut "
                 f"(their end is not learned); raise --seq-len to keep them whole")
        self.steps = -(-len(self.spans) // batch_size)  # batches per epoch
        self.position = Position()
        self._batches_epoch, self._batches = -1, []

    def batches_of(self, epoch: int) -> list[np.ndarray]:
        """The epoch's batches, as indices of samples (derived from the seed and the epoch alone)."""
        if epoch != self._batches_epoch:
            rng = _epoch_rng(self.seed, epoch)
            order = rng.permutation(len(self.spans))
            pool = POOL * self.B
            for start in range(0, len(order), pool):  # sort each pool by length (stable: ties stay shuffled)
                chunk = order[start: start + pool]
                order[start: start + pool] = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches = [order[i: i + self.B] for i in range(0, len(order), self.B)]
            self._batches_epoch, self._batches = epoch, [batches[i] for i in rng.permutation(len(batches))]
        return self._batches

    def next(self) -> Batch:
        pos = self.position
        if pos.index >= self.steps:
            pos.epoch, pos.index = pos.epoch + 1, 0
        chosen = self.batches_of(pos.epoch)[pos.index]
        x, y = pad_lines(self.ids, self.spans[chosen], self.T)
        if len(chosen) < self.B:  # the epoch's last samples: empty rows (all padding) fill the batch
            fill = self.B - len(chosen)
            x = torch.cat([x, torch.full((fill, x.shape[1]), EOS, dtype=x.dtype)])
            y = torch.cat([y, torch.full((fill, y.shape[1]), IGNORE, dtype=y.dtype)])
        pos.index += 1
        return Batch(x, y, new_epoch=False)

    def epoch_steps(self) -> int:
        """Steps in a pass over the training samples."""
        return self.steps

    def epochs(self) -> float:
        """Passes over the training samples so far, with the fraction of the current one."""
        return self.position.epoch + self.position.index / self.steps


def make_batches(ids: np.ndarray, mode: str, batch_size: int, seq_len: int, seed: int):
    cls = StreamBatches if mode == "stream" else LineBatches
    return cls(ids, batch_size, seq_len, seed)

