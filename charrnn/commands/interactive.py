"""`charrnn sample RUN --interactive`: type the beginning of a text, the model completes it.

    > ROMEO:
    ROMEO: What say you to the street of my lord ...
    > :temperature 0.5
    temperature = 0.5
    > :help

A line that starts with `:` sets a decoding option for the next turns; any other line is a prime,
printed again with its completion (streamed as it is written; a lines-mode run completes the line
or poem up to its end token). Ctrl-C stops a completion, Ctrl-D (or :quit) leaves.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from charrnn.errors import CharRNNError
from charrnn.generation.options import option_names, sampling_options

if TYPE_CHECKING:
    from charrnn.trained import TrainedModel

PROMPT = "> "


def _int_or_none(text: str) -> int | None:
    return None if text.lower() in ("none", "random", "") else int(text)


def _text_or_none(text: str) -> str | None:
    return None if text.lower() in ("none", "") else text


# name: (parse, what it does)
SETTINGS: dict[str, tuple[Callable[[str], object], str]] = {
    "length": (int, "characters to write at most"),
    "temperature": (float, "randomness: 0 = the likeliest character, 1 = the model's own"),
    "top_k": (int, "sample among the K likeliest characters (0 = all)"),
    "top_p": (float, "sample among the likeliest characters holding this probability (1 = all)"),
    "repetition_penalty": (float, "make recently seen characters less likely (1 = off)"),
    "repetition_window": (int, "how many recent characters the penalty looks at"),
    "no_repeat_ngram": (int, "never write the same N characters twice (0 = off)"),
    "beam": (int, "beam search with N hypotheses: the likeliest completion (0 = sample)"),
    "seed": (_int_or_none, "random seed: completion k of the session uses seed + k (none = random)"),
    "stop": (_text_or_none, "end a completion at this text (none = no stop text)"),
}


def help_text() -> str:
    rows = [f"  :{name.replace('_', '-'):<20} {what}" for name, (_, what) in SETTINGS.items()]
    return "\n".join(["type the beginning of a text and press Enter: the model completes it", "commands:", *rows,
                      "  :show                 the current settings", "  :help                 this help",
                      "  :quit                 leave (or Ctrl-D); Ctrl-C stops a completion"])


def check(settings: dict) -> None:
    """Refuse values the decoders would refuse, with the same messages."""
    sampling_options(**{name: settings[name] for name in option_names()})
    if settings["length"] < 0:
        raise CharRNNError(f"length must be >= 0 (got {settings['length']})")
    if settings["beam"] < 0:
        raise CharRNNError(f"beam must be >= 0 (got {settings['beam']})")


def command(line: str, settings: dict) -> str:
    """Apply one `:name value` line to `settings`; the reply to print."""
    name, _, value = line[1:].strip().partition(" ")
    name, value = name.replace("-", "_").lower(), value.strip()
    if name in ("help", "h", "?"):
        return help_text()
    if name in ("show", "settings"):
        return "\n".join(f"{k.replace('_', '-')} = {v}" for k, v in settings.items())
    if name not in SETTINGS:
        return f"unknown command :{name} (:help lists them)"
    parse, _ = SETTINGS[name]
    try:
        new = {**settings, name: parse(value)}
    except ValueError:
        return f"error: :{name.replace('_', '-')} needs a value such as {settings[name]} (got {value!r})"
    try:
        check(new)
    except CharRNNError as e:
        return f"error: {str(e).replace('--', ':')}"
    settings.update(new)
    return f"{name.replace('_', '-')} = {settings[name]}"


def complete(model: TrainedModel, prime: str, settings: dict, out: TextIO, turn: int = 0) -> None:
    """Print `prime` and its completion; with a seed, completion `turn` uses seed + turn, so a session
    can be replayed but two turns do not share their random numbers."""
    out.write(prime)
    out.flush()
    seed = None if settings["seed"] is None else settings["seed"] + turn
    if settings["beam"]:
        out.write(model.generate(prime, **{**settings, "seed": seed}))
    else:
        options = {k: v for k, v in settings.items() if k != "beam"} | {"seed": seed}
        for piece in model.stream(prime, **options):
            out.write(piece)
            out.flush()
    out.write("\n")
    out.flush()


def interactive(model: TrainedModel, settings: dict, read: Callable[[str], str] = input,
                out: TextIO | None = None) -> int:
    """The prompt loop; `settings` are the keys of SETTINGS (the CLI's flags). Returns the exit code."""
    out = out or sys.stdout
    check(settings)
    out.write(f"charrnn interactive ({model.mode} mode): type the beginning of a text, :help for commands, "
              f"Ctrl-D to leave\n")
    out.flush()
    turn = 0
    while True:
        try:
            line = read(PROMPT)
        except EOFError:
            out.write("\n")
            return 0
        except KeyboardInterrupt:
            out.write("\n")
            continue
        if line.strip() in (":quit", ":q", ":exit"):
            return 0
        try:
            if line.startswith(":"):
                out.write(command(line, settings) + "\n")
            else:
                turn += 1
                complete(model, line, settings, out, turn - 1)
        except KeyboardInterrupt:
            out.write("\n(stopped)\n")
        except CharRNNError as e:
            out.write(f"error: {e}\n")
        out.flush()
