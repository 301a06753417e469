"""The batch of a served model (serve/scheduler.py): requests written together, each as if alone;
rows freed at once; first come, first served; 429 when rows and queue are full; never a wait on a step."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from starlette.exceptions import HTTPException

import charrnn
from charrnn.generation.batch import Batch
from charrnn.generation.options import SamplingOptions
from charrnn.serve.errors import TimeLimit
from charrnn.serve.scheduler import Scheduler
from charrnn.serve.writing import PlanJob, TextJob, Writing
from charrnn.writers.meter import check, verse_lines
from charrnn.writers.poem_form import PoemForm, poem_lines


@asynccontextmanager
async def batch_of(network, max_rows: int, max_queue: int, **options) -> AsyncIterator[Scheduler]:
    scheduler = Scheduler(network, "test", max_rows, max_queue, **options)
    try:
        yield scheduler
    finally:
        scheduler.close()


@pytest.fixture
def slow_steps(monkeypatch):
    """Every step of every batch takes at least `seconds[0]`; `counted[0]` steps of rows so far."""
    seconds, counted, real = [0.002], [0], Batch.advance

    def advance(self, leaving=()):
        time.sleep(seconds[0])
        real(self, leaving)
        counted[0] += bool(self.decodes)

    monkeypatch.setattr(Batch, "advance", advance)
    return seconds, counted


def text(network, seed: int, length: int = 120, num: int = 1, stream: bool = False) -> TextJob:
    return TextJob(network, "ROMEO:", length, SamplingOptions(temperature=0.9), seed, num, [], stream)


async def written(scheduler: Scheduler, job: TextJob, seconds: float = 30) -> list[str]:
    writing = Writing(scheduler, job)
    await writing.finish_all(asyncio.get_running_loop().time() + seconds)
    return writing.transcript.texts


def test_a_seeded_request_writes_the_same_alone_and_among_31_others(tiny_run):
    network = charrnn.load(tiny_run, device="cpu").network

    async def main():
        async with batch_of(network, max_rows=64, max_queue=0) as scheduler:
            alone = await written(scheduler, text(network, 7))
            together = await asyncio.gather(*(written(scheduler, text(network, 7 if k == 12 else k)) for k in range(32)))
            return alone, together

    alone, together = asyncio.run(main())
    assert together[12] == alone and len(alone[0]) == 120
    assert len({t[0] for t in together}) > 16  # the others wrote texts of their own


def test_a_cancelled_stream_frees_its_rows_within_a_step(tiny_run, slow_steps):
    network = charrnn.load(tiny_run, device="cpu").network
    _, counted = slow_steps

    async def main():
        async with batch_of(network, max_rows=16, max_queue=0) as scheduler:
            job = text(network, 1, length=2000, num=16, stream=True)
            writing = Writing(scheduler, job)
            pieces = writing.pieces(asyncio.get_running_loop().time() + 30)
            await anext(pieces)  # writing; then the client goes away
            assert scheduler.load["rows"] == 16
            before = counted[0]
            await pieces.aclose()
            while scheduler.load["rows"]:
                await asyncio.sleep(0.001)
            return counted[0] - before

    assert asyncio.run(main()) <= 1


def test_a_request_past_its_time_limit_ends_while_the_others_go_on(tiny_run, slow_steps):
    network = charrnn.load(tiny_run, device="cpu").network

    async def main():
        async with batch_of(network, max_rows=16, max_queue=0) as scheduler:
            other = asyncio.create_task(written(scheduler, text(network, 2, length=200)))
            with pytest.raises(TimeLimit, match="time limit"):
                await written(scheduler, text(network, 3, length=2000), seconds=0.1)
            return await other, scheduler.load

    (other,), load = asyncio.run(main())
    assert len(other) == 200 and load["rows"] == 0


def test_poems_and_names_written_together_keep_their_forms(poems_run):
    model = charrnn.load(poems_run, device="cpu")
    heads = "".join(c for c in model.vocab.chars if "\u4e00" <= c <= "\u9fff")[:4]
    forms = [PoemForm.from_options("wujue", acrostic=heads, rhyme=True), PoemForm.from_options("wujue", meter="loose"),
             PoemForm.from_options("qijue")]

    async def run(scheduler, plan, rows):
        job = PlanJob(plan, rows)
        scheduler.submit(job)
        async for (result,) in job.items(asyncio.get_running_loop().time() + 60):
            return result

    async def main():
        async with batch_of(model.network, max_rows=64, max_queue=8) as scheduler:
            return await asyncio.gather(
                *(run(scheduler, model.poem_plan(form, 4, seed=k), 4) for k, form in enumerate(forms)),
                run(scheduler, model.name_plan(6, min_len=3, max_len=5, seed=1, batch=16), 16),
                run(scheduler, model.name_plan(6, starts_with=heads[0], seed=2, batch=16), 16),
                written(scheduler, TextJob(model.network, "", 50, SamplingOptions(), 5, 2, [], True)))

    acrostic, loose, seven, short, started, story = asyncio.run(main())
    for poem in acrostic:
        assert [line[0] for line in poem_lines(poem.text)] == list(heads)
    assert all(check(verse_lines(p.text), "pingshui", "loose") == [] for p in loose)
    assert all(len(line) == 8 for p in seven for line in poem_lines(p.text))
    assert len(short.names) == 6 and all(3 <= len(n.name) <= 5 for n in short.names)
    assert all(n.name.startswith(heads[0]) for n in started.names) and len(story) == 2


def test_first_come_first_served_and_429_when_rows_and_queue_are_full(tiny_run, slow_steps):
    network = charrnn.load(tiny_run, device="cpu").network

    async def main():
        async with batch_of(network, max_rows=16, max_queue=2, retry_after=3) as scheduler:
            first = text(network, 1, length=2000, num=12, stream=True)
            scheduler.submit(first)
            wide, narrow = text(network, 2, num=8), text(network, 3, num=2)
            scheduler.submit(wide)  # 8 rows do not fit beside 12: it waits
            scheduler.submit(narrow)  # 2 would fit, but the wide one came first: it waits behind it
            queued = scheduler.load
            with pytest.raises(HTTPException) as refused:
                scheduler.submit(text(network, 4))
            scheduler.cancel(first)
            while scheduler.load["waiting"]:
                await asyncio.sleep(0.001)
            return queued, refused.value

    queued, refused = asyncio.run(main())
    assert (queued["rows"], queued["waiting"]) == (12, 2)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "3"


def test_nothing_waits_for_a_step(tiny_run, slow_steps):
    """Admission, cancelling and /health's numbers never wait for the batch's step to end."""
    network = charrnn.load(tiny_run, device="cpu").network
    seconds, counted = slow_steps

    async def main():
        async with batch_of(network, max_rows=16, max_queue=4) as scheduler:
            seconds[0] = 0.3  # each step now takes 300 ms
            scheduler.submit(text(network, 1, length=2000))
            while counted[0] == 0:  # inside a step
                await asyncio.sleep(0.001)
            start = time.perf_counter()
            job = text(network, 2)
            scheduler.submit(job)
            scheduler.load
            scheduler.cancel(job)
            elapsed, seconds[0] = time.perf_counter() - start, 0.0
            return elapsed

    assert asyncio.run(main()) < 0.05
