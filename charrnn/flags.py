"""What the flags of several configs and commands share: the choices of --device and --dtype, and
the names of a config's fields (turning configs into argparse flags is charrnn.commands.arguments)."""

from __future__ import annotations

import dataclasses

DEVICES = ("auto", "cpu", "cuda", "mps")  # charrnn.device checks them
DTYPES = ("auto", "fp32", "bf16")


def field_names(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}
