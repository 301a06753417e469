"""Training runs: exact resume (in-process, Ctrl-C, SIGKILL), fine-tuning, and refusing to overwrite."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import charrnn
from charrnn import checkpoint
from charrnn.errors import CharRNNError
from charrnn.training.launch import fit
from charrnn.training.preparation import prepare
from charrnn.training.torch_engine import TorchEngine
from conftest import TINY_MODEL, TINY_TRAIN, train_stopped_during


def weights(run):
    return checkpoint.load_tensors(run / checkpoint.LAST)[0]


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


REGULARISED = {"layers": 2, "dropout": 0.1, "weight_drop": 0.3, "input_dropout": 0.2, "embed_dropout": 0.1}


@pytest.mark.parametrize("mode, extra, train_extra, at", [
    ("stream", {}, {}, 7), ("lines", {"cell": "gru", "dropout": 0.2, "layers": 2}, {}, 7),
    ("stream", {"output": "tied", "embed": 8}, {}, 7),
    # the masks' RNG is restored too; 0.05: the regularisers rise from step 7 (the one stopped at) on
    ("stream", REGULARISED, {"weight_decay": 0.1, "eval_chars": 300, "regularise_after": 0.05}, 7),
    ("stream", REGULARISED, {"weight_decay": 0.1, "eval_chars": 300, "regularise_after": 0}, 9),  # after an eval
    ("lines", {**REGULARISED, "cell": "gru"}, {"weight_decay": 0.1, "eval_chars": 300, "seq_len": 0,
                                                "regularise_after": 0}, 7)])
def test_stop_and_resume_is_bit_identical(tmp_path, shakespeare_file, mode, extra, train_extra, at):
    flags = {**TINY_TRAIN, "inputs": [str(shakespeare_file)], "mode": mode, "max_steps": 24, "eval_every": 10,
             **train_extra}
    model = {**TINY_MODEL, **extra}
    straight = fit(prepare({**flags, "out": str(tmp_path / "straight")}, model))
    stopped = train_stopped_during(prepare({**flags, "out": str(tmp_path / "stopped")}, model), at=at)
    assert stopped.interrupted and stopped.steps == at + 1
    resumed = fit(prepare({"out": str(tmp_path / "stopped"), "resume": True}, {}))
    assert resumed.steps == straight.steps == 24
    assert_same_weights(straight.run_dir, resumed.run_dir)
    assert resumed.best_val == pytest.approx(straight.best_val)
    steps = [r["step"] for r in checkpoint.read_metrics(resumed.run_dir) if "loss" in r]
    assert steps == sorted(set(steps))  # no step logged twice after the resume


def run_cli(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "charrnn", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def train_args(corpus, out, steps=150):
    return ["train", str(corpus), "--out", str(out), "--max-steps", str(steps), "--hidden", "32", "--layers", "1",
            "--batch-size", "4", "--seq-len", "16", "--eval-every", "1000", "--save-every", "10", "--log-every", "5",
            "--sample-chars", "0", "--device", "cpu", "--lr", "0.01"]


def interrupt_at(process, step, sig):
    """Send `sig` once the run has logged `step` (bounded wait)."""
    deadline = time.time() + 120
    for line in process.stdout:
        if line.startswith(f"step {step}/"):
            process.send_signal(sig)
            break
        assert time.time() < deadline, "the run never reached the step"
    process.communicate(timeout=120)
    return process.returncode


@pytest.mark.parametrize("sig, code", [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGINT, 130)])
def test_interrupted_subprocess_resumes_bit_identically(tmp_path, shakespeare_file, sig, code):
    straight = run_cli(*train_args(shakespeare_file, tmp_path / "straight"))
    stopped = run_cli(*train_args(shakespeare_file, tmp_path / "stopped"))
    assert interrupt_at(stopped, 30, sig) == code
    _, meta = checkpoint.read_header(tmp_path / "stopped" / checkpoint.TRAINER)
    assert 10 <= meta["step"] < 150  # really stopped part-way, with a checkpoint to resume from
    resumed = run_cli("train", "--out", str(tmp_path / "stopped"), "--resume")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    straight.communicate(timeout=300)
    assert straight.returncode == 0
    assert_same_weights(tmp_path / "straight", tmp_path / "stopped")


def test_existing_run_is_never_overwritten(tiny_run, shakespeare_file):
    before = (tiny_run / "last.safetensors").read_bytes()
    with pytest.raises(CharRNNError, match="already holds a run.*--resume"):
        charrnn.train(str(shakespeare_file), out=str(tiny_run), max_steps=2)
    assert (tiny_run / "last.safetensors").read_bytes() == before


def test_resume_refuses_changed_model_flags(tiny_run):
    with pytest.raises(CharRNNError, match="--hidden 64 differs from the model's 32"):
        charrnn.train(out=str(tiny_run), resume=True, hidden=64)
    with pytest.raises(CharRNNError, match="--seq-len 99 differs"):
        charrnn.train(out=str(tiny_run), resume=True, seq_len=99)


def test_a_run_saved_before_regularise_after_resumes_regularised_from_the_start(tmp_path, shakespeare_file):
    import json

    first = charrnn.train(str(shakespeare_file), out=str(tmp_path / "r"), max_steps=4, **TINY_MODEL, **TINY_TRAIN,
                          dropout=0.2)
    config = first.run_dir / "config.json"
    saved = json.loads(config.read_text())
    del saved["train"]["regularise_after"]  # as an older charrnn wrote it
    config.write_text(json.dumps(saved))
    charrnn.train(out=str(first.run_dir), resume=True, max_steps=8)
    strengths = [r["regularisation"] for r in checkpoint.read_metrics(first.run_dir) if "loss" in r]
    assert strengths[-1] == 1.0  # its first pass was regularised, and so is the rest


def test_resume_can_extend_the_budget(tmp_path, shakespeare_file):
    first = charrnn.train(str(shakespeare_file), out=str(tmp_path / "r"), max_steps=10, **TINY_MODEL, **TINY_TRAIN)
    more = charrnn.train(out=str(first.run_dir), resume=True, max_steps=15)
    assert (first.steps, more.steps) == (10, 15)


def test_fine_tune_keeps_the_vocabulary_and_counts_unknown_characters(tiny_run, tmp_path, capsys):
    new = tmp_path / "new.txt"
    new.write_text("ROMEO: Ça va? Ωμέγα!\n" * 200)
    result = charrnn.train(str(new), out=str(tmp_path / "ft"), init_from=str(tiny_run), max_steps=3,
                           **{**TINY_TRAIN, "val_frac": 0.2})
    assert "are not in" in capsys.readouterr().err
    base, tuned = charrnn.load(tiny_run), charrnn.load(result.run_dir)
    assert tuned.vocab.chars == base.vocab.chars
    with pytest.raises(CharRNNError, match="--hidden 64 differs"):
        charrnn.train(str(new), out=str(tmp_path / "ft2"), init_from=str(tiny_run), hidden=64)


def test_a_new_run_starts_from_the_unigram_prior(tmp_path, shakespeare_file):
    from charrnn.data.corpus import token_counts

    setup = prepare({**TINY_TRAIN, "inputs": [str(shakespeare_file)], "out": str(tmp_path / "run")}, TINY_MODEL)
    engine = TorchEngine(setup)
    counts = torch.from_numpy(token_counts(setup.corpus.train, len(setup.corpus.vocab))).double()
    frequencies = counts.clamp_min(0.5) / counts.sum()
    assert torch.allclose(engine.model.head.bias.detach().double().exp(), frequencies, rtol=1e-5)


def test_same_seed_same_run(tmp_path, shakespeare_file):
    runs = [charrnn.train(str(shakespeare_file), out=str(tmp_path / name), max_steps=6, **TINY_MODEL, **TINY_TRAIN)
            for name in ("a", "b")]
    assert_same_weights(runs[0].run_dir, runs[1].run_dir)


def test_loss_falls_in_both_modes(tiny_run, tiny_lines_run):
    for run in (tiny_run, tiny_lines_run):
        metrics = [r for r in checkpoint.read_metrics(run) if "loss" in r]
        assert metrics[-1]["loss"] < metrics[0]["loss"]


def test_one_trainer_per_run_folder_and_a_killed_one_leaves_no_lock(tmp_path, shakespeare_file):
    run = tmp_path / "run"
    first = run_cli(*train_args(shakespeare_file, run, steps=1_000_000))  # still training when asked
    for _ in range(600):  # until it has written its run files and holds the folder
        if checkpoint.is_run(run) and (run / ".lock").read_text().strip() == str(first.pid):
            break
        time.sleep(0.05)
    second = subprocess.run([sys.executable, "-m", "charrnn", "train", "--out", str(run), "--resume"],
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 2 and second.stderr.count("\n") == 1
    assert f"(pid {first.pid}) is training this run" in second.stderr
    new = subprocess.run([sys.executable, "-m", "charrnn", "train", str(shakespeare_file), "--out", str(run)],
                         capture_output=True, text=True, timeout=120)
    assert new.returncode == 2 and f"(pid {first.pid}) is training this run" in new.stderr
    first.kill()
    first.communicate(timeout=60)
    resumed = charrnn.train(out=str(run), resume=True, max_steps=3)  # SIGKILL left no lock behind
    assert resumed.steps >= 3


def test_sigterm_saves_and_resumes_bit_identically(tmp_path, shakespeare_file):
    straight = run_cli(*train_args(shakespeare_file, tmp_path / "straight"))
    stopped = run_cli(*train_args(shakespeare_file, tmp_path / "stopped"))
    assert interrupt_at(stopped, 30, signal.SIGTERM) == 130
    resumed = run_cli("train", "--out", str(tmp_path / "stopped"), "--resume")
    assert resumed.communicate(timeout=300)[0] is not None and resumed.returncode == 0
    straight.communicate(timeout=300)
    assert_same_weights(tmp_path / "straight", tmp_path / "stopped")
