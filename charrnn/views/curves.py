"""Training curves from run folders (`charrnn plot`, `charrnn.plot`): several runs on one picture.

    charrnn plot runs/shakespeare-lstm runs/shakespeare-gru -o compare.png --x seconds --lr

One panel of loss in nats per character (bits per character on the right-hand axis): each run's
training loss as a thin line, its validation loss as a line with points, its best validation
loss starred. `--lr` and `--speed` add panels for the learning rate and the characters per second.
The x axis is the step, the seconds of training, the characters read (steps x batch x sequence
length: every character of a stream run; lines mode pads, so there it is an upper bound), or the
passes over the training text (metrics.jsonl's `epochs`: lines mode counts lines, not padding).

metrics.jsonl is read as it is, so a run still training can be plotted (a line cut short by a kill
or a write in progress is skipped). The picture is drawn with matplotlib's Agg canvas (no display)
and written atomically.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from charrnn import checkpoint
from charrnn.errors import CharRNNError
from charrnn.files import write_atomic

X_AXES = {"steps": "step", "seconds": "seconds of training", "chars": "characters read",
          "epochs": "passes over the training text"}
FORMATS = (".png", ".svg", ".pdf")
DEFAULT_NAME = "curves.png"


@dataclass
class Curve:
    name: str
    train: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))  # (x, loss)
    val: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))
    lr: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))
    speed: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))


def read_curve(run: str | Path, x: str = "steps") -> Curve:
    """One run's curves from its metrics.jsonl, with one-line errors for a folder that is not a run
    or has no metrics yet."""
    run = Path(run)
    info, _ = checkpoint.read_run(run)
    records = checkpoint.read_metrics(run)
    if not records:
        raise CharRNNError(f"{run}: no metrics yet ({checkpoint.METRICS} is empty or missing): "
                           f"plot it after its first log line")
    chars_per_step = int(info.train.get("batch_size", 0)) * int(info.train.get("seq_len", 0))
    where = passes_at(records, run) if x == "epochs" else {
        "steps": lambda r: r["step"], "seconds": lambda r: r.get("elapsed", 0.0),
        "chars": lambda r: r["step"] * chars_per_step}[x]
    curve = Curve(run.resolve().name)
    for record in records:
        for key, series in (("loss", curve.train), ("val_loss", curve.val), ("lr", curve.lr),
                            ("chars_per_s", curve.speed)):
            if isinstance(record.get(key), (int, float)) and "step" in record:
                series[0].append(where(record))
                series[1].append(record[key])
    return curve


def passes_at(records: list[dict], run: Path) -> Callable[[dict], float]:
    """A record -> the passes over the training text at its step. Training lines log them (`epochs`);
    an eval line does not, so it is read off the line through the training lines around it."""
    known = dict(sorted((r["step"], r["epochs"]) for r in records
                        if isinstance(r.get("epochs"), (int, float)) and "step" in r))
    if not known:
        raise CharRNNError(f"{run}: its metrics do not count passes over the text (runs trained before "
                           f"--regularise-after existed do not log `epochs`): plot it with --x steps, "
                           f"seconds or chars")
    steps, passes = [0, *known], [0.0, *known.values()]
    return lambda record: float(np.interp(record["step"], steps, passes))


def output_path(runs: Sequence[str | Path], path: str | Path | None) -> Path:
    out = Path(path) if path is not None else Path(runs[0]) / DEFAULT_NAME
    if out.suffix.lower() not in FORMATS:
        raise CharRNNError(f"-o {out}: the picture's name must end in {', '.join(FORMATS)}")
    if not out.parent.is_dir():
        raise CharRNNError(f"-o {out}: the folder {out.parent} does not exist")
    return out


def draw(curves: Sequence[Curve], x: str = "steps", lr: bool = False, speed: bool = False) -> Figure:
    panels = 1 + lr + speed
    fig = Figure(figsize=(9, 4 + 2 * (panels - 1)), layout="constrained")
    axes = fig.subplots(panels, 1, sharex=True, squeeze=False, height_ratios=[2] + [1] * (panels - 1))[:, 0]
    loss_ax = axes[0]
    for i, curve in enumerate(curves):
        color = f"C{i % 10}"
        loss_ax.plot(*curve.train, color=color, linewidth=0.8, alpha=0.45)
        if curve.val[0]:
            loss_ax.plot(*curve.val, color=color, marker="o", markersize=3, label=f"{curve.name} (val)")
            best = min(range(len(curve.val[1])), key=curve.val[1].__getitem__)
            bx, by = curve.val[0][best], curve.val[1][best]
            loss_ax.plot([bx], [by], marker="*", markersize=14, color=color, markeredgecolor="black")
            loss_ax.annotate(f"best {by:.4f}", (bx, by), textcoords="offset points", xytext=(6, 8 + 11 * i), fontsize=8,
                             color=color)
        else:
            loss_ax.plot([], [], color=color, label=f"{curve.name} (no val split)")
    loss_ax.set_ylabel("loss (nats/char)")
    loss_ax.secondary_yaxis("right", functions=(lambda n: n / math.log(2), lambda b: b * math.log(2))) \
        .set_ylabel("bits/char")
    loss_ax.plot([], [], color="gray", linewidth=0.8, alpha=0.6, label="thin: training loss")
    loss_ax.legend(fontsize=8)
    loss_ax.grid(alpha=0.3)
    extra = [("learning rate", "lr")] * lr + [("chars/s", "speed")] * speed
    for ax, (label, name) in zip(axes[1:], extra):
        for i, curve in enumerate(curves):
            ax.plot(*getattr(curve, name), color=f"C{i % 10}", linewidth=1)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel(X_AXES[x])
    return fig


def plot(runs: Sequence[str | Path] | str | Path, path: str | Path | None = None, x: str = "steps",
         lr: bool = False, speed: bool = False) -> Path:
    """Draw the runs' curves into `path` (.png, .svg or .pdf; default RUN/curves.png of the first run)."""
    runs = [runs] if isinstance(runs, (str, Path)) else list(runs)
    if not runs:
        raise CharRNNError("plot: give at least one run folder")
    if x not in X_AXES:
        raise CharRNNError(f"--x {x!r}: choose {', '.join(X_AXES)}")
    out = output_path(runs, path)
    figure = draw([read_curve(run, x) for run in runs], x, lr, speed)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=out.suffix[1:].lower(), dpi=110)
    try:
        write_atomic(out, buffer.getvalue())
    except OSError as e:
        raise CharRNNError(f"could not write {out} ({e.strerror or e})") from None
    return out
