"""`charrnn train --engine numpy`: the numpy engine behind the same CLI and the same run folder.

The numpy engine trains; everything around it is the torch engine's, so a numpy-trained run is
an ordinary run that `charrnn sample`, `eval`, `info` and `charrnn.load` open without knowing
how it was trained:

    batches    setup.batches, the torch engine's exactly (same order, same resume position)
    one step   every sequence of the batch, one at a time:  loss_and_grads -> sum the grads
               then  grads / B  ->  clip element-wise  ->  Adagrad
    evals      the params converted to a CharRNN (convert.py), scored by charrnn.evaluate.score
    weights    best/last.safetensors: that CharRNN's state dict (torch names, float32)
    resume     trainer.safetensors: the float64 params, Adagrad's memory, the carried states

Where the numpy engine differs from the torch engine (README "how it works" has the why):

- one-hot input only (--embed 0), no dropout, no weight decay, float64 on the CPU;
- the optimiser is Adagrad (min-char-rnn's), with --lr and the same warmup/cosine schedule;
  min-char-rnn exactly is --lr 0.1 --grad-clip 5 --schedule constant --warmup 0;
- the gradient is min-char-rnn's: of the loss SUMMED over a sequence's characters, averaged
  over the batch's B sequences; --grad-clip clips each element to [-c, c] (0 = off), where
  the torch engine clips the global norm;
- stream mode runs the B strips of a batch one after another, each carrying its own state;
  lines mode runs the B lines of a batch one after another, each from <bos>;
- weights start as min-char-rnn's (N(0, 0.01^2), zero biases), seeded by --seed;
- the logged "loss" is the mean nats/char since the previous log line (with batch size 1 one
  step's loss is noise); "seq_loss" is the same in nats per sequence (per name in lines mode,
  the number the deep-learning course prints; per chunk of --seq-len in stream mode, min-char-rnn's).
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from charrnn import checkpoint
from charrnn.batches import IGNORE, Position
from charrnn.config import TrainConfig
from charrnn.errors import CharRNNError, warn
from charrnn.evaluate import score
from charrnn.model import CharRNN, ModelConfig
from charrnn.setup import RunSetup, describe
from charrnn.train import Trainer, TrainResult

from .convert import from_torch_state, from_torch_state_dict, to_torch_state, to_torch_state_dict
from .model import init_params, loss_and_grads
from .optim import Adagrad, clip

ENGINE = "numpy"
CPU = torch.device("cpu")
ADAMW_LR = next(f.default for f in dataclasses.fields(TrainConfig) if f.name == "lr")


def check_numpy_run(config: TrainConfig, model: ModelConfig) -> None:
    """Refuse, in one line, the flags the numpy engine cannot honour (model must be resolved)."""
    if model.embed > 0:
        raise CharRNNError(f"--engine numpy feeds characters as one-hot vectors and has no embedding: "
                           f"pass --embed 0 (this model asks for an embedding of {model.embed})")
    if model.dropout > 0:
        raise CharRNNError(f"--engine numpy has no dropout: pass --dropout 0 (got {model.dropout}) "
                           f"or train with --engine torch")
    if config.weight_decay > 0:
        raise CharRNNError("--engine numpy trains with Adagrad and has no weight decay: "
                           "drop --weight-decay or train with --engine torch")
    if config.device not in ("auto", "cpu"):
        raise CharRNNError(f"--engine numpy runs on the CPU: drop --device {config.device}")
    if config.dtype == "bf16":
        raise CharRNNError("--engine numpy computes in float64: drop --dtype bf16")


def to_charrnn(params: dict, config: ModelConfig, dtype: torch.dtype = torch.float32) -> CharRNN:
    """The CharRNN computing the same function as the numpy `params` (eval mode, on the CPU)."""
    model = CharRNN(config).to(dtype)
    state_dict = to_torch_state_dict(params, config.cell)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state_dict.items()})  # casts to `dtype`
    return model.eval()


class NumpyTrainer(Trainer):
    """The torch Trainer's loop with the numpy engine doing the steps.

    Inherits the budget, the learning-rate schedule and Ctrl-C handling (finished, progress,
    learning_rate, _catch_ctrl_c), so both engines stop and schedule identically; every method
    that touches a torch model is replaced. Trainer.__init__ is not called: it builds one.
    """

    def __init__(self, setup: RunSetup) -> None:
        self.setup, self.config, self.run_dir = setup, setup.config, setup.run_dir
        self.model_config = m = setup.model_config
        check_numpy_run(self.config, m)  # prepare() checked before writing anything; resumes too
        self.params = init_params(m.cell, m.vocab_size, m.hidden, m.layers, seed=self.config.seed)
        if setup.init_weights is not None:
            tensors, _ = checkpoint.load_tensors(setup.init_weights)
            self.params = self._from_torch_weights(tensors, setup.init_weights)
        self.optimizer = Adagrad(lr=self.config.lr)
        self.batches = setup.batches
        self.carry: list | None = None  # stream mode: one numpy state per strip, carried between steps
        self.step, self.elapsed, self.best_val, self.last_val = 0, 0.0, math.inf, None
        self.stop_requested = False
        if self.config.resume and (self.run_dir / checkpoint.TRAINER).exists():
            self.restore()
        elif self.config.resume:
            checkpoint.truncate_metrics(self.run_dir, 0)
        elif self.config.lr == ADAMW_LR:
            warn(f"--engine numpy trains with Adagrad; the default --lr {ADAMW_LR} suits AdamW and learns "
                 f"slowly here (min-char-rnn uses --lr 0.1)")

    # --- the loop ---------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        cfg, m = self.config, self.model_config
        size = sum(p.size for p in self.params.values())
        clipping = f"clip +-{cfg.grad_clip:g} element-wise" if cfg.grad_clip > 0 else "no clipping"
        print(describe(self.setup) + f" | {size:,} numpy parameters | numpy engine (float64, CPU): Adagrad, "
              f"{clipping}, {cfg.batch_size} sequence(s) per step one at a time", flush=True)
        bar = tqdm(total=cfg.step_limit or int(cfg.max_time), disable=None, dynamic_ncols=True,
                   unit="step" if cfg.step_limit else "s", initial=self.step if cfg.step_limit else int(self.elapsed))
        quiet = bar.disable
        previous_handler = self._catch_ctrl_c()
        start, t_since = time.time() - self.elapsed, time.time()
        window = np.zeros(3)  # since the last log line: nats, characters, sequences
        try:
            while not self.finished() and not self.stop_requested:
                lr = self.learning_rate()
                nats, chars, seqs = self.train_step(self.batches.next(), lr)
                window += (nats, chars, seqs)
                self.step += 1
                self.elapsed = time.time() - start
                if self.step % cfg.log_every == 0 or self.finished():
                    rate = window[1] / max(time.time() - t_since, 1e-9)
                    self.log({"step": self.step, "loss": window[0] / window[1], "seq_loss": window[0] / window[2],
                              "lr": lr, "chars_per_s": rate, "elapsed": self.elapsed}, bar, quiet)
                    window[:], t_since = 0.0, time.time()
                bar.set_postfix(loss=f"{nats / chars:.3f}", lr=f"{lr:.1e}", refresh=False)
                bar.update(1 if cfg.step_limit else int(self.elapsed) - bar.n)
                if self.step % cfg.eval_every == 0 or self.finished():
                    self.evaluate(bar)
                    self.save()
                elif cfg.save_every and self.step % cfg.save_every == 0:
                    self.save()
            if self.stop_requested:
                self.save()
                bar.write(f"interrupted at step {self.step}: saved; continue with "
                          f"`charrnn train --out {self.run_dir} --resume`")
        finally:
            bar.close()
            self._restore_ctrl_c(previous_handler)
        best = self.best_val if math.isfinite(self.best_val) else None
        return TrainResult(self.run_dir, self.step, best, self.last_val, self.elapsed, self.stop_requested)

    def train_step(self, batch, lr: float) -> tuple[float, int, int]:
        """One update from a batch of B sequences run one at a time: (nats, characters, B)."""
        stream = self.setup.corpus.mode == "stream"
        x, y = batch.x.numpy(), batch.y.numpy()  # (B, T); lines mode: y is IGNORE after a line's <eos>
        if stream and (batch.new_epoch or self.carry is None):
            self.carry = [None] * len(x)  # zeros: a new pass over the text
        total, nats, chars = None, 0.0, 0
        for b, (row_x, row_y) in enumerate(zip(x, y)):
            n = int((row_y != IGNORE).sum())  # padding is only ever at the end
            inputs, targets = row_x[:n].tolist(), row_y[:n].tolist()
            loss, grads, state = loss_and_grads(self.params, self.model_config.cell, inputs, targets,
                                                self.carry[b] if stream else None)
            if stream:
                self.carry[b] = state
            if total is None:
                total = grads
            else:
                for key, g in grads.items():
                    total[key] += g
            nats, chars = nats + loss, chars + n
        for g in total.values():
            g /= len(x)  # summed over each sequence's characters, averaged over the sequences
        if self.config.grad_clip > 0:
            clip(total, self.config.grad_clip)
        self.optimizer.lr = lr
        self.optimizer.step(self.params, total)
        return nats, chars, len(x)

    # --- evals, logs, samples ---------------------------------------------------------------
    def evaluate(self, bar) -> None:
        from charrnn.trained import TrainedModel

        corpus, model = self.setup.corpus, to_charrnn(self.params, self.model_config)
        record = {"step": self.step, "elapsed": self.elapsed}
        if len(corpus.val) >= 2:
            result = score(model, corpus.val, corpus.mode, CPU, "fp32")
            self.last_val = result["loss_nats"]
            record.update(val_loss=result["loss_nats"], val_bpc=result["bpc"])
            improved = self.last_val < self.best_val
            if improved:
                self.best_val = self.last_val
            bar.write(f"step {self.step}: val {result['loss_nats']:.4f} nats/char ({result['bpc']:.3f} bpc)"
                      f"{' (best)' if improved else ''} | {self.elapsed:.0f}s")
        checkpoint.append_metrics(self.run_dir, record)
        if self.config.sample_chars:
            info = checkpoint.RunInfo(model=self.model_config, train={}, mode=corpus.mode)
            writer = TrainedModel(model, corpus.vocab, info, self.run_dir, CPU)
            text = writer.generate(length=self.config.sample_chars, temperature=0.8, seed=self.step)
            bar.write("    " + text.replace("\n", "\n    "))

    def log(self, record: dict, bar, quiet: bool) -> None:
        checkpoint.append_metrics(self.run_dir, record)
        if quiet:
            limit = self.config.step_limit
            per = "line" if self.setup.corpus.mode == "lines" else "chunk"
            print(f"step {record['step']}{f'/{limit}' if limit else ''} | loss {record['loss']:.4f} "
                  f"({record['seq_loss']:.2f} per {per}) | lr {record['lr']:.2e} | "
                  f"{record['chars_per_s']:,.0f} chars/s | {record['elapsed']:.0f}s", flush=True)

    # --- checkpoints --------------------------------------------------------------------------
    def save(self) -> None:
        """trainer.safetensors first, then the weights, as the torch engine does.

        The trainer file holds the exact float64 params ("numpy.*"), Adagrad's memory
        ("adagrad.*") and the carried states, plus what the torch engine's resume reads
        ("model.*" weights, "carry.*", "rng.torch"), so either engine can continue the run.
        """
        weights = to_charrnn(self.params, self.model_config).state_dict()
        tensors = {f"model.{k}": v for k, v in weights.items()}
        tensors.update({f"numpy.{k}": torch.from_numpy(v) for k, v in self.params.items()})
        tensors.update({f"adagrad.{k}": torch.from_numpy(v) for k, v in self.optimizer.memory.items()})
        if self.carry is not None and all(s is not None for s in self.carry):
            per_stream = [to_torch_state(s) for s in self.carry]  # each part (L, 1, H)
            for i, parts in enumerate(zip(*per_stream)):
                tensors[f"carry.{i}"] = torch.from_numpy(np.concatenate(parts, axis=1))  # (L, B, H)
        tensors["rng.torch"] = torch.get_rng_state()
        meta = {"engine": ENGINE, "step": self.step, "elapsed": self.elapsed,
                "best_val": self.best_val if math.isfinite(self.best_val) else None, "last_val": self.last_val,
                "position": vars(self.batches.position)}
        checkpoint.save_tensors(self.run_dir / checkpoint.TRAINER, tensors, meta)
        checkpoint.save_tensors(self.run_dir / checkpoint.LAST, weights, {"step": self.step})
        if self.last_val is not None and self.last_val == self.best_val:
            checkpoint.save_tensors(self.run_dir / checkpoint.BEST, weights, {"step": self.step, "val": self.best_val})
        elif len(self.setup.corpus.val) < 2:
            checkpoint.save_tensors(self.run_dir / checkpoint.BEST, weights, {"step": self.step})

    def restore(self) -> None:
        """Continue from trainer.safetensors; a torch-engine run continues with fresh Adagrad memory."""
        tensors, meta = checkpoint.load_tensors(self.run_dir / checkpoint.TRAINER)
        saved = {k[len("numpy."):]: v.numpy().copy() for k, v in tensors.items() if k.startswith("numpy.")}
        if saved:
            if saved.keys() != self.params.keys():
                raise CharRNNError(f"{self.run_dir / checkpoint.TRAINER}: its numpy parameters do not match "
                                   f"the model in config.json")
            self.params = saved
            self.optimizer.memory = {k[len("adagrad."):]: v.numpy().copy() for k, v in tensors.items()
                                     if k.startswith("adagrad.")}
        else:
            model = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
            self.params = self._from_torch_weights(model, self.run_dir / checkpoint.TRAINER)
            warn("continuing a torch-engine run with --engine numpy: the weights carry over, "
                 "Adagrad's memory starts empty")
        carry = [tensors[f"carry.{i}"].double().numpy() for i in range(2) if f"carry.{i}" in tensors]
        if carry and self.setup.corpus.mode == "stream":
            self.carry = [from_torch_state(tuple(part[:, b: b + 1] for part in carry))
                          for b in range(carry[0].shape[1])]
        self.step, self.elapsed = int(meta["step"]), float(meta["elapsed"])
        self.best_val = meta["best_val"] if meta.get("best_val") is not None else math.inf
        self.last_val = meta.get("last_val")
        self.batches.position = Position(**meta["position"])
        checkpoint.truncate_metrics(self.run_dir, self.step)

    def _from_torch_weights(self, tensors: dict, source: Path) -> dict:
        """numpy params (float64) from CharRNN weights, with a one-line error if they do not fit."""
        arrays = {k: v.detach().double().numpy() for k, v in tensors.items()}
        try:
            params = from_torch_state_dict(arrays, self.model_config.cell, self.model_config.layers)
        except ValueError as e:
            raise CharRNNError(f"{source}: these weights do not fit this {self.model_config.cell} ({e})") from None
        if {k: v.shape for k, v in params.items()} != {k: v.shape for k, v in self.params.items()}:
            raise CharRNNError(f"{source}: these weights do not fit the model in config.json")
        return params


def fit_numpy(setup: RunSetup) -> TrainResult:
    """Train a prepared run with the numpy engine (`charrnn train --engine numpy`)."""
    return NumpyTrainer(setup).fit()
