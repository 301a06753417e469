"""The studio: training jobs run by the server. A job is a run folder in the served folder, trained
by a `charrnn train` child process: the CLI's own code path and files (metrics.jsonl, the
checkpoints, the run folder's lock), so a job's run is an ordinary run.

    POST /api/train -> Studio.submit: the folder made, the user's text saved in it (corpus.txt)
    queued -> running (`charrnn train ... --out RUN`) -> done | stopped | failed
    stop: SIGINT to the child, which saves and stops as on Ctrl-C -> stopped
    resume: `charrnn train --resume --out RUN` -> running, from its last checkpoint, exactly
    done: the run is served at once (the `done` callback loads it)

At most `max_train_jobs` train at once; the others wait in a queue of `train_queue`, first come,
first served. studio.json in a job's folder says this server made it (only such runs may be
deleted through the API), with the job's flags and state; a server started again over the folder
reads it back, and a job that was queued or running is `stopped`, ready to resume.

No trainer outlives its server: each child asks the kernel for SIGTERM when its parent dies
(PR_SET_PDEATHSIG, Linux), even by SIGKILL, and SIGTERM makes it save and stop as Ctrl-C does.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from starlette.exceptions import HTTPException

from charrnn import checkpoint
from charrnn.files import write_atomic

STUDIO, CORPUS, LOG = "studio.json", "corpus.txt", "train.log"
ACTIVE = ("queued", "running")
STOP_WAIT = 15.0  # seconds a stopping trainer gets to save before it is killed (the server closing)
# The child's first lines: ask for SIGTERM when the server dies, check the server is still there
# (it may have died before the request), then run the command as `charrnn` would.
LAUNCH = ("import ctypes, os, signal, sys\n"
          "try:\n    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG\n"
          "except (AttributeError, OSError):\n    pass  # not Linux: the server stops its trainers when it closes\n"
          "if os.getppid() != int(sys.argv[1]):\n    sys.exit(1)\n"
          "from charrnn.commands.main import main\nsys.exit(main(sys.argv[2:]))\n")


@dataclass
class TrainJob:
    name: str
    folder: Path
    flags: list[str]  # `charrnn train`'s flags for the first start (the text or dataset, budget, model)
    max_time: float  # seconds: the run's budget, or the server's cap of a step budget
    state: str = "queued"
    error: str | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)
    started: float = 0.0  # time.monotonic() at this start: the server's cap counts from here
    stopping: bool = False  # asked to stop (Stop, the server's cap, the server closing): it ends `stopped`
    capped: bool = False  # stopped by the server's cap (--max-train-time)

    def save(self) -> None:
        record = {"format": 1, "made_by": "charrnn serve", "name": self.name, "flags": self.flags,
                  "max_time": self.max_time, "state": self.state, "error": self.error}
        write_atomic(self.folder / STUDIO, json.dumps(record, indent=2, ensure_ascii=False).encode())

    @classmethod
    def read(cls, folder: Path) -> TrainJob | None:
        try:
            record = json.loads((folder / STUDIO).read_text(encoding="utf-8"))
            return cls(record["name"], folder, list(record["flags"]), float(record["max_time"]), record["state"],
                       record.get("error"))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def command(self) -> list[str]:
        """The child: `charrnn train` with the first flags, or --resume once the folder is a run."""
        flags = ["--resume"] if checkpoint.is_run(self.folder) else self.flags
        return [sys.executable, "-c", LAUNCH, str(os.getpid()), "train", *flags, "--out", str(self.folder)]

    def status(self) -> dict:
        """What GET /api/train shows, read from the run's metrics.jsonl."""
        records = checkpoint.read_metrics(self.folder) if (self.folder / checkpoint.METRICS).exists() else []
        vals = [r["val_loss"] for r in records if isinstance(r.get("val_loss"), (int, float))]
        final = next((r["whole_best_val_loss"] for r in reversed(records) if "whole_best_val_loss" in r), None)
        last = records[-1] if records else {}
        return {"name": self.name, "state": self.state, "step": last.get("step", 0),
                "elapsed": last.get("elapsed", 0.0), "max_time": self.max_time,
                "best_val": final if final is not None else min(vals, default=None),
                "last_sample": next((r["sample"] for r in reversed(records) if "sample" in r), None),
                "error": self.error}


class Studio:
    """The server's training jobs, in the folder it serves. Its methods run in the event loop."""

    def __init__(self, folder: Path, max_jobs: int, max_queue: int, max_train_time: float,
                 done: Callable[[TrainJob], Awaitable[None]]) -> None:
        self.folder, self.max_jobs, self.max_queue, self.max_train_time = folder, max_jobs, max_queue, max_train_time
        self.done = done
        self.jobs: dict[str, TrainJob] = {}
        self.queue: deque[TrainJob] = deque()
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            job = TrainJob.read(sub)
            if job is not None:
                if job.state in ACTIVE:  # the server stopped while it waited or trained
                    job.state = "stopped"
                    job.save()
                self.jobs[job.name] = job

    def made(self, name: str) -> bool:
        return name in self.jobs

    def submit(self, name: str, flags: list[str], max_time: float, text: str | None) -> TrainJob:
        """A new job, queued: 409 if the name is taken, 429 if the queue is full."""
        folder = self.folder / name
        if name in self.jobs or folder.exists():
            raise HTTPException(409, f"{name!r} is taken: a run or a job of that name is here already; choose another")
        if len(self.queue) >= self.max_queue:
            raise HTTPException(429, f"the training queue is full ({self.max_queue} jobs waiting): retry later",
                                headers={"Retry-After": "60"})
        folder.mkdir()
        if text is not None:
            write_atomic(folder / CORPUS, text.encode("utf-8"))
        job = TrainJob(name, folder, ([str(folder / CORPUS)] if text is not None else []) + flags, max_time)
        job.save()
        self.jobs[name] = job
        self.queue.append(job)
        self.tick()
        return job

    def job(self, name: str) -> TrainJob:
        if name not in self.jobs:
            raise HTTPException(404, f"no training job {name!r} here")
        return self.jobs[name]

    def stop(self, name: str) -> TrainJob:
        """Running: SIGINT, and the trainer saves and stops (`stopped` once it has). Queued: out of the queue."""
        job = self.job(name)
        if job.state == "running" and job.process is not None:
            job.stopping = True
            job.process.send_signal(signal.SIGINT)
        elif job.state == "queued":
            self.queue.remove(job)
            self._set(job, "stopped")
        else:
            raise HTTPException(409, f"job {name!r} is {job.state}: only a queued or running job stops")
        return job

    def resume(self, name: str) -> TrainJob:
        job = self.job(name)
        if job.state not in ("stopped", "failed"):
            raise HTTPException(409, f"job {name!r} is {job.state}: only a stopped or failed job resumes")
        if len(self.queue) >= self.max_queue:
            raise HTTPException(429, f"the training queue is full ({self.max_queue} jobs waiting): retry later",
                                headers={"Retry-After": "60"})
        job.error, job.capped, job.stopping = None, False, False
        self._set(job, "queued")
        self.queue.append(job)
        self.tick()
        return job

    async def delete(self, name: str) -> None:
        """Stop the job if it trains, and remove its folder."""
        job = self.job(name)
        if job.state == "queued":
            self.queue.remove(job)
        if job.process is not None and job.process.poll() is None:
            await asyncio.get_running_loop().run_in_executor(None, _stop_process, job.process)
        del self.jobs[name]
        shutil.rmtree(job.folder, ignore_errors=True)

    # --- the trainers ---------------------------------------------------------------------------------
    def tick(self) -> None:
        """Notice the trainers that ended, stop the ones past the server's cap, start the queued ones."""
        for job in [j for j in self.jobs.values() if j.state == "running" and j.process is not None]:
            code = job.process.poll()
            if code is not None:
                self._ended(job, code)
            elif not job.capped and time.monotonic() - job.started > self.max_train_time:
                job.capped = job.stopping = True  # a step budget ran past --max-train-time: stop it, as Stop does
                job.process.send_signal(signal.SIGINT)
        while self.queue and sum(j.state == "running" for j in self.jobs.values()) < self.max_jobs:
            self._start(self.queue.popleft())

    def _start(self, job: TrainJob) -> None:
        with open(job.folder / LOG, "ab") as log:  # the child keeps its own descriptor
            job.process = subprocess.Popen(job.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        job.started = time.monotonic()
        self._set(job, "running")

    def _ended(self, job: TrainJob, code: int) -> None:
        job.process = None
        if code == 0:  # `done` once it is served, so that whoever hears it can write with it
            asyncio.get_running_loop().create_task(self._serve(job))
        elif code == 130 or job.stopping:  # stopped by SIGINT or SIGTERM: saved, or before its first step
            job.error = "stopped at the server's --max-train-time" if job.capped else None
            job.stopping = False
            self._set(job, "stopped")
        else:
            job.error = _last_error(job.folder / LOG) or f"the trainer ended with exit code {code}"
            self._set(job, "failed")

    async def _serve(self, job: TrainJob) -> None:
        try:
            await self.done(job)
        except Exception as e:  # noqa: BLE001 (a run that cannot be loaded is the job's failure, said in one line)
            job.error = f"the trained run could not be served: {e}"
            self._set(job, "failed")
            return
        self._set(job, "done")

    def _set(self, job: TrainJob, state: str) -> None:
        job.state = state
        job.save()

    async def run(self, every: float = 0.2) -> None:
        """The lifespan's task: tick until cancelled."""
        while True:
            self.tick()
            await asyncio.sleep(every)

    def close(self) -> None:
        """The server is closing: every trainer saves and stops (SIGINT, then SIGKILL after STOP_WAIT)."""
        running = [j for j in self.jobs.values() if j.process is not None]
        for job in running:
            job.stopping = True
            if job.process.poll() is None:
                job.process.send_signal(signal.SIGINT)
        for job in running:
            _stop_process(job.process)
            self._set(job, "stopped")
            job.process = None


def _stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(STOP_WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _last_error(log: Path) -> str | None:
    """The trainer's one-line error (`charrnn: error: ...`), if it gave one."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    found = [line for line in lines if line.startswith("charrnn: error: ")]
    return found[-1][len("charrnn: error: "):] if found else None

