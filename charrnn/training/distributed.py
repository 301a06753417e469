"""Several processes under `torchrun`, with PyTorch DDP: who am I, and the few collective calls.

    torchrun --nproc_per_node=2 -m charrnn train --dataset tinyshakespeare --batch-size 32
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --master_port=29500 \\
             --nproc_per_node=8 -m charrnn train ...

The global batch (--batch-size) is split across the ranks: with B streams and W ranks, rank r
reads streams r*B/W .. (r+1)*B/W - 1 of the same layout a single process would read, so no
two ranks see the same text and W processes compute exactly what one process would (the
gradients are averaged by DDP; the loss is normalised by the global character count). Rank 0
prints, evaluates the pieces it owns like every rank, and writes the checkpoints.

Without torchrun (no WORLD_SIZE in the environment, or 1), everything here is a no-op.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist

from charrnn.errors import CharRNNError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, batch_size: int) -> slice:
        """This rank's rows of a global batch."""
        per_rank = batch_size // self.size
        return slice(self.rank * per_rank, (self.rank + 1) * per_rank)


def start() -> World:
    """Join the process group torchrun set up (gloo on CPU, NCCL on GPU), or stay single."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    world = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(world.local_rank)
        dist.init_process_group(backend)
    return world


def current() -> World:
    if not dist.is_available() or not dist.is_initialized():
        return World()
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


# Every tensor handed to a collective is one made here, and it stays referenced here until the
# backend's worker threads have let go of it. A worker that drops the last reference to a tensor that
# Python made must take the GIL to free it; one that does so while the interpreter is shutting down
# aborts the process ("terminate called without an active exception"). That is what happened to a rank
# whose last barrier still held the all_gather of its last save, and DDP keeps the process group (and
# its threads) alive past destroy_process_group, so only letting go first is safe.
_lent: list[torch.Tensor] = []


def _lend(*tensors: torch.Tensor) -> None:
    """Keep `tensors` until the backend has let go of them; forget those it already has."""
    _lent[:] = [t for t in _lent if t._use_count() > 1] + list(tensors)


def _wait_until_returned(timeout: float = 10.0) -> None:
    """Wait until no worker thread holds a lent tensor (they let go microseconds after a collective)."""
    deadline = time.monotonic() + timeout
    while any(t._use_count() > 1 for t in _lent) and time.monotonic() < deadline:
        time.sleep(0.001)
    _lent.clear()


def stop() -> None:
    if dist.is_available() and dist.is_initialized():
        _wait_until_returned()
        dist.destroy_process_group()


def barrier() -> None:
    if current().enabled:
        dist.barrier()


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """The sum over ranks of each value (float64), or the values themselves when single."""
    if not current().enabled:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    _lend(tensor)
    dist.all_reduce(tensor)
    return tensor.tolist()


def gather_batch(tensor: torch.Tensor) -> torch.Tensor:
    """(L, b, H) on every rank -> (L, b * W, H): the carried state of the whole global batch."""
    if not current().enabled:
        return tensor
    mine = tensor.clone(memory_format=torch.contiguous_format)  # not the caller's: it is lent
    parts = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    _lend(mine, *parts)
    dist.all_gather(parts, mine)
    return torch.cat(parts, dim=1)


def gather_rows(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Each rank's tensor (the same shape on every rank) -> (W, ...) on the CPU, on every rank."""
    mine = tensor.to(device, copy=True)  # not the caller's: it is lent
    parts = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    _lend(mine, *parts)
    dist.all_gather(parts, mine)
    return torch.stack(parts).cpu()


def check_batch(batch_size: int, world: World) -> None:
    if batch_size % world.size:
        raise CharRNNError(f"--batch-size {batch_size} must be a multiple of the {world.size} processes "
                           f"(the global batch is split evenly across them)")
