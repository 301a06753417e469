"""What a CPU-minute buys: evals on a fixed subset with the whole split at the end, a speed that
leaves evaluation out, early stopping, and lines that are never cut by default."""

import time

import pytest
import torch

from charrnn import checkpoint
from charrnn.training.engines import ENGINES
from charrnn.training.launch import fit
from charrnn.training.evals import Evals
from charrnn.training.loop import Trainer
from charrnn.training.preparation import auto_eval_every, prepare
from charrnn.training.torch_engine import TorchEngine
from conftest import TINY_MODEL, TINY_TRAIN


def flags(corpus, out, **more):
    return {**TINY_TRAIN, "inputs": [str(corpus)], "out": str(out), **more}


def test_evals_score_a_subset_and_the_last_one_the_whole_split(tmp_path, shakespeare_file, capsys):
    result = fit(prepare(flags(shakespeare_file, tmp_path / "run", max_steps=30, eval_every=10, eval_chars=400),
                         TINY_MODEL))
    records = checkpoint.read_metrics(result.run_dir)
    evals = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in evals] == [10, 20, 30]
    assert all(r["val_subset"] and 380 <= r["val_chars"] <= 420 for r in evals[:2])
    (whole,) = [r for r in records if "whole_val_loss" in r]
    assert whole is evals[-1] or whole == evals[-1]  # the last eval is the whole split, not one more subset
    assert not whole["val_subset"] and whole["val_chars"] == 1_999 and whole["val_loss"] == whole["whole_val_loss"]
    assert checkpoint.read_header(result.run_dir / checkpoint.BEST)[1]["step"] == whole["best_step"]
    assert result.best_val == whole["whole_best_val_loss"] <= whole["whole_val_loss"] == result.last_val
    assert checkpoint.run_summary(result.run_dir)["best_val"] == result.best_val
    out = capsys.readouterr().out
    assert "on 4" in out and "on the whole validation split (1,999 chars)" in out
    assert "evaluating" not in out  # (the CLI prints that)


@pytest.mark.parametrize("last_subset, last, best_step", [(2.5, 4.0, 10), (2.5, 1.0, 30), (1.5, 1.0, 30)])
def test_the_last_eval_keeps_the_better_of_the_last_and_the_best_weights(tmp_path, shakespeare_file, monkeypatch,
                                                                         last_subset, last, best_step):
    # The subset evals at steps 10 and 20 (the first is the best so far), then the last weights on the
    # whole split and, from the same pass, on the subset: only when they do not beat the best there are
    # the best weights scored on the whole split.
    subset = iter([2.0, 3.0])
    whole = iter([3.0] if last_subset >= 2.0 else [])
    last_pass = iter([(last, last_subset)])

    def score(self, network, max_chars):
        loss = next(subset) if max_chars else next(whole)
        return {"loss_nats": loss, "bpc": loss, "chars": 100}

    def score_with_subset(self, network):
        return tuple({"loss_nats": loss, "bpc": loss, "chars": 100} for loss in next(last_pass))

    monkeypatch.setattr(Evals, "score", score)
    monkeypatch.setattr(Evals, "score_with_subset", score_with_subset)
    result = fit(prepare(flags(shakespeare_file, tmp_path / "run", max_steps=30, eval_every=10, eval_chars=400,
                               patience=0), TINY_MODEL))
    (record,) = [r for r in checkpoint.read_metrics(result.run_dir) if "whole_val_loss" in r]
    assert (record["best_step"], record["whole_val_loss"], record["whole_best_val_loss"]) == (best_step, last,
                                                                                             min(last, 3.0))
    assert checkpoint.read_header(result.run_dir / checkpoint.BEST)[1]["step"] == best_step
    assert (result.best_val, result.last_val) == (min(last, 3.0), last)
    assert next(subset, None) is None and next(whole, None) is None and next(last_pass, None) is None  # no more


def test_early_stopping_when_val_stops_improving(tmp_path, shakespeare_file, monkeypatch, capsys):
    losses = iter([3.0, 2.0, 2.5, 2.4, 2.6, 9.9])

    def score(self, network, max_chars):
        loss = next(losses) if max_chars else 2.0
        return {"loss_nats": loss, "bpc": loss, "chars": 100}

    monkeypatch.setattr(Evals, "score", score)
    result = fit(prepare(flags(shakespeare_file, tmp_path / "run", max_steps=100, eval_every=5, patience=3),
                         TINY_MODEL))
    assert result.stopped_early and result.steps == 25  # best at 10; 15, 20, 25 did not improve
    assert "stopped early: val has not improved for 3 evals (best at step 10)" in capsys.readouterr().out


@pytest.mark.parametrize("after", [1.0, 0.5, 0.0])
def test_the_regularisers_start_after_a_pass_over_the_text(tmp_path, shakespeare_text, monkeypatch, after):
    corpus = tmp_path / "short.txt"
    corpus.write_text(shakespeare_text[:4_000], encoding="utf-8")  # 28 steps a pass
    applied = []
    original = TorchEngine.regularise

    def regularise(self, strength):
        original(self, strength)
        applied.append((strength, self.model.config.dropout * self.model.strength,
                        self.optimizer.param_groups[0]["weight_decay"]))

    monkeypatch.setattr(TorchEngine, "regularise", regularise)
    result = fit(prepare(flags(corpus, tmp_path / "run", max_steps=80, eval_every=100, log_every=1,
                               weight_decay=0.1, regularise_after=after), {**TINY_MODEL, "dropout": 0.2}))
    logged = [r for r in checkpoint.read_metrics(result.run_dir) if "loss" in r]
    positions = [0.0] + [r["epochs"] for r in logged]  # the strength is set before each step, from the position
    assert len(applied) == len(logged) == 80
    for before_step, record, (strength, dropout, decay) in zip(positions, logged, applied):
        assert record["regularisation"] == strength
        expected = min(1.0, max(0.0, before_step - after)) if after else 1.0
        assert strength == pytest.approx(expected, abs=1e-9)
        assert (dropout, decay) == (pytest.approx(0.2 * strength), pytest.approx(0.1 * strength))
    assert 2.8 < logged[-1]["epochs"] < 3.0
    strengths = [strength for strength, _, _ in applied]
    if after == 1.0:
        assert strengths[:29] == [0.0] * 29 and 0 < strengths[40] < 1 and strengths[-1] == 1.0
    if after == 0.0:
        assert set(strengths) == {1.0}


def test_progress_speed_leaves_evaluation_out(tmp_path, shakespeare_file, monkeypatch):
    original = Evals.evaluate

    def slow_evaluate(self, step, elapsed, bar):
        time.sleep(1.0)
        original(self, step, elapsed, bar)

    monkeypatch.setattr(Evals, "evaluate", slow_evaluate)
    result = fit(prepare(flags(shakespeare_file, tmp_path / "run", max_steps=20, eval_every=5, log_every=5),
                         TINY_MODEL))
    speeds = [r["chars_per_s"] for r in checkpoint.read_metrics(result.run_dir) if "chars_per_s" in r]
    chars_per_log = 5 * TINY_TRAIN["batch_size"] * TINY_TRAIN["seq_len"]
    assert len(speeds) == 4 and min(speeds) > chars_per_log / 0.5  # with the 1 s evals counted: < 640/s
    assert result.eval_seconds >= 4.0


def test_lines_are_never_cut_by_default(tmp_path, capsys):
    corpus = tmp_path / "lines.txt"
    corpus.write_text("".join(f"{'ab' * (1 + i % 7)}\n" for i in range(60)) + "x" * 300 + "\n", encoding="utf-8")
    setup = prepare({**TINY_TRAIN, "inputs": [str(corpus)], "out": str(tmp_path / "run"), "mode": "lines",
                     "seq_len": 0, "val_frac": 0.0, "preset": "cpu-2min"}, TINY_MODEL)
    setup.lock.release()
    assert setup.config.seq_len == 301  # the longest line and its <eos>: the preset's 64 is for stream mode
    assert "are cut" not in capsys.readouterr().err
    info, _ = checkpoint.read_run(setup.run_dir)
    assert info.train["seq_len"] == 301  # saved resolved: a resume reads the same batches
    cut = prepare({**TINY_TRAIN, "inputs": [str(corpus)], "out": str(tmp_path / "cut"), "mode": "lines",
                   "seq_len": 50, "val_frac": 0.0}, TINY_MODEL)
    cut.lock.release()
    assert "1 of 61 lines are longer than --seq-len 50 and are cut" in capsys.readouterr().err


def test_evals_come_every_250_steps_or_every_pass_when_a_pass_is_short(tmp_path, shakespeare_file):
    # A name list is a pass every few dozen steps and memorises within a few passes: its evals must
    # see each pass, or the best weights are long gone by the first one.
    names = tmp_path / "names.txt"
    names.write_text("".join(f"{'abcde'[i % 5]}{'xyz'[i % 3] * (1 + i % 4)}\n" for i in range(90)), encoding="utf-8")
    given = {**TINY_TRAIN, "inputs": [str(names)], "mode": "lines", "eval_every": 0, "max_steps": 50}
    result = fit(prepare({**given, "out": str(tmp_path / "names")}, TINY_MODEL))
    info, _ = checkpoint.read_run(result.run_dir)
    assert info.train["eval_every"] == 21  # 81 training names in batches of 4; saved resolved, for a resume
    evals = [r["step"] for r in checkpoint.read_metrics(result.run_dir) if "val_loss" in r]
    assert evals == [21, 42, 50]
    explicit = prepare({**given, "out": str(tmp_path / "explicit"), "eval_every": 30}, TINY_MODEL)
    explicit.lock.release()
    assert explicit.config.eval_every == 30  # a flag wins
    long_pass = prepare({**TINY_TRAIN, "inputs": [str(shakespeare_file)], "out": str(tmp_path / "stream"),
                         "eval_every": 0, "batch_size": 1, "seq_len": 16}, TINY_MODEL)
    long_pass.lock.release()
    assert long_pass.batches.epoch_steps() > 1000 and long_pass.config.eval_every == 250
    assert [auto_eval_every(n) for n in (1, 124, 125, 245, 5000)] == [1, 124, 250, 250, 250]  # 2 passes at most


def test_a_stream_run_keeps_128_by_default(tmp_path, shakespeare_file):
    setup = prepare({"inputs": [str(shakespeare_file)], "out": str(tmp_path / "run"), "device": "cpu"}, TINY_MODEL)
    setup.lock.release()
    assert setup.config.seq_len == 128


def test_line_batches_hold_lines_of_about_one_length(tmp_path):
    import numpy as np

    from charrnn.data.batches import LineBatches
    from charrnn.vocab import EOS

    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 200, size=2_000)
    ids = np.concatenate([np.r_[np.full(k, 5), EOS] for k in lengths]).astype(np.uint16)
    batches = LineBatches(ids, batch_size=16, seq_len=400)
    padded = real = 0
    for _ in range(batches.steps):
        batch = batches.next()
        padded += batch.y.numel()
        real += int((batch.y != -100).sum())
    assert real == lengths.sum() + len(lengths) and padded < 1.1 * real  # random batches: about 1.9x


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_an_epochs_last_batch_of_lines_trains_in_both_engines(tmp_path, engine):
    corpus = tmp_path / "names.txt"
    corpus.write_text("".join(f"{'abc'[i % 3] * (1 + i % 5)}\n" for i in range(10)), encoding="utf-8")
    model = {**TINY_MODEL, "embed": 0} if engine == "numpy" else TINY_MODEL
    result = fit(prepare({**TINY_TRAIN, "inputs": [str(corpus)], "out": str(tmp_path / "run"), "mode": "lines",
                          "batch_size": 4, "val_frac": 0.0, "max_steps": 6, "engine": engine}, model))
    losses = [r["loss"] for r in checkpoint.read_metrics(result.run_dir) if "loss" in r]
    assert result.steps == 6 and all(loss == loss for loss in losses)  # 10 lines, 4 a batch: 2 empty rows


def test_a_resume_that_scores_another_way_rescores_the_best_first(tmp_path, shakespeare_file):
    first = fit(prepare(flags(shakespeare_file, tmp_path / "run", max_steps=20, eval_every=10, eval_chars=0),
                        TINY_MODEL))  # every eval on the whole split
    setup = prepare({"out": str(first.run_dir), "resume": True, "max_steps": 30, "eval_chars": 400}, {})
    try:
        evals = Trainer(setup, ENGINES["torch"](setup)).evals
        on_the_subset = evals.score(evals.best_network(), 400)["loss_nats"]
        assert evals.best_val == on_the_subset != first.best_val  # compared with the subset evals to come
    finally:
        setup.lock.release()


def test_a_run_extended_after_its_end_reports_its_own_evals(tmp_path, shakespeare_file):
    first = fit(prepare(flags(shakespeare_file, tmp_path / "run", max_steps=20, eval_every=10, eval_chars=400,
                              patience=0), TINY_MODEL))
    (whole,) = [r for r in checkpoint.read_metrics(first.run_dir) if "whole_val_loss" in r]
    # Now the evals score the whole split, as the best of step 20 was: the result is the new run's
    # last eval, compared with that best.
    more = fit(prepare({"out": str(first.run_dir), "resume": True, "max_steps": 30, "eval_chars": 0}, {}))
    meta = checkpoint.read_header(first.run_dir / checkpoint.TRAINER)[1]
    assert meta["eval"]["eval_chars"] == 0
    last_eval = [r for r in checkpoint.read_metrics(first.run_dir) if "val_loss" in r][-1]
    assert last_eval["step"] == 30 and not last_eval["val_subset"] and "whole_val_loss" not in last_eval
    assert more.last_val == last_eval["val_loss"]
    if meta["best_step"] == whole["best_step"]:  # not improved on: the best is the whole split's score of step 10/20
        assert meta["best_val"] == pytest.approx(whole["whole_best_val_loss"], abs=1e-6)
    else:
        assert meta["best_val"] <= whole["whole_best_val_loss"]


def test_a_batch_of_long_lines_trains_a_few_rows_at_a_time_to_the_same_update(tmp_path, shakespeare_file,
                                                                                 monkeypatch):
    """A batch whose logits would not fit LOGITS_BUDGET goes in pieces; the gradients add up the same."""
    from charrnn.training import torch_engine

    no_dropout = {**TINY_MODEL, "dropout": 0.0, "weight_drop": 0.0, "input_dropout": 0.0}
    runs = []
    for name, rows_at_once in (("whole", 4), ("pieces", 2)):
        setup = prepare(flags(shakespeare_file, tmp_path / name, max_steps=6, dtype="fp32"), no_dropout)
        vocab_size = setup.model_config.vocab_size
        monkeypatch.setattr(torch_engine, "LOGITS_BUDGET", rows_at_once * 32 * vocab_size)
        assert len(torch_engine.row_pieces(4, 32, vocab_size)) == 4 // rows_at_once
        runs.append(fit(setup))
    one, pieces = (checkpoint.load_tensors(r.run_dir / checkpoint.LAST)[0] for r in runs)
    for name in one:
        assert torch.allclose(one[name], pieces[name], atol=1e-5), name
