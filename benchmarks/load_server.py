"""Load on a local `charrnn serve`: requests/s, characters/s, latency, time to the first character
and errors at concurrency 1, 8, 32 and 128.

    python benchmarks/load_server.py                       # a default-size (2x512 LSTM) run made here
    python benchmarks/load_server.py runs/shakespeare      # a run, or a folder of runs
    python benchmarks/load_server.py --url http://127.0.0.1:8000 --model shakespeare   # a server you run
    taskset -c 0 python benchmarks/load_server.py          # the server (and the clients) on one core

Without --url it starts `charrnn serve PATH` on 127.0.0.1 and a free port with the server's default
settings (or `--server-args`), waits for /health (bounded), and stops it at the end. Without PATH
it first makes a run of the default model size from charrnn's own source, trained for 2 steps: the
speed of generation does not depend on the weights. Then, for each concurrency level C, C clients
send `--requests` streamed POST /api/generate in all (`--length` characters each, a fresh seed
each; by default 4 x C, at least 64) and a watcher in a thread of its own asks /health every
0.2 s throughout. Bounded:
`--budget` seconds per level, a timeout per request; only 127.0.0.1 / localhost.

Columns: requests answered; ok; 429 = refusals because the model's rows and queue were full
(the client tries the same request again after half to all of the Retry-After the server gives);
errors = anything else (should be 0); req/s and chars/s = ok answers and their characters per
second of the level; p50/p99 = latency of the ok answers to their `done` event, from the first
attempt, retries included; first char = the same to their first piece of text; /health = the
slowest /health answer during the level, and how many of its checks failed (should be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx

LOCAL = {"127.0.0.1", "localhost", "::1"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values) or [float("nan")]
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Level:
    concurrency: int
    ok: int = 0
    busy: int = 0  # 429
    errors: int = 0
    chars: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # of ok answers, seconds
    first_chars: list[float] = field(default_factory=list)  # of ok answers that wrote something, seconds
    health_max: float = 0.0
    health_checks: int = 0
    health_failures: int = 0
    error_samples: list[str] = field(default_factory=list)

    def row(self) -> str:
        ms = [1000 * percentile(v, q) for v in (self.latencies, self.first_chars) for q in (0.5, 0.99)]
        return (f"| {self.concurrency} | {self.ok + self.errors} | {self.ok} | {self.busy} | {self.errors} "
                f"| {self.ok / self.seconds:.1f} | {self.chars / self.seconds:,.0f} | {ms[0]:.0f} | {ms[1]:.0f} "
                f"| {ms[2]:.0f} | {ms[3]:.0f} | {self.health_max * 1000:.0f} ms, "
                f"{self.health_failures}/{self.health_checks} failed |")


HEADER = ("| concurrency | requests | ok | 429 | errors | req/s | chars/s | p50 ms | p99 ms | first char p50 ms "
          "| first char p99 ms | /health during load |\n"
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")


async def generate(client: httpx.AsyncClient, body: dict, start: float) -> tuple[int, str, float | None, int, dict]:
    """One streamed request: (status, error text, seconds to the first text, characters, headers)."""
    first, chars = None, 0
    async with client.stream("POST", "/api/generate", json={**body, "stream": True}) as r:
        if r.status_code != 200:
            return r.status_code, (await r.aread()).decode(errors="replace"), None, 0, dict(r.headers)
        event = "message"
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                if event == "error":
                    return 500, line, None, chars, {}
                if event == "message":
                    chars += len(json.loads(line[6:])["text"])
                    first = first if first is not None else time.perf_counter() - start
                event = "message"
    return 200, "", first, chars, {}


async def run_level(url: str, model: str, concurrency: int, requests: int, length: int, budget: float,
                    timeout: float = 120.0) -> Level:
    """`requests` streamed generations from `concurrency` clients, with /health watched throughout."""
    level = Level(concurrency)
    limits = httpx.Limits(max_connections=concurrency + 1, max_keepalive_connections=concurrency + 1)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:
        todo = iter(range(requests))
        stop_at = time.monotonic() + budget
        done = threading.Event()

        async def worker() -> None:
            for i in todo:
                if time.monotonic() > stop_at:
                    return
                body = {"model": model, "prime": "The ", "length": length, "seed": i}
                start = time.perf_counter()
                while True:
                    try:
                        status, text, first, chars, headers = await generate(client, body, start)
                    except httpx.HTTPError as e:
                        status, text, first, chars, headers = 0, f"{type(e).__name__}: {e}", None, 0, {}
                    if status != 429 or time.monotonic() > stop_at:
                        break
                    level.busy += 1  # refused because rows and queue were full: try again when it says
                    await asyncio.sleep(float(headers.get("retry-after", 1)) * random.uniform(0.5, 1.0))
                if status == 200:
                    level.ok += 1
                    level.chars += chars
                    level.latencies.append(time.perf_counter() - start)
                    if first is not None:
                        level.first_chars.append(first)
                elif status != 429:
                    level.errors += 1
                    level.error_samples.append(f"{status} {text[:200]}")

        def watch_health() -> None:  # a thread of its own: the clients' event loop does not delay it
            with httpx.Client(base_url=url, timeout=5.0) as health:
                while not done.is_set():
                    start = time.perf_counter()
                    try:
                        ok = health.get("/health").status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    level.health_checks += 1
                    level.health_failures += not ok
                    level.health_max = max(level.health_max, time.perf_counter() - start)
                    done.wait(0.2)

        watcher = threading.Thread(target=watch_health, daemon=True)
        watcher.start()
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        level.seconds = time.perf_counter() - start
        done.set()
        watcher.join()
    return level


def level_requests(concurrency: int, requests: int | None) -> int:
    return requests if requests is not None else max(64, 4 * concurrency)


def run_load(url: str, model: str, levels: list[int], requests: int | None, length: int,
             budget: float) -> list[Level]:
    return [asyncio.run(run_level(url, model, c, level_requests(c, requests), length, budget)) for c in levels]


def check_local(url: str) -> None:
    host = urlparse(url).hostname
    if host not in LOCAL:
        sys.exit(f"load_server.py: only a local server (127.0.0.1 / localhost), not {host!r}")


def make_run(folder: Path) -> Path:
    """A run of the default model size (2x512 LSTM), trained for 2 steps on charrnn's own source."""
    import charrnn

    source = Path(charrnn.__file__).parent
    return charrnn.train(str(source), glob="*.py", out=str(folder / "default"), max_steps=2, eval_every=2,
                         sample_chars=0, device="cpu").run_dir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(path: str, port: int, server_args: list[str], log: Path, startup: float = 60.0) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "charrnn", "serve", path, "--host", "127.0.0.1", "--port", str(port),
           "--device", "cpu", "--log-level", "warning", *server_args]
    with open(log, "w") as out:  # a file, not a pipe: a pipe nobody reads would stall the server when full
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + startup
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    proc.wait()
    sys.exit(f"load_server.py: the server did not start within {startup:g}s:\n{log.read_text()[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("path", nargs="?", help="a run or folder of runs to serve (default: make a default-size run)")
    p.add_argument("--url", help="an already running local server instead of starting one")
    p.add_argument("--model", help="the model to ask (default: the server's first)")
    p.add_argument("--concurrency", default="1,8,32,128", help="levels, comma-separated (default: 1,8,32,128)")
    p.add_argument("--requests", type=int, default=None, help="requests per level (default: 4 x concurrency, "
                   "at least 64)")
    p.add_argument("--length", type=int, default=100, help="characters per request (default: 100)")
    p.add_argument("--budget", type=float, default=60.0, help="seconds per level at most (default: 60)")
    p.add_argument("--server-args", default="", help="flags for the started server, e.g. \"--threads 1\" "
                   "(default: none, its defaults)")
    args = p.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    if not 1 <= (args.requests or 64) <= 10_000 or max(levels) > 256 or args.budget > 600:
        sys.exit("load_server.py: keep it bounded: --requests in [1, 10000], concurrency <= 256, --budget <= 600")
    proc, results = None, []
    with tempfile.TemporaryDirectory() as tmp:
        if args.url:
            check_local(args.url)
            url = args.url.rstrip("/")
        else:
            path = args.path or str(make_run(Path(tmp)))
            port = free_port()
            proc = start_server(path, port, shlex.split(args.server_args), Path(tmp) / "server.log")
            url = f"http://127.0.0.1:{port}"
        try:
            models = httpx.get(f"{url}/api/models", timeout=10).json()
            model = args.model or models[0]["name"]
            info = next(m for m in models if m["name"] == model)
            batch = httpx.get(f"{url}/health", timeout=10).json().get("batches", {}).get(model)
            print(f"{platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} CPUs | model {model}: "
                  f"{info['layers']}x{info['hidden']} {info['cell']} | {args.length} chars a request, streamed | "
                  f"server: {args.server_args or 'defaults'}"
                  + (f" ({batch['max_rows']} rows, a queue of {batch['max_queue']})" if batch else "") + "\n")
            print(HEADER)
            for c in levels:
                requests = level_requests(c, args.requests)
                results.append(asyncio.run(run_level(url, model, c, requests, args.length, args.budget)))
                print(results[-1].row(), flush=True)
        finally:
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    bad = [r for r in results if r.errors or r.health_failures]
    for r in bad:
        print(f"concurrency {r.concurrency}: {r.errors} errors, e.g. {r.error_samples[:3]}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
