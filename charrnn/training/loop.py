"""The training loop, one for both engines: the budget, the learning-rate schedule, evals, the best
and last weights, checkpoints, Ctrl-C, and exact resume.

    charrnn.train("input.txt", hidden=256, max_time=120, out="runs/mine")   # Python
    charrnn train input.txt --hidden 256 --max-time 120 --out runs/mine     # CLI, same thing

An engine (torch_engine.py, numpy_engine.py) does the arithmetic of a step and keeps its own
weights and optimizer; everything around the step is here, so both engines stop, schedule,
evaluate, save and resume the same way:

    per step    engine.train_step(batch, lr) -> (nats, characters, sequences)
    at evals    engine.current_model() -> a CharRNN, scored and sampled by evals.py (a fixed subset of the
                val split during training, the whole split at the end)
    at saves    trainer.safetensors = weights ("model.*") + engine.trainer_tensors() + RNG (each
                rank's under torchrun), with step, elapsed and eval time, the val record (best,
                last, best step, how the evals score) and the data position in its metadata;
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

import numpy as np
import torch
from tqdm import tqdm

from charrnn import checkpoint
from charrnn.data.batches import Batch, Position
from charrnn.training import distributed
from charrnn.training.engines import Engine
from charrnn.training.evals import Evals
from charrnn.training.preparation import describe
from charrnn.training.run_setup import RunSetup

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # each saves after the step and stops, as Ctrl-C does


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    best_val: float | None  # nats/char; None without a validation split
    last_val: float | None
    elapsed: float  # seconds of training, over every session of the run
    interrupted: bool = False  # stopped by Ctrl-C (and saved)
    eval_seconds: float = 0.0  # of `elapsed`, the time spent evaluating and printing samples
    stopped_early: bool = False  # --patience: the val loss stopped improving


class Trainer:
    def __init__(self, setup: RunSetup, engine: Engine) -> None:
        self.setup, self.config, self.run_dir, self.engine = setup, setup.config, setup.run_dir, engine
        self.world = distributed.current()
        self.batches = setup.batches
        self.step, self.elapsed = 0, 0.0
        self.eval_seconds, self.paused = 0.0, 0.0  # time evaluating: in all, and since the last log line
        self.final_seconds = 0.0  # of eval_seconds, the last eval's on the whole split
        self.evals = Evals(setup, engine)
        self.stop_requested = False
        if self.config.resume and (self.run_dir / checkpoint.TRAINER).exists():
            self.restore()
        elif self.config.resume and self.world.is_main:
            checkpoint.truncate_metrics(self.run_dir, 0)  # killed before its first checkpoint: start over

    # --- the loop ---------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        cfg, main, evals = self.config, self.world.is_main, self.evals
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
                lr, strength = self.learning_rate(), self.regularisation()
                self.engine.regularise(strength)
                nats, chars, seqs = self.engine.train_step(self.batches.next(), lr)
                window += (nats, chars, seqs)
                self.step += 1
                self.elapsed, interrupted = self.clock(start)
                if self.step % cfg.log_every == 0 or self.finished():
                    self.log(window, lr, strength, time.time() - t_since - self.paused, bar.disable)
                    window[:], t_since, self.paused = 0.0, time.time(), 0.0
                bar.set_postfix(loss=f"{nats / max(chars, 1):.3f}", lr=f"{lr:.1e}", refresh=False)
                bar.update(1 if cfg.step_limit else int(self.elapsed) - bar.n)
                if self.finished() and not interrupted and self.evals.scores_a_subset():
                    self.save()  # first: a second Ctrl-C during the whole split's scoring loses nothing
                    self.final_seconds = self.timed(self.evals.final, self.step, self.elapsed, bar)
                    self.elapsed = self.clock(start)[0]  # the run's time includes its last eval
                    self.save()
                elif self.step % cfg.eval_every == 0 or self.finished():
                    self.timed(self.evals.evaluate, self.step, self.elapsed, bar)
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
        if self.out_of_patience() and not self.budget_spent() and main:
            bar.write(f"stopped early: val has not improved for {cfg.patience} evals (best at step "
                      f"{evals.best_step}); continue with `--resume --patience 0`")
        best = evals.best_val if math.isfinite(evals.best_val) else None
        return TrainResult(self.run_dir, self.step, best, evals.last_val, self.elapsed,
                           interrupted, self.eval_seconds, self.out_of_patience() and not self.budget_spent())

    def clock(self, start: float) -> tuple[float, bool]:
        """(seconds since the run's start, whether a stop was asked). Every rank must agree on the
        clock (it drives the LR schedule and the time budget) and on a Ctrl-C, or their weights and
        their loops would part ways."""
        elapsed, stops = distributed.all_reduce_sum(
            [time.time() - start if self.world.is_main else 0.0, float(self.stop_requested)], self.engine.device)
        return elapsed, stops > 0

    def finished(self) -> bool:
        return self.budget_spent() or self.out_of_patience()

    def budget_spent(self) -> bool:
        cfg = self.config
        return bool((cfg.step_limit and self.step >= cfg.step_limit) or (cfg.max_time and self.elapsed >= cfg.max_time))

    def out_of_patience(self) -> bool:
        """--patience: the last `patience` evals did not improve on the best (a second line of defence
        against memorising; the regularisers are the first)."""
        cfg = self.config
        return bool(cfg.patience and self.evals.last_val is not None
                    and self.step - self.evals.best_step >= cfg.patience * cfg.eval_every)

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

    def regularisation(self) -> float:
        """How strongly the regularisers act, 0..1: off until the run has passed over its training text
        --regularise-after times, then rising to full strength over one more pass. A model that has
        seen each character once cannot have memorised it, and without dropout it learns faster (and
        steps faster); repeats are what dropout and weight decay guard against. A function of the data
        position, so a resume continues it exactly and a faster machine only reaches it sooner."""
        after = self.config.regularise_after
        return min(1.0, max(0.0, self.batches.epochs() - after)) if after else 1.0

    # --- evals, logs, samples ---------------------------------------------------------------
    def timed(self, work, *args) -> float:
        """Run an eval-time task, its seconds kept apart so the progress line's speed is training's."""
        started = time.time()
        work(*args)
        spent = time.time() - started
        self.eval_seconds += spent
        self.paused += spent
        return spent

    def log(self, window: np.ndarray, lr: float, strength: float, seconds: float, quiet: bool) -> None:
        """A metrics line: the mean loss since the last one, the last step's learning rate and strength
        of the regularisers, the speed, and how many passes over the training text are done."""
        if not self.world.is_main:
            return
        nats, chars, seqs = window
        record = {"step": self.step, "loss": nats / max(chars, 1), "lr": lr,
                  "chars_per_s": chars * self.world.size / max(seconds, 1e-9), "elapsed": self.elapsed,
                  "epochs": self.batches.epochs(), "regularisation": strength}
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
        rank_rngs = distributed.gather_rows(self.rank_rng(), self.engine.device) if self.world.enabled else None
        if not self.world.is_main:
            distributed.barrier()
            return
        weights = self.engine.current_model().state_dict()
        tensors = {**{f"model.{k}": v for k, v in weights.items()}, **engine_tensors,
                   "rng.torch": torch.get_rng_state(), **({"rng.ranks": rank_rngs} if self.world.enabled else {})}
        if torch.cuda.is_available():
            tensors["rng.cuda"] = torch.stack(torch.cuda.get_rng_state_all())
        meta = {"engine": self.engine.name, "step": self.step, "elapsed": self.elapsed, **self.evals.meta(),
                "eval_seconds": self.eval_seconds, "final_eval_seconds": self.final_seconds,
                "position": vars(self.batches.position)}
        checkpoint.save_tensors(self.run_dir / checkpoint.TRAINER, tensors, meta)
        checkpoint.save_tensors(self.run_dir / checkpoint.LAST, weights, {"step": self.step})
        if self.evals.last_val is not None and self.evals.best_step == self.step:
            checkpoint.save_tensors(self.run_dir / checkpoint.BEST, weights,
                                    {"step": self.step, "val": self.evals.best_val})
        elif len(self.setup.corpus.val) < 2:  # no validation split: the latest weights are the best we know
            checkpoint.save_tensors(self.run_dir / checkpoint.BEST, weights, {"step": self.step})
        distributed.barrier()

    def restore(self) -> None:
        tensors, meta = checkpoint.load_tensors(self.run_dir / checkpoint.TRAINER)
        self.engine.restore(tensors)
        torch.set_rng_state(tensors["rng.torch"])
        if "rng.cuda" in tensors and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(list(tensors["rng.cuda"]))
        if "rng.ranks" in tensors and len(tensors["rng.ranks"]) == self.world.size:
            self.rank_rng(tensors["rng.ranks"][self.world.rank].clone())  # a row view crashes set_rng_state
        self.step, self.elapsed = int(meta["step"]), float(meta["elapsed"])
        self.eval_seconds = float(meta.get("eval_seconds", 0.0))
        self.batches.position = Position(**meta["position"])
        self.evals.restore(meta)
        if self.world.is_main:
            checkpoint.truncate_metrics(self.run_dir, self.step)

    def rank_rng(self, state: torch.Tensor | None = None) -> torch.Tensor | None:
        """This rank's dropout generator (its GPU's, or the CPU's): read it, or set it to `state`.
        Under torchrun each rank draws its own masks, and a resume gives each its own back."""
        cuda = self.engine.device.type == "cuda"
        if state is None:
            return torch.cuda.get_rng_state(self.engine.device) if cuda else torch.get_rng_state()
        torch.cuda.set_rng_state(state, self.engine.device) if cuda else torch.set_rng_state(state)
        return None

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
