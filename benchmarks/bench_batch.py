"""The server's batch without HTTP: characters/s of one model's rows stepped together, by rows.

    python benchmarks/bench_batch.py                 # 1, 8, 32, 64, 128 rows, torch threads 1 and 2

A 2x512 LSTM (the default model; random weights: the arithmetic is a trained one's) over a
206-token vocabulary (charrnn's own source, what load_server.py serves). For each number of rows R,
R requests of one row each are written together by charrnn.generation.batch (rows.choose's
sampling included, one generator a request) until each has 100 characters, as the server's
scheduler does; "step" is the Stepper's product alone. Columns: ms per step, characters/s, and
characters/s against one row: the most that batching R requests can give over one request at a
time, before HTTP.
"""

from __future__ import annotations

import argparse
import time

import torch

from charrnn.generation.batch import Batch
from charrnn.generation.network import Network
from charrnn.generation.options import SamplingOptions
from charrnn.generation.rows import Decode
from charrnn.generation.stepper import Stepper
from charrnn.model import CharRNN, ModelConfig
from charrnn.vocab import Vocabulary

LENGTH = 100


def network() -> Network:
    torch.manual_seed(0)
    vocab = Vocabulary([chr(32 + i) for i in range(203)])  # 206 tokens with the three special ones
    return Network(CharRNN(ModelConfig().resolved(len(vocab))).eval(), vocab, "stream")


def batch_seconds(net: Network, rows: int) -> float:
    """Seconds a step for `rows` requests written together to LENGTH characters (priming included)."""
    batch = Batch(net)
    batch.join([Decode(net, "The ", LENGTH, SamplingOptions(), torch.Generator().manual_seed(k)) for k in range(rows)])
    start, steps = time.perf_counter(), 0
    while batch.decodes:
        batch.choose()
        batch.advance()
        steps += 1
    return (time.perf_counter() - start) / steps


def product_seconds(stepper: Stepper, net: Network, rows: int, steps: int = 30) -> float:
    state, ids = net.model.init_state(rows), torch.full((rows,), 40)
    stepper.step(ids, state)
    start = time.perf_counter()
    for _ in range(steps):
        stepper.step(ids, state)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="1,8,32,64,128", help="numbers of rows (default: 1,8,32,64,128)")
    parser.add_argument("--threads", default="1,2", help="torch threads (default: 1,2)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds, the best kept (default: 3)")
    args = parser.parse_args()
    net, rows = network(), [int(r) for r in args.rows.split(",")]
    stepper = Stepper(net.model)
    print(f"### The batch's step, 2x512 LSTM, {len(net.vocab)} tokens, {LENGTH} characters a request "
          f"(best of {args.rounds} rounds)\n")
    print("| threads | rows | step ms (product) | step ms (whole) | chars/s | vs 1 row |\n|---:|---:|---:|---:|---:|---:|")
    with torch.inference_mode():
        for threads in (int(t) for t in args.threads.split(",")):
            torch.set_num_threads(threads)
            best = {r: (float("inf"), float("inf")) for r in rows}
            for _ in range(args.rounds):
                for r in rows:
                    best[r] = (min(best[r][0], product_seconds(stepper, net, r)), min(best[r][1], batch_seconds(net, r)))
            one = 1 / best[rows[0]][1] * rows[0]
            for r in rows:
                product, whole = best[r]
                print(f"| {threads} | {r} | {product * 1e3:.2f} | {whole * 1e3:.2f} | {r / whole:,.0f} "
                      f"| {r / whole / one:.1f}x |")


if __name__ == "__main__":
    main()
