"""`charrnn plot`, `charrnn inspect` and `charrnn neurons`: looking inside a run. The flags, and the
commands that print or write the views (charrnn.views) of what the facade finds. Wired into
charrnn.commands.main as `add_parsers(commands)` and COMMANDS; the work (torch, matplotlib) is
imported when a command runs, so `charrnn --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from charrnn.commands.arguments import add_run_flags, load_run
from charrnn.errors import CharRNNError

EXCERPT_CHARS = 240  # the neurons command shows each top unit on this much of the text
FINDER_CHARS = 20_000  # --html: the finder reads at most this much (every unit of it is held at once)


def _add_model_flags(p: argparse.ArgumentParser, text_required: bool) -> None:
    """The run, where its text comes from, and how the run is loaded."""
    add_run_flags(p)
    source = p.add_mutually_exclusive_group(required=text_required)
    source.add_argument("--text", help="the text to read" + ("" if text_required else
                                                             " (default: the run's validation text)"))
    source.add_argument("--file", help="a file to read (- for standard input)")
    p.add_argument("--encoding", default="utf-8", help="text encoding of --file (default: utf-8)")


def add_parsers(commands) -> None:
    p = commands.add_parser("plot", help="draw training curves of one or more runs (PNG or SVG)",
                            description="Train and val loss (nats/char, bits/char on the right) of each run, "
                            "overlaid; the best val starred. Works on a run still training.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders (several: one line each, with a legend)")
    p.add_argument("-o", "--out", default=None, metavar="FILE",
                   help="the picture: .png, .svg or .pdf (default: curves.png in the first run folder)")
    p.add_argument("--x", default="steps", choices=("steps", "seconds", "chars", "epochs"),
                   help="the x axis: steps, seconds of training, characters read, passes over the text (default: steps)")
    p.add_argument("--lr", action="store_true", help="add a panel with the learning rate")
    p.add_argument("--speed", action="store_true", help="add a panel with the training speed (chars/s)")

    p = commands.add_parser("inspect", help="colour a text by surprisal, entropy or one unit; JSON or HTML too",
                            description="What the model thought at each character of a text: how surprised it was, "
                            "how unsure, what it guessed, and what its units held.")
    _add_model_flags(p, text_required=True)
    p.add_argument("--color", nargs="+", default=["surprisal"], metavar="WHAT",
                   help="surprisal (default), entropy, or unit L:K (h of unit K in layer L) or unit L:K:c "
                   "(an LSTM's cell state)")
    p.add_argument("--top-k", type=int, default=5, metavar="K", help="guesses kept per character (default: 5)")
    p.add_argument("--units", nargs="+", default=[], metavar="L:K[:c]",
                   help="units whose activations go into --json and --html")
    p.add_argument("--json", action="store_true", help="print the inspection as one JSON object")
    p.add_argument("--html", metavar="OUT.html", help="write a self-contained page: tooltips, a unit picker")

    p = commands.add_parser("neurons", help="find the units that track line position, brackets, quotes, ...",
                            description="Rank hidden units by the correlation of their activation with simple "
                            "features of a text (default: the run's validation text).")
    _add_model_flags(p, text_required=False)
    p.add_argument("--top", type=int, default=10, metavar="N", help="how many units (default: 10)")
    p.add_argument("--max-chars", type=int, default=10_000, metavar="N",
                   help="read at most N characters of the validation text (default: 10000)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _text(args: argparse.Namespace) -> str | None:
    if args.text is not None:
        return args.text
    if args.file is None:
        return None
    if args.file == "-":
        try:
            return sys.stdin.buffer.read().decode(args.encoding)
        except LookupError:
            raise CharRNNError(f"--encoding {args.encoding!r}: unknown text encoding") from None
        except UnicodeDecodeError as e:
            raise CharRNNError(f"standard input: not valid {args.encoding} at byte offset {e.start} "
                               f"(pass --encoding)") from None
    from charrnn.data.corpus import read_text

    return read_text(Path(args.file), args.encoding)


def _color(words: list[str]):
    from charrnn.inside.inspection import Unit

    if words in (["surprisal"], ["entropy"]):
        return words[0]
    if len(words) == 2 and words[0] == "unit" or len(words) == 1 and ":" in words[0]:
        return Unit.parse(words[-1])
    raise CharRNNError(f"--color {' '.join(words)}: choose surprisal, entropy, or unit L:K[:c]")


def cmd_plot(args: argparse.Namespace) -> int:
    from charrnn.views.curves import plot

    print(plot(args.runs, args.out, x=args.x, lr=args.lr, speed=args.speed))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from charrnn.inside.inspection import Unit
    from charrnn.views import html, terminal

    color = _color(args.color)
    units = [Unit.parse(u) for part in args.units for u in part.split(",") if u.strip()]
    html_path = Path(args.html) if args.html else None
    if html_path is not None and not html_path.parent.is_dir():
        raise CharRNNError(f"--html {html_path}: the folder {html_path.parent} does not exist")
    model = load_run(args)
    text = _text(args)
    shown = units + ([color] if isinstance(color, Unit) and color not in units else [])
    findings = []
    if html_path is not None:  # the page's unit picker offers the finder's units (found on a bounded start)
        findings = model.neurons(text[:FINDER_CHARS])
    carried = list(dict.fromkeys([f.unit for f in findings] + shown))
    inspection = model.inspect(text, top_k=args.top_k, units=carried)
    if html_path is not None:
        from charrnn.files import write_atomic

        page = html.page(inspection, findings, carried, f"charrnn inspect {args.run}", terminal.summary(inspection))
        try:
            write_atomic(html_path, page.encode())
        except OSError as e:
            raise CharRNNError(f"--html {html_path}: could not write it ({e.strerror or e})") from None
        print(html_path)
    if args.json:
        print(json.dumps(inspection.to_dict(shown), ensure_ascii=False))
    elif html_path is None:
        render = terminal.render_tty if sys.stdout.isatty() else terminal.render_plain
        print(render(inspection, color, len(model.vocab)) + terminal.summary(inspection))
    return 0


def cmd_neurons(args: argparse.Namespace) -> int:
    from charrnn.views import terminal

    if args.top < 1 or args.max_chars < 2:
        raise CharRNNError("--top must be >= 1 and --max-chars >= 2")
    model = load_run(args)
    report = model.neuron_report(_text(args), args.top, args.max_chars)
    findings = report.units
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
        return 0
    print(f"{terminal.summary(report.inspection)}\n\n{'unit':<10} {'feature':<15} {'r':>7}")
    for f in findings:
        print(f"{str(f.unit):<10} {f.feature:<15} {f.r:>7.3f}")
    print(f"\nbest unit per feature:\n{'feature':<15} {'unit':<10} {'r':>7}")
    for f in report.per_feature:
        print(f"{f.feature:<15} {str(f.unit):<10} {f.r:>7.3f}")
    excerpt = model.inspect(report.text[:EXCERPT_CHARS], units=[f.unit for f in findings[:3]])
    render = terminal.render_tty if sys.stdout.isatty() else terminal.render_plain
    for f in findings[:3]:
        print(f"\nunit {f.unit} ({f.feature}, r = {f.r:.3f}) on the text's start:\n")
        print(render(excerpt, f.unit, len(model.vocab)), end="")
    return 0


COMMANDS = {"plot": cmd_plot, "inspect": cmd_inspect, "neurons": cmd_neurons}
