"""The run folder: a contract other tools rely on. Every write is atomic; nothing is pickled.

    RUN/
      config.json          {"format": 1, "model": {...}, "train": {...}, "mode": ..., ...}
      vocab.json           the vocabulary (charrnn.vocab)
      best.safetensors     weights with the best validation loss so far
      last.safetensors     the latest weights
      trainer.safetensors  everything a resume needs, in one file so it is never half-written:
                           weights, optimizer moments, carried hidden state, RNG state (each
                           rank's under torchrun), and (in its metadata) step, data position,
                           elapsed and eval time, the val record (best, its step, last, and how
                           they were scored: a subset of val, or the whole split after the last eval)
      metrics.jsonl        one JSON object per log line and per eval
      train_lines.txt      lines mode only: every line of the corpus (train and val), for `names --new-only`
                           (TRAIN_LINES)

Loading reads JSON and safetensors only, so opening a run never executes code from it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from charrnn.errors import CharRNNError
from charrnn.files import write_atomic
from charrnn.model_config import LATER_FIELDS, ModelConfig
from charrnn.version import __version__
from charrnn.vocab import Vocabulary

FORMAT_VERSION = 1
CONFIG, VOCAB, BEST, LAST, TRAINER, METRICS = (
    "config.json", "vocab.json", "best.safetensors", "last.safetensors", "trainer.safetensors", "metrics.jsonl")
TRAIN_LINES = "train_lines.txt"


def write_run_file(path: Path, data: bytes) -> None:
    """A file of the run folder, written whole or not at all (charrnn.files.write_atomic); a failure is
    one line that says the previous version of the file is intact."""
    try:
        write_atomic(path, data)
    except OSError as e:
        raise CharRNNError(f"could not write {path} ({e.strerror or e}); the previous version is intact") from None


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> None:
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    meta = {"format": str(FORMAT_VERSION), **({"json": json.dumps(metadata)} if metadata else {})}
    write_run_file(path, st_save(tensors, metadata=meta))


def read_header(path: Path) -> tuple[dict, dict]:
    """(tensor shapes, metadata) from a safetensors header, without reading the tensors."""
    try:
        with open(path, "rb") as f:
            header_len = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(header_len))
        meta = header.pop("__metadata__", {}) or {}
        shapes = {k: v["shape"] for k, v in header.items()}
        return shapes, json.loads(meta["json"]) if "json" in meta else {}
    except (OSError, ValueError, KeyError, TypeError):
        raise CharRNNError(f"{path}: corrupt or truncated checkpoint (not a readable safetensors file)") from None


def load_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, metadata) with a one-line error for a missing, truncated or corrupt file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CharRNNError(f"{path}: missing (is this a complete run folder?)") from None
    except OSError as e:
        raise CharRNNError(f"{path}: cannot read ({e.strerror})") from None
    try:
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8: 8 + header_len]).get("__metadata__", {}) or {}
    except (SafetensorError, ValueError, OverflowError):
        raise CharRNNError(f"{path}: corrupt or truncated checkpoint (not a readable safetensors file)") from None
    version = int(meta.get("format", "0") or 0)
    if version > FORMAT_VERSION:
        raise CharRNNError(f"{path}: checkpoint format {version} is newer than this charrnn understands "
                           f"({FORMAT_VERSION}); upgrade charrnn")
    return tensors, json.loads(meta["json"]) if "json" in meta else {}


@dataclass
class RunInfo:
    """What config.json holds."""

    model: ModelConfig
    train: dict  # the TrainConfig as saved (a dict, so older/newer fields never break loading)
    mode: str
    created_with: str = ""


def is_run(folder: Path) -> bool:
    return (Path(folder) / CONFIG).is_file()


def write_run_config(folder: Path, info: RunInfo, vocab: Vocabulary) -> None:
    """config.json and vocab.json: what makes a folder a run (is_run), written when it starts."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {"format": FORMAT_VERSION, "charrnn": __version__, "mode": info.mode,
              "model": asdict(info.model), "train": info.train}
    write_run_file(folder / CONFIG, json.dumps(config, indent=2, ensure_ascii=False).encode())
    write_run_file(folder / VOCAB, vocab.to_json().encode())


def read_run(folder: Path) -> tuple[RunInfo, Vocabulary]:
    """config.json + vocab.json, with one-line errors for anything that is not a usable run."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CharRNNError(f"{folder}: no such run folder")
    if not is_run(folder):
        raise CharRNNError(f"{folder}: not a charrnn run (no {CONFIG}); train one with `charrnn train --out {folder}`")
    try:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
        version = config["format"]
    except (OSError, ValueError, KeyError, TypeError):
        raise CharRNNError(f"{folder / CONFIG}: unreadable run configuration") from None
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CharRNNError(f"{folder}: run format {version} is newer than this charrnn understands "
                           f"({FORMAT_VERSION}); upgrade charrnn")
    try:
        model = ModelConfig(**{**LATER_FIELDS, **config["model"]})
        info = RunInfo(model=model, train=dict(config.get("train", {})), mode=config["mode"],
                       created_with=config.get("charrnn", ""))
    except (KeyError, TypeError):
        raise CharRNNError(f"{folder / CONFIG}: missing or unknown fields in the run configuration") from None
    try:
        vocab_text = (folder / VOCAB).read_text(encoding="utf-8")
    except OSError:
        raise CharRNNError(f"{folder / VOCAB}: missing or unreadable") from None
    vocab = Vocabulary.from_json(vocab_text, str(folder / VOCAB))
    if len(vocab) != model.vocab_size:
        raise CharRNNError(f"{folder}: vocab.json has {len(vocab)} tokens but the model expects {model.vocab_size}")
    return info, vocab


def weights_file(folder: Path, which: str = "best") -> Path:
    """best.safetensors, falling back to last.safetensors (a run stopped before its first eval)."""
    folder = Path(folder)
    if which not in ("best", "last"):
        raise CharRNNError(f"checkpoint {which!r}: choose best or last")
    path = folder / (BEST if which == "best" else LAST)
    if which == "best" and not path.exists() and (folder / LAST).exists():
        path = folder / LAST
    return path


def append_metrics(folder: Path, record: dict) -> None:
    """One line, appended (a line cut short by a kill is skipped by read_metrics)."""
    path = Path(folder) / METRICS
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
    except OSError as e:
        raise CharRNNError(f"could not write {path} ({e.strerror or e}); the checkpoints are intact") from None


def read_train_lines(folder: Path | None) -> set[str] | None:
    """The lines of the run's training data (train_lines.txt), or None when it keeps none."""
    path = Path(folder) / TRAIN_LINES if folder is not None else None
    if path is None or not path.is_file():
        return None
    return set(path.read_text(encoding="utf-8").splitlines())


def load_weights(model: torch.nn.Module, tensors: dict[str, torch.Tensor], source: Path) -> None:
    """`tensors` into `model`, with one-line errors for a file whose tensors are not weights or do not fit."""
    wrong = sorted(k for k, v in tensors.items() if not v.is_floating_point())
    if wrong:
        raise CharRNNError(f"{source}: {wrong[0]} holds {tensors[wrong[0]].dtype} values where weights are "
                           f"floating point: a damaged or foreign file")
    try:
        model.load_state_dict(tensors)
    except RuntimeError:
        raise CharRNNError(f"{source}: the weights do not match the model in config.json (were config.json or "
                           f"vocab.json changed?)") from None


def read_metrics(folder: Path) -> list[dict]:
    """Every record of metrics.jsonl; a line cut short by a kill, or anything else that is not a
    JSON object, is skipped."""
    path = Path(folder) / METRICS
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    except OSError as e:
        raise CharRNNError(f"{path}: cannot read ({e.strerror})") from None
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step", 0), int):
            records.append(record)
    return records


def truncate_metrics(folder: Path, step: int) -> None:
    """On resume, drop lines logged after the checkpoint we continue from (they will be logged again)."""
    kept = [r for r in read_metrics(folder) if r.get("step", 0) <= step]
    write_run_file(Path(folder) / METRICS, "".join(json.dumps(r) + "\n" for r in kept).encode())


def run_summary(folder: Path) -> dict:
    """What `charrnn info` shows: configs, parameter count, vocabulary size, steps, best val."""
    info, vocab = read_run(folder)
    shapes, _ = read_header(weights_file(folder, "last"))
    progress = {}
    if (Path(folder) / TRAINER).exists():
        _, progress = read_header(Path(folder) / TRAINER)
    return {"mode": info.mode, "created_with": info.created_with, "model": asdict(info.model), "train": info.train,
            "parameters": sum(math.prod(s) for s in shapes.values()), "vocab_size": len(vocab),
            "steps": progress.get("step", 0), "elapsed": progress.get("elapsed", 0.0),
            "best_val": progress.get("best_val")}
