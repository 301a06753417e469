"""Typed config dataclasses -> argparse flags, so each flag's name, type, default and help are
written once (in the dataclass) and the saved config.json has the same names as the CLI.

A field becomes `--field-name`; its metadata may hold "help", "choices", "cli": False (not a
flag) and "flag" (another flag name). Flags default to argparse.SUPPRESS, so the parsed namespace
holds only what the user typed: `--resume` needs to tell "the user asked for --hidden 512" from
"512 is the default".
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing

# Choices that several commands' flags share (and charrnn.device checks).
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "fp32", "bf16")


def _base_type(tp) -> type:
    """int for `int`, `int | None`, `Optional[int]`; str for anything not plain."""
    if isinstance(tp, str):
        tp = eval(tp, {}, {})  # annotations are strings under `from __future__ import annotations`
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
        tp = args[0]
    return tp if tp in (int, float, str, bool) else str


def flag_name(field: dataclasses.Field) -> str:
    return field.metadata.get("flag", "--" + field.name.replace("_", "-"))


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls, title: str) -> None:
    group = parser.add_argument_group(title)
    for field in dataclasses.fields(cls):
        if not field.metadata.get("cli", True):
            continue
        default = field.default if field.default is not dataclasses.MISSING else None
        tp = _base_type(field.type)
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


def field_names(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}
