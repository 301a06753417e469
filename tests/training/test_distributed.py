"""Scale-out with PyTorch DDP under torchrun (gloo on CPU): two ranks equal one process."""

import subprocess
import sys
import threading
import time

import pytest
import torch

from charrnn import checkpoint

# lr 2e-3: 2 ranks sum the gradients in another order than 1 process, and Adam turns the rounding
# in near-zero gradients (the output bias starts at the unigram prior, where its gradient is ~0)
# into updates of about lr * 1e-3. A sharding or normalisation bug moves weights by ~lr, far above 1e-5.
FLAGS = ["--hidden", "32", "--layers", "2", "--batch-size", "4", "--seq-len", "16", "--sample-chars", "0",
         "--device", "cpu", "--schedule", "constant", "--warmup", "0", "--lr", "0.002", "--eval-every", "3",
         "--log-every", "1", "--dtype", "fp32",
         # each rank draws its own dropout masks for its rows: only an undropped run equals one process
         "--dropout", "0", "--weight-drop", "0", "--input-dropout", "0"]


def charrnn(*args, ranks=1):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
                f"--nproc_per_node={ranks}", "-m", "charrnn"] if ranks > 1 else [sys.executable, "-m", "charrnn"]
    done = subprocess.run([*launcher, *args], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def assert_close_weights(a, b):
    wa, wb = checkpoint.load_tensors(a / checkpoint.LAST)[0], checkpoint.load_tensors(b / checkpoint.LAST)[0]
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-5, rtol=0), (k, (wa[k] - wb[k]).abs().max())


@pytest.mark.parametrize("mode", ["stream", "lines"])
def test_two_ranks_equal_one_process_and_resume(tmp_path, shakespeare_file, mode):
    single = tmp_path / "single"
    charrnn("train", str(shakespeare_file), "--mode", mode, "--out", str(single), "--max-steps", "8", *FLAGS)
    ddp = tmp_path / "ddp"
    first = charrnn("train", str(shakespeare_file), "--mode", mode, "--out", str(ddp), "--max-steps", "5", *FLAGS,
                    ranks=2)
    assert "x 2 processes" in first.stdout and first.stdout.count("step 1/") == 1  # rank 0 alone prints
    charrnn("train", "--out", str(ddp), "--resume", "--max-steps", "8", ranks=2)  # a DDP run resumes
    assert_close_weights(single, ddp)
    vals = [{r["step"]: r["val_loss"] for r in checkpoint.read_metrics(run) if "val_loss" in r} for run in (single, ddp)]
    assert [3, 6, 8] == sorted(set(vals[0]) & set(vals[1]))
    for step in (3, 6, 8):  # eval is gathered across ranks
        assert vals[0][step] == pytest.approx(vals[1][step], abs=1e-4)


def test_batch_must_split_evenly(tmp_path, shakespeare_file):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc_per_node=2"]
    done = subprocess.run([*launcher, "-m", "charrnn", "train", str(shakespeare_file), "--out", str(tmp_path / "r"),
                           *FLAGS, "--batch-size", "3", "--max-steps", "2"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode != 0 and "must be a multiple of the 2 processes" in done.stderr


def test_a_ddp_run_with_dropout_resumes_bit_exactly(tmp_path, shakespeare_file):
    """Each rank draws its own dropout masks, and a resume gives each rank its own generator back."""
    flags = [*FLAGS[:FLAGS.index("--dropout")], "--dropout", "0.2", "--weight-drop", "0.2", "--input-dropout", "0.1"]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    charrnn("train", str(shakespeare_file), "--out", str(straight), "--max-steps", "6", *flags, ranks=2)
    charrnn("train", str(shakespeare_file), "--out", str(stopped), "--max-steps", "4", *flags, ranks=2)
    assert checkpoint.load_tensors(stopped / checkpoint.TRAINER)[0]["rng.ranks"].shape[0] == 2
    charrnn("train", "--out", str(stopped), "--resume", "--max-steps", "6", ranks=2)
    a, b = (checkpoint.load_tensors(run / checkpoint.LAST)[0] for run in (straight, stopped))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_stop_waits_until_the_backend_lets_go_of_the_tensors_it_was_lent():
    """A tensor made in Python and freed by a backend thread during interpreter shutdown aborts the
    process: the tensors of collectives stay referenced until nothing else holds them."""
    from charrnn.training import distributed

    lent, other = torch.zeros(3), torch.zeros(3)
    distributed._lend(lent)
    held_by_the_backend = [lent.view(3)]  # a view references the tensor, as a worker's copy would
    distributed._lend(other)  # a later collective: `lent` is still held, so it is kept
    assert [t is lent for t in distributed._lent] == [True, False]
    letting_go = threading.Timer(0.2, held_by_the_backend.clear)
    letting_go.start()
    started = time.monotonic()
    distributed._wait_until_returned(timeout=5)
    assert 0.15 < time.monotonic() - started < 4 and distributed._lent == []
    distributed._lend(lent)
    distributed._lend(other)  # nothing else holds `lent` now: it is let go at once
    assert [t is other for t in distributed._lent] == [True]
    distributed._wait_until_returned(timeout=5)
