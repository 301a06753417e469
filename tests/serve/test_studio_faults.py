"""The studio when its server dies: no trainer outlives it, and the job resumes exactly."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import torch
from safetensors.torch import load_file

from conftest import MIRROR

JOB = {"max_steps": 150, "cell": "gru", "hidden": 32, "layers": 1}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(runs: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """`charrnn serve RUNS` on a free port, once /health answers (bounded)."""
    port = free_port()
    with open(log, "a") as out:
        proc = subprocess.Popen([sys.executable, "-m", "charrnn", "serve", str(runs), "--port", str(port),
                                 "--device", "cpu", "--log-level", "warning"], stdout=out, stderr=subprocess.STDOUT)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
    while True:
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        try:
            httpx.get(f"{url}/health", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)


def trainers(folder: Path) -> list[int]:
    """The processes training the run in `folder` (their command line names it)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(folder) in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def status(url: str) -> dict:
    return httpx.get(f"{url}/api/train/job", timeout=5).json()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_server_leaves_no_trainer_and_the_job_resumes_exactly(tmp_path):
    runs, log = tmp_path / "runs", tmp_path / "server.log"
    text = (MIRROR / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")[:30_000]
    server, url = serve(runs, log)
    try:
        assert httpx.post(f"{url}/api/train", json={"name": "job", "text": text, **JOB}, timeout=30).status_code == 202
        deadline = time.monotonic() + 60
        while status(url)["step"] < 30:  # training, with a checkpoint or two behind it
            assert time.monotonic() < deadline and status(url)["state"] == "running", status(url)
            time.sleep(0.05)
    finally:
        server.kill()  # SIGKILL: no chance to stop its trainer itself
        server.wait()
    deadline = time.monotonic() + 30
    while trainers(runs / "job"):  # the kernel sent it SIGTERM: it saves and leaves
        assert time.monotonic() < deadline, "a trainer outlived its server"
        time.sleep(0.1)

    server, url = serve(runs, log)
    try:
        assert status(url)["state"] == "stopped" and 30 <= status(url)["step"] < JOB["max_steps"]
        assert httpx.post(f"{url}/api/train/job/resume", timeout=10).json()["state"] in ("queued", "running")
        deadline = time.monotonic() + 120
        while (now := status(url))["state"] in ("queued", "running"):
            assert time.monotonic() < deadline, now
            time.sleep(0.1)
        assert now["state"] == "done" and now["step"] == JOB["max_steps"], (now, log.read_text()[-2000:])
    finally:
        server.terminate()
        server.wait(30)

    reference = tmp_path / "reference"
    flags = [str(runs / "job" / "corpus.txt"), "--max-steps", "150", "--cell", "gru", "--hidden", "32",
             "--layers", "1", "--out", str(reference)]
    subprocess.run([sys.executable, "-m", "charrnn", "train", *flags], check=True, capture_output=True, timeout=300)
    resumed, uninterrupted = load_file(runs / "job" / "last.safetensors"), load_file(reference / "last.safetensors")
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in resumed)  # bit-exact, as the CLI promises
