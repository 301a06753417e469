"""Quality for time: what the defaults and the presets reach in a time budget, on every built-in
dataset, with the exact command of each row and, with several seeds, the spread (min-max).

    python benchmarks/bench_budget.py                                   # every dataset, 115 s and 600 s
    python benchmarks/bench_budget.py --datasets tinyshakespeare --budgets 600 1200
    python benchmarks/bench_budget.py --datasets tinyshakespeare --budgets 115 --preset cpu-2min \\
        --seeds 1 2 3                                                   # three runs: the spread

Each run is `charrnn train --dataset D --max-time T --seed S [--preset P] [flags]` in its own
process, one at a time (run it on an idle machine: the budget is wall time, so a busy machine
reaches fewer steps). The columns:

  val        best val loss, nats/char, on the whole validation split (the end-of-run score)
  last       the final weights' val loss on the whole split: within 0.02 of `val` when the run
             does not memorise
  unigram    the val loss of the training split's character frequencies (a model that ignores
             context): what the network must beat
  steps      steps reached (ends early with `stopped early` when --patience ran out)
  eval share seconds spent evaluating and printing samples, as a share of the run's time (from its
             first step to the end of its last eval; start-up and reading the corpus not counted)
  during     of that share, the evals during training (a fixed subset of the validation split)
  last eval  the seconds of the run's last eval: the whole validation split, for the last weights
             (and for the best ones when the last do not beat them on the subset)
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ALL_DATASETS = ("tinyshakespeare", "tang-poems", "nietzsche", "sonnets", "python-stdlib", "dinosaurs",
                "jinyong-names", "gulong-names", "wuxia-names", "tianlongbabu-names")


def unigram_val_loss(dataset: str) -> float:
    """nats/char of the val split under the training split's character frequencies: the loss a
    model reaches by ignoring context, which a char-RNN must beat."""
    from charrnn.data.corpus import load_corpus, token_counts
    from charrnn.training.config import TrainConfig
    from charrnn.training.preparation import corpus_files
    from charrnn.vocab import BOS

    files, name, mode = corpus_files(TrainConfig(dataset=dataset))
    corpus = load_corpus(files, mode, name=name)
    V = len(corpus.vocab)
    probs = np.maximum(token_counts(corpus.train, V), 0.5) / len(corpus.train)
    val = token_counts(corpus.val, V)
    val[BOS] = 0  # never a target
    return float(-(val * np.log(probs)).sum() / val.sum())


def command(dataset: str, budget: float, seed: int, preset: str | None, flags: list[str]) -> list[str]:
    args = ["charrnn", "train", "--dataset", dataset, "--max-time", f"{budget:g}", "--seed", str(seed)]
    return args + (["--preset", preset] if preset else []) + flags


def train(args: list[str], out: Path, log: Path | None = None) -> dict:
    """Run one training process; what its run folder and output say about it."""
    started = time.time()
    done = subprocess.run([sys.executable, "-m", "charrnn", *args[1:], "--out", str(out)],  # samples included
                          capture_output=True, text=True)
    wall = time.time() - started
    if log is not None:
        log.write_text(f"$ {shlex.join(args)}\n{done.stdout}{done.stderr}", encoding="utf-8")
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(args)} failed:\n{done.stderr[-2000:]}")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    evals = [r for r in records if "val_loss" in r]
    whole = [r for r in records if "whole_val_loss" in r]
    _, meta = _header(out / "trainer.safetensors")
    best = whole[-1]["whole_best_val_loss"] if whole else min(r["val_loss"] for r in evals)
    last = whole[-1]["whole_val_loss"] if whole else evals[-1]["val_loss"]
    final = meta.get("final_eval_seconds", 0.0)
    return {"val": best, "last": last, "steps": meta["step"], "eval_share": meta["eval_seconds"] / meta["elapsed"],
            "evals_share": (meta["eval_seconds"] - final) / meta["elapsed"], "final_seconds": final,
            "wall": wall, "early": "stopped early" in done.stdout}


def unused(path: Path) -> Path:
    """`path`, or path-2, path-3, ... when a run folder is already there (never overwrite a run)."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def _header(path: Path) -> tuple[dict, dict]:
    from charrnn.checkpoint import read_header

    return read_header(path)


def spread(values: list[float], fmt: str = "{:.4f}") -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(min(values))}-{fmt.format(max(values))}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(ALL_DATASETS), metavar="NAME")
    parser.add_argument("--budgets", nargs="+", type=float, default=[115, 600], metavar="SECONDS")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1337], metavar="SEED",
                        help="one run per seed; several give the min-max spread")
    parser.add_argument("--preset", default=None, help="a --preset for every run (default: the plain defaults)")
    parser.add_argument("--flags", default="", help="more `charrnn train` flags for every run, quoted")
    parser.add_argument("--json", metavar="FILE", help="also write every run's figures here")
    parser.add_argument("--logs", metavar="DIR", help="keep each run's printed output (and its run folder, "
                        "under DIR/runs) here")
    args = parser.parse_args()
    flags = shlex.split(args.flags)
    if args.logs:
        Path(args.logs).mkdir(parents=True, exist_ok=True)
    import torch

    print(f"{os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| command | runs | steps | val | last | unigram | eval share | during training | last eval |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets:
            unigram = unigram_val_loss(dataset)
            for budget in args.budgets:
                runs = []
                for seed in args.seeds:
                    argv = command(dataset, budget, seed, args.preset, flags)
                    name = f"{dataset}-{budget:g}s-seed{seed}"
                    log = Path(args.logs) / f"{name}.log" if args.logs else None
                    out = unused(Path(args.logs) / "runs" / name) if args.logs else Path(tmp) / str(len(results))
                    runs.append({"command": shlex.join(argv), **train(argv, out, log)})
                    results.append(runs[-1])
                shown = f"`{shlex.join(command(dataset, budget, args.seeds[0], args.preset, flags))}`"
                if len(args.seeds) > 1:
                    shown += f" (seeds {', '.join(map(str, args.seeds))})"
                early = " (stopped early)" if any(r["early"] for r in runs) else ""
                print(f"| {shown} | {len(runs)} | {spread([r['steps'] for r in runs], '{:,}')}{early} | "
                      f"**{spread([r['val'] for r in runs])}** | {spread([r['last'] for r in runs])} | "
                      f"{unigram:.4f} | {spread([r['eval_share'] for r in runs], '{:.1%}')} | "
                      f"{spread([r['evals_share'] for r in runs], '{:.1%}')} | "
                      f"{spread([r['final_seconds'] for r in runs], '{:.0f} s')} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
