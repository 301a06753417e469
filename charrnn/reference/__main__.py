"""python -m charrnn.reference FILE: min-char-rnn's loop on a text file, in numpy only.

Parses the flags, reads the file and calls `train.minimal_loop`. Bad input gives one line
on stderr and exit status 2; Ctrl-C stops between iterations with status 130.
"""

from __future__ import annotations

import argparse
import sys

from .model import CELLS
from .train import minimal_loop

PROG = "python -m charrnn.reference"


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Train a character-level RNN with numpy only, the min-char-rnn way: "
        "Adagrad, element-wise clipping at 5, a sample and the smoothed loss every 100 iterations.",
    )
    parser.add_argument("file", help="a UTF-8 text file to learn from")
    parser.add_argument("--cell", choices=sorted(CELLS), default="rnn", help="recurrent cell (default: rnn)")
    parser.add_argument("--hidden", type=positive_int, default=100, help="hidden units per layer (default: 100)")
    parser.add_argument("--layers", type=positive_int, default=1, help="stacked layers (default: 1)")
    parser.add_argument("--seq-len", type=positive_int, default=25, help="characters per update (default: 25)")
    parser.add_argument("--lr", type=positive_float, default=0.1, help="Adagrad learning rate (default: 0.1)")
    parser.add_argument(
        "--iters", type=positive_int, default=10_000, help="number of updates, then stop (default: 10000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for the weights and the samples (default: 0)")
    parser.add_argument(
        "--print-every", type=positive_int, default=100, help="iterations between samples (default: 100)"
    )
    parser.add_argument(
        "--sample-len", type=positive_int, default=200, help="characters per sample (default: 200)"
    )
    return parser


def read_text(path: str) -> str:
    """The file's text; a ValueError with a one-line reason if it cannot be used."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a folder, give a text file") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e.strerror})") from None
    if len(text) < 2:
        raise ValueError(f"{path}: {'empty' if not text else 'too short'}, need at least 2 characters")
    return text


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        text = read_text(args.file)
    except ValueError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    try:
        minimal_loop(
            text,
            cell=args.cell,
            hidden=args.hidden,
            layers=args.layers,
            seq_len=args.seq_len,
            lr=args.lr,
            iters=args.iters,
            seed=args.seed,
            print_every=args.print_every,
            sample_len=args.sample_len,
            out=lambda line: print(line, flush=True),
        )
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
