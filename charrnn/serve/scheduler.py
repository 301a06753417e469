"""One thread per served model writes every request of that model together: one forward per
character for the rows of all of them (charrnn.generation.batch), rows joining and leaving between
steps. The event loop only admits requests and moves what is written to the sockets.

    event loop (handlers)                             the model's scheduler thread
    submit(job): rows free and nobody waiting  --->   join the jobs admitted (their decodes primed)
        -> admitted; else queued (first come,         choose every row's next id; each job takes its
        first served); else 429 (both full)           step; drop the rows of jobs finished or gone;
    async for item in job.items(deadline) <-------    one step for the rest; hand every job's items
    cancel(job): client gone, time limit              to the event loop in one call

A queued job waits while the one ahead of it waits, so none is passed over; every job is bounded
(length, count), so rows come free. A job's rows are reserved when it is admitted (`Job.rows`,
the most its decodes hold at once) and given back when it ends, however it ends.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException

from charrnn.generation.batch import Batch
from charrnn.generation.network import Network
from charrnn.generation.rows import Decode
from charrnn.serve.errors import Stopping, TimeLimit

log = logging.getLogger(__name__)
END = object()  # the last item of a job that ended well


@dataclass
class Failed:
    error: BaseException


class Job:
    """A request in a model's batch. The handler makes it in the event loop and reads its items;
    the scheduler's thread calls `start`, `step` and `advance` (subclasses: serve/writing.py)."""

    rows = 1  # the most rows its decodes hold at once

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.cancelled = False  # set by the event loop, read by the scheduler between steps
        self.decodes: list[Decode] = []  # the scheduler thread's

    # --- the scheduler's thread -----------------------------------------------------------------
    def start(self) -> list[Decode]:
        """The first decodes to join (none: the job is over)."""
        raise NotImplementedError

    def step(self, decode: Decode, ids: list[int | None], out: list[Any]) -> None:
        """One of its decodes has taken a step (Decode.take); items for the event loop go in `out`."""

    def advance(self, out: list[Any]) -> list[Decode] | None:
        """Called while any of its decodes is finished or `over`: the decodes to join next (those
        still going included), or None when the job has ended (its last items in `out`)."""
        raise NotImplementedError

    def over(self, decode: Decode) -> bool:
        """A decode to take out before it is finished (a text that met its stop strings)."""
        return decode.finished

    # --- the event loop ---------------------------------------------------------------------------
    async def items(self, deadline: float, max_items: int = 64) -> AsyncIterator[list[Any]]:
        """What the scheduler hands over, a few items at a time; TimeLimit past `deadline`."""
        while True:
            try:
                item = await asyncio.wait_for(self.queue.get(), max(deadline - self.loop.time(), 0))
            except asyncio.TimeoutError:
                raise TimeLimit("the request took longer than the server's time limit: ask for less text") from None
            batch = [item]
            while len(batch) < max_items and not self.queue.empty() and not _final(batch[-1]):
                batch.append(self.queue.get_nowait())
            last = batch[-1]
            if _final(last):
                batch.pop()
            if batch:
                yield batch
            if isinstance(last, Failed):
                raise last.error
            if last is END:
                return


def _final(item: Any) -> bool:
    return item is END or isinstance(item, Failed)


class Scheduler:
    """The batch of one served model, in a thread of its own."""

    def __init__(self, network: Network, name: str, max_rows: int, max_queue: int, retry_after: int = 1) -> None:
        self.network, self.name, self.max_rows, self.max_queue = network, name, max_rows, max_queue
        self.retry_after = retry_after
        self.lock = threading.Condition()  # guards the fields below; the thread waits on it when idle
        self.waiting: deque[Job] = deque()  # queued, in arrival order
        self.admitted: list[Job] = []  # rows reserved, not yet started by the thread
        self.reserved = 0  # rows reserved by admitted and running jobs
        self.stopping = False
        self.running: list[Job] = []  # the thread's
        self.thread = threading.Thread(target=self._run, name=f"charrnn-batch-{name}", daemon=True)
        self.thread.start()

    # --- admission (event loop) -------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        """Admit `job` if its rows are free and nobody waits, else queue it; 429 when the queue is full too."""
        with self.lock:
            if self.stopping:
                raise HTTPException(503, "the server is stopping")
            if not self.waiting and self.reserved + job.rows <= self.max_rows:
                self.reserved += job.rows
                self.admitted.append(job)
                self.lock.notify()
            elif len(self.waiting) < self.max_queue:
                self.waiting.append(job)
            else:
                raise HTTPException(429, f"the server is busy ({self.reserved} rows writing and {len(self.waiting)} "
                                    f"requests waiting for model {self.name!r}): retry shortly",
                                    headers={"Retry-After": str(self.retry_after)})

    def cancel(self, job: Job) -> None:
        """The handler is done with `job` (answered, client gone, time limit): its rows leave at the next step."""
        job.cancelled = True
        with self.lock:
            if job in self.waiting:
                self.waiting.remove(job)

    @property
    def load(self) -> dict:
        with self.lock:
            return {"rows": self.reserved, "max_rows": self.max_rows, "waiting": len(self.waiting),
                    "max_queue": self.max_queue}

    def stop(self) -> None:
        """End every job now with Stopping (a stream gets its `error` event); the thread ends."""
        with self.lock:
            self.stopping = True
            jobs = [*self.waiting, *self.admitted]
            self.waiting.clear()
            self.admitted.clear()
            self.lock.notify()
        hand_over([(job, Failed(Stopping("the server is stopping: try again in a moment"))) for job in jobs])

    def close(self, timeout: float = 5.0) -> None:
        self.stop()
        self.thread.join(timeout)

    # --- the thread ---------------------------------------------------------------------------------
    def _take_admitted(self) -> list[Job] | None:
        """The jobs admitted since the last step; waits while there is nothing to do; None: stop."""
        with self.lock:
            while not self.admitted and not self.running and not self.stopping:
                self.lock.wait()
            if self.stopping:
                return None
            jobs, self.admitted = self.admitted, []
            return jobs

    def _release(self, job: Job) -> None:
        """Give back `job`'s rows and admit the jobs at the head of the queue that now fit."""
        with self.lock:
            self.reserved -= job.rows
            while self.waiting and self.reserved + self.waiting[0].rows <= self.max_rows:
                admitted = self.waiting.popleft()
                self.reserved += admitted.rows
                self.admitted.append(admitted)

    def _run(self) -> None:
        batch, out = Batch(self.network), []
        try:
            while (new := self._take_admitted()) is not None:
                for job in new:
                    self._begin(job, out)
                in_batch = set(batch.decodes)
                try:
                    batch.join([d for job in self.running for d in job.decodes if d not in in_batch])
                    self._step(batch, out)
                except Exception as e:  # noqa: BLE001 (a bug in a step: every job in it gets the error)
                    log.exception("the batch of %s failed; its requests are answered with the error", self.name)
                    for job in list(self.running):
                        self._end(job, out, Failed(e))
                    batch = Batch(self.network)
                hand_over(out)
                out = []
        finally:
            stopping = Failed(Stopping("the server is stopping: try again in a moment"))
            hand_over([(job, stopping) for job in self.running])

    def _begin(self, job: Job, out: list) -> None:
        if job.cancelled:
            self._release(job)
            return
        try:
            job.decodes = job.start()
        except Exception as e:  # noqa: BLE001 (a CharRNNError is the request's 400)
            self._release(job)
            out.append((job, Failed(e)))
            return
        self.running.append(job)

    def _step(self, batch: Batch, out: list) -> None:
        """One character for every row: each job takes its step, the jobs whose decodes are over move
        on (or end), and the rows that go on are stepped."""
        leaving: set[Decode] = set()
        for job in list(self.running):
            if job.cancelled:
                leaving.update(job.decodes)
                self._end(job, out, None)
        stepping = any(d not in leaving for d in batch.decodes)
        if stepping:
            owners = {d: job for job in self.running for d in job.decodes}
            for decode, (ids, _) in batch.choose():
                if decode in owners:
                    owners[decode].step(decode, ids, out)
        for job in list(self.running):
            if not job.decodes or any(job.over(d) for d in job.decodes):
                before = job.decodes
                self._advance(job, out)
                leaving.update(d for d in before if job not in self.running or d not in job.decodes or job.over(d))
        if batch.decodes:
            batch.advance(leaving)  # (with nothing stepping, it only takes the leaving rows out)

    def _advance(self, job: Job, out: list) -> None:
        try:
            decodes = job.advance(out)
        except Exception as e:  # noqa: BLE001
            self._end(job, out, Failed(e))
            return
        if decodes is None:
            self._end(job, out, END)
        else:
            job.decodes = decodes

    def _end(self, job: Job, out: list, last: Any) -> None:
        self.running.remove(job)
        self._release(job)
        if last is not None and not job.cancelled:
            out.append((job, last))


def hand_over(items: list[tuple[Job, Any]]) -> None:
    """Put each item in its job's queue, in the event loop, with one call per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list] = {}
    for job, item in items:
        by_loop.setdefault(job.loop, []).append((job, item))
    for loop, pairs in by_loop.items():
        try:
            loop.call_soon_threadsafe(_put_all, pairs)
        except RuntimeError:  # the event loop is closed: the server has stopped
            pass


def _put_all(pairs: list[tuple[Job, Any]]) -> None:
    for job, item in pairs:
        job.queue.put_nowait(item)
