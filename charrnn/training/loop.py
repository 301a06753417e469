"""The training loop, one for both engines: the budget, the learning-rate schedule, evals, the best
and last weights, checkpoints, Ctrl-C, and exact resume.

    charrnn.train("input.txt", hidden=256, max_time=120, out="runs/mine")   # Python
    charrnn train input.txt --hidden 256 --max-time 120 --out runs/mine     # CLI, same thing

An engine (torch_engine.py, numpy_engine.py) does the arithmetic of a step and keeps its own
weights and optimizer; everything around the step is here, so both engines stop, schedule,
evaluate, save and resume the same way:

    per step    engine.train_step(batch, lr) -> (nats, characters, sequences)
    at evals    engine.network() -> a CharRNN, scored and sampled through charrnn.generation
    at saves    trainer.safetensors = weights ("model.*") + engine.trainer_tensors() + RNG,
                with step, elapsed time, best val and data position in its metadata;
                then last.safetensors, and best.safetensors when the val loss improved
    on resume   engine.restore(tensors) + the same counters and position
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm import tqdm

from charrnn import checkpoint
from charrnn.data.batches import Batch, Position
from charrnn.generation.options import SamplingOptions
from charrnn.generation.scoring import score_sums, summary
from charrnn.generation.streaming import Transcript, text_steps, written_pieces
from charrnn.model import CharRNN
from charrnn.training import distributed
from charrnn.training.preparation import RunSetup, describe

EVAL_SAMPLE = SamplingOptions(temperature=0.8)  # the sample printed at each eval
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # each saves after the step and stops, as Ctrl-C does


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    best_val: float | None  # nats/char; None without a validation split
    last_val: float | None
    elapsed: float  # seconds of training, over every session of the run
    interrupted: bool = False  # stopped by Ctrl-C (and saved)


class Engine(Protocol):
    """What the loop needs of an engine."""

    name: str  # "torch" or "numpy", saved in trainer.safetensors
    device: torch.device
    per_sequence_loss: bool  # log the loss per sequence too (the numpy engine: min-char-rnn's number)

    def banner(self) -> str:
        """The engine's part of the line printed when training starts."""

    def train_step(self, batch: Batch, lr: float) -> tuple[float, int, int]:
        """One update: (nats summed over this process's characters, characters, sequences)."""

    def network(self) -> CharRNN:
        """The weights as a CharRNN: what is evaluated, sampled and saved as best/last."""

    def trainer_tensors(self) -> dict[str, torch.Tensor]:
        """The engine's own part of trainer.safetensors (optimizer, carried state). Every rank calls it."""

    def restore(self, tensors: dict[str, torch.Tensor]) -> None:
        """Continue from a trainer.safetensors (written by this engine or the other)."""


class Trainer:
    def __init__(self, setup: RunSetup, engine: Engine) -> None:
        self.setup, self.config, self.run_dir, self.engine = setup, setup.config, setup.run_dir, engine
        self.world = distributed.current()
        self.batches = setup.batches
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
            print(f"{describe(self.setup)} | {self.engine.banner()}", flush=True)
        bar = tqdm(total=cfg.step_limit or int(cfg.max_time), disable=None if main else True, dynamic_ncols=True,
                   unit="step" if cfg.step_limit else "s", initial=self.step if cfg.step_limit else int(self.elapsed))
        previous_handler = self._catch_ctrl_c()
        start, t_since = time.time() - self.elapsed, time.time()
        window = np.zeros(3)  # since the last log line: nats, characters, sequences
        interrupted = False
        try:
            while not self.finished() and not interrupted:
                lr = self.learning_rate()
                nats, chars, seqs = self.engine.train_step(self.batches.next(), lr)
                window += (nats, chars, seqs)
                self.step += 1
                # Every rank must agree on the clock (it drives the LR schedule and the time budget)
                # and on a Ctrl-C, or their weights and their loops would part ways.
                self.elapsed, stops = distributed.all_reduce_sum(
                    [time.time() - start if main else 0.0, float(self.stop_requested)], self.engine.device)
                interrupted = stops > 0
                if self.step % cfg.log_every == 0 or self.finished():
                    self.log(window, lr, time.time() - t_since, bar.disable)
                    window[:], t_since = 0.0, time.time()
                bar.set_postfix(loss=f"{nats / max(chars, 1):.3f}", lr=f"{lr:.1e}", refresh=False)
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
        corpus, network, device = self.setup.corpus, self.engine.network(), self.engine.device
        record = {"step": self.step, "elapsed": self.elapsed}
        if len(corpus.val) >= 2:  # every rank scores its share of the pieces
            total, count = score_sums(network, corpus.val, corpus.mode, device, rank=self.world.rank,
                                      world_size=self.world.size)
            total, count = distributed.all_reduce_sum([total, float(count)], device)
            result = summary(total, int(count))
            self.last_val = result["loss_nats"]
            record.update(val_loss=result["loss_nats"], val_bpc=result["bpc"])
            improved = self.last_val < self.best_val
            if improved:
                self.best_val = self.last_val
            if self.world.is_main:
                bar.write(f"step {self.step}: val {result['loss_nats']:.4f} nats/char ({result['bpc']:.3f} bpc)"
                          f"{' (best)' if improved else ''} | {self.elapsed:.0f}s")
        if not self.world.is_main:
            return
        checkpoint.append_metrics(self.run_dir, record)
        if self.config.sample_chars:
            bar.write("    " + self.sample(network).replace("\n", "\n    "))

    def sample(self, network: CharRNN) -> str:
        """What the model writes now (lines mode: a few whole samples, one a line), seeded by the step."""
        corpus, was_training = self.setup.corpus, network.training
        num = 5 if corpus.mode == "lines" else 1
        network.eval()
        try:
            transcript = Transcript(num, [])
            steps = text_steps(network, corpus.vocab, corpus.mode, "", self.config.sample_chars, EVAL_SAMPLE,
                               self.step, num)
            for _ in written_pieces(steps, transcript):
                pass
        finally:
            network.train(was_training)
        return "\n".join(transcript.texts)

    def log(self, window: np.ndarray, lr: float, seconds: float, quiet: bool) -> None:
        """A metrics line: the mean loss since the last one, the learning rate, the speed."""
        if not self.world.is_main:
            return
        nats, chars, seqs = window
        record = {"step": self.step, "loss": nats / max(chars, 1), "lr": lr,
                  "chars_per_s": chars * self.world.size / max(seconds, 1e-9), "elapsed": self.elapsed}
        per = "line" if self.setup.corpus.mode == "lines" else "chunk"
        if self.engine.per_sequence_loss:
            record["seq_loss"] = nats / max(seqs, 1)
        checkpoint.append_metrics(self.run_dir, record)
        if quiet:
            limit = self.config.step_limit
            per_sequence = f" ({record['seq_loss']:.2f} per {per})" if "seq_loss" in record else ""
            print(f"step {self.step}{f'/{limit}' if limit else ''} | loss {record['loss']:.4f}{per_sequence} | "
                  f"lr {lr:.2e} | {record['chars_per_s']:,.0f} chars/s | {self.elapsed:.0f}s", flush=True)

    # --- checkpoints --------------------------------------------------------------------------
    def save(self) -> None:
        """trainer.safetensors first (everything a resume needs, in one atomic file), then the weights.
        Under torchrun every rank hands in its streams' carried state and rank 0 writes."""
        engine_tensors = self.engine.trainer_tensors()
        if not self.world.is_main:
            distributed.barrier()
            return
        weights = self.engine.network().state_dict()
        tensors = {**{f"model.{k}": v for k, v in weights.items()}, **engine_tensors,
                   "rng.torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            tensors["rng.cuda"] = torch.stack(torch.cuda.get_rng_state_all())
        meta = {"engine": self.engine.name, "step": self.step, "elapsed": self.elapsed,
                "best_val": self.best_val if math.isfinite(self.best_val) else None, "last_val": self.last_val,
                "position": vars(self.batches.position)}
        checkpoint.save_tensors(self.run_dir / checkpoint.TRAINER, tensors, meta)
        checkpoint.save_tensors(self.run_dir / checkpoint.LAST, weights, {"step": self.step})
        if self.last_val is not None and self.last_val == self.best_val:
            checkpoint.save_tensors(self.run_dir / checkpoint.BEST, weights, {"step": self.step, "val": self.best_val})
        elif len(self.setup.corpus.val) < 2:  # no validation split: the latest weights are the best we know
            checkpoint.save_tensors(self.run_dir / checkpoint.BEST, weights, {"step": self.step})
        distributed.barrier()

    def restore(self) -> None:
        tensors, meta = checkpoint.load_tensors(self.run_dir / checkpoint.TRAINER)
        self.engine.restore(tensors)
        torch.set_rng_state(tensors["rng.torch"])
        if "rng.cuda" in tensors and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(list(tensors["rng.cuda"]))
        self.step, self.elapsed = int(meta["step"]), float(meta["elapsed"])
        self.best_val = meta["best_val"] if meta.get("best_val") is not None else math.inf
        self.last_val = meta.get("last_val")
        self.batches.position = Position(**meta["position"])
        if self.world.is_main:
            checkpoint.truncate_metrics(self.run_dir, self.step)

    # --- Ctrl-C or SIGTERM (a service manager's stop): finish the step, save, stop ----------------
    def _catch_ctrl_c(self):
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum, frame):
            if self.stop_requested:  # a second one: stop now
                raise KeyboardInterrupt
            self.stop_requested = True
            what = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
            print(f"\n{what}: saving after this step (again to quit without saving)", file=sys.stderr, flush=True)

        return {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}

    def _restore_ctrl_c(self, previous) -> None:
        for sig, handler in (previous or {}).items():
            signal.signal(sig, handler)
