"""Generation off the event loop: a worker thread writes, the event loop reads what it wrote.

    event loop (one thread)                          worker thread (the app's pool, one per request)
    handler: take a slot, Job(work) ------------->   for item in work(): hand it over, unless cancelled
             async for batch in job.batches(...) <-   ... then the end, or the exception raised
             (time limit, client gone: cancel) --->   stops at its next step
    the slot is given back when the thread ends

So one long request never stalls the others: the event loop only moves characters from a queue
to the sockets, and /health and the page are answered between them. A sampling loop checks the
cancel flag at every character; a poem or a list of names is one library call that runs to its end
(its size is bounded by the request limits), and keeps its slot until then.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from starlette.exceptions import HTTPException

from charrnn.serve.errors import Stopping, TimeLimit
from charrnn.serve.limits import Limits, Slots
from charrnn.serve.registry import ServedModel

_END = object()


@dataclass
class _Failed:
    error: BaseException


class Job:
    """`work()` run in a worker thread; its items come back to the event loop in order."""

    def __init__(self, work: Callable[[], Iterator[Any]], pool: ThreadPoolExecutor, done: Callable[[], None],
                 max_batch: int = 8) -> None:
        self.loop = asyncio.get_running_loop()
        self.stopped = False
        self.queue: asyncio.Queue = asyncio.Queue()
        self.cancelled = threading.Event()
        self.max_batch = max_batch  # items per batch at most, so a stream comes in small pieces
        self._give_back = done
        pool.submit(self._run, work)

    def cancel(self) -> None:
        self.cancelled.set()

    def stop(self) -> None:
        """The server is stopping: the writer stops, and the reader gets Stopping at once (from any thread)."""
        self.cancelled.set()
        self._hand_over(_Failed(Stopping("the server is stopping: try again in a moment")))

    def _hand_over(self, item: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the event loop is closed: the server is stopping
            self.cancelled.set()

    def _run(self, work: Callable[[], Iterator[Any]]) -> None:
        final: Any = _END
        try:
            items = work()
            try:
                for item in items:
                    if self.cancelled.is_set():
                        break
                    self._hand_over(item)
            finally:
                close = getattr(items, "close", None)
                if close is not None:
                    close()
        except BaseException as e:  # the event loop re-raises it in the handler (CharRNNError -> 400)
            final = _Failed(e)
        finally:
            self._give_back()  # the slot is free before the answer is complete, so the client's next request fits
        self._hand_over(final)

    async def batches(self, deadline: float) -> AsyncIterator[list[Any]]:
        """The items as they come, a few at a time; TimeLimit once the loop clock passes `deadline`."""
        try:
            while True:
                try:
                    item = await asyncio.wait_for(self.queue.get(), max(deadline - self.loop.time(), 0))
                except asyncio.TimeoutError:
                    raise TimeLimit("the request took longer than the server's time limit: ask for less text") from None
                batch = [item]
                while len(batch) < self.max_batch and not self.queue.empty() and not _final(batch[-1]):
                    batch.append(self.queue.get_nowait())
                last = batch[-1]
                if _final(last):
                    batch.pop()
                if batch:
                    yield batch
                if isinstance(last, _Failed):
                    raise last.error
                if last is _END:
                    return
        finally:  # finished, failed, timed out, or the client went away: the writer may stop
            self.cancelled.set()

    async def result(self, deadline: float) -> Any:
        """The one item of a one-shot job."""
        async with aclosing(self.batches(deadline)) as batches:
            async for batch in batches:
                return batch[0]
        raise RuntimeError("the job ended without a result")


def _final(item: Any) -> bool:
    return item is _END or isinstance(item, _Failed)


@dataclass
class Server:
    """What the handlers share: the models, the limits, the slots and the worker threads."""

    models: dict[str, ServedModel]
    limits: Limits
    slots: Slots = field(init=False)
    pool: ThreadPoolExecutor = field(init=False)

    def __post_init__(self) -> None:
        self.jobs: weakref.WeakSet[Job] = weakref.WeakSet()  # under way, for stop()
        self.slots = Slots(self.limits.max_concurrency)
        # One worker per slot, so a job never waits for a thread (the slots are the only queue: none).
        self.pool = ThreadPoolExecutor(self.limits.max_concurrency, thread_name_prefix="charrnn-write")

    def model(self, name: str | None) -> ServedModel:
        """The model a request names (the first one when it names none); 404 for any other name."""
        if name is None:
            return next(iter(self.models.values()))
        if name not in self.models:
            shown = name if len(name) <= 60 else name[:57] + "..."
            raise HTTPException(404, f"model {shown!r} is not served here; choose from: {', '.join(self.models)}")
        return self.models[name]

    def deadline(self) -> float:
        return asyncio.get_running_loop().time() + self.limits.timeout

    def start(self, work: Callable[[], Iterator[Any]], max_batch: int = 8) -> Job:
        """Run `work` in a worker thread if a slot is free; else 429 with Retry-After."""
        if not self.slots.take():
            raise HTTPException(429, f"the server is busy ({self.slots.size} requests under way): retry shortly",
                                headers={"Retry-After": str(self.limits.retry_after)})
        try:
            job = Job(work, self.pool, self.slots.give_back, max_batch)
            self.jobs.add(job)
            return job
        except RuntimeError:  # the pool is shut down: the server is stopping
            self.slots.give_back()
            raise HTTPException(503, "the server is stopping") from None

    def start_call(self, fn: Callable[[], Any]) -> Job:
        """A one-shot job: `fn()` in a worker thread."""
        return self.start(lambda: iter([fn()]))

    def stop(self) -> None:
        """End every request under way now (a stream gets an `error` event), before the sockets close."""
        for job in list(self.jobs):
            job.stop()

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

