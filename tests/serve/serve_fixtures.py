"""Shared by the serve tests (imported by them; tests/serve has no conftest of its own so that it
never shadows tests/conftest.py): a tiny poem run, a folder of runs, SSE parsing, a live server."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _once(folder: Path, build) -> Path:
    """Build `folder` unless an earlier test file of this session already did."""
    if not (folder / "done").exists():
        build(folder)
        (folder / "done").write_text("")
    return folder


@pytest.fixture(scope="session")
def runs_folder(tmp_path_factory, tiny_run, tiny_lines_run, poems_run) -> Path:
    """A folder of runs, as `charrnn serve runs/` sees it: shakespeare (stream), dinos and poems (lines)."""
    def build(folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, run in (("shakespeare", tiny_run), ("dinos", tiny_lines_run), ("poems", poems_run)):
            (folder / name).symlink_to(run, target_is_directory=True)
        (folder / "notes").mkdir()  # not a run: skipped

    return _once(tmp_path_factory.getbasetemp() / "serve-runs", build)


def parse_sse(text: str) -> list[tuple[str, str]]:
    """[(event name, data)] of a text/event-stream body ("message" when unnamed)."""
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        events.append((name, "\n".join(data)))
    return events


def sse_json(text: str) -> list[tuple[str, dict]]:
    return [(name, json.loads(data)) for name, data in parse_sse(text) if data != "[DONE]"]


@contextmanager
def live_server(app, startup_timeout: float = 30.0) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 and a free port, in a thread; yield its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the test server did not start within {startup_timeout:g}s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
