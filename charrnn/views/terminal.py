"""A text coloured by what the model thought of it, for the terminal (`charrnn inspect`).

On a terminal every character gets a 24-bit background colour:

    surprisal   white (expected) -> yellow -> red (a surprise), 0 to 8 nats
    entropy     white (sure) -> yellow -> red (unsure), 0 to ln(vocabulary size)
    unit L:K    blue (negative) <- white -> red (positive), scaled by the unit's largest |value|

Elsewhere (a pipe, a file) each line of text is followed by a line of digits, one under each
character (two under a wide one; the newline's digit stands one past the line's end): 0 is the low
end of the scale and 9 the high end, `?` marks a character the model never saw (read as <unk>) and
a blank one that was not scored.
"""

from __future__ import annotations

import math
import unicodedata

import numpy as np

from charrnn.inside.inspection import Inspection, Unit

SURPRISAL_MAX = 8.0
WHITE, YELLOW, RED, BLUE = (255, 255, 255), (255, 214, 102), (215, 48, 39), (49, 104, 196)
RESET = "\x1b[0m"


def levels(inspection: Inspection, color: str | Unit, vocab_size: int) -> tuple[np.ndarray, bool, str]:
    """(values scaled to [0, 1], or [-1, 1] when diverging; nan where none), diverging, what the scale means)."""
    if isinstance(color, Unit):
        values = inspection.activation(color).astype(np.float64)
        top = float(np.abs(values).max()) or 1.0
        return values / top, True, f"unit {color}: blue = {-top:.2f}, white = 0, red = {top:.2f}"
    if color == "entropy":
        top = math.log(vocab_size)
        return np.clip(inspection.entropy / top, 0, 1), False, f"entropy: white = 0, red = {top:.2f} nats (uniform)"
    if color == "surprisal":
        return (np.clip(inspection.surprisal / SURPRISAL_MAX, 0, 1), False,
                f"surprisal: white = 0, red = {SURPRISAL_MAX:g}+ nats")
    raise ValueError(f"unknown colouring {color!r}")


def mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))


def rgb(level: float, diverging: bool) -> tuple[int, int, int]:
    if diverging:
        return mix(WHITE, RED, level) if level >= 0 else mix(WHITE, BLUE, -level)
    return mix(WHITE, YELLOW, level * 2) if level < 0.5 else mix(YELLOW, RED, level * 2 - 1)


def _width(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def render_tty(inspection: Inspection, color: str | Unit, vocab_size: int) -> str:
    values, diverging, meaning = levels(inspection, color, vocab_size)
    out = []
    for ch, level, unknown in zip(inspection.characters, values.tolist(), inspection.unknown.tolist()):
        shown = " " if ch == "\n" else ch
        style = "\x1b[4m" if unknown else ""  # underlined: read as <unk>
        if not math.isnan(level):
            r, g, b = rgb(level, diverging)
            style += f"\x1b[48;2;{r};{g};{b}m\x1b[38;2;0;0;0m"
        out.append(f"{style}{shown}{RESET}" if style else shown)
        if ch == "\n":
            out.append("\n")
    legend = " ".join(f"\x1b[48;2;{r};{g};{b}m  {RESET}" for r, g, b in
                      (rgb(t, diverging) for t in (np.linspace(-1, 1, 9) if diverging else np.linspace(0, 1, 9))))
    return "".join(out).rstrip("\n") + f"\n\n{legend}  {meaning}; underlined: not in the vocabulary (<unk>)\n"


def render_plain(inspection: Inspection, color: str | Unit, vocab_size: int) -> str:
    values, diverging, meaning = levels(inspection, color, vocab_size)
    digits = np.where(np.isnan(values), -1, np.round(((values + 1) / 2 if diverging else values) * 9)).astype(int)
    lines, text, marks = [], [], []
    for ch, digit, unknown in zip(inspection.characters, digits.tolist(), inspection.unknown.tolist()):
        mark = "?" if unknown else " " if digit < 0 else str(digit)
        marks.append(mark * _width(ch))
        if ch == "\n":
            lines += ["".join(text), "".join(marks).rstrip()]
            text, marks = [], []
        else:
            text.append(ch)
    if text:
        lines += ["".join(text), "".join(marks).rstrip()]
    scale = "0 = most negative, 9 = most positive" if diverging else "0 = low, 9 = high"
    return "\n".join(lines) + f"\n\ndigits under each character ({scale}): {meaning}; ? = not in the vocabulary\n"


def summary(inspection: Inspection) -> str:
    scored = int((~np.isnan(inspection.surprisal)).sum())
    mean = inspection.mean_surprisal
    unknown = int(inspection.unknown.sum())
    return (f"{len(inspection.characters):,} characters, {scored:,} scored: mean surprisal "
            + (f"{mean:.4f} nats/char ({mean / math.log(2):.3f} bits)" if mean is not None else "-")
            + (f"; {unknown} not in the vocabulary (read as <unk>)" if unknown else ""))
