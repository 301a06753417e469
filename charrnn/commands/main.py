"""`charrnn <command>`: the parser of every command, and train, eval, info and datasets. Each
command parses its flags, calls one library function and prints; the others live beside this
module (write.py, inside.py, serve.py, export.py), each adding its own parsers.

Bad input ends in one line on stderr (`charrnn: error: ...`) and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# Only modules without torch at the top: `charrnn --help` must not wait for it. A command's own
# code is imported when it runs.
from charrnn.commands import export, inside, serve, write
from charrnn.commands.arguments import add_dataclass_arguments, add_run_flags, given_fields, load_run
from charrnn.errors import CharRNNError
from charrnn.model_config import DROPOUTS, ModelConfig
from charrnn.training.config import TrainConfig
from charrnn.version import __version__

EXAMPLES = """examples:
  charrnn train --dataset tinyshakespeare --max-time 600 --out runs/shakespeare
  charrnn train my_poems.txt --mode lines --hidden 256 --out runs/poems
  charrnn sample runs/shakespeare --prime "ROMEO:" --length 300 --temperature 0.8
  charrnn sample runs/shakespeare --prime "ROMEO:" --temperature 0.2,0.5,1.0 --show-logprob
  charrnn sample runs/shakespeare --interactive
  charrnn poem runs/tang-poems --form qijue --acrostic 春夏秋冬 --rhyme --num 3
  charrnn names runs/dinosaurs --num 20 --new-only --min-len 6
  charrnn eval runs/shakespeare hamlet.txt --json
  charrnn info runs/shakespeare
  charrnn plot runs/shakespeare runs/shakespeare-gru -o compare.png --x seconds
  charrnn inspect runs/shakespeare --text "ROMEO: What light" --color entropy
  charrnn neurons runs/shakespeare --top 10
  charrnn export runs/tang-poems --format web -o site/
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="charrnn", description="Character-level RNN/LSTM/GRU language models: "
                                     "train on any text, then write, score and serve.", epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"charrnn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_train_parser(commands)
    write.add_parsers(commands)
    _add_run_parsers(commands)
    inside.add_parsers(commands)
    export.add_parsers(commands)
    serve.add_parsers(commands)
    return parser


def _add_train_parser(commands) -> None:
    p = commands.add_parser("train", help="train a model on files, folders or a named dataset",
                            description="Train a model. Writes a run folder: config.json, vocab.json, "
                            "best/last.safetensors, trainer state and metrics.jsonl.")
    p.add_argument("inputs", nargs="*", metavar="PATH", help="text files or folders to train on")
    add_dataclass_arguments(p, ModelConfig, "model")
    add_dataclass_arguments(p, TrainConfig, "training")


def _add_run_parsers(commands) -> None:
    p = commands.add_parser("eval", help="score text files: loss in nats/char, bits/char, perplexity")
    add_run_flags(p)
    p.add_argument("files", nargs="+", metavar="FILE", help="text files to score (as one text)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--exact", action="store_true", help="score as one single stream (slower; default: "
                   "parallel pieces with a burn-in, within about 2e-3 nats)")
    p.add_argument("--encoding", default="utf-8", help="text encoding of the files (default: utf-8)")

    p = commands.add_parser("info", help="show a run: configs, size, vocabulary, steps, best val")
    p.add_argument("run", metavar="RUN", help="a run folder")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    commands.add_parser("datasets", help="list the named datasets and where each is found")


def cmd_train(args: argparse.Namespace) -> int:
    from charrnn.training.launch import run_training

    train_given = given_fields(args, TrainConfig)
    if not train_given.get("inputs"):
        train_given.pop("inputs", None)  # none typed: a resume keeps the run's own
    result = run_training(train_given, given_fields(args, ModelConfig))
    best = f"best val {result.best_val:.4f} nats/char" if result.best_val is not None else "no validation split"
    share = f" ({result.eval_seconds:.0f}s, {result.eval_seconds / max(result.elapsed, 1e-9):.0%}, evaluating)"
    if os.environ.get("RANK", "0") == "0":  # under torchrun, once
        print(f"done: {result.steps} steps in {result.elapsed:.0f}s{share}, {best}; "
              f"sample with `charrnn sample {result.run_dir}`")
    return 130 if result.interrupted else 0


def cmd_eval(args: argparse.Namespace) -> int:
    from charrnn.data.corpus import read_text

    model = load_run(args)
    text = "".join(read_text(Path(f), args.encoding) for f in args.files)
    result = model.evaluate(text, exact=args.exact)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['loss_nats']:.4f} nats/char | {result['bpc']:.4f} bits/char | "
              f"perplexity {result['perplexity']:.3f} | {result['chars']:,} characters")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from charrnn.checkpoint import run_summary

    summary = run_summary(Path(args.run))
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
        return 0
    m = summary["model"]
    print(f"run        {args.run} ({summary['mode']} mode, charrnn {summary['created_with']})")
    print(f"model      {m['layers']}x{m['hidden']} {m['cell']}, embed {m['embed'] or 'one-hot'}, "
          f"{m.get('output', 'full')} output, {regularisers(m)}, {summary['parameters']:,} parameters")
    print(f"vocabulary {summary['vocab_size']} tokens ({summary['vocab_size'] - 3} characters + <unk> <bos> <eos>)")
    print(f"training   {summary['steps']} steps, {summary['elapsed']:.0f}s; best val "
          + (f"{summary['best_val']:.4f} nats/char" if summary["best_val"] is not None else "-"))
    print("train      " + " ".join(f"{k}={v}" for k, v in summary["train"].items() if v not in (None, [], "")))
    return 0


def regularisers(model: dict) -> str:
    """"dropout 0.2, weight drop 0.3" (the ones in use), or "no dropout"."""
    used = [f"{name.replace('_', ' ')} {model[name]:g}" for name in DROPOUTS if model.get(name)]
    return ", ".join(used) or "no dropout"


def cmd_datasets(args: argparse.Namespace) -> int:
    from charrnn.data.catalog import DATASETS

    width = max(len(name) for name in DATASETS)
    for d in DATASETS.values():
        print(f"{d.name:<{width}}  {d.default_mode:<7} {d.description}")
    return 0


COMMANDS = {"train": cmd_train, **write.COMMANDS, "eval": cmd_eval, "info": cmd_info, "datasets": cmd_datasets,
            **serve.COMMANDS, **export.COMMANDS, **inside.COMMANDS}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CharRNNError as e:
        print(f"charrnn: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `charrnn sample RUN | head`
        sys.stderr.close()
        return 0
