"""Sampled text for /api/generate and /v1/completions, in pieces, cut at the stop strings.

The worker thread runs the library's decoder (charrnn.decoding.sample_ids, as `TrainedModel.generate`
does, so the same seed writes the same text) and hands over one step at a time: each sample's next
character, or None once the sample has ended (<eos> in a lines-mode run). The event loop cuts each
sample at the first of its stop strings, holding back only text that may be the start of one, and
cancels the thread once every sample has ended.

A sample's finish reason, as OpenAI's: "stop" when it met a stop string or its end token,
"length" when it wrote all the characters asked for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing, nullcontext

from charrnn.decoding import sample_ids
from charrnn.sampling import SamplingOptions
from charrnn.serve.jobs import Job, Server
from charrnn.serve.registry import ServedModel
from charrnn.trained import make_generator
from charrnn.vocab import EOS


def sample_steps(entry: ServedModel, prime: str, length: int, options: SamplingOptions, seed: int,
                 num: int) -> Iterator[list[str | None]]:
    """Worker thread: per step, each sample's next character (None once it has ended)."""
    model = entry.model
    steps = sample_ids(model.model, model.vocab, model.mode, prime, length, options,
                       make_generator(model.device, seed), num)
    try:
        while True:
            with entry.lock or nullcontext():  # per step, so requests on one GPU model take turns
                step = next(steps, None)
            if step is None:
                return
            yield [None if i is None or i == EOS else model.vocab.decode([i]) for i in step[0]]
    finally:
        steps.close()


class StopCutter:
    """Releases a sample's text as it comes, holding back only what may begin a stop string."""

    def __init__(self, stops: list[str]) -> None:
        self.stops, self.pending, self.stopped = stops, "", False

    def feed(self, text: str) -> str:
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


def sampling_options(temperature: float, top_k: int = 0, top_p: float = 1.0) -> SamplingOptions:
    return SamplingOptions(temperature, top_k, top_p)  # CharRNNError -> 400


def prime_warnings(entry: ServedModel, prime: str) -> list[str]:
    """Characters the model has never seen are read as <unk>: a warning in the answer, not an error."""
    unknown = entry.model.vocab.unknown(prime)
    if entry.model.mode == "lines":
        unknown.pop("\n", None)
    if not unknown:
        return []
    shown = "".join(sorted(unknown))[:20]
    return [f"{sum(unknown.values())} prime character(s) not in the vocabulary ({shown!r}) are read as <unk>"]


def stop_list(stop: str | list[str] | None) -> list[str]:
    if stop is None:
        return []
    return [s for s in ([stop] if isinstance(stop, str) else stop) if s]


class Writing:
    """`num` samples of one prime being written: their text so far, and how each finished."""

    def __init__(self, server: Server, entry: ServedModel, prime: str, length: int, options: SamplingOptions,
                 seed: int, num: int, stops: list[str]) -> None:
        self.job: Job = server.start(lambda: sample_steps(entry, prime, length, options, seed, num))
        self.cutters = [StopCutter(stops) for _ in range(num)]
        self.ended = [False] * num
        self.finish = ["length"] * num
        self.texts = [""] * num

    async def pieces(self, deadline: float) -> AsyncIterator[dict[int, str]]:
        """{sample index: new text}, a few characters at a time, until every sample has ended."""
        async with aclosing(self.job.batches(deadline)) as batches:
            async for steps in batches:
                new = self._take(steps)
                if new:
                    yield new
                if all(self.ended):
                    return
        rest = {i: c.flush() for i, c in enumerate(self.cutters) if not self.ended[i] and c.pending}
        self._add(rest)
        if rest:
            yield rest

    async def finish_all(self, deadline: float) -> None:
        async with aclosing(self.pieces(deadline)) as pieces:
            async for _ in pieces:
                pass

    def _take(self, steps: list[list[str | None]]) -> dict[int, str]:
        new: dict[int, str] = {}
        for chars in steps:
            for i, ch in enumerate(chars):
                if self.ended[i]:
                    continue
                cutter = self.cutters[i]
                piece = cutter.flush() if ch is None else cutter.feed(ch)
                if ch is None or cutter.stopped:
                    self.ended[i], self.finish[i] = True, "stop"
                if piece:
                    new[i] = new.get(i, "") + piece
        self._add(new)
        return new

    def _add(self, new: dict[int, str]) -> None:
        for i, piece in new.items():
            self.texts[i] += piece
