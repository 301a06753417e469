"""Training speed of the numpy engine and the torch engine on the same small models, in one run.

    python benchmarks/bench_engines.py                 # about 35 s; prints a markdown table
    python benchmarks/bench_engines.py --seconds 1     # quicker, noisier

Each row times whole training steps on the CPU, as the two trainers run them:

    numpy  loss_and_grads over one sequence (forward + BPTT, float64) -> clip element-wise -> Adagrad
    torch  CharRNN forward (fused nn.RNN / nn.LSTM, float32) -> cross_entropy -> backward
           -> clip_grad_norm_ -> AdamW

on random ids from a 65-character vocabulary (tinyshakespeare's size; speed does not depend on
the text), sequence length 25 (min-char-rnn's). chars/s counts the characters predicted, so a
step of batch B is B x 25 characters. "vs numpy" is chars/s over the numpy engine's on the same
model. torch gets one thread by default, like the numpy engine (--threads 0: torch's choice; on a
busy machine its spinning worker threads can make it far slower). Numbers depend on the CPU and
its load (the set-up is printed above the table).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F

from charrnn.model import CharRNN, ModelConfig
from charrnn.reference import Adagrad, clip, init_params, loss_and_grads

VOCAB, SEQ_LEN = 65, 25
MODELS = (("rnn", 100), ("lstm", 128))  # (cell, hidden), one layer each
TORCH_BATCHES = (1, 32)


def timed(step, seconds: float, warmup: int = 3) -> float:
    """Steps per second of `step()`, run for about `seconds` after a few warm-up calls."""
    for _ in range(warmup):
        step()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        count += 1
    return count / (time.perf_counter() - start)


def numpy_step_fn(cell: str, hidden: int, rng: np.random.Generator):
    params = init_params(cell, VOCAB, hidden, layers=1, seed=0)
    optimizer = Adagrad(lr=0.1)
    data = rng.integers(VOCAB, size=SEQ_LEN + 1).tolist()
    state = [None]

    def step() -> None:
        loss, grads, state[0] = loss_and_grads(params, cell, data[:-1], data[1:], state[0])
        clip(grads, 5.0)
        optimizer.step(params, grads)

    return step


def torch_step_fn(cell: str, hidden: int, batch: int, rng: np.random.Generator):
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(cell=cell, layers=1, hidden=hidden, embed=0).resolved(VOCAB))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.99))
    chunk = torch.from_numpy(rng.integers(VOCAB, size=(batch, SEQ_LEN + 1)))
    x, y = chunk[:, :-1], chunk[:, 1:]  # (B, T)
    state = [model.init_state(batch)]

    def step() -> None:
        logits, new_state = model(x, state[0])  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        state[0] = tuple(s.detach() for s in new_state)  # carried, as truncated BPTT

    return step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="numpy engine vs torch engine training speed (chars/s)")
    parser.add_argument("--seconds", type=float, default=5.0, help="timing per row, after warm-up (default: 5)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default: 1, as the numpy engine uses one core; 0 = torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    cpu = platform.processor() or platform.machine()
    print(f"{cpu} | torch {torch.__version__} ({torch.get_num_threads()} thread(s)) "
          f"| numpy {np.__version__} | seq_len {SEQ_LEN}, vocabulary {VOCAB}, {args.seconds:g} s per row\n")
    print("| model | engine | batch | chars/s | vs numpy |")
    print("|---|---|---:|---:|---:|")
    for cell, hidden in MODELS:
        name = f"1x{hidden} {cell}"
        base = timed(numpy_step_fn(cell, hidden, rng), args.seconds) * SEQ_LEN
        print(f"| {name} | numpy (float64) | 1 | {base:,.0f} | 1.0x |", flush=True)
        for batch in TORCH_BATCHES:
            rate = timed(torch_step_fn(cell, hidden, batch, rng), args.seconds) * SEQ_LEN * batch
            print(f"| {name} | torch (float32) | {batch} | {rate:,.0f} | {rate / base:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
