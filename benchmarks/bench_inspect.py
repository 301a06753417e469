"""Looking inside: the speed of an inspection and the neuron finder, and the memory of `inspect --json`.

    CHARRNN_DATA=../shared/corpora python benchmarks/bench_inspect.py [--rounds 3]

A 2x512 LSTM (the default model; random weights: the arithmetic is the same as a trained one's) on
tinyshakespeare. Speed: 10,000 characters, against `eval --exact` on the same text (one carried-state
stream, the same kernel); each row's best of interleaved rounds. Memory: the peak RSS of
`charrnn inspect RUN --file F --json` on 100,000 characters (predictions only: no activations unless
--units names some) against `charrnn eval RUN F --exact` on the same file, each in its own process.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from charrnn import checkpoint
from charrnn.data.corpus import encode_text
from charrnn.data.downloads import dataset_files
from charrnn.generation.network import Network
from charrnn.generation.scoring import score
from charrnn.inside.inspection import inspect_text
from charrnn.inside.neurons import find_neurons
from charrnn.model import CharRNN, ModelConfig
from charrnn.vocab import Vocabulary

CHARRNN = [str(Path(sys.executable).parent / "charrnn")]


def make_run(folder: Path, text: str) -> tuple[CharRNN, Vocabulary]:
    """A run folder holding a 2x512 LSTM with random weights (what `charrnn train` would start from)."""
    torch.manual_seed(0)
    vocab = Vocabulary.from_text(text)
    model = CharRNN(ModelConfig().resolved(len(vocab))).eval()
    checkpoint.write_run_config(folder, checkpoint.RunInfo(model.config, {}, "stream"), vocab)
    checkpoint.save_tensors(folder / checkpoint.BEST, model.state_dict())
    return model, vocab


def best_time(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_rss_mb(command: list[str]) -> float:
    """The peak resident memory of `command`, started from a small fresh interpreter (a child forked
    from this process would count this process's pages until it execs)."""
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    result = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True, check=True)
    return int(result.stdout) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of each speed row (default: 3)")
    args = parser.parse_args()
    text = dataset_files("tinyshakespeare")[0].read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        model, vocab = make_run(run, text)
        sample = text[:10_000]
        ids, _ = encode_text(sample, vocab, "stream")
        network = Network(model, vocab, "stream")
        rows = {
            "eval --exact (baseline)": lambda: score(network, ids, exact=True),
            "inspect: predictions only": lambda: inspect_text(network, sample, keep=None),
            "inspect: + every unit's h and c": lambda: inspect_text(network, sample, keep="all"),
            "neuron finder (inspect + correlations)": lambda: find_neurons(inspect_text(network, sample, keep="all")),
        }
        best = {name: float("inf") for name in rows}
        for _ in range(args.rounds):
            for name, fn in rows.items():
                best[name] = min(best[name], best_time(fn, 1))
        base = best["eval --exact (baseline)"]
        print(f"### Inspecting 10,000 characters, 2x512 LSTM, {torch.get_num_threads()} threads "
              f"(best of {args.rounds})\n")
        print("| what | seconds | chars/s | vs eval --exact |\n|---|---:|---:|---:|")
        for name, seconds in best.items():
            print(f"| {name} | {seconds:.2f} | {10_000 / seconds:,.0f} | {seconds / base:.2f}x |")

        big = Path(tmp) / "100k.txt"
        big.write_text(text[:100_000], encoding="utf-8")
        eval_mb = peak_rss_mb([*CHARRNN, "eval", str(run), str(big), "--exact", "--device", "cpu"])
        json_mb = peak_rss_mb([*CHARRNN, "inspect", str(run), "--file", str(big), "--json", "--device", "cpu"])
        print("\n### Memory, 100,000 characters (peak RSS of the whole command)\n")
        print("| command | peak RSS MB | vs eval |\n|---|---:|---:|")
        print(f"| `charrnn eval RUN F --exact` (baseline) | {eval_mb:,.0f} | 1.00x |")
        print(f"| `charrnn inspect RUN --file F --json` | {json_mb:,.0f} | {json_mb / eval_mb:.2f}x |")
        every = 100_000 * 2 * 2 * 512 * 4 / 2**20
        print(f"\nEvery unit's h and c for 100,000 characters would be {every:,.0f} MB more: kept only with --units.")


if __name__ == "__main__":
    main()
