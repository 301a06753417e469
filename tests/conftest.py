"""Shared fixtures: a private cache, the corpora mirror, small text slices and one tiny trained run."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("CHARRNN_DATA") or REPO_ROOT.parent / "shared" / "corpora")
# Session fixtures run before any per-test fixture: give them the mirror and a private cache too.
os.environ.setdefault("CHARRNN_DATA", str(MIRROR))
os.environ["CHARRNN_CACHE"] = tempfile.mkdtemp(prefix="charrnn-test-cache-")
TINY_MODEL = dict(cell="lstm", layers=1, hidden=32)
TINY_TRAIN = dict(batch_size=4, seq_len=32, eval_every=20, log_every=5, sample_chars=0, warmup=5, lr=1e-2, device="cpu")


def train_stopped_during(setup, at: int):
    """Train a prepared run with its engine, asking to stop (as Ctrl-C does) during step `at`."""
    from charrnn.training.engines import ENGINES
    from charrnn.training.loop import Trainer

    class StopsDuring(Trainer):
        def learning_rate(self):
            if self.step == at:
                self.stop_requested = True
            return super().learning_rate()

    try:
        return StopsDuring(setup, ENGINES[setup.config.engine](setup)).fit()
    finally:
        if setup.lock is not None:
            setup.lock.release()


@pytest.fixture(autouse=True)
def private_dirs(tmp_path_factory, monkeypatch):
    """Every test gets its own cache (no real user folders) and the shared mirror for datasets."""
    monkeypatch.setenv("CHARRNN_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("CHARRNN_DATA", str(MIRROR))


def _slice(name: str, chars: int) -> str:
    path = MIRROR / name
    if not path.exists():
        pytest.skip(f"corpora mirror not found at {MIRROR}")
    return path.read_text(encoding="utf-8")[:chars]


@pytest.fixture(scope="session")
def shakespeare_text() -> str:
    return _slice("tinyshakespeare/input.txt", 20_000)


@pytest.fixture(scope="session")
def dinos_text() -> str:
    return _slice("dinosaurs/dinos.txt", 20_000)


@pytest.fixture
def shakespeare_file(tmp_path, shakespeare_text) -> Path:
    path = tmp_path / "shakespeare.txt"
    path.write_text(shakespeare_text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A 1x32 LSTM trained for 40 steps on 20k characters of Shakespeare (stream mode)."""
    import charrnn

    folder = tmp_path_factory.mktemp("tiny")
    text = _slice("tinyshakespeare/input.txt", 20_000)
    (folder / "input.txt").write_text(text, encoding="utf-8")
    os.environ.setdefault("CHARRNN_CACHE", str(folder / "cache"))
    result = charrnn.train(str(folder / "input.txt"), out=str(folder / "run"), max_steps=40, **TINY_MODEL,
                           **TINY_TRAIN)
    return result.run_dir


@pytest.fixture(scope="session")
def tiny_lines_run(tmp_path_factory) -> Path:
    """A 1x32 GRU trained for 40 steps on dinosaur names (lines mode)."""
    import charrnn

    folder = tmp_path_factory.mktemp("tiny_lines")
    (folder / "dinos.txt").write_text(_slice("dinosaurs/dinos.txt", 20_000), encoding="utf-8")
    result = charrnn.train(str(folder / "dinos.txt"), out=str(folder / "run"), mode="lines", max_steps=40,
                           cell="gru", layers=1, hidden=32, **{**TINY_TRAIN, "batch_size": 16})
    return result.run_dir


POEM_CHARS = 12_000  # about 200 poems, ~2,000 distinct characters: rhyme groups and heads to spare


@pytest.fixture(scope="session")
def poems_run(tmp_path_factory) -> Path:
    """A 1x32 GRU trained for 30 steps on the start of tang-poems/poems_small.txt (lines mode)."""
    import charrnn

    source = MIRROR / "tang-poems" / "poems_small.txt"
    if not source.exists():
        pytest.skip(f"corpora mirror not found at {MIRROR}")

    folder = tmp_path_factory.mktemp("poems")
    (folder / "poems.txt").write_text(source.read_text(encoding="utf-8")[:POEM_CHARS], encoding="utf-8")
    return charrnn.train(str(folder / "poems.txt"), out=str(folder / "run"), mode="lines", max_steps=30, cell="gru",
                         layers=1, hidden=32, batch_size=16, seq_len=80, eval_every=30, log_every=10, sample_chars=0,
                         warmup=5, lr=1e-2, device="cpu").run_dir


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")  # not longer: Playwright's sync API keeps an event loop running meanwhile
def browser():
    """Debian's Chromium under Playwright, by executable path (its own browser download fails here)."""
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (see the Makefile)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
