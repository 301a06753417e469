"""The Server the handlers share: the models, each with the scheduler of its batch (scheduler.py),
the limits, and worker threads for looking inside a model on the CPU beside the batch.

    event loop (one thread)                          worker thread (the app's pool, one per call)
    handler: take a slot, ThreadCall(fn) -------->   fn(): its result, or the exception raised
             await call.result(deadline)     <----   handed over to the event loop
             (time limit, client gone)               the slot is given back when the thread ends

So one long request never stalls the others: the event loop only moves results from a queue to
the sockets, and /health and the page are answered between them. A call (an inspection) runs to
its end (its size is bounded by the request limits), and keeps its slot until then.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from starlette.exceptions import HTTPException

from charrnn.serve.errors import Stopping
from charrnn.serve.limits import Limits, Slots
from charrnn.serve.registry import ServedModel, serve_models
from charrnn.serve.scheduler import END, Failed, Job, Scheduler, hand_over
from charrnn.generation.options import SamplingOptions
from charrnn.generation.samples import Plan
from charrnn.serve.writing import CallJob, PlanJob, TextJob, Writing, job_result
from charrnn.trained import TrainedModel


class ThreadCall(Job):
    """`fn()` in a worker thread; its result (or error) comes back to the event loop."""

    def __init__(self, fn: Callable[[], Any], pool: ThreadPoolExecutor, done: Callable[[], None]) -> None:
        super().__init__()
        self._give_back = done
        pool.submit(self._run, fn)

    def stop(self) -> None:
        """The server is stopping: the reader gets Stopping at once (from any thread)."""
        hand_over([(self, Failed(Stopping("the server is stopping: try again in a moment")))])

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            items = [(self, fn()), (self, END)]
        except BaseException as e:  # the event loop re-raises it in the handler (CharRNNError -> 400)
            items = [(self, Failed(e))]
        finally:
            self._give_back()  # the slot is free before the answer is complete, so the client's next request fits
        hand_over(items)

    async def result(self, deadline: float) -> Any:
        async for batch in self.items(deadline):
            return batch[0]
        raise RuntimeError("the call ended without a result")


@dataclass
class Server:
    """What the handlers share: the models and their batches, the limits, the slots and the worker threads."""

    models: dict[str, ServedModel]
    limits: Limits
    slots: Slots = field(init=False)
    pool: ThreadPoolExecutor = field(init=False)

    def __post_init__(self) -> None:
        self.calls: weakref.WeakSet[ThreadCall] = weakref.WeakSet()  # under way, for stop()
        self.stopping = False
        self.slots = Slots(self.limits.max_concurrency)
        # One worker per slot, so a call never waits for a thread (the slots are the only queue: none).
        self.pool = ThreadPoolExecutor(self.limits.max_concurrency, thread_name_prefix="charrnn-inside")
        self.batches = {name: Scheduler(entry.network, name, self.limits.max_rows, self.limits.max_queue,
                                        self.limits.retry_after) for name, entry in self.models.items()}

    def model(self, name: str | None) -> ServedModel:
        """The model a request names (the first one when it names none); 404 for any other name."""
        if not self.models:
            raise HTTPException(404, "no model is served here yet: train one on the page, or POST /api/train")
        if name is None:
            return next(iter(self.models.values()))
        if name not in self.models:
            shown = name if len(name) <= 60 else name[:57] + "..."
            raise HTTPException(404, f"model {shown!r} is not served here; choose from: {', '.join(self.models)}")
        return self.models[name]

    def add_model(self, name: str, model: TrainedModel) -> None:
        """Serve `model` as `name` from now on (a training job's run once it is done), in place of any
        model of that name."""
        self.remove_model(name)
        self.models[name] = serve_models({name: model})[name]
        self.models = dict(sorted(self.models.items()))
        self.batches[name] = Scheduler(model.network, name, self.limits.max_rows, self.limits.max_queue,
                                       self.limits.retry_after)

    def remove_model(self, name: str) -> None:
        """Stop serving `name`: its requests under way end as when the server stops."""
        self.models.pop(name, None)
        batch = self.batches.pop(name, None)
        if batch is not None:
            batch.close()

    def deadline(self) -> float:
        return asyncio.get_running_loop().time() + self.limits.timeout

    def write(self, entry: ServedModel, prime: str, length: int, options: SamplingOptions, seed: int, num: int,
              stops: list[str], stream: bool) -> Writing:
        """`num` samples of `prime` written in `entry`'s batch (429 now if its rows and queue are full)."""
        job = TextJob(entry.network, prime, length, options, seed, num, stops, stream)
        return Writing(self.batches[entry.name], job)

    async def run_plan(self, entry: ServedModel, plan: Plan, rows: int) -> Any:
        """A writer's plan run in `entry`'s batch, its decodes holding at most `rows` rows at once: its result."""
        return await job_result(self.batches[entry.name], PlanJob(plan, rows), self.deadline())

    async def inside(self, entry: ServedModel, fn: Callable[[], Any]) -> Any:
        """`fn()` about `entry`'s network: in a worker thread beside the batch on the CPU (a slot, else
        429), else in the batch's own thread between two steps (ServedModel.on_cpu says why)."""
        if not entry.on_cpu:
            return await job_result(self.batches[entry.name], CallJob(fn), self.deadline())
        if not self.slots.take():
            raise HTTPException(429, f"the server is busy ({self.slots.size} requests under way): retry shortly",
                                headers={"Retry-After": str(self.limits.retry_after)})
        try:
            call = ThreadCall(fn, self.pool, self.slots.give_back)
        except RuntimeError:  # the pool is shut down: the server is stopping
            self.slots.give_back()
            raise HTTPException(503, "the server is stopping") from None
        self.calls.add(call)
        return await call.result(self.deadline())

    def stop(self) -> None:
        """End every request under way now (a stream gets an `error` event), before the sockets close."""
        self.stopping = True  # a training job's events end too (train_api.py)
        for call in list(self.calls):
            call.stop()
        for batch in self.batches.values():
            batch.stop()

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        for batch in self.batches.values():
            batch.close()
