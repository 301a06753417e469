"""The flags that commands share: a config dataclass's fields as flags, and the run flags.

    add_dataclass_arguments(p, TrainConfig, "training")   each field -> --field-name (type, default, help)
    given_fields(args, TrainConfig)                        the fields the user typed
    add_run_flags(p)                                       RUN, --device, --checkpoint
    load_run(args)                                         the TrainedModel those flags name

A field's metadata may hold "help", "choices", "metavar", "cli": False (not a flag) and "flag"
(another flag name). Dataclass flags default to argparse.SUPPRESS, so the parsed namespace holds
only what the user typed: `--resume` needs to tell "the user asked for --hidden 512" from "512 is
the default". The saved config.json has the same names as the flags.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing

from charrnn.flags import DEVICES


def _base_type(tp) -> type:
    """int for `int`, `int | None`, `Optional[int]`; str for anything not plain."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
        tp = args[0]
    return tp if tp in (int, float, str, bool) else str


def flag_name(field: dataclasses.Field) -> str:
    return field.metadata.get("flag", "--" + field.name.replace("_", "-"))


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls, title: str) -> None:
    group = parser.add_argument_group(title)
    hints = typing.get_type_hints(cls)  # the annotations are strings (`from __future__ import annotations`)
    for field in dataclasses.fields(cls):
        if not field.metadata.get("cli", True):
            continue
        default = field.default if field.default is not dataclasses.MISSING else None
        tp = _base_type(hints[field.name])
        help_text = field.metadata.get("help", "")
        if tp is bool:
            group.add_argument(flag_name(field), dest=field.name, action="store_true",
                               default=argparse.SUPPRESS, help=help_text)
            continue
        shown = "" if default in (None, "") else f" (default: {default})"
        choices = field.metadata.get("choices")
        metavar = field.metadata.get("metavar") or (None if choices else {int: "N", float: "X"}.get(tp))
        group.add_argument(flag_name(field), dest=field.name, type=tp, default=argparse.SUPPRESS,
                           choices=choices, metavar=metavar, help=help_text + shown)


def given_fields(namespace: argparse.Namespace, cls) -> dict:
    """The fields of `cls` that the user typed on the command line."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(namespace).items() if k in names}


def add_run_flags(parser: argparse.ArgumentParser, run: str | None = "a run folder", optional: bool = False,
                  device: bool = True) -> None:
    """RUN (its help `run`; None: the command names its runs itself), --device (unless `device` is
    False: the command runs on the CPU) and --checkpoint."""
    if run is not None:
        parser.add_argument("run", metavar="RUN", nargs="?" if optional else None, help=run)
    if device:
        parser.add_argument("--device", default="auto", help=f"{', '.join(DEVICES[1:])} or auto (default: auto)")
    parser.add_argument("--checkpoint", default="best", choices=("best", "last"),
                        help="which weights: the best on validation, or the last saved (default: best)")


def load_run(args: argparse.Namespace):
    """The TrainedModel that RUN, --device and --checkpoint name (torch is imported here, not before)."""
    from charrnn.trained import load

    return load(args.run, device=args.device, which=args.checkpoint)
