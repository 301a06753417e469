"""The models a server holds: found in one run folder or a folder of runs, loaded once at start-up.

    charrnn serve runs/shakespeare      one model, named "shakespeare"
    charrnn serve runs/                 every sub-folder that is a run: runs/poems -> "poems", ...;
                                        an empty (or missing, then made) folder serves none yet

A request names its model; the name is looked up in this set and nowhere else, so it is never
made into a path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from charrnn import checkpoint
from charrnn.errors import CharRNNError
from charrnn.generation.network import Network
from charrnn.serve.studio import STUDIO
from charrnn.trained import TrainedModel, load


@dataclass
class ServedModel:
    name: str
    model: TrainedModel
    summary: dict  # what /api/models shows

    @property
    def network(self) -> Network:
        """What the server's step loop writes with (the facade's forms take `model`)."""
        return self.model.network

    @property
    def on_cpu(self) -> bool:
        """On the CPU a forward reads the weights only (eval mode, inference_mode, no weight change, so
        nn.LSTM never re-flattens), so looking inside may run beside the batch, in a worker thread. On
        an accelerator every forward runs in the batch's thread (cuDNN's RNN workspaces and weight
        flattening are not safe to share across threads)."""
        return self.model.device.type == "cpu"

    @property
    def can_write_poems(self) -> bool:
        return "，" in self.model.vocab and "。" in self.model.vocab


def find_runs(path: str | Path) -> dict[str, Path]:
    """{name: run folder}: PATH itself when it is a run, else its sub-folders that are runs (none in a
    new folder: the studio trains them). A missing folder is made."""
    path = Path(path)
    if checkpoint.is_run(path):
        return {path.resolve().name: path}
    if path.exists() and not path.is_dir():
        raise CharRNNError(f"{path}: neither a run folder nor a folder of runs")
    path.mkdir(parents=True, exist_ok=True)
    return {p.name: p for p in sorted(path.iterdir()) if p.is_dir() and not p.name.startswith(".") and checkpoint.is_run(p)}


def check_runs(path: str | Path) -> dict[str, Path]:
    """find_runs, and read each run's configuration and weights header: a bad run is one line, before
    serving. A run the studio is training (studio.json, no weights yet) is not served yet."""
    runs = find_runs(path)
    for name, folder in list(runs.items()):
        if not servable(folder):
            del runs[name]
            continue
        checkpoint.run_summary(folder)
    return runs


def servable(folder: Path) -> bool:
    """Whether a run has weights to serve: a studio job that has not reached its first save has none."""
    return not (folder / STUDIO).exists() or checkpoint.weights_file(folder).exists()


def summarize(name: str, model: TrainedModel) -> dict:
    """The /api/models entry: the model's shape, vocabulary, mode and training progress."""
    summary = checkpoint.run_summary(model.run_dir) if model.run_dir is not None else {}
    config = model.info.model
    return {"name": name, "cell": config.cell, "layers": config.layers, "hidden": config.hidden,
            "embed": config.embed, "vocab_size": len(model.vocab), "mode": model.mode,
            "parameters": model.network.model.num_parameters(),
            "steps": summary.get("steps", 0), "best_val": summary.get("best_val")}


def serve_models(models: Mapping[str, TrainedModel]) -> dict[str, ServedModel]:
    served = {}
    for name, model in models.items():
        entry = ServedModel(name, model, summarize(name, model))
        entry.summary["writes"] = {"story": True, "poem": entry.can_write_poems, "names": model.mode == "lines"}
        served[name] = entry
    return served


def load_models(path: str | Path, device: str = "auto", which: str = "best") -> dict[str, ServedModel]:
    return serve_models({name: load(folder, device, which) for name, folder in check_runs(path).items()})
