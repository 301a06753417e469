"""The training loop: AdamW, clipped gradients, warmup + cosine LR, carried state, evals,
atomic checkpoints and exact resume.

    charrnn.train("input.txt", hidden=256, max_time=120, out="runs/mine")   # Python
    charrnn train input.txt --hidden 256 --max-time 120 --out runs/mine     # CLI, same thing
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from charrnn import checkpoint
from charrnn import distributed
from charrnn.batches import IGNORE, Batch, Position
from charrnn.common import autocast, pick_device, seed_everything
from charrnn.corpus import token_counts
from charrnn.evaluate import score
from charrnn.model import CharRNN, ModelConfig, detach_state
from charrnn.options import field_names
from charrnn.setup import RunSetup, describe, prepare


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    best_val: float | None  # nats/char; None without a validation split
    last_val: float | None
    elapsed: float  # seconds of training, over every session of the run
    interrupted: bool = False  # stopped by Ctrl-C (and saved)


def train(*inputs: str, **flags) -> TrainResult:
    """Train a run; keyword arguments are the CLI's flags with underscores (hidden=256, max_steps=500)."""
    model_flags = {k: flags.pop(k) for k in list(flags) if k in field_names(ModelConfig)}
    train_flags = {**flags, **({"inputs": [str(p) for p in inputs]} if inputs else {})}
    return run_training(train_flags, model_flags)


def run_training(train_flags: dict, model_flags: dict) -> TrainResult:
    """Prepare and train, in one process or as one rank of several under torchrun."""
    world = distributed.start()
    try:
        if world.is_main:  # rank 0 checks the flags, encodes the corpus and writes the run folder first
            setup = prepare(train_flags, model_flags)
        distributed.barrier()
        if not world.is_main:
            setup = prepare(train_flags, model_flags, main_process=False)
        return fit(setup)
    finally:
        distributed.stop()


def fit(setup: RunSetup) -> TrainResult:
    """Train a prepared run with the engine it asks for."""
    if setup.config.engine == "numpy":
        from charrnn.reference.engine_run import fit_numpy

        return fit_numpy(setup)
    return Trainer(setup).fit()


class Trainer:
    def __init__(self, setup: RunSetup) -> None:
        self.setup, self.config, self.run_dir = setup, setup.config, setup.run_dir
        self.world = distributed.current()
        distributed.check_batch(self.config.batch_size, self.world)
        self.rows = self.world.shard(self.config.batch_size)  # this rank's streams of the global batch
        self.device = pick_device(self.config.device)
        if self.device.type == "cuda" and self.world.enabled:
            self.device = torch.device("cuda", self.world.local_rank)
        seed_everything(self.config.seed)
        self.model = CharRNN(setup.model_config).to(self.device)  # the plain module: what is saved
        if setup.init_weights is not None:
            tensors, _ = checkpoint.load_tensors(setup.init_weights)
            self.model.load_state_dict(tensors)
        elif not self.config.resume:  # a resumed run restores its weights instead
            self.model.set_output_prior(torch.from_numpy(token_counts(setup.corpus.train, setup.model_config.vocab_size)))
        self.forward = self.model
        if self.world.enabled:  # averages the gradients across ranks in backward()
            from torch.nn.parallel import DistributedDataParallel

            self.forward = DistributedDataParallel(self.model)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.config.lr, betas=(0.9, 0.99),
                                           weight_decay=self.config.weight_decay)
        self.batches = setup.batches
        self.state = None  # the hidden state carried from batch to batch (stream mode)
        self.step, self.elapsed, self.best_val, self.last_val = 0, 0.0, math.inf, None
        self.stop_requested = False
        if self.config.resume and (self.run_dir / checkpoint.TRAINER).exists():
            self.restore()
        elif self.config.resume and self.world.is_main:
            checkpoint.truncate_metrics(self.run_dir, 0)  # killed before its first checkpoint: start over

    # --- the loop ---------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        cfg, main = self.config, self.world.is_main
        if main:
            print(describe(self.setup) + f" | {self.model.num_parameters():,} parameters on {self.device}"
                  + (f" x {self.world.size} processes" if self.world.enabled else ""), flush=True)
        bar = tqdm(total=cfg.step_limit or int(cfg.max_time), disable=None if main else True, dynamic_ncols=True,
                   unit="step" if cfg.step_limit else "s", initial=self.step if cfg.step_limit else int(self.elapsed))
        previous_handler = self._catch_ctrl_c()
        self.model.train()
        start, chars_since, t_since = time.time() - self.elapsed, 0, time.time()
        interrupted = False
        try:
            while not self.finished() and not interrupted:
                lr = self.learning_rate()
                loss, chars = self.train_step(self.batches.next(), lr)
                self.step += 1
                # Every rank must agree on the clock (it drives the LR schedule and the time budget)
                # and on a Ctrl-C, or their weights and their loops would part ways.
                self.elapsed, stops = distributed.all_reduce_sum(
                    [time.time() - start if main else 0.0, float(self.stop_requested)], self.device)
                interrupted = stops > 0
                chars_since += chars
                if self.step % cfg.log_every == 0 or self.finished():
                    rate = chars_since * self.world.size / max(time.time() - t_since, 1e-9)
                    chars_since, t_since = 0, time.time()
                    self.log({"step": self.step, "loss": loss, "lr": lr, "chars_per_s": rate,
                              "elapsed": self.elapsed}, bar, bar.disable)
                bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.1e}", refresh=False)
                bar.update(1 if cfg.step_limit else int(self.elapsed) - bar.n)
                if self.step % cfg.eval_every == 0 or self.finished():
                    self.evaluate(bar)
                    self.save()
                elif cfg.save_every and self.step % cfg.save_every == 0:
                    self.save()
            if interrupted:
                self.save()
                bar.write(f"interrupted at step {self.step}: saved; continue with "
                          f"`charrnn train --out {self.run_dir} --resume`")
        finally:
            bar.close()
            self._restore_ctrl_c(previous_handler)
        best = self.best_val if math.isfinite(self.best_val) else None
        return TrainResult(self.run_dir, self.step, best, self.last_val, self.elapsed, interrupted)

    def train_step(self, batch: Batch, lr: float) -> tuple[float, int]:
        """One optimizer step on this rank's rows of the batch: (loss in nats/char, characters)."""
        cfg, stream = self.config, self.setup.corpus.mode == "stream"
        if stream and (batch.new_epoch or self.state is None):
            self.state = self.model.init_state(self.rows.stop - self.rows.start)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x = batch.x[self.rows].to(self.device, non_blocking=True)  # (b, T)
        y = batch.y[self.rows].to(self.device, non_blocking=True)
        with autocast(self.device, cfg.dtype):
            logits, state = self.forward(x, self.state if stream else None)  # (b, T, V)
        nats = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=IGNORE, reduction="sum")
        chars = int((y != IGNORE).sum())
        # The mean over the characters of the whole global batch (ranks may hold different counts
        # in lines mode); DDP averages gradients over ranks, hence the factor of the world size.
        total = distributed.all_reduce_sum([float(chars)], self.device)[0]
        loss = nats * (self.world.size / total)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.state = detach_state(state) if stream else None
        return nats.item() / max(chars, 1), chars

    def finished(self) -> bool:
        cfg = self.config
        return bool((cfg.step_limit and self.step >= cfg.step_limit) or (cfg.max_time and self.elapsed >= cfg.max_time))

    def progress(self) -> float:
        """How far through its budget the run is, 0..1 (steps or time, whichever is further)."""
        cfg = self.config
        done = [self.step / cfg.step_limit if cfg.step_limit else 0.0,
                self.elapsed / cfg.max_time if cfg.max_time else 0.0]
        return min(1.0, max(done))

    def learning_rate(self) -> float:
        cfg = self.config
        if self.step < cfg.warmup:
            return cfg.lr * (self.step + 1) / cfg.warmup
        if cfg.schedule == "constant":
            return cfg.lr
        floor = cfg.lr * cfg.min_lr
        return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * self.progress()))

    # --- evals, logs, samples ---------------------------------------------------------------
    def evaluate(self, bar) -> None:
        from charrnn.trained import TrainedModel

        corpus = self.setup.corpus
        record = {"step": self.step, "elapsed": self.elapsed}
        if len(corpus.val) >= 2:
            result = score(self.model, corpus.val, corpus.mode, self.device, world=self.world)  # every rank scores its share
            self.last_val = result["loss_nats"]
            record.update(val_loss=result["loss_nats"], val_bpc=result["bpc"])
            improved = self.last_val < self.best_val
            if improved:
                self.best_val = self.last_val
            bar.write(f"step {self.step}: val {result['loss_nats']:.4f} nats/char ({result['bpc']:.3f} bpc)"
                      f"{' (best)' if improved else ''} | {self.elapsed:.0f}s")
        if not self.world.is_main:
            return
        checkpoint.append_metrics(self.run_dir, record)
        if self.config.sample_chars:
            info = checkpoint.RunInfo(model=self.setup.model_config, train={}, mode=corpus.mode)
            writer = TrainedModel(self.model, corpus.vocab, info, self.run_dir, self.device)
            was_training = self.model.training
            self.model.eval()
            if corpus.mode == "lines":  # a few whole samples, one per line
                text = "\n".join(writer.generate(length=self.config.sample_chars, temperature=0.8,
                                                  seed=self.step, num=5))
            else:
                text = writer.generate(length=self.config.sample_chars, temperature=0.8, seed=self.step)
            self.model.train(was_training)
            bar.write("    " + text.replace("\n", "\n    "))

    def log(self, record: dict, bar, quiet: bool) -> None:
        if not self.world.is_main:
            return
        checkpoint.append_metrics(self.run_dir, record)
        if quiet:
            limit = self.config.step_limit
            print(f"step {record['step']}{f'/{limit}' if limit else ''} | loss {record['loss']:.4f} | "
                  f"lr {record['lr']:.2e} | {record['chars_per_s']:,.0f} chars/s | {record['elapsed']:.0f}s",
                  flush=True)

    # --- checkpoints --------------------------------------------------------------------------
    def save(self) -> None:
        """trainer.safetensors first (everything a resume needs, in one atomic file), then the weights.
        Under torchrun every rank hands in its streams' carried state and rank 0 writes."""
        carry = [distributed.gather_batch(s) for s in self.state or ()]
        if not self.world.is_main:
            distributed.barrier()
            return
        weights = {k: v for k, v in self.model.state_dict().items()}
        tensors = {f"model.{k}": v for k, v in weights.items()}
        for i, p in enumerate(self.model.parameters()):
            for key, value in self.optimizer.state.get(p, {}).items():
                tensors[f"optim.{i}.{key}"] = torch.as_tensor(value)
        for i, s in enumerate(carry):
            tensors[f"carry.{i}"] = s  # (layers, global batch, hidden)
        tensors["rng.torch"] = torch.get_rng_state()
        if torch.cuda.is_available():
            tensors["rng.cuda"] = torch.stack(torch.cuda.get_rng_state_all())
        meta = {"step": self.step, "elapsed": self.elapsed, "best_val": self.best_val if math.isfinite(self.best_val)
                else None, "last_val": self.last_val, "position": vars(self.batches.position)}
        checkpoint.save_tensors(self.run_dir / checkpoint.TRAINER, tensors, meta)
        checkpoint.save_tensors(self.run_dir / checkpoint.LAST, weights, {"step": self.step})
        if self.last_val is not None and self.last_val == self.best_val:
            checkpoint.save_tensors(self.run_dir / checkpoint.BEST, weights, {"step": self.step, "val": self.best_val})
        elif len(self.setup.corpus.val) < 2:  # no validation split: the latest weights are the best we know
            checkpoint.save_tensors(self.run_dir / checkpoint.BEST, weights, {"step": self.step})
        distributed.barrier()

    def restore(self) -> None:
        tensors, meta = checkpoint.load_tensors(self.run_dir / checkpoint.TRAINER)
        self.model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
        params = list(self.model.parameters())
        optim_state: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, i, name = key.split(".", 2)
                optim_state.setdefault(int(i), {})[name] = value.to(self.device) if name != "step" else value
        self.optimizer.load_state_dict({"state": optim_state, "param_groups": self.optimizer.state_dict()["param_groups"]})
        carry = [tensors[f"carry.{i}"] for i in range(2) if f"carry.{i}" in tensors]
        self.state = tuple(c[:, self.rows].to(self.device) for c in carry) or None  # this rank's streams
        torch.set_rng_state(tensors["rng.torch"])
        if "rng.cuda" in tensors and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(list(tensors["rng.cuda"]))
        self.step, self.elapsed = int(meta["step"]), float(meta["elapsed"])
        self.best_val = meta["best_val"] if meta.get("best_val") is not None else math.inf
        self.last_val = meta.get("last_val")
        self.batches.position = Position(**meta["position"])
        if self.world.is_main:
            checkpoint.truncate_metrics(self.run_dir, self.step)
        assert len(params) == len(self.optimizer.param_groups[0]["params"])

    # --- Ctrl-C: finish the step, save, stop ----------------------------------------------------
    def _catch_ctrl_c(self):
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum, frame):
            if self.stop_requested:  # a second Ctrl-C: stop now
                raise KeyboardInterrupt
            self.stop_requested = True
            print("\nCtrl-C: saving after this step (press again to quit without saving)", file=sys.stderr, flush=True)

        return signal.signal(signal.SIGINT, handler)

    def _restore_ctrl_c(self, previous) -> None:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
