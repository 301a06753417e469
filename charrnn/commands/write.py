"""`charrnn sample`, `charrnn poem` and `charrnn names`: the writing commands' flags, and the commands
that print what the facade writes (the decoding flags are SamplingOptions' fields). Wired into
charrnn.commands.main as `add_parsers(commands)` and COMMANDS; torch is imported when one runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, fields
from pathlib import Path

from charrnn.commands.arguments import add_dataclass_arguments, add_run_flags, given_fields, load_run
from charrnn.errors import CharRNNError
from charrnn.generation.options import SamplingOptions


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
    add_dataclass_arguments(p, SamplingOptions, "sampling")


def _decoding(args: argparse.Namespace) -> dict:
    """The decoding flags the user typed, as keyword arguments of the facade's writers."""
    return {**given_fields(args, SamplingOptions), "seed": args.seed,
            **({"beam": args.beam} if getattr(args, "beam", 0) else {})}


def add_parsers(commands) -> None:
    p = commands.add_parser("sample", help="write text with a trained run (streams to stdout)")
    add_run_flags(p)
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
    add_run_flags(p, "a run folder (not with --check)", optional=True)
    p.add_argument("--form", default=None, help="wujue (五言绝句, 5x4), qijue (七言绝句, 7x4), wulv (五言律诗, 5x8) "
                   "or qilv (七言律诗, 7x8) (default: wujue, or 5 characters a line with --acrostic)")
    p.add_argument("--chars-per-line", type=int, default=None, metavar="N", help="any regular form: N characters a line")
    p.add_argument("--lines", type=int, default=None, metavar="M", help="any regular form: M lines")
    p.add_argument("--acrostic", default=None, metavar="HEADS", help="藏头诗: line k starts with the k-th character "
                   "of HEADS (one line per head; punctuation and spaces among them are ignored)")
    p.add_argument("--rhyme", action="store_true", help="the even lines end in one rhyme group (十三辙, from pypinyin)")
    p.add_argument("--meter", default="off", choices=("strict", "loose", "off"), help="regulated verse (格律): "
                   "every position of its tonal pattern (strict), or 一三五不论 (loose); implies --rhyme (default: off)")
    p.add_argument("--pattern", default=None, choices=("pingqi", "zeqi"), help="with --meter: 平起 or 仄起 "
                   "(default: as the model opens)")
    p.add_argument("--rhyme-book", default="pingshui", metavar="BOOK",
                   help="tones and rhymes of --meter and --check: 平水韵, 中华新韵 or 十三辙 (default: pingshui)")
    p.add_argument("--keywords", default=None, metavar="WORDS", help="words every poem must hold, placed by the "
                   "decoder: 月,江 (at most 3)")
    p.add_argument("--check", nargs="?", const="-", default=None, metavar="FILE", help="check poems instead "
                   "(FILE or standard input; one a line, or separated by blank lines): exit 0 if all are regular, 1 if not")
    p.add_argument("--num", type=int, default=1, help="how many poems, written as one batch (default: 1)")
    _add_sampling_flags(p)

    p = commands.add_parser("names", help="invent names with a lines-mode run (dinosaurs, jinyong-names)",
                            description="Sample names, one per line, each to the end token.")
    add_run_flags(p, "a run folder trained in lines mode")
    p.add_argument("--num", type=int, default=20, help="how many names (default: 20)")
    p.add_argument("--new-only", action="store_true", help="drop names found in the training data and repeats, "
                   "and sample more until there are --num")
    p.add_argument("--min-len", type=int, default=1, metavar="A", help="at least A characters (default: 1)")
    p.add_argument("--max-len", type=int, default=None, metavar="B", help="at most B characters (default: 40)")
    p.add_argument("--starts-with", default="", metavar="TEXT", help="every name starts with TEXT")
    _add_sampling_flags(p, beam=False)


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
    model = load_run(args)
    decoding = _decoding(args)
    temperatures = decoding.pop("temperature", [SamplingOptions().temperature])
    if args.interactive:
        from charrnn.commands.interactive import interactive

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
    if args.check is not None:
        return _check_poems(args)
    from charrnn.writers.poem_form import PoemForm, poem_lines

    if args.run is None:
        raise CharRNNError("poem: give a run folder to write with (or --check FILE to check poems)")
    form = PoemForm.from_options(args.form, args.chars_per_line, args.lines, args.acrostic, args.rhyme,
                                 args.meter, args.rhyme_book, args.pattern, args.keywords)
    model = load_run(args)
    decoding = _decoding(args)
    several = len(decoding.get("temperature", ())) > 1
    poems = model.poem_samples(form, args.num, **decoding)
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


def _check_poems(args: argparse.Namespace) -> int:
    from charrnn.data.corpus import read_text
    from charrnn.writers.meter import check_poems

    if args.run is not None:
        raise CharRNNError("poem --check reads poems, not a run: drop RUN")
    text = sys.stdin.read() if args.check == "-" else read_text(Path(args.check))
    results = check_poems(text, args.rhyme_book, "strict" if args.meter == "off" else args.meter)
    if args.json:
        print(json.dumps([{"poem": poem, "ok": not found, "violations": [vars(v) for v in found]}
                          for poem, found in results], ensure_ascii=False))
    else:
        for k, (poem, found) in enumerate(results, 1):
            print(f"poem {k}: {'OK' if not found else f'{len(found)} problem(s)'}  {poem}")
            for v in found:
                print(f"  {v}")
    return 0 if all(not found for _, found in results) else 1


def cmd_names(args: argparse.Namespace) -> int:
    from charrnn.writers.names import NameRules

    NameRules(args.min_len, args.max_len, args.starts_with)  # bad bounds are refused before the run is loaded
    model = load_run(args)
    decoding = _decoding(args)
    several = len(decoding.get("temperature", ())) > 1
    result = model.name_samples(args.num, new_only=args.new_only, min_len=args.min_len, max_len=args.max_len,
                                starts_with=args.starts_with, **decoding)
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


COMMANDS = {"sample": cmd_sample, "poem": cmd_poem, "names": cmd_names}
