"""From ids to text as it is written, once for every caller: the Python API (TrainedModel.generate
and stream, through samples.py), the CLI, the server (/api/generate, /v1/completions) and the
training loop's samples.

    text_steps   the one step loop: per step, each sample's next character (None once it has ended)
    Transcript   the samples' text so far, cut at the stop strings, with each one's finish reason
    StopCutter   one sample's text, released as it comes, holding back only what may begin a stop
    written_pieces  the steps through a Transcript, as (sample, text) in the order written
    cut_sample   a finished Sample cut at the first stop string
    random_seed, make_generator, prime_warning, stop_list: the small shared helpers

A sample's finish reason, as OpenAI's: "stop" when it met a stop string or its end token,
"length" when it wrote all the characters asked for.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import torch

from charrnn.generation.decoding import Constraint, Sample
from charrnn.generation.network import Network
from charrnn.generation.options import SamplingOptions
from charrnn.generation.rows import sample_ids
from charrnn.vocab import EOS


def random_seed() -> int:
    """A fresh seed, for a caller that gave none (the server returns it, so the text can be written again)."""
    return int.from_bytes(os.urandom(4), "little")


def make_generator(device: torch.device, seed: int | None) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(random_seed() if seed is None else seed)


def stop_list(stop: str | Sequence[str] | None) -> list[str]:
    """One stop string, several, or none; empty strings stop nothing."""
    if stop is None:
        return []
    return [s for s in ([stop] if isinstance(stop, str) else stop) if s]


def prime_warning(network: Network, prime: str) -> str | None:
    """Characters the network has never seen are read as <unk>: worth a warning, not an error."""
    unknown = network.vocab.unknown(prime)
    if network.mode == "lines":
        unknown.pop("\n", None)
    if not unknown:
        return None
    shown = "".join(sorted(unknown))[:20]
    return f"{sum(unknown.values())} prime character(s) not in the vocabulary ({shown!r}) are read as <unk>"


def text_steps(network: Network, prime: str, length: int, options: SamplingOptions, seed: int | None, num: int = 1,
               constraint: Constraint | None = None) -> Iterator[list[str | None]]:
    """Yield, once per step, the next character of each of `num` samples (None once a sample has ended).

    The prime is read in one forward call; then one character at a time is sampled and fed back
    (charrnn.generation.rows.sample_ids). Lines-mode runs start from <bos> and end a sample at <eos>.
    """
    steps = sample_ids(network, prime, length, options, make_generator(network.device, seed), num, constraint)
    decode = network.vocab.decode
    try:
        for ids, _ in steps:
            yield [None if i is None or i == EOS else decode([i]) for i in ids]
    finally:
        steps.close()


class StopCutter:
    """Releases a sample's text as it comes, holding back only what may begin a stop string."""

    def __init__(self, stops: list[str]) -> None:
        self.stops, self.pending, self.stopped = stops, "", False

    def feed(self, text: str) -> str:
        if not self.stops:  # the common case, once per character: nothing to hold back
            return text
        self.pending += text
        hits = [self.pending.index(s) for s in self.stops if s in self.pending]
        if hits:
            out, self.pending, self.stopped = self.pending[: min(hits)], "", True
            return out
        keep = max((_overlap(self.pending, s) for s in self.stops), default=0)
        out = self.pending[: len(self.pending) - keep]
        self.pending = self.pending[len(out):]
        return out

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


def _overlap(text: str, stop: str) -> int:
    """Length of the longest end of `text` that is a proper beginning of `stop`."""
    for n in range(min(len(text), len(stop) - 1), 0, -1):
        if text.endswith(stop[:n]):
            return n
    return 0


class Transcript:
    """`num` samples being written: their text so far, cut at the stop strings, and how each finished.

        for chars in text_steps(...):      new = transcript.take(chars)   # {sample: new text}
        ...                                rest = transcript.close()      # what was held back
    """

    def __init__(self, num: int, stops: list[str]) -> None:
        self.cutters = [StopCutter(stops) for _ in range(num)]
        self.ended = [False] * num
        self.finish = ["length"] * num
        self.texts = [""] * num

    @property
    def done(self) -> bool:
        return all(self.ended)

    def take(self, chars: list[str | None]) -> dict[int, str]:
        """One step's characters -> each sample's newly released text."""
        new: dict[int, str] = {}
        for i, ch in enumerate(chars):
            if self.ended[i]:
                continue
            cutter = self.cutters[i]
            piece = cutter.flush() if ch is None else cutter.feed(ch)
            if ch is None or cutter.stopped:
                self.ended[i], self.finish[i] = True, "stop"
            if piece:
                new[i] = piece
                self.texts[i] += piece
        return new

    def close(self) -> dict[int, str]:
        """The text still held back (it may have begun a stop string that never came)."""
        rest = {i: c.flush() for i, c in enumerate(self.cutters) if not self.ended[i] and c.pending}
        for i, piece in rest.items():
            self.texts[i] += piece
        return rest


def written_pieces(steps: Iterator[list[str | None]], transcript: Transcript) -> Iterator[tuple[int, str]]:
    """(sample index, text) in the order written, through `transcript`; stops once every sample has ended."""
    try:
        for chars in steps:
            yield from transcript.take(chars).items()
            if transcript.done:
                return
        yield from transcript.close().items()
    finally:
        close = getattr(steps, "close", None)
        if close is not None:
            close()


def cut_sample(sample: Sample, stops: list[str]) -> Sample:
    """The sample up to the first of `stops` (one log-probability per kept character, no <eos>)."""
    hits = [sample.text.index(s) for s in stops if s in sample.text]
    if not hits:
        return sample
    text = sample.text[: min(hits)]
    return Sample(text, sample.logprobs[: len(text)], sample.temperature, ended=True)
