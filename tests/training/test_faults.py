"""Faults on purpose: writes that fail (injected through the write layer, and once on a full tmpfs),
and damaged run folders. Each ends in one line; the previous checkpoint stays loadable; no
half-written file ever has a final name."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import charrnn
from charrnn import checkpoint, files
from charrnn.commands.main import main
from conftest import TINY_MODEL, TINY_TRAIN

TRAIN = ["--hidden", "8", "--layers", "1", "--batch-size", "4", "--seq-len", "16", "--eval-every", "5",
         "--log-every", "5", "--sample-chars", "0", "--device", "cpu", "--lr", "0.01"]


class HalfWriter:
    """A file whose writes put down half the bytes, then fail as a full disk does."""

    def __init__(self, f) -> None:
        self.f = f

    def write(self, data: bytes) -> int:
        self.f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def fail_writes_after(monkeypatch, allowed: int, name: str) -> None:
    """Every atomic write of a file called `name` after the first `allowed` ones fails half-way."""
    real_fdopen, seen = os.fdopen, {"n": 0}

    def fdopen(fd, *args, **kwargs):
        f = real_fdopen(fd, *args, **kwargs)
        target = Path(os.readlink(f"/proc/self/fd/{fd}")).name
        if target.startswith(f".{name}."):
            seen["n"] += 1
            if seen["n"] > allowed:
                return HalfWriter(f)
        return f

    monkeypatch.setattr(files.os, "fdopen", fdopen)


def no_temp_files(run: Path) -> bool:
    return not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_a_full_disk_at_a_checkpoint_ends_the_run_in_one_line(tmp_path, shakespeare_file, monkeypatch, capsys):
    run = tmp_path / "run"
    fail_writes_after(monkeypatch, allowed=1, name=checkpoint.TRAINER)  # the step-5 checkpoint, then no more
    code = main(["train", str(shakespeare_file), "--out", str(run), "--max-steps", "20", *TRAIN])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "No space left on device" in err and "intact" in err
    assert no_temp_files(run)  # the half-written file never took the final name, and is gone
    _, meta = checkpoint.read_header(run / checkpoint.TRAINER)
    assert meta["step"] == 5  # the last good checkpoint, whole
    assert charrnn.load(run).generate("ROMEO:", length=10, seed=0)
    monkeypatch.undo()
    assert charrnn.train(out=str(run), resume=True).steps == 20  # and the run goes on from it


def test_metrics_that_cannot_be_written_end_the_run_in_one_line(tmp_path, shakespeare_file, monkeypatch, capsys):
    run = tmp_path / "run"
    assert main(["train", str(shakespeare_file), "--out", str(run), "--max-steps", "5", *TRAIN]) == 0
    real_open = open

    def refusing_open(path, *args, **kwargs):
        if Path(path).name == checkpoint.METRICS and args[:1] == ("a",):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(checkpoint, "open", refusing_open, raising=False)
    code = main(["train", "--out", str(run), "--resume", "--max-steps", "10"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "could not write" in err and "Permission denied" in err
    assert charrnn.load(run).generate("ROMEO:", length=5, seed=0)


def test_a_real_full_filesystem(tmp_path, shakespeare_file):
    """On a tmpfs just big enough for one checkpoint: the next one cannot be written beside it."""
    probe = tmp_path / "probe"
    assert main(["train", str(shakespeare_file), "--out", str(probe), "--max-steps", "5", *TRAIN]) == 0
    size = sum(p.stat().st_size for p in probe.iterdir()) + 16 * 1024
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not permitted'})")
    try:
        result = subprocess.run([sys.executable, "-m", "charrnn", "train", str(shakespeare_file), "--out",
                                 str(disk / "run"), "--max-steps", "40", *TRAIN], capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert "No space left on device" in result.stderr
        assert no_temp_files(disk / "run")
        assert charrnn.load(disk / "run", which="last").generate("ROMEO:", length=5, seed=0)
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


@pytest.fixture
def copied_run(tmp_path, tiny_run) -> Path:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    return run


def damage_vocab(run: Path) -> None:
    vocab = json.loads((run / checkpoint.VOCAB).read_text())
    vocab["chars"] = vocab["chars"][:-1]
    (run / checkpoint.VOCAB).write_text(json.dumps(vocab))
    config = json.loads((run / checkpoint.CONFIG).read_text())
    config["model"]["vocab_size"] -= 1  # consistent with each other, not with the weights
    (run / checkpoint.CONFIG).write_text(json.dumps(config))


def damage_dtypes(run: Path) -> None:
    """Whole-number weights, in the weight files and in the trainer's copy."""
    tensors, _ = checkpoint.load_tensors(run / checkpoint.BEST)
    checkpoint.save_tensors(run / checkpoint.BEST, {k: (v * 1000).to(torch.int32) for k, v in tensors.items()})
    tensors, meta = checkpoint.load_tensors(run / checkpoint.TRAINER)
    checkpoint.save_tensors(run / checkpoint.TRAINER, {k: (v * 1000).to(torch.int32) if k.startswith("model.") else v
                                                       for k, v in tensors.items()}, meta)


def damage_format(run: Path) -> None:
    config = json.loads((run / checkpoint.CONFIG).read_text())
    config["format"] = 99
    (run / checkpoint.CONFIG).write_text(json.dumps(config))


@pytest.mark.parametrize("damage, message", [
    (damage_vocab, "do not match the model in config.json"),
    (damage_dtypes, "holds torch.int32 values"),
    (damage_format, "newer than this charrnn"),
])
def test_damaged_run_folders_are_one_line_and_untouched(copied_run, capsys, damage, message):
    damage(copied_run)
    before = {p.name: p.read_bytes() for p in copied_run.iterdir() if p.is_file()}
    for args in (["sample", str(copied_run), "--length", "5"], ["train", "--out", str(copied_run), "--resume",
                                                                "--max-steps", "50"]):
        code = main(args)
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and message in err, err
    after = {p.name: p.read_bytes() for p in copied_run.iterdir() if p.is_file() and p.name != ".lock"}
    assert after == {k: v for k, v in before.items() if k != ".lock"}  # nothing was overwritten


def test_a_torn_metrics_line_is_skipped_on_resume(tmp_path, shakespeare_file):
    result = charrnn.train(str(shakespeare_file), out=str(tmp_path / "r"), max_steps=10, **TINY_MODEL, **TINY_TRAIN)
    with open(result.run_dir / checkpoint.METRICS, "a") as f:
        f.write('{"step": 11, "lo')  # a kill in the middle of a line
    resumed = charrnn.train(out=str(result.run_dir), resume=True, max_steps=15)
    steps = [r["step"] for r in checkpoint.read_metrics(result.run_dir)]
    assert resumed.steps == 15 and steps == sorted(steps) and max(steps) == 15


def test_a_corpus_that_changes_while_it_is_read(tmp_path, shakespeare_text, monkeypatch):
    from charrnn.data import corpus

    path = tmp_path / "growing.txt"
    path.write_text(shakespeare_text, encoding="utf-8")
    real_chunks = corpus.text_chunks

    def chunks_then_append(*args, **kwargs):
        yield from real_chunks(*args, **kwargs)
        with open(path, "a", encoding="utf-8") as f:
            f.write("more text written by another program\n")

    monkeypatch.setattr(corpus, "text_chunks", chunks_then_append)
    with pytest.raises(charrnn.CharRNNError, match="changed while it was read"):
        corpus.encode_files([path], "stream")
