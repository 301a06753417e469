"""What the server writes, as jobs of a model's batch (scheduler.py):

    TextJob   /api/generate and /v1/completions: `num` samples of a prime, cut at the stop strings
              (the library's Transcript), streamed a step at a time or answered whole
    PlanJob   /api/poem and /api/names: a writer's plan (charrnn.generation.samples), its decodes
              stepped with everyone else's, its result answered at the end
    CallJob   one call in the scheduler's thread, between two steps: looking inside a model on an
              accelerator, whose forwards must not run beside the batch's

A TextJob's samples are the library's (`TrainedModel.generate` with the same seed draws the same
numbers: charrnn.generation.rows says where rounding may still differ).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

from charrnn.generation.network import Network
from charrnn.generation.options import SamplingOptions
from charrnn.generation.rows import Decode
from charrnn.generation.samples import Plan
from charrnn.generation.streaming import Transcript, make_generator
from charrnn.serve.scheduler import Job, Scheduler
from charrnn.vocab import EOS

# A stream's text goes to the event loop at once when it begins, then in pieces of this many
# characters (a sample's): one Server-Sent Event for every character of every stream would cost the
# event loop (and the client) more than the batch's step does.
STREAM_PIECE = 8


class TextJob(Job):
    def __init__(self, network: Network, prime: str, length: int, options: SamplingOptions, seed: int, num: int,
                 stops: list[str], stream: bool) -> None:
        super().__init__()
        self.network, self.prime, self.length, self.options, self.seed = network, prime, length, options, seed
        self.rows, self.stream = num, stream
        self.transcript = Transcript(num, stops)  # the scheduler's until the job's last item
        self.pending: dict[int, str] = {}  # new text not yet handed over
        self.begun = False  # its first text has been handed over
    def start(self) -> list[Decode]:
        generator = make_generator(self.network.device, self.seed)
        return [Decode(self.network, self.prime, self.length, self.options, generator, self.rows)]

    def step(self, decode: Decode, ids: list[int | None], out: list[Any]) -> None:
        decode_id = self.network.vocab.decode
        new = self.transcript.take([None if i is None or i == EOS else decode_id([i]) for i in ids])
        if not (new and self.stream):
            return
        for i, text in new.items():
            self.pending[i] = self.pending.get(i, "") + text
        if not self.begun or max(map(len, self.pending.values())) >= STREAM_PIECE:
            out.append((self, self.pending))
            self.pending, self.begun = {}, True

    def over(self, decode: Decode) -> bool:
        return decode.finished or self.transcript.done

    def advance(self, out: list[Any]) -> None:
        for i, text in self.transcript.close().items():
            self.pending[i] = self.pending.get(i, "") + text
        if self.pending and self.stream:
            out.append((self, self.pending))
        return None


class PlanJob(Job):
    def __init__(self, plan: Plan, rows: int) -> None:
        super().__init__()
        self.plan, self.rows = plan, rows

    def start(self) -> list[Decode]:
        try:
            return self._checked(next(self.plan))
        except StopIteration as done:  # nothing to decode (beam search)
            self.result = done.value
            return []

    def advance(self, out: list[Any]) -> list[Decode] | None:
        if not all(d.finished for d in self.decodes):
            return self.decodes
        if self.decodes:
            try:
                return self._checked(self.plan.send([d.samples() for d in self.decodes]))
            except StopIteration as done:
                self.result = done.value
        out.append((self, self.result))
        return None

    def _checked(self, decodes: list[Decode]) -> list[Decode]:
        if sum(d.num for d in decodes) > self.rows:
            raise RuntimeError(f"a plan asked for {sum(d.num for d in decodes)} rows at once, {self.rows} reserved")
        return decodes


class CallJob(Job):
    rows = 0

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.fn = fn

    def start(self) -> list[Decode]:
        self.result = self.fn()
        return []

    def advance(self, out: list[Any]) -> None:
        out.append((self, self.result))
        return None


class Writing:
    """The handler's side of a TextJob submitted to `scheduler`: `transcript` has each sample's text
    so far and how it finished once `pieces` or `finish_all` is through."""

    def __init__(self, scheduler: Scheduler, job: TextJob) -> None:
        self.scheduler, self.job = scheduler, job
        scheduler.submit(job)  # 429 now when the batch and its queue are full
        self.transcript = job.transcript

    async def pieces(self, deadline: float) -> AsyncIterator[dict[int, str]]:
        """{sample index: new text} as the batch hands it over (STREAM_PIECE characters of a sample at
        a time), until every sample has ended."""
        try:
            async with aclosing(self.job.items(deadline)) as items:
                async for batch in items:
                    for piece in batch:
                        yield piece
        finally:  # finished, failed, timed out, or the client went away: its rows leave
            self.scheduler.cancel(self.job)

    async def finish_all(self, deadline: float) -> None:
        async with aclosing(self.pieces(deadline)) as pieces:
            async for _ in pieces:
                pass


async def job_result(scheduler: Scheduler, job: Job, deadline: float) -> Any:
    """Submit a job whose one item is its result, and await it (TimeLimit past `deadline`)."""
    scheduler.submit(job)
    try:
        async with aclosing(job.items(deadline)) as items:
            async for batch in items:
                return batch[0]
    finally:
        scheduler.cancel(job)
    raise RuntimeError("the job ended without a result")
