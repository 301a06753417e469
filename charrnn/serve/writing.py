"""Sampled text for /api/generate and /v1/completions, in pieces, cut at the stop strings.

The worker thread runs the library's step loop (charrnn.generation.streaming.text_steps, as
`TrainedModel.generate` does, so the same seed writes the same text) and hands over one step at a
time. The event loop feeds the steps to the library's Transcript, which cuts each sample at the
first of its stop strings and keeps its finish reason, and cancels the thread once every sample
has ended.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing, nullcontext

from charrnn.generation.options import SamplingOptions
from charrnn.generation.streaming import Transcript, text_steps
from charrnn.serve.jobs import Job, Server
from charrnn.serve.registry import ServedModel


def locked_steps(entry: ServedModel, prime: str, length: int, options: SamplingOptions, seed: int,
                 num: int) -> Iterator[list[str | None]]:
    """Worker thread: the library's steps, each taken under the model's lock when it has one."""
    steps = text_steps(entry.network, prime, length, options, seed, num)
    try:
        while True:
            with entry.lock or nullcontext():  # per step, so requests on one GPU model take turns
                step = next(steps, None)
            if step is None:
                return
            yield step
    finally:
        steps.close()


class Writing:
    """`num` samples of one prime being written by a worker thread: `transcript` has their text so
    far and how each finished."""

    def __init__(self, server: Server, entry: ServedModel, prime: str, length: int, options: SamplingOptions,
                 seed: int, num: int, stops: list[str]) -> None:
        self.job: Job = server.start(lambda: locked_steps(entry, prime, length, options, seed, num))
        self.transcript = Transcript(num, stops)

    async def pieces(self, deadline: float) -> AsyncIterator[dict[int, str]]:
        """{sample index: new text}, a few characters at a time, until every sample has ended."""
        async with aclosing(self.job.batches(deadline)) as batches:
            async for steps in batches:
                new: dict[int, str] = {}
                for chars in steps:
                    for i, piece in self.transcript.take(chars).items():
                        new[i] = new.get(i, "") + piece
                if new:
                    yield new
                if self.transcript.done:
                    return
        rest = self.transcript.close()
        if rest:
            yield rest

    async def finish_all(self, deadline: float) -> None:
        async with aclosing(self.pieces(deadline)) as pieces:
            async for _ in pieces:
                pass
