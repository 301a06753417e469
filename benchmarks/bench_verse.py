"""Regulated verse: seconds per poem, free against by construction (meter, rhyme, keywords).

    CHARRNN_DATA=../shared/corpora python benchmarks/bench_verse.py [--poems 20]

A 2x512 LSTM (the default model; random weights: the arithmetic is a trained one's) with
tang-poems' vocabulary (7,834 tokens, tied output), writing one poem at a time as a user asks for
one; every row over the same seeds, best of interleaved rounds. Goal: strict meter with rhyme and
keywords at most 2x the free poem.
"""

from __future__ import annotations

import argparse
import time

import torch

from charrnn.data.corpus import load_corpus
from charrnn.data.downloads import dataset_files
from charrnn.generation.network import Network
from charrnn.model import CharRNN, ModelConfig
from charrnn.writers.poem_form import PoemForm
from charrnn.writers.poems import write_poems
from charrnn.writers.rhyme_books import tones


def tang_network() -> Network:
    corpus = load_corpus(dataset_files("tang-poems"), "lines", val_frac=0.0, name="tang-poems")
    torch.manual_seed(0)
    return Network(CharRNN(ModelConfig().resolved(len(corpus.vocab))).eval(), corpus.vocab, "lines")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--poems", type=int, default=20, help="poems per row and round (default: 20)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default: 3)")
    args = parser.parse_args()
    network = tang_network()
    both = [c for c in "月江山风花云" if tones("pingshui", c) == {"平", "仄"} or c in "月江"][:2]
    keywords = ",".join(both)
    rows = {}
    for form in ("wujue", "qilv"):
        rows[f"{form}: free"] = PoemForm.from_options(form)
        rows[f"{form}: strict meter + rhyme"] = PoemForm.from_options(form, meter="strict")
        rows[f"{form}: strict + rhyme + keywords {keywords}"] = PoemForm.from_options(form, meter="strict",
                                                                                    keywords=keywords)
    write_poems(network, rows["wujue: strict meter + rhyme"], 1, seed=0)  # the rhyme book is read once
    best = {name: float("inf") for name in rows}
    for _ in range(args.rounds):
        for name, form in rows.items():
            start = time.perf_counter()
            for seed in range(args.poems):
                write_poems(network, form, 1, temperature=1.0, seed=seed)
            best[name] = min(best[name], (time.perf_counter() - start) / args.poems)
    print(f"### Seconds per poem, 2x512 LSTM, tang-poems vocabulary, {torch.get_num_threads()} threads "
          f"(best of {args.rounds} rounds of {args.poems})\n")
    print("| what | s per poem | vs free |\n|---|---:|---:|")
    for name, seconds in best.items():
        free = best[name.split(":")[0] + ": free"]
        print(f"| {name} | {seconds:.3f} | {seconds / free:.2f}x |")


if __name__ == "__main__":
    main()
