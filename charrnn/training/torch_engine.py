"""A training step with PyTorch: AdamW, global-norm clipping, bf16 autocast, carried state, DDP.

One engine of the loop in loop.py. Under torchrun each rank trains its rows of the global batch
(charrnn.training.distributed) and DDP averages the gradients; alone it is plain PyTorch.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn.functional as F

from charrnn import checkpoint
from charrnn.data.batches import IGNORE, Batch
from charrnn.data.corpus import token_counts
from charrnn.device import autocast, check_precision, pick_device, seed_everything
from charrnn.model import CharRNN, ModelConfig, detach_state
from charrnn.training import distributed
from charrnn.training.config import TrainConfig
from charrnn.training.run_setup import RunSetup


LOGITS_BUDGET = 2**26  # logits per forward pass (256 MB in fp32): a batch of long lines goes a few rows at a time


def row_pieces(rows: int, length: int, vocab_size: int) -> list[slice]:
    """The batch's rows in pieces small enough to hold their logits (all of them in one piece, usually:
    tinyshakespeare's 32x128 batch is 0.3M logits; tang-poems' longest lines, 1,561 characters of a
    7,834-character vocabulary, are 12M logits each)."""
    per_piece = max(1, min(rows, LOGITS_BUDGET // max(1, length * vocab_size)))
    return [slice(start, start + per_piece) for start in range(0, rows, per_piece)]


class TorchEngine:
    name = "torch"
    per_sequence_loss = False

    @staticmethod
    def defaults(train_given: dict, model_given: dict) -> tuple[dict, dict]:
        """The flags as given: the configs' defaults are this engine's."""
        return train_given, model_given

    @staticmethod
    def check(config: TrainConfig, model: ModelConfig, processes: int = 1) -> None:
        """Refuse, in one line, a precision this machine cannot train this model in."""
        check_precision(pick_device(config.device), config.dtype, model.cell)

    def __init__(self, setup: RunSetup) -> None:
        self.config, self.stream, self.run_dir = setup.config, setup.corpus.mode == "stream", setup.run_dir
        # Evals in the training precision: bf16 scores tinyshakespeare's val split within 2e-4 nats of
        # fp32 (a 2x512 LSTM; 1e-3 is the bound a test holds) in a third of the time.
        self.eval_dtype = self.config.dtype
        self.world = distributed.current()
        distributed.check_batch(self.config.batch_size, self.world)
        self.rows = self.world.shard(self.config.batch_size)  # this rank's streams of the global batch
        self.device = pick_device(self.config.device)
        if self.device.type == "cuda" and self.world.enabled:
            self.device = torch.device("cuda", self.world.local_rank)
        seed_everything(self.config.seed)
        self.model = CharRNN(setup.model_config).to(self.device)  # the plain module: what is saved
        if self.world.rank:  # the same initial weights on every rank, but each its own dropout masks
            seed_everything(self.config.seed + self.world.rank)
        if setup.init_weights is not None:
            tensors, _ = checkpoint.load_tensors(setup.init_weights)
            checkpoint.load_weights(self.model, tensors, setup.init_weights)
        elif not (self.config.resume and (setup.run_dir / checkpoint.TRAINER).exists()):  # else restored
            counts = token_counts(setup.corpus.train, setup.model_config.vocab_size)
            self.model.set_output_prior(torch.from_numpy(counts))
        self.model.train()
        self.forward = self.model
        if self.world.enabled:  # averages the gradients across ranks in backward()
            self.forward = torch.nn.parallel.DistributedDataParallel(self.model)
        # The fused kernel: one pass over each parameter instead of a dozen elementwise ops. On 2 CPU
        # cores an update of the 2x256 model takes 0.28 ms instead of 0.99, and of the 2x512 default
        # 1.07 ms instead of 3.80: 1-1.5% more steps in a time budget (benchmarks/bench_speed.py).
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.config.lr, betas=(0.9, 0.99),
                                           weight_decay=self.config.weight_decay,
                                           fused=self.device.type in ("cpu", "cuda"))
        self.state = None  # the hidden state carried from batch to batch (stream mode)

    def banner(self) -> str:
        return (f"{self.model.num_parameters():,} parameters on {self.device}"
                + (f" x {self.world.size} processes" if self.world.enabled else ""))

    def regularise(self, strength: float) -> None:
        """The dropouts and the weight decay at `strength` (0..1) of the configured values."""
        self.model.set_regularisation(strength)
        for group in self.optimizer.param_groups:
            group["weight_decay"] = self.config.weight_decay * strength

    def train_step(self, batch: Batch, lr: float) -> tuple[float, int, int]:
        """One optimizer step on this rank's rows of the batch (a few rows at a time when one pass would
        hold too many logits: the gradients add up to the same)."""
        cfg = self.config
        if self.stream and (batch.new_epoch or self.state is None):
            self.state = self.model.init_state(self.rows.stop - self.rows.start)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x = batch.x[self.rows].to(self.device, non_blocking=True)  # (b, T)
        y = batch.y[self.rows].to(self.device, non_blocking=True)
        chars = int((y != IGNORE).sum())
        # The mean over the characters of the whole global batch (ranks may hold different counts
        # in lines mode); DDP averages gradients over ranks, hence the factor of the world size.
        scale = self.world.size / distributed.all_reduce_sum([float(chars)], self.device)[0]
        self.optimizer.zero_grad(set_to_none=True)
        nats, states = 0.0, []
        pieces = row_pieces(*x.shape, self.model.config.vocab_size)
        for i, rows in enumerate(pieces):
            last_piece = i == len(pieces) - 1
            with self.forward.no_sync() if self.world.enabled and not last_piece else nullcontext():
                carried = tuple(s[:, rows].contiguous() for s in self.state) if self.stream else None
                with autocast(self.device, cfg.dtype):
                    logits, state = self.forward(x[rows], carried)  # (rows, T, V)
                piece = F.cross_entropy(logits.float().flatten(0, 1), y[rows].flatten(), ignore_index=IGNORE,
                                        reduction="sum")
                (piece * scale).backward()
            nats += piece.item()
            states.append(detach_state(state))
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        if self.stream:  # the carried state of every row, in order (one piece: as it is)
            self.state = states[0] if len(states) == 1 else tuple(torch.cat(parts, dim=1) for parts in zip(*states))
        return nats, chars, len(x)

    def current_model(self) -> CharRNN:
        return self.model

    def trainer_tensors(self) -> dict[str, torch.Tensor]:
        """AdamW's moments ("optim.<param>.<name>") and the carried state of the whole global batch."""
        tensors = {f"carry.{i}": distributed.gather_batch(s) for i, s in enumerate(self.state or ())}  # (L, B, H)
        for i, p in enumerate(self.model.parameters()):
            for key, value in self.optimizer.state.get(p, {}).items():
                tensors[f"optim.{i}.{key}"] = torch.as_tensor(value)
        return tensors

    def restore(self, tensors: dict[str, torch.Tensor]) -> None:
        """Weights, AdamW's moments (none after a numpy-engine run: AdamW starts fresh) and this rank's carry."""
        weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        checkpoint.load_weights(self.model, weights, self.run_dir / checkpoint.TRAINER)
        optim_state: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, i, name = key.split(".", 2)
                optim_state.setdefault(int(i), {})[name] = value.to(self.device) if name != "step" else value
        groups = self.optimizer.state_dict()["param_groups"]
        self.optimizer.load_state_dict({"state": optim_state, "param_groups": groups})
        carry = [tensors[f"carry.{i}"] for i in range(2) if f"carry.{i}" in tensors]
        self.state = tuple(c[:, self.rows].to(self.device) for c in carry) or None  # this rank's streams
