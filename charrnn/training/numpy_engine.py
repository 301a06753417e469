"""`charrnn train --engine numpy`: a training step with the numpy reference engine (charrnn.reference).

The numpy engine does the step; everything around it is the one loop of loop.py, so a numpy-trained
run is an ordinary run that `charrnn sample`, `eval`, `info` and `charrnn.load` open without knowing
how it was trained:

    batches    the loop's, the torch engine's exactly (same order, same resume position)
    one step   every sequence of the batch, one at a time:  loss_and_grads -> sum the grads
               then  grads / B (the non-empty rows)  ->  clip element-wise  ->  Adagrad
    evals      the params converted to a CharRNN (reference/convert.py), scored as the torch engine's
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
- besides "loss" (for both engines the mean nats/char since the previous log line: with batch
  size 1 one step's loss is noise), it logs "seq_loss", the same in nats per sequence (per name in lines mode,
  the number the deep-learning course prints; per chunk of --seq-len in stream mode, min-char-rnn's).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from charrnn import checkpoint
from charrnn.data.batches import IGNORE, Batch
from charrnn.errors import CharRNNError, warn
from charrnn.model import CharRNN, ModelConfig
from charrnn.model_config import DROPOUTS
from charrnn.reference.convert import from_torch_state, from_torch_state_dict, to_torch_state, to_torch_state_dict
from charrnn.reference.model import init_params, loss_and_grads
from charrnn.reference.optim import Adagrad, clip
from charrnn.training.config import TrainConfig
from charrnn.training.run_setup import RunSetup

ADAMW_LR = next(f.default for f in dataclasses.fields(TrainConfig) if f.name == "lr")


def to_charrnn(params: dict, config: ModelConfig, dtype: torch.dtype = torch.float32) -> CharRNN:
    """The CharRNN computing the same function as the numpy `params` (eval mode, on the CPU)."""
    model = CharRNN(config).to(dtype)
    state_dict = to_torch_state_dict(params, config.cell)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state_dict.items()})  # casts to `dtype`
    return model.eval()


class NumpyEngine:
    name = "numpy"
    per_sequence_loss = True
    device = torch.device("cpu")
    eval_dtype = "fp32"  # the reference engine's runs are scored in fp32, as references

    @staticmethod
    def defaults(train_given: dict, model_given: dict) -> tuple[dict, dict]:
        """min-char-rnn's engine: no regularisers (a preset's neither), and a new model reads one-hot
        input through a full output layer (a fine-tuned one keeps its base's)."""
        train_given = {"weight_decay": 0.0, **train_given}
        model_given = {**{name: 0.0 for name in DROPOUTS}, **model_given}
        if not train_given.get("init_from"):
            if model_given.get("output") == "tied":
                raise CharRNNError("--engine numpy has a full output layer only: drop --output tied "
                                   "or train with --engine torch")
            model_given.setdefault("embed", 0)
        return train_given, model_given

    @staticmethod
    def check(config: TrainConfig, model: ModelConfig, processes: int = 1) -> None:
        """Refuse, in one line, the flags this engine cannot honour (the model config resolved)."""
        if processes > 1:
            raise CharRNNError(f"--engine numpy trains in one process: run it without torchrun "
                               f"(this is one of {processes})")
        if model.embed > 0:
            raise CharRNNError(f"--engine numpy feeds characters as one-hot vectors and has no embedding: "
                               f"pass --embed 0 (this model asks for an embedding of {model.embed})")
        for name in DROPOUTS:
            if getattr(model, name) > 0:
                flag = "--" + name.replace("_", "-")
                raise CharRNNError(f"--engine numpy has no dropout: pass {flag} 0 (got {getattr(model, name)}) "
                                   f"or train with --engine torch")
        if config.weight_decay > 0:
            raise CharRNNError("--engine numpy trains with Adagrad and has no weight decay: "
                               "drop --weight-decay or train with --engine torch")
        if config.device not in ("auto", "cpu"):
            raise CharRNNError(f"--engine numpy runs on the CPU: drop --device {config.device}")
        if config.dtype == "bf16":
            raise CharRNNError("--engine numpy computes in float64: drop --dtype bf16")

    def __init__(self, setup: RunSetup) -> None:
        self.config, self.model_config, self.run_dir = setup.config, setup.model_config, setup.run_dir
        self.stream = setup.corpus.mode == "stream"
        m = self.model_config
        self.check(self.config, m)  # preparation checked before writing anything; resumes too
        self.params = init_params(m.cell, m.vocab_size, m.hidden, m.layers, seed=self.config.seed)
        if setup.init_weights is not None:
            tensors, _ = checkpoint.load_tensors(setup.init_weights)
            self.params = self._from_torch_weights(tensors, setup.init_weights)
        self.optimizer = Adagrad(lr=self.config.lr)
        self.carry: list | None = None  # stream mode: one numpy state per strip, carried between steps
        self._model: tuple[int, CharRNN] | None = None  # (params version, the CharRNN of them)
        self.version = 0
        if not self.config.resume and self.config.lr == ADAMW_LR:
            warn(f"--engine numpy trains with Adagrad; the default --lr {ADAMW_LR} suits AdamW and learns "
                 f"slowly here (min-char-rnn uses --lr 0.1)")

    def banner(self) -> str:
        cfg = self.config
        size = sum(p.size for p in self.params.values())
        clipping = f"clip +-{cfg.grad_clip:g} element-wise" if cfg.grad_clip > 0 else "no clipping"
        return (f"{size:,} numpy parameters | numpy engine (float64, CPU): Adagrad, {clipping}, "
                f"{cfg.batch_size} sequence(s) per step one at a time")

    def regularise(self, strength: float) -> None:
        """min-char-rnn's engine has no regularisers (check refuses them)."""

    def train_step(self, batch: Batch, lr: float) -> tuple[float, int, int]:
        """One update from a batch of B sequences run one at a time."""
        x, y = batch.x.numpy(), batch.y.numpy()  # (B, T); lines mode: y is IGNORE after a line's <eos>
        if self.stream and (batch.new_epoch or self.carry is None):
            self.carry = [None] * len(x)  # zeros: a new pass over the text
        total, nats, chars, rows = None, 0.0, 0, 0
        for b, (row_x, row_y) in enumerate(zip(x, y)):
            n = int((row_y != IGNORE).sum())  # padding is only ever at the end
            if n == 0:
                continue  # an empty row filling an epoch's last batch of lines
            rows += 1
            inputs, targets = row_x[:n].tolist(), row_y[:n].tolist()
            loss, grads, state = loss_and_grads(self.params, self.model_config.cell, inputs, targets,
                                                self.carry[b] if self.stream else None)
            if self.stream:
                self.carry[b] = state
            if total is None:
                total = grads
            else:
                for key, g in grads.items():
                    total[key] += g
            nats, chars = nats + loss, chars + n
        for g in total.values():
            g /= rows  # summed over each sequence's characters, averaged over the sequences
        if self.config.grad_clip > 0:
            clip(total, self.config.grad_clip)
        self.optimizer.lr = lr
        self.optimizer.step(self.params, total)
        self.version += 1
        return nats, chars, rows

    def current_model(self) -> CharRNN:
        """The params as a CharRNN (float32), converted once per step however often it is asked for."""
        if self._model is None or self._model[0] != self.version:
            self._model = (self.version, to_charrnn(self.params, self.model_config))
        return self._model[1]

    def trainer_tensors(self) -> dict[str, torch.Tensor]:
        """The exact float64 params ("numpy.*"), Adagrad's memory ("adagrad.*") and the carried
        states ("carry.*", as the torch engine keeps them), so either engine can continue the run."""
        tensors = {f"numpy.{k}": torch.from_numpy(v) for k, v in self.params.items()}
        tensors.update({f"adagrad.{k}": torch.from_numpy(v) for k, v in self.optimizer.memory.items()})
        if self.carry is not None and all(s is not None for s in self.carry):
            per_stream = [to_torch_state(s) for s in self.carry]  # each part (L, 1, H)
            for i, parts in enumerate(zip(*per_stream)):
                tensors[f"carry.{i}"] = torch.from_numpy(np.concatenate(parts, axis=1))  # (L, B, H)
        return tensors

    def restore(self, tensors: dict[str, torch.Tensor]) -> None:
        """Continue from trainer.safetensors; a torch-engine run continues with fresh Adagrad memory."""
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
        if carry and self.stream:
            self.carry = [from_torch_state(tuple(part[:, b: b + 1] for part in carry))
                          for b in range(carry[0].shape[1])]
        self.version += 1

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
