"""`charrnn <command>`: parse the flags, call one library function, print. Nothing else lives here.

Bad input ends in one line on stderr (`charrnn: error: ...`) and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, fields
from pathlib import Path

# Only modules without torch at the top: `charrnn --help` must not wait for it. A command's own
# code is imported when it runs.
from charrnn.errors import CharRNNError
from charrnn.export.command import add_export_parser, cmd_export
from charrnn.flags import add_dataclass_arguments, given_fields
from charrnn.generation.options import SamplingOptions
from charrnn.model_config import ModelConfig
from charrnn.serve.command import add_serve_parser, cmd_serve  # cheap: FastAPI is imported on use
from charrnn.training.config import TrainConfig
from charrnn.version import __version__
from charrnn.views.command import VIEW_COMMANDS, add_view_parsers

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


def _temperatures(text: str) -> list[float]:
    """--temperature 0.8, or several: 0.2,0.5,1.0 (checked for range by SamplingOptions)."""
    try:
        return [float(t) for t in text.split(",") if t.strip()] or [float(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or a comma-separated list of numbers") from None


def _add_sampling_flags(p: argparse.ArgumentParser, beam: bool = True) -> None:
    temperature = next(f for f in fields(SamplingOptions) if f.name == "temperature")
    group = p.add_argument_group("decoding")
    group.add_argument("--temperature", type=_temperatures, default=argparse.SUPPRESS, metavar="T[,T...]",
                       help=temperature.metadata["help"] + "; several, comma-separated (0.2,0.5,1.0), write "
                       "a labelled set for each (default: 1.0)")
    if beam:
        group.add_argument("--beam", type=int, default=0, metavar="N", help="beam search with N hypotheses: the "
                           "likeliest text instead of a sample, never less likely than --temperature 0 (default: off)")
    group.add_argument("--seed", type=int, default=None, help="random seed for reproducible samples (default: random)")
    group.add_argument("--show-logprob", action="store_true",
                       help="print each text's log-probability under the model (total and per character) on stderr")
    group.add_argument("--json", action="store_true", help="print a JSON list instead of text")
    group.add_argument("--device", default="auto", help="cpu, cuda, mps or auto (default: auto)")
    group.add_argument("--checkpoint", default="best", choices=("best", "last"),
                       help="which weights to use (default: best)")
    add_dataclass_arguments(p, SamplingOptions, "sampling")


def _decoding(args: argparse.Namespace) -> dict:
    """The decoding flags the user typed, as keyword arguments of TrainedModel.samples."""
    return {**given_fields(args, SamplingOptions), "seed": args.seed,
            **({"beam": args.beam} if getattr(args, "beam", 0) else {})}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="charrnn", description="Character-level RNN/LSTM/GRU language models: "
                                     "train on any text, then write, score and serve.", epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"charrnn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_train_parser(commands)
    _add_writing_parsers(commands)
    _add_run_parsers(commands)
    add_view_parsers(commands)
    add_export_parser(commands)
    add_serve_parser(commands)
    return parser


def _add_train_parser(commands) -> None:
    p = commands.add_parser("train", help="train a model on files, folders or a named dataset",
                            description="Train a model. Writes a run folder: config.json, vocab.json, "
                            "best/last.safetensors, trainer state and metrics.jsonl.")
    p.add_argument("inputs", nargs="*", metavar="PATH", help="text files or folders to train on")
    add_dataclass_arguments(p, ModelConfig, "model")
    add_dataclass_arguments(p, TrainConfig, "training")


def _add_writing_parsers(commands) -> None:
    p = commands.add_parser("sample", help="write text with a trained run (streams to stdout)")
    p.add_argument("run", metavar="RUN", help="a run folder")
    p.add_argument("--prime", default="", help="text to start from (default: none)")
    p.add_argument("--length", type=int, default=500, help="characters to write per sample (default: 500)")
    p.add_argument("--num", type=int, default=1, help="how many samples, written as one batch (default: 1)")
    p.add_argument("--stop", default=None, help="end a sample when this text appears (it is not printed)")
    p.add_argument("--interactive", action="store_true", help="a prompt: type the beginning of a text and the "
                   "model completes it; set options between turns (:temperature 0.5, :help); Ctrl-D leaves")
    _add_sampling_flags(p)

    p = commands.add_parser("poem", help="write regular Chinese poems: 绝句/律诗, acrostic, rhyming",
                            description="Write Chinese poems of an exact form with a run trained on poems "
                            "(e.g. --dataset tang-poems): every line has its length and its mark by construction.")
    p.add_argument("run", metavar="RUN", help="a run folder")
    p.add_argument("--form", default=None, help="wujue (五言绝句, 5x4), qijue (七言绝句, 7x4), wulv (五言律诗, 5x8) "
                   "or qilv (七言律诗, 7x8) (default: wujue, or 5 characters a line with --acrostic)")
    p.add_argument("--chars-per-line", type=int, default=None, metavar="N", help="any regular form: N characters a line")
    p.add_argument("--lines", type=int, default=None, metavar="M", help="any regular form: M lines")
    p.add_argument("--acrostic", default=None, metavar="HEADS", help="藏头诗: line k starts with the k-th character "
                   "of HEADS (one line per head; punctuation and spaces among them are ignored)")
    p.add_argument("--rhyme", action="store_true", help="the even lines end in one rhyme group (十三辙, from pypinyin)")
    p.add_argument("--num", type=int, default=1, help="how many poems, written as one batch (default: 1)")
    _add_sampling_flags(p)

    p = commands.add_parser("names", help="invent names with a lines-mode run (dinosaurs, jinyong-names)",
                            description="Sample names, one per line, each to the end token.")
    p.add_argument("run", metavar="RUN", help="a run folder trained in lines mode")
    p.add_argument("--num", type=int, default=20, help="how many names (default: 20)")
    p.add_argument("--new-only", action="store_true", help="drop names found in the training data and repeats, "
                   "and sample more until there are --num")
    p.add_argument("--min-len", type=int, default=1, metavar="A", help="at least A characters (default: 1)")
    p.add_argument("--max-len", type=int, default=None, metavar="B", help="at most B characters (default: 40)")
    p.add_argument("--starts-with", default="", metavar="TEXT", help="every name starts with TEXT")
    _add_sampling_flags(p, beam=False)


def _add_run_parsers(commands) -> None:
    p = commands.add_parser("eval", help="score text files: loss in nats/char, bits/char, perplexity")
    p.add_argument("run", metavar="RUN", help="a run folder")
    p.add_argument("files", nargs="+", metavar="FILE", help="text files to score (as one text)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--exact", action="store_true", help="score as one single stream (slower; default: "
                   "parallel pieces with a burn-in, within about 2e-3 nats)")
    p.add_argument("--encoding", default="utf-8", help="text encoding of the files (default: utf-8)")
    p.add_argument("--device", default="auto", help="cpu, cuda, mps or auto (default: auto)")
    p.add_argument("--checkpoint", default="best", choices=("best", "last"), help="which weights (default: best)")

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
    print(f"done: {result.steps} steps in {result.elapsed:.0f}s, {best}; "
          f"sample with `charrnn sample {result.run_dir}`")
    return 130 if result.interrupted else 0


def _label(sample, index: int, several_temperatures: bool, num: int) -> str:
    parts = ([f"temperature {sample.temperature:g}"] if several_temperatures else []) + \
            ([f"sample {index % num + 1}"] if num > 1 else [])
    return ", ".join(parts)


def _show_logprob(logprobs: list[float], chars: int, label: str) -> None:
    total = sum(logprobs)
    end = " + <eos>" if len(logprobs) > chars else ""
    print(f"logprob{f' ({label})' if label else ''}: {total:.3f} nats total, "
          f"{total / max(len(logprobs), 1):.4f} per character ({chars} characters{end})", file=sys.stderr)


def _logprob_fields(text: str, logprobs: list[float]) -> dict:
    return {"logprob": sum(logprobs), "char_logprobs": logprobs[: len(text)],
            "end_logprob": logprobs[len(text)] if len(logprobs) > len(text) else None}


def cmd_sample(args: argparse.Namespace) -> int:
    from charrnn.trained import load

    model = load(args.run, device=args.device, which=args.checkpoint)
    decoding = _decoding(args)
    temperatures = decoding.pop("temperature", [SamplingOptions().temperature])
    if args.interactive:
        from charrnn.writers.interactive import interactive

        if args.num != 1 or len(temperatures) > 1 or args.json:
            raise CharRNNError("--interactive writes one completion at a time: drop --num and --json, give one "
                               "--temperature (change it at the prompt with :temperature)")
        settings = {"length": args.length, **asdict(SamplingOptions(temperature=temperatures[0])), "beam": 0,
                    "stop": args.stop, **decoding}
        if sys.stdin.isatty():
            import readline  # noqa: F401  (line editing and history for input())
        return interactive(model, settings)
    if args.num == 1 and len(temperatures) == 1 and not (args.beam or args.json or args.show_logprob):
        pieces = model.stream(args.prime, length=args.length, stop=args.stop, temperature=temperatures[0], **decoding)
        first = next(pieces, "")  # validates the options before anything is printed
        sys.stdout.write(args.prime + first)
        for piece in pieces:
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        return 0
    samples = model.samples(args.prime, args.length, args.num, temperatures, stop=args.stop, **decoding)
    several = len(temperatures) > 1
    if args.json:
        print(json.dumps([{"prime": args.prime, "text": s.text, "temperature": s.temperature,
                           **_logprob_fields(s.text, s.logprobs)} for s in samples], ensure_ascii=False))
        return 0
    for i, s in enumerate(samples):
        label = _label(s, i, several, args.num)
        if label:
            print(f"--- {label} ---")
        print(args.prime + s.text)
        if args.show_logprob:
            _show_logprob(s.logprobs, len(s.text), label)
    return 0


def cmd_poem(args: argparse.Namespace) -> int:
    from charrnn.trained import load
    from charrnn.writers.poems import PoemForm, poem_lines, write_poems

    form = PoemForm.from_options(args.form, args.chars_per_line, args.lines, args.acrostic, args.rhyme)
    model = load(args.run, device=args.device, which=args.checkpoint)
    decoding = _decoding(args)
    several = len(decoding.get("temperature", ())) > 1
    poems = write_poems(model, form, args.num, **decoding)
    if args.json:
        print(json.dumps([{"poem": p.text, "lines": poem_lines(p.text), "temperature": p.temperature,
                           "logprob": p.logprob} for p in poems], ensure_ascii=False))
        return 0
    for i, p in enumerate(poems):
        if several and i % args.num == 0:
            print(f"--- temperature {p.temperature:g} ---")
        elif i:
            print()
        print("\n".join(poem_lines(p.text)))
        if args.show_logprob:
            _show_logprob(p.logprobs, len(p.text), _label(p, i, several, args.num))
    return 0


def cmd_names(args: argparse.Namespace) -> int:
    from charrnn.trained import load
    from charrnn.writers.names import NameRules, write_names

    rules = NameRules(args.min_len, args.max_len, args.starts_with)
    model = load(args.run, device=args.device, which=args.checkpoint)
    decoding = _decoding(args)
    several = len(decoding.get("temperature", ())) > 1
    result = write_names(model, args.num, rules, new_only=args.new_only, **decoding)
    if args.json:
        print(json.dumps([{"name": n.name, "temperature": n.temperature, "new": n.new, "logprob": n.logprob}
                          for n in result.names], ensure_ascii=False))
    else:
        temperature = None
        for n in result.names:
            if several and n.temperature != temperature:
                temperature = n.temperature
                print(f"--- temperature {temperature:g} ---")
            print(n.name)
            if args.show_logprob:
                _show_logprob(n.logprobs, len(n.name) - len(args.starts_with), n.name)
    print(f"names: {result.summary()}", file=sys.stderr)
    return 0 if result.complete else 1


def cmd_eval(args: argparse.Namespace) -> int:
    from charrnn.trained import load
    from charrnn.data.corpus import read_text

    model = load(args.run, device=args.device, which=args.checkpoint)
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
          f"{m.get('output', 'full')} output, dropout {m['dropout']}, {summary['parameters']:,} parameters")
    print(f"vocabulary {summary['vocab_size']} tokens ({summary['vocab_size'] - 3} characters + <unk> <bos> <eos>)")
    print(f"training   {summary['steps']} steps, {summary['elapsed']:.0f}s; best val "
          + (f"{summary['best_val']:.4f} nats/char" if summary["best_val"] is not None else "-"))
    print("train      " + " ".join(f"{k}={v}" for k, v in summary["train"].items() if v not in (None, [], "")))
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from charrnn.data.datasets import DATASETS

    width = max(len(name) for name in DATASETS)
    for d in DATASETS.values():
        print(f"{d.name:<{width}}  {d.default_mode:<7} {d.description}")
    return 0


COMMANDS = {"train": cmd_train, "sample": cmd_sample, "poem": cmd_poem, "names": cmd_names, "eval": cmd_eval,
            "info": cmd_info, "datasets": cmd_datasets, "serve": cmd_serve, "export": cmd_export,
            **VIEW_COMMANDS}


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
