"""Device, seed and precision set-up, in one place for every command."""

from __future__ import annotations

import random
from contextlib import nullcontext
from functools import cache

import numpy as np
import torch

from charrnn.errors import CharRNNError
from charrnn.flags import DEVICES


def pick_device(name: str = "auto") -> torch.device:
    """cuda > mps > cpu for "auto"; an explicit name must be available here."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CharRNNError(f"--device {name}: no CUDA device is available here (use --device cpu)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise CharRNNError("--device mps: MPS is not available here (use --device cpu)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise CharRNNError(f"--device {name!r}: unknown device (choose from {', '.join(DEVICES)})") from None


def cpu_has_native_bf16() -> bool:
    """True on CPUs with bf16 instructions (AVX512-BF16, AMX), where bf16 matmuls are about 1.4-1.9x faster."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@cache
def cpu_lstm_runs_bf16() -> bool:
    """Whether oneDNN runs an LSTM under bf16 autocast on this CPU. Without bf16 instructions it
    refuses ("could not create a primitive descriptor"; seen on an AVX2-only AMD EPYC); a GRU or a
    tanh RNN still runs, emulated."""
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            torch.nn.LSTM(2, 2, batch_first=True)(torch.zeros(1, 1, 2))
        return True
    except RuntimeError:
        return False


def check_precision(device: torch.device, dtype: str, cell: str) -> None:
    """Refuse, in one line, a precision this machine cannot run for this cell."""
    if dtype == "bf16" and device.type == "cpu" and cell == "lstm" and not cpu_lstm_runs_bf16():
        raise CharRNNError("--dtype bf16: this CPU has no bf16 instructions (AVX512-BF16 or AMX), and the LSTM "
                           "kernel refuses bf16 without them: use --dtype auto or fp32")


def uses_bf16(device: torch.device, dtype: str = "auto") -> bool:
    if dtype != "auto":
        return dtype == "bf16"
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16())


def autocast(device: torch.device, dtype: str = "auto"):
    """bf16 autocast where `uses_bf16` says so; a no-op context otherwise."""
    if not uses_bf16(device, dtype):
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def seed_everything(seed: int) -> None:
    """Seed every generator a run touches, so the same seed and flags give the same run."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)

