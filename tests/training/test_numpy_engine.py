"""`charrnn train --engine numpy`: the numpy engine through the CLI, writing an ordinary run folder."""

import contextlib
import io
import math

import numpy as np
import pytest
import torch

import charrnn
from charrnn import checkpoint
from charrnn.commands.main import main
from charrnn.reference import forward, to_torch_state_dict
from charrnn.training.launch import fit
from charrnn.training.numpy_engine import to_charrnn
from charrnn.training.preparation import prepare
from conftest import train_stopped_during

NUMPY = dict(engine="numpy", lr=0.1, grad_clip=5.0, sample_chars=0, device="cpu")
STREAM = dict(NUMPY, mode="stream", seq_len=16, batch_size=2, max_steps=10, eval_every=5, log_every=5)


@pytest.fixture(scope="module")
def lines_run(tmp_path_factory, dinos_text):
    """A 1x16 rnn trained on 300 dinosaur names, one name per step, through `charrnn train`."""
    folder = tmp_path_factory.mktemp("numpy_lines")
    path = folder / "dinos.txt"
    path.write_text("\n".join(dinos_text.splitlines()[:300]) + "\n", encoding="utf-8")
    args = ["train", str(path), "--engine", "numpy", "--mode", "lines", "--cell", "rnn", "--layers", "1",
            "--hidden", "16", "--embed", "0", "--batch-size", "1", "--lr", "0.1", "--grad-clip", "5",
            "--max-steps", "300", "--eval-every", "150", "--log-every", "50", "--sample-chars", "30",
            "--out", str(folder / "run")]
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(printed):  # capsys is per test
        mp.setenv("CHARRNN_CACHE", str(folder / "cache"))
        assert main(args) == 0
    return folder / "run", printed.getvalue()


def numpy_params(run):
    tensors, meta = checkpoint.load_tensors(run / checkpoint.TRAINER)
    assert meta["engine"] == "numpy"
    return {k[len("numpy."):]: v.numpy() for k, v in tensors.items() if k.startswith("numpy.")}


def assert_weights_are_the_numpy_params(run):
    """last.safetensors is convert.to_torch_state_dict of the numpy params, in float32, and the
    loaded model computes the numpy engine's logits."""
    params, model = numpy_params(run), charrnn.load(run, device="cpu", which="last").network.model
    cell = model.config.cell
    saved, _ = checkpoint.load_tensors(run / checkpoint.LAST)
    expected = to_torch_state_dict(params, cell)
    assert saved.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_array_equal(saved[key].numpy(), value.astype(np.float32), err_msg=key)

    ids = [1, 5, 9, 3, 7, 7, 4, 10, 6]  # any ids of the vocabulary
    want, _ = forward(params, cell, ids)  # (T, V) float64
    with torch.no_grad():
        got32, _ = model(torch.tensor([ids]))
        got64, _ = to_charrnn(params, model.config, torch.float64)(torch.tensor([ids]))
    assert np.abs(got32[0].double().numpy() - want).max() < 1e-4
    assert np.abs(got64[0].numpy() - want).max() < 1e-10


def test_a_numpy_run_prints_progress_and_opens_like_any_run(lines_run, capsys):
    run, printed = lines_run
    assert "numpy engine (float64, CPU): Adagrad" in printed
    assert "step 50/300 | loss " in printed and "per line) | lr " in printed and "chars/s" in printed
    assert "step 300: val " in printed
    assert {checkpoint.BEST, checkpoint.LAST, checkpoint.TRAINER, checkpoint.METRICS} <= {p.name for p in run.iterdir()}

    model = charrnn.load(run)
    names = model.generate(num=5, seed=0, length=40)
    assert len(names) == 5 and all("\n" not in n for n in names)

    assert main(["sample", str(run), "--num", "3", "--seed", "1", "--length", "40"]) == 0
    assert main(["info", str(run)]) == 0
    out = capsys.readouterr().out
    assert out.count("--- sample") == 3 and "training   300 steps" in out


def test_the_per_name_loss_falls(lines_run):
    records = checkpoint.read_metrics(lines_run[0])
    logs = [r for r in records if "seq_loss" in r]
    assert [r["step"] for r in logs] == [50, 100, 150, 200, 250, 300]
    assert set(logs[0]) == {"step", "loss", "seq_loss", "lr", "chars_per_s", "elapsed", "epochs", "regularisation"}
    assert logs[-1]["seq_loss"] < 0.9 * logs[0]["seq_loss"]
    evals = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in evals] == [150, 300]
    assert evals[-1]["val_bpc"] == pytest.approx(evals[-1]["val_loss"] / math.log(2))


def test_the_weights_written_are_the_numpy_params_converted(lines_run):
    assert_weights_are_the_numpy_params(lines_run[0])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_stream_mode_with_two_layers(tmp_path, shakespeare_file, cell):
    result = charrnn.train(str(shakespeare_file), cell=cell, layers=2, hidden=8, embed=0,
                           out=str(tmp_path / "run"), **STREAM)
    assert result.steps == 10 and result.best_val is not None and math.isfinite(result.best_val)
    evals = [r for r in checkpoint.read_metrics(result.run_dir) if "val_loss" in r]
    assert [r["step"] for r in evals] == [5, 10]
    assert_weights_are_the_numpy_params(result.run_dir)
    assert len(charrnn.load(result.run_dir).generate("ROMEO:", length=20, seed=0)) == 20


def test_stop_and_resume_is_bit_identical(tmp_path, shakespeare_file):
    flags = {**STREAM, "inputs": [str(shakespeare_file)], "max_steps": 9, "eval_every": 3, "warmup": 3}
    model = dict(cell="lstm", layers=1, hidden=8, embed=0)
    straight = fit(prepare({**flags, "out": str(tmp_path / "straight")}, model))
    stopped = train_stopped_during(prepare({**flags, "out": str(tmp_path / "stopped")}, model), at=4)
    assert stopped.interrupted and stopped.steps == 5
    resumed = fit(prepare({"out": str(tmp_path / "stopped"), "resume": True}, {}))
    assert resumed.steps == straight.steps == 9
    a, b = numpy_params(straight.run_dir), numpy_params(resumed.run_dir)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert resumed.best_val == straight.best_val
    steps = [r["step"] for r in checkpoint.read_metrics(resumed.run_dir) if "loss" in r]
    assert steps == sorted(set(steps))


@pytest.mark.parametrize("first, then", [("numpy", "torch"), ("torch", "numpy")])
def test_either_engine_continues_the_other(tmp_path, shakespeare_file, first, then):
    flags = {**STREAM, "engine": first, "max_steps": 4, "eval_every": 2, "lr": 0.01, "weight_decay": 0.0}
    unregularised = {"dropout": 0.0, "weight_drop": 0.0, "input_dropout": 0.0}  # what the numpy engine can continue
    charrnn.train(str(shakespeare_file), cell="gru", layers=1, hidden=8, embed=0, out=str(tmp_path / "run"),
                  **unregularised, **flags)
    before = checkpoint.load_tensors(tmp_path / "run" / checkpoint.LAST)[0]
    result = charrnn.train(out=str(tmp_path / "run"), resume=True, engine=then, max_steps=6)
    assert result.steps == 6
    after = checkpoint.load_tensors(tmp_path / "run" / checkpoint.LAST)[0]
    assert before.keys() == after.keys() and not torch.equal(before["head.weight"], after["head.weight"])


@pytest.mark.parametrize("flags, message", [
    (["--dropout", "0.2", "--layers", "2"], "--engine numpy has no dropout"),
    (["--embed", "8"], "pass --embed 0"),
    (["--weight-decay", "0.1"], "no weight decay"),
    (["--dtype", "bf16"], "float64"),
    (["--output", "tied"], "full output layer only"),
])
def test_flags_the_numpy_engine_cannot_honour_are_one_line_and_leave_nothing(tmp_path, shakespeare_file, capsys,
                                                                              flags, message):
    run = tmp_path / "run"
    code = main(["train", str(shakespeare_file), "--engine", "numpy", "--hidden", "8", "--embed", "0",
                 "--max-steps", "2", "--out", str(run), *flags])  # a later --embed overrides the first
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("charrnn: error: ") and message in err
    assert not run.exists()  # a refused run leaves no half-made folder behind
